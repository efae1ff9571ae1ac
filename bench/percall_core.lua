-- Per-call overhead of the C core alone: the same GETs through instagram.core, not decoded
-- (the like-for-like comparison with the C floor, which decodes nothing either).
--   lua5.4|luajit bench/percall_core.lua URL CA_FILE N   -> "wall_per_call cpu_per_call"
local TOKEN = "EAAB" .. ("BenchTokenZ0123456789abcdef"):rep(8):sub(1, 196) -- a real token's length (as the floor's)
local core = require "instagram.core"
local url, ca, n = arg[1], arg[2], tonumber(arg[3])
local s = core.session{ ca_file = ca }
local headers = { Authorization = "Bearer " .. TOKEN, Accept = "application/json" }
assert(s:request("GET", url, headers) == 200)
local w0, c0 = core.now(), os.clock()
for _ = 1, n do assert(s:request("GET", url, headers) == 200) end
print(("%.9f %.9f"):format((core.now() - w0) / n, (os.clock() - c0) / n))
