/* ttrpc framing: a 10-byte big-endian header, then `length` bytes of protobuf.
 *   off 0 u32 length | off 4 u32 stream id | off 8 u8 type | off 9 u8 flags
 * The reader is resumable: a caller may stop waiting at a deadline and another thread may later
 * continue the same frame, which the client's reader handoff needs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define TTRPC_HEADER_LEN 10
#define TTRPC_MESSAGE_LENGTH_MAX (4u << 20)

enum ttrpc_msg_type {
    TTRPC_TYPE_REQUEST = 1,
    TTRPC_TYPE_RESPONSE = 2,
    TTRPC_TYPE_DATA = 3,
};

struct ttrpc_frame_header {
    uint32_t length;
    uint32_t stream_id;
    uint8_t type;
    uint8_t flags;
};

void ttrpc_header_encode(uint8_t out[TTRPC_HEADER_LEN], const struct ttrpc_frame_header *h);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_frame_header *h);

struct ttrpc_frame {
    struct ttrpc_frame_header hdr;
    const uint8_t *data; /* valid until the next ttrpc_frame_read on the same reader */
};

struct ttrpc_frame_reader {
    uint8_t *buf;
    size_t cap, start, end;
    uint64_t discard; /* bytes of an oversized frame still to skip */
};

enum ttrpc_read_result {
    TTRPC_READ_FRAME = 1,    /* *out holds a whole frame */
    TTRPC_READ_OVERSIZE = 2, /* out->hdr holds the header of a frame over the limit; its data is
                                being discarded and out->data is NULL */
    TTRPC_READ_EOF = 0,      /* the peer closed the connection between frames */
    TTRPC_READ_ERROR = -1,   /* err is set (I/O error, or the peer closed mid-frame) */
    TTRPC_READ_TIMEOUT = -2, /* the deadline passed; partial data stays buffered */
    TTRPC_READ_WOKEN = -3,   /* wake_fd became readable */
};

/* Reads the next frame from fd. deadline_ns is CLOCK_MONOTONIC ns (0 = none); wake_fd (-1 = none)
 * interrupts the wait when readable. Never allocates more than one maximal frame. */
enum ttrpc_read_result ttrpc_frame_read(struct ttrpc_frame_reader *r, int fd, int wake_fd,
                                        int64_t deadline_ns, struct ttrpc_frame *out,
                                        struct error *err);
void ttrpc_frame_reader_free(struct ttrpc_frame_reader *r);

/* Writes one whole frame (retrying short writes). Returns 0 or -errno. The caller serialises
 * writers. Never raises SIGPIPE. */
int ttrpc_frame_write(int fd, uint32_t stream_id, uint8_t type, uint8_t flags, const void *data,
                      size_t len);

/* How long a waiter polls before it sleeps; see ttrpc_spin_begin. */
#define TTRPC_SPIN_NS 50000

/* Takes one of the process's (CPUs - 1) spin slots; false if none is free. Pair with
 * ttrpc_spin_end. */
bool ttrpc_spin_begin(void);
void ttrpc_spin_end(void);

/* CLOCK_MONOTONIC now in ns, and now + ms (ms <= 0 gives 0: no deadline). */
int64_t ttrpc_now_ns(void);
int64_t ttrpc_deadline_after_ms(int64_t ms);
