/* libFuzzer target: url_encode / url_decode through the module's own entry points.
 * Properties: decode(encode(x)) == x; encode's output is only unreserved characters and %XX;
 * decode never grows its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "../../src/core.h"

static lua_State *L;

static size_t call1(const char *fn, const char *s, size_t n, const char **out) {
  lua_getfield(L, 1, fn);
  lua_pushlstring(L, s, n);
  if (lua_pcall(L, 1, 1, 0) != 0) abort();
  size_t len;
  *out = lua_tolstring(L, -1, &len);
  return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushcfunction(L, luaopen_instagram_core);
    lua_call(L, 0, 1); /* stays at index 1 */
  }
  const char *enc, *dec, *raw;
  size_t elen = call1("url_encode", (const char *)data, size, &enc);
  for (size_t i = 0; i < elen; i++) {
    char c = enc[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_' || c == '~' || c == '%' ||
             (i > 0 && enc[i - 1] == '%') || (i > 1 && enc[i - 2] == '%');
    if (!ok) abort();
  }
  size_t dlen = call1("url_decode", enc, elen, &dec);
  if (dlen != size || memcmp(dec, data, size) != 0) abort();
  size_t rlen = call1("url_decode", (const char *)data, size, &raw);
  if (rlen > size) abort();
  (void)raw;
  lua_settop(L, 1);
  return 0;
}
