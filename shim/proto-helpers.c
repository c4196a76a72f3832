#include "shim/proto-helpers.h"

#include <string.h>

void timestamp_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

Google__Protobuf__Timestamp to_timestamp(const struct timespec *ts)
{
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = ts->tv_sec;
    t.nanos = (int32_t)ts->tv_nsec;
    return t;
}

bool type_url_is(const char *url, const char *name)
{
    const char *slash = strrchr(url, '/');
    return !strcmp(slash ? slash + 1 : url, name);
}
