/* many.c: s:many(requests [, concurrency = 8]) -> results
 * requests: { { method =, url =, headers =, body =, timeout = }, ... }; results in the same order,
 * each { status = n, headers = {...}, body = "..." } or { error = kind, message = "..." }.
 * Runs up to `concurrency` transfers at once on one curl_multi handle (HTTP/2 multiplexing where
 * the server offers it); its connections stay open in the session for the next call.
 * The request tables are read raw (no __index runs) and every string libcurl will read is
 * anchored in a table of this call's own until the transfers end. */
#include <stdlib.h>
#include <string.h>
#include "session.h"

#define IG_MANY_MT "instagram.core.many"
#define IG_MAX_MANY 10000

typedef struct {
  ig_xfer x;
  struct curl_slist *headers;
  const char *method, *url, *body; /* Lua strings, anchored by this call's anchor table */
  size_t blen;
  long timeout_ms, status;
  CURLcode rc;
  CURL *easy;
} ig_many_item;

typedef struct {
  int n;       /* items read so far (what __gc frees, idempotently, and run() makes) */
  int total;   /* items of the call */
  int pushing; /* the answers are being pushed from items (1: about to, 2: under way): a __gc called
                * by hand frees nothing then */
  int pushed;  /* answers already in the results (their buffers freed): another try goes on from there */
  ig_many_item items[1];
} ig_many;

static void many_free(void *ud) {
  ig_many *m = (ig_many *)ud;
  for (int i = 0; i < m->n; i++) {
    curl_slist_free_all(m->items[i].headers);
    m->items[i].headers = NULL;
    ig_buf_free(&m->items[i].x.body);
    ig_buf_free(&m->items[i].x.head);
  }
}

/* The scratch userdata's __gc: whatever a raise or a normal return leaves behind. */
static int l_many_gc(lua_State *L) {
  ig_many *m = (ig_many *)luaL_checkudata(L, 1, IG_MANY_MT);
  size_t size = ig_rawlen(L, 1); /* (not one, the debug library setting the metatable: left alone) */
  if (size < sizeof *m || m->total < 1 || m->n < 0 || m->n > m->total ||
      size != sizeof *m + (size_t)(m->total - 1) * sizeof m->items[0]) return 0;
  if (!m->pushing) many_free(m);
  return 0;
}

void ig_many_open(lua_State *L) {
  ig_new_class(L, IG_MANY_MT, NULL, l_many_gc, 0, NULL);
  lua_pop(L, 1);
}

/* t[key] read raw, left on the stack top. */
static int raw_field(lua_State *L, int t, const char *key) {
  lua_pushstring(L, key);
  lua_rawget(L, t);
  return lua_type(L, -1);
}

/* A string field, anchored in the table at `anchors` under slot; NULL when absent and optional. */
static const char *field_string(lua_State *L, int t, const char *key, size_t *len, int i, int required,
                                int anchors, int slot) {
  int type = raw_field(L, t, key);
  if (type == LUA_TNIL && !required) { lua_pop(L, 1); return NULL; }
  if (type != LUA_TSTRING) luaL_error(L, "request %d: '%s' must be a string", i, key);
  const char *v = lua_tolstring(L, -1, len);
  lua_rawseti(L, anchors, slot); /* pops it; alive until this call returns */
  return v;
}

/* Reads request i (1-based) into it; raises on bad input (the scratch frees what was built). */
static void read_request(lua_State *L, ig_session *s, ig_many_item *it, int i, int anchors) {
  lua_rawgeti(L, 2, i);
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) luaL_error(L, "request %d must be a table { method, url, headers, body }", i);
  size_t mlen, ulen;
  it->method = field_string(L, t, "method", &mlen, i, 1, anchors, 3 * i - 2);
  if (!ig_valid_method(it->method, mlen)) luaL_error(L, "request %d: bad method", i);
  it->url = field_string(L, t, "url", &ulen, i, 1, anchors, 3 * i - 1);
  if (!ig_valid_url(it->url, ulen))
    luaL_error(L, "request %d: bad url (an http(s) URL without spaces or control bytes, at most 64 KiB)", i);
  it->body = field_string(L, t, "body", &it->blen, i, 0, anchors, 3 * i);
  if (raw_field(L, t, "timeout") == LUA_TNIL) it->timeout_ms = s->timeout_ms;
  else it->timeout_ms = ig_opt_ms(L, lua_gettop(L), "timeout");
  lua_pop(L, 1);
  int ht = raw_field(L, t, "headers");
  if (ht != LUA_TNIL && ht != LUA_TTABLE) luaL_error(L, "request %d: headers must be a table", i);
  ig_build_headers(L, ht == LUA_TTABLE ? lua_gettop(L) : 0, &it->headers);
  lua_settop(L, t - 1);
}

/* libcurl's handles for many(): made on first use, after enter (a failure leaves first). */
static const char *ensure_handles(ig_session *s, int conc) {
  if (!s->multi) {
    s->multi = curl_multi_init();
    if (!s->multi) return "curl_multi_init failed (out of memory?)";
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  }
  if (s->pool_size < conc) {
    CURL **pool = realloc(s->pool, (size_t)conc * sizeof(CURL *));
    if (!pool) return "out of memory";
    s->pool = pool;
    while (s->pool_size < conc) {
      CURL *e = curl_easy_init();
      if (!e) return "curl_easy_init failed (out of memory?)";
      s->pool[s->pool_size++] = e;
    }
  }
  return NULL;
}

