/* File events with the writer's pid, and decoy (canary) files guarded by open permission.
 *
 * Notification group: FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_REPORT_FID
 * [| FAN_REPORT_PIDFD], marks on watched paths. Events are batched to JS as
 * {mask, pid, pidfd, dir, name, path}. A queue overflow is reported (JS rescans).
 *
 * Decoy group: FAN_CLASS_CONTENT, FAN_OPEN_PERM inode marks on given files. The answering
 * thread finds the opener's flags from /proc/<pid>/task/<tid>/syscall (the opener is blocked
 * inside open(), so its syscall arguments are stable), denies opens for writing by
 * non-excluded processes, and reports every decoy open to JS. It never waits on JS. With
 * freezeDeniedWriters, a denied writer is stopped (SIGSTOP through its pidfd) before the denial is
 * answered, so it cannot touch another file while JS decides: JS kills it or resumes it (SIGCONT);
 * a batch JS never receives resumes its frozen writers. */
#include "sensor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>

#define FW_BATCH 256

typedef struct {
  uint64_t mask;
  int pid, pidfd;
  int flags;  /* decoy: opener's open flags, -1 unknown */
  bool decoy, denied, frozen;
  char dir[PATH_MAX];
  char name[NAME_MAX + 1];
} fw_event;

typedef struct {
  int n;
  bool overflow;
  fw_event *ev;
} fw_batch;

typedef struct {
  fsid_t fsid;
  int fd;
} fw_mountref;

typedef struct {
  uint64_t events, overflows, dropped_batches, dropped_events, unresolved, decoy_opens, decoy_denied, decoy_errors, decoy_frozen;
} fw_stats;

typedef struct {
  napi_threadsafe_function tsfn;
  pthread_t thread;
  bool thread_started, stopped;
  int notif_fd, decoy_fd, wake_fd;
  bool report_pidfd;
  bool freeze_denied;
  int running;
  int self_pid;
  pthread_mutex_t lock; /* mountrefs, excluded pids */
  fw_mountref *refs;
  int n_refs, cap_refs;
  int *excluded;
  int n_excluded, cap_excluded;
  fw_stats st;
} fw_t;

/* ---------- helpers ---------- */

static int fw_mount_fd_for(fw_t *w, const fsid_t *fsid) {
  int fd = -1;
  pthread_mutex_lock(&w->lock);
  for (int i = 0; i < w->n_refs; i++)
    if (memcmp(&w->refs[i].fsid, fsid, sizeof *fsid) == 0) fd = w->refs[i].fd;
  pthread_mutex_unlock(&w->lock);
  return fd;
}

static void fw_add_ref(fw_t *w, const char *path) {
  /* open_by_handle_at() refuses an O_PATH mount fd: hold the directory (or the file's parent) */
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOTDIR) {
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = 0;
    else snprintf(parent, sizeof parent, "/");
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0) return;
  struct statfs sf;
  if (fstatfs(fd, &sf) != 0) {
    close(fd);
    return;
  }
  pthread_mutex_lock(&w->lock);
  for (int i = 0; i < w->n_refs; i++)
    if (memcmp(&w->refs[i].fsid, &sf.f_fsid, sizeof sf.f_fsid) == 0) {
      pthread_mutex_unlock(&w->lock);
      close(fd);
      return;
    }
  if (w->n_refs == w->cap_refs) {
    int cap = w->cap_refs ? w->cap_refs * 2 : 8;
    fw_mountref *n = realloc(w->refs, (size_t)cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&w->lock);
      close(fd);
      return;
    }
    w->refs = n;
    w->cap_refs = cap;
  }
  w->refs[w->n_refs].fsid = sf.f_fsid;
  w->refs[w->n_refs].fd = fd;
  w->n_refs++;
  pthread_mutex_unlock(&w->lock);
}

static bool fw_is_excluded(fw_t *w, int pid) {
  if (pid == w->self_pid) return true;
  bool r = false;
  pthread_mutex_lock(&w->lock);
  for (int i = 0; i < w->n_excluded; i++)
    if (w->excluded[i] == pid) r = true;
  pthread_mutex_unlock(&w->lock);
  return r;
}

