/* Exec gate: fanotify FAN_OPEN_EXEC_PERM answered by a dedicated native thread.
 *
 * The thread owns the fanotify group. For each permission event it answers at once when
 * it can (own process, registered pids, children of this process, verdict cache) and hands
 * the rest to JavaScript through a non-blocking threadsafe function. Every pending event
 * has a deadline; the thread's poll() timeout is the earliest deadline, and an expired event
 * is answered by the fail rule (deny for fail-closed path prefixes, allow otherwise).
 * JavaScript decisions come back through a mutex-protected list plus an eventfd; the mutex
 * only guards list/cache memory and is never held across a syscall that can block.
 * Closing the fanotify fd (stop, fatal error, exit, fatal signal) makes the kernel allow
 * every pending event, so the host is never left blocked.
 *
 * With capture on, a miss goes to JavaScript through a second thread that first reads who is
 * exec'ing what (capture.c: ids, cwd, the new argv and LD_* variables from the held process):
 * in C, off the JavaScript thread, and never on this one, which must not wait on a process's
 * memory. A full capture queue hands the miss to JavaScript uncaptured; a capture that hangs
 * only delays its own miss, which the deadline answers. */
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
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define GATE_MASK FAN_OPEN_EXEC_PERM

enum { MSG_EXEC = 1, MSG_EXPIRED = 2, MSG_OVERFLOW = 3, MSG_FATAL = 4, MSG_MOUNTS = 5 };
enum { V_NONE = 0, V_ALLOW = 1, V_DENY = 2 };

typedef struct {
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
} file_key;

typedef struct {
  file_key key;
  uint8_t verdict; /* V_ALLOW / V_DENY, 0 = empty */
  uint32_t age;
} cache_entry;

#define CACHE_WAYS 4

typedef struct {
  uint64_t id;
  int fd, pidfd, pid;
  int64_t deadline;
  bool fail_closed;
  bool have_key;
  file_key key;
} pending_t;

typedef struct response {
  struct response *next;
  uint64_t id;
  int verdict;
  bool cache, ignore_mark;
} response_t;

typedef struct {
  int kind;
  uint64_t id;
  int pid, fd, pidfd, verdict, err, timeout_ms;
  bool fail_closed;
  file_key key;
  uint64_t count;
  y_capture *cap; /* MSG_EXEC with capture on */
  char text[PATH_MAX];
} gate_msg;

#define CAPTURE_QUEUE 256

typedef struct {
  uint64_t events, self_allowed, cache_hits, misses, js_allowed, js_denied, timeouts, fail_open, fail_closed,
      queue_full, overflows, late_responses, ignore_marks, ignore_mark_errors, marks, mark_errors, mount_rescans,
      write_errors, pending, dropped_notices, captures, capture_us;
} gate_stats;

typedef struct gate {
  napi_env env;
  napi_ref handle_ref;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  bool thread_started, stopped, finalized;
  int fan_fd, wake_fd, mnt_fd;
  int self_pid;
  unsigned init_flags;
  bool have_pidfd_report;
  bool ignore_new_api; /* FAN_MARK_IGNORE (6.0) vs legacy FAN_MARK_IGNORED_MASK */
  int running; /* accessed with __atomic */
  pthread_mutex_t fd_lock;

  /* config (under lock) */
  pthread_mutex_t lock;
  int timeout_ms;
  int max_pending;
  char **fail_prefixes;
  int n_fail_prefixes;
  bool fail_closed_memfd;
  bool allow_children;
  int *allowed_pids;
  int n_allowed_pids, cap_allowed_pids;
  response_t *responses;
  cache_entry *cache;
  uint32_t cache_sets;
  uint32_t cache_tick;

  /* mounts (gate thread only) */
  y_mountset mounts;
  bool follow_mounts;

  /* capture thread: misses waiting to be captured, a ring under cap_lock */
  bool capture;
  char *capture_env; /* NUL-separated "NAME=" prefixes ending in an empty one */
  pthread_t cap_thread;
  bool cap_started, cap_stop;
  pthread_mutex_t cap_lock;
  pthread_cond_t cap_cond;
  gate_msg *cap_q[CAPTURE_QUEUE];
  int cap_head, cap_n;

  /* pending (gate thread only) */
  pending_t *pending;
  int n_pending;
  uint64_t next_id;

  gate_stats st;
} gate_t;

/* ---------- cache (caller holds lock) ---------- */

static uint32_t key_hash(uint64_t dev, uint64_t ino) {
  uint64_t h = dev * 0x9E3779B97F4A7C15ull ^ (ino + 0x632BE59BD9B4E019ull + (dev << 6));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return (uint32_t)h;
}

static bool key_eq(const file_key *a, const file_key *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
         a->ctime_ns == b->ctime_ns;
}

static int cache_lookup(gate_t *g, const file_key *k) {
  if (!g->cache_sets) return V_NONE;
  cache_entry *set = &g->cache[(key_hash(k->dev, k->ino) % g->cache_sets) * CACHE_WAYS];
  for (int i = 0; i < CACHE_WAYS; i++) {
    if (set[i].verdict && key_eq(&set[i].key, k)) {
      set[i].age = ++g->cache_tick;
      return set[i].verdict;
    }
  }
  return V_NONE;
}

