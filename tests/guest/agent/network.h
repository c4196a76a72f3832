/* The pod network methods of grpc.AgentService: UpdateInterface, UpdateRoutes, AddARPNeighbors
 * (network.c), for rpc_register. */
#pragma once

#include <stddef.h>

#include "ttrpc/server.h"

extern const struct ttrpc_method network_methods[];
extern const size_t n_network_methods;
