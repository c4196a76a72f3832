/* Fuzz target: arbitrary bytes arrive on a ttrpc server connection. The server must answer or
 * drop what it can't use, never crash, hang or leak. Built as a libFuzzer target with
 * -DCOCOON_LIBFUZZER, else main() replays the corpus files given as arguments (meson suite
 * 'fuzz'). */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "google/protobuf/wrappers.pb-c.h"
#include "ttrpc/frame.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int echo(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                struct ttrpc_reply *reply, struct error *err)
{
    ttrpc_reply_set(reply, req);
    return 0;
}

static int fail(void *user, const struct ttrpc_call *call, const ProtobufCMessage *req,
                struct ttrpc_reply *reply, struct error *err)
{
    return error_set(err, GRPC_NOT_FOUND, "%s",
                     ((const Google__Protobuf__StringValue *)req)->value);
}

static const struct ttrpc_method methods[] = {
    {"Echo", &google__protobuf__bytes_value__descriptor, echo},
    {"Fail", &google__protobuf__string_value__descriptor, fail},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        signal(SIGPIPE, SIG_IGN);
        init = true;
    }
    struct ttrpc_server *srv = ttrpc_server_new(NULL);
    ttrpc_server_register(srv, "fuzz.Echo", methods, 2, NULL, NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    ttrpc_server_add_connection(srv, sv[0]);
    /* Write the input while draining replies, then half-close and read until the server hangs
     * up: every byte was consumed and answered or dropped. */
    size_t off = 0;
    bool wr_open = true;
    char buf[65536];
    for (;;) {
        struct pollfd p = {.fd = sv[1], .events = POLLIN | (wr_open ? POLLOUT : 0)};
        if (poll(&p, 1, 10000) <= 0)
            abort(); /* a hang is a bug */
        if (p.revents & POLLOUT) {
            ssize_t w = off < size ? write(sv[1], data + off, size - off) : 0;
            if (w > 0)
                off += (size_t)w;
            if (off >= size || w < 0) {
                shutdown(sv[1], SHUT_WR);
                wr_open = false;
            }
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(sv[1], buf, sizeof(buf));
            if (n <= 0)
                break;
        }
    }
    close(sv[1]);
    ttrpc_server_free(srv);
    return 0;
}

#ifndef COCOON_LIBFUZZER
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = malloc(16 << 20);
    size_t n = fread(buf, 1, 16 << 20, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    printf("ok - %s\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0)
                return 1;
            runs++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, alphasort);
        for (int j = 0; j < n; j++) {
            if (names[j]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
                if (run_file(path) < 0)
                    return 1;
                runs++;
            }
            free(names[j]);
        }
        free(names);
    }
    printf("1..%d\n", runs);
    return runs > 0 ? 0 : 1;
}
#endif