static void cache_put(gate_t *g, const file_key *k, int verdict) {
  if (!g->cache_sets) return;
  cache_entry *set = &g->cache[(key_hash(k->dev, k->ino) % g->cache_sets) * CACHE_WAYS];
  int victim = 0;
  for (int i = 0; i < CACHE_WAYS; i++) {
    /* one entry per inode: a newer version of the file replaces the old one */
    if (set[i].verdict && set[i].key.dev == k->dev && set[i].key.ino == k->ino) {
      victim = i;
      break;
    }
    if (!set[i].verdict) {
      victim = i;
      break;
    }
    if (set[i].age < set[victim].age) victim = i;
  }
  set[victim].key = *k;
  set[victim].verdict = (uint8_t)verdict;
  set[victim].age = ++g->cache_tick;
}

static void cache_drop(gate_t *g, uint64_t dev, uint64_t ino) {
  if (!g->cache_sets) return;
  cache_entry *set = &g->cache[(key_hash(dev, ino) % g->cache_sets) * CACHE_WAYS];
  for (int i = 0; i < CACHE_WAYS; i++)
    if (set[i].key.dev == dev && set[i].key.ino == ino) set[i].verdict = 0;
}

/* ---------- helpers (gate thread) ---------- */

/* Notifications only (exec requests are posted by handle_perm): dropped when the queue is full. */
static void post(gate_t *g, gate_msg *m) {
  if (napi_call_threadsafe_function(g->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
    Y_ATOMIC_INC(&g->st.dropped_notices);
    free(m);
  }
}

/* Closing the group answers every pending permission event with allow. fd_lock keeps the
 * JS thread's fanotify_mark() calls (invalidate) from racing with the close. */
static void close_fan(gate_t *g) {
  pthread_mutex_lock(&g->fd_lock);
  if (g->fan_fd >= 0) {
    y_crash_unregister(g->fan_fd);
    close(g->fan_fd);
    g->fan_fd = -1;
  }
  pthread_mutex_unlock(&g->fd_lock);
}

static void answer(gate_t *g, int fd, int verdict) {
  struct fanotify_response r = {.fd = fd, .response = verdict == V_DENY ? FAN_DENY : FAN_ALLOW};
  if (write(g->fan_fd, &r, sizeof r) != (ssize_t)sizeof r) {
    /* ENOENT: the waiter was killed and the event cancelled. Anything else is counted. */
    if (errno != ENOENT) Y_ATOMIC_INC(&g->st.write_errors);
  }
}

static void add_ignore_mark(gate_t *g, int fd) {
  unsigned flags = FAN_MARK_ADD | FAN_MARK_EVICTABLE | (g->ignore_new_api ? FAN_MARK_IGNORE : FAN_MARK_IGNORED_MASK);
  /* no SURV_MODIFY: the kernel drops the ignore mask when the file is written */
  if (fanotify_mark(g->fan_fd, flags, GATE_MASK, fd, NULL) == 0)
    Y_ATOMIC_INC(&g->st.ignore_marks);
  else
    Y_ATOMIC_INC(&g->st.ignore_mark_errors);
}

static bool is_fail_closed(gate_t *g, const char *path) {
  bool r = false;
  pthread_mutex_lock(&g->lock);
  if (g->fail_closed_memfd && strncmp(path, "/memfd:", 7) == 0) r = true;
  for (int i = 0; !r && i < g->n_fail_prefixes; i++)
    if (y_prefix_match(path, g->fail_prefixes[i])) r = true;
  pthread_mutex_unlock(&g->lock);
  return r;
}

static void fail_rule(gate_t *g, int fd, bool fail_closed) {
  if (fail_closed) {
    Y_ATOMIC_INC(&g->st.fail_closed);
    answer(g, fd, V_DENY);
  } else {
    Y_ATOMIC_INC(&g->st.fail_open);
    answer(g, fd, V_ALLOW);
  }
}

static void close_pending(pending_t *p) {
  if (p->fd >= 0) close(p->fd);
  if (p->pidfd >= 0) close(p->pidfd);
  p->fd = p->pidfd = -1;
}

static void remove_pending(gate_t *g, int i) {
  g->pending[i] = g->pending[g->n_pending - 1];
  g->n_pending--;
  __atomic_store_n(&g->st.pending, (uint64_t)g->n_pending, __ATOMIC_RELAXED);
}

static void fatal(gate_t *g, int err, const char *what) {
  /* close first: the kernel answers every pending event with allow */
  close_fan(g);
  for (int i = 0; i < g->n_pending; i++) close_pending(&g->pending[i]);
  g->n_pending = 0;
  __atomic_store_n(&g->st.pending, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&g->running, 0, __ATOMIC_SEQ_CST);
  gate_msg *m = calloc(1, sizeof *m);
  if (m) {
    m->kind = MSG_FATAL;
    m->err = err;
    snprintf(m->text, sizeof m->text, "%s: %s", what, strerror(err));
    post(g, m);
  }
}

/* ---------- mounts ---------- */

static bool mark_mount(void *ctx, const char *mp, const char *fstype, unsigned kind_flag) {
  (void)fstype;
  gate_t *g = ctx;
  if (fanotify_mark(g->fan_fd, FAN_MARK_ADD | kind_flag, GATE_MASK, AT_FDCWD, mp) == 0) {
    Y_ATOMIC_INC(&g->st.marks);
    return true;
  }
  Y_ATOMIC_INC(&g->st.mark_errors);
  return false;
}

/* Marks new mounts (or new filesystems in filesystem mode). Returns the number of new marks. */
static int scan_mounts(gate_t *g) {
  Y_ATOMIC_INC(&g->st.mount_rescans);
  return y_mountset_scan(&g->mounts, g->mnt_fd, mark_mount, g);
}

/* ---------- event handling (gate thread) ---------- */

/* Queues a miss for the capture thread; false when the queue is full (JS gets it uncaptured). */
static bool cap_push(gate_t *g, gate_msg *m) {
  pthread_mutex_lock(&g->cap_lock);
  bool ok = g->cap_n < CAPTURE_QUEUE && !g->cap_stop;
  if (ok) {
    g->cap_q[(g->cap_head + g->cap_n) % CAPTURE_QUEUE] = m;
    g->cap_n++;
    pthread_cond_signal(&g->cap_cond);
  }
  pthread_mutex_unlock(&g->cap_lock);
  return ok;
}

static void free_msg(gate_msg *m) {
  if (m->kind == MSG_EXEC) {
    if (m->fd >= 0) close(m->fd);
    if (m->pidfd >= 0) close(m->pidfd);
  }
  y_capture_free(m->cap);
  free(m);
}

static void *capture_thread(void *arg) {
  gate_t *g = arg;
  y_block_signals();
  for (;;) {
    pthread_mutex_lock(&g->cap_lock);
    while (g->cap_n == 0 && !g->cap_stop) pthread_cond_wait(&g->cap_cond, &g->cap_lock);
    if (g->cap_stop) {
      pthread_mutex_unlock(&g->cap_lock);
      break;
    }
    gate_msg *m = g->cap_q[g->cap_head];
    g->cap_head = (g->cap_head + 1) % CAPTURE_QUEUE;
    g->cap_n--;
    pthread_mutex_unlock(&g->cap_lock);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    m->cap = y_capture_exec(m->pid, g->capture_env);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    Y_ATOMIC_INC(&g->st.captures);
    Y_ATOMIC_ADD(&g->st.capture_us, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
    /* refused (stopping, or JS's queue full): the gate's deadline answers this exec */
    if (napi_call_threadsafe_function(g->tsfn, m, napi_tsfn_nonblocking) != napi_ok) free_msg(m);
  }
  return NULL;
}

static void handle_perm(gate_t *g, struct fanotify_event_metadata *md) {
  int fd = md->fd;
  int pidfd = -1;
  if (g->have_pidfd_report) {
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
  }
  Y_ATOMIC_INC(&g->st.events);
  int pid = md->pid;
  bool allow_now = pid == g->self_pid;
  if (!allow_now) {
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n_allowed_pids; i++)
      if (g->allowed_pids[i] == pid) allow_now = true;
    pthread_mutex_unlock(&g->lock);
  }
  if (allow_now) {
    Y_ATOMIC_INC(&g->st.self_allowed);
    answer(g, fd, V_ALLOW);
    close(fd);
    if (pidfd >= 0) close(pidfd);
    return;
  }
  file_key key = {0};
  struct stat sb;
  bool have_key = fstat(fd, &sb) == 0;
  if (have_key) {
    key.dev = sb.st_dev;
    key.ino = sb.st_ino;
    key.size = (uint64_t)sb.st_size;
    key.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    key.ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
    pthread_mutex_lock(&g->lock);
    int v = cache_lookup(g, &key);
    pthread_mutex_unlock(&g->lock);
    if (v != V_NONE) {
      Y_ATOMIC_INC(&g->st.cache_hits);
      answer(g, fd, v);
      close(fd);
      if (pidfd >= 0) close(pidfd);
      return;
    }
  }
  if (g->allow_children && y_parent_of(pid) == g->self_pid) {
    Y_ATOMIC_INC(&g->st.self_allowed);
    answer(g, fd, V_ALLOW);
    close(fd);
    if (pidfd >= 0) close(pidfd);
    return;
  }
  Y_ATOMIC_INC(&g->st.misses);
  gate_msg *m = calloc(1, sizeof *m);
  if (!m) {
    answer(g, fd, V_ALLOW);
    close(fd);
    if (pidfd >= 0) close(pidfd);
    return;
  }
  y_fd_path(fd, m->text, sizeof m->text);
  bool fc = is_fail_closed(g, m->text);
  pthread_mutex_lock(&g->lock);
  int timeout = g->timeout_ms, maxp = g->max_pending;
  pthread_mutex_unlock(&g->lock);
  if (g->n_pending >= maxp) {
    Y_ATOMIC_INC(&g->st.queue_full);
    fail_rule(g, fd, fc);
    close(fd);
    if (pidfd >= 0) close(pidfd);
    free(m);
    return;
  }
  /* no FAN_REPORT_PIDFD on this kernel (or the kernel could not make one): the process is
   * blocked inside execve, so pidfd_open(pid) names the same process */
  if (pidfd < 0) {
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  }
  pending_t *p = &g->pending[g->n_pending];
  p->id = ++g->next_id;
  p->fd = fd;
  p->pidfd = pidfd;
  p->pid = pid;
  p->deadline = y_now_ms() + timeout;
  p->fail_closed = fc;
  p->have_key = have_key;
  p->key = key;
  /* JS receives its own duplicates: they stay valid whatever the gate thread does later */
  m->kind = MSG_EXEC;
  m->id = p->id;
  m->pid = pid;
  m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  m->pidfd = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, 3) : -1;
  m->fail_closed = fc;
  m->key = key;
  m->timeout_ms = timeout;
  if (!(g->capture && cap_push(g, m)) && napi_call_threadsafe_function(g->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
    if (m->fd >= 0) close(m->fd);
    if (m->pidfd >= 0) close(m->pidfd);
    free(m);
    Y_ATOMIC_INC(&g->st.queue_full);
    fail_rule(g, fd, fc);
    close(fd);
    if (pidfd >= 0) close(pidfd);
    return;
  }
  g->n_pending++;
  __atomic_store_n(&g->st.pending, (uint64_t)g->n_pending, __ATOMIC_RELAXED);
}

static void apply_responses(gate_t *g) {
  pthread_mutex_lock(&g->lock);
  response_t *list = g->responses;
  g->responses = NULL;
  pthread_mutex_unlock(&g->lock);
  /* the list is LIFO; order does not matter, each id is answered once */
  while (list) {
    response_t *r = list;
    list = r->next;
    int idx = -1;
    for (int i = 0; i < g->n_pending; i++)
      if (g->pending[i].id == r->id) {
        idx = i;
        break;
      }
    if (idx < 0) {
      Y_ATOMIC_INC(&g->st.late_responses);
      free(r);
      continue;
    }
    pending_t *p = &g->pending[idx];
    if (r->verdict == V_ALLOW) {
      Y_ATOMIC_INC(&g->st.js_allowed);
      if (r->ignore_mark) add_ignore_mark(g, p->fd); /* before the answer: the next exec is not asked */
    } else {
      Y_ATOMIC_INC(&g->st.js_denied);
    }
    if (r->cache && p->have_key) {
      pthread_mutex_lock(&g->lock);
      cache_put(g, &p->key, r->verdict);
      pthread_mutex_unlock(&g->lock);
    }
    answer(g, p->fd, r->verdict);
    close_pending(p);
    remove_pending(g, idx);
    free(r);
  }
}

static void expire(gate_t *g, int64_t now) {
  for (int i = 0; i < g->n_pending;) {
    pending_t *p = &g->pending[i];
    if (p->deadline > now) {
      i++;
      continue;
    }
    Y_ATOMIC_INC(&g->st.timeouts);
    fail_rule(g, p->fd, p->fail_closed);
    gate_msg *m = calloc(1, sizeof *m);
    if (m) {
      m->kind = MSG_EXPIRED;
      m->id = p->id;
      m->pid = p->pid;
      m->verdict = p->fail_closed ? V_DENY : V_ALLOW;
      m->fd = m->pidfd = -1;
      post(g, m);
    }
    close_pending(p);
    remove_pending(g, i);
  }
}

static void *gate_thread(void *arg) {
  gate_t *g = arg;
  /* never take signals meant for the process on this thread */
  y_block_signals();
  size_t buflen = 64 * 1024;
  char *buf = aligned_alloc(8, buflen);
  if (!buf) {
    fatal(g, ENOMEM, "gate buffer");
    goto out;
  }
  while (__atomic_load_n(&g->running, __ATOMIC_SEQ_CST)) {
    int timeout = -1;
    if (g->n_pending) {
      int64_t earliest = g->pending[0].deadline;
      for (int i = 1; i < g->n_pending; i++)
        if (g->pending[i].deadline < earliest) earliest = g->pending[i].deadline;
      int64_t d = earliest - y_now_ms();
      timeout = d < 0 ? 0 : (int)d;
    }
    struct pollfd pfd[3] = {{.fd = g->fan_fd, .events = POLLIN},
                            {.fd = g->wake_fd, .events = POLLIN},
                            {.fd = g->follow_mounts ? g->mnt_fd : -1, .events = POLLPRI}};
    int n = poll(pfd, 3, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal(g, errno, "poll");
      break;
    }
    if (pfd[1].revents & POLLIN) {
      uint64_t v;
      if (read(g->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN) {
        fatal(g, errno, "eventfd read");
        break;
      }
    }
    if (!__atomic_load_n(&g->running, __ATOMIC_SEQ_CST)) break;
    apply_responses(g);
    if (pfd[0].revents & (POLLERR | POLLNVAL)) {
      fatal(g, EIO, "fanotify fd");
      break;
    }
    if (pfd[0].revents & POLLIN) {
      for (;;) {
        ssize_t len = read(g->fan_fd, buf, buflen);
        if (len < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) break;
          fatal(g, errno, "fanotify read");
          goto out;
        }
        if (len == 0) break;
        struct fanotify_event_metadata *md = (struct fanotify_event_metadata *)buf;
        while (FAN_EVENT_OK(md, len)) {
          if (md->vers != FANOTIFY_METADATA_VERSION) {
            fatal(g, EPROTO, "fanotify metadata version");
            goto out;
          }
          if (md->mask & FAN_Q_OVERFLOW) {
            /* should not happen with FAN_UNLIMITED_QUEUE; the kernel allowed what it dropped */
            Y_ATOMIC_INC(&g->st.overflows);
            gate_msg *m = calloc(1, sizeof *m);
            if (m) {
              m->kind = MSG_OVERFLOW;
              m->fd = m->pidfd = -1;
              m->count = Y_ATOMIC_LOAD(&g->st.overflows);
              post(g, m);
            }
          } else if (md->fd >= 0 && (md->mask & GATE_MASK)) {
            handle_perm(g, md);
          } else if (md->fd >= 0) {
            close(md->fd);
          }
          md = FAN_EVENT_NEXT(md, len);
        }
        if (len < (ssize_t)buflen / 2) break;
      }
    }
    if (g->follow_mounts && (pfd[2].revents & (POLLPRI | POLLERR))) {
      int added = scan_mounts(g);
      if (added > 0) {
        gate_msg *m = calloc(1, sizeof *m);
        if (m) {
          m->kind = MSG_MOUNTS;
          m->fd = m->pidfd = -1;
          m->count = (uint64_t)added;
          post(g, m);
        }
      }
    }
    expire(g, y_now_ms());
  }
out:
  /* stop or fatal error: close the group (pending events → allow), then drop our fds */
  close_fan(g);
  for (int i = 0; i < g->n_pending; i++) close_pending(&g->pending[i]);
  g->n_pending = 0;
  __atomic_store_n(&g->st.pending, 0, __ATOMIC_RELAXED);
  free(buf);
  return NULL;
}

/* ---------- JS side ---------- */

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  gate_msg *m = data;
  if (env == NULL || cb == NULL) {
    free_msg(m);
    return;
  }
  napi_value ev, undef;
  napi_create_object(env, &ev);
  static const char *kinds[] = {"", "exec", "expired", "overflow", "fatal", "mounts"};
  y_set_str(env, ev, "kind", kinds[m->kind]);
  switch (m->kind) {
  case MSG_EXEC:
    y_set_num(env, ev, "id", (double)m->id);
    y_set_num(env, ev, "pid", m->pid);
    y_set_num(env, ev, "fd", m->fd);
    y_set_num(env, ev, "pidfd", m->pidfd);
    y_set_str(env, ev, "path", m->text);
    y_set_bool(env, ev, "failClosed", m->fail_closed);
    y_set_num(env, ev, "timeoutMs", m->timeout_ms);
    y_set_num(env, ev, "dev", (double)m->key.dev);
    y_set_num(env, ev, "ino", (double)m->key.ino);
    y_set_num(env, ev, "size", (double)m->key.size);
    y_set_big(env, ev, "mtimeNs", m->key.mtime_ns);
    y_set_big(env, ev, "ctimeNs", m->key.ctime_ns);
    if (m->cap) y_capture_to_js(env, ev, m->cap);
    break;
  case MSG_EXPIRED:
    y_set_num(env, ev, "id", (double)m->id);
    y_set_num(env, ev, "pid", m->pid);
    y_set_str(env, ev, "verdict", m->verdict == V_DENY ? "deny" : "allow");
    break;
  case MSG_OVERFLOW:
  case MSG_MOUNTS:
    y_set_num(env, ev, "count", (double)m->count);
    break;
  case MSG_FATAL:
    y_set_num(env, ev, "errno", m->err);
    y_set_str(env, ev, "message", m->text);
    break;
  }
  y_capture_free(m->cap);
  free(m);
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 1, &ev, NULL);
}

