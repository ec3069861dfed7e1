/* Close-write watch for executables: tells JavaScript about files that may be run soon, so the
 * agent can hash and analyse them before their first exec instead of while it is held.
 *
 * A notification group (FAN_CLASS_NOTIF, event fds) with FAN_CLOSE_WRITE marks on the same mounts
 * or filesystems the exec gate marks (mounts.c), following mount changes like the gate. A second,
 * best-effort group (FAN_REPORT_FID) hears FAN_ATTRIB on the same filesystems, because the usual
 * `curl -o x; chmod +x x` changes the file's ctime after the close-write, and the exec gate's file
 * key includes ctime: the file is re-opened by handle and considered again. (FAN_ATTRIB exists
 * only with FID reporting and only on inode or filesystem marks: in mount mode this group still
 * marks the whole filesystem of each wanted mount.)
 *
 * The thread filters natively so JavaScript hears only of candidates: a regular file of 1 byte to
 * maxSize, with an execute bit or starting with "\x7fELF" or "#!" (pread on the event fd). Events
 * of this process and everything else are closed at once and counted. Candidates go to JS in
 * batches through a bounded threadsafe-function queue; a full queue drops the batch (counted): a
 * notification group never blocks the writer, and neither does this thread. */
#include "sensor.h"

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
#include <unistd.h>

#define XW_BATCH 64
#define XW_QUEUE 64 /* batches waiting for the JS thread */

typedef struct {
  int fd, pid;
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
  char path[PATH_MAX];
} xw_cand;

typedef struct {
  int n;
  xw_cand *c;
  char error[256]; /* non-empty: the watch stopped on this error */
} xw_batch;

typedef struct {
  fsid_t fsid;
  int fd;
} xw_ref;

typedef struct {
  uint64_t events, attrib_events, self_ignored, filtered, too_large, candidates, dropped_batches, dropped_candidates,
      overflows, reopen_errors, marks, mark_errors, attrib_marks, attrib_mark_errors, mount_rescans;
} xw_stats;

typedef struct {
  napi_threadsafe_function tsfn;
  pthread_t thread;
  bool thread_started, stopped;
  int running; /* __atomic */
  int notif_fd, attr_fd, wake_fd, mnt_fd;
  int self_pid;
  uint64_t max_size;
  bool follow_mounts;
  y_mountset mounts; /* watch thread only (and js_xwatch_start before the thread) */
  xw_ref *refs;      /* fsid → a directory fd for open_by_handle_at, same ownership */
  int n_refs, cap_refs;
  xw_stats st;
} xw_t;

/* ---------- marks ---------- */

static int xw_ref_fd(xw_t *w, const fsid_t *fsid) {
  for (int i = 0; i < w->n_refs; i++)
    if (memcmp(&w->refs[i].fsid, fsid, sizeof *fsid) == 0) return w->refs[i].fd;
  return -1;
}

/* FAN_ATTRIB on the filesystem of mp, once per filesystem; keeps a directory fd to reopen handles. */
static void xw_mark_attrib(xw_t *w, const char *mp) {
  int dfd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct statfs sf;
  if (dfd < 0 || fstatfs(dfd, &sf) != 0 || xw_ref_fd(w, &sf.f_fsid) >= 0) {
    if (dfd >= 0) close(dfd);
    return;
  }
  if (w->n_refs == w->cap_refs) {
    int cap = w->cap_refs ? w->cap_refs * 2 : 8;
    xw_ref *n = realloc(w->refs, (size_t)cap * sizeof *n);
    if (!n) {
      close(dfd);
      return;
    }
    w->refs = n;
    w->cap_refs = cap;
  }
  if (fanotify_mark(w->attr_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_ATTRIB, dfd, NULL) != 0) {
    Y_ATOMIC_INC(&w->st.attrib_mark_errors);
    close(dfd);
    return;
  }
  Y_ATOMIC_INC(&w->st.attrib_marks);
  w->refs[w->n_refs].fsid = sf.f_fsid;
  w->refs[w->n_refs].fd = dfd;
  w->n_refs++;
}

