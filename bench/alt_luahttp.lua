-- Alternative: lua-http (Debian's, LuaJIT/5.1) + cjson, new_from_uri per call as its docs show.
local TOKEN = "EAAB" .. ("BenchTokenZ0123456789abcdef"):rep(8):sub(1, 196) -- a real token's length (as the floor's)
local request = require "http.request"
local tls = require "http.tls"
local openssl_ctx = require "openssl.ssl.context"
local cjson = require "cjson"
local url, ca, n = arg[1], arg[2], tonumber(arg[3])
local ctx = tls.new_client_context()
ctx:getStore():add(require("openssl.x509").new(io.open(ca):read("*a")))
ctx:setVerify(openssl_ctx.VERIFY_PEER)
local function get()
  local req = request.new_from_uri(url)
  req.ctx = ctx
  req.headers:upsert("authorization", "Bearer " .. TOKEN)
  local headers, stream = assert(req:go(10))
  assert(headers:get(":status") == "200")
  return cjson.decode(assert(stream:get_body_as_string()))
end
get()
local monotime = require("cqueues").monotime
local w0, c0 = monotime(), os.clock()
for _ = 1, n do assert(#get().data == 25) end
print(("%.9f %.9f"):format((monotime() - w0) / n, (os.clock() - c0) / n))
