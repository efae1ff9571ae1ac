/* session.c: one HTTP(S) session = one libcurl easy handle, reused so connections stay open.
 *
 *   local s = core.session{ timeout = 30, connect_timeout = 10, ca_file = nil, http2 = true,
 *                           user_agent = nil, max_body = 64 MiB }
 *   local status, headers, body = s:request(method, url [, headers [, body [, timeout]]])
 *   -- or nil, kind, message  (kind: timeout | connect | tls | network | size | invalid)
 *   s:close()   -- also __gc and (5.4) __close; idempotent
 *
 * Misuse (wrong types, bad option names, a closed session, header injection) raises a Lua error.
 * No Lua error is ever raised while libcurl is running: callbacks only fill C buffers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <curl/curl.h>
#include "core.h"

#define IG_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define IG_MAX_HEADER_BLOCK ((size_t)256 << 10)
#define IG_MAX_URL ((size_t)64 << 10)

/* What one transfer collects: body, header block, libcurl's error text. */
typedef struct {
  ig_buf body, head;
  char errbuf[CURL_ERROR_SIZE];
} ig_xfer;

typedef struct ig_pending ig_pending;

typedef struct {
  CURL *easy;
  CURLM *multi;          /* for many(): created on first use, keeps its connection cache */
  CURLM *async_multi;    /* for start(): one request in flight while Lua does other work */
  CURL *async_easy;
  ig_pending *active;    /* the started request, if any */
  CURL **pool;           /* many()'s easy handles, reused across calls */
  int pool_size;
  long timeout_ms, connect_timeout_ms;
  char *ca_file;
  char *user_agent;
  int http2;
  int busy;     /* a transfer is running */
  int closing;  /* close() was asked for while busy */
  int prepared; /* the easy handle holds request()'s standing options (an upload clears this) */
  ig_xfer x;
} ig_session;

static void pending_stop(ig_pending *p);

static void session_free(ig_session *s) {
  if (s->active) pending_stop(s->active);
  if (s->async_easy) { curl_easy_cleanup(s->async_easy); s->async_easy = NULL; }
  if (s->async_multi) { curl_multi_cleanup(s->async_multi); s->async_multi = NULL; }
  if (s->easy) { curl_easy_cleanup(s->easy); s->easy = NULL; }
  for (int i = 0; i < s->pool_size; i++) curl_easy_cleanup(s->pool[i]);
  free(s->pool); s->pool = NULL; s->pool_size = 0;
  if (s->multi) { curl_multi_cleanup(s->multi); s->multi = NULL; }
  free(s->ca_file); s->ca_file = NULL;
  free(s->user_agent); s->user_agent = NULL;
  ig_buf_free(&s->x.body);
  ig_buf_free(&s->x.head);
}

static ig_session *check_session(lua_State *L) {
  return (ig_session *)luaL_checkudata(L, 1, IG_SESSION_MT);
}

static ig_session *check_open(lua_State *L) {
  ig_session *s = check_session(L);
  if (!s->easy || s->closing) luaL_error(L, "session is closed");
  if (s->busy) luaL_error(L, "session is busy: one request at a time per session");
  return s;
}

/* ---- options ------------------------------------------------------------------------------- */

static long opt_ms(lua_State *L, int idx, const char *name) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "option '%s' must be a number of seconds, got %s", name, luaL_typename(L, idx));
  lua_Number n = lua_tonumber(L, idx);
  if (!(n > 0 && n <= 86400.0))
    luaL_error(L, "option '%s' must be between 0 and 86400 seconds (exclusive of 0)", name);
  long ms = (long)(n * 1000.0);
  return ms < 1 ? 1 : ms;
}

static char *opt_strdup(lua_State *L, int idx, const char *name) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "option '%s' must be a string, got %s", name, luaL_typename(L, idx));
  const char *v = lua_tolstring(L, idx, &len);
  if (len == 0 || strlen(v) != len || len > 4096)
    luaL_error(L, "option '%s' must be a non-empty string without NUL bytes (at most 4096 bytes)", name);
  char *d = malloc(len + 1);
  if (!d) luaL_error(L, "out of memory");
  memcpy(d, v, len + 1);
  return d;
}

