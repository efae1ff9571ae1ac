/* libFuzzer target: the response header block parser (ig_push_headers), fed any bytes.
 * Checks that every name it produces is lower-case and that it never crashes or leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "../../src/core.h"

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) L = luaL_newstate();
  ig_push_headers(L, (const char *)data, size, NULL);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    size_t klen;
    const char *k = lua_tolstring(L, -2, &klen);
    for (size_t i = 0; i < klen; i++)
      if (k[i] >= 'A' && k[i] <= 'Z') abort(); /* names must come out lower-cased */
    if (!lua_isstring(L, -1)) abort();
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  return 0;
}