static void gate_stop(gate_t *g) {
  if (g->stopped) return;
  g->stopped = true;
  __atomic_store_n(&g->running, 0, __ATOMIC_SEQ_CST);
  uint64_t one = 1;
  if (write(g->wake_fd, &one, sizeof one) < 0) { /* nothing else to do */
  }
  /* the thread never waits on JS, so it sees the wake-up at once and closes the group
   * itself (the kernel then allows every pending event); only then do we join */
  if (g->thread_started) pthread_join(g->thread, NULL);
  if (g->cap_started) {
    pthread_mutex_lock(&g->cap_lock);
    g->cap_stop = true;
    pthread_cond_signal(&g->cap_cond);
    pthread_mutex_unlock(&g->cap_lock);
    pthread_join(g->cap_thread, NULL); /* a capture under way ends with its reads */
    g->cap_started = false;
    for (; g->cap_n > 0; g->cap_n--, g->cap_head = (g->cap_head + 1) % CAPTURE_QUEUE) free_msg(g->cap_q[g->cap_head]);
  }
  close_fan(g);
  for (int i = 0; i < g->n_pending; i++) close_pending(&g->pending[i]);
  g->n_pending = 0;
  close(g->wake_fd);
  if (g->mnt_fd >= 0) close(g->mnt_fd);
  if (g->tsfn) napi_release_threadsafe_function(g->tsfn, napi_tsfn_release);
  g->tsfn = NULL;
}