static int fw_signal(int pidfd, int pid, int sig) {
  if (pidfd >= 0) return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
  return kill(pid, sig);
}

/* A batch that will never reach JS: resume the writers it froze, close its pidfds. */
static void fw_discard(fw_batch *b) {
  for (int i = 0; i < b->n; i++) {
    if (b->ev[i].frozen) fw_signal(b->ev[i].pidfd, b->ev[i].pid, SIGCONT);
    if (b->ev[i].pidfd >= 0) close(b->ev[i].pidfd);
  }
  free(b->ev);
  free(b);
}

static void fw_post(fw_t *w, fw_batch *b) {
  if (!b) return;
  if (b->n == 0 && !b->overflow) {
    free(b->ev);
    free(b);
    return;
  }
  if (b->n > 0 && b->n < FW_BATCH) { /* events are ~4 KiB each: queue only what is used */
    fw_event *n = realloc(b->ev, (size_t)b->n * sizeof *n);
    if (n) b->ev = n;
  }
  if (napi_call_threadsafe_function(w->tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
    Y_ATOMIC_INC(&w->st.dropped_batches);
    Y_ATOMIC_ADD(&w->st.dropped_events, (uint64_t)b->n);
    fw_discard(b);
  }
}

static fw_batch *fw_batch_new(void) {
  fw_batch *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->ev = malloc(FW_BATCH * sizeof(fw_event));
  if (!b->ev) {
    free(b);
    return NULL;
  }
  return b;
}

/* ---------- notification group ---------- */

static void fw_read_notif(fw_t *w, char *buf, size_t buflen, fw_batch **bp) {
  for (;;) {
    ssize_t len = read(w->notif_fd, buf, buflen);
    if (len <= 0) return;
    struct fanotify_event_metadata *md = (struct fanotify_event_metadata *)buf;
    for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
      if (md->vers != FANOTIFY_METADATA_VERSION) return;
      if (!*bp) *bp = fw_batch_new();
      fw_batch *b = *bp;
      if (!b) return;
      if (md->mask & FAN_Q_OVERFLOW) {
        Y_ATOMIC_INC(&w->st.overflows);
        b->overflow = true;
        continue;
      }
      Y_ATOMIC_INC(&w->st.events);
      fw_event *e = &b->ev[b->n];
      memset(e, 0, sizeof *e);
      e->mask = md->mask;
      e->pid = md->pid;
      e->pidfd = -1;
      e->flags = -1;
      bool resolved = false;
      char *p = (char *)md + md->metadata_len, *end = (char *)md + md->event_len;
      while (p + sizeof(struct fanotify_event_info_header) <= end) {
        struct fanotify_event_info_header *h = (struct fanotify_event_info_header *)p;
        if (h->len == 0) break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
          int v = ((struct fanotify_event_info_pidfd *)p)->pidfd;
          if (v >= 0) e->pidfd = v;
        } else if (!resolved && (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || h->info_type == FAN_EVENT_INFO_TYPE_DFID ||
                                 h->info_type == FAN_EVENT_INFO_TYPE_FID)) {
          struct fanotify_event_info_fid *fid = (struct fanotify_event_info_fid *)p;
          struct file_handle *fh = (struct file_handle *)fid->handle;
          int mfd = fw_mount_fd_for(w, (const fsid_t *)&fid->fsid);
          if (mfd >= 0) {
            int dfd = open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
            if (dfd >= 0) {
              y_fd_path(dfd, e->dir, sizeof e->dir);
              close(dfd);
              resolved = true;
            }
          }
          if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
            const char *name = (const char *)fh->f_handle + fh->handle_bytes;
            if (strcmp(name, ".") != 0) snprintf(e->name, sizeof e->name, "%s", name);
          }
        }
        p += h->len;
      }
      if (!resolved) Y_ATOMIC_INC(&w->st.unresolved);
      b->n++;
      if (b->n == FW_BATCH) {
        fw_post(w, b);
        *bp = NULL;
      }
    }
    if (len < (ssize_t)buflen / 2) return;
  }
}

/* ---------- decoy group ---------- */

