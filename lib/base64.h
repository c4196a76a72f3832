/* Standard base64 (RFC 4648 alphabet, '=' padding), as pod annotations carry it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Decodes s[0..len). '\r' and '\n' are skipped, as Go's decoder does, so a value wrapped by
 * base64(1) or a YAML block scalar still works. On success *out (malloc'd, caller frees) holds
 * *out_len bytes; on failure GRPC_INVALID_ARGUMENT with "base64: <what and where>". */
int base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, struct error *err);

/* NUL-terminated; caller frees. */
char *base64_encode(const uint8_t *p, size_t len);