static void gate_free(gate_t *g) {
  pthread_mutex_lock(&g->lock);
  while (g->responses) {
    response_t *r = g->responses;
    g->responses = r->next;
    free(r);
  }
  pthread_mutex_unlock(&g->lock);
  y_free_string_array(g->fail_prefixes, g->n_fail_prefixes);
  y_mountset_free(&g->mounts);
  free(g->allowed_pids);
  free(g->cache);
  free(g->pending);
  free(g->capture_env);
  pthread_mutex_destroy(&g->cap_lock);
  pthread_cond_destroy(&g->cap_cond);
  pthread_mutex_destroy(&g->lock);
  pthread_mutex_destroy(&g->fd_lock);
  free(g);
}

static void cleanup_hook(void *arg) {
  gate_t *g = arg;
  gate_stop(g);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  gate_t *g = data;
  if (!g->stopped) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, g);
    gate_stop(g);
  }
  gate_free(g);
}

static gate_t *get_gate(napi_env env, napi_value v) {
  gate_t *g = NULL;
  if (napi_get_value_external(env, v, (void **)&g) != napi_ok || g == NULL) {
    napi_throw_type_error(env, NULL, "not an exec gate handle");
    return NULL;
  }
  return g;
}

static void set_fail_config(napi_env env, gate_t *g, napi_value opts) {
  char **prefixes = NULL;
  bool present = false;
  int n = y_opt_string_array(env, opts, "failClosedPrefixes", &prefixes, &present);
  pthread_mutex_lock(&g->lock);
  if (present) {
    char **old = g->fail_prefixes;
    int oldn = g->n_fail_prefixes;
    g->fail_prefixes = prefixes;
    g->n_fail_prefixes = n;
    prefixes = old;
    n = oldn;
  }
  g->timeout_ms = (int)y_opt_int(env, opts, "timeoutMs", g->timeout_ms);
  if (g->timeout_ms < 1) g->timeout_ms = 1;
  if (g->timeout_ms > 60000) g->timeout_ms = 60000;
  g->fail_closed_memfd = y_opt_bool(env, opts, "failClosedMemfd", g->fail_closed_memfd);
  g->allow_children = y_opt_bool(env, opts, "allowChildren", g->allow_children);
  pthread_mutex_unlock(&g->lock);
  y_free_string_array(prefixes, present ? n : 0);
}

