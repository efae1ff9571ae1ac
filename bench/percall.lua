-- Per-call overhead, this library: N sequential GETs of the 25-item page, decoded into tables.
--   lua5.4|luajit bench/percall.lua GRAPH_URL CA_FILE N   -> "wall_per_call cpu_per_call"
local instagram = require "instagram"
local core = require "instagram.core"
local graph, ca, n = arg[1], arg[2], tonumber(arg[3])
local c = instagram.new{ access_token = "BENCH-TOKEN", graph_url = graph, ca_file = ca, retries = 0 }
assert(c:get("/bench/page")) -- connect and warm up
local w0, c0 = core.now(), os.clock()
local items = 0
for _ = 1, n do
  local page = assert(c:get("/bench/page"))
  items = items + #page.data
end
local w1, c1 = core.now(), os.clock()
assert(items == 25 * n)
print(("%.9f %.9f"):format((w1 - w0) / n, (c1 - c0) / n))
