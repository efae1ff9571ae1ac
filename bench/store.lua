-- The cost of shared state per call (issue #14): what a client with `store` (and `throttle`) does
-- before each call, c:_throttle() (one store read of the block; the usage at most once a second),
-- timed over N calls with no request made, beside the same client without a store and beside one
-- Redis round trip (PING on a kept connection) measured the same way.
--   lua5.4|luajit bench/store.lua memory|redis|none|ping N [redis port]  -> "µs per call"
-- Inside nginx the same measure runs in bench/front.conf.in's /store location (shdict, Redis over
-- lua-resty-redis); bench/run prints both.
local kind, n, port = arg[1], tonumber(arg[2]), tonumber(arg[3] or 6379)
local instagram = require "instagram"
local store = require "instagram.store"
local core = require "instagram.core"

local function per_call(fn)
  fn()
  local t0 = core.now()
  for _ = 1, n do fn() end
  return (core.now() - t0) / n * 1e6
end

if kind == "ping" then
  local socket = require "socket"
  local s = assert(socket.tcp())
  assert(s:connect("127.0.0.1", port))
  local us = per_call(function()
    s:send("*1\r\n$4\r\nPING\r\n")
    assert(s:receive("*l") == "+PONG")
  end)
  s:close()
  print(("%.2f"):format(us))
  return
end

local st = kind == "memory" and store.memory() or kind == "redis" and store.redis{ port = port } or nil
local c = instagram.new{ access_token = "BENCH-TOKEN", graph_url = "http://127.0.0.1:1", store = st, throttle = {} }
print(("%.2f"):format(per_call(function() assert(c:_throttle() == nil) end)))