static void apply_option(lua_State *L, ig_session *s, const char *key, int vidx) {
  if (strcmp(key, "timeout") == 0) s->timeout_ms = opt_ms(L, vidx, key);
  else if (strcmp(key, "connect_timeout") == 0) s->connect_timeout_ms = opt_ms(L, vidx, key);
  else if (strcmp(key, "ca_file") == 0) {
    char *path = opt_strdup(L, vidx, key);
    FILE *f = fopen(path, "rb");
    if (!f) { free(path); luaL_error(L, "option 'ca_file': cannot read '%s'", lua_tostring(L, vidx)); }
    fclose(f);
    free(s->ca_file);
    s->ca_file = path;
  } else if (strcmp(key, "user_agent") == 0) {
    char *ua = opt_strdup(L, vidx, key);
    if (strpbrk(ua, "\r\n")) { free(ua); luaL_error(L, "option 'user_agent' must not contain CR or LF"); }
    free(s->user_agent);
    s->user_agent = ua;
  } else if (strcmp(key, "http2") == 0) {
    if (lua_type(L, vidx) != LUA_TBOOLEAN) luaL_error(L, "option 'http2' must be a boolean");
    s->http2 = lua_toboolean(L, vidx);
  } else if (strcmp(key, "max_body") == 0) {
    if (lua_type(L, vidx) != LUA_TNUMBER) luaL_error(L, "option 'max_body' must be a number of bytes");
    lua_Number n = lua_tonumber(L, vidx);
    if (!(n >= 1 && n <= 4294967296.0)) luaL_error(L, "option 'max_body' must be between 1 byte and 4 GiB");
    s->x.body.max = (size_t)n;
  } else {
    luaL_error(L, "unknown session option '%s' (known: timeout, connect_timeout, ca_file, "
                  "user_agent, http2, max_body)", key);
  }
}

static int l_session_new(lua_State *L) {
  int has_opts = !lua_isnoneornil(L, 1);
  if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
  ig_session *s = (ig_session *)lua_newuserdata(L, sizeof *s);
  memset(s, 0, sizeof *s);
  s->timeout_ms = 30000;
  s->connect_timeout_ms = 10000;
  s->http2 = 1;
  s->x.body.max = IG_DEFAULT_MAX_BODY;
  s->x.head.max = IG_MAX_HEADER_BLOCK;
  luaL_setmetatable(L, IG_SESSION_MT);
  /* From here on, __gc frees whatever an option error leaves behind. */
  if (has_opts) {
    int ud = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "session options must have string keys");
      apply_option(L, s, lua_tostring(L, -2), ig_absindex(L, -1));
      lua_pop(L, 1);
    }
    lua_settop(L, ud);
  }
  s->easy = curl_easy_init();
  if (!s->easy) return luaL_error(L, "curl_easy_init failed (out of memory?)");
  return 1;
}

/* ---- callbacks (never touch the Lua state) --------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  ig_xfer *x = (ig_xfer *)ud;
  size_t total = size * n;
  return ig_buf_append(&x->body, p, total) == 0 ? total : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  ig_xfer *x = (ig_xfer *)ud;
  size_t total = size * n;
  /* A new status line starts a new header block (after 1xx or an auth round): keep the last. */
  if (total >= 5 && memcmp(p, "HTTP/", 5) == 0) x->head.len = 0;
  return ig_buf_append(&x->head, p, total) == 0 ? total : 0;
}

/* ---- request ------------------------------------------------------------------------------- */

static int valid_method(const char *m, size_t len) {
  if (len == 0 || len > 16) return 0;
  for (size_t i = 0; i < len; i++)
    if (!isupper((unsigned char)m[i])) return 0;
  return 1;
}

static int valid_header_name(const char *k, size_t len) {
  if (len == 0 || len > 256) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c)) || c == 0) return 0;
  }
  return 1;
}

static int valid_header_value(const char *v, size_t len) {
  if (len > 16384) return 0;
  for (size_t i = 0; i < len; i++)
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') return 0;
  return 1;
}

/* Builds the header list from the table at idx (0: none). On bad input frees what it built and raises. */
static struct curl_slist *build_headers(lua_State *L, int idx) {
  struct curl_slist *list = NULL, *tmp;
  if (idx != 0) lua_pushnil(L);
  while (idx != 0 && lua_next(L, idx) != 0) {
    size_t klen, vlen;
    const char *why = NULL;
    if (lua_type(L, -2) != LUA_TSTRING) why = "header names must be strings";
    else if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      why = "header values must be strings or numbers";
    if (why) { curl_slist_free_all(list); return (luaL_error(L, "%s", why), NULL); }
    const char *k = lua_tolstring(L, -2, &klen);
    lua_pushvalue(L, -1); /* tolstring on a copy: never convert a key in place during lua_next */
    const char *v = lua_tolstring(L, -1, &vlen);
    if (!valid_header_name(k, klen) || !valid_header_value(v, vlen)) {
      curl_slist_free_all(list);
      return (luaL_error(L, "invalid header '%s': names are HTTP tokens, values have no CR, LF or NUL",
                         valid_header_name(k, klen) ? k : "?"), NULL);
    }
    char *line = malloc(klen + vlen + 3);
    if (!line) { curl_slist_free_all(list); return (luaL_error(L, "out of memory"), NULL); }
    memcpy(line, k, klen);
    if (vlen == 0) { line[klen] = ';'; line[klen + 1] = '\0'; } /* curl's syntax for an empty value */
    else { line[klen] = ':'; line[klen + 1] = ' '; memcpy(line + klen + 2, v, vlen); line[klen + 2 + vlen] = '\0'; }
    tmp = curl_slist_append(list, line);
    free(line);
    if (!tmp) { curl_slist_free_all(list); return (luaL_error(L, "out of memory"), NULL); }
    list = tmp;
    lua_pop(L, 2);
  }
  tmp = curl_slist_append(list, "Expect:"); /* no 100-continue round trip on POST bodies */
  if (!tmp) { curl_slist_free_all(list); luaL_error(L, "out of memory"); }
  return tmp;
}

