/* encode.c: percent-encoding (RFC 3986) for URLs and form bodies. */
/***
 * @module instagram.core
 */
#include <string.h>
#include "core.h"

static const char HEX[] = "0123456789ABCDEF";

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

/* url_encode(s) -> s with every byte outside A-Z a-z 0-9 - . _ ~ written as %XX */
/***
 * Percent-encodes a string (RFC 3986): every byte outside `A-Z a-z 0-9 - . _ ~` becomes `%XX`
 * (upper-case hex; a space is `%20`).
 * @function url_encode
 * @tparam string s the bytes (a number is taken as its string)
 * @treturn string the encoded text
 * @raise when `s` is not a string or number
 * @usage print(core.url_encode("a b&c")) --> a%20b%26c
 */
static int l_url_encode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) luaL_addchar(&b, (char)c);
    else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, HEX[c >> 4]);
      luaL_addchar(&b, HEX[c & 15]);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* url_decode(s [, plus_is_space = true]) -> decoded bytes; a '%' not followed by two hex
 * digits is kept as it is (lenient, like browsers). */
/***
 * Percent-decodes a string; a `%` not followed by two hex digits is kept as it is.
 * @function url_decode
 * @tparam string s the text
 * @tparam[opt=true] boolean plus_is_space decode `+` as a space (forms); false keeps it
 * @treturn string the bytes
 * @raise when `s` is not a string or number
 * @usage print(core.url_decode("a%20b+c"), core.url_decode("a+b", false)) --> a b c   a+b
 */
static int l_url_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int plus = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
        hexval((unsigned char)s[i + 2]) >= 0) {
      luaL_addchar(&b, (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2])));
      i += 2;
    } else if (c == '+' && plus) {
      luaL_addchar(&b, ' ');
    } else {
      luaL_addchar(&b, (char)c);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

#if LUA_VERSION_NUM >= 503
/* Turns every float with an integral value in a decoded JSON tree into an integer, in place
 * (Debian's lua-cjson 2.1.0 decodes 42 as 42.0 on Lua 5.3+). */
static void integerize(lua_State *L, int idx, int depth) {
  if (depth > 200) luaL_error(L, "integerize: tables nested deeper than 200 levels (a cycle?)");
  luaL_checkstack(L, 4, "integerize: out of stack");
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int t = lua_type(L, -1);
    if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      lua_Number n = lua_tonumber(L, -1);
      lua_Integer i;
      if (lua_numbertointeger(n, &i) && (lua_Number)i == n) {
        lua_pushvalue(L, -2);
        lua_pushinteger(L, i);
        lua_rawset(L, idx); /* an existing key: allowed while traversing */
      }
    } else if (t == LUA_TTABLE) {
      integerize(L, lua_gettop(L), depth + 1);
    }
    lua_pop(L, 1);
  }
}
#endif

/* integerize(value) -> value, with integral floats made integers (Lua 5.3+; as is on LuaJIT) */
/***
 * Turns integral floats into integers, in a number or in place in a table tree (Lua 5.3+; on
 * LuaJIT the value is returned as it is). What @{instagram.json.decode} uses.
 * @function integerize
 * @param value any value
 * @return `value` (a number: the integer when it is integral; a table: the same table, changed)
 * @raise when no value is given, or tables nest deeper than 200 levels
 * @usage local t = core.integerize{ id = 42.0 } -- t.id is now the integer 42
 */
static int l_integerize(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
#if LUA_VERSION_NUM >= 503
  if (lua_type(L, 1) == LUA_TTABLE) integerize(L, 1, 0);
  else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
    lua_Integer i;
    if (lua_numbertointeger(lua_tonumber(L, 1), &i) && (lua_Number)i == lua_tonumber(L, 1)) lua_pushinteger(L, i);
  }
#endif
  return 1;
}

static const luaL_Reg encode_funcs[] = {
  {"integerize", l_integerize},
  {"url_encode", l_url_encode},
  {"url_decode", l_url_decode},
  {NULL, NULL}
};

void ig_encode_open(lua_State *L) { luaL_setfuncs(L, encode_funcs, 0); }