/* gateStart(options, callback) -> handle */
static napi_value js_gate_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value opts = argv[0], cb = argv[1];
  gate_t *g = calloc(1, sizeof *g);
  if (!g) return y_throw_errno(env, "calloc", ENOMEM);
  pthread_mutex_init(&g->lock, NULL);
  pthread_mutex_init(&g->fd_lock, NULL);
  pthread_mutex_init(&g->cap_lock, NULL);
  pthread_cond_init(&g->cap_cond, NULL);
  g->env = env;
  g->fan_fd = g->wake_fd = g->mnt_fd = -1;
  g->self_pid = getpid();
  g->timeout_ms = 1000;
  g->fail_closed_memfd = true;
  g->allow_children = true;
  set_fail_config(env, g, opts);
  g->max_pending = (int)y_opt_int(env, opts, "maxPending", 4096);
  if (g->max_pending < 1) g->max_pending = 1;
  int64_t cache_size = y_opt_int(env, opts, "cacheSize", 65536);
  if (cache_size < 0) cache_size = 0;
  g->cache_sets = (uint32_t)((cache_size + CACHE_WAYS - 1) / CACHE_WAYS);
  g->cache = g->cache_sets ? calloc((size_t)g->cache_sets * CACHE_WAYS, sizeof(cache_entry)) : NULL;
  g->pending = calloc((size_t)g->max_pending, sizeof(pending_t));
  y_mountset_init(env, opts, &g->mounts);
  g->follow_mounts = y_opt_bool(env, opts, "followMounts", true);
  g->capture = y_opt_bool(env, opts, "capture", false);
  g->capture_env = y_opt_env_prefixes(env, opts, "captureEnv");
  if (!g->pending || (g->cache_sets && !g->cache)) {
    gate_free(g);
    return y_throw_errno(env, "calloc", ENOMEM);
  }

  unsigned base = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK;
  unsigned ev_flags = O_RDONLY | O_CLOEXEC | O_LARGEFILE | O_NOATIME;
  /* Probe from the richest flag set down: FAN_REPORT_PIDFD with a permission class is
   * accepted on 6.18, but older kernels refuse it; the queue must never overflow. */
  unsigned tries[] = {base | FAN_UNLIMITED_QUEUE | FAN_REPORT_PIDFD, base | FAN_UNLIMITED_QUEUE, base | FAN_REPORT_PIDFD,
                      base};
  int err = 0;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    g->fan_fd = fanotify_init(tries[i], ev_flags);
    if (g->fan_fd >= 0) {
      g->init_flags = tries[i];
      break;
    }
    err = errno;
  }
  if (g->fan_fd < 0) {
    gate_free(g);
    return y_throw_errno(env, "fanotify_init", err);
  }
  g->fan_fd = y_fd_high(g->fan_fd); /* released before our notification groups at exit */
  y_crash_install();
  y_crash_register(g->fan_fd);
  g->have_pidfd_report = (g->init_flags & FAN_REPORT_PIDFD) != 0;
  /* FAN_MARK_IGNORE (6.0) is the non-legacy API; probe it on our own executable */
  {
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    g->ignore_new_api = self >= 0 && fanotify_mark(g->fan_fd, FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_EVICTABLE,
                                                   GATE_MASK, self, NULL) == 0;
    if (g->ignore_new_api) fanotify_mark(g->fan_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORE, GATE_MASK, self, NULL);
    if (self >= 0) close(self);
  }
  g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  g->mnt_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (g->wake_fd < 0 || g->mnt_fd < 0) {
    err = errno;
    y_crash_unregister(g->fan_fd);
    close(g->fan_fd);
    if (g->wake_fd >= 0) close(g->wake_fd);
    if (g->mnt_fd >= 0) close(g->mnt_fd);
    gate_free(g);
    return y_throw_errno(env, "gate setup", err);
  }
  __atomic_store_n(&g->running, 1, __ATOMIC_SEQ_CST);
  scan_mounts(g);
  if (Y_ATOMIC_LOAD(&g->st.marks) == 0) {
    y_crash_unregister(g->fan_fd);
    close(g->fan_fd);
    close(g->wake_fd);
    close(g->mnt_fd);
    gate_free(g);
    return y_throw_errno(env, "no mount could be marked", ENOENT);
  }

  napi_value name;
  napi_create_string_utf8(env, "yamori-exec-gate", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, cb, NULL, name, 1024, 1, NULL, NULL, g, call_js, &g->tsfn) != napi_ok) {
    y_crash_unregister(g->fan_fd);
    close(g->fan_fd);
    close(g->wake_fd);
    close(g->mnt_fd);
    gate_free(g);
    y_throw_last(env, "napi_create_threadsafe_function");
    return NULL;
  }
  /* before the gate thread, which reads g->capture */
  if (g->capture) {
    if (pthread_create(&g->cap_thread, NULL, capture_thread, g) == 0) g->cap_started = true;
    else g->capture = false; /* misses go to JS uncaptured; JS captures them itself */
  }
  if (pthread_create(&g->thread, NULL, gate_thread, g) != 0) {
    err = errno;
    g->thread_started = false;
    gate_stop(g);
    gate_free(g);
    return y_throw_errno(env, "pthread_create", err);
  }
  g->thread_started = true;
  napi_add_env_cleanup_hook(env, cleanup_hook, g);
  napi_value handle;
  if (napi_create_external(env, g, handle_finalize, NULL, &handle) != napi_ok) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, g);
    gate_stop(g);
    gate_free(g);
    y_throw_last(env, "napi_create_external");
    return NULL;
  }
  return handle;
}

