/* shim/metrics: an agent StatsContainerResponse with known numbers turned into cgroups v1 and v2
 * Metrics, read back by unpacking the Any with the generated containerd types; empty and partial
 * stats; a hostile number of block I/O samples; the host's cgroup version. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/cgroups/v2/metrics.pb-c.h"
#include "lib/xalloc.h"
#include "shim/metrics.h"
#include "tests/common/run-tap.h"

typedef Io__Containerd__Cgroups__V1__Metrics V1;
typedef Io__Containerd__Cgroups__V2__Metrics V2;

/* --- a response the way the agent's unpacked reply looks, built on the stack --- */

struct fixture {
    Grpc__StatsContainerResponse resp;
    Grpc__CgroupStats cg;
    Grpc__CpuStats cpu;
    Grpc__CpuUsage usage;
    uint64_t percpu[4];
    Grpc__ThrottlingData throttling;
    Grpc__MemoryStats mem;
    Grpc__MemoryData mem_usage, mem_swap, mem_kernel;
    Grpc__MemoryStats__StatsEntry stat[20], *statp[20];
    Grpc__PidsStats pids;
    Grpc__BlkioStats blkio;
    Grpc__BlkioStatsEntry bytes[6], *bytesp[6], serviced[2], *servicedp[2], queued[1], *queuedp[1],
        sectors[1], *sectorsp[1];
    Grpc__CgroupStats__HugetlbStatsEntry huge[2], *hugep[2];
    Grpc__HugetlbStats huge2m;
    Grpc__NetworkStats net[2], *netp[2];
};

static const struct {
    const char *key;
    uint64_t value;
} memory_stat[] = {
    {"cache", 11},
    {"rss", 12},
    {"mapped_file", 13},
    {"total_cache", 21},
    {"total_rss", 22},
    {"total_mapped_file", 23},
    {"pgfault", 31},
    {"pgmajfault", 32},
    {"total_inactive_file", 33},
    {"inactive_file", 34},
    {"anon", 41},
    {"file", 42},
    {"workingset_refault_file", 43},
    {"workingset_refault", 44},
    {"hierarchical_memsw_limit", 55},
    {"pgpgin", 56},
    {"slab_reclaimable", 57},
    {"kernel_stack", 58},
    {"unknown_key", 99},
    {"total_pgmajfault", 60},
};

static Grpc__BlkioStatsEntry blk(uint64_t major, uint64_t minor, const char *op, uint64_t value)
{
    Grpc__BlkioStatsEntry e = GRPC__BLKIO_STATS_ENTRY__INIT;
    e.major = major;
    e.minor = minor;
    e.op = (char *)op;
    e.value = value;
    return e;
}

