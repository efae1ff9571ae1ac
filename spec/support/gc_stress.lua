-- Hostile finalizers against the C core, one case per process (spec/gc_stress_spec.lua runs it):
--   lua5.4 spec/support/gc_stress.lua <case>
-- A small heap and a collector that never pauses make a cycle end every few kilobytes allocated,
-- and a finalizer that re-arms itself then runs at many allocation points inside one C call:
-- exactly where a close, a second call or a cancel must find consistent state. Prints one line
-- "ok <case> ..." and exits 0; a failed check raises (exit 1); a crash is a signal or an ASan abort.
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path

local H = require "spec.helper"
local core = require "instagram.core"

local case = assert(arg[1], "usage: gc_stress.lua <case>")
local LUA54 = _VERSION == "Lua 5.4" and not jit
local url = H.graph_url .. "/v24.0/me"
local auth = { Authorization = "Bearer " .. H.token }

local function restless_gc()
  -- the parameters first: the threshold a full collection sets is computed from them
  if LUA54 then collectgarbage("incremental", 1, 1000, 10)
  else collectgarbage("setpause", 1); collectgarbage("setstepmul", 5000) end
  collectgarbage("collect")
end

local finalizable = require "support.finalizable"

-- fn runs from a finalizer at the end of collection cycles, from the (skip + 1)-th cycle on, until
-- the returned stop() is called. With the collector never pausing a cycle ends every few
-- allocations, so rounds with growing skips reach further and further into one C call.
local function haunt(fn, skip)
  local on, seen = true, 0
  local function plant()
    finalizable(function()
      if not on then return end
      seen = seen + 1
      if seen > (skip or 0) then pcall(fn) end
      plant()
    end)
  end
  plant()
  return function() on = false end
end

-- Header values that are numbers (the C core formats them without allocating: a finalizer run
-- while the header list was built could free it, by hand).
local function numeric_headers(n)
  local h = { Authorization = auth.Authorization }
  for i = 1, n do h["X-Pad-" .. i] = 1000000 + i end
  return h
end

local function new_session(opts)
  opts = opts or {}
  opts.ca_file, opts.timeout = H.ca_file, opts.timeout or 10
  return core.session(opts)
end

local cases = {}

-- The session closed by a finalizer at any point of request() with 1500 headers (building their
-- list allocates nothing, so before it or after it): a result or a clean error.
function cases.close_while_building()
  local results, closed = 0, 0
  for round = 1, 15 do
    local s = new_session()
    local hdrs = numeric_headers(1500)
    restless_gc()
    local stop = haunt(function() s:close() end, round * 7)
    local ok, status = pcall(s.request, s, "GET", url, hdrs)
    stop()
    if ok then
      assert(type(status) == "number" or status == nil, "a result or nil, kind, message")
      results = results + 1
    else
      assert(tostring(status):find("session is closed", 1, true), "unexpected error: " .. tostring(status))
      closed = closed + 1
    end
    s:close()
  end
  return ("%d results, %d closed-session errors"):format(results, closed)
end

-- The session closed by a finalizer while a 600-header answer is being pushed. A close that
-- comes before the call is a clean error; rounds where it came during the call must be seen.
function cases.close_while_pushing()
  H.reset()
  H.config{ faults = { { path = "/me$", headers = 600, header_size = 40 } } }
  local during, before = 0, 0
  for round = 1, 30 do
    local s = new_session{ http2 = false }
    assert(s:request("GET", url, auth) == 200)
    restless_gc()
    local stop = haunt(function() s:close() end, round * 5)
    local ok, status, headers, body = pcall(s.request, s, "GET", url, auth)
    stop()
    if not ok then
      assert(tostring(status):find("session is closed", 1, true), tostring(status))
      before = before + 1
    else
      assert(status == 200, "status " .. tostring(status))
      assert(headers["x-flood-600"] == string.rep("v", 40), "header 600 intact")
      assert(headers["x-flood-1"] == string.rep("v", 40), "header 1 intact")
      assert(body:find('"id"', 1, true), "body intact")
      if not s:is_open() then during = during + 1 end
    end
    s:close()
  end
  assert(during > 0, "no round closed the session during the call")
  return ("%d closed during the call (answers whole), %d before it"):format(during, before)
end

-- A finalizer that uses the same session again while results are pushed.
function cases.reenter_while_pushing()
  H.reset()
  H.config{ rate_limit = { limit = 100000 }, faults = { { path = "/me$", headers = 600, header_size = 40 } } }
  local s = new_session{ http2 = false }
  local nested = 0
  for round = 1, 10 do
    restless_gc()
    local this_round = 0
    local stop = haunt(function()
      if this_round >= 3 then return end -- a few nested calls per round are enough
      this_round = this_round + 1
      local st = s:request("GET", url, auth)
      assert(st == 200)
      nested = nested + 1
    end, round * 20)
    local status, headers, body = s:request("GET", url, auth)
    stop()
    assert(status == 200 and headers["x-flood-600"] and body:find('"id"', 1, true),
      ("outer answer intact: %s %s %s"):format(tostring(status), tostring(headers and headers["x-flood-600"]),
        tostring(body)))
  end
  s:close()
  return ("%d nested calls answered"):format(nested)