static napi_value js_gate_respond(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  double id;
  bool allow, cache, mark;
  NAPI_OK(env, napi_get_value_double(env, argv[1], &id));
  NAPI_OK(env, napi_get_value_bool(env, argv[2], &allow));
  NAPI_OK(env, napi_get_value_bool(env, argv[3], &cache));
  NAPI_OK(env, napi_get_value_bool(env, argv[4], &mark));
  napi_value out;
  if (g->stopped || !__atomic_load_n(&g->running, __ATOMIC_SEQ_CST)) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  response_t *r = calloc(1, sizeof *r);
  if (!r) return y_throw_errno(env, "calloc", ENOMEM);
  r->id = (uint64_t)id;
  r->verdict = allow ? V_ALLOW : V_DENY;
  r->cache = cache;
  r->ignore_mark = mark && allow;
  pthread_mutex_lock(&g->lock);
  r->next = g->responses;
  g->responses = r;
  pthread_mutex_unlock(&g->lock);
  uint64_t one = 1;
  if (write(g->wake_fd, &one, sizeof one) < 0) { /* counter saturation cannot happen here */
  }
  napi_get_boolean(env, true, &out);
  return out;
}

static napi_value js_gate_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  if (!g->stopped) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, g);
    gate_stop(g);
  }
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_gate_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  gate_stats *s = &g->st;
#define S(name, field) y_set_u64(env, o, name, Y_ATOMIC_LOAD(&s->field))
  S("events", events);
  S("captures", captures);
  S("captureUs", capture_us);
  S("selfAllowed", self_allowed);
  S("cacheHits", cache_hits);
  S("misses", misses);
  S("jsAllowed", js_allowed);
  S("jsDenied", js_denied);
  S("timeouts", timeouts);
  S("failOpen", fail_open);
  S("failClosed", fail_closed);
  S("queueFull", queue_full);
  S("overflows", overflows);
  S("lateResponses", late_responses);
  S("ignoreMarks", ignore_marks);
  S("ignoreMarkErrors", ignore_mark_errors);
  S("marks", marks);
  S("markErrors", mark_errors);
  S("mountRescans", mount_rescans);
  S("writeErrors", write_errors);
  S("pending", pending);
  S("droppedNotices", dropped_notices);
