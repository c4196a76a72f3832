/* Agent container stats -> containerd's cgroups v1 or v2 Metrics (kata.md §1.6). The Metrics
 * tree is built with one allocation per message, string and array (protobuf-c's unpacked
 * layout), packed into the Any, then freed with protobuf_c_message_free_unpacked.
 *
 * Where this differs from Kata's metrics.go, on purpose: v2 user_usec and system_usec come from
 * usage_in_usermode and usage_in_kernelmode (Kata swaps them); v2 io has one entry per device
 * (Kata folds every device into one); v2 also carries network, hugetlb failcnt and the peak
 * usages; a sub-message the agent left out stays out rather than becoming zeros. */
#include "shim/metrics.h"

#include <linux/magic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/vfs.h>

#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/cgroups/v2/metrics.pb-c.h"
#include "lib/xalloc.h"

#define V1_TYPE_URL "io.containerd.cgroups.v1.Metrics"
#define V2_TYPE_URL "io.containerd.cgroups.v2.Metrics"

typedef Io__Containerd__Cgroups__V1__Metrics V1Metrics;
typedef Io__Containerd__Cgroups__V1__MemoryStat V1MemoryStat;
typedef Io__Containerd__Cgroups__V1__MemoryEntry V1MemoryEntry;
typedef Io__Containerd__Cgroups__V1__BlkIOEntry V1BlkIOEntry;
typedef Io__Containerd__Cgroups__V2__Metrics V2Metrics;
typedef Io__Containerd__Cgroups__V2__MemoryStat V2MemoryStat;
typedef Io__Containerd__Cgroups__V2__IOEntry V2IOEntry;

