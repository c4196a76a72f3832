/* Serving ttrpc on a virtio-serial port.
 *
 * The guest cannot see every host reconnect: while no host is connected reads return 0 at once,
 * but a host that disconnects and connects again quickly may never show as a read of 0, and its
 * new ttrpc client starts again at stream id 1, which the old server connection would refuse.
 * So a relay thread owns the port and hands the server one socketpair per host session: a
 * session ends when a read returns 0 (the host left) or when a request's stream id does not
 * increase (a new client); the server then sees EOF on the old socket and a new connection. */
#pragma once

#include "lib/error.h"
#include "ttrpc/server.h"

/* Starts relaying port_fd (kept open for the agent's life: closing a virtio port drops the
 * bytes the host already sent) to connections of srv. */
int serial_relay_start(struct ttrpc_server *srv, int port_fd, struct error *err);
void serial_relay_stop(void);

/* Test only (README: "Stalling"): from now on the relay passes nothing either way. It reads and
 * drops what the host sends and drops what the server answers, so the host's connection stays
 * open and every request, pending or new, goes unanswered: an agent that hangs. No way back. */
void serial_relay_stall(void);
