/* compat.h: the only place where Lua 5.1 (PUC and LuaJIT) and 5.4 differ for this core.
 * Shims are project-prefixed (ig_*) so nothing LuaJIT already exports is redeclared. */
#ifndef IG_COMPAT_H
#define IG_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM >= 502
#define ig_rawlen(L, i) lua_rawlen((L), (i))
#define ig_absindex(L, i) lua_absindex((L), (i))
#else
#define ig_rawlen(L, i) lua_objlen((L), (i))
#define ig_absindex(L, i) \
  (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
#endif

/* The Lua 5.2 auxiliary functions the core calls. PUC Lua 5.1 has none of them and LuaJIT 2.1
 * exports some, so with any 5.1 header (lua5.1 or luajit-2.1, which is what `luarocks
 * --lua-version=5.1` builds against) the names map to static ig_* versions: one .so then loads
 * in both lua5.1 and luajit, and nothing LuaJIT exports is redeclared. Every other API the core
 * calls exists in 5.1, or has an ig_* macro above/below, or sits under LUA_VERSION_NUM >= 503. */
#if LUA_VERSION_NUM < 502
static inline void ig_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name != NULL; l++) {
    for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

static inline void ig_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}

static inline void *ig_testudata(lua_State *L, int ud, const char *tname) {
  void *p = lua_touserdata(L, ud);
  if (p == NULL || !lua_getmetatable(L, ud)) return NULL;
  luaL_getmetatable(L, tname);
  if (!lua_rawequal(L, -1, -2)) p = NULL;
  lua_pop(L, 2);
  return p;
}

#define luaL_setfuncs(L, l, nup) ig_setfuncs((L), (l), (nup))
#define luaL_setmetatable(L, tname) ig_setmetatable((L), (tname))
#define luaL_testudata(L, ud, tname) ig_testudata((L), (ud), (tname))
#endif

/* One Lua value attached to a userdata (a table, for what a C object keeps alive). */
#if LUA_VERSION_NUM >= 504
#define ig_setuservalue(L, idx) lua_setiuservalue((L), (idx), 1)
#elif LUA_VERSION_NUM >= 502
#define ig_setuservalue(L, idx) lua_setuservalue((L), (idx))
#else
#define ig_setuservalue(L, idx) lua_setfenv((L), (idx))
#endif

/* Exported symbol: everything else is hidden by -fvisibility=hidden. */
#define IG_EXPORT __attribute__((visibility("default")))

#endif
