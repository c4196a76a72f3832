/* Publishing task events to containerd (containerd.md §3.7).
 *
 * One ordered queue and one thread: events leave in the order they were published, so TaskExit
 * never overtakes the TaskStart published before it. Each is sent as
 * containerd.services.events.ttrpc.v1.Events/Forward on $TTRPC_ADDRESS (one ttrpc connection,
 * redialled when it drops; 5 s per call; each event retried up to 5 times with a linear backoff),
 * or, when there is no TTRPC_ADDRESS but a publish binary and a containerd address, by running
 * `<publish-binary> --address <addr> publish --topic T --namespace NS` with the Any on stdin.
 * With neither (CRI-O: TTRPC_ADDRESS and -address empty, -publish-binary CRI-O itself), events are
 * only logged: one info line says so when the publisher is made, then one line per event names
 * its topic and type. Publishing never blocks the caller.
 *
 * Strict order: an event that fails is retried (5 more times, backoff 1 s x n) before any later
 * one is sent, then dropped with an error log. A full queue drops its oldest event. */
#pragma once

#include <protobuf-c/protobuf-c.h>

struct publisher;

struct publisher_options {
    const char *ttrpc_address;  /* $TTRPC_ADDRESS; NULL or "" = none */
    const char *publish_binary; /* -publish-binary; NULL or "" = none */
    const char *grpc_address;   /* -address (containerd's gRPC socket), for the binary */
    const char *namespace_;     /* -namespace; NULL or "" = "default" */
    /* Tuning, for tests; 0 = the default in brackets. */
    unsigned max_queued;   /* events waiting to be sent [2048]; when full the oldest goes */
    int call_timeout_ms;   /* one Forward call [5000] */
    int binary_timeout_ms; /* one run of the publish binary before it is killed [10000] */
    int backoff_ms;        /* retry n (1..5) waits n x backoff_ms [1000] */
};

/* Never NULL. Nothing is dialled or run until the first event. */
struct publisher *publisher_new(const struct publisher_options *opts);

/* Queues `event` (a containerd.events.* message; packed now, so the caller keeps ownership)
 * under topic ("/tasks/exit"), timestamped now. The type URL is the message's full name.
 * Thread-safe; never blocks on containerd. A topic not starting with '/' is refused (logged). */
void publisher_publish(struct publisher *p, const char *topic, const ProtobufCMessage *event);

/* Sends what is queued, waiting at most timeout_ms (<= 0: not at all), then stops and frees;
 * what could not be sent by then is dropped with an error log. NULL is fine. No
 * publisher_publish may run concurrently or later. */
void publisher_free(struct publisher *p, int timeout_ms);
