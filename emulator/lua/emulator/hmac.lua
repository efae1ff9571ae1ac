--- HMAC-SHA256 for the emulator, through LuaJIT's FFI into the libcrypto nginx already links.
-- Independent of the library's C core, so the emulator checks appsecret_proof on its own terms.
local ffi = require "ffi"

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
]]

local ok, crypto = pcall(ffi.load, "crypto")
if not ok then crypto = ffi.load("libcrypto.so.3") end

local _M = {}

function _M.sha256_hex(key, data)
  local out = ffi.new("unsigned char[64]")
  local len = ffi.new("unsigned int[1]")
  crypto.HMAC(crypto.EVP_sha256(), key, #key, data, #data, out, len)
  local hex = {}
  for i = 0, len[0] - 1 do hex[#hex + 1] = string.format("%02x", out[i]) end
  return table.concat(hex)
end

return _M
