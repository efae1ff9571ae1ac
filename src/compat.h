/* compat.h: the only place where Lua 5.1 (LuaJIT) and 5.4 differ for this core.
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

/* With Lua 5.1 headers this core targets LuaJIT 2.1, which already exports luaL_setfuncs,
 * luaL_testudata and luaL_setmetatable from 5.2: they are used as they are, never redeclared. */

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