static struct fixture *fixture_new(bool use_hierarchy)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    grpc__stats_container_response__init(&f->resp);
    grpc__cgroup_stats__init(&f->cg);
    f->resp.cgroup_stats = &f->cg;

    grpc__cpu_stats__init(&f->cpu);
    grpc__cpu_usage__init(&f->usage);
    f->usage.total_usage = 5000000123;
    f->usage.usage_in_kernelmode = 1000000999;
    f->usage.usage_in_usermode = 3000000000;
    uint64_t percpu[4] = {1, 2, 3, UINT64_MAX};
    memcpy(f->percpu, percpu, sizeof(percpu));
    f->usage.percpu_usage = f->percpu;
    f->usage.n_percpu_usage = 4;
    grpc__throttling_data__init(&f->throttling);
    f->throttling.periods = 10;
    f->throttling.throttled_periods = 3;
    f->throttling.throttled_time = 7000500;
    f->cpu.cpu_usage = &f->usage;
    f->cpu.throttling_data = &f->throttling;
    f->cg.cpu_stats = &f->cpu;

    grpc__memory_stats__init(&f->mem);
    Grpc__MemoryData *md[] = {&f->mem_usage, &f->mem_swap, &f->mem_kernel};
    for (int i = 0; i < 3; i++) {
        grpc__memory_data__init(md[i]);
        md[i]->usage = 100 + 100 * i;
        md[i]->max_usage = 150 + 100 * i;
        md[i]->failcnt = 2 + i;
        md[i]->limit = 1000 + 1000 * i;
    }
    f->mem.usage = &f->mem_usage;
    f->mem.swap_usage = &f->mem_swap;
    f->mem.kernel_usage = &f->mem_kernel;
    f->mem.use_hierarchy = use_hierarchy;
    for (size_t i = 0; i < 20; i++) {
        grpc__memory_stats__stats_entry__init(&f->stat[i]);
        f->stat[i].key = (char *)memory_stat[i].key;
        f->stat[i].value = memory_stat[i].value;
        f->statp[i] = &f->stat[i];
    }
    f->mem.stats = f->statp;
    f->mem.n_stats = 20;
    f->cg.memory_stats = &f->mem;

    grpc__pids_stats__init(&f->pids);
    f->pids.current = 7;
    f->pids.limit = 100;
    f->cg.pids_stats = &f->pids;

    grpc__blkio_stats__init(&f->blkio);
    /* a v2 guest's io.stat for 8:0 and 253:1, in the agent's blkio form */
    f->bytes[0] = blk(8, 0, "read", 1000);
    f->bytes[1] = blk(253, 1, "read", 5);
    f->bytes[2] = blk(8, 0, "write", 2000);
    f->bytes[3] = blk(8, 0, "rios", 10);
    f->bytes[4] = blk(8, 0, "wios", 20);
    f->bytes[5] = blk(8, 0, "dbytes", 7);
    /* a v1 guest's counts for 8:16 */
    f->serviced[0] = blk(8, 16, "Read", 3);
    f->serviced[1] = blk(8, 16, "Write", 4);
    f->queued[0] = blk(8, 0, "Total", 9);
    f->sectors[0] = blk(8, 0, "", 77);
    for (int i = 0; i < 6; i++)
        f->bytesp[i] = &f->bytes[i];
    for (int i = 0; i < 2; i++)
        f->servicedp[i] = &f->serviced[i];
    f->queuedp[0] = &f->queued[0];
    f->sectorsp[0] = &f->sectors[0];
    f->blkio.io_service_bytes_recursive = f->bytesp;
    f->blkio.n_io_service_bytes_recursive = 6;
    f->blkio.io_serviced_recursive = f->servicedp;
    f->blkio.n_io_serviced_recursive = 2;
    f->blkio.io_queued_recursive = f->queuedp;
    f->blkio.n_io_queued_recursive = 1;
    f->blkio.sectors_recursive = f->sectorsp;
    f->blkio.n_sectors_recursive = 1;
    f->cg.blkio_stats = &f->blkio;

    grpc__hugetlb_stats__init(&f->huge2m);
    f->huge2m.usage = 4096;
    f->huge2m.max_usage = 8192;
    f->huge2m.failcnt = 1;
    grpc__cgroup_stats__hugetlb_stats_entry__init(&f->huge[0]);
    f->huge[0].key = "2MB";
    f->huge[0].value = &f->huge2m;
    grpc__cgroup_stats__hugetlb_stats_entry__init(&f->huge[1]);
    f->huge[1].key = "1GB"; /* no value: all zero */
    f->hugep[0] = &f->huge[0];
    f->hugep[1] = &f->huge[1];
    f->cg.hugetlb_stats = f->hugep;
    f->cg.n_hugetlb_stats = 2;

    for (int i = 0; i < 2; i++) {
        grpc__network_stats__init(&f->net[i]);
        f->net[i].name = i ? "eth1" : "eth0";
        uint64_t b = 1000 * (i + 1);
        f->net[i].rx_bytes = b + 1;
        f->net[i].rx_packets = b + 2;
        f->net[i].rx_errors = b + 3;
        f->net[i].rx_dropped = b + 4;
        f->net[i].tx_bytes = b + 5;
        f->net[i].tx_packets = b + 6;
        f->net[i].tx_errors = b + 7;
        f->net[i].tx_dropped = b + 8;
        f->netp[i] = &f->net[i];
    }
    f->resp.network_stats = f->netp;
    f->resp.n_network_stats = 2;
    return f;
}

