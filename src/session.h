/* session.h: what the session's files share (session.c, transfer.c, request.c, upload.c, many.c,
 * pending.c). Internal.
 *
 * The lifetime rule, in one place (session.c): any Lua allocation can run a finalizer, and a
 * finalizer can close the session, call it again, or (LuaJIT, Lua 5.1) raise straight through the
 * C function that allocated. So an entry point
 *   1. checks its arguments and builds what it needs with the Lua API, keeping every C resource in
 *      a scratch userdata (ig_call) whose __gc frees it, never in a C local;
 *   2. calls ig_session_enter(), which checks again that the session is open and idle and marks it
 *      busy; between enter and leave no Lua API call allocates (libcurl runs; the upload's
 *      progress callback runs under lua_pcall and a close() it asks for stops the upload);
 *   3. calls ig_session_leave() after moving the response into the scratch userdata, and only
 *      then pushes results: a finalizer that closes or reuses the session while they are pushed
 *      finds it idle, and the bytes being pushed are not the session's.
 */
#ifndef IG_SESSION_H
#define IG_SESSION_H

#include <stdio.h>
#include <curl/curl.h>
#include <strings.h>
#include "core.h"

#define IG_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define IG_MAX_HEADER_BLOCK ((size_t)256 << 10)
#define IG_MAX_URL ((size_t)64 << 10)
#define IG_CALL_MT "instagram.core.call"

/* The sockets libcurl opened for a session's connections (its opensocket and closesocket callbacks
 * keep the list), each with its local and remote ports once connected: what the pre-request look
 * needs to find a reused connection's socket, which libcurl 7.88 does not name then, nor lets
 * OpenSSL hold (its own BIO: SSL_get_fd is -1). */
#define IG_MAX_TRACKED 512 /* (many's cache keeps up to 4 x 64 connections; request and start a few) */
typedef struct {
  struct { curl_socket_t fd; int lport, rport; } s[IG_MAX_TRACKED]; /* ports: 0 until known */
  int n; /* (one past the room is not kept: a batch transfer whose socket is not found is refused) */
} ig_sockets;

/* What one transfer collects: body, header block, libcurl's error text. */
typedef struct {
  ig_buf body, head;
  char errbuf[CURL_ERROR_SIZE];
  int attempts;   /* requests libcurl began for this transfer (it retries on a dead reused connection) */
  int no_replay;  /* a method the server may act on twice: a second attempt is refused */
  /* reading the header blocks (on_header): where it is, the block's status code and
   * Content-Length (-1: none yet), the bytes of every block so far, and why the answer was
   * refused (a static string; NULL: it was not) */
  int head_state;
  int head_status;
  long long head_length;
  size_t head_seen;
  const char *bad;
  CURL *easy;      /* the handle the transfer runs on (for the pre-request look at its connection) */
  ig_sockets *sockets; /* its session's sockets (ditto) */
  int in_batch;    /* a transfer of get_many: no look at the socket sets came just before it */
  int tls;         /* its URL is https (no redirect is followed: so is the connection) */
  int stale;       /* that look refused a reused connection (nothing was sent): try again */
  int stale_tries;
} ig_xfer;

/* Whether a request to url goes over TLS (no redirect is followed: its connection does too). */
static inline int ig_url_is_tls(const char *url) { return strncasecmp(url, "https:", 6) == 0; }

/* After a transfer ended as CURLE_ABORTED_BY_CALLBACK: whether it was the pre-request look at a
 * reused HTTP/1.x TLS connection that found bytes past the last answer, on its socket or inside
 * OpenSSL (libcurl closed that connection), before any request of the transfer went out, and it may
 * go again (at most 3 times; then it fails as "connect"). Resets x. */
int ig_stale_retry(ig_xfer *x);

/* Ready for a new try: error text, attempts, buffers, header blocks, stale flag (not stale_tries). */
void ig_xfer_start(ig_xfer *x);

typedef struct ig_pending ig_pending;

#define IG_MAX_CONCURRENCY 64 /* many()'s transfers at once */

/* The HTTP/1.x connections a handle's finished transfers left alive (libcurl keeps them for the
 * next transfer), looked at before it: see ig_socks_stale. */