static const char *error_kind(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_USE_SSL_FAILED: return "tls";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return "invalid";
    case CURLE_WRITE_ERROR: return "size";
    default: return "network";
  }
}

/* After a transfer: drop the buffers' contents, and honour a close() asked for meanwhile. */
static void finish(ig_session *s) {
  ig_buf_reset(&s->x.body);
  ig_buf_reset(&s->x.head);
  if (s->closing) session_free(s);
}

static const char *check_url(lua_State *L, int idx) {
  size_t ulen;
  const char *url = luaL_checklstring(L, idx, &ulen);
  if (ulen == 0 || ulen > IG_MAX_URL || strlen(url) != ulen)
    luaL_error(L, "bad url: a non-empty http(s) URL without NUL bytes, at most 64 KiB");
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
    luaL_error(L, "bad url: only http:// and https:// URLs are supported");
  return url;
}

/* Resets an easy handle and sets what every transfer shares; x collects the response. */
static void setup_easy(ig_session *s, CURL *e, ig_xfer *x, const char *url, struct curl_slist *headers,
                       long timeout_ms) {
  curl_easy_reset(e); /* keeps live connections, DNS and TLS session caches */
  x->errbuf[0] = '\0';
  ig_buf_reset(&x->body);
  ig_buf_reset(&x->head);
  curl_easy_setopt(e, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  long connect_ms = s->connect_timeout_ms;
  if (timeout_ms > 0 && timeout_ms < connect_ms) connect_ms = timeout_ms;
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent ? s->user_agent
                                                       : "instagram-graph-lua/" IG_CORE_VERSION);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, s->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}

static void setup_common(ig_session *s, const char *url, struct curl_slist *headers, long timeout_ms) {
  setup_easy(s, s->easy, &s->x, url, headers, timeout_ms);
}

/* The method and body of a request (the body must outlive the transfer). Every call states the
 * method from scratch, so a handle can go from one request to the next without a reset. */
static void set_method(CURL *e, const char *method, const char *body, size_t blen) {
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* clears POST, NOBODY and UPLOAD */
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
  if (strcmp(method, "GET") == 0 && !body) return;
  if (strcmp(method, "HEAD") == 0) { curl_easy_setopt(e, CURLOPT_NOBODY, 1L); return; }
  if (strcmp(method, "POST") == 0 || body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
  }
  if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
}

/* request()'s fast path: the standing options are set once, then only what varies per call. */
static void setup_request(ig_session *s, const char *url, struct curl_slist *headers, long timeout_ms) {
  if (!s->prepared) {
    setup_common(s, url, headers, timeout_ms);
    s->prepared = 1;
    return;
  }
  CURL *e = s->easy;
  s->x.errbuf[0] = '\0';
  ig_buf_reset(&s->x.body);
  ig_buf_reset(&s->x.head);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms < timeout_ms ? s->connect_timeout_ms : timeout_ms);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}

/* Runs the transfer; frees the header list. */
static CURLcode perform(ig_session *s, struct curl_slist *headers) {
  s->busy = 1;
  CURLcode rc = curl_easy_perform(s->easy);
  s->busy = 0;
  curl_slist_free_all(headers);
  curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
  return rc;
}

