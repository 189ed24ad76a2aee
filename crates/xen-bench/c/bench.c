/*
 * C baselines of `cargo xtask bench`: the same workloads as src/workloads.rs, written against
 * Xen's io/ring.h and io/blkif.h (Debian's libxen-dev) and built by the command with gcc -O2.
 *
 *   bench-c ring N       one 4 KiB blkif ring, one thread playing both ends, N requests;
 *                        request ids are sequence numbers
 *   bench-c ring-ids N   the same with ids from a LIFO freelist threaded through a shadow array
 *                        (as Linux blkfront keeps one), checked on every response
 *   bench-c copy N       N copies of a 4 KiB page with memcpy
 *
 * Each mode prints `counters ...` (compared with the Rust side's: equal counters mean equal
 * work) and `ns_per_op ...`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The barriers io/ring.h expects from its includer: the ones the Rust ring uses on x86_64
 * (full fence for xen_mb, compiler-only ordering for the read and write barriers). */
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

/* The current interface (older ones map xen_mb to the includer's mb()). */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <xen/io/blkif.h>

#define PAGE 4096

struct counters {
    uint64_t requests, responses, sector_sum, gref_sum, segments, front_sum;
    uint64_t notify_back, notify_front, bad;
};

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void print_counters(const struct counters *c)
{
    printf("counters requests=%llu responses=%llu sector_sum=%llu gref_sum=%llu segments=%llu "
           "front_sum=%llu notify_back=%llu notify_front=%llu bad=%llu\n",
           (unsigned long long)c->requests, (unsigned long long)c->responses,
           (unsigned long long)c->sector_sum, (unsigned long long)c->gref_sum,
           (unsigned long long)c->segments, (unsigned long long)c->front_sum,
           (unsigned long long)c->notify_back, (unsigned long long)c->notify_front,
           (unsigned long long)c->bad);
}

/* Shadow entry of the id freelist: the next free id while free, the request's sequence
 * number while in flight. */
struct shadow {
    uint64_t next_free;
    uint64_t seq;
    int in_flight;
};

#define NO_ID 0x0fffffffULL

