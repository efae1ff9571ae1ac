/* crypto.c: HMAC (appsecret_proof, webhook signatures), constant-time compare, random tokens. */
/***
 * @module instagram.core
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "core.h"

static const char HEX[] = "0123456789abcdef";

static void push_hex(lua_State *L, const unsigned char *p, size_t n) {
  char out[2 * 1024];
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = HEX[p[i] >> 4];
    out[2 * i + 1] = HEX[p[i] & 15];
  }
  lua_pushlstring(L, out, 2 * n);
}

static int hmac_hex(lua_State *L, const EVP_MD *md) {
  size_t klen, dlen;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *data = luaL_checklstring(L, 2, &dlen);
  if (klen == 0) return luaL_argerror(L, 1, "the HMAC key (app secret) must not be empty");
  if (klen > 0x7fffffff) return luaL_argerror(L, 1, "key too long");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mlen = 0;
  if (!HMAC(md, key, (int)klen, (const unsigned char *)data, dlen, mac, &mlen))
    return luaL_error(L, "HMAC computation failed in OpenSSL");
  push_hex(L, mac, mlen);
  return 1;
}

/* hmac_sha256_hex(key, data) -> 64 lower-case hex digits */
/***
 * HMAC-SHA256 in hex: the `appsecret_proof` and the webhook signature (`X-Hub-Signature-256`).
 * @function hmac_sha256_hex
 * @tparam string key the key (the app secret); not empty
 * @tparam string data the data (the access token, a webhook body)
 * @treturn string 64 lower-case hex digits
 * @raise when `key` or `data` is not a string, or `key` is empty
 * @usage local proof = core.hmac_sha256_hex(APP_SECRET, ACCESS_TOKEN)
 */
static int l_hmac_sha256_hex(lua_State *L) { return hmac_hex(L, EVP_sha256()); }
/* hmac_sha1_hex(key, data) -> 40 lower-case hex digits (legacy X-Hub-Signature) */
/***
 * HMAC-SHA1 in hex: the legacy webhook signature (`X-Hub-Signature`).
 * @function hmac_sha1_hex
 * @tparam string key the key; not empty
 * @tparam string data the data
 * @treturn string 40 lower-case hex digits
 * @raise when `key` or `data` is not a string, or `key` is empty
 * @usage local sig = "sha1=" .. core.hmac_sha1_hex(APP_SECRET, body)
 */
static int l_hmac_sha1_hex(lua_State *L) { return hmac_hex(L, EVP_sha1()); }

/* constant_time_equal(a, b) -> boolean; the time depends only on the length, never the content. */
/***
 * Compares two strings in a time that depends only on their length, never their content (for
 * signatures and OAuth states).
 * @function constant_time_equal
 * @tparam string a
 * @tparam string b
 * @treturn boolean true when they are equal
 * @raise when `a` or `b` is not a string
 * @usage if not core.constant_time_equal(expected_sig, got_sig) then return nil, "bad signature" end
 */
static int l_constant_time_equal(lua_State *L) {
  size_t alen, blen;
  const char *a = luaL_checklstring(L, 1, &alen);
  const char *b = luaL_checklstring(L, 2, &blen);
  lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
  return 1;
}

/* random_token([nbytes = 32]) -> 2*nbytes hex digits from OpenSSL's CSPRNG */
/***
 * Random bytes from OpenSSL's CSPRNG, in hex (OAuth states, verify tokens).
 * @function random_token
 * @tparam[opt=32] integer nbytes how many random bytes, 1 to 1024
 * @treturn string `2 * nbytes` lower-case hex digits
 * @raise when `nbytes` is out of range, or OpenSSL cannot produce random bytes
 * @usage local state = core.random_token(16) -- 32 hex digits
 */
static int l_random_token(lua_State *L) {
  lua_Integer n = luaL_optinteger(L, 1, 32);
  if (n < 1 || n > 1024) return luaL_argerror(L, 1, "number of random bytes must be 1 to 1024");
  unsigned char buf[1024];
  if (RAND_bytes(buf, (int)n) != 1) return luaL_error(L, "OpenSSL could not produce random bytes");
  push_hex(L, buf, (size_t)n);
  OPENSSL_cleanse(buf, sizeof buf);
  return 1;
}

static const luaL_Reg crypto_funcs[] = {
  {"hmac_sha256_hex", l_hmac_sha256_hex},
  {"hmac_sha1_hex", l_hmac_sha1_hex},
  {"constant_time_equal", l_constant_time_equal},
  {"random_token", l_random_token},
  {NULL, NULL}
};

void ig_crypto_open(lua_State *L) { luaL_setfuncs(L, crypto_funcs, 0); }