/* Pushes status, headers, body, or nil, kind, message, for a finished transfer. */
static void push_result(lua_State *L, long status, ig_xfer *x, CURLcode rc) {
  if (rc != CURLE_OK) {
    const char *kind = error_kind(rc);
    lua_pushnil(L);
    if (rc == CURLE_WRITE_ERROR && x->body.overflow) {
      lua_pushstring(L, "size");
      lua_pushfstring(L, "response body larger than max_body (%d bytes)",
                      (int)(x->body.max > 0x7fffffff ? 0x7fffffff : x->body.max));
    } else if (rc == CURLE_WRITE_ERROR && x->head.overflow) {
      lua_pushstring(L, "size");
      lua_pushstring(L, "response headers larger than 256 KiB");
    } else {
      lua_pushstring(L, strcmp(kind, "size") == 0 ? "network" : kind);
      lua_pushfstring(L, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    return;
  }
  lua_pushinteger(L, (lua_Integer)status);
  ig_push_headers(L, x->head.data, x->head.len);
  lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
}

static int push_outcome(lua_State *L, ig_session *s, CURLcode rc) {
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  push_result(L, status, &s->x, rc);
  finish(s);
  return 3;
}

/* The arguments request() and start() share: (self, method, url [, headers [, body [, timeout]]]) */
typedef struct {
  const char *method, *url, *body;
  size_t blen;
  long timeout_ms;
} ig_args;

static ig_args check_request_args(lua_State *L, ig_session *s) {
  ig_args a;
  size_t mlen;
  a.blen = 0;
  a.method = luaL_checklstring(L, 2, &mlen);
  a.url = check_url(L, 3);
  if (!valid_method(a.method, mlen))
    luaL_error(L, "bad method '%s': an upper-case HTTP method such as GET or POST", a.method);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  a.body = luaL_optlstring(L, 5, NULL, &a.blen);
  a.timeout_ms = lua_isnoneornil(L, 6) ? s->timeout_ms : opt_ms(L, 6, "timeout");
  return a;
}

static int l_session_request(lua_State *L) {
  ig_session *s = check_open(L);
  ig_args a = check_request_args(L, s);
  const char *url = a.url, *method = a.method, *body = a.body;
  size_t blen = a.blen;
  long timeout_ms = a.timeout_ms;

  struct curl_slist *headers = build_headers(L, lua_istable(L, 4) ? 4 : 0);
  setup_request(s, url, headers, timeout_ms);
  set_method(s->easy, method, body, blen);
  return push_outcome(L, s, perform(s, headers));
}

/* ---- streamed file upload ------------------------------------------------------------------ */

typedef struct {
  FILE *f;
  lua_State *L;
  int progress;        /* stack index of the progress function, 0 for none */
  curl_off_t base, total, last, last_up, last_down;
  double last_change;  /* monotonic seconds when bytes last moved either way */
  double stall;        /* seconds without any bytes moving that count as a stall */
  int aborted, cb_error, read_error, stalled;
} ig_upload;

static double monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud) {
  ig_upload *u = (ig_upload *)ud;
  size_t got = fread(buf, 1, size * n, u->f);
  if (got == 0 && ferror(u->f)) { u->read_error = 1; return CURL_READFUNC_ABORT; }
  return got;
}

/* Calls progress(sent, total) under lua_pcall; false stops the upload, an error is kept on the
 * stack top and raised once libcurl has returned. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  ig_upload *u = (ig_upload *)ud;
  (void)dltotal; (void)ultotal;
  double t = monotonic();
  if (ulnow != u->last_up || dlnow != u->last_down) {
    u->last_change = t;
    u->last_up = ulnow;
    u->last_down = dlnow;
  } else if (t - u->last_change > u->stall) {
    u->stalled = 1; /* libcurl calls this at least once a second, so a stall is seen in time */
    return 1;
  }
  if (!u->progress || u->cb_error || ulnow == u->last) return 0;
  u->last = ulnow;
  lua_State *L = u->L;
  if (!lua_checkstack(L, 4)) return 0;
  lua_pushvalue(L, u->progress);
  lua_pushinteger(L, (lua_Integer)(u->base + ulnow));
  lua_pushinteger(L, (lua_Integer)u->total);
  if (lua_pcall(L, 2, 1, 0) != 0) { u->cb_error = 1; return 1; }
  int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (stop) { u->aborted = 1; return 1; }
  return 0;
}

/* s:upload(url, headers, path [, offset [, progress [, stall_timeout]]])
 * POSTs the file's bytes from `offset` to its end, streamed from disk (never held in memory).
 * progress(sent, total): bytes of the file sent so far (counting the offset) and the file size;
 * returning false aborts. Without a total timeout: when no byte moves either way for
 * stall_timeout seconds (default: the session timeout) it fails as "timeout".
 * -> status, headers, body | nil, kind, message (kinds as request's, plus "file" and "aborted") */