static bool xw_mark(void *ctx, const char *mp, const char *fstype, unsigned kind_flag) {
  xw_t *w = ctx;
  /* the kernel opens the file of each event: never device nodes (nothing runs from /dev) */
  if (strcmp(fstype, "devtmpfs") == 0) return false;
  bool ok = fanotify_mark(w->notif_fd, FAN_MARK_ADD | kind_flag, FAN_CLOSE_WRITE, AT_FDCWD, mp) == 0;
  Y_ATOMIC_INC(ok ? &w->st.marks : &w->st.mark_errors);
  if (ok && w->attr_fd >= 0) xw_mark_attrib(w, mp);
  return ok;
}

static int xw_scan(xw_t *w) {
  Y_ATOMIC_INC(&w->st.mount_rescans);
  return y_mountset_scan(&w->mounts, w->mnt_fd, xw_mark, w);
}

/* ---------- batches ---------- */

static void xw_discard(xw_batch *b) {
  for (int i = 0; i < b->n; i++) close(b->c[i].fd);
  free(b->c);
  free(b);
}

static xw_batch *xw_batch_new(void) {
  xw_batch *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->c = malloc(XW_BATCH * sizeof(xw_cand));
  if (!b->c) {
    free(b);
    return NULL;
  }
  return b;
}