static int ring(uint64_t total, int with_ids)
{
    void *page = aligned_alloc(PAGE, PAGE);
    if (!page)
        return 1;
    memset(page, 0, PAGE);
    blkif_sring_t *sring = page;
    blkif_front_ring_t front;
    blkif_back_ring_t back;
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&front, sring, PAGE);
    BACK_RING_INIT(&back, sring, PAGE);
    unsigned size = RING_SIZE(&front);

    struct shadow shadow[64];
    uint64_t free_head = 0;
    for (unsigned i = 0; i < size; i++) {
        shadow[i].next_free = i + 1 < size ? i + 1 : NO_ID;
        shadow[i].in_flight = 0;
    }

    struct counters c = {0};
    uint64_t issued = 0, expected = 0;
    double start = now_ns();
    while (c.responses < total) {
        /* Frontend: fill every free slot in place, publish once. */
        while (!RING_FULL(&front) && issued < total) {
            blkif_request_t *req = RING_GET_REQUEST(&front, front.req_prod_pvt);
            uint64_t seq = issued++;
            uint64_t id = seq;
            if (with_ids) {
                id = free_head;
                free_head = shadow[id].next_free;
                shadow[id].next_free = NO_ID;
                shadow[id].seq = seq;
                shadow[id].in_flight = 1;
            }
            unsigned nseg = 1 + (unsigned)(seq % BLKIF_MAX_SEGMENTS_PER_REQUEST);
            req->operation = (seq & 1) ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            req->nr_segments = (uint8_t)nseg;
            req->handle = 0;
            req->id = id;
            req->sector_number = seq * 8;
            for (unsigned k = 0; k < nseg; k++) {
                req->seg[k].gref = (grant_ref_t)(seq + k);
                req->seg[k].first_sect = 0;
                req->seg[k].last_sect = 7;
            }
            front.req_prod_pvt++;
        }
        int notify;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
        c.notify_back += notify;

        /* Backend: copy and check every request, answer in place, publish once. */
        RING_IDX rp = back.sring->req_prod;
        xen_rmb();
        if (rp - back.rsp_prod_pvt > size) {
            c.bad++;
            break;
        }
        while (back.req_cons != rp) {
            blkif_request_t req;
            RING_COPY_REQUEST(&back, back.req_cons, &req);
            back.req_cons++;
            c.requests++;
            if (req.nr_segments == 0 || req.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
                c.bad++;
                continue;
            }
            c.sector_sum += req.sector_number;
            c.segments += req.nr_segments;
            for (unsigned k = 0; k < req.nr_segments; k++)
                c.gref_sum += req.seg[k].gref + req.seg[k].last_sect - req.seg[k].first_sect;
            blkif_response_t *rsp = RING_GET_RESPONSE(&back, back.rsp_prod_pvt);
            rsp->id = req.id;
            rsp->operation = req.operation;
            rsp->status = BLKIF_RSP_OKAY;
            back.rsp_prod_pvt++;
        }
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
        c.notify_front += notify;

        /* Frontend: copy and check every response. */
        rp = front.sring->rsp_prod;
        xen_rmb();
        if (rp - front.rsp_cons > front.req_prod_pvt - front.rsp_cons) {
            c.bad++;
            break;
        }
        while (front.rsp_cons != rp) {
            blkif_response_t rsp;
            RING_COPY_RESPONSE(&front, front.rsp_cons, &rsp);
            front.rsp_cons++;
            c.responses++;
            if (rsp.status != BLKIF_RSP_OKAY) {
                c.bad++;
                continue;
            }
            if (with_ids) {
                if (rsp.id >= size || !shadow[rsp.id].in_flight) {
                    c.bad++;
                    continue;
                }
                c.front_sum += shadow[rsp.id].seq;
                shadow[rsp.id].in_flight = 0;
                shadow[rsp.id].next_free = free_head;
                free_head = rsp.id;
            } else {
                if (rsp.id != expected)
                    c.bad++;
                c.front_sum += rsp.id;
            }
            expected++;
        }
    }
    double ns = now_ns() - start;
    print_counters(&c);
    printf("ns_per_op %.4f\n", ns / (double)total);
    free(page);
    return c.bad != 0;
}

static int copy(uint64_t total, size_t page_len)
{
    /* Read through a volatile so that gcc cannot inline the copy: the baseline is the C
     * library's memcpy. */
    volatile size_t opaque_len = page_len;
    size_t len = opaque_len;
    unsigned char *src = aligned_alloc(PAGE, PAGE);
    unsigned char *dst = aligned_alloc(PAGE, PAGE);
    if (!src || !dst || len > PAGE)
        return 1;
    for (size_t i = 0; i < PAGE; i++)
        src[i] = (unsigned char)(i * 7 + 1);
    double start = now_ns();
    for (uint64_t n = 0; n < total; n++) {
        memcpy(dst, src, len);
        /* Keep every copy: the compiler must assume the buffers are read here. */
        __asm__ volatile("" : : "r"(dst), "r"(src) : "memory");
    }
    double ns = now_ns() - start;
    uint64_t check = 0;
    for (size_t i = 0; i < len; i++)
        check = check * 31 + dst[i];
    printf("counters bytes=%llu check=%llu\n", (unsigned long long)(total * len),
           (unsigned long long)check);
    printf("ns_per_op %.4f\n", ns / (double)total);
    free(src);
    free(dst);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s ring|ring-ids|copy COUNT\n", argv[0]);
        return 2;
    }
    uint64_t total = strtoull(argv[2], NULL, 10);
    if (strcmp(argv[1], "ring") == 0)
        return ring(total, 0);
    if (strcmp(argv[1], "ring-ids") == 0)
        return ring(total, 1);
    if (strcmp(argv[1], "copy") == 0)
        return copy(total, PAGE);
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
