/* SHA-512 and SHA-384 (FIPS 180-4), with lib/sha256.h the digests init-data names. The shim's
 * daemon computes them itself rather than loading libcrypto, whose relocated data alone costs
 * each pod's shim about 400 KiB of private memory. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA512_LEN 64
#define SHA384_LEN 48

struct sha512 {
    uint64_t h[8];
    uint64_t total; /* bytes hashed so far (documents here are far below 2^64 bytes) */
    uint8_t block[128];
    size_t used; /* bytes waiting in block */
};

void sha512_init(struct sha512 *c);
void sha384_init(struct sha512 *c);
void sha512_update(struct sha512 *c, const void *data, size_t len);
/* Writes 64 bytes (SHA-512) or, after sha384_init, the 48 of SHA-384. */
void sha512_final(struct sha512 *c, uint8_t *out, size_t out_len);
