#include "lib/path.h"

#include <stdbool.h>
#include <string.h>

#include "lib/xalloc.h"

char *path_clean(const char *p)
{
    size_t n = strlen(p);
    bool rooted = p[0] == '/';
    char *out = xmalloc(n + 3);
    size_t len = 0, dotdot = 0; /* out[0..dotdot) cannot be backtracked over */
    if (rooted) {
        out[len++] = '/';
        dotdot = 1;
    }
    for (size_t i = 0; i < n;) {
        if (p[i] == '/') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t seg = j - i;
        if (seg == 1 && p[i] == '.') {
            /* nothing */
        } else if (seg == 2 && p[i] == '.' && p[i + 1] == '.') {
            if (len > dotdot) {
                len--;
                while (len > dotdot && out[len] != '/')
                    len--;
            } else if (!rooted) {
                if (len > 0)
                    out[len++] = '/';
                out[len++] = '.';
                out[len++] = '.';
                dotdot = len;
            }
        } else {
            if (len > (rooted ? 1u : 0u))
                out[len++] = '/';
            memcpy(out + len, p + i, seg);
            len += seg;
        }
        i = j;
    }
    if (len == 0)
        out[len++] = '.';
    out[len] = '\0';
    return out;
}