static int l_session_upload(lua_State *L) {
  ig_session *s = check_open(L);
  const char *url = check_url(L, 2);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  size_t plen;
  const char *path = luaL_checklstring(L, 4, &plen);
  if (plen == 0 || strlen(path) != plen) return luaL_argerror(L, 4, "a file path without NUL bytes");
  lua_Number off = luaL_optnumber(L, 5, 0);
  if (!(off >= 0 && off <= 9.0e15) || off != (lua_Number)(long long)off)
    return luaL_argerror(L, 5, "offset must be a whole number of bytes, 0 or more");
  if (!lua_isnoneornil(L, 6)) luaL_checktype(L, 6, LUA_TFUNCTION);
  long stall_ms = lua_isnoneornil(L, 7) ? s->timeout_ms : opt_ms(L, 7, "stall_timeout");

  /* Headers first: building them may raise, and nothing is open yet to leak. */
  struct curl_slist *headers = build_headers(L, lua_istable(L, 3) ? 3 : 0);
  ig_upload u;
  memset(&u, 0, sizeof u);
  u.L = L;
  u.progress = lua_isfunction(L, 6) ? 6 : 0;
  u.base = (curl_off_t)off;
  u.last = -1;
  u.last_up = u.last_down = 0;
  u.last_change = monotonic();
  u.stall = (double)stall_ms / 1000.0;
  const char *why = NULL;
  struct stat st;
  u.f = fopen(path, "rb");
  if (!u.f) why = "cannot open '%s' for reading";
  else if (fstat(fileno(u.f), &st) != 0 || !S_ISREG(st.st_mode)) why = "'%s' is not a regular file";
  else {
    u.total = (curl_off_t)st.st_size;
    if (u.base > u.total || fseeko(u.f, (off_t)u.base, SEEK_SET) != 0) why = "the offset is past the end of '%s'";
  }
  if (why) {
    if (u.f) fclose(u.f);
    curl_slist_free_all(headers);
    lua_pushnil(L);
    lua_pushliteral(L, "file");
    lua_pushfstring(L, why, path);
    return 3;
  }
  lua_settop(L, 7); /* the progress callback's results and errors land above this */
  s->prepared = 0; /* the upload's options must not leak into the next request */
  setup_common(s, url, headers, 0);
  CURL *e = s->easy;
  /* One long stream gains nothing from HTTP/2 multiplexing; HTTP/1.1 is what every upload
   * endpoint takes (and lets servers read the body as it arrives). */
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(e, CURLOPT_READDATA, &u);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, u.total - u.base);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &u);
  CURLcode rc = perform(s, headers);
  fclose(u.f);
  if (u.cb_error) { finish(s); return lua_error(L); } /* the callback's own error, now safe to raise */
  if (u.stalled) {
    finish(s);
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    lua_pushfstring(L, "upload stalled: no bytes moved for %d ms", (int)stall_ms);
    return 3;
  }
  if (u.aborted || u.read_error) {
    finish(s);
    lua_pushnil(L);
    lua_pushstring(L, u.aborted ? "aborted" : "file");
    lua_pushstring(L, u.aborted ? "upload stopped by the progress callback" : "error reading the file");
    return 3;
  }
  return push_outcome(L, s, rc);
}


/* ---- many requests at once (curl_multi) ----------------------------------------------------- */

#define IG_MANY_MT "instagram.core.many"
#define IG_MAX_MANY 10000
#define IG_MAX_CONCURRENCY 64

typedef struct {
  ig_xfer x;
  struct curl_slist *headers;
  const char *method, *url, *body; /* Lua strings, anchored by the requests table */
  size_t blen;
  long timeout_ms, status;
  CURLcode rc;
  CURL *easy;
} ig_many_item;

typedef struct {
  int n;
  ig_many_item items[1];
} ig_many;

/* The scratch userdata's __gc: whatever a raise or a normal return leaves behind. */
static int l_many_gc(lua_State *L) {
  ig_many *m = (ig_many *)luaL_checkudata(L, 1, IG_MANY_MT);
  for (int i = 0; i < m->n; i++) {
    curl_slist_free_all(m->items[i].headers);
    m->items[i].headers = NULL;
    ig_buf_free(&m->items[i].x.body);
    ig_buf_free(&m->items[i].x.head);
  }
  m->n = 0;
  return 0;
}

static const char *field_string(lua_State *L, int t, const char *key, size_t *len, int i, int required) {
  lua_getfield(L, t, key);
  if (lua_isnil(L, -1) && !required) { lua_pop(L, 1); return NULL; }
  if (lua_type(L, -1) != LUA_TSTRING) {
    luaL_error(L, "request %d: '%s' must be a string", i, key);
    return NULL;
  }
  const char *v = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still anchored by the request table */
  return v;
}

/* s:many(requests [, concurrency = 8]) -> results
 * requests: { { method, url, headers, body, timeout }, ... }; results in the same order, each
 * { status = n, headers = {...}, body = "..." } or { error = kind, message = "..." }.
 * Runs up to `concurrency` transfers at once on one curl_multi handle (HTTP/2 multiplexing where
 * the server offers it); its connections stay open in the session for the next call. */