#define IG_MAX_SOCKS 64
typedef struct {
  curl_socket_t fd[IG_MAX_SOCKS];
  int n;
  int full; /* one more did not fit: the next look counts as stale (the handles are made anew) */
} ig_socks;

/* Where a session speaks HTTP/2 (the server willing): the option `http2`. */
enum { IG_HTTP2_NEVER = 0, IG_HTTP2_CONCURRENT = 1, IG_HTTP2_ALWAYS = 2 };

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
  int http2;                 /* IG_HTTP2_NEVER, _CONCURRENT (many() only) or _ALWAYS */
  int busy;     /* between ig_session_enter and ig_session_leave */
  int closing;  /* close() was asked for while busy */
  int prepared; /* the easy handle holds request()'s standing options (an upload clears this) */
  /* the connections kept alive by request() and upload() (s->easy), start() and many() */
  ig_socks req_socks, async_socks, many_socks;
  ig_sockets sockets;
  ig_xfer x;
} ig_session;

/* One call's scratch: C resources that must be freed even if a Lua error unwinds the call, and the
 * response once it is taken from the session. Its __gc frees everything; idempotent. */
typedef struct {
  struct curl_slist *headers;
  FILE *file;
  ig_xfer x;
  long status;
  CURLcode rc;
  int running; /* libcurl is using it (an upload's progress callback runs Lua meanwhile), or its
                * answer is being pushed: a __gc called by hand then (debug.getmetatable) frees nothing */
  const void *push; /* ig_call_push's arguments, while it runs */
  int in_use;       /* from ig_call_new until given back as the spare: never taken as one meanwhile */
} ig_call;

/* session.c: lifetime */
ig_session *ig_check_session(lua_State *L, int idx);
ig_session *ig_check_open(lua_State *L, int idx);     /* raises when closed or busy */
void ig_session_enter(lua_State *L, ig_session *s);   /* re-checks without allocating; marks busy */
void ig_session_leave(ig_session *s);                 /* idle again; frees it if close() was asked */
void ig_session_free(ig_session *s);
long ig_opt_ms(lua_State *L, int idx, const char *name);

/* transfer.c: what every kind of transfer shares */
ig_call *ig_call_new(lua_State *L, size_t max_body); /* pushes the scratch userdata */
/* The call c at idx is over: if it holds nothing, it is the next call's (never allocates). */
void ig_call_spare(lua_State *L, int idx, ig_call *c);
void ig_call_free(ig_call *c);
/* Pushing an answer, on every path (request, upload, many, a started request's finish): */
/* The Lua stack pushing an answer needs: ig_pcall_busy's function and copies of its arguments,
 * the frame of the function it calls (LUA_MINSTACK; the decoder grows the stack on its own, never
 * raising), and room for a finalizer of ours run from an allocation there (its call and frame: on
 * LuaJIT a finalizer that finds no room raises from that allocation). Checked by ig_pusher_ready,
 * before a request is sent, so that an answer is never lost to a full stack once the request may
 * have reached the server. */
#define IG_PUSH_SLOTS (2 * LUA_MINSTACK + 16)
/* As soon as the owner of the answer's buffers exists (the userdata at owner, holding nothing yet:
 * a finalizer running its __gc by hand from this allocation frees nothing) and before the request is
 * sent: pushes fn as a C closure over the owner (so fn always works on its own, alive) and makes
 * sure one more protected call fits, by calling it with no arguments (fn must return at once then):
 * Lua 5.4 counts C calls, and at its limit the push's lua_pcall would raise once the request was
 * sent. Raises now if not (also without IG_PUSH_SLOTS of room). Returns the closure's stack index,
 * for ig_pcall_busy. */
