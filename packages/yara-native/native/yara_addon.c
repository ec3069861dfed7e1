// Tiny N-API face over libyara: compile rule sources and scan buffers, both on the libuv thread
// pool so the agent's event loop never waits for YARA. Everything else (which files, what the
// results mean, error wording) lives in TypeScript.
#include <node_api.h>
#include <yara.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, "yamori yara-native: N-API call failed: " #call); \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

static int g_init_error = -1;

// ---------------------------------------------------------------- helpers

static char *dup_js_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static char *dup_c(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

static napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s) napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  return v;
}

static void set_named(napi_env env, napi_value obj, const char *name, napi_value v) {
  napi_set_named_property(env, obj, name, v);
}

static napi_value make_error(napi_env env, const char *code, const char *msg) {
  napi_value m, c, err;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &err);
  return err;
}

// ---------------------------------------------------------------- rules handle

typedef struct {
  YR_RULES *rules;
} rules_box;

static void rules_finalize(napi_env env, void *data, void *hint) {
  rules_box *box = data;
  if (box->rules) yr_rules_destroy(box->rules);
  free(box);
}

static rules_box *get_box(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  void *p = NULL;
  napi_get_value_external(env, v, &p);
  return p;
}

// ---------------------------------------------------------------- compile

typedef struct {
  int level;  // 0 error, 1 warning
  char *file;
  int line;
  char *rule;
  char *message;
} diag;

typedef struct {
  char *ns;
  char *name;
  char *source;
} src_item;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  src_item *items;
  uint32_t n_items;
  const char *current;
  diag *diags;
  size_t n_diags, cap_diags, dropped_warnings;
  YR_RULES *rules;
  int status;  // libyara error code of a non-compile failure, 0 otherwise
} compile_job;

static void compile_cb(int level, const char *file_name, int line, const YR_RULE *rule, const char *message,
                       void *user_data) {
  compile_job *job = user_data;
  if (level == YARA_ERROR_LEVEL_WARNING && job->n_diags >= 10000) {
    job->dropped_warnings++;
    return;
  }
  if (job->n_diags == job->cap_diags) {
    size_t cap = job->cap_diags ? job->cap_diags * 2 : 16;
    diag *d = realloc(job->diags, cap * sizeof(diag));
    if (!d) return;
    job->diags = d;
    job->cap_diags = cap;
  }
  diag *d = &job->diags[job->n_diags++];
  d->level = level == YARA_ERROR_LEVEL_ERROR ? 0 : 1;
  d->file = dup_c(file_name ? file_name : job->current);
  d->line = line;
  d->rule = rule ? dup_c(rule->identifier) : NULL;
  d->message = dup_c(message);
}

static void compile_execute(napi_env env, void *data) {
  compile_job *job = data;
  YR_COMPILER *compiler = NULL;
  int rc = yr_compiler_create(&compiler);
  if (rc != ERROR_SUCCESS) {
    job->status = rc;
    return;
  }
  yr_compiler_set_callback(compiler, compile_cb, job);
  int errors = 0;
  for (uint32_t i = 0; i < job->n_items && errors == 0; i++) {
    job->current = job->items[i].name;
    // After a failed add the compiler must not be used again (libyara's rule), so stop at the
    // first source with errors; the caller narrows down which sources are bad.
    errors = yr_compiler_add_string(compiler, job->items[i].source, job->items[i].ns);
  }
  if (errors == 0) {
    rc = yr_compiler_get_rules(compiler, &job->rules);
    if (rc != ERROR_SUCCESS) job->status = rc;
  }
  yr_compiler_destroy(compiler);
}

