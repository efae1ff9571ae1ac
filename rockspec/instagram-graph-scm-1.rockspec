rockspec_format = "3.0"
package = "instagram-graph"
version = "scm-1"
source = {
  url = "git+https://github.com/instagram-graph/instagram-graph.git",
}
description = {
  summary = "Instagram Graph API client for Lua 5.4, LuaJIT and OpenResty",
  detailed = [[
A thin C core (libcurl, OpenSSL) for HTTP(S) with reused connections, HMAC and encoding, and a
pure-Lua layer for the Instagram Graph API: tokens, appsecret_proof, error objects, usage
headers, retries and pagers over list edges.
]],
  license = "MIT",
  homepage = "https://github.com/instagram-graph/instagram-graph",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson",
}
-- LuaRocks sets CURL_INCDIR/CURL_LIBDIR and OPENSSL_INCDIR/OPENSSL_LIBDIR from what it finds (or
-- from CURL_DIR=..., CURL_INCDIR=..., OPENSSL_DIR=... on its command line); the build passes them
-- as -I and -L. curl is probed by its library only: Debian keeps curl/curl.h under the multiarch
-- folder /usr/include/<triplet>, which the compiler searches by itself but LuaRocks' header probe
-- does not (CURL_INCDIR then is <prefix>/include, a folder the compiler searches anyway).
external_dependencies = {
  CURL = { library = "curl" },
  OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
  type = "builtin",
  modules = {
    ["instagram.core"] = {
      sources = { "src/core.c", "src/session.c", "src/transfer.c", "src/request.c", "src/upload.c",
                  "src/many.c", "src/pending.c", "src/headers.c", "src/crypto.c", "src/encode.c", "src/buffer.c",
                  "src/json.c" },
      libraries = { "curl", "crypto", "ssl" },
      incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      defines = { "_POSIX_C_SOURCE=200809L" },
    },
    ["instagram"] = "lua/instagram/init.lua",
    ["instagram.client"] = "lua/instagram/client.lua",
    ["instagram.error"] = "lua/instagram/error.lua",
    ["instagram.json"] = "lua/instagram/json.lua",
    ["instagram.params"] = "lua/instagram/params.lua",
    ["instagram.pager"] = "lua/instagram/pager.lua",
    ["instagram.usage"] = "lua/instagram/usage.lua",
    ["instagram.transport.curl"] = "lua/instagram/transport/curl.lua",
    ["instagram.transport.ngx"] = "lua/instagram/transport/ngx.lua",
    ["instagram.transport.auto"] = "lua/instagram/transport/auto.lua",
    ["instagram.node"] = "lua/instagram/node.lua",
    ["instagram.fields"] = "lua/instagram/fields.lua",
    ["instagram.node.ig_user"] = "lua/instagram/node/ig_user.lua",
    ["instagram.node.ig_media"] = "lua/instagram/node/ig_media.lua",
    ["instagram.node.ig_comment"] = "lua/instagram/node/ig_comment.lua",
    ["instagram.node.ig_hashtag"] = "lua/instagram/node/ig_hashtag.lua",
    ["instagram.node.page"] = "lua/instagram/node/page.lua",
    ["instagram.node.misc"] = "lua/instagram/node/misc.lua",
    ["instagram.store"] = "lua/instagram/store.lua",
    ["instagram.redis"] = "lua/instagram/redis.lua",
    ["instagram.token"] = "lua/instagram/token.lua",
    ["instagram.oauth"] = "lua/instagram/oauth.lua",
    ["instagram.webhook"] = "lua/instagram/webhook.lua",
    ["instagram.upload"] = "lua/instagram/upload.lua",
    ["instagram.publish"] = "lua/instagram/publish.lua",
    ["instagram.batch"] = "lua/instagram/batch.lua",
  },
}
