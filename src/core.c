/* core.c: luaopen_instagram_core, the one exported symbol. libcurl is initialised once per
 * process here (curl_global_init is reference-counted and thread-safe in libcurl >= 7.84). */

/***
 * The C core: HTTP(S) sessions over libcurl, HMAC and random tokens over OpenSSL, percent-encoding.
 *
 * Built by `make` (Lua 5.4) or `make LUA=luajit` (LuaJIT / OpenResty) as `instagram/core.so`. The
 * Lua layer uses it through @{instagram.transport.curl}; most programs never call it directly.
 * Misuse raises a Lua error; no Lua error is raised while libcurl runs. A session does one
 * transfer at a time and blocks the calling thread (inside nginx, the client uses cosockets
 * instead).
 *
 * The module also has the fields `_VERSION` (the library's version, e.g. `"0.2.0"`), `curl_version`
 * (`"libcurl/8.x OpenSSL/3.x nghttp2/1.x"`) and `http2` (true when this libcurl can speak HTTP/2).
 * @module instagram.core
 * @usage local core = require "instagram.core"
 * local s = core.session{ timeout = 10 }
 * local status, headers, body = s:request("GET", "https://graph.facebook.com/v24.0/me",
 *   { Authorization = "Bearer " .. os.getenv("IG_TOKEN") })
 * print(status or headers, body) -- on failure: nil, reason, message
 * s:close()
 */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <errno.h>
#include <time.h>
#include <curl/curl.h>
#include "core.h"

/* LuaJIT's lua_close finalizes objects in the order they were made, and in rounds: one made before
 * `require "instagram.core"` (an init_by_lua that sets a finalizer first), or made by a finalizer
 * while the state closed, ran after the package library's own finalizer had unloaded the C
 * modules, and a call into this module from it jumped into unmapped memory (a segfault at a
 * script's end, and in nginx workers at every reload). So the module keeps itself loaded until
 * the process ends: RTLD_NODELETE set on the object this module already is (RTLD_NOLOAD: it never
 * loads a file, so a core linked into a program, whose path is then argv[0]'s, pins nothing). The
 * handle is kept, never closed. */
static const char pin_anchor = 0;
static void pin_module(void) {
#if defined(RTLD_NODELETE) && defined(RTLD_NOLOAD)
  Dl_info info;
  if (dladdr(&pin_anchor, &info) && info.dli_fname && *info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
#endif
}

/* sleep(seconds): blocks the calling thread; the retry policy's default sleep outside nginx. */
/***
 * Sleeps, blocking the calling thread (the client's default `sleep` outside nginx).
 * @function sleep
 * @tparam number seconds 0 to 3600, fractions allowed
 * @treturn nil nothing
 * @raise when `seconds` is not a number from 0 to 3600
 * @usage core.sleep(0.25)
 */
static int l_sleep(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 1);
  if (!(n >= 0 && n <= 3600)) return luaL_argerror(L, 1, "seconds must be between 0 and 3600");
  struct timespec ts;
  ts.tv_sec = (time_t)n;
  ts.tv_nsec = (long)((n - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
  return 0;
}

/* now(): wall-clock seconds with sub-second precision (for backoff and timing). */
/***
 * The wall-clock time in seconds since the epoch, with sub-second precision.
 * @function now
 * @treturn number seconds
 * @raise never raises
 * @usage local t0 = core.now(); do_work(); print(core.now() - t0)
 */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

IG_EXPORT int luaopen_instagram_core(lua_State *L) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return luaL_error(L, "libcurl could not be initialised");
  pin_module();
  lua_newtable(L);
  ig_session_open(L);
  ig_crypto_open(L);
  ig_encode_open(L);
  ig_json_open(L);
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_now);
  lua_setfield(L, -2, "now");
  lua_pushliteral(L, IG_CORE_VERSION);
  lua_setfield(L, -2, "_VERSION");
  /* curl_version_info, not curl_version: the latter initialises libldap/libsasl, which leak. */
  curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  lua_pushfstring(L, "libcurl/%s %s%s%s", info->version, info->ssl_version ? info->ssl_version : "",
                  info->nghttp2_version ? " nghttp2/" : "", info->nghttp2_version ? info->nghttp2_version : "");
  lua_setfield(L, -2, "curl_version");
  lua_pushboolean(L, info && (info->features & CURL_VERSION_HTTP2));
  lua_setfield(L, -2, "http2");
  return 1;
}