static void xw_post(xw_t *w, xw_batch *b) {
  if (!b) return;
  if (b->n == 0 && !b->error[0]) {
    xw_discard(b);
    return;
  }
  if (b->n > 0 && b->n < XW_BATCH) { /* ~4 KiB a candidate: queue only what is used */
    xw_cand *n = realloc(b->c, (size_t)b->n * sizeof *n);
    if (n) b->c = n;
  }
  if (napi_call_threadsafe_function(w->tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
    Y_ATOMIC_INC(&w->st.dropped_batches);
    Y_ATOMIC_ADD(&w->st.dropped_candidates, (uint64_t)b->n);
    xw_discard(b);
  }
}

/* Takes ownership of fd: keeps it in the batch for a candidate, closes it otherwise. */
static void xw_consider(xw_t *w, int fd, int pid, xw_batch **bp) {
  if (pid == w->self_pid) {
    Y_ATOMIC_INC(&w->st.self_ignored);
    close(fd);
    return;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 1) {
    Y_ATOMIC_INC(&w->st.filtered);
    close(fd);
    return;
  }
  if ((uint64_t)sb.st_size > w->max_size) {
    Y_ATOMIC_INC(&w->st.too_large);
    close(fd);
    return;
  }
  bool candidate = (sb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
  if (!candidate) {
    unsigned char head[4];
    ssize_t n = pread(fd, head, sizeof head, 0);
    candidate = (n >= 4 && memcmp(head, "\x7f" "ELF", 4) == 0) || (n >= 2 && head[0] == '#' && head[1] == '!');
  }
  if (!candidate) {
    Y_ATOMIC_INC(&w->st.filtered);
    close(fd);
    return;
  }
  if (!*bp) *bp = xw_batch_new();
  xw_batch *b = *bp;
  if (!b) {
    Y_ATOMIC_INC(&w->st.dropped_candidates);
    close(fd);
    return;
  }
  Y_ATOMIC_INC(&w->st.candidates);
  xw_cand *c = &b->c[b->n++];
  c->fd = fd;
  c->pid = pid;
  c->dev = sb.st_dev;
  c->ino = sb.st_ino;
  c->size = (uint64_t)sb.st_size;
  c->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
  c->ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
  y_fd_path(fd, c->path, sizeof c->path);
  if (b->n == XW_BATCH) {
    xw_post(w, b);
    *bp = NULL;
  }
}

/* ---------- thread ---------- */

/* The file of a FID event, opened for reading only if it is a regular file (opening a device
 * node or a FIFO could have side effects or block); -1 otherwise. */
static int xw_reopen(xw_t *w, struct fanotify_event_info_fid *info) {
  int mfd = xw_ref_fd(w, (const fsid_t *)&info->fsid);
  if (mfd < 0) return -1;
  int pfd = open_by_handle_at(mfd, (struct file_handle *)info->handle, O_PATH | O_CLOEXEC);
  if (pfd < 0) {
    if (errno != ESTALE) Y_ATOMIC_INC(&w->st.reopen_errors); /* ESTALE: deleted since */
    return -1;
  }
  struct stat sb;
  int fd = -1;
  if (fstat(pfd, &sb) == 0 && S_ISREG(sb.st_mode)) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
    fd = open(link, O_RDONLY | O_CLOEXEC | O_LARGEFILE | O_NOATIME);
    if (fd < 0) Y_ATOMIC_INC(&w->st.reopen_errors);
  } else {
    Y_ATOMIC_INC(&w->st.filtered);
  }
  close(pfd);
  return fd;
}

/* Reads one group until it is drained; returns errno on a fatal error, 0 otherwise. */
static int xw_drain(xw_t *w, int gfd, bool fid, char *buf, size_t buflen, xw_batch **bp) {
  for (;;) {
    ssize_t len = read(gfd, buf, buflen);
    if (len < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : errno;
    }
    if (len == 0) return 0;
    struct fanotify_event_metadata *md = (struct fanotify_event_metadata *)buf;
    for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
      if (md->vers != FANOTIFY_METADATA_VERSION) return EPROTO;
      if (md->mask & FAN_Q_OVERFLOW) {
        Y_ATOMIC_INC(&w->st.overflows);
        continue;
      }
      if (!fid) {
        Y_ATOMIC_INC(&w->st.events);
        if (md->fd >= 0) xw_consider(w, md->fd, md->pid, bp);
        continue;
      }
      Y_ATOMIC_INC(&w->st.attrib_events);
      if (md->pid == w->self_pid) {
        Y_ATOMIC_INC(&w->st.self_ignored);
        continue;
      }
      char *p = (char *)md + md->metadata_len, *end = (char *)md + md->event_len;
      while (p + sizeof(struct fanotify_event_info_header) <= end) {
        struct fanotify_event_info_header *h = (struct fanotify_event_info_header *)p;
        if (h->len == 0) break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_FID) {
          struct fanotify_event_info_fid *info = (struct fanotify_event_info_fid *)p;
          int fd = xw_reopen(w, info);
          if (fd >= 0) xw_consider(w, fd, md->pid, bp);
          break;
        }
        p += h->len;
      }
    }
    if (len < (ssize_t)buflen / 2) return 0;
  }
}

static void xw_close_groups(xw_t *w) {
  if (w->notif_fd >= 0) close(w->notif_fd);
  if (w->attr_fd >= 0) close(w->attr_fd);
  w->notif_fd = w->attr_fd = -1;
}

static void *xw_thread(void *arg) {
  xw_t *w = arg;
  y_block_signals();
  size_t buflen = 64 * 1024;
  char *buf = aligned_alloc(8, buflen);
  int err = buf ? 0 : ENOMEM;
  while (!err && __atomic_load_n(&w->running, __ATOMIC_SEQ_CST)) {
    struct pollfd pfd[4] = {{.fd = w->notif_fd, .events = POLLIN},
                            {.fd = w->attr_fd, .events = POLLIN},
                            {.fd = w->wake_fd, .events = POLLIN},
                            {.fd = w->follow_mounts ? w->mnt_fd : -1, .events = POLLPRI}};
    if (poll(pfd, 4, -1) < 0) {
      if (errno != EINTR) err = errno;
      continue;
    }
    if (!__atomic_load_n(&w->running, __ATOMIC_SEQ_CST)) break;
    if ((pfd[0].revents | pfd[1].revents) & (POLLERR | POLLNVAL)) {
      err = EIO;
      break;
    }
    xw_batch *b = NULL;
    if (pfd[0].revents & POLLIN) err = xw_drain(w, w->notif_fd, false, buf, buflen, &b);
    if (!err && (pfd[1].revents & POLLIN)) err = xw_drain(w, w->attr_fd, true, buf, buflen, &b);
    if (w->follow_mounts && (pfd[3].revents & (POLLPRI | POLLERR))) xw_scan(w);
    xw_post(w, b);
  }
  free(buf);
  if (err) {
    /* fatal: close everything we own now, then tell JS */
    xw_close_groups(w);
    __atomic_store_n(&w->running, 0, __ATOMIC_SEQ_CST);
    xw_batch *b = calloc(1, sizeof *b);
    if (b) {
      snprintf(b->error, sizeof b->error, "close-write watch: %s", strerror(err));
      xw_post(w, b);
    }
  }
  return NULL;
}

