/* Netlink proc connector: fork/exec/exit/uid/gid/sid/comm/ptrace/coredump events, read on
 * its own thread with a large receive buffer and handed to JS in batches. Loss is counted
 * two ways: ENOBUFS overruns reported by the socket, and gaps in the kernel's per-CPU
 * sequence numbers (cn_msg.seq), which give the number of events actually missed.
 *
 * The same thread reads /proc for each event as it drains it, microseconds after the kernel
 * sent it: the child's start time at fork, and at exec the new image's snapshot (stat, exe,
 * cwd, cmdline, ids, selected environment variables). A program that lives a millisecond is
 * then recorded with its own image even when JavaScript is busy and handles the event after
 * the process is gone, and JavaScript makes no /proc syscalls per process. */
#include "sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define PC_BATCH_MAX 65536 /* events per batch; a batch is everything one drain of the socket read */
#define PC_QUEUE 4           /* batches in flight to JS; beyond that the thread waits (telemetry only) */
#define PC_MAX_CPUS 1024
#define PC_CMDLINE_MAX (128 * 1024) /* the exec capture's bound on argv bytes */
#define PC_ENVIRON_MAX (1024 * 1024)

/* What /proc said about a process right after its exec. Strings are malloc'd (or NULL). */
typedef struct {
  uint64_t start_ticks;
  int32_t ppid;
  int64_t uid, gid; /* -1: unknown */
  char name[16];
  char *exe, *cwd;
  char *cmdline; /* NUL-separated, as /proc/PID/cmdline */
  size_t cmdline_len;
  char *env; /* the selected NAME=value entries, NUL-separated */
  size_t env_len;
} pc_snap;

typedef struct {
  uint32_t what;
  uint32_t cpu;
  uint64_t ts;
  int32_t pid, tgid, ppid, ptgid;
  int32_t exit_code, exit_signal;
  uint32_t rid, eid; /* ruid/euid or rgid/egid */
  char comm[16];
  int64_t start_ticks; /* fork: the child's, from /proc (-1: gone already) */
  pc_snap *snap;       /* exec: NULL when the process was gone before the read */
} pc_event;

typedef struct {
  int n, cap;
  pc_event *ev;
} pc_batch;

static void pc_snap_free(pc_snap *s) {
  if (!s) return;
  free(s->exe);
  free(s->cwd);
  free(s->cmdline);
  free(s->env);
  free(s);
}

static void pc_batch_free(pc_batch *b) {
  if (!b) return;
  for (int i = 0; i < b->n; i++) pc_snap_free(b->ev[i].snap);
  free(b->ev);
  free(b);
}

/* The reading thread's scratch buffer, grown on demand up to the largest bound. */
typedef struct {
  char *p;
  size_t cap;
} pc_buf;

/* Reads at most max bytes of a /proc file into sb; returns the length, or -1. */
static ssize_t pc_read(pc_buf *sb, const char *path, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  size_t len = 0;
  for (;;) {
    if (len == sb->cap) {
      if (sb->cap >= max) break;
      size_t cap = sb->cap ? sb->cap * 2 : 16384;
      if (cap > max) cap = max;
      char *np = realloc(sb->p, cap);
      if (!np) break;
      sb->p = np;
      sb->cap = cap;
    }
    size_t want = sb->cap - len;
    if (want > max - len) want = max - len;
    if (want == 0) break;
    ssize_t n = read(fd, sb->p + len, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0 && len == 0) len = (size_t)-1;
      break;
    }
    len += (size_t)n;
  }
  close(fd);
  return (ssize_t)len;
}


