/* headers.c: a response header block -> Lua table. Pure function of its input; fuzzed in
 * spec/fuzz. Names are lower-cased (ASCII, whatever the C locale); a repeated name's values are
 * joined by ", " as HTTP allows; the status line, blank lines and lines without a name are
 * skipped. Made on every call: the table is created at the size the block needs, and the pass
 * that joins repeated names runs only when a name was repeated; a caller that wants a few names
 * gets only those. */
#include <string.h>
#include "core.h"

void ig_check_want(lua_State *L, int idx, const char *what, ig_want *want) {
  want->n = -1;
  if (lua_isnoneornil(L, idx)) return;
  if (!lua_istable(L, idx)) luaL_error(L, "%s must be a list of header names", what);
  idx = ig_absindex(L, idx);
  size_t n = ig_rawlen(L, idx);
  if (n > IG_MAX_WANT) luaL_error(L, "%s must be a list of at most %d header names", what, IG_MAX_WANT);
  luaL_checkstack(L, (int)n + 1, "too many nested calls");
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (int)i + 1); /* stays pushed: the name lives while the caller's stack holds it */
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s[%d] must be a string", what, (int)i + 1);
    want->name[i] = lua_tolstring(L, -1, &want->len[i]);
    if (want->len[i] == 0 || want->len[i] > 256) luaL_error(L, "%s[%d] must be a header name of 1 to 256 bytes", what, (int)i + 1);
    for (size_t k = 0; k < want->len[i]; k++)
      if (want->name[i][k] >= 'A' && want->name[i][k] <= 'Z') luaL_error(L, "%s[%d] must be lower-case", what, (int)i + 1);
  }
  want->n = (int)n;
}

static int wanted(const ig_want *want, const char *name, size_t len) {
  for (int i = 0; i < want->n; i++)
    if (want->len[i] == len && memcmp(want->name[i], name, len) == 0) return 1;
  return 0;
}

void ig_push_headers(lua_State *L, const char *data, size_t len, const ig_want *want) {
  luaL_checkstack(L, 6, "too many nested calls");
  if (want && want->n < 0) want = NULL;
  int lines = 0, repeated = 0;
  for (const char *p = data, *end = data + len; p && p < end; lines++) {
    p = memchr(p, '\n', (size_t)(end - p));
    if (p) p++;
  }
  if (want && lines > want->n) lines = want->n;
  lua_createtable(L, 0, lines > 64 ? 64 : lines);
  int t = lua_gettop(L);
  size_t i = 0;
  while (i < len) {
    size_t start = i;
    while (i < len && data[i] != '\n') i++;
    size_t end = i; /* line is [start, end) */
    if (i < len) i++;
    if (end > start && data[end - 1] == '\r') end--;
    const char *colon = memchr(data + start, ':', end - start);
    if (!colon || colon == data + start) continue; /* status line, blank line or junk */
    size_t nlen = (size_t)(colon - (data + start));
    if (nlen > 256) continue;
    char name[257];
    for (size_t k = 0; k < nlen; k++) {
      char c = data[start + k];
      name[k] = c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
    }
    if (want && !wanted(want, name, nlen)) continue;
    size_t vs = (size_t)(colon - data) + 1, ve = end;
    while (vs < ve && (data[vs] == ' ' || data[vs] == '\t')) vs++;
    while (ve > vs && (data[ve - 1] == ' ' || data[ve - 1] == '\t')) ve--;
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushlstring(L, data + vs, ve - vs);
      lua_rawset(L, t);
    } else { /* repeated: collect the values in a list, joined once at the end (never quadratic) */
      repeated = 1;
      if (lua_type(L, -1) == LUA_TSTRING) {
        lua_createtable(L, 4, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, t);
      }
      lua_pushlstring(L, data + vs, ve - vs);
      lua_rawseti(L, -2, (int)ig_rawlen(L, -2) + 1);
      lua_pop(L, 2);
    }
  }
  if (!repeated) return;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    if (lua_type(L, -1) == LUA_TTABLE) {
      int list = lua_gettop(L), n = (int)ig_rawlen(L, list);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int k = 1; k <= n; k++) {
        if (k > 1) luaL_addlstring(&b, ", ", 2);
        lua_rawgeti(L, list, k);
        luaL_addvalue(&b);
      }
      luaL_pushresult(&b);
      lua_pushvalue(L, list - 1);
      lua_insert(L, -2);
      lua_rawset(L, t); /* assigning an existing field during lua_next is allowed */
    }
    lua_pop(L, 1);
  }
}