/* ---------- JS side ---------- */

static void xw_call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  xw_batch *b = data;
  if (env == NULL || cb == NULL) {
    xw_discard(b);
    return;
  }
  napi_value out, arr, undef;
  napi_create_object(env, &out);
  napi_create_array_with_length(env, (size_t)b->n, &arr);
  for (int i = 0; i < b->n; i++) {
    xw_cand *c = &b->c[i];
    napi_value o;
    napi_create_object(env, &o);
    y_set_num(env, o, "fd", c->fd);
    y_set_num(env, o, "pid", c->pid);
    y_set_num(env, o, "dev", (double)c->dev);
    y_set_num(env, o, "ino", (double)c->ino);
    y_set_num(env, o, "size", (double)c->size);
    y_set_big(env, o, "mtimeNs", c->mtime_ns);
    y_set_big(env, o, "ctimeNs", c->ctime_ns);
    y_set_str(env, o, "path", c->path);
    napi_set_element(env, arr, (uint32_t)i, o);
  }
  napi_set_named_property(env, out, "candidates", arr);
  if (b->error[0]) y_set_str(env, out, "error", b->error);
  /* the fds now belong to the callback */
  free(b->c);
  free(b);
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 1, &out, NULL);
}

static void xw_stop(xw_t *w) {
  if (w->stopped) return;
  w->stopped = true;
  __atomic_store_n(&w->running, 0, __ATOMIC_SEQ_CST);
  uint64_t one = 1;
  if (write(w->wake_fd, &one, sizeof one) < 0) { /* the thread also checks `running` */
  }
  if (w->thread_started) pthread_join(w->thread, NULL);
  xw_close_groups(w);
  close(w->wake_fd);
  if (w->mnt_fd >= 0) close(w->mnt_fd);
  w->mnt_fd = -1;
  for (int i = 0; i < w->n_refs; i++) close(w->refs[i].fd);
  w->n_refs = 0;
  if (w->tsfn) napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  w->tsfn = NULL;
}

static void xw_cleanup(void *arg) { xw_stop(arg); }

static void xw_free(xw_t *w) {
  y_mountset_free(&w->mounts);
  free(w->refs);
  free(w);
}

static void xw_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  xw_t *w = data;
  if (!w->stopped) {
    napi_remove_env_cleanup_hook(env, xw_cleanup, w);
    xw_stop(w);
  }
  xw_free(w);
}

static xw_t *get_xw(napi_env env, napi_value v) {
  xw_t *w = NULL;
  if (napi_get_value_external(env, v, (void **)&w) != napi_ok || !w) {
    napi_throw_type_error(env, NULL, "not a close-write watch handle");
    return NULL;
  }
  return w;
}