/* /proc/PID/stat: comm may hold spaces and parentheses, so fields count from the LAST ')'. */
static bool pc_parse_stat(const char *t, size_t n, char name[16], int32_t *ppid, uint64_t *start) {
  const char *open_p = memchr(t, '(', n);
  const char *close_p = NULL;
  for (const char *q = t + n; q > t; q--)
    if (q[-1] == ')') {
      close_p = q - 1;
      break;
    }
  if (!open_p || !close_p || close_p < open_p || close_p + 2 >= t + n) return false;
  size_t nl = (size_t)(close_p - open_p - 1);
  if (nl > 15) nl = 15;
  memcpy(name, open_p + 1, nl);
  name[nl] = 0;
  /* fields after ") ": state (3), ppid (4) … starttime (22) */
  const char *f = close_p + 2, *end = t + n;
  for (int field = 3; field <= 22 && f < end; field++) {
    if (field == 4) *ppid = (int32_t)strtol(f, NULL, 10);
    if (field == 22) {
      *start = strtoull(f, NULL, 10);
      return true;
    }
    const char *sp = memchr(f, ' ', (size_t)(end - f));
    if (!sp) break;
    f = sp + 1;
  }
  return false;
}

static int64_t pc_status_id(const char *t, size_t n, const char *key) {
  size_t kl = strlen(key);
  for (const char *q = t; q && q + kl < t + n; ) {
    if (memcmp(q, key, kl) == 0) return strtoll(q + kl, NULL, 10);
    q = memchr(q, '\n', (size_t)(t + n - q));
    if (q) q++;
  }
  return -1;
}

static int64_t pc_start_ticks(pc_buf *sb, int pid) {
  char path[64], name[16];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  ssize_t n = pc_read(sb, path, 4096);
  int32_t ppid = 0;
  uint64_t start = 0;
  if (n <= 0 || !pc_parse_stat(sb->p, (size_t)n, name, &ppid, &start)) return -1;
  return (int64_t)start;
}

/* env_names: NUL-separated NAME= prefixes, ending in an empty one. */
static pc_snap *pc_snapshot(pc_buf *sb, int pid, const char *env_names) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  ssize_t n = pc_read(sb, path, 4096);
  if (n <= 0) return NULL;
  pc_snap *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (!pc_parse_stat(sb->p, (size_t)n, s->name, &s->ppid, &s->start_ticks)) {
    free(s);
    return NULL;
  }
  s->uid = s->gid = -1;
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  s->exe = y_link_dup(path);
  snprintf(path, sizeof path, "/proc/%d/cwd", pid);
  s->cwd = y_link_dup(path);
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  n = pc_read(sb, path, PC_CMDLINE_MAX);
  if (n > 0) {
    s->cmdline = y_memdup_str(sb->p, (size_t)n);
    if (s->cmdline) s->cmdline_len = (size_t)n;
  }
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  n = pc_read(sb, path, 8192);
  if (n > 0) {
    s->uid = pc_status_id(sb->p, (size_t)n, "Uid:\t");
    s->gid = pc_status_id(sb->p, (size_t)n, "Gid:\t");
  }
  if (env_names && env_names[0]) {
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    n = pc_read(sb, path, PC_ENVIRON_MAX);
    size_t out = 0;
    for (size_t at = 0; n > 0 && at < (size_t)n;) {
      const char *e = sb->p + at;
      const char *nul = memchr(e, 0, (size_t)n - at);
      size_t el = nul ? (size_t)(nul - e) : (size_t)n - at;
      for (const char *nm = env_names; *nm; nm += strlen(nm) + 1) {
        size_t nml = strlen(nm);
        if (el < nml || memcmp(e, nm, nml) != 0) continue;
        char *np = realloc(s->env, out + el + 1);
        if (!np) break;
        s->env = np;
        memcpy(s->env + out, e, el);
        out += el;
        s->env[out++] = 0;
        break;
      }
      at += el + 1;
    }
    s->env_len = out;
  }
  return s;
}

typedef struct {
  uint64_t received, batches, enobufs, seq_lost, dropped_batches, dropped_events;
} pc_stats;

typedef struct {
  napi_threadsafe_function tsfn;
  pthread_t thread;
  bool thread_started, stopped;
  int sock, wake_fd;
  int running;
  uint32_t *last_seq; /* per cpu, +1 so 0 = unseen */
  char *env_names;    /* NUL-separated NAME= prefixes, ending in an empty one; NULL: none */
  pc_stats st;
} pc_t;