/* Runs the transfers; the session is busy throughout and no Lua runs. */
static void run(ig_session *s, ig_many *m, int conc) {
  int n = m->n;
  CURL *idle[IG_MAX_CONCURRENCY];
  int nidle = 0;
  for (int i = 0; i < conc; i++) idle[nidle++] = s->pool[i];
  int next = 0, done = 0, running = 0;
  /* A transfer added while others run may take up, inside curl_multi_perform, a connection one of
   * them freed with bytes past its answer: it is looked at when sent, or (TLS through another
   * OpenSSL than the linked one) connects afresh once one transfer of the batch is done. */
  CURLMcode mc = CURLM_OK;
  while (done < n && mc == CURLM_OK) {
    while (nidle > 0 && next < n) {
      ig_many_item *it = &m->items[next++];
      CURL *e = idle[--nidle];
      it->easy = e;
      ig_setup_easy(s, e, &it->x, it->url, it->headers, it->timeout_ms);
      it->x.in_batch = 1;
      ig_set_method(e, &it->x, it->method, it->body, it->blen);
      /* Wait for HTTP/2 multiplexing on an existing connection rather than open another;
       * over HTTP/1.1 that would serialise the transfers, so only then (and only over TLS, the only
       * way to HTTP/2 here). */
      if (s->http2 != IG_HTTP2_NEVER && it->x.tls) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
      if (done > 0 && !ig_looked_at_when_sent(&it->x)) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
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
      if (it->rc == CURLE_ABORTED_BY_CALLBACK && ig_stale_retry(&it->x)) { /* again, on another connection */
        curl_multi_remove_handle(s->multi, e);
        if (curl_multi_add_handle(s->multi, e) == CURLM_OK) continue;
        it->rc = CURLE_FAILED_INIT;
      }
      ig_socks_note(&s->many_socks, e); /* (before the removal, which forgets it) */
      if (it->rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &it->status);
      curl_multi_remove_handle(s->multi, e);
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
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
      if (it->easy) {
        curl_multi_remove_handle(s->multi, it->easy);
        curl_easy_setopt(it->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(it->easy, CURLOPT_POSTFIELDS, NULL);
        it->easy = NULL;
        it->rc = CURLE_SEND_ERROR;
      } else if (i >= next) it->rc = CURLE_SEND_ERROR;
    }
  }
}

/* (results): each answer into results as a table, its buffers freed once it is there; the scratch
 * is the closure's upvalue. () -> nothing. */
static int push_answers(lua_State *L) {
  ig_many *m = (ig_many *)lua_touserdata(L, lua_upvalueindex(1));
  if (lua_gettop(L) == 0) return 0; /* (ig_pusher_ready's probe) */
  if (m->pushing != 1) return luaL_error(L, "no answers to push"); /* (nor twice at once: it frees) */
  luaL_checktype(L, 1, LUA_TTABLE);
  m->pushing = 2; /* (still busy for __gc) */
  for (int i = m->pushed; i < m->total; i++) {
    ig_many_item *it = &m->items[i];
    luaL_checkstack(L, 5, "too many nested calls");
    lua_createtable(L, 0, 3);
    ig_push_result(L, it->status, &it->x, it->rc, NULL); /* status, headers, body | nil, kind, message */
    if (lua_isnil(L, -3)) {
      lua_setfield(L, -4, "message");
      lua_setfield(L, -3, "error");
      lua_pop(L, 1);
    } else {
      lua_setfield(L, -4, "body");
      lua_setfield(L, -3, "headers");
      lua_setfield(L, -2, "status");
    }
    lua_rawseti(L, 1, i + 1);
    m->pushed = i + 1;
    ig_buf_free(&it->x.body);
    ig_buf_free(&it->x.head);
  }
  return 0;
}

int ig_l_many(lua_State *L) {
  ig_session *s = ig_check_open(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer conc = luaL_optinteger(L, 3, 8);
  if (conc < 1 || conc > IG_MAX_CONCURRENCY) return luaL_argerror(L, 3, "concurrency must be 1 to 64");
  size_t len = ig_rawlen(L, 2);
  if (len > IG_MAX_MANY) return luaL_argerror(L, 2, "at most 10000 requests per call");
  int n = (int)len;
  lua_settop(L, 3);
  lua_newtable(L); /* 4: results */
  if (n == 0) return 1;
  size_t size = sizeof(ig_many) + (size_t)(n - 1) * sizeof(ig_many_item);
  ig_many *m = (ig_many *)lua_newuserdata(L, size); /* 5 */
  memset(m, 0, size);
  m->total = n;
  luaL_setmetatable(L, IG_MANY_MT);
  lua_createtable(L, 3 * n, 0); /* 6: anchors */
  int pf = ig_pusher_ready(L, push_answers, 5); /* 7 (made while m holds nothing) */
  for (int i = 0; i < n; i++) {
    ig_many_item *it = &m->items[i];
    it->x.body.max = s->x.body.max;
    it->x.head.max = IG_MAX_HEADER_BLOCK;
    m->n = i + 1;
    read_request(L, s, it, i + 1, 6);
  }

  ig_session_enter(L, s);
  if (ig_socks_stale(&s->many_socks) && s->multi) { curl_multi_cleanup(s->multi); s->multi = NULL; } /* closes its connections */
  const char *why = ensure_handles(s, (int)conc);
  if (why) { ig_session_leave(s); return luaL_error(L, "%s", why); }
  run(s, m, (int)conc);
  ig_session_leave(s);

  lua_pushvalue(L, 4);
  ig_pcall_busy(L, pf, 1, &m->pushing, many_free, m);
  lua_settop(L, 4); /* the scratch and anchors go; the scratch's __gc frees the header lists */
  return 1;
}
