--- The soak of spec/resilience_spec.lua in a process of its own: 20,000 GETs on one client, RSS
-- (settled by two full collections) after 2,000, 11,000 and 20,000. A process that ran nothing else
-- measures the client alone; inside the busted run, the heap that the suites before it left (the
-- hostile server's big answers) shifts LuaJIT's allocator by megabytes either way.
-- Prints one line: "<runtime> <transport> <before> <mid> <after>" (kB).
package.path = "spec/?.lua;" .. package.path
local H = require "spec.helper"

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = tonumber(line:match("^VmRSS:%s*(%d+)"))
    if v then return v end
  end
end

local function settled_rss()
  collectgarbage()
  collectgarbage()
  return rss_kb()
end

--- Runs the soak on client c; returns runtime, transport, and RSS before, mid, after (kB).
local function soak(c)
  local function run(n)
    for _ = 1, n do assert(c:get("/me", { fields = "id" })) end
  end
  run(2000) -- warm up: buffers, JIT, connection
  local before = settled_rss()
  run(9000)
  local mid = settled_rss()
  run(9000)
  return H.runtime, c.transport:pick().name, before, mid, settled_rss()
end

if arg and arg[0] and arg[0]:match("support/soak%.lua$") then
  H.reset()
  H.config{ rate_limit = { limit = 1000000 } }
  print(table.concat({ soak(H.client()) }, " "))
  return
end
return soak