static void compile_complete(napi_env env, napi_status status, void *data) {
  compile_job *job = data;
  napi_value result, list, rules_v;
  napi_create_object(env, &result);
  napi_create_array_with_length(env, job->n_diags, &list);
  for (size_t i = 0; i < job->n_diags; i++) {
    diag *d = &job->diags[i];
    napi_value o, line;
    napi_create_object(env, &o);
    set_named(env, o, "level", str_or_null(env, d->level == 0 ? "error" : "warning"));
    set_named(env, o, "file", str_or_null(env, d->file));
    napi_create_int32(env, d->line, &line);
    set_named(env, o, "line", line);
    set_named(env, o, "rule", str_or_null(env, d->rule));
    set_named(env, o, "message", str_or_null(env, d->message));
    napi_set_element(env, list, (uint32_t)i, o);
    free(d->file);
    free(d->rule);
    free(d->message);
  }
  set_named(env, result, "diagnostics", list);
  napi_value dropped;
  napi_create_int64(env, (int64_t)job->dropped_warnings, &dropped);
  set_named(env, result, "droppedWarnings", dropped);
  if (job->rules) {
    rules_box *box = malloc(sizeof(rules_box));
    box->rules = job->rules;
    napi_create_external(env, box, rules_finalize, NULL, &rules_v);
  } else {
    napi_get_null(env, &rules_v);
  }
  set_named(env, result, "rules", rules_v);
  if (job->status != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "libyara failed while compiling (error %d)", job->status);
    napi_reject_deferred(env, job->deferred, make_error(env, "YARA_INTERNAL", msg));
  } else {
    napi_resolve_deferred(env, job->deferred, result);
  }
  for (uint32_t i = 0; i < job->n_items; i++) {
    free(job->items[i].ns);
    free(job->items[i].name);
    free(job->items[i].source);
  }
  free(job->items);
  free(job->diags);
  napi_delete_async_work(env, job->work);
  free(job);
}

