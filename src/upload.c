/* upload.c: s:upload(url, headers, path [, offset [, progress [, stall_timeout]]])
 * POSTs the file's bytes from `offset` to its end, streamed from disk (never held in memory).
 * progress(sent, total): bytes of the file sent so far (counting the offset) and the file size;
 * returning false aborts, and so does s:close(). Without a total timeout: when no byte moves
 * either way for stall_timeout seconds (default: the session timeout) it fails as "timeout".
 * -> status, headers, body | nil, kind, message (kinds as request's, plus "file" and "aborted") */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "session.h"

typedef struct {
  FILE *f;
  lua_State *L;
  ig_session *s;
  int progress;        /* stack index of the progress function, 0 for none */
  curl_off_t base, total, last, last_up, last_down;
  double last_change;  /* monotonic seconds when bytes last moved either way */
  double stall;        /* seconds without any bytes moving that count as a stall */
  int aborted, closed, cb_error, read_error, stalled;
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
 * stack top and raised once libcurl has returned, a close() of the session stops it too. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  ig_upload *u = (ig_upload *)ud;
  (void)dltotal; (void)ultotal;
  if (u->s->closing) { u->closed = 1; return 1; }
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
  if (u->s->closing) { u->closed = 1; return 1; }
  if (stop) { u->aborted = 1; return 1; }
  return 0;
}

static int fail(lua_State *L, const char *kind, const char *message) {
  lua_pushnil(L);
  lua_pushstring(L, kind);
  lua_pushstring(L, message);
  return 3;
}

int ig_l_upload(lua_State *L) {
  ig_session *s = ig_check_open(L, 1);
  const char *url = ig_check_url(L, 2);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  size_t plen;
  const char *path = luaL_checklstring(L, 4, &plen);
  if (plen == 0 || strlen(path) != plen) return luaL_argerror(L, 4, "a file path without NUL bytes");
  lua_Number off = luaL_optnumber(L, 5, 0);
  if (!(off >= 0 && off <= 9.0e15) || off != (lua_Number)(long long)off)
    return luaL_argerror(L, 5, "offset must be a whole number of bytes, 0 or more");
  if (!lua_isnoneornil(L, 6)) luaL_checktype(L, 6, LUA_TFUNCTION);
  long stall_ms = lua_isnoneornil(L, 7) ? s->timeout_ms : ig_opt_ms(L, 7, "stall_timeout");
  lua_settop(L, 7);
  ig_call *c = ig_call_new(L, s->x.body.max); /* 8; the progress callback's results land above it */
  int pf = ig_call_ready(L, 8); /* 9 (made while c holds nothing: no file, no header list) */
  ig_build_headers(L, lua_istable(L, 3) ? 3 : 0, &c->headers);

  ig_upload u;
  memset(&u, 0, sizeof u);
  u.L = L;
  u.s = s;
  u.progress = lua_isfunction(L, 6) ? 6 : 0;
  u.base = (curl_off_t)off;
  u.last = -1;
  u.stall = (double)stall_ms / 1000.0;
  /* Never blocks: a FIFO or device is refused before it is read. */
  int err = ig_open_regular(path, &c->file);
  struct stat st;
  if (err > 0) { lua_pushfstring(L, "cannot open '%s' for reading", path); return fail(L, "file", lua_tostring(L, -1)); }
  if (err < 0 || fstat(fileno(c->file), &st) != 0) {
    lua_pushfstring(L, "'%s' is not a regular file", path);
    return fail(L, "file", lua_tostring(L, -1));
  }
  u.f = c->file;
  u.total = (curl_off_t)st.st_size;
  if (u.base > u.total || fseeko(u.f, (off_t)u.base, SEEK_SET) != 0) {
    lua_pushfstring(L, "the offset is past the end of '%s'", path);
    return fail(L, "file", lua_tostring(L, -1));
  }

  ig_session_enter(L, s);
  u.last_change = monotonic();
  ig_drop_stale_connections(s);
  s->prepared = 0; /* the upload's options must not leak into the next request */
  ig_setup_easy(s, s->easy, &s->x, url, c->headers, 0);
  CURL *e = s->easy;
  /* One long stream gains nothing from HTTP/2 multiplexing; HTTP/1.1 is what every upload
   * endpoint takes (and lets servers read the body as it arrives). */
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  s->x.no_replay = 1; /* libcurl cannot rewind the file stream anyway; say so plainly */
  curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(e, CURLOPT_READDATA, &u);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, u.total - u.base);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &u);
  c->running = 1;
  do c->rc = curl_easy_perform(e); /* (the progress callback runs Lua, under pcall: no error leaves it) */
  while (c->rc == CURLE_ABORTED_BY_CALLBACK && ig_stale_retry(&s->x));
  c->running = 0;
  ig_socks_note(&s->req_socks, e);
  if (c->rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
  /* Nothing of this call may stay behind in the handle: its callbacks point at this C frame. */
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, NULL);
  curl_easy_setopt(e, CURLOPT_READDATA, NULL);
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  fclose(c->file);
  c->file = u.f = NULL;
  ig_take_response(&s->x, &c->x);
  ig_session_leave(s);

  if (u.cb_error) return lua_error(L); /* the callback's own error, now safe to raise */
  if (u.closed) return fail(L, "aborted", "the session was closed during the upload");
  if (u.stalled) {
    lua_pushfstring(L, "upload stalled: no bytes moved for %d ms", (int)stall_ms);
    return fail(L, "timeout", lua_tostring(L, -1));
  }
  if (u.aborted) return fail(L, "aborted", "upload stopped by the progress callback");
  if (u.read_error) return fail(L, "file", "error reading the file");
  int n = ig_call_push(L, pf, c, NULL, NULL);
  ig_give_back(s, &c->x);
  return n;
}
