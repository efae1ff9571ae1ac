/* session.c: one HTTP(S) session = one libcurl easy handle, reused so connections stay open.
 *
 *   local s = core.session{ timeout = 30, connect_timeout = 10, ca_file = nil, http2 = true,
 *                           user_agent = nil, max_body = 64 MiB }
 *   local status, headers, body = s:request(method, url [, headers [, body [, timeout]]])
 *   -- or nil, kind, message  (kind: timeout | connect | tls | network | size | invalid)
 *   s:upload(...), s:many(...), s:start(...)   -- upload.c, many.c, pending.c
 *   s:close()   -- also __gc and (5.4) __close; idempotent
 *
 * This file holds the session's options and its lifetime: the busy/closing rules every entry
 * point goes through (see session.h). Misuse raises a Lua error; no Lua error is ever raised while
 * libcurl is running: callbacks only fill C buffers.
 */
#include <stdlib.h>
#include <string.h>
#include "session.h"

/***
 * @module instagram.core
 */

void ig_session_free(ig_session *s) {
  if (s->active) ig_pending_stop(s->active);
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

ig_session *ig_check_session(lua_State *L, int idx) {
  return (ig_session *)luaL_checkudata(L, idx, IG_SESSION_MT);
}

static const char *unusable(const ig_session *s) {
  if (!s->easy || s->closing) return "session is closed";
  if (s->busy) return "session is busy: one request at a time per session";
  return NULL;
}

ig_session *ig_check_open(lua_State *L, int idx) {
  ig_session *s = ig_check_session(L, idx);
  const char *why = unusable(s);
  if (why) luaL_error(L, "%s", why);
  return s;
}

/* The check that counts: after every allocation of the call's set-up, with none between it and
 * the transfer. luaL_error's message is a literal, so raising here allocates nothing of ours. */
void ig_session_enter(lua_State *L, ig_session *s) {
  const char *why = unusable(s);
  if (why) luaL_error(L, "%s", why);
  s->busy = 1;
}

void ig_session_leave(ig_session *s) {
  s->busy = 0;
  if (s->closing) ig_session_free(s);
}

/* ---- options ------------------------------------------------------------------------------- */

long ig_opt_ms(lua_State *L, int idx, const char *name) {
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
  if (strcmp(key, "timeout") == 0) s->timeout_ms = ig_opt_ms(L, vidx, key);
  else if (strcmp(key, "connect_timeout") == 0) s->connect_timeout_ms = ig_opt_ms(L, vidx, key);
  else if (strcmp(key, "ca_file") == 0) {
    char *path = opt_strdup(L, vidx, key);
    FILE *f = NULL;
    int err = ig_open_regular(path, &f); /* a FIFO or a device would block libcurl's read forever */
    if (err) {
      free(path);
      luaL_error(L, "option 'ca_file': cannot read '%s' (%s)", lua_tostring(L, vidx),
                 err < 0 ? "not a regular file" : "cannot open it");
    }
    fclose(f);
    free(s->ca_file);
    s->ca_file = path;
  } else if (strcmp(key, "user_agent") == 0) {
    char *ua = opt_strdup(L, vidx, key);
    for (const char *p = ua; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) {
        free(ua);
        luaL_error(L, "option 'user_agent' must not contain control characters");
      }
    free(s->user_agent);
    s->user_agent = ua;
  } else if (strcmp(key, "http2") == 0) {
    if (lua_type(L, vidx) == LUA_TBOOLEAN) s->http2 = lua_toboolean(L, vidx) ? IG_HTTP2_CONCURRENT : IG_HTTP2_NEVER;
    else if (lua_type(L, vidx) == LUA_TSTRING && strcmp(lua_tostring(L, vidx), "always") == 0) s->http2 = IG_HTTP2_ALWAYS;
    else luaL_error(L, "option 'http2' must be true, false or \"always\"");
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

/***
 * Makes an HTTP(S) session: one libcurl handle whose connections stay open between calls. TLS
 * peer and host verification is always on.
 * @function session
 * @tparam[opt] table opts the options:
 * @tparam[opt=30] number opts.timeout seconds per request (more than 0, at most 86400)
 * @tparam[opt=10] number opts.connect_timeout seconds to connect (more than 0, at most 86400)
 * @tparam[opt] string opts.ca_file a CA bundle to trust besides the system's (a readable regular file)
 * @tparam[opt] string opts.user_agent the `User-Agent` (default `instagram-graph-lua/<version>`); no
 *   control characters, at most 4096 bytes
 * @tparam[opt=true] boolean|string opts.http2 where HTTP/2 is used (when the server offers it):
 *   `true` for the requests that run at once (@{Session:many}: one connection, multiplexed) and
 *   HTTP/1.1 for one request at a time (request, upload, start: less work per call on both ends,
 *   measured by `make bench`); `"always"` for every request; `false` for none
 * @tparam[opt=67108864] integer opts.max_body the largest answer body, bytes (1 to 4 GiB)
 * @treturn Session the session
 * @raise when `opts` is not a table, for an unknown option (or a key that is not a string), a wrong
 *   type, a value out of range, an unreadable `ca_file`
 * @usage local s = core.session{ timeout = 10, http2 = false }
 */
static int l_session_new(lua_State *L) {
  int has_opts = !lua_isnoneornil(L, 1);
  if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
  ig_session *s = (ig_session *)lua_newuserdata(L, sizeof *s);
  memset(s, 0, sizeof *s);
  s->timeout_ms = 30000;
  s->connect_timeout_ms = 10000;
  s->http2 = IG_HTTP2_CONCURRENT;
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

/* ---- lifetime ------------------------------------------------------------------------------ */

static int l_session_close(lua_State *L) {
  ig_session *s = ig_check_session(L, 1);
  if (s->busy) s->closing = 1; /* freed when the running transfer returns (ig_session_leave) */
  else ig_session_free(s);
  return 0;
}

static int l_session_is_open(lua_State *L) {
  ig_session *s = ig_check_session(L, 1);
  lua_pushboolean(L, s->easy != NULL && !s->closing);
  return 1;
}

static int l_session_tostring(lua_State *L) {
  ig_session *s = ig_check_session(L, 1);
  lua_pushfstring(L, "instagram.core.session (%s): %p", s->easy && !s->closing ? "open" : "closed", (void *)s);
  return 1;
}

/***
 * An HTTP(S) session, made by @{session}. One transfer at a time: a call while another runs (from a
 * callback, another coroutine) raises. Closed by @{Session:close}, by garbage collection, and on Lua
 * 5.4 by a `<close>` variable; `tostring(s)` says whether it is open.
 * @type Session
 */

/***
 * Sends one request and reads the whole answer (implemented in request.c).
 * @function Session:request
 * @tparam string method an upper-case HTTP method (1 to 16 letters)
 * @tparam string url an `http://` or `https://` URL of at most 64 KiB, without spaces or control bytes
 * @tparam[opt] table headers `{ name = value }`: HTTP token names of at most 256 bytes, string or number
 *   values without CR, LF or NUL (at most 16 KiB); `Content-Length` and `Transfer-Encoding` raise
 * @tparam[opt] string body the request body
 * @tparam[opt] number timeout seconds for this request (default the session's)
 * @tparam[opt] table decode decode the body as JSON in the core (options as @{json_decode}'s): the
 *   results are then `status, headers, body, value, why`, `body` being nil for a 2xx answer that
 *   decoded (see the libcurl transport's `req.decode`)
 * @tparam[opt] {string,...} want the lower-case names of the only headers to put in `headers` (at
 *   most 16, each 1 to 256 bytes; read raw before anything is sent): a caller that reads a few makes
 *   no strings of the others
 * @treturn[1] integer status the HTTP status
 * @treturn[1] table headers `{ [lower-case name] = value }` (a repeated name's values joined with `", "`)
 * @treturn[1] string body the body (decompressed)
 * @treturn[2] nil
 * @treturn[2] string reason `timeout`, `connect` (nothing was sent), `tls`, `network` (the request may
 *   have left; also when libcurl would have re-sent it on another connection, which is refused, and
 *   for an answer libcurl would guess at: a 101, a Content-Length that is not one decimal number or
 *   two that differ), `size` (a body over `max_body`, headers over 256 KiB, 1xx answers counted),
 *   `invalid`
 * @treturn[2] string message libcurl's words
 * @raise for a bad method, URL, header, timeout, decode options or want list, a closed session, or
 *   one that is busy
 *
 * Chunked trailers are read but not kept. No request goes on a kept-alive HTTP/1.x connection while
 * bytes wait on one of the session's (what a server wrote after its last answer would be read as
 * this one's): the handle is made anew, closing its connections, and the request goes on a fresh
 * one (the same for start and many); nor on a TLS connection whose OpenSSL holds bytes past the
 * last answer (refused before a byte leaves, then tried again on another, up to 3 times; then
 * `connect`). Bytes a server times to arrive once a request is on the wire read as its answer:
 * HTTP/1.1 answers carry no tag, and such a server may answer anything anyway.
 * @usage local status, headers, body = s:request("POST", url, { ["Content-Type"] = "application/json" }, "{}")
 */

/***
 * Streams a file as the body of a POST, from `offset` to its end, never held in memory (upload.c).
 * There is no total timeout: the upload fails as `timeout` when no byte moves either way for
 * `stall_timeout` seconds. A @{Session:close} from the progress callback stops it (`aborted`).
 * @function Session:upload
 * @tparam string url the URL
 * @tparam ?table headers more headers (as for @{Session:request})
 * @tparam string path the file (a regular file)
 * @tparam[opt=0] integer offset where in the file to start (a whole number of bytes)
 * @tparam[opt] function progress `progress(sent, total)`: bytes of the file sent so far (the offset
 *   counted) and its size; returning false aborts
 * @tparam[opt] number stall_timeout seconds without progress (default the session's timeout)
 * @treturn[1] integer status the HTTP status
 * @treturn[1] table headers `{ [lower-case name] = value }` (a repeated name's values joined with `", "`)
 * @treturn[1] string body the body (decompressed)
 * @treturn[2] nil
 * @treturn[2] string reason `timeout`, `connect` (nothing was sent), `tls`, `network` (the request may
 *   have left; also when libcurl would have re-sent it on another connection, which is refused),
 *   `size` (a body over `max_body`, headers over 256 KiB), `invalid`
 * @treturn[2] string message libcurl's words
 *   (plus `file`: the file cannot be read; `aborted`: stopped by the progress callback or a close)
 * @raise for a bad URL, headers, path or offset, a progress that is not a function, a closed or busy
 *   session
 * @usage local status, headers, body = s:upload(url, { offset = "0", file_size = tostring(size) }, "/tmp/clip.mp4", 0,
 *   function(sent, total) io.write(sent, "/", total, "\r") end)
 */

/***
 * Sends many requests at once on one curl_multi handle (HTTP/2 multiplexing where the server
 * offers it); its connections stay open for the next call (many.c).
 * @function Session:many
 * @tparam {table,...} requests at most 10000, each `{ method = ..., url = ..., headers = ..., body = ...,
 *   timeout = ... }` (read raw: no `__index` runs)
 * @tparam[opt=8] integer concurrency transfers at a time, 1 to 64
 * @treturn table the results in order: `{ status = n, headers = {...}, body = "..." }`, or
 *   `{ error = reason, message = "..." }` (reasons as @{Session:request}'s)
 * @raise when `requests` is not a table or a request is malformed (none is sent), for a bad
 *   concurrency, a closed or busy session
 * @usage local results = s:many({ { method = "GET", url = u1 }, { method = "GET", url = u2 } }, 2)
 */

/***
 * Starts a request now and returns at once; the server answers while Lua does other work
 * (pending.c). One started request per session at a time, on a handle of its own.
 * @function Session:start
 * @tparam string method as for @{Session:request}
 * @tparam string url
 * @tparam[opt] table headers
 * @tparam[opt] string body
 * @tparam[opt] number timeout
 * @treturn Pending the started request
 * @raise as @{Session:request}; also while another started request is neither finished nor cancelled
 * @usage local p = s:start("GET", url)
 * -- ... other work ...
 * local status, headers, body = p:finish()
 */

/***
 * Closes the session and its connections; idempotent. A close during a transfer (from a callback)
 * takes effect when the transfer returns.
 * @function Session:close
 * @treturn nil nothing
 * @raise when `s` is not a session
 * @usage s:close()
 */

/***
 * Is the session open?
 * @function Session:is_open
 * @treturn boolean false once closed
 * @raise when `s` is not a session
 * @usage if s:is_open() then s:close() end
 */

static const luaL_Reg session_methods[] = {
  {"request", ig_l_request},
  {"upload", ig_l_upload},
  {"many", ig_l_many},
  {"start", ig_l_start},
  {"close", l_session_close},
  {"is_open", l_session_is_open},
  {NULL, NULL}
};

/* One named metatable per userdata, built once: methods in __index, gc (also __close when
 * given close), an optional __tostring, __name; the metatable is protected. */
void ig_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
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
    const char *dot = strrchr(name, '.'); /* "instagram.core.session" -> "session metatable is protected" */
    lua_pushfstring(L, "%s metatable is protected", dot ? dot + 1 : name);
    lua_setfield(L, -2, "__metatable");
  }
}

void ig_session_open(lua_State *L) {
  ig_new_class(L, IG_SESSION_MT, session_methods, l_session_close, 1, l_session_tostring);
  lua_pop(L, 1);
  ig_transfer_open(L);
  ig_pending_open(L);
  ig_many_open(L);
  lua_pushcfunction(L, l_session_new);
  lua_setfield(L, -2, "session");
}
