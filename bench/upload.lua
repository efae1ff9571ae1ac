-- Upload: a large file through upload_video to the backend's rupload endpoint.
--   lua5.4 bench/upload.lua GRAPH_URL CA_FILE FILE -> "seconds peak_rss_kb"
local instagram = require "instagram"
local core = require "instagram.core"
local c = instagram.new{ access_token = "BENCH-TOKEN", graph_url = arg[1], rupload_url = arg[1], ca_file = arg[2],
  retries = 0 }
local t0 = core.now()
assert(c:upload_video("17890004000000001", arg[3], { max_attempts = 1 }))
local dt = core.now() - t0
local hwm
for line in io.lines("/proc/self/status") do hwm = hwm or tonumber(line:match("^VmHWM:%s*(%d+)")) end
print(("%.4f %d"):format(dt, hwm))
