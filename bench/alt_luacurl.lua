-- Alternative: luacurl (Debian's lua-curl, LuaJIT/5.1) + cjson, one easy handle reused.
local TOKEN = "EAAB" .. ("BenchTokenZ0123456789abcdef"):rep(8):sub(1, 196) -- a real token's length (as the floor's)
local curl = require "curl"
local cjson = require "cjson"
local url, ca, n = arg[1], arg[2], tonumber(arg[3])
local e = curl.easy_init()
local buf = {}
e:setopt(curl.OPT_URL, url)
e:setopt(curl.OPT_CAINFO, ca)
e:setopt(curl.OPT_HTTPHEADER, { "Authorization: Bearer " .. TOKEN })
-- luacurl calls it as (data, size) without WRITEDATA, (userdata, data) with it
e:setopt(curl.OPT_WRITEFUNCTION, function(a, b)
  local s = type(a) == "string" and a or b
  buf[#buf + 1] = s
  return #s
end)
local function get()
  buf = {}
  assert(e:perform())
  return cjson.decode(table.concat(buf))
end
get()

local socket = require "socket"
local w0, c0 = socket.gettime(), os.clock()
for _ = 1, n do assert(#get().data == 25) end
print(("%.9f %.9f"):format((socket.gettime() - w0) / n, (os.clock() - c0) / n))

