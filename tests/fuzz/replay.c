/* The main() of every fuzz target when it is not built for libFuzzer: replays the corpus files and
 * folders given as arguments through LLVMFuzzerTestOneInput, printing TAP (meson suite 'fuzz').
 * A crash, a sanitizer report or an abort() of a target's own check fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int run_file(const char *path, int *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf)
        abort();
    /* An exact-size copy, so that ASan sees a read past the input as libFuzzer would. */
    uint8_t *input = malloc(len ? len : 1);
    if (!input)
        abort();
    for (size_t i = 0; i < len; i++)
        input[i] = buf[i];
    free(buf);
    LLVMFuzzerTestOneInput(input, len);
    free(input);
    printf("ok %d - %s\n", ++*runs, path);
    fflush(stdout);
    return 0;
}

static int run_dir(const char *dir, int *runs)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (r == 0 && names[i]->d_name[0] != '.') {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            r = run_file(path, runs);
        }
        free(names[i]);
    }
    free(names);
    return r;
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
        if ((S_ISDIR(st.st_mode) ? run_dir(argv[i], &runs) : run_file(argv[i], &runs)) < 0)
            return 1;
    }
    printf("1..%d\n", runs);
    return runs > 0 ? 0 : 1;
}
