/* The agent's ttrpc services: "grpc.AgentService" (rpc-container.c, rpc-sandbox.c, network.c)
 * and "grpc.Health". Methods not listed are answered UNIMPLEMENTED by the server. */
#pragma once

#include "ttrpc/server.h"

int rpc_register(struct ttrpc_server *srv, struct error *err);

/* The container methods, for rpc_register. */
extern const struct ttrpc_method container_methods[];
extern const size_t n_container_methods;

/* Removes every container (DestroySandbox, and the agent stopping). */
void destroy_all_containers(void);
