#include "cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_BASE CGROUP_ROOT "/cocoon"

static bool cgroup2_mounted(void)
{
    struct statfs sfs;
    return statfs(CGROUP_ROOT, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Hands every available controller down: the root, then cocoon/ (which has no processes). */
static void enable_controllers(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/cgroup.controllers", dir);
    _cleanup_free_ char *ctl = read_small_file(path, 4096, NULL, NULL);
    if (!ctl)
        return;
    _cleanup_free_ char *subtree = xasprintf("%s/cgroup.subtree_control", dir);
    for (char *save = NULL, *tok = strtok_r(ctl, " \n", &save); tok;
         tok = strtok_r(NULL, " \n", &save)) {
        _cleanup_free_ char *plus = xasprintf("+%s", tok);
        write_string(subtree, plus, NULL);
    }
}

char *cgroup_create(const char *cid)
{
    if (!cgroup2_mounted())
        return NULL;
    if (mkdir(CGROUP_BASE, 0755) < 0 && errno != EEXIST) {
        log_warn("cgroup: mkdir %s: %s", CGROUP_BASE, strerror(errno));
        return NULL;
    }
    enable_controllers(CGROUP_ROOT);
    enable_controllers(CGROUP_BASE);
    char *cg = xasprintf("%s/%s", CGROUP_BASE, cid);
    if (mkdir(cg, 0755) < 0 && errno != EEXIST) {
        log_warn("cgroup: mkdir %s: %s", cg, strerror(errno));
        free(cg);
        return NULL;
    }
    return cg;
}

static char *knob(const char *cg, const char *name)
{
    return xasprintf("%s/%s", cg, name);
}

int cgroup_add_pid(const char *cg, pid_t pid, struct error *err)
{
    _cleanup_free_ char *path = knob(cg, "cgroup.procs");
    char s[32];
    snprintf(s, sizeof(s), "%d", pid);
    return write_string(path, s, err);
}

void cgroup_remove(const char *cg)
{
    if (!cg)
        return;
    _cleanup_free_ char *kill_path = knob(cg, "cgroup.kill");
    write_string(kill_path, "1", NULL); /* orphans we never knew of (kernel >= 5.14) */
    for (int i = 0; i < 50; i++) {
        if (rmdir(cg) == 0 || errno == ENOENT)
            return;
        sleep_ms(20); /* killed processes leave the cgroup a moment later */
    }
    log_warn("cgroup: rmdir %s: %s", cg, strerror(errno));
}

int cgroup_freeze(const char *cg, bool frozen, struct error *err)
{
    _cleanup_free_ char *path = knob(cg, "cgroup.freeze");
    return write_string(path, frozen ? "1" : "0", err);
}

static int write_knob(const char *cg, const char *name, const char *value, struct error *err)
{
    _cleanup_free_ char *path = knob(cg, name);
    return write_string(path, value, err);
}

int cgroup_update(const char *cg, const Grpc__LinuxResources *res, struct error *err)
{
    char v[64];
    if (res->memory && res->memory->limit != 0) {
        if (res->memory->limit > 0)
            snprintf(v, sizeof(v), "%" PRId64, res->memory->limit);
        else
            snprintf(v, sizeof(v), "max");
        if (write_knob(cg, "memory.max", v, err) < 0)
            return -1;
    }
    if (res->cpu && (res->cpu->quota != 0 || res->cpu->period != 0)) {
        uint64_t period = res->cpu->period ? res->cpu->period : 100000;
        if (res->cpu->quota > 0)
            snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, res->cpu->quota, period);
        else
            snprintf(v, sizeof(v), "max %" PRIu64, period);
        if (write_knob(cg, "cpu.max", v, err) < 0)
            return -1;
    }
    if (res->pids && res->pids->limit != 0) {
        if (res->pids->limit > 0)
            snprintf(v, sizeof(v), "%" PRId64, res->pids->limit);
        else
            snprintf(v, sizeof(v), "max");
        if (write_knob(cg, "pids.max", v, err) < 0)
            return -1;
    }
    return 0;
}

/* --- stats --- */

/* A single number ("max" = UINT64_MAX); 0 when unreadable. */
static uint64_t read_u64(const char *cg, const char *name)
{
    _cleanup_free_ char *path = knob(cg, name);
    _cleanup_free_ char *s = read_small_file(path, 64, NULL, NULL);
    if (!s)
        return 0;
    if (!strncmp(s, "max", 3))
        return UINT64_MAX;
    return strtoull(s, NULL, 10);
}

/* Calls fn for each "key value" line of a flat-keyed file. */
static void read_keyed(const char *cg, const char *name, void (*fn)(void *, const char *, uint64_t),
                       void *user)
{
    _cleanup_free_ char *path = knob(cg, name);
    _cleanup_free_ char *s = read_small_file(path, 65536, NULL, NULL);
    if (!s)
        return;
    for (char *save = NULL, *line = strtok_r(s, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        fn(user, line, strtoull(sp + 1, NULL, 10));
    }
}

static void cpu_stat(void *user, const char *key, uint64_t value)
{
    Grpc__CpuStats *cpu = user;
    if (!strcmp(key, "usage_usec"))
        cpu->cpu_usage->total_usage = value * 1000; /* the agent reports ns, as cgroup v1 did */
    else if (!strcmp(key, "user_usec"))
        cpu->cpu_usage->usage_in_usermode = value * 1000;
    else if (!strcmp(key, "system_usec"))
        cpu->cpu_usage->usage_in_kernelmode = value * 1000;
    else if (!strcmp(key, "nr_periods"))
        cpu->throttling_data->periods = value;
    else if (!strcmp(key, "nr_throttled"))
        cpu->throttling_data->throttled_periods = value;
    else if (!strcmp(key, "throttled_usec"))
        cpu->throttling_data->throttled_time = value * 1000;
}

static void memory_stat(void *user, const char *key, uint64_t value)
{
    Grpc__MemoryStats *mem = user;
    Grpc__MemoryStats__StatsEntry *e = xmalloc(sizeof(*e));
    grpc__memory_stats__stats_entry__init(e);
    e->key = xstrdup(key);
    e->value = value;
    mem->stats = xrealloc(mem->stats, (mem->n_stats + 1) * sizeof(*mem->stats));
    mem->stats[mem->n_stats++] = e;
    if (!strcmp(key, "file"))
        mem->cache = value;
}

Grpc__CgroupStats *cgroup_stats(const char *cg)
{
    Grpc__CgroupStats *s = xcalloc(1, sizeof(*s));
    grpc__cgroup_stats__init(s);
    s->cpu_stats = xcalloc(1, sizeof(*s->cpu_stats));
    grpc__cpu_stats__init(s->cpu_stats);
    s->cpu_stats->cpu_usage = xcalloc(1, sizeof(*s->cpu_stats->cpu_usage));
    grpc__cpu_usage__init(s->cpu_stats->cpu_usage);
    s->cpu_stats->throttling_data = xcalloc(1, sizeof(*s->cpu_stats->throttling_data));
    grpc__throttling_data__init(s->cpu_stats->throttling_data);
    s->memory_stats = xcalloc(1, sizeof(*s->memory_stats));
    grpc__memory_stats__init(s->memory_stats);
    s->memory_stats->usage = xcalloc(1, sizeof(*s->memory_stats->usage));
    grpc__memory_data__init(s->memory_stats->usage);
    s->pids_stats = xcalloc(1, sizeof(*s->pids_stats));
    grpc__pids_stats__init(s->pids_stats);
    if (!cg)
        return s;
    read_keyed(cg, "cpu.stat", cpu_stat, s->cpu_stats);
    s->memory_stats->usage->usage = read_u64(cg, "memory.current");
    s->memory_stats->usage->max_usage = read_u64(cg, "memory.peak");
    s->memory_stats->usage->limit = read_u64(cg, "memory.max");
    s->memory_stats->use_hierarchy = true;
    read_keyed(cg, "memory.stat", memory_stat, s->memory_stats);
    s->pids_stats->current = read_u64(cg, "pids.current");
    s->pids_stats->limit = read_u64(cg, "pids.max");
    return s;
}

void cgroup_stats_free(Grpc__CgroupStats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->memory_stats->n_stats; i++) {
        free(s->memory_stats->stats[i]->key);
        free(s->memory_stats->stats[i]);
    }
    free(s->memory_stats->stats);
    free(s->memory_stats->usage);
    free(s->memory_stats);
    free(s->cpu_stats->cpu_usage);
    free(s->cpu_stats->throttling_data);
    free(s->cpu_stats);
    free(s->pids_stats);
    free(s);
}