static int l_session_many(lua_State *L) {
  ig_session *s = check_open(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer conc = luaL_optinteger(L, 3, 8);
  if (conc < 1 || conc > IG_MAX_CONCURRENCY) return luaL_argerror(L, 3, "concurrency must be 1 to 64");
  int n = (int)ig_rawlen(L, 2);
  if (n > IG_MAX_MANY) return luaL_argerror(L, 2, "at most 10000 requests per call");
  lua_settop(L, 3);
  lua_newtable(L); /* 4: results */
  if (n == 0) return 1;
  ig_many *m = (ig_many *)lua_newuserdata(L, sizeof(ig_many) + (size_t)(n - 1) * sizeof(ig_many_item)); /* 5 */
  memset(m, 0, sizeof(ig_many) + (size_t)(n - 1) * sizeof(ig_many_item));
  luaL_setmetatable(L, IG_MANY_MT);
  for (int i = 0; i < n; i++) {
    ig_many_item *it = &m->items[i];
    it->x.body.max = s->x.body.max;
    it->x.head.max = IG_MAX_HEADER_BLOCK;
    m->n = i + 1;
    lua_rawgeti(L, 2, i + 1);
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) return luaL_error(L, "request %d must be a table { method, url, headers, body }", i + 1);
    size_t mlen, ulen;
    it->method = field_string(L, t, "method", &mlen, i + 1, 1);
    if (!valid_method(it->method, mlen)) return luaL_error(L, "request %d: bad method", i + 1);
    it->url = field_string(L, t, "url", &ulen, i + 1, 1);
    if (ulen == 0 || ulen > IG_MAX_URL || strlen(it->url) != ulen ||
        (strncmp(it->url, "http://", 7) != 0 && strncmp(it->url, "https://", 8) != 0))
      return luaL_error(L, "request %d: bad url (an http(s) URL without NUL bytes, at most 64 KiB)", i + 1);
    it->body = field_string(L, t, "body", &it->blen, i + 1, 0);
    lua_getfield(L, t, "timeout");
    it->timeout_ms = lua_isnil(L, -1) ? s->timeout_ms : opt_ms(L, lua_gettop(L), "timeout");
    lua_pop(L, 1);
    lua_getfield(L, t, "headers");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) return luaL_error(L, "request %d: headers must be a table", i + 1);
    it->headers = build_headers(L, lua_istable(L, -1) ? lua_gettop(L) : 0);
    lua_settop(L, 5);
  }

  if (!s->multi) {
    s->multi = curl_multi_init();
    if (!s->multi) return luaL_error(L, "curl_multi_init failed (out of memory?)");
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  }
  if (s->pool_size < conc) {
    CURL **pool = realloc(s->pool, (size_t)conc * sizeof(CURL *));
    if (!pool) return luaL_error(L, "out of memory");
    s->pool = pool;
    while (s->pool_size < conc) {
      CURL *e = curl_easy_init();
      if (!e) return luaL_error(L, "curl_easy_init failed (out of memory?)");
      s->pool[s->pool_size++] = e;
    }
  }
  CURL *idle[IG_MAX_CONCURRENCY];
  int nidle = 0;
  for (int i = 0; i < conc; i++) idle[nidle++] = s->pool[i];

  s->busy = 1;
  int next = 0, done = 0, running = 0;
  CURLMcode mc = CURLM_OK;
  while (done < n && mc == CURLM_OK) {
    while (nidle > 0 && next < n) {
      ig_many_item *it = &m->items[next++];
      CURL *e = idle[--nidle];
      it->easy = e;
      setup_easy(s, e, &it->x, it->url, it->headers, it->timeout_ms);
      set_method(e, it->method, it->body, it->blen);
      /* Wait for HTTP/2 multiplexing on an existing connection rather than open another;
       * over HTTP/1.1 that would serialise the transfers, so only then. */
      if (s->http2) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
      curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)it);
      if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        it->rc = CURLE_FAILED_INIT;
        it->easy = NULL;
        idle[nidle++] = e;
        done++;
      }
    }
    mc = curl_multi_perform(s->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE) continue;
      ig_many_item *it = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&it);
      CURL *e = msg->easy_handle;
      it->rc = msg->data.result;
      if (it->rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &it->status);
      curl_multi_remove_handle(s->multi, e);
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
      it->easy = NULL;
      idle[nidle++] = e;
      done++;
    }
    /* A slot that just came free gets its next transfer before any waiting. */
    if (done < n && mc == CURLM_OK && !(nidle > 0 && next < n)) mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
  }
  if (mc != CURLM_OK) { /* stop what is still running; report it as a failure */
    for (int i = 0; i < n; i++) {
      ig_many_item *it = &m->items[i];
      if (it->easy) { curl_multi_remove_handle(s->multi, it->easy); it->easy = NULL; it->rc = CURLE_SEND_ERROR; }
      else if (i >= next) it->rc = CURLE_SEND_ERROR;
    }
  }
  s->busy = 0;

  for (int i = 0; i < n; i++) {
    ig_many_item *it = &m->items[i];
    lua_createtable(L, 0, 3);
    push_result(L, it->status, &it->x, it->rc); /* status, headers, body | nil, kind, message */
    if (lua_isnil(L, -3)) {
      lua_setfield(L, -4, "message");
      lua_setfield(L, -3, "error");
      lua_pop(L, 1);
    } else {
      lua_setfield(L, -4, "body");
      lua_setfield(L, -3, "headers");
      lua_setfield(L, -2, "status");
    }
    lua_rawseti(L, 4, i + 1);
    ig_buf_free(&it->x.body);
    ig_buf_free(&it->x.head);
  }
  lua_pop(L, 1); /* the scratch userdata: its __gc frees the header lists */
  if (s->closing) session_free(s);
  return 1;
}


