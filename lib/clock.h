/* The monotonic clock in the units timeouts are written in. */
#pragma once

#include <stdint.h>

/* CLOCK_MONOTONIC now, in milliseconds. */
int64_t now_ms(void);
/* The same in microseconds, for measuring. */
int64_t now_us(void);

/* Milliseconds from now to deadline (a now_ms() value) as poll(2) takes them: 0 once it has
 * passed, at most 1000000. */
int remaining_ms(int64_t deadline);
