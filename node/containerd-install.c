#include "node/containerd-install.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/subprocess.h"
#include "lib/xalloc.h"
#include "node/containerd-config.h"

#define MAX_CONFIG_SIZE (16u << 20) /* containerd configs are KiB; refuse anything absurd */

extern char **environ;

/* Runs argv (PATH searched) with stdout on out_fd and stderr on /dev/null unless keep_stderr;
 * returns its exit status, or -1 with err set if it could not run or was killed. */
static int run(char *const argv[], int out_fd, bool keep_stderr, struct error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (!keep_stderr)
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    spawn_attr_init_clean(&attr);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0)
        return error_set_errno(err, r, "run %s", argv[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return error_set_errno(err, errno, "wait for %s", argv[0]);
    if (!WIFEXITED(status))
        return error_set(err, GRPC_INTERNAL, "%s was killed by signal %d", argv[0],
                         WTERMSIG(status));
    return WEXITSTATUS(status);
}

int ctd_binary_config_version(const char *binary, int *version, struct error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_set_errno(err, errno, "pipe");
    _cleanup_close_ int rd = fds[0];
    char *argv[] = {(char *)binary, "--version", NULL};
    int rc = run(argv, fds[1], false, err);
    close(fds[1]);
    if (rc < 0)
        return error_wrap(err, "no containerd to tell the config layout from (give the config "
                               "version: 2 for containerd 1.6/1.7, 3 for 2.x)");
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (fs_read_fd(rd, 4096, "containerd --version", &text, &len, err) < 0)
        return -1;
    /* "containerd github.com/containerd/containerd/v2 2.1.9+unknown <commit>" */
    char name[64], module[256], ver[64];
    if (rc != 0 || sscanf(text, "%63s %255s %63s", name, module, ver) != 3)
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "`%s --version` did not print a version (exit status %d); give the "
                         "config version: 2 for containerd 1.6/1.7, 3 for 2.x",
                         binary, rc);
    const char *v = ver[0] == 'v' ? ver + 1 : ver;
    long major = strtol(v, NULL, 10);
    if (major < 1)
        return error_set(err, GRPC_FAILED_PRECONDITION,
                         "`%s --version` printed version \"%s\", which cocoonctl cannot read; "
                         "give the config version: 2 for containerd 1.6/1.7, 3 for 2.x",
                         binary, ver);
    *version = major >= 2 ? 3 : 2;
    return 0;
}

/* Writes data to a new file in path's directory with mode and owner of st (or 0644 root when st
 * is NULL), fsync'd, and renames it over path: containerd never reads half a file, and a crash
 * leaves the old file or the new one. */
static int replace_file(const char *path, const char *data, size_t len, const struct stat *st,
                        struct error *err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.cocoon-new-XXXXXX", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "create a temporary file beside %s", path);
    int r = 0;
    if (fchmod(fd, st ? st->st_mode & 07777 : 0644) < 0)
        r = error_set_errno(err, errno, "chmod %s", tmp);
    else if (st && (st->st_uid != geteuid() || st->st_gid != getegid()) &&
             fchown(fd, st->st_uid, st->st_gid) < 0)
        r = error_set_errno(err, errno, "chown %s", tmp);
    else if (fs_write_all(fd, data, len) < 0)
        r = error_set_errno(err, errno, "write %s", tmp);
    else if (fsync(fd) < 0)
        r = error_set_errno(err, errno, "fsync %s", tmp);
    else if (rename(tmp, path) < 0)
        r = error_set_errno(err, errno, "rename %s to %s", tmp, path);
    if (r < 0)
        unlink(tmp);
    return r;
}

/* Copies the current file to <path>.cocoon-backup-<UTC time>[-N]; returns its name. */
static int backup(const char *path, const char *data, size_t len, const struct stat *st,
                  char **name, struct error *err)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    for (int n = 0; n < 100; n++) {
        _cleanup_free_ char *b = n == 0 ? xasprintf("%s.cocoon-backup-%s", path, stamp)
                                        : xasprintf("%s.cocoon-backup-%s-%d", path, stamp, n);
        _cleanup_close_ int fd =
            open(b, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, st->st_mode & 0777);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return error_set_errno(err, errno, "back up %s: create %s", path, b);
        if (fchmod(fd, st->st_mode & 0777) < 0 || fs_write_all(fd, data, len) < 0 ||
            fsync(fd) < 0) {
            error_set_errno(err, errno, "back up %s: write %s", path, b);
            unlink(b);
            return -1;
        }
        *name = TAKE_PTR(b);
        return 0;
    }
    return error_set(err, GRPC_ALREADY_EXISTS,
                     "back up %s: too many backups named %s.cocoon-"
                     "backup-%s*",
                     path, path, stamp);
}