/* ---- one request started now, finished later (prefetch) ------------------------------------- */

#define IG_PENDING_MT "instagram.core.pending"

struct ig_pending {
  ig_session *s;               /* NULL once finished, cancelled, or its session closed */
  struct curl_slist *headers;
  ig_xfer x;
  CURLcode rc;
  long status;
  int done;
};

/* Takes the transfer out of the session's async handle; never raises. */
static void pending_stop(ig_pending *p) {
  ig_session *s = p->s;
  if (s) {
    curl_multi_remove_handle(s->async_multi, s->async_easy);
    curl_easy_setopt(s->async_easy, CURLOPT_HTTPHEADER, NULL);
    s->active = NULL;
    p->s = NULL;
  }
  curl_slist_free_all(p->headers);
  p->headers = NULL;
}

/* s:start(method, url [, headers [, body [, timeout]]]) -> pending
 * Sends the request now and returns; pending:finish() waits for the answer (status, headers,
 * body | nil, kind, message). While Lua does other work the server is already answering: the
 * pager's prefetch. One started request per session at a time; pending:cancel() drops it. */
static int l_session_start(lua_State *L) {
  ig_session *s = check_open(L);
  ig_args a = check_request_args(L, s);
  const char *url = a.url, *method = a.method, *body = a.body;
  size_t blen = a.blen;
  long timeout_ms = a.timeout_ms;
  if (s->active) return luaL_error(L, "one started request per session: finish or cancel the last one first");
  lua_settop(L, 6);
  ig_pending *p = (ig_pending *)lua_newuserdata(L, sizeof *p); /* 7 */
  memset(p, 0, sizeof *p);
  p->x.body.max = s->x.body.max;
  p->x.head.max = IG_MAX_HEADER_BLOCK;
  luaL_setmetatable(L, IG_PENDING_MT);
  lua_createtable(L, 3, 0); /* what the transfer needs alive: the session, url and body strings */
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, 2);
  lua_pushvalue(L, 5);
  lua_rawseti(L, -2, 3);
  ig_setuservalue(L, 7);
  p->headers = build_headers(L, lua_istable(L, 4) ? 4 : 0); /* may raise: __gc has nothing to free */
  if (!s->async_multi) s->async_multi = curl_multi_init();
  if (!s->async_easy) s->async_easy = curl_easy_init();
  if (!s->async_multi || !s->async_easy) return luaL_error(L, "libcurl could not make a handle (out of memory?)");
  setup_easy(s, s->async_easy, &p->x, url, p->headers, timeout_ms);
  set_method(s->async_easy, method, body, blen);
  if (curl_multi_add_handle(s->async_multi, s->async_easy) != CURLM_OK)
    return luaL_error(L, "libcurl could not start the request");
  p->s = s;
  s->active = p;
  /* Get the request onto the wire now (a new connection needs a few round trips first), but
   * never wait long: at most about 20 ms here, the rest happens at finish(). */
  for (int i = 0; i < 10; i++) {
    int running;
    long sent = 0;
    if (curl_multi_perform(s->async_multi, &running) != CURLM_OK || running == 0) break;
    curl_easy_getinfo(s->async_easy, CURLINFO_REQUEST_SIZE, &sent);
    if (sent > 0) break;
    curl_multi_poll(s->async_multi, NULL, 0, 2, NULL);
  }
  return 1;
}

static ig_pending *check_pending(lua_State *L) { return (ig_pending *)luaL_checkudata(L, 1, IG_PENDING_MT); }

