/* core.h: what the pieces of instagram.core share. Internal; only luaopen_instagram_core is exported. */
#ifndef IG_CORE_H
#define IG_CORE_H

#include <stddef.h>
#include "compat.h"

#define IG_CORE_VERSION "0.2.0"
#define IG_SESSION_MT "instagram.core.session"

/* Each registers its functions into the module table at the top of the stack. */
void ig_session_open(lua_State *L);
void ig_crypto_open(lua_State *L);
void ig_encode_open(lua_State *L);
void ig_json_open(lua_State *L);
IG_EXPORT int luaopen_instagram_core(lua_State *L);

/* Response header block -> Lua table (lower-cased names, repeated names joined by ", ").
 * Pure function of its input; fuzzed in fuzz/. With want (not NULL), only the headers whose
 * lower-cased names are among want's are put in the table: a caller that reads a few of an
 * answer's headers does not pay for making strings of the others. */
#define IG_MAX_WANT 16
typedef struct {
  int n;
  const char *name[IG_MAX_WANT]; /* lower-case names, held alive by the caller's stack */
  size_t len[IG_MAX_WANT];
} ig_want;
void ig_push_headers(lua_State *L, const char *data, size_t len, const ig_want *want);
/* want from the list at stack index idx (nil: want->n = -1, every header): at most IG_MAX_WANT
 * strings of 1 to 256 bytes, each pushed (so held alive while the caller's stack holds them);
 * raises naming `what` for anything else. */
void ig_check_want(lua_State *L, int idx, const char *what, ig_want *want);

/* JSON text -> one Lua value pushed (returns 1), or nil and "<what> at byte <n>" (returns 2); never
 * raises for bad text (json.c). text need not be NUL-terminated. Options: max_depth from 1 to
 * IG_JSON_DEPTH_LIMIT; array_mt the stack index of the metatable for empty arrays, or 0; numbers
 * the stack index of a table that records each integer given as a string of digits (numbers[s] =
 * true, numbers.n counting the new ones), or 0. */
#define IG_JSON_MAX_DEPTH 512
#define IG_JSON_DEPTH_LIMIT 1000
typedef struct {
  int max_depth, array_mt, numbers;
} ig_json_opts;
int ig_json_decode(lua_State *L, const char *text, size_t len, const ig_json_opts *o);
/* The options a Lua table gives ({ max_depth =, array_mt =, numbers = }, read raw), checked:
 * array_mt and numbers are pushed (nil when absent) and their indices set; raises naming `what`. */
void ig_json_check_opts(lua_State *L, int t, const char *what, ig_json_opts *o);

/* Growable byte buffer with a hard cap; never raises (used inside libcurl callbacks). */
typedef struct {
  char *data;
  size_t len, cap, max;
  int overflow;
} ig_buf;

int ig_buf_append(ig_buf *b, const char *p, size_t n); /* 0 on success, -1 when full or no memory */
void ig_buf_reset(ig_buf *b);
void ig_buf_free(ig_buf *b);

#endif
