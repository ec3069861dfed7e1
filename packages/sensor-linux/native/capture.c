/* Exec capture in C: who is exec'ing what, read while the exec is held by the gate (see
 * src/exec-capture.ts for the same reads in JavaScript, which remain the fallback).
 *
 * The process is blocked inside execve(2), so /proc/PID is stable and the new argv and
 * environment are still in its memory at the addresses given to the syscall
 * (/proc/PID/task/TID/syscall). Memory is read only where the read cannot wait on someone
 * else's server: anonymous memory and files on local filesystems (a string in a file mapped
 * from FUSE or NFS could stall the read on a server the caller controls). When an address
 * lies elsewhere the capture says so (argv_source "remote") and JavaScript reads those
 * through the thread pool.
 *
 * This runs on the gate's capture thread, never on the thread that answers the kernel. */
#include "sensor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

/* PROCMAP_QUERY (Linux 6.11, linux/fs.h): the mapping that holds one address, from an open
 * /proc/PID/maps, without the kernel printing the whole map as text. */
struct y_procmap_query {
  uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
#define Y_PROCMAP_QUERY _IOWR('f', 17, struct y_procmap_query)

#define CAP_MAX_ARGS 1024
#define CAP_MAX_ENV 4096
#define CAP_MAX_ARG_BYTES (128 * 1024)
#define CAP_MAX_ENV_VALUE 8192
#define CAP_PAGE 4096
#define CAP_PAGES 64
#define CAP_SYS_EXECVE 59 /* x86_64 */
#define CAP_SYS_EXECVEAT 322

/* growable byte buffer */
typedef struct {
  char *p;
  size_t n, cap;
} cbuf;

static bool cb_put(cbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) return false;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return true;
}

static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len < cap - 1) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = 0;
  return (ssize_t)len;
}

/* ---------- local filesystems (device → local?), shared by capture calls on one thread ---------- */

typedef struct {
  dev_t dev;
  bool local;
} dev_entry;

static __thread dev_entry *devs;
static __thread int n_devs;

static bool remote_fstype(const char *t) {
  static const char *remote[] = {"fuse", "fuseblk", "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph",
                                 "glusterfs", "afs", "lustre", "gfs2", "ocfs2", "virtiofs", NULL};
  char base[64];
  snprintf(base, sizeof base, "%s", t);
  char *dot = strchr(base, '.'); /* fuse.sshfs → fuse */
  if (dot) *dot = 0;
  for (int i = 0; remote[i]; i++)
    if (strcmp(base, remote[i]) == 0) return true;
  return false;
}

static void reload_devs(void) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return;
  free(devs);
  devs = NULL;
  n_devs = 0;
  int cap = 0;
  char *line = NULL;
  size_t ll = 0;
  while (getline(&line, &ll, f) > 0) {
    unsigned maj, min;
    /* id parent major:minor root mountpoint options [optional…] - fstype source superopts */
    if (sscanf(line, "%*s %*s %u:%u", &maj, &min) != 2) continue;
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    char fstype[64] = "";
    if (sscanf(sep + 3, "%63s", fstype) != 1) continue;
    if (n_devs == cap) {
      cap = cap ? cap * 2 : 64;
      dev_entry *nd = realloc(devs, (size_t)cap * sizeof *nd);
      if (!nd) break;
      devs = nd;
    }
    devs[n_devs++] = (dev_entry){makedev(maj, min), !remote_fstype(fstype)};
  }
  free(line);
  fclose(f);
}

static bool local_device(dev_t dev) {
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < n_devs; i++)
      if (devs[i].dev == dev) return devs[i].local;
    if (pass == 0) reload_devs(); /* a device we have not seen: mounts changed */
  }
  return false;
}

/* ---------- the caller's memory ---------- */

enum { R_UNMAPPED = 0, R_LOCAL = 1, R_REMOTE = 2 };

typedef struct {
  uint64_t start, end;
  bool local;
} range_t;

typedef struct {
  int pid;
  int maps_fd;    /* for PROCMAP_QUERY; -1 until needed */
  bool no_query;  /* the kernel has no PROCMAP_QUERY: the maps text, parsed once */
  range_t *ranges; /* mappings looked at so far (query) or all of them (text) */
  int n_ranges, cap_ranges;
  bool ranges_loaded;
  bool remote_seen;
  uint64_t page_base[CAP_PAGES];
  int page_len[CAP_PAGES];
  char pages[CAP_PAGES][CAP_PAGE];
  int n_pages, next_page;
} mem_t;

static void add_range(mem_t *m, range_t r) {
  if (m->n_ranges == m->cap_ranges) {
    int cap = m->cap_ranges ? m->cap_ranges * 2 : 16;
    range_t *nr = realloc(m->ranges, (size_t)cap * sizeof *nr);
    if (!nr) return;
    m->ranges = nr;
    m->cap_ranges = cap;
  }
  m->ranges[m->n_ranges++] = r;
}