int ig_pusher_ready(lua_State *L, lua_CFunction fn, int owner);
/* The closure at fn runs under lua_pcall with the nargs values on top as its arguments (at least
 * one) and *busy set meanwhile, which the owner's __gc heeds (a finalizer may call it by hand: the
 * debug library reaches any userdata on a C function's stack). *busy is set only once nothing is
 * left to allocate or raise before the protected call. A runtime or memory error inside is a
 * finalizer's (on LuaJIT they are raised from whatever allocation ran them; on Lua 5.4 they are
 * warnings): the closure runs again, up to IG_PUSH_TRIES times in all, the last (or the one after a
 * memory error) with the collector stopped, so that no finalizer runs; so it must be able to start
 * over (or go on) from what it left. If that fails too (out of memory), or on any other error,
 * cleanup(ud) frees what the owner holds and the error is raised again: nothing stays marked.
 * Returns how many values the closure left on top (its arguments stay below them). */
#define IG_PUSH_TRIES 3
int ig_pcall_busy(lua_State *L, int fn, int nargs, int *busy, void (*cleanup)(void *), void *ud);
int ig_call_ready(lua_State *L, int idx); /* ig_pusher_ready for the call at idx */
/* Pushes the answer c holds (decoded with o when o is not NULL; only the headers in want when it is
 * not NULL) with the closure at fn (ig_call_ready's) and returns how many values: through
 * ig_pcall_busy, c marked running meanwhile. */
int ig_call_push(lua_State *L, int fn, ig_call *c, const ig_json_opts *o, const ig_want *want);
void ig_build_headers(lua_State *L, int idx, struct curl_slist **list); /* appends; raises on bad input */
const char *ig_check_url(lua_State *L, int idx);
int ig_valid_url(const char *url, size_t len);
int ig_valid_method(const char *m, size_t len);
void ig_setup_easy(ig_session *s, CURL *e, ig_xfer *x, const char *url, struct curl_slist *headers,
                   long timeout_ms);
void ig_set_method(CURL *e, ig_xfer *x, const char *method, const char *body, size_t blen);
/* After a transfer on e finished (before it leaves a multi handle): note the connection it left
 * alive, when that speaks HTTP/1.x (HTTP/2 tags every answer with its stream). */
void ig_socks_note(ig_socks *set, CURL *e);
/* Whether the pre-request look sees, at the moment of sending, bytes a reused connection of a batch
 * transfer like x holds past its last answer: a plain one (its socket), a TLS one when libcurl's
 * OpenSSL is the linked one (OpenSSL's buffer and the socket). Otherwise only the look before a
 * batch starts stands, and a transfer that must not take up a connection another frees meanwhile
 * connects afresh (get_many). */
int ig_looked_at_when_sent(const ig_xfer *x);
void ig_drop_stale_connections(ig_session *s); /* the same, for s->easy (request, upload) */
/* Before the next transfer: whether one of the noted connections has bytes (or an end, or an
 * error) waiting. They can only be what a server sent after its last answer, which libcurl 7.88
 * would hand the next request on that connection as its answer (another call's; another client's
 * on a shared transport). Then the caller makes its handles anew, closing every connection; the
 * set is emptied either way when it says so. */
int ig_socks_stale(ig_socks *set);
void ig_take_response(ig_xfer *from, ig_xfer *to);    /* moves the buffers; never allocates */
void ig_give_back(ig_session *s, ig_xfer *x);         /* reuse the buffers if the session can */
int ig_push_result(lua_State *L, long status, ig_xfer *x, CURLcode rc, const ig_want *want); /* pushes 3 values */
int ig_push_decoded(lua_State *L, long status, ig_xfer *x, CURLcode rc, const ig_json_opts *o,
                    const ig_want *want); /* 5, or 3 */
int ig_open_regular(const char *path, FILE **out);    /* 0, or an errno-like failure; never blocks */

/* request.c: the arguments request() and start() share */
typedef struct {
  const char *method, *url, *body;
  size_t blen;
  long timeout_ms;
} ig_args;
void ig_check_request_args(lua_State *L, ig_session *s, ig_args *a);

/* The files' methods and classes, registered by session.c. */
int ig_l_request(lua_State *L);
int ig_l_upload(lua_State *L);
int ig_l_many(lua_State *L);
int ig_l_start(lua_State *L);
void ig_transfer_open(lua_State *L);
void ig_many_open(lua_State *L);
void ig_pending_open(lua_State *L);
void ig_pending_stop(ig_pending *p);
void ig_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                  int with_close, lua_CFunction tostring_fn);

#endif
