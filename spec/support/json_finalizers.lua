-- The finalizer scenario of spec/json_decode_spec.lua in a process of its own: finalizers that run
-- (and decode, and allocate) while the decoder allocates, in each collector mode. In a process that
-- ran nothing else the collector's cycles are short, so they do run inside the decoder; inside the
-- busted run the heap earlier specs left can keep a cycle from ending within the test.
-- Exits 0 and prints "ok", or raises. IG_BUILD_DIR names the build of the C core.
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local core = require "instagram.core"
local json = require "instagram.json"
local mt = json.array_mt
local function decode(text, _, array_mt) return core.json_decode(text, { array_mt = array_mt }) end
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return getmetatable(a) == getmetatable(b)
end
local assert = {
  same = function(a, b) if not same(a, b) then error("decoded differently", 2) end end,
  equal = function(a, b) if a ~= b then error(tostring(a) .. " ~= " .. tostring(b), 2) end end,
  is_nil = function(v) if v ~= nil then error(tostring(v), 2) end end,
  is_true = function(v, msg) if v ~= true then error(msg or "not true", 2) end end,
}
local items = {}
for i = 1, 500 do
  items[i] = ('{"id":"1784140582230%04d","caption":"caf\\u00e9 %d \\ud83d\\ude00","like_count":%d,'
    .. '"ratio":%d.25,"children":{"data":[{"id":"%d"},{"id":"%d"}]},"empty":[],"n":null}'):format(i, i, i, i, i, i + 1)
end
local doc = '{"data":[' .. table.concat(items, ",") .. '],"paging":{"cursors":{"after":"QVFIUm"}}}'
local expected = decode(doc, nil, mt)
local active, ran, bad, during = true, 0, nil, {}
local make
local function fin()
  ran = ran + 1
  if not active then return end
  local ok, t = pcall(decode, '{"x":[1,2,"\\u00e9"],"y":"' .. ("z"):rep(60) .. '","e":[]}', nil, mt)
  if not (ok and type(t) == "table" and #t.y == 60 and t.x[3] == "\195\169") then bad = tostring(t) end
  local junk = {}
  for i = 1, 20 do junk[i] = { i, tostring(i) } end
  if #junk ~= 20 then bad = "junk" end
  make()
end
if newproxy then -- LuaJIT / 5.1: only userdata have __gc
  make = function() local p = newproxy(true) getmetatable(p).__gc = fin end
else
  make = function() setmetatable({}, { __gc = fin }) end
end
for _ = 1, 500 do make() end
local results = {}
local old_gc = _VERSION == "Lua 5.1" -- LuaJIT and PUC 5.1: setpause/setstepmul only
local modes = old_gc and { "5.1" } or { "incremental", "generational" }
for _, mode in ipairs(modes) do
  if mode == "5.1" then
    collectgarbage("setpause", 0)
    collectgarbage("setstepmul", 1000)
  elseif mode == "incremental" then
    collectgarbage("incremental", 0, 1000, 10)
  else
    collectgarbage("generational", 1, 10)
  end
  -- Until 100 finalizers ran inside the decoder (a cycle must first get through what earlier
  -- specs left on the heap), at most 40 decodes.
  during[mode] = 0
  collectgarbage("collect")
  for _ = 1, 40 do
    local before = ran
    results[#results + 1] = decode(doc, nil, mt)
    during[mode] = during[mode] + ran - before
    if during[mode] >= 100 then break end
  end
end
active = false
if old_gc then
  collectgarbage("setpause", 200)
  collectgarbage("setstepmul", 200)
else
  collectgarbage("incremental", 200, 100, 13)
end
collectgarbage("collect")
for _, v in ipairs(results) do -- compared once the collector is back to normal (much faster)
  assert.same(expected, v)
  assert.equal(mt, getmetatable(v.data[500].empty))
end
assert.is_nil(bad)
for _, mode in ipairs(modes) do -- they did run inside the decoder, which is the point
  assert.is_true(during[mode] >= 100, mode .. ": finalizers ran " .. during[mode] .. " times in 40 decodes")
end

print("ok")