/* Converts and unpacks with the generated containerd type; checks the type URL. */
static ProtobufCMessage *convert(const Grpc__StatsContainerResponse *r, bool v2)
{
    Google__Protobuf__Any any;
    memset(&any, 0xa5, sizeof(any)); /* whatever the caller had there is overwritten */
    struct error err = ERROR_INIT;
    ck_assert_msg(metrics_to_any(r, v2, &any, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(any.type_url,
                     v2 ? "io.containerd.cgroups.v2.Metrics" : "io.containerd.cgroups.v1.Metrics");
    const ProtobufCMessageDescriptor *d = v2 ? &io__containerd__cgroups__v2__metrics__descriptor
                                             : &io__containerd__cgroups__v1__metrics__descriptor;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, any.value.len, any.value.data);
    ck_assert_ptr_nonnull(m);
    metrics_any_free(&any);
    ck_assert_str_eq(any.type_url, "");
    ck_assert_ptr_null(any.value.data);
    ck_assert_uint_eq(any.value.len, 0);
    return m;
}

static void check_v1_blkio(Io__Containerd__Cgroups__V1__BlkIOEntry **e, size_t n, size_t want,
                           const Grpc__BlkioStatsEntry *from)
{
    ck_assert_uint_eq(n, want);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(e[i]->op, from[i].op);
        ck_assert_str_eq(e[i]->device, "");
        ck_assert_uint_eq(e[i]->major, from[i].major);
        ck_assert_uint_eq(e[i]->minor, from[i].minor);
        ck_assert_uint_eq(e[i]->value, from[i].value);
    }
}

START_TEST(test_v1)
{
    struct fixture *f = fixture_new(true);
    V1 *m = (V1 *)convert(&f->resp, false);

    ck_assert_uint_eq(m->n_hugetlb, 2);
    ck_assert_str_eq(m->hugetlb[0]->pagesize, "2MB");
    ck_assert_uint_eq(m->hugetlb[0]->usage, 4096);
    ck_assert_uint_eq(m->hugetlb[0]->max, 8192);
    ck_assert_uint_eq(m->hugetlb[0]->failcnt, 1);
    ck_assert_str_eq(m->hugetlb[1]->pagesize, "1GB");
    ck_assert_uint_eq(m->hugetlb[1]->usage, 0);

    ck_assert_uint_eq(m->pids->current, 7);
    ck_assert_uint_eq(m->pids->limit, 100);

    /* v1 keeps nanoseconds */
    ck_assert(m->cpu->usage->total == 5000000123);
    ck_assert(m->cpu->usage->kernel == 1000000999);
    ck_assert(m->cpu->usage->user == 3000000000);
    ck_assert_uint_eq(m->cpu->usage->n_per_cpu, 4);
    ck_assert_uint_eq(m->cpu->usage->per_cpu[2], 3);
    ck_assert(m->cpu->usage->per_cpu[3] == UINT64_MAX);
    ck_assert_uint_eq(m->cpu->throttling->periods, 10);
    ck_assert_uint_eq(m->cpu->throttling->throttled_periods, 3);
    ck_assert_uint_eq(m->cpu->throttling->throttled_time, 7000500);

    Io__Containerd__Cgroups__V1__MemoryStat *mem = m->memory;
    Io__Containerd__Cgroups__V1__MemoryEntry *entries[] = {mem->usage, mem->swap, mem->kernel};
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(entries[i]->usage, 100 + 100 * i);
        ck_assert_uint_eq(entries[i]->max, 150 + 100 * i);
        ck_assert_uint_eq(entries[i]->failcnt, 2 + i);
        ck_assert_uint_eq(entries[i]->limit, 1000 + 1000 * i);
    }
    ck_assert_ptr_null(mem->kernel_tcp); /* the agent has no such figure */
    /* use_hierarchy: cache / rss / mapped_file are the subtree's, as in Kata */
    ck_assert_uint_eq(mem->cache, 21);
    ck_assert_uint_eq(mem->rss, 22);
    ck_assert_uint_eq(mem->mapped_file, 23);
    ck_assert_uint_eq(mem->total_cache, 21);
    ck_assert_uint_eq(mem->pg_fault, 31);
    ck_assert_uint_eq(mem->pg_maj_fault, 32);
    ck_assert_uint_eq(mem->total_inactive_file, 33);
    ck_assert_uint_eq(mem->inactive_file, 34);
    ck_assert_uint_eq(mem->hierarchical_swap_limit, 55);
    ck_assert_uint_eq(mem->pg_pg_in, 56);
    ck_assert_uint_eq(mem->total_pg_maj_fault, 60);
    ck_assert_uint_eq(mem->rss_huge, 0);

    Io__Containerd__Cgroups__V1__BlkIOStat *b = m->blkio;
    check_v1_blkio(b->io_service_bytes_recursive, b->n_io_service_bytes_recursive, 6, f->bytes);
    check_v1_blkio(b->io_serviced_recursive, b->n_io_serviced_recursive, 2, f->serviced);
    check_v1_blkio(b->io_queued_recursive, b->n_io_queued_recursive, 1, f->queued);
    check_v1_blkio(b->sectors_recursive, b->n_sectors_recursive, 1, f->sectors);
    ck_assert_uint_eq(b->n_io_merged_recursive, 0);

    ck_assert_uint_eq(m->n_network, 2);
    ck_assert_str_eq(m->network[1]->name, "eth1");
    ck_assert_uint_eq(m->network[1]->rx_bytes, 2001);
    ck_assert_uint_eq(m->network[1]->rx_packets, 2002);
    ck_assert_uint_eq(m->network[1]->rx_errors, 2003);
    ck_assert_uint_eq(m->network[1]->rx_dropped, 2004);
    ck_assert_uint_eq(m->network[1]->tx_bytes, 2005);
    ck_assert_uint_eq(m->network[1]->tx_packets, 2006);
    ck_assert_uint_eq(m->network[1]->tx_errors, 2007);
    ck_assert_uint_eq(m->network[1]->tx_dropped, 2008);
    ck_assert_ptr_null(m->rdma);
    ck_assert_ptr_null(m->cgroup_stats);
    ck_assert_ptr_null(m->memory_oom_control);
    protobuf_c_message_free_unpacked(&m->base, NULL);

    /* without use_hierarchy: the cgroup's own counters */
    f->mem.use_hierarchy = false;
    m = (V1 *)convert(&f->resp, false);
    ck_assert_uint_eq(m->memory->cache, 11);
    ck_assert_uint_eq(m->memory->rss, 12);
    ck_assert_uint_eq(m->memory->mapped_file, 13);
    ck_assert_uint_eq(m->memory->total_rss, 22);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    free(f);
}
END_TEST

