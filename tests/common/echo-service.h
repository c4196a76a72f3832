/* "test.Echo": the ttrpc service the unit tests, the Go/C interop tests and the benchmarks all
 * serve, with the same semantics as tests/interop/go/echo (the Go peer):
 *   Echo(BytesValue) -> BytesValue          the same bytes back
 *   Fail(StringValue "CODE:MESSAGE") -> error with that gRPC code and message
 *   Sleep(StringValue "MS") -> Empty        returns after MS milliseconds
 *   Block(Empty) -> Empty                   blocks until Release is called (like Wait before Start)
 *   Release(Empty) -> Empty
 *   Meta(StringValue KEY) -> StringValue    the metadata value for KEY, then ";deadline" if the
 *                                           call carried a timeout */
#pragma once

#include "ttrpc/server.h"

struct echo_service;

struct echo_service *echo_service_new(void);
void echo_service_free(struct echo_service *svc);
int echo_service_register(struct echo_service *svc, struct ttrpc_server *srv, struct error *err);