/* Open flags of the task of `pid` blocked in an open syscall; -1 if not found. */
static int fw_open_flags(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int flags = -1;
  struct dirent *de;
  while (flags < 0 && (de = readdir(d))) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    char sp[320], buf[512];
    snprintf(sp, sizeof sp, "/proc/%d/task/%s/syscall", pid, de->d_name);
    int fd = open(sp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    long nr;
    unsigned long long a[6];
    if (sscanf(buf, "%ld %llx %llx %llx %llx %llx %llx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5]) < 4) continue;
#if defined(__x86_64__)
    if (nr == 2) flags = (int)a[1];                                   /* open */
    else if (nr == 257) flags = (int)a[2];                            /* openat */
    else if (nr == 85) flags = O_WRONLY | O_CREAT | O_TRUNC;          /* creat */
    else if (nr == 304) flags = (int)a[2];                            /* open_by_handle_at */
    else if (nr == 437) {                                             /* openat2: flags in struct open_how */
      char mp[64];
      snprintf(mp, sizeof mp, "/proc/%d/mem", pid);
      int mfd = open(mp, O_RDONLY | O_CLOEXEC);
      if (mfd >= 0) {
        uint64_t how = 0;
        if (pread(mfd, &how, sizeof how, (off_t)a[2]) == (ssize_t)sizeof how) flags = (int)how;
        close(mfd);
      }
    }
#elif defined(__aarch64__)
    if (nr == 56) flags = (int)a[2];                                  /* openat */
    else if (nr == 265) flags = (int)a[2];                            /* open_by_handle_at */
    else if (nr == 437) {
      char mp[64];
      snprintf(mp, sizeof mp, "/proc/%d/mem", pid);
      int mfd = open(mp, O_RDONLY | O_CLOEXEC);
      if (mfd >= 0) {
        uint64_t how = 0;
        if (pread(mfd, &how, sizeof how, (off_t)a[2]) == (ssize_t)sizeof how) flags = (int)how;
        close(mfd);
      }
    }
#endif
  }
  closedir(d);
  return flags;
}

static void fw_read_decoy(fw_t *w, char *buf, size_t buflen, fw_batch **bp) {
  for (;;) {
    ssize_t len = read(w->decoy_fd, buf, buflen);
    if (len <= 0) return;
    struct fanotify_event_metadata *md = (struct fanotify_event_metadata *)buf;
    for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
      if (md->fd < 0) continue;
      int pidfd = -1;
      char *p = (char *)md + md->metadata_len, *end = (char *)md + md->event_len;
      while (p + sizeof(struct fanotify_event_info_header) <= end) {
        struct fanotify_event_info_header *h = (struct fanotify_event_info_header *)p;
        if (h->len == 0) break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
          int v = ((struct fanotify_event_info_pidfd *)p)->pidfd;
          if (v >= 0) pidfd = v;
        }
        p += h->len;
      }
      bool excluded = fw_is_excluded(w, md->pid);
      int flags = excluded ? -1 : fw_open_flags(md->pid);
      /* unknown flags on a decoy count as a write: nothing legitimate should open it */
      bool write_intent = flags < 0 || (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
      bool deny = !excluded && write_intent;
      /* freeze before answering: the writer returns from open() straight into the stop */
      bool frozen = deny && w->freeze_denied && fw_signal(pidfd, md->pid, SIGSTOP) == 0;
      if (frozen) Y_ATOMIC_INC(&w->st.decoy_frozen);
      struct fanotify_response r = {.fd = md->fd, .response = deny ? FAN_DENY : FAN_ALLOW};
      if (write(w->decoy_fd, &r, sizeof r) != (ssize_t)sizeof r) Y_ATOMIC_INC(&w->st.decoy_errors);
      if (excluded) {
        close(md->fd);
        if (pidfd >= 0) close(pidfd);
        continue;
      }
      Y_ATOMIC_INC(&w->st.decoy_opens);
      if (deny) Y_ATOMIC_INC(&w->st.decoy_denied);
      if (!*bp) *bp = fw_batch_new();
      fw_batch *b = *bp;
      if (!b) {
        if (frozen) fw_signal(pidfd, md->pid, SIGCONT);
        close(md->fd);
        if (pidfd >= 0) close(pidfd);
        continue;
      }
      fw_event *e = &b->ev[b->n];
      memset(e, 0, sizeof *e);
      e->decoy = true;
      e->denied = deny;
      e->frozen = frozen;
      e->mask = md->mask;
      e->pid = md->pid;
      e->pidfd = pidfd;
      e->flags = flags;
      char full[PATH_MAX];
      y_fd_path(md->fd, full, sizeof full);
      close(md->fd);
      char *slash = strrchr(full, '/');
      if (slash) {
        *slash = 0;
        snprintf(e->dir, sizeof e->dir, "%s", full[0] ? full : "/");
        snprintf(e->name, sizeof e->name, "%s", slash + 1);
      }
      b->n++;
      if (b->n == FW_BATCH) {
        fw_post(w, b);
        *bp = NULL;
      }
    }
    if (len < (ssize_t)buflen / 2) return;
  }
}

static void *fw_thread(void *arg) {
  fw_t *w = arg;
  y_block_signals();
  size_t buflen = 64 * 1024;
  char *buf = aligned_alloc(8, buflen);
  if (!buf) return NULL;
  while (__atomic_load_n(&w->running, __ATOMIC_SEQ_CST)) {
    struct pollfd pfd[3] = {{.fd = w->notif_fd, .events = POLLIN},
                            {.fd = w->decoy_fd, .events = POLLIN},
                            {.fd = w->wake_fd, .events = POLLIN}};
    int n = poll(pfd, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[2].revents & POLLIN) {
      uint64_t v;
      if (read(w->wake_fd, &v, sizeof v) < 0) {
      }
    }
    if (!__atomic_load_n(&w->running, __ATOMIC_SEQ_CST)) break;
    fw_batch *b = NULL;
    if (pfd[1].revents & POLLIN) fw_read_decoy(w, buf, buflen, &b); /* permission events first */
    if (pfd[0].revents & POLLIN) fw_read_notif(w, buf, buflen, &b);
    fw_post(w, b);
  }
  free(buf);
  return NULL;
}

/* ---------- JS side ---------- */

static void fw_call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  fw_batch *b = data;
  if (env == NULL || cb == NULL) {
    fw_discard(b);
    return;
  }
  napi_value arr, undef, out;
  napi_create_object(env, &out);
  napi_create_array_with_length(env, (size_t)b->n, &arr);
  for (int i = 0; i < b->n; i++) {
    fw_event *e = &b->ev[i];
    napi_value o;
    napi_create_object(env, &o);
    y_set_str(env, o, "kind", e->decoy ? "decoy" : "file");
    y_set_num(env, o, "mask", (double)e->mask);
    y_set_num(env, o, "pid", e->pid);
    y_set_num(env, o, "pidfd", e->pidfd);
    y_set_str(env, o, "dir", e->dir);
    y_set_str(env, o, "name", e->name);
    if (e->decoy) {
      y_set_num(env, o, "openFlags", e->flags);
      y_set_bool(env, o, "denied", e->denied);
      y_set_bool(env, o, "frozen", e->frozen);
    }
    napi_set_element(env, arr, (uint32_t)i, o);
  }
  napi_set_named_property(env, out, "events", arr);
  y_set_bool(env, out, "overflow", b->overflow);
  /* the pidfds are valid only during the callback: the loader closes them after it */
  free(b->ev);
  free(b);
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 1, &out, NULL);
}