end

-- A finalizer that empties request()'s `want` list and collects after the call read it (while the
-- call makes its scratch or pushes the answer; numbers as header values allocate nothing): the
-- names stay alive until the call returns.
function cases.want_emptied_while_pushing()
  H.reset()
  H.config{ faults = { { path = "/me$", headers = 600, header_size = 40 } } }
  local s = new_session{ http2 = false }
  local emptied = 0
  for round = 1, 15 do
    local want = { "x-flood-600", "x-flood-" .. round, "content-type" }
    local hdrs = numeric_headers(300)
    restless_gc()
    local stop = haunt(function()
      if want[1] == nil then return end
      for level = 2, 20 do -- (once request() has read the list: its names are among its stack slots)
        local info = debug.getinfo(level, "f")
        if not info then return end
        for i = 1, info.func == s.request and 40 or 0 do
          local slot, v = debug.getlocal(level, i)
          if slot == nil then break end
          if v == want[#want] then
            for k = #want, 1, -1 do want[k] = nil end
            collectgarbage("collect")
            return
          end
        end
      end
    end, (round - 1) % 3)
    local status, headers, body = s:request("GET", url, hdrs, nil, nil, nil, want)
    stop()
    assert(status == 200, "status " .. tostring(status))
    local n = 0
    for _ in pairs(headers) do n = n + 1 end
    assert(n == 3 and headers["x-flood-600"] == string.rep("v", 40) and headers["x-flood-" .. round] == string.rep("v", 40),
      "only the wanted headers, whole")
    assert(body:find('"id"', 1, true), "body intact")
    if want[1] == nil then emptied = emptied + 1 end
  end
  s:close()
  assert(emptied >= 5, "fewer than 5 rounds emptied the list during the call: " .. emptied)
  return ("15 answers with the wanted headers only, %d with the list emptied during the call"):format(emptied)
end

-- A 10 KB JSON page behind 600 headers of 40 bytes at /me: an answer whose push allocates a lot.
local function flooded_page()
  local items = {}
  for i = 1, 40 do
    items[i] = ('{"id":"1791819522%07d","caption":"%s","media_type":"IMAGE","like_count":%d}'):format(i, ("x"):rep(200), i)
  end
  local page = '{"data":[' .. table.concat(items, ",") .. ']}'
  H.config{ faults = { { path = "/me$", headers = 600, header_size = 40, status = 200, body = page,
                         content_type = "application/json" } } }
  return page
end

-- A clean emulator serving flooded_page() to a new HTTP/1.1 session, and the restless collector:
-- the page and the session.
local function flooded_session()
  H.reset()
  local page = flooded_page()
  local s = new_session{ http2 = false }
  restless_gc()
  return page, s
end

-- A finalizer that runs, by hand, the __gc of each userdata of metatable name found among the stack
-- slots of the C functions below it (the debug library shows them). Returns the stop function and a
-- function that counts the runs.
local function haunt_by_hand(name)
  local freed = 0
  local stop = haunt(function()
    for level = 2, 12 do
      if not debug.getinfo(level, "f") then break end
      for i = 1, 40 do
        local slot, v = debug.getlocal(level, i)
        if slot == nil then break end
        local mt = type(v) == "userdata" and debug.getmetatable(v)
        if mt and mt.__name == name then mt.__gc(v); freed = freed + 1 end
      end
    end
  end)
  return stop, function() return freed end
end

-- A finalizer that finds the call's scratch among request()'s stack slots (the debug library shows a
-- C function's) and runs its __gc by hand while the answer, 600 headers and a 10 KB JSON page, is
-- pushed, decoded or not: it frees nothing being read (the header parser and the decoder read
-- freed buffers before, on both runtimes). No headers are sent, so a __gc while they are built
-- loses none.
function cases.call_freed_while_pushing()
  local page, s = flooded_session()
  local decode = require("instagram.json").core_options
  local stop, freed = haunt_by_hand("instagram.core.call")
  for _ = 1, 15 do
    local status, headers, _, value = s:request("GET", url, {}, nil, nil, decode())
    assert(status == 200 and headers["x-flood-600"] == string.rep("v", 40), "an answer, its headers whole")
    assert(type(value) == "table" and #value.data == 40 and value.data[40].like_count == 40, "the answer decoded whole")
    local status2, _, body2 = s:request("GET", url, {})
    assert(status2 == 200 and body2 == page, "the body whole, not decoded")
  end
  stop()
  s:close()
  assert(freed() > 0, "the call's scratch was never found")
  return ("30 answers whole, the call's __gc run by hand %d times while they were pushed"):format(freed())
end

-- The same for s:many()'s scratch, while the batch's answers are pushed.
function cases.many_freed_while_pushing()
  local page, s = flooded_session()
  local stop, freed = haunt_by_hand("instagram.core.many")
  for _ = 1, 10 do
    local results = s:many({ { method = "GET", url = url }, { method = "GET", url = url } }, 2)
    for k = 1, 2 do
      local r = results[k]
      assert(r.status == 200 and r.headers["x-flood-600"] == string.rep("v", 40) and r.body == page,
        "answer " .. k .. " whole: " .. tostring(r.error))
    end
  end
  stop()
  s:close()
  assert(freed() > 0, "many's scratch was never found")
  return ("20 answers whole, many's __gc run by hand %d times while they were pushed"):format(freed())
end

-- A started request's own object, its __gc run by hand from a finalizer while finish() pushes the
-- answer (the caller holds the object: no debug.getlocal needed, only debug.getmetatable).
function cases.pending_freed_while_pushing()
  local page, s = flooded_session()
  local runs, whole = 0, 0
  for round = 1, 20 do
    local p = s:start("GET", url, {})
    local gc = debug.getmetatable(p).__gc
    local stop = haunt(function() gc(p); runs = runs + 1 end, round % 5) -- (a __gc before finish() is a cancel)
    local ok, status, headers, body = pcall(p.finish, p)
    stop()
    if ok then
      assert(status == 200 and headers["x-flood-600"] == string.rep("v", 40) and body == page, "the answer whole")
      whole = whole + 1
    else
      assert(tostring(status):find("cancelled", 1, true), tostring(status))
    end
  end
  s:close()
  assert(runs > 0 and whole > 0, ("the finalizer ran %d times, %d answers whole"):format(runs, whole))
  return ("%d answers whole, the started request's __gc run by hand %d times"):format(whole, runs)
end

-- A finalizer that raises at its k-th to (k+4)-th runs during a call, k = 1, 2, ...: every point where the
-- collector runs one inside request (decoded or not), many, start/finish and upload. LuaJIT hands the
-- error to the allocation that ran the finalizer (Lua 5.4 makes it a warning). Each call answers or
-- raises that error before its request is sent: once sent, an error while its answer is pushed runs
-- the push again, the last time with the collector stopped, and the answer is never lost (before:
-- 154 of 200 calls lost on LuaJIT; with three tries and no stop, errors in a row still lost some). Later
-- calls are whole; that nothing stays marked in use (an error between
-- marking a scratch and its protected push left it "busy", its buffers never freed) is valgrind's
-- to see: spec/run runs this case under it on LuaJIT too.
function cases.finalizer_errors_everywhere()
  local _, s = flooded_session()
  local decode = require("instagram.json").core_options
  local file = os.tmpname()
  local fh = assert(io.open(file, "wb"))
  fh:write(string.rep("u", 5000))
  fh:close()
  local started
  local calls = {
    request = function() return s:request("GET", url, {}) end,
    decoded = function() return s:request("GET", url, {}, nil, nil, decode()) end,
    many = function() return s:many({ { method = "GET", url = url }, { method = "GET", url = url } }, 2)[2].status end,
    start = function() -- (finish() raising before it took the answer leaves it to a second finish())
      local p = s:start("GET", url, {})
      started = p
      return p:finish()
    end,
    upload = function() return s:upload(url, {}, file, 0, function() end) end,
  }
  local raised, answered, lost, lost_in = 0, 0, 0, {}
  for _, name in ipairs{ "request", "decoded", "many", "start", "upload" } do
    for k = 1, 40 do
      local before = #H.requests("/me$")
      started = nil
      local n, active = 0, false
      local on = true
      local function plant()
        finalizable(function()
          if not on then return end
          plant()
          if not active then return end
          n = n + 1
          if n >= k and n < k + 5 then error("boom " .. k) end -- (5 in a row: more than the push's tries)
        end)
      end
      plant()
      active = true
      local ok, e = pcall(calls[name])
      active, on = false, false
      if ok then answered = answered + 1
      else
        raised = raised + 1
        assert(tostring(e):find("boom", 1, true), name .. ": " .. tostring(e))
        local later = started and pcall(started.finish, started)
        if #H.requests("/me$") > before and not later then lost = lost + 1; lost_in[name] = true end
      end
    end
    assert(calls[name]() == 200, name .. " after the errors")
  end
  os.remove(file)
  s:close()
  local names = {}
  for name in pairs(lost_in) do names[#names + 1] = name end
  assert(lost == 0, lost .. " calls raised a finalizer's error after their request was sent: " .. table.concat(names, ", "))
  return ("%d calls answered, %d raised a finalizer's error before sending (or finish() before taking "
    .. "the answer), later calls whole"):format(answered, raised)
end

-- request() called with the Lua stack all but full: it raises "too many nested calls" before
-- sending, never after (the answer would be lost, and a POST may have been carried out). The stack is
-- filled by recursion to the deepest level where a call still gets through, with 0-3 slots of
-- padding and want lists of 13-16 names (checked apart, before the answer's own room was). Lua 5.4
-- (its stack grows to a million slots: spec/stack_limit_spec.lua runs it, not under valgrind).
function cases.stack_full_after_sending()
  H.reset()
  H.config{ faults = { { path = "/me$", status = 200, body = string.rep("B", 1000) } } }
  local s = new_session{ http2 = false }
  local function count() return #H.requests("/me$") end
  local leaves, leaf = {}, nil
  for k = 0, 3 do
    local src = "local s, url = ...; return function(w) "
    for i = 1, k do src = src .. "local a" .. i .. " = " .. i .. "; " end
    leaves[k] = load(src .. "return pcall(s.request, s, 'GET', url, nil, nil, nil, nil, w) end")(s, url)
  end
  local function f(d, w)
    if d == 0 then return leaf(w) end
    local ok, e = f(d - 1, w)
    return ok, e
  end
  local function names(n)
    local w = {}
    for i = 1, n do w[i] = "x-h" .. i end
    return w
  end
  local function attempt(d, w)
    collectgarbage("collect") -- (a stack left large by the last overflow shrinks back)
    local before = count()
    local okf, ok, e = pcall(f, d, w)
    if not okf then return "recursion overflow", 0 end
    return ok and "ok" or tostring(e), count() - before
  end
  local lost, refused = 0, 0
  for k = 0, 3 do
    leaf = leaves[k]
    local lo, hi = 1, 400000 -- the deepest d where request() still sends
    while lo < hi do
      local mid = math.floor((lo + hi + 1) / 2)
      local _, made = attempt(mid, {})
      if made == 0 then hi = mid - 1 else lo = mid end
    end
    for d = lo - 2, lo + 1 do
      for n = 13, 16 do
        local r, made = attempt(d, names(n))
        if made > 0 and r ~= "ok" then lost = lost + 1 end
        if made == 0 and r:find("too many nested calls", 1, true) then refused = refused + 1 end
      end
    end
  end
  collectgarbage("collect")
  assert(lost == 0, lost .. " calls raised after their request was sent")
  assert(refused > 0, "the stack was never full enough to refuse a call")
  assert(s:request("GET", url) == 200)
  s:close()
  return ("%d calls refused before sending, none raised after"):format(refused)
end

-- The JSON decoder and every kind of call with the Lua stack all but full: recursion to the deepest
-- level where a call still gets through, then back up 30 levels, with 0-40 slots of padding. The
-- decoder answers a value or nil, message, never raises once it runs (before, LuaJIT's
-- lua_checkstack raised "stack overflow" at the stack's limit, where Lua 5.4's returns 0: a wide
-- array raised instead of going into its table); a call is refused before its request is sent or
-- answers, never raises after (a decoded request did, 1 in 200). LuaJIT here (a 65500-slot stack);
-- Lua 5.4's grows to a million slots: spec/stack_limit_spec.lua runs it there.
-- A finalizer that writes into the decoder's C frame (debug.setlocal: outside promise 2, yet the
-- decoder holds here) puts other strings in the slots where it keeps keys and values and collects,
-- at the end of every cycle: the decoder reads no memory it does not own (it compares the text's
-- bytes with the text's, never with a string a slot held: valgrind and ASan in make test), and
-- every key and value is the one in the text or one the finalizer wrote, never anything else.
local KEPT_SLOTS = 64 -- src/json.c
function cases.kept_slots_rewritten()
  restless_gc()
  local rewritten, runs, surfaced = 0, 0, 0
  local stop = haunt(function()
    runs = runs + 1
    if runs > 400 then return end
    for level = 2, 14 do -- json_decode's frame and the C frame it calls (LuaJIT's protected decode)
      local info = debug.getinfo(level, "f")
      if not info then break end
      if info.func == core.json_decode then
        for l = level - 1, level do
          -- the frame that decodes: its arguments (the text, or LuaJIT's protected call's pointer),
          -- the two options, then the slots; what comes after them is the value being read
          local _, first = debug.getlocal(l, 1)
          local args = type(first) == "string" and 4 or type(first) == "userdata" and 3
          for i = args and args + 1 or 1, args and args + KEPT_SLOTS or 0 do
            local name, v = debug.getlocal(l, i)
            if not name then break end
            if type(v) == "string" then
              debug.setlocal(l, i, ("junk%d"):format(i) .. ("."):rep(40))
              rewritten = rewritten + 1
            end
          end
        end
      end
    end
    collectgarbage("collect")
  end)
  for round = 1, 20 do
    local val = ("Q%08d%s"):format(round, ("z"):rep(round % 16 + 8))
    local items = {}
    for i = 1, 40 do items[i] = ('{"%s":"%s","b":"%s"}'):format(val, val, i % 2 == 0 and "x" or val) end
    runs = 0
    local v = assert(core.json_decode("[" .. table.concat(items, ",") .. "]"))
    for i = 1, 40 do
      local want, members = { [val] = val, b = i % 2 == 0 and "x" or val }, 0
      for k, x in pairs(v[i]) do
        members = members + 1
        local junk_key, junk_value = tostring(k):match("^junk%d+%.+$"), tostring(x):match("^junk%d+%.+$")
        assert(junk_key or want[k], "a key neither in the text nor written by the finalizer")
        assert(junk_value or x == want[k] or junk_key and (x == val or x == "x"),
          "a value neither in the text nor written by the finalizer")
        if junk_key or junk_value then surfaced = surfaced + 1 end
      end
      assert(members == 2, "a member lost")
    end
  end
  stop()
  assert(rewritten > 0, "the finalizer never found a kept string")
  return ("20 decodes, every member the text's or the finalizer's (%d of its): the slots of kept strings rewritten %d times")
    :format(surfaced, rewritten)
end

function cases.stack_edge()
  -- With the JIT on, Debian's LuaJIT (luajit2 2.1-20230119) kills the process here now and then,
  -- and not in this library: at the stack's edge calling any finalizer fails ("stack overflow"),
  -- and that LuaJIT raises a finalizer's error even from the GC step a trace exit runs, where it
  -- cannot be unwound (LuaJIT pull request #946; fixed upstream by 1c279127, 2023-04-16, which
  -- prints such errors instead; CHANGELOG, Known limits, has a reproducer without this library).
  -- The core's C functions run alike either way: this case runs interpreted.
  if jit then jit.off() end
  local _, s = flooded_session()
  collectgarbage("restart")
  collectgarbage(LUA54 and "generational" or "setpause", LUA54 and nil or 200)
  local decode = require("instagram.json").core_options
  local file = os.tmpname()
  local fh = assert(io.open(file, "wb"))
  fh:write("u")
  fh:close()
  local unpack = table.unpack or unpack
  local pad = {}
  for i = 1, 40 do pad[i] = i end
  local deep, wide = ("["):rep(300) .. ("]"):rep(300), "[" .. ("1,"):rep(3000) .. "1]"
  -- repeated objects: the decoder keeps their keys and values in stack slots, or in one slot
  -- when the stack has no room for them (never a raise for that)
  local kept = "[" .. ('{"a":"x","b":1},'):rep(20) .. '{"a":"x","b":1}]'

  local started
  local calls = {
    deep = function() return core.json_decode(deep) end,
    wide = function() return core.json_decode(wide) end,
    kept = function() return core.json_decode(kept) end,
    decoded = function() return s:request("GET", url, auth, nil, nil, decode()) end,
    many = function() return s:many({ { method = "GET", url = url, headers = auth } }) end,
    upload = function() return s:upload(url, auth, file) end,
    finish = function() return started:finish() end,
  }
  local call
  local function leaf()
    if not pcall(core.now) then return "no room to call" end -- (a C function's frame: not the decoder's)
    return pcall(call)
  end
  local function f(d, k)
    if d == 0 then return leaf(unpack(pad, 1, k)) end
    local a, b, c = f(d - 1, k)
    return a, b, c
  end
  call = core.now
  local lo, hi = 1, LUA54 and 400000 or 40000 -- (the edge is the recursion's and leaf's: one for all)
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if pcall(f, mid, 0) then lo = mid else hi = mid - 1 end
  end
  local report = {}
  for _, name in ipairs{ "deep", "wide", "kept", "decoded", "many", "upload", "finish" } do
    call = calls[name]
    local answered, refused, lost, raised = 0, 0, 0, 0
    for d = lo - 30, lo + 1, LUA54 and 5 or 1 do
      for k = 0, 40, LUA54 and 10 or 4 do
        if name == "finish" then started = s:start("GET", url, auth) end
        local before = #H.requests("/me$")
        local okf, ok, v, e = pcall(f, d, k)
        local sent = #H.requests("/me$") - before
        if not okf or ok == "no room to call" then
          refused = refused + 1
        elseif name == "deep" or name == "wide" or name == "kept" then
          if not ok then raised = raised + 1
          elseif name == "kept" and v ~= nil and not (#v == 21 and v[21].a == "x" and v[21].b == 1) then
            error("kept: a wrong value")
          elseif v ~= nil or tostring(e):find("nested too deep", 1, true) then answered = answered + 1
          else error(name .. ": " .. tostring(e)) end
        elseif name == "finish" then -- (sent by start(): the answer must still be there)
          if ok then answered = answered + 1
          elseif pcall(started.finish, started) then refused = refused + 1
          else lost = lost + 1 end
        elseif ok then answered = answered + 1
        elseif sent > 0 then lost = lost + 1
        else refused = refused + 1 end
        if name == "finish" then started:cancel() end
      end
    end
    assert(raised == 0, ("%s: the decoder raised %d times"):format(name, raised))
    assert(lost == 0, ("%s: %d calls raised after their request was sent"):format(name, lost))
    assert(answered > 0 and refused > 0, ("%s: %d answered, %d refused: not the stack's edge"):format(name, answered, refused))
    report[#report + 1] = ("%s %d/%d"):format(name, answered, refused)
  end
  os.remove(file)
  assert(s:request("GET", url, auth) == 200)
  s:close()
  return "answered/refused at the stack's edge, none raised after sending: " .. table.concat(report, ", ")
end

-- On LuaJIT a decode runs under a protected call of a C function given a pointer into the C stack
-- (the decode's arguments): a finalizer that takes both from the stack (debug library) and calls the
-- function during the decode, later, or after replacing or removing it in the registry, gets an
-- error or a whole decode, never a decode of freed arguments (before: a bus error). Lua 5.4 has no
-- such frame: nothing to take.
function cases.decode_function_taken()
  restless_gc()
  local got, on = {}, true
  local function plant()
    finalizable(function()
      if not on then return end
      plant()
      for level = 2, 40 do
        local info = debug.getinfo(level, "f")
        if not info then break end
        if info.func == core.json_decode and not got.f then
          local inner = debug.getinfo(level - 1, "fS")
          local _, v = debug.getlocal(level - 1, 1)
          if inner and inner.what == "C" and type(v) == "userdata" then
            got.f, got.a = inner.func, v
            got.during = { pcall(inner.func, v, nil, nil) }
          end
        end
      end
    end)
  end
  plant()
  local text = "[" .. ('{"a":"%s","b":[1,2,3]},'):format(("x"):rep(50)):rep(300) .. "1]"
  for _ = 1, 50 do assert(#core.json_decode(text) == 301) end
  on = false
  if not jit then
    assert(got.f == nil, "a C function above json_decode on Lua 5.4")
    return "no function to take (Lua 5.4)"
  end
  assert(got.f, "the decode's function was never seen")
  assert(not got.during[1] and tostring(got.during[2]):find("no decode to run", 1, true), tostring(got.during[2]))
  for _ = 1, 5 do
    local ok, e = pcall(got.f, got.a, nil, nil)
    assert(not ok and tostring(e):find("no decode to run", 1, true), tostring(e))
  end
  local reg, replaced, key = debug.getregistry(), 0, nil
  local function hostile() return 1, 2, 3 end
  for k, v in pairs(reg) do
    if v == got.f then reg[k], key = hostile, k; replaced = replaced + 1 end
  end
  assert(replaced == 1 and core.json_decode("[1,2]")[2] == 2, "a replaced function was called")
  assert(type(reg[key]) == "function" and reg[key] ~= hostile and pcall(reg[key]) == false, "not stored back")
  reg[key] = nil
  assert(core.json_decode("[1,2]")[2] == 2, "a removed function was not made again")
  assert(type(reg[key]) == "function" and reg[key] ~= hostile, "a removed function was not stored back")
  return "refused during the decode and after it; the registry's function replaced or removed: decodes whole"
end

-- request (a POST), many, upload and finish called from 185 to 200 protected calls deep: Lua 5.4
-- counts C calls (at most 200), and the answer's push is one more (lua_pcall). A call that cannot
-- make it is refused before its request is sent (a started one, before its answer is taken: finish
-- can be called again), never raised after. (LuaJIT counts no C calls this way: nothing is refused.)
function cases.cstack_full_before_sending()
  H.reset()
  local s = new_session{ http2 = false }
  local file = os.tmpname()
  local fh = assert(io.open(file, "wb"))
  fh:write("u")
  fh:close()
  local started
  local calls = {
    request = function() return s:request("POST", url, auth, "x=1") end,
    many = function() return s:many({ { method = "GET", url = url, headers = auth } }) end,
    upload = function() return s:upload(url, auth, file) end,
    finish = function() return started:finish() end,
  }
  local function nest(d, call) -- each level one more C call on the C stack
    if d == 0 then return pcall(call) end
    local r = { pcall(nest, d - 1, call) }
    return (table.unpack or unpack)(r, 2)
  end
  local lost, refused = 0, 0
  for _, name in ipairs{ "request", "many", "upload", "finish" } do
    for depth = 185, 200 do
      if name == "finish" then started = s:start("GET", url, auth) end
      local before = #H.requests("/me$")
      local ok = nest(depth, calls[name])
      local sent = #H.requests("/me$") - before
      if name == "finish" then -- (sent at start(): the answer must not be gone)
        local again = { pcall(started.finish, started) }
        if not ok and not again[1] then lost = lost + 1 end
        if not ok and again[1] then refused = refused + 1 end
      else
        if sent > 0 and not ok then lost = lost + 1 end
        if sent == 0 and not ok then refused = refused + 1 end
      end
    end
  end
  os.remove(file)
  assert(lost == 0, lost .. " calls raised after their request was sent or their answer taken")
  assert(jit or refused > 0, "the C stack was never full enough to refuse a call")
  assert(s:request("GET", url, auth) == 200)
  s:close()
  return ("%d calls refused before sending, none raised after"):format(refused)
end

-- A request's scratch in use (its header list half built), put by hostile code in the registry's
-- spare slot (Lua 5.4 keeps one there) from a finalizer that then makes another request: that one
-- never takes it (it would free the first one's headers, or give it its own).
function cases.spare_in_use_not_taken()
  H.reset()
  local s1, s2 = new_session{ http2 = false }, new_session{ http2 = false }
  assert(s1:request("GET", url, auth) == 200)
  local reg, slot = debug.getregistry(), nil
  for k, v in pairs(reg) do
    local mt = type(v) == "userdata" and debug.getmetatable(v)
    if type(k) == "userdata" and mt and mt.__name == "instagram.core.call" then slot = k end
  end
  if not slot then
    assert(jit, "Lua 5.4 keeps a spare scratch")
    return "no spare scratch on LuaJIT"
  end
  local hdrs = { Authorization = auth.Authorization }
  for i = 1, 150 do hdrs["X-A-" .. i] = 1000000 + i end
  local rounds, placed = 0, 0
  for round = 1, 10 do
    local done = false
    restless_gc()
    local stop = haunt(function()
      if done then return end
      for level = 2, 12 do
        if not debug.getinfo(level, "f") then break end
        for i = 1, 30 do
          local name, v = debug.getlocal(level, i)
          if not name then break end
          local mt = type(v) == "userdata" and debug.getmetatable(v)
          if mt and mt.__name == "instagram.core.call" and not done then
            done, reg[slot] = true, v
            s2:request("GET", H.graph_url .. "/v24.0/other", { ["X-From-B"] = "secret-of-B" })
            return
          end
        end
      end
    end, round)
    local status = s1:request("GET", url, hdrs)
    stop()
    collectgarbage("setpause", 200)
    local seen = H.requests("/me$")
    local last, n = seen[#seen].headers, 0
    for k in pairs(last) do if k:find("^x%-a%-") then n = n + 1 end end
    assert(status == 200 and last.authorization and last["x-from-b"] == nil and n == 150,
      ("the first request went out whole (%d of its 150 headers)"):format(n))
    rounds = rounds + 1
    if done then placed = placed + 1 end
  end
  s1:close()
  s2:close()
  assert(placed > 0, "the scratch was never put in the slot")
  return ("%d requests whole, %d with their scratch put in the spare slot while in use"):format(rounds, placed)
end

-- The scratch's __gc run by hand at every allocation of request, many and upload, with the collector's
-- phase moved a little each round: before sending too, while the function that pushes the answer is
-- made. A request never goes out without the caller's headers, an upload never reads a closed file.
function cases.byhand_before_sending()
  local s = new_session{ http2 = false }
  local file = os.tmpname()
  local fh = assert(io.open(file, "wb"))
  fh:write(string.rep("u", 3000))
  fh:close()
  local hdrs = numeric_headers(12) -- (numbers as values: formatted without allocating, since a
  hdrs["X-Marker"], hdrs["X-Float"] = "yes", 0.5 -- finalizer there dropped the lines built so far)
  local calls = {
    request = function() return s:request("GET", url, hdrs) end,
    many = function() return s:many({ { method = "GET", url = url, headers = hdrs } })[1].status end,
    upload = function() return s:upload(H.graph_url .. "/ig-api-upload/v24.0/1", hdrs, file, 0) end,
  }
  local sent, runs = 0, 0
  for _, name in ipairs{ "request", "many", "upload" } do
    for pad = 0, 40 do
      H.reset()
      restless_gc()
      for _ = 1, pad do local _ = {} end -- (the collector's phase moves)
      local stop, freed = haunt_by_hand(name == "many" and "instagram.core.many" or "instagram.core.call")
      pcall(calls[name])
      stop()
      runs = runs + freed()
      local seen = H.requests(name == "upload" and "/ig%-api%-upload/" or "/me$")
      for _, r in ipairs(seen) do
        sent = sent + 1
        assert(r.headers["x-marker"] == "yes", name .. ": a request went out without the caller's headers")
        for i = 1, 12 do
          assert(r.headers["x-pad-" .. i] == tostring(1000000 + i), name .. ": a request went out without header " .. i)
        end
        assert(r.headers["x-float"] == tostring(0.5), name .. ": x-float " .. tostring(r.headers["x-float"]))
      end
    end
  end
  os.remove(file)
  s:close()
  assert(sent > 0 and runs > 0, ("%d requests, %d runs of __gc by hand"):format(sent, runs))
  return ("%d requests, each with its headers; __gc run by hand %d times"):format(sent, runs)
end

-- s:many() while a finalizer empties the request tables and collects.
function cases.many_tables_emptied()
  local s = new_session()
  local sent = 0
  for round = 1, 10 do
    H.reset()
    local reqs, bodies = {}, {}
    for i = 1, 6 do
      local h = numeric_headers(200)
      h["Content-Type"] = "application/x-www-form-urlencoded"
      bodies[i] = ("message=r%d-%d-"):format(round, i) .. string.rep("x", 200)
      reqs[i] = { method = "POST", url = H.graph_url .. "/v24.0/17918195224100001/comments",
                  headers = h, body = bodies[i] }
    end
    restless_gc()
    local stop = haunt(function()
      for i = 1, 6 do reqs[i].body, reqs[i].url, reqs[i].method = nil, nil, nil end
      collectgarbage("step", 0)
    end, round <= 7 and round * 10 or 100000) -- the last rounds: no finalizer, all sent
    local ok, results = pcall(s.many, s, reqs, 3)
    stop()
    collectgarbage("collect")
    if ok then
      local seen = {}
      for _, r in ipairs(H.requests("/comments$")) do seen[r.body] = true end
      for i = 1, 6 do
        assert(results[i].status == 200, "request " .. i .. ": " .. tostring(results[i].message))
        assert(seen[bodies[i]], "request " .. i .. "'s body arrived as given")
      end
      sent = sent + 1
    else
      assert(tostring(results):find("must be a string", 1, true), tostring(results))
    end
  end
  s:close()
  return ("%d of 10 rounds sent whole"):format(sent)
end

-- s:start() from a finalizer while another start() sets up: never two active requests.
function cases.start_race()
  for round = 1, 15 do
    local s = new_session()
    local inner = {}
    local hdrs = numeric_headers(1000)
    restless_gc()
    local stop = haunt(function()
      local ok, p = pcall(s.start, s, "GET", url, auth)
      if ok then inner[#inner + 1] = p end
    end, round * 3)
    local ok, p = pcall(s.start, s, "GET", url, hdrs)
    stop()
    collectgarbage("collect")
    if ok then
      assert(#inner == 0, "the outer start succeeded while an inner one was active")
      assert(type((p:finish())) == "number")
    else
      assert(tostring(p):find("one started request per session", 1, true), tostring(p))
      assert(#inner == 1)
      assert(inner[1]:finish() == 200)
    end
    s:close()
  end
  return "one active request each round"
end

-- pending:cancel() (and close) from a finalizer while finish() pushes a 600-header answer.
function cases.cancel_while_finishing()
  H.reset()
  H.config{ faults = { { path = "/me$", headers = 600, header_size = 40 } } }
  local during, before = 0, 0
  for round = 1, 30 do
    local s = new_session{ http2 = false }
    local p = s:start("GET", url, auth)
    restless_gc()
    local stop = haunt(function() p:cancel(); s:close() end, round * 5)
    local ok, status, headers, body = pcall(p.finish, p)
    stop()
    if not ok then
      assert(tostring(status):find("cancelled", 1, true), tostring(status))
      before = before + 1
    else
      assert(status == 200, tostring(status))
      assert(headers["x-flood-600"] == string.rep("v", 40) and body:find('"id"', 1, true), "answer intact")
      if not s:is_open() then during = during + 1 end
    end
    s:close()
  end
  assert(during > 0, "no round cancelled during finish()")
  return ("%d cancelled while the answer was pushed (whole), %d before"):format(during, before)
end

-- A FIFO as the upload file or the CA file: refused at once (the spec runs this under a timeout).
function cases.fifo()
  local fifo = os.tmpname()
  os.remove(fifo)
  assert(os.execute("mkfifo " .. fifo))
  local s = new_session()
  local ok, kind, msg = s:upload(H.graph_url .. "/x", {}, fifo)
  assert(ok == nil and kind == "file" and msg:find("not a regular file", 1, true), tostring(msg))
  local ok2, err = pcall(core.session, { ca_file = fifo })
  assert(not ok2 and tostring(err):find("ca_file", 1, true), tostring(err))
  s:close()
  os.remove(fifo)
  return "refused"
end

-- LuaJIT's lua_close runs finalizers in rounds, and one a finalizer made while the state closed
-- ran after the package library's finalizer had unloaded the C modules: calling the core from it
-- was a segfault at exit. Finalizers that call the core and make the next one while the state
-- closes (Lua 5.4 runs none made then: one round there); the last round says how many ran.
function cases.finalizers_at_close()
  local rounds = 0
  local function fin()
    rounds = rounds + 1
    local v = core.json_decode('{"round":' .. rounds .. '}')
    local s = core.session{ ca_file = H.ca_file }
    s:close()
    io.stdout:write(("at close: round %d decoded %s\n"):format(rounds, tostring(v and v.round)))
    if rounds < 5 then AT_CLOSE = finalizable(fin) end -- luacheck: ignore (a global: kept to the close)
  end
  AT_CLOSE = finalizable(fin) -- luacheck: ignore
  return "armed"
end

local fn = assert(cases[case], "unknown case " .. case)
print("ok " .. case .. ": " .. fn())
