/* pending.c: one request started now, finished later (the pager's prefetch).
 *   local p = s:start(method, url [, headers [, body [, timeout]]])
 *   p:finish() -> status, headers, body | nil, kind, message
 *   p:cancel()  -- drops it; idempotent (also what collecting it does)
 * The request goes onto the wire at start(); while Lua does other work the server is already
 * answering. One started request per session at a time, on a handle of its own. */
#include <string.h>
#include "session.h"

/***
 * @module instagram.core
 */

#define IG_PENDING_MT "instagram.core.pending"

struct ig_pending {
  ig_session *s;               /* NULL once finished, cancelled, or its session closed */
  struct curl_slist *headers;
  ig_xfer x;
  CURLcode rc;
  long status;
  int done;
  int pushing; /* finish() pushes the answer from x: a __gc called by hand frees nothing then */
};

/* Takes the transfer out of the session's async handle; never raises, never allocates. Its
 * connection is noted first, for the look before the next start (a transfer start() drove to its
 * end and cancel() or __gc then dropped leaves its connection in the handle's cache all the same). */
void ig_pending_stop(ig_pending *p) {
  ig_session *s = p->s;
  if (s) {
    ig_socks_note(&s->async_socks, s->async_easy); /* (before the removal, which forgets it) */
    curl_multi_remove_handle(s->async_multi, s->async_easy);
    curl_easy_setopt(s->async_easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(s->async_easy, CURLOPT_POSTFIELDS, NULL);
    s->active = NULL;
    p->s = NULL;
  }
  curl_slist_free_all(p->headers);
  p->headers = NULL;
}

int ig_l_start(lua_State *L) {
  ig_session *s = ig_check_open(L, 1);
  ig_args a;
  ig_check_request_args(L, s, &a);
  lua_settop(L, 6);
  if (s->active) return luaL_error(L, "one started request per session: finish or cancel the last one first");
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
  ig_build_headers(L, lua_istable(L, 4) ? 4 : 0, &p->headers); /* may raise: __gc frees the list */
  /* Finalizers may have run during the allocations above: look again, allocating nothing
   * between this check and the request becoming the session's active one. */
  ig_session_enter(L, s);
  ig_session_leave(s);
  if (s->active) return luaL_error(L, "one started request per session: finish or cancel the last one first");
  if (ig_socks_stale(&s->async_socks) && s->async_multi) { /* closes its connections */
    curl_multi_cleanup(s->async_multi);
    s->async_multi = NULL;
  }
  if (!s->async_multi) s->async_multi = curl_multi_init();
  if (!s->async_easy) s->async_easy = curl_easy_init();
  if (!s->async_multi || !s->async_easy) return luaL_error(L, "libcurl could not make a handle (out of memory?)");
  ig_setup_easy(s, s->async_easy, &p->x, a.url, p->headers, a.timeout_ms);
  ig_set_method(s->async_easy, &p->x, a.method, a.body, a.blen);
  /* libcurl keeps its own copy of the body: the transfer outlives this call, and nothing Lua can do
   * to the anchors below (debug.setuservalue) may leave it reading a collected string */
  if (a.body) curl_easy_setopt(s->async_easy, CURLOPT_COPYPOSTFIELDS, a.body);
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

static ig_pending *check_pending(lua_State *L) {
  ig_pending *p = (ig_pending *)luaL_checkudata(L, 1, IG_PENDING_MT);
  if (ig_rawlen(L, 1) != sizeof *p) luaL_argerror(L, 1, "not a started request"); /* (the debug library can set any metatable) */
  return p;
}

/***
 * A request started by @{Session:start}. Collecting it cancels it.
 * @type Pending
 */

/***
 * Waits for the started request and returns its answer, as @{Session:request} would (the wait runs
 * no Lua).
 * @function Pending:finish
 * @treturn[1] integer status the HTTP status
 * @treturn[1] table headers `{ [lower-case name] = value }` (a repeated name's values joined with `", "`)
 * @treturn[1] string body the body (decompressed)
 * @treturn[2] nil
 * @treturn[2] string reason `timeout`, `connect` (nothing was sent), `tls`, `network` (the request may
 *   have left; also when libcurl would have re-sent it on another connection, which is refused),
 *   `size` (a body over `max_body`, headers over 256 KiB), `invalid`
 * @treturn[2] string message libcurl's words
 * @raise when it was already finished, or cancelled, or its session was closed
 * @usage local status, headers, body = p:finish()
 */

static void free_answer(void *ud) {
  ig_pending *p = (ig_pending *)ud;
  ig_buf_free(&p->x.body);
  ig_buf_free(&p->x.head);
}

static int push_answer(lua_State *L) { /* (anything) -> status, headers, body | nil, kind, message; () -> nothing */
  ig_pending *p = (ig_pending *)lua_touserdata(L, lua_upvalueindex(1));
  if (lua_gettop(L) == 0) return 0; /* (ig_pusher_ready's probe) */
  if (!p->pushing) return luaL_error(L, "no answer to push");
  return ig_push_result(L, p->status, &p->x, p->rc, NULL);
}

/* pending:finish() -> status, headers, body | nil, kind, message
 * The wait runs no Lua. Once done, the buffers are this object's alone: a cancel() from a
 * finalizer while the results are pushed leaves them be (the object's __gc frees them). */
static int l_pending_finish(lua_State *L) {
  ig_pending *p = check_pending(L);
  int pf = ig_pusher_ready(L, push_answer, 1); /* (may run a finalizer, which may cancel: before the checks) */
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
        if (p->rc == CURLE_ABORTED_BY_CALLBACK && ig_stale_retry(&p->x)) { /* again, on another connection */
          curl_multi_remove_handle(s->async_multi, s->async_easy);
          if (curl_multi_add_handle(s->async_multi, s->async_easy) == CURLM_OK) continue;
          p->rc = CURLE_FAILED_INIT;
        }
        if (p->rc == CURLE_OK) curl_easy_getinfo(s->async_easy, CURLINFO_RESPONSE_CODE, &p->status);
        finished = 1;
      }
    }
    if (!finished && mc == CURLM_OK) mc = curl_multi_poll(s->async_multi, NULL, 0, 1000, NULL);
  }
  if (!finished) p->rc = CURLE_SEND_ERROR;
  ig_pending_stop(p);
  p->done = 1;
  lua_settop(L, pf);
  lua_pushvalue(L, 1);
  int n = ig_pcall_busy(L, pf, 1, &p->pushing, free_answer, p);
  free_answer(p);
  return n;
}

/* pending:cancel(): drops the request; idempotent. */
/***
 * Drops the started request; idempotent.
 * @function Pending:cancel
 * @treturn nil nothing
 * @raise when `p` is not a started request
 * @usage p:cancel()
 */
static int l_pending_cancel(lua_State *L) {
  ig_pending *p = check_pending(L);
  ig_pending_stop(p);
  if (!p->done) { /* finished: finish() owns the buffers until it returns */
    ig_buf_free(&p->x.body);
    ig_buf_free(&p->x.head);
  }
  return 0;
}

/* __gc: from the collector nothing can be using the object any more; called by hand (the debug
 * library) while finish() pushes the answer, it leaves the buffers to finish(). */
static int l_pending_gc(lua_State *L) {
  ig_pending *p = check_pending(L);
  ig_pending_stop(p);
  if (!p->pushing) free_answer(p);
  return 0;
}

static const luaL_Reg pending_methods[] = {
  {"finish", l_pending_finish},
  {"cancel", l_pending_cancel},
  {NULL, NULL}
};

void ig_pending_open(lua_State *L) {
  ig_new_class(L, IG_PENDING_MT, pending_methods, l_pending_gc, 0, NULL);
  lua_pop(L, 1);
}