static void fw_stop(fw_t *w) {
  if (w->stopped) return;
  w->stopped = true;
  __atomic_store_n(&w->running, 0, __ATOMIC_SEQ_CST);
  uint64_t one = 1;
  if (write(w->wake_fd, &one, sizeof one) < 0) {
  }
  if (w->thread_started) pthread_join(w->thread, NULL);
  if (w->decoy_fd >= 0) {
    y_crash_unregister(w->decoy_fd);
    close(w->decoy_fd);
    w->decoy_fd = -1;
  }
  if (w->notif_fd >= 0) close(w->notif_fd);
  w->notif_fd = -1;
  close(w->wake_fd);
  pthread_mutex_lock(&w->lock);
  for (int i = 0; i < w->n_refs; i++) close(w->refs[i].fd);
  w->n_refs = 0;
  pthread_mutex_unlock(&w->lock);
  if (w->tsfn) napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  w->tsfn = NULL;
}

static void fw_cleanup(void *arg) { fw_stop(arg); }

static void fw_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  fw_t *w = data;
  if (!w->stopped) {
    napi_remove_env_cleanup_hook(env, fw_cleanup, w);
    fw_stop(w);
  }
  free(w->refs);
  free(w->excluded);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

static fw_t *get_fw(napi_env env, napi_value v) {
  fw_t *w = NULL;
  if (napi_get_value_external(env, v, (void **)&w) != napi_ok || !w) {
    napi_throw_type_error(env, NULL, "not a file watcher handle");
    return NULL;
  }
  if (w->stopped) {
    napi_throw_error(env, "ERR_YAMORI_STOPPED", "file watcher is stopped");
    return NULL;
  }
  return w;
}