static int pc_send_op(int sock, enum proc_cn_mcast_op op) {
  char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))];
  memset(buf, 0, sizeof buf);
  struct nlmsghdr *nl = (struct nlmsghdr *)buf;
  struct cn_msg *cn = NLMSG_DATA(nl);
  nl->nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof op);
  nl->nlmsg_type = NLMSG_DONE;
  nl->nlmsg_pid = 0;
  cn->id.idx = CN_IDX_PROC;
  cn->id.val = CN_VAL_PROC;
  cn->len = sizeof op;
  memcpy(cn->data, &op, sizeof op);
  return send(sock, nl, nl->nlmsg_len, 0) < 0 ? errno : 0;
}

/* This thread answers no permission event, so it may wait for JS, but only when a batch is
 * full: while JS is behind (its queue of PC_QUEUE batches taken), the thread keeps draining the
 * socket into the batch it holds, so each event's /proc snapshot is still read as it arrives,
 * and retries the handover every millisecond. At PC_BATCH_MAX it waits; the kernel then keeps
 * queueing into the (large) socket buffer, and loss only happens in the kernel, where ENOBUFS
 * and sequence gaps count it. stop() aborts the threadsafe function, which wakes a waiting
 * call with napi_closing. Returns false when the batch is still held (JS's queue was full). */
static bool pc_flush(pc_t *p, pc_batch **b, bool wait) {
  if (!*b || (*b)->n == 0) return true;
  napi_status st = napi_call_threadsafe_function(p->tsfn, *b, wait ? napi_tsfn_blocking : napi_tsfn_nonblocking);
  if (st == napi_queue_full) return false;
  Y_ATOMIC_INC(&p->st.batches);
  if (st != napi_ok) {
    Y_ATOMIC_INC(&p->st.dropped_batches);
    Y_ATOMIC_ADD(&p->st.dropped_events, (uint64_t)(*b)->n);
    pc_batch_free(*b);
  }
  *b = NULL;
  return true;
}

static void pc_track_seq(pc_t *p, uint32_t cpu, uint32_t seq) {
  if (cpu >= PC_MAX_CPUS) return;
  uint32_t last = p->last_seq[cpu];
  if (last != 0) {
    uint32_t expected = last; /* stored seq+1 */
    if (seq != expected) {
      uint32_t gap = seq - expected;
      if (gap < (1u << 30)) Y_ATOMIC_ADD(&p->st.seq_lost, gap);
    }
  }
  p->last_seq[cpu] = seq + 1;
}

