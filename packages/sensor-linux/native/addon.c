/* Module entry: N-API helpers, the crash registry (close fanotify fds on fatal signals and
 * exit), kernel feature probe, pidfd helpers. */
#include "sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------- napi helpers ---------- */

void y_throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  napi_get_last_error_info(env, &info);
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, info && info->error_message ? info->error_message : "napi error");
  napi_throw_error(env, "ERR_YAMORI_NAPI", msg);
}

void y_pid_list_set(int **list, int *n, int *cap, int pid, bool on) {
  int idx = -1;
  for (int i = 0; i < *n; i++)
    if ((*list)[i] == pid) idx = i;
  if (on && idx < 0) {
    if (*n == *cap) {
      int c = *cap ? *cap * 2 : 16;
      int *grown = realloc(*list, (size_t)c * sizeof(int));
      if (grown) {
        *list = grown;
        *cap = c;
      }
    }
    if (*n < *cap) (*list)[(*n)++] = pid;
  } else if (!on && idx >= 0) {
    (*list)[idx] = (*list)[--(*n)];
  }
}

napi_value y_throw_errno(napi_env env, const char *what, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  char codebuf[32];
  snprintf(codebuf, sizeof codebuf, "E%d", err);
  napi_create_string_utf8(env, codebuf, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnoV;
  napi_create_int32(env, err, &errnoV);
  napi_set_named_property(env, error, "errno", errnoV);
  napi_throw(env, error);
  return NULL;
}

bool y_get_prop(napi_env env, napi_value obj, const char *name, napi_value *out) {
  napi_valuetype t;
  if (obj == NULL || napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return false;
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return false;
  if (napi_get_named_property(env, obj, name, out) != napi_ok) return false;
  if (napi_typeof(env, *out, &t) != napi_ok || t == napi_undefined || t == napi_null) return false;
  return true;
}

int64_t y_opt_int(napi_env env, napi_value obj, const char *name, int64_t dflt) {
  napi_value v;
  int64_t out;
  if (!y_get_prop(env, obj, name, &v)) return dflt;
  if (napi_get_value_int64(env, v, &out) != napi_ok) return dflt;
  return out;
}

bool y_opt_bool(napi_env env, napi_value obj, const char *name, bool dflt) {
  napi_value v;
  bool out;
  if (!y_get_prop(env, obj, name, &v)) return dflt;
  if (napi_get_value_bool(env, v, &out) != napi_ok) return dflt;
  return out;
}

char *y_value_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

char *y_opt_string(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  if (!y_get_prop(env, obj, name, &v)) return NULL;
  return y_value_string(env, v);
}

int y_opt_string_array(napi_env env, napi_value obj, const char *name, char ***out, bool *present) {
  napi_value arr;
  *out = NULL;
  if (present) *present = false;
  if (!y_get_prop(env, obj, name, &arr)) return 0;
  bool isArr = false;
  napi_is_array(env, arr, &isArr);
  if (!isArr) return 0;
  if (present) *present = true;
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  char **list = calloc(n ? n : 1, sizeof(char *));
  int k = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok) continue;
    char *s = y_value_string(env, e);
    if (s) list[k++] = s;
  }
  *out = list;
  return k;
}

void y_free_string_array(char **arr, int n) {
  if (!arr) return;
  for (int i = 0; i < n; i++) free(arr[i]);
  free(arr);
}

char *y_opt_env_prefixes(napi_env env, napi_value obj, const char *name) {
  char **names = NULL;
  int nn = y_opt_string_array(env, obj, name, &names, NULL);
  size_t total = 1;
  for (int i = 0; i < nn; i++) total += strlen(names[i]) + 2;
  char *out = calloc(1, total);
  if (out) {
    char *w = out;
    for (int i = 0; i < nn; i++) w += sprintf(w, "%s=", names[i]) + 1;
  }
  y_free_string_array(names, nn);
  return out;
}

void y_set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}
void y_set_u64(napi_env env, napi_value obj, const char *name, uint64_t v) { y_set_num(env, obj, name, (double)v); }
void y_set_big(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value x;
  napi_create_bigint_int64(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}
void y_set_str(napi_env env, napi_value obj, const char *name, const char *s) {
  napi_value x;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, name, x);
}
void y_set_bytes(napi_env env, napi_value obj, const char *name, const char *p, size_t n) {
  napi_value x;
  if (napi_create_string_utf8(env, p, n, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}
char *y_memdup_str(const char *p, size_t n) {
  char *o = malloc(n + 1);
  if (!o) return NULL;
  memcpy(o, p, n);
  o[n] = 0;
  return o;
}
char *y_link_dup(const char *path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path, buf, sizeof buf);
  return n < 0 ? NULL : y_memdup_str(buf, (size_t)n);
}
void y_set_bool(napi_env env, napi_value obj, const char *name, bool v) {
  napi_value x;
  napi_get_boolean(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

int y_fd_path(int fd, char *buf, size_t len) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, buf, len - 1);
  if (n < 0) {
    buf[0] = 0;
    return -1;
  }
  buf[n] = 0;
  return (int)n;
}

int y_fd_high(int fd) {
  if (fd < 0) return fd;
  int min = 1024;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)min >= rl.rlim_cur)
    min = (int)(rl.rlim_cur / 2);
  int hi = fcntl(fd, F_DUPFD_CLOEXEC, min);
  if (hi <= fd) {
    if (hi >= 0) close(hi);
    return fd;
  }
  close(fd);
  return hi;
}

int y_parent_of(int pid) {
  char p[64], buf[1024];
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *r = strrchr(buf, ')'); /* comm may contain spaces and parens */
  if (!r) return -1;
  char state;
  int ppid;
  if (sscanf(r + 1, " %c %d", &state, &ppid) != 2) return -1;
  return ppid;
}

