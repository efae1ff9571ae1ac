-- Latency hiding: 100 independent GETs against 50 ms of server latency: one after another, with
-- get_many at concurrency 10, and as batch requests (the server runs a batch's operations in
-- parallel, so a batch costs one 50 ms wait).
--   lua5.4 bench/latency.lua GRAPH_URL CA_FILE -> "sequential_s get_many_s batch_s"
local instagram = require "instagram"
local core = require "instagram.core"
local c = instagram.new{ access_token = "BENCH-TOKEN", graph_url = arg[1], ca_file = arg[2], retries = 0 }
assert(c:get("/bench/slow"))
local N = 100
local t0 = core.now()
for _ = 1, N do assert(c:get("/bench/slow")) end
local seq = core.now() - t0
local reqs = {}
for i = 1, N do reqs[i] = "/bench/slow" end
t0 = core.now()
local values, errs = c:get_many(reqs, { concurrency = 10 })
local many = core.now() - t0
for i = 1, N do assert(values[i] and not errs[i], tostring(errs[i])) end
local ops = {}
for i = 1, N do ops[i] = { relative_url = "bench/slow" } end
t0 = core.now()
local results = assert(c:batch(ops))
local batch = core.now() - t0
assert(#results == N)
print(("%.4f %.4f %.4f"):format(seq, many, batch))