static void load_ranges(mem_t *m) {
  m->ranges_loaded = true;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", m->pid);
  FILE *f = fopen(path, "re");
  if (!f) return;
  char *line = NULL;
  size_t ll = 0;
  while (getline(&line, &ll, f) > 0) {
    unsigned long long s, e, ino;
    unsigned maj, min;
    int off = 0;
    /* start-end perms offset major:minor inode path */
    if (sscanf(line, "%llx-%llx %*s %*s %x:%x %llu %n", &s, &e, &maj, &min, &ino, &off) != 5) continue;
    const char *name = line + off;
    bool anonymous = ino == 0 && (name[0] == '\n' || name[0] == 0 || name[0] == '[');
    add_range(m, (range_t){s, e, anonymous || local_device(makedev(maj, min))});
  }
  free(line);
  fclose(f);
}

/* R_LOCAL: anonymous memory or a local filesystem's file; R_REMOTE: FUSE, NFS and the like. */
static int addr_kind(mem_t *m, uint64_t a) {
  for (int i = 0; i < m->n_ranges; i++)
    if (a >= m->ranges[i].start && a < m->ranges[i].end) return m->ranges[i].local ? R_LOCAL : R_REMOTE;
  if (!m->no_query) {
    if (m->maps_fd < 0) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/maps", m->pid);
      m->maps_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    struct y_procmap_query q = {.size = sizeof q, .query_addr = a};
    if (m->maps_fd >= 0 && ioctl(m->maps_fd, Y_PROCMAP_QUERY, &q) == 0) {
      /* inode 0: anonymous memory (heap, stack, [vdso] …) */
      range_t r = {q.vma_start, q.vma_end, q.inode == 0 || local_device(makedev(q.dev_major, q.dev_minor))};
      add_range(m, r);
      return r.local ? R_LOCAL : R_REMOTE;
    }
    if (m->maps_fd >= 0 && errno == ENOENT) return R_UNMAPPED;
    m->no_query = true;
  }
  if (!m->ranges_loaded) {
    m->n_ranges = 0;
    load_ranges(m);
    for (int i = 0; i < m->n_ranges; i++)
      if (a >= m->ranges[i].start && a < m->ranges[i].end) return m->ranges[i].local ? R_LOCAL : R_REMOTE;
  }
  return R_UNMAPPED;
}

/* Copies up to len bytes at addr; returns the count (0: unreadable or not local). */
static size_t mem_read(mem_t *m, uint64_t addr, char *out, size_t len) {
  size_t done = 0;
  while (done < len) {
    uint64_t a = addr + done;
    uint64_t base = a - (a % CAP_PAGE);
    int slot = -1;
    for (int i = 0; i < m->n_pages; i++)
      if (m->page_base[i] == base) {
        slot = i;
        break;
      }
    if (slot < 0) {
      int kind = addr_kind(m, a);
      if (kind != R_LOCAL) {
        if (kind == R_REMOTE) m->remote_seen = true; /* JS reads it through the thread pool */
        break;
      }
      slot = m->n_pages < CAP_PAGES ? m->n_pages++ : m->next_page++ % CAP_PAGES;
      struct iovec local = {m->pages[slot], CAP_PAGE}, remote = {(void *)(uintptr_t)base, CAP_PAGE};
      ssize_t n = process_vm_readv(m->pid, &local, 1, &remote, 1, 0);
      m->page_base[slot] = base;
      m->page_len[slot] = n < 0 ? 0 : (int)n;
    }
    size_t off = (size_t)(a - base);
    if ((int)off >= m->page_len[slot]) break;
    size_t take = (size_t)m->page_len[slot] - off;
    if (take > len - done) take = len - done;
    memcpy(out + done, m->pages[slot] + off, take);
    done += take;
  }
  return done;
}

/* A NUL-terminated string of at most max bytes at addr, appended to b with its NUL (empty when
 * unreadable); false only when memory ran out. */
static bool mem_string(mem_t *m, uint64_t addr, size_t max, cbuf *b) {
  char chunk[512];
  size_t total = 0;
  while (total < max) {
    size_t want = max - total < sizeof chunk ? max - total : sizeof chunk;
    size_t got = mem_read(m, addr + total, chunk, want);
    if (got == 0) break;
    char *nul = memchr(chunk, 0, got);
    size_t use = nul ? (size_t)(nul - chunk) : got;
    if (!cb_put(b, chunk, use)) return false;
    total += use;
    if (nul) break;
  }
  if (!cb_put(b, "", 0)) return false; /* room for the NUL, which cb_put writes */
  b->n++;
  return true;
}

static int mem_pointers(mem_t *m, uint64_t addr, int max, uint64_t *out) {
  int n = 0;
  while (n < max) {
    uint64_t p;
    if (mem_read(m, addr + (uint64_t)n * 8, (char *)&p, 8) != 8) return -1;
    if (p == 0) return n;
    out[n++] = p;
  }
  return n;
}