/* ---------- crash registry ---------- */

#define Y_CRASH_MAX 64
static int y_crash_fds[Y_CRASH_MAX];
static struct sigaction y_prev_actions[NSIG];
static int y_crash_installed = 0;
static const int y_crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT, SIGSYS};

void y_crash_register(int fd) {
  for (int i = 0; i < Y_CRASH_MAX; i++) {
    int expected = 0;
    /* slots hold fd+1 so 0 means free */
    if (__atomic_compare_exchange_n(&y_crash_fds[i], &expected, fd + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
  }
}

void y_crash_unregister(int fd) {
  for (int i = 0; i < Y_CRASH_MAX; i++) {
    int expected = fd + 1;
    if (__atomic_compare_exchange_n(&y_crash_fds[i], &expected, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
  }
}

/* async-signal-safe: only close() */
static void y_crash_close_all(void) {
  for (int i = 0; i < Y_CRASH_MAX; i++) {
    int v = __atomic_exchange_n(&y_crash_fds[i], 0, __ATOMIC_SEQ_CST);
    if (v > 0) close(v - 1);
  }
}

static void y_crash_handler(int sig, siginfo_t *info, void *uc) {
  struct sigaction *prev = &y_prev_actions[sig];
  if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
    /* Chain first: Node/V8 use SIGSEGV/SIGBUS for WebAssembly bounds traps. If the previous
     * handler handled the fault it returns with our handler still installed; if it decided the
     * process must die it resets the action to SIG_DFL (Node's TrapWebAssemblyOrContinue). */
    prev->sa_sigaction(sig, info, uc);
    struct sigaction now;
    if (sigaction(sig, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == y_crash_handler) return;
    y_crash_close_all();
    return;
  }
  if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN && prev->sa_handler != NULL) {
    prev->sa_handler(sig);
    struct sigaction now;
    if (sigaction(sig, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == y_crash_handler) return;
    y_crash_close_all();
    return;
  }
  /* default action: the process dies (maybe dumping core, which may exec a helper that our
   * own gate would hold). Close first so nothing waits on a dying listener. */
  y_crash_close_all();
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  raise(sig); /* blocked while we run; delivered with SIG_DFL when we return */
}

static void y_atexit(void) { y_crash_close_all(); }

void y_crash_install(void) {
  if (__atomic_exchange_n(&y_crash_installed, 1, __ATOMIC_SEQ_CST)) return;
  atexit(y_atexit);
  for (size_t i = 0; i < sizeof y_crash_signals / sizeof y_crash_signals[0]; i++) {
    int sig = y_crash_signals[i];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = y_crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &y_prev_actions[sig]);
  }
}

/* ---------- probe ---------- */

static int probe_init(unsigned flags, unsigned ev) {
  int fd = fanotify_init(flags, ev);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

static napi_value js_probe(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_object(env, &out);
  unsigned ev = O_RDONLY | O_CLOEXEC | O_LARGEFILE | O_NOATIME;
  struct {
    const char *name;
    unsigned flags;
  } tests[] = {
      {"contentGroup", FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK},
      {"contentUnlimitedQueue", FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE},
      {"contentReportPidfd", FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_PIDFD},
      {"contentEnableAudit", FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_ENABLE_AUDIT},
      {"notifDfidName", FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID},
      {"notifDfidNamePidfd", FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_REPORT_PIDFD},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int err = probe_init(tests[i].flags, ev);
    y_set_str(env, out, tests[i].name, err == 0 ? "ok" : strerror(err));
  }
  /* FAN_OPEN_EXEC_PERM + evictable ignore mark on a real file */
  int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, ev);
  if (fd >= 0) {
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    int r = fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_EVICTABLE, FAN_OPEN_EXEC_PERM, self, NULL);
    y_set_str(env, out, "ignoreEvictableMark", r == 0 ? "ok" : strerror(errno));
    close(self);
    close(fd);
  }
  int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  y_set_str(env, out, "pidfdOpen", pfd >= 0 ? "ok" : strerror(errno));
  if (pfd >= 0) close(pfd);
  return out;
}

/* ---------- pidfd helpers ---------- */

static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t pid;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_OK(env, napi_get_value_int32(env, argv[0], &pid));
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return y_throw_errno(env, "pidfd_open", errno);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd, sig;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_OK(env, napi_get_value_int32(env, argv[0], &fd));
  NAPI_OK(env, napi_get_value_int32(env, argv[1], &sig));
  if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0) return y_throw_errno(env, "pidfd_send_signal", errno);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

/* fd → path via /proc/self/fd, for event fds handed to JS */
static napi_value js_fd_path(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_OK(env, napi_get_value_int32(env, argv[0], &fd));
  char buf[4096];
  if (y_fd_path(fd, buf, sizeof buf) < 0) return y_throw_errno(env, "readlink", errno);
  napi_value out;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"probe", NULL, js_probe, NULL, NULL, NULL, napi_default, NULL},
      {"pidfdOpen", NULL, js_pidfd_open, NULL, NULL, NULL, napi_default, NULL},
      {"pidfdSendSignal", NULL, js_pidfd_send_signal, NULL, NULL, NULL, napi_default, NULL},
      {"fdPath", NULL, js_fd_path, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (!y_gate_init(env, exports)) return NULL;
  if (!y_proc_init(env, exports)) return NULL;
  if (!y_watch_init(env, exports)) return NULL;
  if (!y_xwatch_init(env, exports)) return NULL;
  if (!y_sockdiag_init(env, exports)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