/* watchStart(options, callback) */
static napi_value js_watch_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool want_pidfd = y_opt_bool(env, argv[0], "reportPidfd", true);
  bool freeze_denied = y_opt_bool(env, argv[0], "freezeDeniedWriters", false);
  unsigned base = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID;
  unsigned tries[] = {base | FAN_UNLIMITED_QUEUE | FAN_REPORT_PIDFD, base | FAN_UNLIMITED_QUEUE, base};
  int nfd = -1, err = 0;
  unsigned used = 0;
  for (size_t i = want_pidfd ? 0 : 1; i < sizeof tries / sizeof tries[0]; i++) {
    nfd = fanotify_init(tries[i], O_RDONLY | O_CLOEXEC | O_LARGEFILE);
    if (nfd >= 0) {
      used = tries[i];
      break;
    }
    err = errno;
  }
  if (nfd < 0) return y_throw_errno(env, "fanotify_init(notification group)", err);
  fw_t *w = calloc(1, sizeof *w);
  pthread_mutex_init(&w->lock, NULL);
  w->notif_fd = nfd;
  w->decoy_fd = -1;
  w->report_pidfd = (used & FAN_REPORT_PIDFD) != 0;
  w->freeze_denied = freeze_denied;
  w->self_pid = getpid();
  w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  napi_value name;
  napi_create_string_utf8(env, "yamori-file-watch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 512, 1, NULL, NULL, w, fw_call_js, &w->tsfn) != napi_ok) {
    close(nfd);
    close(w->wake_fd);
    free(w);
    y_throw_last(env, "napi_create_threadsafe_function");
    return NULL;
  }
  __atomic_store_n(&w->running, 1, __ATOMIC_SEQ_CST);
  /* the decoy group is created up front so the thread polls a stable set of fds */
  unsigned dflags = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE;
  w->decoy_fd = fanotify_init(dflags | (w->report_pidfd ? FAN_REPORT_PIDFD : 0), O_RDONLY | O_CLOEXEC | O_LARGEFILE);
  if (w->decoy_fd < 0) w->decoy_fd = fanotify_init(dflags, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
  w->decoy_fd = y_fd_high(w->decoy_fd); /* released before our notification groups at exit */
  if (w->decoy_fd >= 0) {
    y_crash_install();
    y_crash_register(w->decoy_fd);
  }
  if (pthread_create(&w->thread, NULL, fw_thread, w) != 0) {
    err = errno;
    fw_stop(w);
    free(w);
    return y_throw_errno(env, "pthread_create", err);
  }
  w->thread_started = true;
  napi_add_env_cleanup_hook(env, fw_cleanup, w);
  napi_value handle;
  napi_create_external(env, w, fw_finalize, NULL, &handle);
  return handle;
}