#undef S
  y_set_bool(env, o, "running", __atomic_load_n(&g->running, __ATOMIC_SEQ_CST) && !g->stopped);
  y_set_bool(env, o, "reportPidfd", g->have_pidfd_report);
  y_set_bool(env, o, "unlimitedQueue", (g->init_flags & FAN_UNLIMITED_QUEUE) != 0);
  y_set_str(env, o, "markMode", g->mounts.filesystem_marks ? "filesystem" : "mount");
  return o;
}

/* gateInvalidate(handle, dev, ino, path?) */
static napi_value js_gate_invalidate(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  double dev, ino;
  NAPI_OK(env, napi_get_value_double(env, argv[1], &dev));
  NAPI_OK(env, napi_get_value_double(env, argv[2], &ino));
  pthread_mutex_lock(&g->lock);
  cache_drop(g, (uint64_t)dev, (uint64_t)ino);
  pthread_mutex_unlock(&g->lock);
  bool removed = false;
  napi_valuetype t = napi_undefined;
  if (argc >= 4) napi_typeof(env, argv[3], &t);
  if (t == napi_string) {
    char *path = y_value_string(env, argv[3]);
    if (path) {
      unsigned flags = FAN_MARK_REMOVE | (g->ignore_new_api ? FAN_MARK_IGNORE : FAN_MARK_IGNORED_MASK);
      pthread_mutex_lock(&g->fd_lock);
      if (g->fan_fd >= 0) removed = fanotify_mark(g->fan_fd, flags, GATE_MASK, AT_FDCWD, path) == 0;
      pthread_mutex_unlock(&g->fd_lock);
      free(path);
    }
  }
  napi_value out;
  napi_get_boolean(env, removed, &out);
  return out;
}

