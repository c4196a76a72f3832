/* Just enough HTTP for a plain-HTTP registry: GET over HTTP/1.0 (so no chunked bodies), with an
 * Accept header, following redirects. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Receives the body of a 200 response in pieces; returns < 0 (err set) to abort. */
typedef int (*http_sink_fn)(void *user, const uint8_t *data, size_t len, struct error *err);

/* GETs url ("http://host[:port]/path"). Returns 0 when the answer was 200 and the whole body went
 * to sink; otherwise -1 with err (NOT_FOUND for 404, UNAVAILABLE when unreachable).
 * *content_type (may be NULL) gets the response's Content-Type. */
int http_get(const char *url, const char *accept, http_sink_fn sink, void *user,
             char **content_type, struct error *err);