/* watchMark(handle, path, mask, kind: 'inode'|'mount'|'filesystem', remove) */
static napi_value js_watch_mark(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fw_t *w = get_fw(env, argv[0]);
  if (!w) return NULL;
  char *path = y_value_string(env, argv[1]);
  double maskd;
  NAPI_OK(env, napi_get_value_double(env, argv[2], &maskd));
  char *kind = y_value_string(env, argv[3]);
  bool remove = false;
  napi_get_value_bool(env, argv[4], &remove);
  unsigned flags = remove ? FAN_MARK_REMOVE : FAN_MARK_ADD;
  if (kind && strcmp(kind, "mount") == 0) flags |= FAN_MARK_MOUNT;
  if (kind && strcmp(kind, "filesystem") == 0) flags |= FAN_MARK_FILESYSTEM;
  free(kind);
  if (!path) return y_throw_errno(env, "path", EINVAL);
  if (!remove) fw_add_ref(w, path);
  int r = fanotify_mark(w->notif_fd, flags, (uint64_t)maskd, AT_FDCWD, path);
  int err = errno;
  free(path);
  if (r != 0) return y_throw_errno(env, "fanotify_mark", err);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

/* watchDecoy(handle, path, remove) */
static napi_value js_watch_decoy(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fw_t *w = get_fw(env, argv[0]);
  if (!w) return NULL;
  if (w->decoy_fd < 0) return y_throw_errno(env, "decoy group unavailable", ENOSYS);
  char *path = y_value_string(env, argv[1]);
  bool remove = false;
  napi_get_value_bool(env, argv[2], &remove);
  if (!path) return y_throw_errno(env, "path", EINVAL);
  int r = fanotify_mark(w->decoy_fd, (remove ? FAN_MARK_REMOVE : FAN_MARK_ADD), FAN_OPEN_PERM, AT_FDCWD, path);
  int err = errno;
  free(path);
  if (r != 0) return y_throw_errno(env, "fanotify_mark(decoy)", err);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

/* watchExcludePid(handle, pid, excluded) — decoy opens by these pids are allowed silently */
static napi_value js_watch_exclude_pid(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fw_t *w = get_fw(env, argv[0]);
  if (!w) return NULL;
  int32_t pid;
  bool on;
  NAPI_OK(env, napi_get_value_int32(env, argv[1], &pid));
  NAPI_OK(env, napi_get_value_bool(env, argv[2], &on));
  pthread_mutex_lock(&w->lock);
  y_pid_list_set(&w->excluded, &w->n_excluded, &w->cap_excluded, pid, on);
  pthread_mutex_unlock(&w->lock);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_watch_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fw_t *w = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&w) != napi_ok || !w) return NULL;
  if (!w->stopped) {
    napi_remove_env_cleanup_hook(env, fw_cleanup, w);
    fw_stop(w);
  }
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_watch_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fw_t *w = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&w) != napi_ok || !w) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  y_set_u64(env, o, "events", Y_ATOMIC_LOAD(&w->st.events));
  y_set_u64(env, o, "overflows", Y_ATOMIC_LOAD(&w->st.overflows));
  y_set_u64(env, o, "droppedBatches", Y_ATOMIC_LOAD(&w->st.dropped_batches));
  y_set_u64(env, o, "droppedEvents", Y_ATOMIC_LOAD(&w->st.dropped_events));
  y_set_u64(env, o, "unresolved", Y_ATOMIC_LOAD(&w->st.unresolved));
  y_set_u64(env, o, "decoyOpens", Y_ATOMIC_LOAD(&w->st.decoy_opens));
  y_set_u64(env, o, "decoyDenied", Y_ATOMIC_LOAD(&w->st.decoy_denied));
  y_set_u64(env, o, "decoyErrors", Y_ATOMIC_LOAD(&w->st.decoy_errors));
  y_set_u64(env, o, "decoyFrozen", Y_ATOMIC_LOAD(&w->st.decoy_frozen));
  y_set_bool(env, o, "reportPidfd", w->report_pidfd);
  return o;
}

bool y_watch_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"watchStart", NULL, js_watch_start, NULL, NULL, NULL, napi_default, NULL},
      {"watchMark", NULL, js_watch_mark, NULL, NULL, NULL, napi_default, NULL},
      {"watchDecoy", NULL, js_watch_decoy, NULL, NULL, NULL, napi_default, NULL},
      {"watchExcludePid", NULL, js_watch_exclude_pid, NULL, NULL, NULL, napi_default, NULL},
      {"watchStop", NULL, js_watch_stop, NULL, NULL, NULL, napi_default, NULL},
      {"watchStats", NULL, js_watch_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
