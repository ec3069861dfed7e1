/* Shared helpers of the Yamori Linux sensor addon.
 *
 * Rules every native thread here follows (see docs/adr/0003-fanotify-exec-gate.md):
 * - a thread that answers permission events never waits on JavaScript, never logs, never
 *   execs, and never blocks on anything but the kernel objects it owns;
 * - JavaScript is reached only through non-blocking napi_threadsafe_function calls;
 * - every fanotify descriptor is registered in the crash registry so a fatal signal or
 *   exit() closes it, which makes the kernel answer every pending permission event "allow".
 */
#ifndef YAMORI_SENSOR_H
#define YAMORI_SENSOR_H

#define _GNU_SOURCE
#define NAPI_VERSION 9
#include <node_api.h>
#include <stdint.h>
#include <stdbool.h>
#include <time.h>
#include <signal.h>
#include <pthread.h>

#define Y_ATOMIC_INC(p) __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)
#define Y_ATOMIC_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define Y_ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

#define NAPI_OK(env, call)                                                     \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      y_throw_last(env, #call);                                                \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static inline int64_t y_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Native threads take no process signals except synchronous faults. */
static inline void y_block_signals(void) {
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGABRT);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
}

/* napi helpers (addon.c) */
void y_throw_last(napi_env env, const char *what);
napi_value y_throw_errno(napi_env env, const char *what, int err);

/* Adds (on) or removes (!on) pid in a growable int list; the caller holds the list's lock.
   Used for the gate's allowed pids and the decoy watcher's excluded pids. */
void y_pid_list_set(int **list, int *n, int *cap, int pid, bool on);
bool y_get_prop(napi_env env, napi_value obj, const char *name, napi_value *out);
int64_t y_opt_int(napi_env env, napi_value obj, const char *name, int64_t dflt);
bool y_opt_bool(napi_env env, napi_value obj, const char *name, bool dflt);
/* Copies a string property into a malloc'd buffer; NULL when absent. */
char *y_opt_string(napi_env env, napi_value obj, const char *name);
/* Reads an array-of-strings property; returns count, *out is a malloc'd array of malloc'd strings. */
int y_opt_string_array(napi_env env, napi_value obj, const char *name, char ***out, bool *present);
void y_free_string_array(char **arr, int n);
/* An array of variable names (["LD_PRELOAD", …]) as "LD_PRELOAD=\0…\0\0", the form the /proc
   readers match entries with; an empty list is "\0". NULL only when out of memory. */
char *y_opt_env_prefixes(napi_env env, napi_value obj, const char *name);
char *y_value_string(napi_env env, napi_value v);
void y_set_num(napi_env env, napi_value obj, const char *name, double v);
void y_set_u64(napi_env env, napi_value obj, const char *name, uint64_t v);
void y_set_big(napi_env env, napi_value obj, const char *name, int64_t v);
void y_set_str(napi_env env, napi_value obj, const char *name, const char *s);
/* A string property of n bytes (embedded NULs kept: NUL-separated lists). */
void y_set_bytes(napi_env env, napi_value obj, const char *name, const char *p, size_t n);
/* malloc'd NUL-terminated copy of n bytes; NULL when out of memory. */
char *y_memdup_str(const char *p, size_t n);
/* readlink into a malloc'd string; NULL when the link cannot be read. */
char *y_link_dup(const char *path);
void y_set_bool(napi_env env, napi_value obj, const char *name, bool v);

/* Crash registry: fds closed by the fatal-signal handler and at exit(). */
void y_crash_register(int fd);
void y_crash_unregister(int fd);
void y_crash_install(void);

/* Exec capture (capture.c): read while an exec is held, on the gate's capture thread. */
enum { Y_ARGV_NONE = 0, Y_ARGV_EXECVE = 1, Y_ARGV_REMOTE = 2 };
typedef struct y_capture {
  int64_t ppid, uid, gid; /* uid, gid: effective (the owner of /proc/PID) */
  char *cwd;
  int argv_source;
  char *argv; /* NUL-separated, each argument NUL-terminated */
  size_t argv_len;
  char *env; /* the selected NAME=value entries, NUL-terminated each */
  size_t env_len;
} y_capture;
/* env_names: NUL-separated "NAME=" prefixes ending in an empty one (or NULL). */
y_capture *y_capture_exec(int pid, const char *env_names);
void y_capture_free(y_capture *c);
void y_capture_to_js(napi_env env, napi_value obj, const y_capture *c);

/* Resolve /proc/self/fd/N into buf; returns length or -1. */
int y_fd_path(int fd, char *buf, size_t len);
/* Moves a permission group's fd to a high number (1024 and up, or half the fd limit), closing the
 * original; returns the fd to use. When a process dies, the kernel releases its files in reverse
 * order of fd number, and releasing a fanotify group waits until no exec or open still waiting on
 * *any* group pins one of its marks (fsnotify_prepare_user_wait pins the current mark of every
 * list). Our notification groups share objects with our permission groups, so the permission groups
 * must be released first, answering their waiters; else SIGKILL of the agent with an exec pending
 * would leave the dying agent and that exec blocked for good. */
int y_fd_high(int fd);
/* Parent tgid of a process from /proc/<pid>/stat, -1 if unknown. */
int y_parent_of(int pid);

/* The mounts a fanotify group marks (mounts.c), shared by the exec gate and the close-write watch.
 * Options read: mounts (string[]: only mounts at or below these paths; absent: every non-pseudo
 * filesystem) and markMode ('filesystem', the default, or 'mount'). Owned by one thread. */
typedef struct {
  bool filesystem_marks;
  bool all_mounts;
  char **filters;
  int n_filters;
  uint64_t *marked; /* mount ids or devs already handled */
  int n_marked, cap_marked;
} y_mountset;
void y_mountset_init(napi_env env, napi_value opts, y_mountset *ms);
void y_mountset_free(y_mountset *ms);
/* Reads mountinfo through mnt_fd (re-reading re-arms POLLPRI) and calls mark() once for each wanted
 * mount or filesystem not handled before (with its fs type), with FAN_MARK_FILESYSTEM or FAN_MARK_MOUNT; mark returns
 * whether it marked. Returns the number of new marks. */
int y_mountset_scan(y_mountset *ms, int mnt_fd, bool (*mark)(void *ctx, const char *mp, const char *fstype, unsigned kind_flag), void *ctx);
/* path equals prefix or lies below it */
bool y_prefix_match(const char *path, const char *prefix);

/* Component registration (each returns false after throwing). */
bool y_gate_init(napi_env env, napi_value exports);
bool y_proc_init(napi_env env, napi_value exports);
bool y_watch_init(napi_env env, napi_value exports);
bool y_xwatch_init(napi_env env, napi_value exports);
bool y_sockdiag_init(napi_env env, napi_value exports);

#endif