static napi_value js_gate_invalidate_all(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  pthread_mutex_lock(&g->lock);
  if (g->cache) memset(g->cache, 0, (size_t)g->cache_sets * CACHE_WAYS * sizeof(cache_entry));
  pthread_mutex_unlock(&g->lock);
  /* inode marks in this group are only the ignore marks: flush them all */
  pthread_mutex_lock(&g->fd_lock);
  int r = g->fan_fd >= 0 ? fanotify_mark(g->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL) : 0;
  int err = errno;
  pthread_mutex_unlock(&g->fd_lock);
  if (r != 0) return y_throw_errno(env, "fanotify_mark(FAN_MARK_FLUSH)", err);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

/* gateAllowPid(handle, pid, allowed) */
static napi_value js_gate_allow_pid(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  int32_t pid;
  bool on;
  NAPI_OK(env, napi_get_value_int32(env, argv[1], &pid));
  NAPI_OK(env, napi_get_value_bool(env, argv[2], &on));
  pthread_mutex_lock(&g->lock);
  y_pid_list_set(&g->allowed_pids, &g->n_allowed_pids, &g->cap_allowed_pids, pid, on);
  pthread_mutex_unlock(&g->lock);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_gate_configure(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  set_fail_config(env, g, argv[1]);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_gate_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  gate_t *g = get_gate(env, argv[0]);
  if (!g) return NULL;
  bool on;
  NAPI_OK(env, napi_get_value_bool(env, argv[1], &on));
  if (g->tsfn) {
    if (on)
      napi_ref_threadsafe_function(env, g->tsfn);
    else
      napi_unref_threadsafe_function(env, g->tsfn);
  }
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

bool y_gate_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gateStart", NULL, js_gate_start, NULL, NULL, NULL, napi_default, NULL},
      {"gateRespond", NULL, js_gate_respond, NULL, NULL, NULL, napi_default, NULL},
      {"gateStop", NULL, js_gate_stop, NULL, NULL, NULL, napi_default, NULL},
      {"gateStats", NULL, js_gate_stats, NULL, NULL, NULL, napi_default, NULL},
      {"gateInvalidate", NULL, js_gate_invalidate, NULL, NULL, NULL, napi_default, NULL},
      {"gateInvalidateAll", NULL, js_gate_invalidate_all, NULL, NULL, NULL, napi_default, NULL},
      {"gateAllowPid", NULL, js_gate_allow_pid, NULL, NULL, NULL, napi_default, NULL},
      {"gateConfigure", NULL, js_gate_configure, NULL, NULL, NULL, napi_default, NULL},
      {"gateRef", NULL, js_gate_ref, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
