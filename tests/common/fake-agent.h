/* A fake agent for unit tests of shim code that talks to the guest: the test's handlers served
 * as grpc.AgentService on a unix socket, and the shim's agent client connected to it. */
#pragma once

#include <check.h>
#include <stddef.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "shim/agent.h"
#include "ttrpc/dial.h"
#include "ttrpc/server.h"

/* Serves methods on socket path sock (which must not exist) and returns an agent connected to it;
 * *srv is the server, for ttrpc_server_free after agent_free. */
static inline struct agent *fake_agent_start(const struct ttrpc_method *methods, size_t n,
                                             const char *sock, struct ttrpc_server **srv)
{
    struct error err = ERROR_INIT;
    *srv = ttrpc_server_new(NULL);
    ck_assert_msg(ttrpc_server_register(*srv, "grpc.AgentService", methods, n, NULL, &err) == 0,
                  "%s", err.msg);
    int lfd = ttrpc_listen_unix(sock, &err);
    ck_assert_msg(lfd >= 0, "%s", err.msg);
    ck_assert_msg(ttrpc_server_listen(*srv, lfd, &err) == 0, "%s", err.msg);
    _cleanup_free_ char *addr = xasprintf("unix://%s", sock);
    struct agent_timeouts t = {
        .request_ms = 5000, .health_check_ms = 5000, .create_container_ms = 5000};
    struct agent *agent = NULL;
    ck_assert_msg(agent_connect(addr, 2000, &t, &agent, &err) == 0, "%s", err.msg);
    return agent;
}
