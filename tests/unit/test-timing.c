/* shim/timing: a handler's own time is its wall time less what its thread waited on others. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "shim/timing.h"
#include "tests/common/run-tap.h"

/* Parses "T ms: cocoon-vm A ms, guest boot B ms, agent C ms, own D ms". */
static void parse(const char *s, long *total, long *vm, long *boot, long *agent, double *own)
{
    ck_assert_msg(sscanf(s, "%ld ms: cocoon-vm %ld ms, guest boot %ld ms, agent %ld ms, own %lf ms",
                         total, vm, boot, agent, own) == 5,
                  "%s", s);
}

/* What the code between the waits may take: a few ms, but valgrind translates it first. */
static double max_own_ms(void)
{
    return getenv("COCOON_VALGRIND") ? 100 : 5;
}

START_TEST(waits_are_not_own_time)
{
    struct timing tm;
    timing_start(&tm);
    int64_t t = now_us();
    usleep(30000);
    timing_add_wait(TIMING_VM_HELPER, t);
    t = now_us();
    usleep(20000);
    timing_add_wait(TIMING_AGENT, t);
    usleep(10000); /* the shim's own */
    char buf[160];
    timing_format(&tm, buf, sizeof(buf));
    long total, vm, boot, agent;
    double own;
    parse(buf, &total, &vm, &boot, &agent, &own);
    ck_assert_int_ge(total, 60);
    ck_assert_int_ge(vm, 30);
    ck_assert_int_eq(boot, 0);
    ck_assert_int_ge(agent, 20);
    ck_assert_msg(own >= 9.5 && own < total - vm - agent + 1, "%s", buf);
}
END_TEST

/* What was waited before timing_start is not counted. */
START_TEST(earlier_waits_do_not_count)
{
    int64_t t = now_us();
    usleep(20000);
    timing_add_wait(TIMING_GUEST_BOOT, t);
    struct timing tm;
    timing_start(&tm);
    char buf[160];
    timing_format(&tm, buf, sizeof(buf));
    long total, vm, boot, agent;
    double own;
    parse(buf, &total, &vm, &boot, &agent, &own);
    ck_assert_int_eq(boot, 0);
    ck_assert_msg(own >= 0 && own < max_own_ms(), "%s", buf);
}
END_TEST

/* A guest's boot is waited in its first agent call: counted as boot, then agent calls again. */
START_TEST(waits_counted_as_another_kind)
{
    struct timing tm;
    timing_start(&tm);
    enum timing_wait was = timing_count_as(TIMING_GUEST_BOOT);
    ck_assert_int_eq(was, TIMING_AS_IS);
    int64_t t = now_us();
    usleep(20000);
    timing_add_wait(TIMING_AGENT, t);
    ck_assert_int_eq(timing_count_as(was), TIMING_GUEST_BOOT);
    t = now_us();
    usleep(10000);
    timing_add_wait(TIMING_AGENT, t);
    char buf[160];
    timing_format(&tm, buf, sizeof(buf));
    long total, vm, boot, agent;
    double own;
    parse(buf, &total, &vm, &boot, &agent, &own);
    /* each wait counted once, the first as boot: a loaded machine may stretch either */
    ck_assert_int_ge(boot, 20);
    ck_assert_int_ge(agent, 10);
    ck_assert_int_le(boot + agent, total);
    ck_assert_msg(own >= 0 && own < max_own_ms(), "%s", buf);
}
END_TEST

static void *wait_elsewhere(void *arg)
{
    int64_t t = now_us();
    usleep(30000);
    timing_add_wait(TIMING_AGENT, t);
    return arg;
}

/* Another thread's waits are its own: they never make this thread's own time look smaller. */
START_TEST(accounts_are_per_thread)
{
    struct timing tm;
    timing_start(&tm);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_elsewhere, NULL), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    char buf[160];
    timing_format(&tm, buf, sizeof(buf));
    long total, vm, boot, agent;
    double own;
    parse(buf, &total, &vm, &boot, &agent, &own);
    ck_assert_int_eq(agent, 0);
    ck_assert_msg(own >= 29, "%s", buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timing");
    TCase *tc = tcase_create("timing");
    tcase_add_test(tc, waits_are_not_own_time);
    tcase_add_test(tc, earlier_waits_do_not_count);
    tcase_add_test(tc, waits_counted_as_another_kind);
    tcase_add_test(tc, accounts_are_per_thread);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