static void *pc_thread(void *arg) {
  pc_t *p = arg;
  y_block_signals();
  char buf[64 * 1024] __attribute__((aligned(8)));
  pc_buf sb = {0};
  pc_batch *b = NULL;
  while (__atomic_load_n(&p->running, __ATOMIC_SEQ_CST)) {
    struct pollfd pfd[2] = {{.fd = p->sock, .events = POLLIN}, {.fd = p->wake_fd, .events = POLLIN}};
    int n = poll(pfd, 2, b && b->n > 0 ? 1 : -1); /* a held batch: retry the handover soon */
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[1].revents & POLLIN) break;
    for (;;) {
      ssize_t len = recv(p->sock, buf, sizeof buf, MSG_DONTWAIT);
      if (len < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) {
          Y_ATOMIC_INC(&p->st.enobufs);
          continue;
        }
        break; /* EAGAIN */
      }
      for (struct nlmsghdr *nl = (struct nlmsghdr *)buf; NLMSG_OK(nl, (unsigned)len); nl = NLMSG_NEXT(nl, len)) {
        if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP) continue;
        struct cn_msg *cn = NLMSG_DATA(nl);
        if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
        struct proc_event *e = (struct proc_event *)cn->data;
        if (e->what == PROC_EVENT_NONE) continue; /* ack of our listen request */
        pc_track_seq(p, e->cpu, cn->seq);
        Y_ATOMIC_INC(&p->st.received);
        if (!b) {
          b = calloc(1, sizeof *b);
          if (!b) continue;
        }
        if (b->n == b->cap) {
          int cap = b->cap ? b->cap * 2 : 256;
          pc_event *n = realloc(b->ev, (size_t)cap * sizeof *n);
          if (!n) {
            Y_ATOMIC_INC(&p->st.dropped_events);
            continue;
          }
          b->ev = n;
          b->cap = cap;
        }
        pc_event *o = &b->ev[b->n];
        memset(o, 0, sizeof *o);
        o->what = e->what;
        o->cpu = e->cpu;
        o->ts = e->timestamp_ns;
        o->start_ticks = -1;
        switch (e->what) {
        case PROC_EVENT_FORK:
          o->ppid = e->event_data.fork.parent_pid;
          o->ptgid = e->event_data.fork.parent_tgid;
          o->pid = e->event_data.fork.child_pid;
          o->tgid = e->event_data.fork.child_tgid;
          if (o->pid == o->tgid) o->start_ticks = pc_start_ticks(&sb, o->pid); /* threads are not processes */
          break;
        case PROC_EVENT_EXEC:
          o->pid = e->event_data.exec.process_pid;
          o->tgid = e->event_data.exec.process_tgid;
          if (o->pid == o->tgid) o->snap = pc_snapshot(&sb, o->pid, p->env_names);
          break;
        case PROC_EVENT_UID:
        case PROC_EVENT_GID:
          o->pid = e->event_data.id.process_pid;
          o->tgid = e->event_data.id.process_tgid;
          o->rid = e->event_data.id.r.ruid;
          o->eid = e->event_data.id.e.euid;
          break;
        case PROC_EVENT_SID:
          o->pid = e->event_data.sid.process_pid;
          o->tgid = e->event_data.sid.process_tgid;
          break;
        case PROC_EVENT_PTRACE:
          o->pid = e->event_data.ptrace.process_pid;
          o->tgid = e->event_data.ptrace.process_tgid;
          o->ppid = e->event_data.ptrace.tracer_pid;
          o->ptgid = e->event_data.ptrace.tracer_tgid;
          break;
        case PROC_EVENT_COMM:
          o->pid = e->event_data.comm.process_pid;
          o->tgid = e->event_data.comm.process_tgid;
          memcpy(o->comm, e->event_data.comm.comm, sizeof o->comm);
          o->comm[15] = 0;
          break;
        case PROC_EVENT_COREDUMP:
          o->pid = e->event_data.coredump.process_pid;
          o->tgid = e->event_data.coredump.process_tgid;
          break;
        case PROC_EVENT_EXIT:
          o->pid = e->event_data.exit.process_pid;
          o->tgid = e->event_data.exit.process_tgid;
          o->exit_code = (int32_t)e->event_data.exit.exit_code;
          o->exit_signal = (int32_t)e->event_data.exit.exit_signal;
          o->ppid = e->event_data.exit.parent_pid;
          o->ptgid = e->event_data.exit.parent_tgid;
          break;
        default:
          continue; /* unknown kinds are not delivered */
        }
        b->n++;
        if (b->n >= PC_BATCH_MAX) pc_flush(p, &b, true);
      }
    }
    pc_flush(p, &b, false);
  }
  pc_batch_free(b);
  free(sb.p);
  return NULL;
}

static const char *pc_kind(uint32_t what) {
  switch (what) {
  case PROC_EVENT_FORK: return "fork";
  case PROC_EVENT_EXEC: return "exec";
  case PROC_EVENT_UID: return "uid";
  case PROC_EVENT_GID: return "gid";
  case PROC_EVENT_SID: return "sid";
  case PROC_EVENT_PTRACE: return "ptrace";
  case PROC_EVENT_COMM: return "comm";
  case PROC_EVENT_COREDUMP: return "coredump";
  case PROC_EVENT_EXIT: return "exit";
  default: return "unknown";
  }
}