START_TEST(test_v2)
{
    struct fixture *f = fixture_new(true);
    V2 *m = (V2 *)convert(&f->resp, true);

    ck_assert_uint_eq(m->pids->current, 7);
    ck_assert_uint_eq(m->pids->limit, 100);

    /* nanoseconds -> microseconds, truncated; user is user (Kata swaps these) */
    ck_assert_uint_eq(m->cpu->usage_usec, 5000000);
    ck_assert_uint_eq(m->cpu->user_usec, 3000000);
    ck_assert_uint_eq(m->cpu->system_usec, 1000000);
    ck_assert_uint_eq(m->cpu->nr_periods, 10);
    ck_assert_uint_eq(m->cpu->nr_throttled, 3);
    ck_assert_uint_eq(m->cpu->throttled_usec, 7000);
    ck_assert_ptr_null(m->cpu->psi);

    Io__Containerd__Cgroups__V2__MemoryStat *mem = m->memory;
    ck_assert_uint_eq(mem->usage, 100);
    ck_assert_uint_eq(mem->usage_limit, 1000);
    ck_assert_uint_eq(mem->max_usage, 150);
    ck_assert_uint_eq(mem->swap_usage, 200);
    ck_assert_uint_eq(mem->swap_limit, 2000);
    ck_assert_uint_eq(mem->swap_max_usage, 250);
    ck_assert_uint_eq(mem->anon, 41);
    ck_assert_uint_eq(mem->file, 42);
    ck_assert_uint_eq(mem->inactive_file, 34); /* kata#10280: needed for the working set */
    ck_assert_uint_eq(mem->pgfault, 31);
    ck_assert_uint_eq(mem->pgmajfault, 32);
    ck_assert_uint_eq(mem->workingset_refault_file, 43);
    ck_assert_uint_eq(mem->slab_reclaimable, 57);
    ck_assert_uint_eq(mem->kernel_stack, 58);
    ck_assert_uint_eq(mem->shmem, 0);

    /* one entry per device, sorted; the first sample of a counter wins */
    Io__Containerd__Cgroups__V2__IOStat *io = m->io;
    ck_assert_uint_eq(io->n_usage, 3);
    Io__Containerd__Cgroups__V2__IOEntry *e = io->usage[0];
    ck_assert_uint_eq(e->major, 8);
    ck_assert_uint_eq(e->minor, 0);
    ck_assert_uint_eq(e->rbytes, 1000);
    ck_assert_uint_eq(e->wbytes, 2000);
    ck_assert_uint_eq(e->rios, 10);
    ck_assert_uint_eq(e->wios, 20);
    e = io->usage[1];
    ck_assert_uint_eq(e->major, 8);
    ck_assert_uint_eq(e->minor, 16);
    ck_assert_uint_eq(e->rbytes, 0);
    ck_assert_uint_eq(e->rios, 3);
    ck_assert_uint_eq(e->wios, 4);
    e = io->usage[2];
    ck_assert_uint_eq(e->major, 253);
    ck_assert_uint_eq(e->minor, 1);
    ck_assert_uint_eq(e->rbytes, 5);
    ck_assert_uint_eq(e->wbytes, 0);

    ck_assert_uint_eq(m->n_hugetlb, 2);
    ck_assert_str_eq(m->hugetlb[0]->pagesize, "2MB");
    ck_assert_uint_eq(m->hugetlb[0]->current, 4096);
    ck_assert_uint_eq(m->hugetlb[0]->max, 8192);
    ck_assert_uint_eq(m->hugetlb[0]->failcnt, 1);
    ck_assert_str_eq(m->hugetlb[1]->pagesize, "1GB");

    ck_assert_uint_eq(m->n_network, 2);
    ck_assert_str_eq(m->network[0]->name, "eth0");
    ck_assert_uint_eq(m->network[0]->rx_bytes, 1001);
    ck_assert_uint_eq(m->network[0]->tx_dropped, 1008);
    ck_assert_ptr_null(m->rdma);
    ck_assert_ptr_null(m->memory_events);
    protobuf_c_message_free_unpacked(&m->base, NULL);

    /* the same counter twice for a device: the first (in agent order) is kept */
    f->bytes[5] = blk(8, 0, "read", 999);
    m = (V2 *)convert(&f->resp, true);
    ck_assert_uint_eq(m->io->usage[0]->rbytes, 1000);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    free(f);
}
END_TEST

