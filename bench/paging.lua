-- Paging: walk 100,000 items (4,000 pages of 25) through a pager; items per second and peak RSS.
--   lua5.4|luajit bench/paging.lua GRAPH_URL CA_FILE  -> "items items_per_second peak_rss_kb"
local instagram = require "instagram"
local core = require "instagram.core"
local c = instagram.new{ access_token = "BENCH-TOKEN", graph_url = arg[1], ca_file = arg[2], retries = 0 }
local t0, n = core.now(), 0
local pager = c:edge("/bench/paged", { fields = "id,caption,media_type,timestamp,like_count,comments_count" })
for item in pager:items() do
  if item.id then n = n + 1 end
end
assert(not pager.err, tostring(pager.err))
local dt = core.now() - t0
local hwm
for line in io.lines("/proc/self/status") do hwm = hwm or tonumber(line:match("^VmHWM:%s*(%d+)")) end
print(("%d %.1f %d"):format(n, n / dt, hwm))
