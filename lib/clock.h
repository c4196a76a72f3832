/* The monotonic clock in the units timeouts are written in. */
#pragma once

#include <stdint.h>

/* CLOCK_MONOTONIC now, in milliseconds. */
int64_t now_ms(void);