static void pc_set_snap(napi_env env, napi_value o, const pc_snap *s) {
  napi_value v;
  napi_create_object(env, &v);
  y_set_num(env, v, "ppid", s->ppid);
  y_set_num(env, v, "startTicks", (double)s->start_ticks);
  y_set_str(env, v, "name", s->name);
  if (s->exe) y_set_str(env, v, "exe", s->exe);
  if (s->cwd) y_set_str(env, v, "cwd", s->cwd);
  if (s->cmdline) y_set_bytes(env, v, "cmdline", s->cmdline, s->cmdline_len);
  if (s->uid >= 0) y_set_num(env, v, "uid", (double)s->uid);
  if (s->gid >= 0) y_set_num(env, v, "gid", (double)s->gid);
  if (s->env) y_set_bytes(env, v, "environ", s->env, s->env_len);
  napi_set_named_property(env, o, "snapshot", v);
}

static void pc_call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  pc_batch *b = data;
  if (env == NULL || cb == NULL) {
    pc_batch_free(b);
    return;
  }
  napi_value arr, undef;
  napi_create_array_with_length(env, (size_t)b->n, &arr);
  for (int i = 0; i < b->n; i++) {
    pc_event *e = &b->ev[i];
    napi_value o;
    napi_create_object(env, &o);
    y_set_str(env, o, "kind", pc_kind(e->what));
    y_set_num(env, o, "pid", e->pid);
    y_set_num(env, o, "tgid", e->tgid);
    y_set_num(env, o, "cpu", e->cpu);
    y_set_num(env, o, "timestampNs", (double)e->ts);
    if (e->start_ticks >= 0) y_set_num(env, o, "startTicks", (double)e->start_ticks);
    if (e->snap) pc_set_snap(env, o, e->snap);
    else if (e->what == PROC_EVENT_EXEC && e->pid == e->tgid) {
      napi_value null_v; /* gone before it could be read: JS need not try again */
      napi_get_null(env, &null_v);
      napi_set_named_property(env, o, "snapshot", null_v);
    }
    switch (e->what) {
    case PROC_EVENT_FORK:
    case PROC_EVENT_EXIT:
      y_set_num(env, o, "parentPid", e->ppid);
      y_set_num(env, o, "parentTgid", e->ptgid);
      if (e->what == PROC_EVENT_EXIT) {
        y_set_num(env, o, "exitCode", e->exit_code);
        y_set_num(env, o, "exitSignal", e->exit_signal);
      }
      break;
    case PROC_EVENT_PTRACE:
      y_set_num(env, o, "tracerPid", e->ppid);
      y_set_num(env, o, "tracerTgid", e->ptgid);
      break;
    case PROC_EVENT_UID:
    case PROC_EVENT_GID:
      y_set_num(env, o, "real", e->rid);
      y_set_num(env, o, "effective", e->eid);
      break;
    case PROC_EVENT_COMM:
      y_set_str(env, o, "comm", e->comm);
      break;
    }
    napi_set_element(env, arr, (uint32_t)i, o);
  }
  pc_batch_free(b);
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 1, &arr, NULL);
}

static void pc_stop(pc_t *p) {
  if (p->stopped) return;
  p->stopped = true;
  __atomic_store_n(&p->running, 0, __ATOMIC_SEQ_CST);
  uint64_t one = 1;
  if (write(p->wake_fd, &one, sizeof one) < 0) {
  }
  /* abort first: a flush waiting for queue space returns napi_closing instead of waiting on
   * this (JS) thread, which is about to join */
  if (p->tsfn) napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
  if (p->thread_started) pthread_join(p->thread, NULL);
  p->tsfn = NULL; /* only now: the thread may still call (and get napi_closing) until joined */
  pc_send_op(p->sock, PROC_CN_MCAST_IGNORE); /* pairs with LISTEN: keeps the kernel's listener count right */
  free(p->env_names);
  p->env_names = NULL;
  close(p->sock);
  close(p->wake_fd);
}

