/* Small helpers for the protobuf messages the task service and events carry. */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "google/protobuf/timestamp.pb-c.h"

/* CLOCK_REALTIME now: what containerd's events and responses carry. */
void timestamp_now(struct timespec *ts);
Google__Protobuf__Timestamp to_timestamp(const struct timespec *ts);

/* True when a type URL names `name`, with or without a prefix up to its last '/'. */
bool type_url_is(const char *url, const char *name);