START_TEST(test_empty)
{
    for (int v2 = 0; v2 < 2; v2++) {
        /* no response, an empty one, empty cgroup stats: an empty Metrics */
        Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
        Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
        const Grpc__StatsContainerResponse *cases[] = {NULL, &resp, &resp};
        for (int i = 0; i < 3; i++) {
            if (i == 2)
                resp.cgroup_stats = &cg;
            Google__Protobuf__Any any;
            struct error err = ERROR_INIT;
            ck_assert_int_eq(metrics_to_any(cases[i], v2, &any, &err), 0);
            ck_assert_uint_eq(any.value.len, 0);
            ProtobufCMessage *m =
                protobuf_c_message_unpack(v2 ? &io__containerd__cgroups__v2__metrics__descriptor
                                             : &io__containerd__cgroups__v1__metrics__descriptor,
                                          NULL, any.value.len, any.value.data);
            ck_assert_ptr_nonnull(m);
            protobuf_c_message_free_unpacked(m, NULL);
            metrics_any_free(&any);
        }
    }

    /* sub-messages without their own sub-messages */
    Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
    Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
    Grpc__CpuStats cpu = GRPC__CPU_STATS__INIT;
    Grpc__MemoryStats mem = GRPC__MEMORY_STATS__INIT;
    Grpc__BlkioStats blkio = GRPC__BLKIO_STATS__INIT;
    Grpc__CgroupStats__HugetlbStatsEntry *null_huge[1] = {NULL};
    Grpc__NetworkStats *null_net[2] = {NULL, NULL};
    cg.cpu_stats = &cpu;
    cg.memory_stats = &mem;
    cg.blkio_stats = &blkio;
    cg.hugetlb_stats = null_huge;
    cg.n_hugetlb_stats = 1;
    resp.cgroup_stats = &cg;
    resp.network_stats = null_net;
    resp.n_network_stats = 2;

    V1 *m1 = (V1 *)convert(&resp, false);
    ck_assert_ptr_nonnull(m1->cpu);
    ck_assert_ptr_null(m1->cpu->usage);
    ck_assert_ptr_null(m1->cpu->throttling);
    ck_assert_ptr_nonnull(m1->memory);
    ck_assert_ptr_null(m1->memory->usage);
    ck_assert_uint_eq(m1->memory->cache, 0);
    ck_assert_ptr_null(m1->pids);
    ck_assert_uint_eq(m1->n_hugetlb, 0);
    ck_assert_uint_eq(m1->n_network, 0);
    protobuf_c_message_free_unpacked(&m1->base, NULL);

    V2 *m2 = (V2 *)convert(&resp, true);
    ck_assert_ptr_nonnull(m2->cpu);
    ck_assert_uint_eq(m2->cpu->usage_usec, 0);
    ck_assert_ptr_nonnull(m2->memory);
    ck_assert_ptr_null(m2->io); /* no samples, no entries */
    ck_assert_ptr_null(m2->pids);
    ck_assert_uint_eq(m2->n_network, 0);
    protobuf_c_message_free_unpacked(&m2->base, NULL);

    /* only unknown ops: still no io entries */
    Grpc__BlkioStatsEntry other = blk(8, 0, "discard", 5), *otherp = &other;
    blkio.io_service_bytes_recursive = &otherp;
    blkio.n_io_service_bytes_recursive = 1;
    m2 = (V2 *)convert(&resp, true);
    ck_assert_ptr_null(m2->io);
    protobuf_c_message_free_unpacked(&m2->base, NULL);
}
END_TEST