static void pc_cleanup(void *arg) { pc_stop(arg); }

static void pc_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  pc_t *p = data;
  if (!p->stopped) {
    napi_remove_env_cleanup_hook(env, pc_cleanup, p);
    pc_stop(p);
  }
  free(p->last_seq);
  free(p);
}

static pc_t *get_pc(napi_env env, napi_value v) {
  pc_t *p = NULL;
  if (napi_get_value_external(env, v, (void **)&p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "not a proc connector handle");
    return NULL;
  }
  return p;
}

/* procStart(options, callback) */
static napi_value js_proc_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t rcvbuf = y_opt_int(env, argv[0], "receiveBufferBytes", 32 * 1024 * 1024);
  int sock = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (sock < 0) return y_throw_errno(env, "socket(NETLINK_CONNECTOR)", errno);
  int rb = (int)rcvbuf;
  if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) != 0)
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0};
  if (bind(sock, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int err = errno;
    close(sock);
    return y_throw_errno(env, "bind(NETLINK_CONNECTOR)", err);
  }
  int err = pc_send_op(sock, PROC_CN_MCAST_LISTEN);
  if (err) {
    close(sock);
    return y_throw_errno(env, "PROC_CN_MCAST_LISTEN", err);
  }
  pc_t *p = calloc(1, sizeof *p);
  p->last_seq = calloc(PC_MAX_CPUS, sizeof(uint32_t));
  p->env_names = y_opt_env_prefixes(env, argv[0], "envNames");
  p->sock = sock;
  p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  napi_value name;
  napi_create_string_utf8(env, "yamori-proc-connector", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, PC_QUEUE, 1, NULL, NULL, p, pc_call_js, &p->tsfn) != napi_ok) {
    close(sock);
    close(p->wake_fd);
    free(p->last_seq);
    free(p);
    y_throw_last(env, "napi_create_threadsafe_function");
    return NULL;
  }
  __atomic_store_n(&p->running, 1, __ATOMIC_SEQ_CST);
  if (pthread_create(&p->thread, NULL, pc_thread, p) != 0) {
    err = errno;
    pc_stop(p);
    free(p->last_seq);
    free(p);
    return y_throw_errno(env, "pthread_create", err);
  }
  p->thread_started = true;
  napi_add_env_cleanup_hook(env, pc_cleanup, p);
  napi_value handle;
  napi_create_external(env, p, pc_finalize, NULL, &handle);
  return handle;
}

static napi_value js_proc_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  pc_t *p = get_pc(env, argv[0]);
  if (!p) return NULL;
  if (!p->stopped) {
    napi_remove_env_cleanup_hook(env, pc_cleanup, p);
    pc_stop(p);
  }
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value js_proc_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  pc_t *p = get_pc(env, argv[0]);
  if (!p) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  y_set_u64(env, o, "received", Y_ATOMIC_LOAD(&p->st.received));
  y_set_u64(env, o, "batches", Y_ATOMIC_LOAD(&p->st.batches));
  y_set_u64(env, o, "overruns", Y_ATOMIC_LOAD(&p->st.enobufs));
  y_set_u64(env, o, "lost", Y_ATOMIC_LOAD(&p->st.seq_lost));
  y_set_u64(env, o, "droppedBatches", Y_ATOMIC_LOAD(&p->st.dropped_batches));
  y_set_u64(env, o, "droppedEvents", Y_ATOMIC_LOAD(&p->st.dropped_events));
  int rb = 0;
  socklen_t l = sizeof rb;
  if (!p->stopped) getsockopt(p->sock, SOL_SOCKET, SO_RCVBUF, &rb, &l);
  y_set_num(env, o, "receiveBufferBytes", rb);
  return o;
}

bool y_proc_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"procStart", NULL, js_proc_start, NULL, NULL, NULL, napi_default, NULL},
      {"procStop", NULL, js_proc_stop, NULL, NULL, NULL, napi_default, NULL},
      {"procStats", NULL, js_proc_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
