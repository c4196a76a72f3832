#include "tests/common/echo-service.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "lib/xalloc.h"

struct echo_service {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned released;
};

static int do_echo(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                   struct ttrpc_reply *reply, struct error *err)
{
    const Google__Protobuf__BytesValue *in = (const void *)req;
    Google__Protobuf__BytesValue out = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
    out.value = in->value;
    ttrpc_reply_set(reply, &out.base);
    return 0;
}

static int do_fail(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                   struct ttrpc_reply *reply, struct error *err)
{
    const Google__Protobuf__StringValue *in = (const void *)req;
    char *end;
    long code = strtol(in->value, &end, 10);
    if (*end != ':')
        return error_set(err, GRPC_INVALID_ARGUMENT, "Fail wants \"CODE:MESSAGE\", got \"%s\"",
                         in->value);
    return error_set(err, (int)code, "%s", end + 1);
}

static int do_sleep(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                    struct ttrpc_reply *reply, struct error *err)
{
    const Google__Protobuf__StringValue *in = (const void *)req;
    long ms = strtol(in->value, NULL, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return 0;
}

static int do_block(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                    struct ttrpc_reply *reply, struct error *err)
{
    struct echo_service *svc = user;
    pthread_mutex_lock(&svc->lock);
    while (svc->released == 0)
        pthread_cond_wait(&svc->cond, &svc->lock);
    svc->released--;
    pthread_mutex_unlock(&svc->lock);
    return 0;
}

static int do_release(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                      struct ttrpc_reply *reply, struct error *err)
{
    struct echo_service *svc = user;
    pthread_mutex_lock(&svc->lock);
    svc->released++;
    pthread_cond_signal(&svc->cond);
    pthread_mutex_unlock(&svc->lock);
    return 0;
}

static int do_meta(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                   struct ttrpc_reply *reply, struct error *err)
{
    const Google__Protobuf__StringValue *in = (const void *)req;
    const char *v = ttrpc_call_metadata(call, in->value);
    char *s = xasprintf("%s%s", v ? v : "", call->deadline_ns ? ";deadline" : "");
    Google__Protobuf__StringValue out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    out.value = s;
    ttrpc_reply_set(reply, &out.base);
    free(s);
    return 0;
}

static const struct ttrpc_method echo_methods[] = {
    {"Echo", &google__protobuf__bytes_value__descriptor, do_echo},
    {"Fail", &google__protobuf__string_value__descriptor, do_fail},
    {"Sleep", &google__protobuf__string_value__descriptor, do_sleep},
    {"Block", &google__protobuf__empty__descriptor, do_block},
    {"Release", &google__protobuf__empty__descriptor, do_release},
    {"Meta", &google__protobuf__string_value__descriptor, do_meta},
};

struct echo_service *echo_service_new(void)
{
    struct echo_service *svc = xcalloc(1, sizeof(*svc));
    pthread_mutex_init(&svc->lock, NULL);
    pthread_cond_init(&svc->cond, NULL);
    return svc;
}

void echo_service_free(struct echo_service *svc)
{
    if (!svc)
        return;
    pthread_cond_destroy(&svc->cond);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

int echo_service_register(struct echo_service *svc, struct ttrpc_server *srv, struct error *err)
{
    return ttrpc_server_register(srv, "test.Echo", echo_methods,
                                 sizeof(echo_methods) / sizeof(echo_methods[0]), svc, err);
}