bool metrics_host_cgroup_v2(void)
{
    struct statfs st;
    return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

static void *new_message(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = xcalloc(1, d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

static char *dup_string(const char *s)
{
    return xstrdup(s ? s : "");
}

/* --- memory.stat keys, by name --- */

struct stat_key {
    const char *key;
    size_t offset; /* of a uint64_t in the Metrics MemoryStat */
};

/* clang-format off */
#define V1_KEY(name, member) {name, offsetof(V1MemoryStat, member)}
/* clang-format on */
static const struct stat_key v1_memory_keys[] = {
    V1_KEY("rss_huge", rss_huge),
    V1_KEY("dirty", dirty),
    V1_KEY("writeback", writeback),
    V1_KEY("pgpgin", pg_pg_in),
    V1_KEY("pgpgout", pg_pg_out),
    V1_KEY("pgfault", pg_fault),
    V1_KEY("pgmajfault", pg_maj_fault),
    V1_KEY("inactive_anon", inactive_anon),
    V1_KEY("active_anon", active_anon),
    V1_KEY("inactive_file", inactive_file),
    V1_KEY("active_file", active_file),
    V1_KEY("unevictable", unevictable),
    V1_KEY("hierarchical_memory_limit", hierarchical_memory_limit),
    V1_KEY("hierarchical_memsw_limit", hierarchical_swap_limit),
    V1_KEY("total_cache", total_cache),
    V1_KEY("total_rss", total_rss),
    V1_KEY("total_rss_huge", total_rss_huge),
    V1_KEY("total_mapped_file", total_mapped_file),
    V1_KEY("total_dirty", total_dirty),
    V1_KEY("total_writeback", total_writeback),
    V1_KEY("total_pgpgin", total_pg_pg_in),
    V1_KEY("total_pgpgout", total_pg_pg_out),
    V1_KEY("total_pgfault", total_pg_fault),
    V1_KEY("total_pgmajfault", total_pg_maj_fault),
    V1_KEY("total_inactive_anon", total_inactive_anon),
    V1_KEY("total_active_anon", total_active_anon),
    V1_KEY("total_inactive_file", total_inactive_file),
    V1_KEY("total_active_file", total_active_file),
    V1_KEY("total_unevictable", total_unevictable),
};

/* workingset_refault/activate are deprecated in the .proto (split in Linux 5.9) but older guest
 * kernels still report them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* clang-format off */
#define V2_KEY(name) {#name, offsetof(V2MemoryStat, name)}
/* clang-format on */
static const struct stat_key v2_memory_keys[] = {
    V2_KEY(anon),
    V2_KEY(file),
    V2_KEY(kernel_stack),
    V2_KEY(slab),
    V2_KEY(sock),
    V2_KEY(shmem),
    V2_KEY(file_mapped),
    V2_KEY(file_dirty),
    V2_KEY(file_writeback),
    V2_KEY(anon_thp),
    V2_KEY(inactive_anon),
    V2_KEY(active_anon),
    V2_KEY(inactive_file),
    V2_KEY(active_file),
    V2_KEY(unevictable),
    V2_KEY(slab_reclaimable),
    V2_KEY(slab_unreclaimable),
    V2_KEY(pgfault),
    V2_KEY(pgmajfault),
    V2_KEY(workingset_refault),
    V2_KEY(workingset_activate),
    V2_KEY(workingset_nodereclaim),
    V2_KEY(pgrefill),
    V2_KEY(pgscan),
    V2_KEY(pgsteal),
    V2_KEY(pgactivate),
    V2_KEY(pgdeactivate),
    V2_KEY(pglazyfree),
    V2_KEY(pglazyfreed),
    V2_KEY(thp_fault_alloc),
    V2_KEY(thp_collapse_alloc),
    V2_KEY(workingset_refault_anon),
    V2_KEY(workingset_refault_file),
    V2_KEY(workingset_activate_anon),
    V2_KEY(workingset_activate_file),
};
#pragma GCC diagnostic pop

/* Copies the agent's memory.stat entries whose keys the table names into dst. */
static void copy_memory_keys(const Grpc__MemoryStats *m, const struct stat_key *keys, size_t n,
                             void *dst)
{
    for (size_t i = 0; i < m->n_stats; i++) {
        const Grpc__MemoryStats__StatsEntry *e = m->stats[i];
        for (size_t k = 0; e && e->key && k < n; k++) {
            if (strcmp(e->key, keys[k].key) == 0) {
                *(uint64_t *)((char *)dst + keys[k].offset) = e->value;
                break;
            }
        }
    }
}

static uint64_t memory_key(const Grpc__MemoryStats *m, const char *key)
{
    for (size_t i = 0; i < m->n_stats; i++)
        if (m->stats[i] && m->stats[i]->key && strcmp(m->stats[i]->key, key) == 0)
            return m->stats[i]->value;
    return 0;
}

#define COPY_NETWORK(dst, src)                                                                     \
    do {                                                                                           \
        (dst)->name = dup_string((src)->name);                                                     \
        (dst)->rx_bytes = (src)->rx_bytes;                                                         \
        (dst)->rx_packets = (src)->rx_packets;                                                     \
        (dst)->rx_errors = (src)->rx_errors;                                                       \
        (dst)->rx_dropped = (src)->rx_dropped;                                                     \
        (dst)->tx_bytes = (src)->tx_bytes;                                                         \
        (dst)->tx_packets = (src)->tx_packets;                                                     \
        (dst)->tx_errors = (src)->tx_errors;                                                       \
        (dst)->tx_dropped = (src)->tx_dropped;                                                     \
    } while (0)

/* --- cgroups v1 --- */

static V1MemoryEntry *v1_memory_entry(const Grpc__MemoryData *d)
{
    if (!d)
        return NULL;
    V1MemoryEntry *e = new_message(&io__containerd__cgroups__v1__memory_entry__descriptor);
    e->limit = d->limit;
    e->usage = d->usage;
    e->max = d->max_usage;
    e->failcnt = d->failcnt;
    return e;
}

static Io__Containerd__Cgroups__V1__MemoryStat *v1_memory(const Grpc__MemoryStats *m)
{
    V1MemoryStat *ms = new_message(&io__containerd__cgroups__v1__memory_stat__descriptor);
    ms->usage = v1_memory_entry(m->usage);
    ms->swap = v1_memory_entry(m->swap_usage);
    ms->kernel = v1_memory_entry(m->kernel_usage);
    copy_memory_keys(m, v1_memory_keys, sizeof(v1_memory_keys) / sizeof(*v1_memory_keys), ms);
    /* as Kata: with use_hierarchy these three report the whole subtree */
    ms->cache = memory_key(m, m->use_hierarchy ? "total_cache" : "cache");
    ms->rss = memory_key(m, m->use_hierarchy ? "total_rss" : "rss");
    ms->mapped_file = memory_key(m, m->use_hierarchy ? "total_mapped_file" : "mapped_file");
    return ms;
}

static V1BlkIOEntry **v1_blkio_list(Grpc__BlkioStatsEntry *const *in, size_t n, size_t *n_out)
{
    *n_out = 0;
    if (n == 0)
        return NULL;
    V1BlkIOEntry **out = xcalloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            continue;
        V1BlkIOEntry *e = new_message(&io__containerd__cgroups__v1__blk_ioentry__descriptor);
        e->op = dup_string(in[i]->op);
        e->major = in[i]->major;
        e->minor = in[i]->minor;
        e->value = in[i]->value;
        out[(*n_out)++] = e;
    }
    return out;
}

static Io__Containerd__Cgroups__V1__BlkIOStat *v1_blkio(const Grpc__BlkioStats *b)
{
    Io__Containerd__Cgroups__V1__BlkIOStat *s =
        new_message(&io__containerd__cgroups__v1__blk_iostat__descriptor);
#define LIST(name) s->name = v1_blkio_list(b->name, b->n_##name, &s->n_##name)
    LIST(io_service_bytes_recursive);
    LIST(io_serviced_recursive);
    LIST(io_queued_recursive);
    LIST(io_service_time_recursive);
    LIST(io_wait_time_recursive);
    LIST(io_merged_recursive);
    LIST(io_time_recursive);
    LIST(sectors_recursive);
#undef LIST
    return s;
}

static Io__Containerd__Cgroups__V1__CPUStat *v1_cpu(const Grpc__CpuStats *c)
{
    Io__Containerd__Cgroups__V1__CPUStat *s =
        new_message(&io__containerd__cgroups__v1__cpustat__descriptor);
    const Grpc__CpuUsage *u = c->cpu_usage;
    if (u) {
        s->usage = new_message(&io__containerd__cgroups__v1__cpuusage__descriptor);
        s->usage->total = u->total_usage;
        s->usage->kernel = u->usage_in_kernelmode;
        s->usage->user = u->usage_in_usermode;
        if (u->n_percpu_usage) {
            s->usage->per_cpu = xmemdup(u->percpu_usage, u->n_percpu_usage * sizeof(uint64_t));
            s->usage->n_per_cpu = u->n_percpu_usage;
        }
    }
    const Grpc__ThrottlingData *t = c->throttling_data;
    if (t) {
        s->throttling = new_message(&io__containerd__cgroups__v1__throttle__descriptor);
        s->throttling->periods = t->periods;
        s->throttling->throttled_periods = t->throttled_periods;
        s->throttling->throttled_time = t->throttled_time;
    }
    return s;
}

static V1Metrics *v1_metrics(const Grpc__StatsContainerResponse *r)
{
    V1Metrics *m = new_message(&io__containerd__cgroups__v1__metrics__descriptor);
    const Grpc__CgroupStats *cg = r ? r->cgroup_stats : NULL;
    if (cg) {
        if (cg->n_hugetlb_stats) {
            m->hugetlb = xcalloc(cg->n_hugetlb_stats, sizeof(*m->hugetlb));
            for (size_t i = 0; i < cg->n_hugetlb_stats; i++) {
                const Grpc__CgroupStats__HugetlbStatsEntry *e = cg->hugetlb_stats[i];
                if (!e)
                    continue;
                Io__Containerd__Cgroups__V1__HugetlbStat *h =
                    new_message(&io__containerd__cgroups__v1__hugetlb_stat__descriptor);
                h->pagesize = dup_string(e->key);
                if (e->value) {
                    h->usage = e->value->usage;
                    h->max = e->value->max_usage;
                    h->failcnt = e->value->failcnt;
                }
                m->hugetlb[m->n_hugetlb++] = h;
            }
        }
        if (cg->pids_stats) {
            m->pids = new_message(&io__containerd__cgroups__v1__pids_stat__descriptor);
            m->pids->current = cg->pids_stats->current;
            m->pids->limit = cg->pids_stats->limit;
        }
        if (cg->cpu_stats)
            m->cpu = v1_cpu(cg->cpu_stats);
        if (cg->memory_stats)
            m->memory = v1_memory(cg->memory_stats);
        if (cg->blkio_stats)
            m->blkio = v1_blkio(cg->blkio_stats);
    }
    if (r && r->n_network_stats) {
        m->network = xcalloc(r->n_network_stats, sizeof(*m->network));
        for (size_t i = 0; i < r->n_network_stats; i++) {
            if (!r->network_stats[i])
                continue;
            Io__Containerd__Cgroups__V1__NetworkStat *n =
                new_message(&io__containerd__cgroups__v1__network_stat__descriptor);
            COPY_NETWORK(n, r->network_stats[i]);
            m->network[m->n_network++] = n;
        }
    }
    return m;
}

/* --- cgroups v2 --- */

static V2MemoryStat *v2_memory(const Grpc__MemoryStats *m)
{
    V2MemoryStat *ms = new_message(&io__containerd__cgroups__v2__memory_stat__descriptor);
    if (m->usage) {
        ms->usage = m->usage->usage;
        ms->usage_limit = m->usage->limit;
        ms->max_usage = m->usage->max_usage;
    }
    if (m->swap_usage) {
        ms->swap_usage = m->swap_usage->usage;
        ms->swap_limit = m->swap_usage->limit;
        ms->swap_max_usage = m->swap_usage->max_usage;
    }
    copy_memory_keys(m, v2_memory_keys, sizeof(v2_memory_keys) / sizeof(*v2_memory_keys), ms);
    return ms;
}

/* cgroup v2 reports io per device (io.stat); the agent sends it as blkio lists of
 * {major, minor, op, value}: from a v2 guest ops read/write/rios/wios in
 * io_service_bytes_recursive, from a v1 guest Read/Write bytes there and Read/Write counts in
 * io_serviced_recursive. Each device gets one IOEntry; a counter is taken from its first sample. */
enum { IO_RBYTES, IO_WBYTES, IO_RIOS, IO_WIOS };

struct io_sample {
    uint64_t major, minor, value;
    size_t order; /* keeps the sort stable */
    int counter;
};

static int io_counter(const char *op, bool serviced)
{
    if (!op)
        return -1;
    if (strcasecmp(op, "read") == 0)
        return serviced ? IO_RIOS : IO_RBYTES;
    if (strcasecmp(op, "write") == 0)
        return serviced ? IO_WIOS : IO_WBYTES;
    if (!serviced && strcasecmp(op, "rios") == 0)
        return IO_RIOS;
    if (!serviced && strcasecmp(op, "wios") == 0)
        return IO_WIOS;
    return -1;
}

static void io_collect(Grpc__BlkioStatsEntry *const *in, size_t n, bool serviced,
                       struct io_sample *out, size_t *n_out)
{
    for (size_t i = 0; i < n; i++) {
        int counter = in[i] ? io_counter(in[i]->op, serviced) : -1;
        if (counter < 0)
            continue;
        out[*n_out] = (struct io_sample){in[i]->major, in[i]->minor, in[i]->value, *n_out, counter};
        (*n_out)++;
    }
}

static int io_sample_cmp(const void *pa, const void *pb)
{
    const struct io_sample *a = pa, *b = pb;
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static Io__Containerd__Cgroups__V2__IOStat *v2_io(const Grpc__BlkioStats *b)
{
    size_t total = b->n_io_service_bytes_recursive + b->n_io_serviced_recursive, n = 0;
    if (total == 0)
        return NULL;
    struct io_sample *samples = xcalloc(total, sizeof(*samples));
    io_collect(b->io_service_bytes_recursive, b->n_io_service_bytes_recursive, false, samples, &n);
    io_collect(b->io_serviced_recursive, b->n_io_serviced_recursive, true, samples, &n);
    if (n == 0) {
        free(samples);
        return NULL;
    }
    qsort(samples, n, sizeof(*samples), io_sample_cmp);
    Io__Containerd__Cgroups__V2__IOStat *io =
        new_message(&io__containerd__cgroups__v2__iostat__descriptor);
    io->usage = xcalloc(n, sizeof(*io->usage));
    V2IOEntry *e = NULL;
    unsigned set = 0; /* counters of e already taken */
    for (size_t i = 0; i < n; i++) {
        const struct io_sample *s = &samples[i];
        if (!e || e->major != s->major || e->minor != s->minor) {
            e = new_message(&io__containerd__cgroups__v2__ioentry__descriptor);
            e->major = s->major;
            e->minor = s->minor;
            io->usage[io->n_usage++] = e;
            set = 0;
        }
        if (set & (1u << s->counter))
            continue;
        set |= 1u << s->counter;
        uint64_t *dst[] = {[IO_RBYTES] = &e->rbytes,
                           [IO_WBYTES] = &e->wbytes,
                           [IO_RIOS] = &e->rios,
                           [IO_WIOS] = &e->wios};
        *dst[s->counter] = s->value;
    }
    free(samples);
    return io;
}

static Io__Containerd__Cgroups__V2__CPUStat *v2_cpu(const Grpc__CpuStats *c)
{
    Io__Containerd__Cgroups__V2__CPUStat *s =
        new_message(&io__containerd__cgroups__v2__cpustat__descriptor);
    /* the agent reports nanoseconds; cgroup v2's cpu.stat counts microseconds */
    if (c->cpu_usage) {
        s->usage_usec = c->cpu_usage->total_usage / 1000;
        s->user_usec = c->cpu_usage->usage_in_usermode / 1000;
        s->system_usec = c->cpu_usage->usage_in_kernelmode / 1000;
    }
    if (c->throttling_data) {
        s->nr_periods = c->throttling_data->periods;
        s->nr_throttled = c->throttling_data->throttled_periods;
        s->throttled_usec = c->throttling_data->throttled_time / 1000;
    }
    return s;
}

static V2Metrics *v2_metrics(const Grpc__StatsContainerResponse *r)
{
    V2Metrics *m = new_message(&io__containerd__cgroups__v2__metrics__descriptor);
    const Grpc__CgroupStats *cg = r ? r->cgroup_stats : NULL;
    if (cg) {
        if (cg->n_hugetlb_stats) {
            m->hugetlb = xcalloc(cg->n_hugetlb_stats, sizeof(*m->hugetlb));
            for (size_t i = 0; i < cg->n_hugetlb_stats; i++) {
                const Grpc__CgroupStats__HugetlbStatsEntry *e = cg->hugetlb_stats[i];
                if (!e)
                    continue;
                Io__Containerd__Cgroups__V2__HugeTlbStat *h =
                    new_message(&io__containerd__cgroups__v2__huge_tlb_stat__descriptor);
                h->pagesize = dup_string(e->key);
                if (e->value) {
                    h->current = e->value->usage;
                    h->max = e->value->max_usage;
                    h->failcnt = e->value->failcnt;
                }
                m->hugetlb[m->n_hugetlb++] = h;
            }
        }
        if (cg->pids_stats) {
            m->pids = new_message(&io__containerd__cgroups__v2__pids_stat__descriptor);
            m->pids->current = cg->pids_stats->current;
            m->pids->limit = cg->pids_stats->limit;
        }
        if (cg->cpu_stats)
            m->cpu = v2_cpu(cg->cpu_stats);
        if (cg->memory_stats)
            m->memory = v2_memory(cg->memory_stats);
        if (cg->blkio_stats)
            m->io = v2_io(cg->blkio_stats);
    }
    if (r && r->n_network_stats) {
        m->network = xcalloc(r->n_network_stats, sizeof(*m->network));
        for (size_t i = 0; i < r->n_network_stats; i++) {
            if (!r->network_stats[i])
                continue;
            Io__Containerd__Cgroups__V2__NetworkStat *n =
                new_message(&io__containerd__cgroups__v2__network_stat__descriptor);
            COPY_NETWORK(n, r->network_stats[i]);
            m->network[m->n_network++] = n;
        }
    }
    return m;
}

/* --- the Any --- */

int metrics_to_any(const Grpc__StatsContainerResponse *stats, bool cgroup_v2,
                   Google__Protobuf__Any *any, struct error *err)
{
    google__protobuf__any__init(any);
    ProtobufCMessage *m = cgroup_v2 ? &v2_metrics(stats)->base : &v1_metrics(stats)->base;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *data = xmalloc(len ? len : 1);
    if (protobuf_c_message_pack(m, data) != len) {
        free(data);
        protobuf_c_message_free_unpacked(m, NULL);
        return error_set(err, GRPC_INTERNAL, "stats: packing %s failed",
                         cgroup_v2 ? V2_TYPE_URL : V1_TYPE_URL);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    any->type_url = xstrdup(cgroup_v2 ? V2_TYPE_URL : V1_TYPE_URL);
    any->value.data = data;
    any->value.len = len;
    return 0;
}

void metrics_any_free(Google__Protobuf__Any *any)
{
    if (any->type_url && any->type_url != protobuf_c_empty_string)
        free(any->type_url);
    free(any->value.data);
    google__protobuf__any__init(any);
}
