/* request.c: s:request(method, url [, headers [, body [, timeout [, decode [, want]]]]])
 *   -> status, headers, body | nil, kind, message
 *   (with decode: status, headers, body|nil, value|nil, message|nil, see ig_push_decoded;
 *   with want, a list of lower-case header names: only those headers) 
 * The session's easy handle keeps its standing options between calls; only what varies is set. */
#include <string.h>
#include "session.h"

/* request()'s fast path: the standing options are set once, then only what varies per call. */
static void setup_request(ig_session *s, const char *url, struct curl_slist *headers, long timeout_ms) {
  if (!s->prepared) {
    ig_setup_easy(s, s->easy, &s->x, url, headers, timeout_ms);
    s->prepared = 1;
    return;
  }
  CURL *e = s->easy;
  ig_xfer_start(&s->x);
  s->x.stale_tries = 0;
  s->x.tls = ig_url_is_tls(url); /* (the pre-request look at a reused TLS connection needs it) */
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms < timeout_ms ? s->connect_timeout_ms : timeout_ms);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}

/* The arguments request() and start() share: (self, method, url [, headers [, body [, timeout]]]).
 * The strings stay on the caller's stack, so they live as long as the call; the caller sets the
 * stack's top after. */
void ig_check_request_args(lua_State *L, ig_session *s, ig_args *a) {
  size_t mlen;
  a->blen = 0;
  a->method = luaL_checklstring(L, 2, &mlen);
  a->url = ig_check_url(L, 3);
  if (!ig_valid_method(a->method, mlen))
    luaL_error(L, "bad method: an upper-case HTTP method such as GET or POST");
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  a->body = luaL_optlstring(L, 5, NULL, &a->blen);
  a->timeout_ms = lua_isnoneornil(L, 6) ? s->timeout_ms : ig_opt_ms(L, 6, "timeout");
}

/* The decoding options, 7th argument of request(): checked before anything is sent; their
 * tables are pushed (9, 10), so what the options table holds later does not matter. */
static void check_decode_arg(lua_State *L, ig_json_opts *o) {
  if (!lua_isnoneornil(L, 7)) luaL_checktype(L, 7, LUA_TTABLE);
  ig_json_check_opts(L, lua_isnil(L, 7) ? 0 : 7, "decode", o); /* 9, 10 */
}

int ig_l_request(lua_State *L) {
  ig_session *s = ig_check_open(L, 1);
  ig_args a;
  ig_json_opts o;
  ig_want w;
  int decode = !lua_isnoneornil(L, 7);
  ig_check_request_args(L, s, &a);                              /* 1..6 */
  lua_settop(L, 8);
  check_decode_arg(L, &o);                                      /* 7; 9, 10 */
  ig_check_want(L, 8, "want", &w);                              /* 8; the names pushed */
  ig_call *c = ig_call_new(L, s->x.body.max);
  int ci = lua_gettop(L);
  int pf = ig_call_ready(L, ci);                                /* (its function, while c holds nothing) */
  ig_build_headers(L, lua_istable(L, 4) ? 4 : 0, &c->headers);  /* may run finalizers, may raise */
  ig_session_enter(L, s);                                       /* no allocation from here ... */
  ig_drop_stale_connections(s);
  setup_request(s, a.url, c->headers, a.timeout_ms);
  ig_set_method(s->easy, &s->x, a.method, a.body, a.blen);
  do c->rc = curl_easy_perform(s->easy);
  while (c->rc == CURLE_ABORTED_BY_CALLBACK && ig_stale_retry(&s->x));
  ig_socks_note(&s->req_socks, s->easy);
  if (c->rc == CURLE_OK) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &c->status);
  curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  ig_take_response(&s->x, &c->x);
  ig_session_leave(s);                                          /* ... to here */
  int n = ig_call_push(L, pf, c, decode ? &o : NULL, &w);
  ig_give_back(s, &c->x);
  ig_call_spare(L, ci, c);
  return n;
}
