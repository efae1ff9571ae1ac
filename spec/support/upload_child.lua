-- Run by spec/upload_spec.lua in a process of its own, so its peak memory is the upload's:
--   lua5.4 spec/support/upload_child.lua <file> <container uri>
-- Prints one line of JSON: { ok, attempts, offsets, vm_hwm_kb, err }.
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
local H = require "spec.helper"
local json = require "instagram.json"

local file, uri = arg[1], arg[2]
local client = H.client{ rupload_url = H.graph_url, sleep = function() end }
local last = 0
local ok, info = client:upload_video(uri, file, { progress = function(sent) last = sent end })
local hwm
for line in io.lines("/proc/self/status") do
  hwm = hwm or tonumber(line:match("^VmHWM:%s*(%d+)"))
end
print(json.encode{ ok = ok == true, attempts = ok and info.attempts or nil, offsets = ok and info.offsets or nil,
  vm_hwm_kb = hwm, last_progress = last, err = not ok and tostring(info) or nil })
