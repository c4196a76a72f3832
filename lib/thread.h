/* Threads with a small stack of a given size: the shim starts one per process, relay and watch,
 * and the default 8 MiB of address space (and its guard) each would be most of its footprint. */
#pragma once

#include <pthread.h>
#include <stddef.h>

/* pthread_create with a stack of stack_size bytes; returns 0 or the error number. */
int thread_start(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg);
