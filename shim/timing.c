#include "shim/timing.h"

#include <stdio.h>

#include "lib/clock.h"

static _Thread_local int64_t waited_us[TIMING_WAITS];
static _Thread_local enum timing_wait count_as = TIMING_AS_IS;

void timing_add_wait(enum timing_wait kind, int64_t since_us)
{
    waited_us[count_as == TIMING_AS_IS ? kind : count_as] += now_us() - since_us;
}

enum timing_wait timing_count_as(enum timing_wait kind)
{
    enum timing_wait prev = count_as;
    count_as = kind;
    return prev;
}

void timing_start(struct timing *t)
{
    t->start_us = now_us();
    for (int i = 0; i < TIMING_WAITS; i++)
        t->waited_us[i] = waited_us[i];
}

void timing_format(const struct timing *t, char *buf, int size)
{
    int64_t total = now_us() - t->start_us, w[TIMING_WAITS], own = total;
    for (int i = 0; i < TIMING_WAITS; i++) {
        w[i] = waited_us[i] - t->waited_us[i];
        own -= w[i];
    }
    snprintf(buf, size,
             "%lld ms: cocoon-vm %lld ms, guest boot %lld ms, agent %lld ms, own %.1f ms",
             (long long)(total / 1000), (long long)(w[TIMING_VM_HELPER] / 1000),
             (long long)(w[TIMING_GUEST_BOOT] / 1000), (long long)(w[TIMING_AGENT] / 1000),
             own / 1000.0);
}
