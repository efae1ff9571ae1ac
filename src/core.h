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
IG_EXPORT int luaopen_instagram_core(lua_State *L);

/* Response header block -> Lua table (lower-cased names, repeated names joined by ", ").
 * Pure function of its input; fuzzed in fuzz/. */
void ig_push_headers(lua_State *L, const char *data, size_t len);

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
