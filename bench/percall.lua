-- Per-call overhead, this library: N sequential GETs of the 25-item page (BENCH_PATH: another),
-- decoded into tables, with a token of a real one's length (200 bytes; the floor sends it too).
--   lua5.4|luajit bench/percall.lua GRAPH_URL CA_FILE N   -> "wall_per_call cpu_per_call"
--   (BENCH_WARMUP=W: W more calls first, timed apart -> "wall cpu wall_of_the_W")
local TOKEN = "EAAB" .. ("BenchTokenZ0123456789abcdef"):rep(8):sub(1, 196) -- a real token's length (as the floor's)
local instagram = require "instagram"
local core = require "instagram.core"
local graph, ca, n = arg[1], arg[2], tonumber(arg[3])
local c = instagram.new{ access_token = TOKEN, graph_url = graph, ca_file = ca, retries = 0 }
local path = os.getenv("BENCH_PATH") or "/bench/page"
local per_page = #assert(c:get(path)).data -- connect
-- BENCH_WARMUP=W: W calls more (timed apart) before the N, and their wall time per call printed third
local warm = tonumber(os.getenv("BENCH_WARMUP") or "0")
local ws = core.now()
for _ = 1, warm do assert(c:get(path)) end
local we = core.now()
local w0, c0 = core.now(), os.clock()
local items = 0
for _ = 1, n do
  local page = assert(c:get(path))
  items = items + #page.data
end
local w1, c1 = core.now(), os.clock()
assert(items == per_page * n)
if warm > 0 then
  print(("%.9f %.9f %.9f"):format((w1 - w0) / n, (c1 - c0) / n, (we - ws) / warm))
else
  print(("%.9f %.9f"):format((w1 - w0) / n, (c1 - c0) / n))
end