/* argv and envp addresses of the execve(at) a thread of pid is blocked in */
static bool parse_syscall(const char *text, uint64_t *argv, uint64_t *envp) {
  long nr;
  unsigned long long a[6] = {0};
  int k = sscanf(text, "%ld %llx %llx %llx %llx %llx %llx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5]);
  if (k < 4) return false;
  if (nr == CAP_SYS_EXECVE) {
    *argv = a[1];
    *envp = a[2];
  } else if (nr == CAP_SYS_EXECVEAT && k >= 5) {
    *argv = a[2];
    *envp = a[3];
  } else {
    return false;
  }
  return *argv != 0;
}

static bool exec_args(int pid, uint64_t *argv, uint64_t *envp) {
  char path[64], text[512];
  snprintf(path, sizeof path, "/proc/%d/syscall", pid);
  if (read_small(path, text, sizeof text) > 0 && parse_syscall(text, argv, envp)) return true;
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *d = opendir(path);
  if (!d) return false;
  bool found = false;
  struct dirent *de;
  while (!found && (de = readdir(d))) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    char tp[320];
    snprintf(tp, sizeof tp, "/proc/%d/task/%s/syscall", pid, de->d_name);
    if (read_small(tp, text, sizeof text) > 0 && parse_syscall(text, argv, envp)) found = true;
  }
  closedir(d);
  return found;
}

void y_capture_free(y_capture *c) {
  if (!c) return;
  free(c->cwd);
  free(c->argv);
  free(c->env);
  free(c);
}

y_capture *y_capture_exec(int pid, const char *env_names) {
  y_capture *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  char path[64];
  /* ppid from stat; the ids from the owner of /proc/PID, which is the process's effective uid and
   * gid (status, which has the real ones, costs twice as much) */
  c->ppid = y_parent_of(pid);
  c->uid = c->gid = -1;
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d", pid);
  if (stat(path, &st) == 0) {
    c->uid = st.st_uid;
    c->gid = st.st_gid;
  }
  snprintf(path, sizeof path, "/proc/%d/cwd", pid);
  c->cwd = y_link_dup(path);

  uint64_t argv_at = 0, envp_at = 0;
  if (!exec_args(pid, &argv_at, &envp_at)) return c; /* argv_source stays NONE: JS reads cmdline */
  mem_t *m = calloc(1, sizeof *m);
  if (!m) return c;
  m->pid = pid;
  m->maps_fd = -1;
  uint64_t *ptrs = malloc(sizeof(uint64_t) * CAP_MAX_ENV);
  cbuf args = {0}, env = {0};
  int n = ptrs ? mem_pointers(m, argv_at, CAP_MAX_ARGS, ptrs) : -1;
  if (n >= 0) {
    for (int i = 0; i < n && args.n < CAP_MAX_ARG_BYTES; i++)
      if (!mem_string(m, ptrs[i], CAP_MAX_ARG_BYTES - args.n, &args)) break;
  }
  if (n >= 0 && env_names && env_names[0] && envp_at) {
    int ne = mem_pointers(m, envp_at, CAP_MAX_ENV, ptrs);
    for (int i = 0; i < ne; i++) {
      char head[128];
      size_t got = mem_read(m, ptrs[i], head, sizeof head - 1);
      head[got] = 0;
      for (const char *nm = env_names; *nm; nm += strlen(nm) + 1) {
        if (strncmp(head, nm, strlen(nm)) != 0) continue;
        mem_string(m, ptrs[i], CAP_MAX_ENV_VALUE, &env);
        break;
      }
    }
  }
  if (m->remote_seen) {
    c->argv_source = Y_ARGV_REMOTE; /* JS reads these through the thread pool */
    free(args.p);
    free(env.p);
  } else if (n >= 0) {
    c->argv_source = Y_ARGV_EXECVE;
    c->argv = args.p;
    c->argv_len = args.n;
    c->env = env.p;
    c->env_len = env.n;
  } else {
    free(args.p);
    free(env.p);
  }
  free(ptrs);
  if (m->maps_fd >= 0) close(m->maps_fd);
  free(m->ranges);
  free(m);
  return c;
}

void y_capture_to_js(napi_env env, napi_value obj, const y_capture *c) {
  napi_value v;
  napi_create_object(env, &v);
  y_set_num(env, v, "ppid", (double)c->ppid);
  y_set_num(env, v, "uid", (double)c->uid);
  y_set_num(env, v, "gid", (double)c->gid);
  y_set_str(env, v, "cwd", c->cwd ? c->cwd : "");
  static const char *sources[] = {"none", "execve", "remote"};
  y_set_str(env, v, "argvSource", sources[c->argv_source]);
  if (c->argv) y_set_bytes(env, v, "argv", c->argv, c->argv_len);
  if (c->env) y_set_bytes(env, v, "env", c->env, c->env_len);
  napi_set_named_property(env, obj, "capture", v);
}
