/* libFuzzer target: the JSON decoder (ig_json_decode), fed any bytes straight from libFuzzer's
 * buffer (exactly `size` bytes, no NUL after them: ASan sees any read past the end). Checks that it
 * answers one value or nil and "<what> at byte <n>" with n from 1 to size + 1, that only empty tables
 * carry the array metatable, that every number is finite and null is the NULL light userdata.
 * Runs on Lua 5.4 (liblua5.4); spec/fuzz/fuzz_json.lua compares with lua-cjson on both runtimes. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "../../src/core.h"

static lua_State *L;

static void walk(int idx, int depth) {
  if (depth > IG_JSON_MAX_DEPTH + 1) abort();
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
      lua_Number n = lua_tonumber(L, idx);
      if (!(n == n) || n > DBL_MAX || n < -DBL_MAX) abort(); /* NaN or an infinity got through */
      break;
    }
    case LUA_TTABLE: {
      int empty = 1;
      lua_pushnil(L);
      while (lua_next(L, idx) != 0) {
        empty = 0;
        if (lua_type(L, -2) != LUA_TNUMBER && lua_type(L, -2) != LUA_TSTRING) abort();
        walk(lua_gettop(L), depth + 1);
        lua_pop(L, 1);
      }
      if (lua_getmetatable(L, idx)) {
        if (!empty || !lua_rawequal(L, -1, 1)) abort(); /* array_mt (at 1), on empty arrays only */
        lua_pop(L, 1);
      }
      break;
    }
    case LUA_TSTRING: case LUA_TBOOLEAN: break;
    case LUA_TLIGHTUSERDATA: if (lua_touserdata(L, idx) != NULL) abort(); break; /* null */
    default: abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) L = luaL_newstate();
  lua_settop(L, 0);
  lua_newtable(L); /* 1: array_mt */
  ig_json_opts o = {IG_JSON_MAX_DEPTH, 1, 0};
  int n = ig_json_decode(L, (const char *)data, size, &o);
  if (n == 1) {
    if (lua_gettop(L) != 2) abort();
    walk(2, 0);
  } else {
    if (n != 2 || lua_gettop(L) != 3 || !lua_isnil(L, 2) || lua_type(L, 3) != LUA_TSTRING) abort();
    const char *msg = lua_tostring(L, 3), *at = strstr(msg, " at byte ");
    if (!at) abort();
    unsigned long long pos = strtoull(at + 9, NULL, 10);
    if (pos < 1 || pos > (unsigned long long)size + 1) abort();
  }
  lua_settop(L, 0);
  static unsigned runs;
  if (++runs % 1000 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