/* pending:finish() -> status, headers, body | nil, kind, message */
static int l_pending_finish(lua_State *L) {
  ig_pending *p = check_pending(L);
  if (p->done) return luaL_error(L, "this request was already finished");
  ig_session *s = p->s;
  if (!s) return luaL_error(L, "this request was cancelled, or its session closed");
  CURLMcode mc = CURLM_OK;
  int finished = 0;
  while (!finished && mc == CURLM_OK) {
    int running, left;
    mc = curl_multi_perform(s->async_multi, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(s->async_multi, &left)) != NULL) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == s->async_easy) {
        p->rc = msg->data.result;
        if (p->rc == CURLE_OK) curl_easy_getinfo(s->async_easy, CURLINFO_RESPONSE_CODE, &p->status);
        finished = 1;
      }
    }
    if (!finished && mc == CURLM_OK) mc = curl_multi_poll(s->async_multi, NULL, 0, 1000, NULL);
  }
  if (!finished) p->rc = CURLE_SEND_ERROR;
  pending_stop(p);
  p->done = 1;
  push_result(L, p->status, &p->x, p->rc);
  ig_buf_free(&p->x.body);
  ig_buf_free(&p->x.head);
  return 3;
}

/* pending:cancel(), also __gc: drops the request; idempotent */
static int l_pending_cancel(lua_State *L) {
  ig_pending *p = check_pending(L);
  pending_stop(p);
  ig_buf_free(&p->x.body);
  ig_buf_free(&p->x.head);
  return 0;
}

static const luaL_Reg pending_methods[] = {
  {"finish", l_pending_finish},
  {"cancel", l_pending_cancel},
  {NULL, NULL}
};

/* ---- header block parsing ------------------------------------------------------------------ */

void ig_push_headers(lua_State *L, const char *data, size_t len) {
  lua_newtable(L);
  int t = lua_gettop(L);
  size_t i = 0;
  while (i < len) {
    size_t start = i;
    while (i < len && data[i] != '\n') i++;
    size_t end = i; /* line is [start, end) */
    if (i < len) i++;
    if (end > start && data[end - 1] == '\r') end--;
    const char *colon = memchr(data + start, ':', end - start);
    if (!colon || colon == data + start) continue; /* status line, blank line or junk */
    size_t nlen = (size_t)(colon - (data + start));
    if (nlen > 256) continue;
    char name[257];
    for (size_t k = 0; k < nlen; k++) name[k] = (char)tolower((unsigned char)data[start + k]);
    size_t vs = (size_t)(colon - data) + 1, ve = end;
    while (vs < ve && (data[vs] == ' ' || data[vs] == '\t')) vs++;
    while (ve > vs && (data[ve - 1] == ' ' || data[ve - 1] == '\t')) ve--;
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (lua_isstring(L, -1)) { /* repeated header: join as HTTP allows */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, data + vs, ve - vs);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, data + vs, ve - vs);
    }
    lua_rawset(L, t);
  }
}

/* ---- lifetime ------------------------------------------------------------------------------ */

static int l_session_close(lua_State *L) {
  ig_session *s = check_session(L);
  if (s->busy) s->closing = 1; /* freed when the running transfer returns */
  else session_free(s);
  return 0;
}

static int l_session_is_open(lua_State *L) {
  ig_session *s = check_session(L);
  lua_pushboolean(L, s->easy != NULL && !s->closing);
  return 1;
}

static int l_session_tostring(lua_State *L) {
  ig_session *s = check_session(L);
  lua_pushfstring(L, "instagram.core.session (%s): %p", s->easy ? "open" : "closed", (void *)s);
  return 1;
}

static const luaL_Reg session_methods[] = {
  {"request", l_session_request},
  {"upload", l_session_upload},
  {"many", l_session_many},
  {"start", l_session_start},
  {"close", l_session_close},
  {"is_open", l_session_is_open},
  {NULL, NULL}
};

/* One named metatable per userdata, built once: methods in __index, gc (also __close when
 * given close), an optional __tostring, __name. */
static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                      int with_close, lua_CFunction tostring_fn) {
  if (luaL_newmetatable(L, name)) {
    if (methods) {
      lua_newtable(L);
      luaL_setfuncs(L, methods, 0);
      lua_setfield(L, -2, "__index");
    }
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    if (with_close) {
      lua_pushcfunction(L, gc);
      lua_setfield(L, -2, "__close");
    }
    if (tostring_fn) {
      lua_pushcfunction(L, tostring_fn);
      lua_setfield(L, -2, "__tostring");
    }
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
  }
}

void ig_session_open(lua_State *L) {
  new_class(L, IG_SESSION_MT, session_methods, l_session_close, 1, l_session_tostring);
  lua_pushliteral(L, "session metatable is protected");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  new_class(L, IG_PENDING_MT, pending_methods, l_pending_cancel, 0, NULL);
  lua_pop(L, 1);
  new_class(L, IG_MANY_MT, NULL, l_many_gc, 0, NULL);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_session_new);
  lua_setfield(L, -2, "session");
}
