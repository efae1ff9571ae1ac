-- Alternative: luasocket + luasec (ssl.https) + cjson. ssl.https opens a new connection per call
-- (it has no keep-alive): that is what a user of it gets.
local TOKEN = "EAAB" .. ("BenchTokenZ0123456789abcdef"):rep(8):sub(1, 196) -- a real token's length (as the floor's)
local https = require "ssl.https"
local ltn12 = require "ltn12"
local cjson = require "cjson"
local url, ca, n = arg[1], arg[2], tonumber(arg[3])
local function get()
  local out = {}
  local ok, code = https.request{ url = url, sink = ltn12.sink.table(out), cafile = ca, verify = "peer",
    headers = { Authorization = "Bearer " .. TOKEN } }
  assert(ok and code == 200, tostring(code))
  return cjson.decode(table.concat(out))
end
get()
local socket = require "socket"
local w0, c0 = socket.gettime(), os.clock()
for _ = 1, n do assert(#get().data == 25) end
print(("%.9f %.9f"):format((socket.gettime() - w0) / n, (os.clock() - c0) / n))
