/* Where cocoon's own programs are. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "shim/commands.h"

char *shim_libexec_path(const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            char *beside = xasprintf("%.*s/%s", (int)(slash - self), self, name);
            if (access(beside, X_OK) == 0)
                return beside;
            free(beside);
        }
    }
    return xasprintf("%s/%s", SHIM_LIBEXEC_DIR, name);
}
