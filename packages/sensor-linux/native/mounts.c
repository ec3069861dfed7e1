/* The set of mounts a fanotify group marks, shared by the exec gate and the close-write watch:
 * which mounts are wanted (every non-pseudo filesystem, or those at or below given paths), one
 * FAN_MARK_FILESYSTEM per superblock or one FAN_MARK_MOUNT per mount, and the rescan of
 * /proc/self/mountinfo when it changes (POLLPRI on the open file). */
#include "sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

bool y_prefix_match(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  if (n == 0) return false;
  if (strncmp(path, prefix, n) != 0) return false;
  return prefix[n - 1] == '/' || path[n] == 0 || path[n] == '/';
}

static const char *pseudo_fs[] = {"proc",     "sysfs",     "cgroup",     "cgroup2",  "devpts",    "mqueue",
                                  "debugfs",  "tracefs",   "securityfs", "pstore",   "bpf",       "configfs",
                                  "fusectl",  "binfmt_misc", "autofs",   "efivarfs", "nsfs",      "rpc_pipefs",
                                  "selinuxfs", "hugetlbfs", "ramfs_internal", NULL};

static bool is_pseudo(const char *fstype) {
  for (int i = 0; pseudo_fs[i]; i++)
    if (strcmp(fstype, pseudo_fs[i]) == 0) return true;
  return false;
}

static void unescape_octal(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = 0;
}

static bool marked_has(y_mountset *ms, uint64_t v) {
  for (int i = 0; i < ms->n_marked; i++)
    if (ms->marked[i] == v) return true;
  return false;
}

static void marked_add(y_mountset *ms, uint64_t v) {
  if (ms->n_marked == ms->cap_marked) {
    int cap = ms->cap_marked ? ms->cap_marked * 2 : 32;
    uint64_t *n = realloc(ms->marked, cap * sizeof *n);
    if (!n) return;
    ms->marked = n;
    ms->cap_marked = cap;
  }
  ms->marked[ms->n_marked++] = v;
}

static bool mount_wanted(y_mountset *ms, const char *mp) {
  if (ms->all_mounts) return true;
  for (int i = 0; i < ms->n_filters; i++)
    if (y_prefix_match(mp, ms->filters[i]) || strcmp(ms->filters[i], "/") == 0) return true;
  return false;
}

void y_mountset_init(napi_env env, napi_value opts, y_mountset *ms) {
  memset(ms, 0, sizeof *ms);
  bool present = false;
  ms->n_filters = y_opt_string_array(env, opts, "mounts", &ms->filters, &present);
  ms->all_mounts = !present;
  char *mode = y_opt_string(env, opts, "markMode");
  ms->filesystem_marks = mode == NULL || strcmp(mode, "filesystem") == 0;
  free(mode);
}

void y_mountset_free(y_mountset *ms) {
  y_free_string_array(ms->filters, ms->n_filters);
  free(ms->marked);
  ms->filters = NULL;
  ms->marked = NULL;
  ms->n_filters = ms->n_marked = ms->cap_marked = 0;
}

int y_mountset_scan(y_mountset *ms, int mnt_fd, bool (*mark)(void *ctx, const char *mp, const char *fstype, unsigned kind_flag),
                    void *ctx) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) return 0;
  if (lseek(mnt_fd, 0, SEEK_SET) < 0) {
    free(buf);
    return 0;
  }
  for (;;) {
    if (len + 4096 > cap) {
      char *n = realloc(buf, cap * 2);
      if (!n) break;
      buf = n;
      cap *= 2;
    }
    ssize_t r = read(mnt_fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  buf[len] = 0;
  int added = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    unsigned long long mnt_id;
    unsigned maj, min;
    char mp[PATH_MAX];
    if (sscanf(line, "%llu %*u %u:%u %*s %4095s", &mnt_id, &maj, &min, mp) != 4) continue;
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    char fstype[64];
    if (sscanf(sep + 3, "%63s", fstype) != 1) continue;
    unescape_octal(mp);
    if (is_pseudo(fstype) || !mount_wanted(ms, mp)) continue;
    uint64_t dev = makedev(maj, min);
    uint64_t ident = ms->filesystem_marks ? dev : (uint64_t)mnt_id;
    if (marked_has(ms, ident)) continue;
    if (ms->filesystem_marks) {
      struct stat sb;
      /* an over-mounted mount point resolves to the top mount: only mark what the path reaches */
      if (stat(mp, &sb) != 0 || sb.st_dev != dev) continue;
    }
    /* marked either way: a mount that failed is not retried on every mount change */
    if (mark(ctx, mp, fstype, ms->filesystem_marks ? FAN_MARK_FILESYSTEM : FAN_MARK_MOUNT)) added++;
    marked_add(ms, ident);
  }
  free(buf);
  return added;
}