/* xwatchStart({mounts?, markMode, followMounts, maxSize, attrib}, callback) -> handle */
static napi_value js_xwatch_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  xw_t *w = calloc(1, sizeof *w);
  if (!w) return y_throw_errno(env, "calloc", ENOMEM);
  w->notif_fd = w->attr_fd = w->wake_fd = w->mnt_fd = -1;
  w->self_pid = getpid();
  int64_t max = y_opt_int(env, argv[0], "maxSize", 64 * 1024 * 1024);
  w->max_size = max < 1 ? 1 : (uint64_t)max;
  w->follow_mounts = y_opt_bool(env, argv[0], "followMounts", true);
  bool attrib = y_opt_bool(env, argv[0], "attrib", true);
  y_mountset_init(env, argv[0], &w->mounts);
  int err = 0;
  w->notif_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC | O_LARGEFILE | O_NOATIME);
  if (w->notif_fd < 0) err = errno;
  if (!err && attrib)
    w->attr_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_FID, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
  if (!err) w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!err) w->mnt_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (!err && (w->wake_fd < 0 || w->mnt_fd < 0)) err = errno;
  if (!err) {
    xw_scan(w);
    if (Y_ATOMIC_LOAD(&w->st.marks) == 0) err = ENOENT;
  }
  if (err) {
    w->stopped = true;
    xw_close_groups(w);
    if (w->wake_fd >= 0) close(w->wake_fd);
    if (w->mnt_fd >= 0) close(w->mnt_fd);
    for (int i = 0; i < w->n_refs; i++) close(w->refs[i].fd);
    xw_free(w);
    return y_throw_errno(env, err == ENOENT ? "close-write watch: no mount could be marked" : "close-write watch", err);
  }
  napi_value name;
  napi_create_string_utf8(env, "yamori-close-write-watch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, XW_QUEUE, 1, NULL, NULL, w, xw_call_js, &w->tsfn) !=
      napi_ok) {
    xw_stop(w);
    xw_free(w);
    y_throw_last(env, "napi_create_threadsafe_function");
    return NULL;
  }
  __atomic_store_n(&w->running, 1, __ATOMIC_SEQ_CST);
  if (pthread_create(&w->thread, NULL, xw_thread, w) != 0) {
    err = errno;
    xw_stop(w);
    xw_free(w);
    return y_throw_errno(env, "pthread_create", err);
  }
  w->thread_started = true;
  napi_add_env_cleanup_hook(env, xw_cleanup, w);
  napi_value handle;
  napi_create_external(env, w, xw_finalize, NULL, &handle);
  return handle;
}

static napi_value js_xwatch_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  xw_t *w = get_xw(env, argv[0]);
  if (!w) return NULL;
  if (!w->stopped) {
    napi_remove_env_cleanup_hook(env, xw_cleanup, w);
    xw_stop(w);
  }
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_xwatch_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  xw_t *w = get_xw(env, argv[0]);
  if (!w) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  xw_stats *s = &w->st;
#define S(name, field) y_set_u64(env, o, name, Y_ATOMIC_LOAD(&s->field))
  S("events", events);
  S("attribEvents", attrib_events);
  S("selfIgnored", self_ignored);
  S("filtered", filtered);
  S("tooLarge", too_large);
  S("candidates", candidates);
  S("droppedBatches", dropped_batches);
  S("droppedCandidates", dropped_candidates);
  S("overflows", overflows);
  S("reopenErrors", reopen_errors);
  S("marks", marks);
  S("markErrors", mark_errors);
  S("attribMarks", attrib_marks);
  S("attribMarkErrors", attrib_mark_errors);
  S("mountRescans", mount_rescans);
#undef S
  y_set_bool(env, o, "running", __atomic_load_n(&w->running, __ATOMIC_SEQ_CST) && !w->stopped);
  y_set_str(env, o, "markMode", w->mounts.filesystem_marks ? "filesystem" : "mount");
  return o;
}

bool y_xwatch_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"xwatchStart", NULL, js_xwatch_start, NULL, NULL, NULL, napi_default, NULL},
      {"xwatchStop", NULL, js_xwatch_stop, NULL, NULL, NULL, napi_default, NULL},
      {"xwatchStats", NULL, js_xwatch_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