/* `diff -u` of the change, to out. */
static int print_diff(FILE *out, const char *path, bool exists, const char *text, size_t len,
                      struct error *err)
{
    char tmp[] = "/tmp/cocoonctl-diff-XXXXXX";
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, errno, "create %s", tmp);
    int r = fs_write_all(fd, text, len) < 0 ? error_set_errno(err, errno, "write %s", tmp) : 0;
    if (r == 0) {
        _cleanup_free_ char *old_label = xasprintf("%s", exists ? path : "/dev/null");
        _cleanup_free_ char *new_label = xasprintf("%s (with cocoon)", path);
        char *argv[] = {"diff",
                        "-u",
                        "--label",
                        old_label,
                        "--label",
                        new_label,
                        exists ? (char *)path : "/dev/null",
                        tmp,
                        NULL};
        fflush(out);
        int rc = run(argv, fileno(out), true, err);
        if (rc > 1)
            r = error_set(err, GRPC_INTERNAL, "diff -u %s %s failed (exit status %d)", path, tmp,
                          rc);
        else if (rc < 0)
            r = error_wrap(err, "print the change (diff is in the diffutils package)");
    }
    unlink(tmp);
    return r;
}

static void list_names(FILE *out, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ", names[i]);
}

int ctd_install(const struct ctd_install_opts *o, struct error *err)
{
    /* Through a symlink to the file it names: the link stays a link. */
    char resolved[PATH_MAX];
    const char *path = realpath(o->config_path, resolved) ? resolved : o->config_path;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    struct stat st;
    bool exists = true;
    if (fs_read_file(path, MAX_CONFIG_SIZE, &text, &len, err) < 0) {
        if (err->code != GRPC_NOT_FOUND)
            return -1;
        error_clear(err);
        exists = false;
    } else if (stat(path, &st) < 0) {
        return error_set_errno(err, errno, "stat %s", path);
    }

    int version = o->config_version;
    bool blank = !exists || strspn(text, " \t\r\n") == len; /* a cheap first look */
    if (version == 0 && blank &&
        ctd_binary_config_version(o->containerd ? o->containerd : "containerd", &version, err) < 0)
        return error_wrap(err, "%s %s", o->config_path,
                          exists ? "holds no setting" : "does not exist");

    struct ctd_plan plan;
    if (ctd_config_plan(o->config_path, exists ? text : NULL, len, version, o->cocoon_dir, &plan,
                        err) < 0)
        return -1;
    /* Comments only: the plan found no key, so the layout still has to be known. */
    if (plan.created && version == 0) {
        ctd_plan_free(&plan);
        if (ctd_binary_config_version(o->containerd ? o->containerd : "containerd", &version, err) <
                0 ||
            ctd_config_plan(o->config_path, text, len, version, o->cocoon_dir, &plan, err) < 0)
            return -1;
    }
    /* Notes on stderr: a dry run's stdout stays a diff that `patch` takes. */
    fputs(plan.notes, stderr);
    if (o->config_version && !plan.created && plan.version != o->config_version)
        fprintf(stderr,
                "note: %s is config version %d, and keeps that layout: the config version "
                "given applies to a new file only (containerd 2.x reads version 2 files too)\n",
                o->config_path, plan.version);
    int r = 0;
    if (!plan.changed) {
        fprintf(o->out, "%s already registers ", o->config_path);
        list_names(o->out, plan.present, plan.n_present);
        fputs(" for cocoon: nothing to do\n", o->out);
    } else if (o->dry_run) {
        r = print_diff(o->out, o->config_path, exists, plan.text, plan.len, err);
        if (r == 0)
            fputs("dry run: nothing was changed\n", o->out);
    } else {
        _cleanup_free_ char *saved = NULL;
        if (exists)
            r = backup(path, text, len, &st, &saved, err);
        else {
            _cleanup_free_ char *dir = xstrdup(path);
            char *slash = strrchr(dir, '/');
            if (slash && slash != dir) {
                *slash = '\0';
                r = fs_mkdir_p(dir, 0755, 0755, err);
            }
        }
        if (r == 0)
            r = replace_file(path, plan.text, plan.len, exists ? &st : NULL, err);
        if (r == 0) {
            fprintf(o->out, "%s %s: added ", exists ? "updated" : "wrote", o->config_path);
            list_names(o->out, plan.added, plan.n_added);
            fprintf(o->out, " (config version %d)", plan.version);
            if (saved)
                fprintf(o->out, "; the old file is %s", saved);
            fputs("\nrestart containerd to use them (systemctl restart containerd)\n", o->out);
        }
    }
    ctd_plan_free(&plan);
    return r;
}
