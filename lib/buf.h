/* A growable byte buffer, NUL-terminated once anything was appended (so text can be handed
 * out as a string). Zero-initialise it; free(b.ptr) releases it. */
#pragma once

#include <stddef.h>

struct buf {
    char *ptr;
    size_t len, cap;
};

void buf_append(struct buf *b, const void *data, size_t n);
void buf_append_str(struct buf *b, const char *s);
