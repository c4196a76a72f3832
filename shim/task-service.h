/* containerd.task.v2.Task served for one pod (shim/task.h holds the state). */
#pragma once

#include "lib/error.h"
#include "ttrpc/server.h"

struct pod;

int task_service_register(struct ttrpc_server *srv, struct pod *pod, struct error *err);