// compile(sources: {namespace, name, source}[]): Promise<{ rules, diagnostics, droppedWarnings }>
static napi_value js_compile(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "compile(sources): sources must be an array");
    return NULL;
  }
  compile_job *job = calloc(1, sizeof(compile_job));
  napi_get_array_length(env, argv[0], &job->n_items);
  job->items = calloc(job->n_items ? job->n_items : 1, sizeof(src_item));
  for (uint32_t i = 0; i < job->n_items; i++) {
    napi_value item, ns, name, source;
    napi_get_element(env, argv[0], i, &item);
    napi_get_named_property(env, item, "namespace", &ns);
    napi_get_named_property(env, item, "name", &name);
    napi_get_named_property(env, item, "source", &source);
    job->items[i].ns = dup_js_string(env, ns);
    job->items[i].name = dup_js_string(env, name);
    job->items[i].source = dup_js_string(env, source);
    if (!job->items[i].ns || !job->items[i].name || !job->items[i].source) {
      for (uint32_t k = 0; k <= i; k++) {
        free(job->items[k].ns);
        free(job->items[k].name);
        free(job->items[k].source);
      }
      free(job->items);
      free(job);
      napi_throw_type_error(env, NULL, "compile(sources): each source needs string namespace, name and source");
      return NULL;
    }
  }
  napi_value promise, resource_name;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  napi_create_string_utf8(env, "yamori.yara.compile", NAPI_AUTO_LENGTH, &resource_name);
  CHECK(napi_create_async_work(env, NULL, resource_name, compile_execute, compile_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

// ---------------------------------------------------------------- scan

typedef struct {
  const YR_STRING *string;
  int64_t offset;
  int32_t length;
  int32_t data_length;
  uint8_t *data;
} hit;

typedef struct {
  const YR_RULE *rule;
  hit *hits;
  size_t n_hits, cap_hits;
} matched_rule;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffer_ref;
  napi_ref rules_ref;
  YR_RULES *rules;
  const uint8_t *data;
  size_t length;
  int timeout;
  int flags;
  uint32_t max_matches_per_string;
  uint32_t max_data;
  matched_rule *matched;
  size_t n_matched, cap_matched;
  int rc;
} scan_job;

static int scan_cb(YR_SCAN_CONTEXT *context, int message, void *message_data, void *user_data) {
  if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
  scan_job *job = user_data;
  const YR_RULE *rule = message_data;
  if (RULE_IS_PRIVATE(rule)) return CALLBACK_CONTINUE;
  if (job->n_matched == job->cap_matched) {
    size_t cap = job->cap_matched ? job->cap_matched * 2 : 4;
    matched_rule *m = realloc(job->matched, cap * sizeof(matched_rule));
    if (!m) return CALLBACK_ERROR;
    job->matched = m;
    job->cap_matched = cap;
  }
  matched_rule *mr = &job->matched[job->n_matched++];
  memset(mr, 0, sizeof *mr);
  mr->rule = rule;
  const YR_STRING *string;
  YR_MATCH *match;
  yr_rule_strings_foreach(rule, string) {
    uint32_t count = 0;
    yr_string_matches_foreach(context, string, match) {
      if (count++ >= job->max_matches_per_string) break;
      if (mr->n_hits == mr->cap_hits) {
        size_t cap = mr->cap_hits ? mr->cap_hits * 2 : 4;
        hit *h = realloc(mr->hits, cap * sizeof(hit));
        if (!h) return CALLBACK_ERROR;
        mr->hits = h;
        mr->cap_hits = cap;
      }
      hit *h = &mr->hits[mr->n_hits++];
      h->string = string;
      h->offset = match->base + match->offset;
      h->length = match->match_length;
      int32_t n = match->data_length;
      if ((uint32_t)n > job->max_data) n = (int32_t)job->max_data;
      h->data_length = n;
      h->data = NULL;
      if (n > 0) {
        h->data = malloc((size_t)n);
        if (h->data) memcpy(h->data, match->data, (size_t)n);
        else h->data_length = 0;
      }
    }
  }
  return CALLBACK_CONTINUE;
}

static void scan_execute(napi_env env, void *data) {
  scan_job *job = data;
  job->rc = yr_rules_scan_mem(job->rules, job->data, job->length, job->flags, scan_cb, job, job->timeout);
}

static napi_value meta_value(napi_env env, const YR_META *meta) {
  napi_value v;
  switch (meta->type) {
    case META_TYPE_INTEGER: napi_create_int64(env, meta->integer, &v); break;
    case META_TYPE_BOOLEAN: napi_get_boolean(env, meta->integer != 0, &v); break;
    default: v = str_or_null(env, meta->string); break;
  }
  return v;
}

static void scan_complete(napi_env env, napi_status status, void *data) {
  scan_job *job = data;
  if (job->rc != ERROR_SUCCESS) {
    const char *code = job->rc == ERROR_SCAN_TIMEOUT ? "YARA_TIMEOUT" : "YARA_SCAN_FAILED";
    char msg[96];
    if (job->rc == ERROR_SCAN_TIMEOUT) snprintf(msg, sizeof msg, "YARA scan timed out after %d s", job->timeout);
    else if (job->rc == ERROR_TOO_MANY_SCAN_THREADS) snprintf(msg, sizeof msg, "too many concurrent YARA scans");
    else snprintf(msg, sizeof msg, "libyara scan failed (error %d)", job->rc);
    napi_reject_deferred(env, job->deferred, make_error(env, code, msg));
  } else {
    napi_value list;
    napi_create_array_with_length(env, job->n_matched, &list);
    for (size_t i = 0; i < job->n_matched; i++) {
      matched_rule *mr = &job->matched[i];
      napi_value o, tags, metas, strings;
      napi_create_object(env, &o);
      set_named(env, o, "rule", str_or_null(env, mr->rule->identifier));
      set_named(env, o, "namespace", str_or_null(env, mr->rule->ns ? mr->rule->ns->name : NULL));
      napi_create_array(env, &tags);
      const char *tag;
      uint32_t ti = 0;
      yr_rule_tags_foreach(mr->rule, tag) { napi_set_element(env, tags, ti++, str_or_null(env, tag)); }
      set_named(env, o, "tags", tags);
      napi_create_array(env, &metas);
      const YR_META *meta;
      uint32_t mi = 0;
      yr_rule_metas_foreach(mr->rule, meta) {
        napi_value pair;
        napi_create_array_with_length(env, 2, &pair);
        napi_set_element(env, pair, 0, str_or_null(env, meta->identifier));
        napi_set_element(env, pair, 1, meta_value(env, meta));
        napi_set_element(env, metas, mi++, pair);
      }
      set_named(env, o, "meta", metas);
      napi_create_array_with_length(env, mr->n_hits, &strings);
      for (size_t k = 0; k < mr->n_hits; k++) {
        hit *h = &mr->hits[k];
        napi_value s, off, len, buf;
        napi_create_object(env, &s);
        set_named(env, s, "identifier", str_or_null(env, h->string->identifier));
        napi_create_int64(env, h->offset, &off);
        set_named(env, s, "offset", off);
        napi_create_int32(env, h->length, &len);
        set_named(env, s, "length", len);
        void *dst = NULL;
        napi_create_buffer_copy(env, (size_t)h->data_length, h->data ? h->data : (const uint8_t *)"", &dst, &buf);
        set_named(env, s, "data", buf);
        napi_set_element(env, strings, (uint32_t)k, s);
      }
      set_named(env, o, "strings", strings);
      napi_set_element(env, list, (uint32_t)i, o);
    }
    napi_resolve_deferred(env, job->deferred, list);
  }
  for (size_t i = 0; i < job->n_matched; i++) {
    for (size_t k = 0; k < job->matched[i].n_hits; k++) free(job->matched[i].hits[k].data);
    free(job->matched[i].hits);
  }
  free(job->matched);
  napi_delete_reference(env, job->buffer_ref);
  napi_delete_reference(env, job->rules_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

static uint32_t opt_u32(napi_env env, napi_value obj, const char *name, uint32_t dflt) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return dflt;
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return dflt;
  uint32_t out = dflt;
  napi_get_value_uint32(env, v, &out);
  return out;
}

// scan(rules, buffer, { timeoutSec, fastMode, maxMatchesPerString, maxDataBytes }): Promise<Match[]>
static napi_value js_scan(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rules_box *box = argc >= 1 ? get_box(env, argv[0]) : NULL;
  if (!box || !box->rules) {
    napi_throw_type_error(env, NULL, "scan(rules, buffer, options): rules must come from compile()");
    return NULL;
  }
  bool is_buffer = false;
  if (argc < 2 || napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "scan(rules, buffer, options): buffer must be a Buffer");
    return NULL;
  }
  scan_job *job = calloc(1, sizeof(scan_job));
  job->rules = box->rules;
  void *bytes = NULL;
  napi_get_buffer_info(env, argv[1], &bytes, &job->length);
  job->data = bytes ? bytes : (const uint8_t *)"";
  job->timeout = 10;
  job->max_matches_per_string = 16;
  job->max_data = 64;
  if (argc >= 3) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_object) {
      job->timeout = (int)opt_u32(env, argv[2], "timeoutSec", 10);
      job->max_matches_per_string = opt_u32(env, argv[2], "maxMatchesPerString", 16);
      job->max_data = opt_u32(env, argv[2], "maxDataBytes", 64);
      bool has = false;
      napi_has_named_property(env, argv[2], "fastMode", &has);
      if (has) {
        napi_value v;
        bool fast = false;
        napi_get_named_property(env, argv[2], "fastMode", &v);
        if (napi_get_value_bool(env, v, &fast) == napi_ok && fast) job->flags |= SCAN_FLAGS_FAST_MODE;
      }
    }
  }
  napi_create_reference(env, argv[1], 1, &job->buffer_ref);
  napi_create_reference(env, argv[0], 1, &job->rules_ref);
  napi_value promise, resource_name;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  napi_create_string_utf8(env, "yamori.yara.scan", NAPI_AUTO_LENGTH, &resource_name);
  CHECK(napi_create_async_work(env, NULL, resource_name, scan_execute, scan_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

// ruleCount(rules): number of public and private rules in the compiled set
static napi_value js_rule_count(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rules_box *box = argc >= 1 ? get_box(env, argv[0]) : NULL;
  if (!box || !box->rules) {
    napi_throw_type_error(env, NULL, "ruleCount(rules): rules must come from compile()");
    return NULL;
  }
  uint32_t n = 0;
  const YR_RULE *rule;
  yr_rules_foreach(box->rules, rule) { n++; }
  napi_value v;
  napi_create_uint32(env, n, &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  if (g_init_error < 0) g_init_error = yr_initialize();
  if (g_init_error != ERROR_SUCCESS) {
    napi_throw_error(env, NULL, "yamori yara-native: yr_initialize failed");
    return NULL;
  }
  napi_value fn, ver;
  napi_create_function(env, "compile", NAPI_AUTO_LENGTH, js_compile, NULL, &fn);
  set_named(env, exports, "compile", fn);
  napi_create_function(env, "scan", NAPI_AUTO_LENGTH, js_scan, NULL, &fn);
  set_named(env, exports, "scan", fn);
  napi_create_function(env, "ruleCount", NAPI_AUTO_LENGTH, js_rule_count, NULL, &fn);
  set_named(env, exports, "ruleCount", fn);
  napi_create_string_utf8(env, YR_VERSION, NAPI_AUTO_LENGTH, &ver);
  set_named(env, exports, "libyaraVersion", ver);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
