/* Where a request's time goes: the shim's own work, or waiting on others (cocoon-vm starting the
 * domain, the guest booting until its agent answers, the agent's calls). The few places that
 * block on those add the wait to their thread's account; a handler, which runs on one thread,
 * takes the difference over its run, so its own time can be logged apart from the waits (the
 * pod start benchmark reads those lines: the goal is at most 10 ms of the shim's own time). */
#pragma once

#include <stdint.h>

enum timing_wait {
    TIMING_VM_HELPER,  /* cocoon-vm create/destroy: libvirt and QEMU's start */
    TIMING_GUEST_BOOT, /* dialling the agent until the guest's kernel and agent are up */
    TIMING_AGENT,      /* agent RPCs: the guest's work (image pull, container setup) */
    TIMING_WAITS,
    TIMING_AS_IS = TIMING_WAITS, /* for timing_count_as: no override */
};

struct timing {
    int64_t start_us;
    int64_t waited_us[TIMING_WAITS]; /* the thread's account when the timing started */
};

/* Adds now - since_us (a now_us() value, lib/clock.h) to this thread's account of kind. */
void timing_add_wait(enum timing_wait kind, int64_t since_us);

/* From now on this thread's waits, whatever their kind, count as kind (TIMING_AS_IS: each as
 * its own again); returns the previous setting. A guest's first agent call waits for its boot. */
enum timing_wait timing_count_as(enum timing_wait kind);

void timing_start(struct timing *t);

/* "T ms: cocoon-vm A ms, guest boot B ms, agent C ms, own D.D ms" for the time since
 * timing_start on this thread. Into buf, size bytes long, NUL-terminated. */
void timing_format(const struct timing *t, char *buf, int size);