/* A misbehaving guest sending 200000 block I/O samples must not stall Stats (no n^2). */
START_TEST(test_many_samples)
{
    size_t n = 200000;
    Grpc__BlkioStatsEntry *e = xcalloc(n, sizeof(*e));
    Grpc__BlkioStatsEntry **p = xcalloc(n, sizeof(*p));
    static const char *ops[] = {"read", "write", "rios", "wios"};
    for (size_t i = 0; i < n; i++) {
        e[i] = blk((i / 4) % 50000, 0, ops[i % 4], i);
        p[i] = &e[i];
    }
    Grpc__BlkioStats blkio = GRPC__BLKIO_STATS__INIT;
    blkio.io_service_bytes_recursive = p;
    blkio.n_io_service_bytes_recursive = n;
    Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
    cg.blkio_stats = &blkio;
    Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
    resp.cgroup_stats = &cg;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    V2 *m = (V2 *)convert(&resp, true);
    V1 *m1 = (V1 *)convert(&resp, false);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(s < 10, "took %.1f s", s);
    ck_assert_uint_eq(m->io->n_usage, 50000);
    ck_assert_uint_eq(m->io->usage[49999]->major, 49999);
    ck_assert_uint_eq(m->io->usage[49999]->wios, 199999);
    ck_assert_uint_eq(m1->blkio->n_io_service_bytes_recursive, n);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&m1->base, NULL);
    free(p);
    free(e);
}
END_TEST

START_TEST(test_host_cgroup_version)
{
    /* the root of a cgroup2 mount always has cgroup.controllers; a v1 tmpfs never does */
    bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    ck_assert_int_eq(metrics_host_cgroup_v2(), v2);
    ck_assert_int_eq(metrics_host_cgroup_v2(), metrics_host_cgroup_v2());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_v1);
    tcase_add_test(tc, test_v2);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_many_samples);
    tcase_add_test(tc, test_host_cgroup_version);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
