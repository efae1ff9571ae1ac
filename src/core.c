/* core.c: luaopen_instagram_core, the one exported symbol. libcurl is initialised once per
 * process here (curl_global_init is reference-counted and thread-safe in libcurl >= 7.84). */
#include <errno.h>
#include <time.h>
#include <curl/curl.h>
#include "core.h"

/* sleep(seconds): blocks the calling thread; the retry policy's default sleep outside nginx. */
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
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

IG_EXPORT int luaopen_instagram_core(lua_State *L) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return luaL_error(L, "libcurl could not be initialised");
  lua_newtable(L);
  ig_session_open(L);
  ig_crypto_open(L);
  ig_encode_open(L);
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
