--- Hostile Lua against the C core: finalizers that close or re-enter a session at the worst
-- moment (any allocation inside a C function can run one), request tables whose fields come
-- through __index, callbacks that close the session, files that would block. Each finalizer case
-- runs in a process of its own (spec/support/gc_stress.lua: a small heap, a collector that never
-- pauses), so a crash is seen as that process's death, not this one's. The same cases run on
-- both runtimes, under valgrind and under AddressSanitizer (spec/sanitize passes its build and
-- LD_PRELOAD down). The promise: a Lua error or a whole result; never a crash, never freed memory.
local H = require "spec.helper"
local core = require "instagram.core"

local runtime = jit and "luajit" or "lua5.4"

-- Runs a Lua script in a process of its own; returns its output and exit status (signals show as
-- 128 + n).
local function run_script(args)
  local p = assert(io.popen(("timeout 60 %s %s 2>&1; echo \"exit=$?\""):format(runtime, args)))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return out, code
end

-- Runs one case of spec/support/gc_stress.lua.
local function run_case(name) return run_script("spec/support/gc_stress.lua " .. name) end

-- A file of n bytes c to upload; the caller removes it.
local function temp_file(c, n)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(string.rep(c, n))
  f:close()
  return path
end

describe("C core under hostile finalizers", function()
  local url
  before_each(function()
    H.reset()
    url = H.graph_url .. "/v24.0/me"
  end)

  for _, name in ipairs{ "close_while_building", "close_while_pushing", "reenter_while_pushing",
                         "want_emptied_while_pushing", "call_freed_while_pushing",
                         "many_freed_while_pushing", "pending_freed_while_pushing", "finalizer_errors_everywhere",
                         "cstack_full_before_sending", "spare_in_use_not_taken", "byhand_before_sending", "decode_function_taken",
                         "many_tables_emptied", "start_race",
                         "cancel_while_finishing", "fifo", "kept_slots_rewritten" } do
    it("survives the hostile finalizer case " .. name .. " (a process of its own)", function()
      local out, code = run_case(name)
      assert.equal(0, code, out)
      assert.matches("ok " .. name, out)
    end)
  end

  it("calls the core from finalizers made while the state closes (LuaJIT: after the C modules' unload)", function()
    local out, code = run_case("finalizers_at_close")
    assert.equal(0, code, out)
    local rounds = jit and 5 or 1 -- (Lua 5.4 runs no finalizer made while it closes)
    for r = 1, rounds do assert.matches("at close: round " .. r .. " decoded " .. r .. "\n", out, 1, true) end
    assert.not_matches("round " .. rounds + 1, out, 1, true)
  end)

  it("calls the core from a finalizer made before the require (LuaJIT finalized it after the modules' unload)", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
package.cpath = (os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")) .. "/?.so;" .. package.cpath
package.path = "spec/?.lua;" .. package.path
local core
KEEP = require("support.finalizable")(function()
  local v = core.json_decode("[7]")
  core.session{}:close()
  io.stdout:write("finalizer decoded ", tostring(v and v[1]), "\n")
end)
core = require "instagram.core"
]])
    f:close()
    local out, code = run_script(script)
    os.remove(script)
    assert.equal(0, code, out)
    assert.matches("finalizer decoded 7\n", out, 1, true)
  end)

  if jit then -- (Lua 5.4's stack grows to a million slots: spec/stack_limit_spec.lua runs it there)
    it("decodes, and answers or refuses every kind of call, with the Lua stack all but full (LuaJIT)", function()
      local out, code = run_case("stack_edge")
      assert.equal(0, code, out)
      assert.matches("ok stack_edge: ", out)
    end)
  end

  it("s:many() reads request tables raw: fields behind __index are refused, not read after they are freed", function()
    local s = core.session{ ca_file = H.ca_file, timeout = 10 }
    local proxy = setmetatable({}, { __index = function(_, k)
      collectgarbage("collect")
      if k == "method" then return "PO" .. "ST" end
      if k == "url" then return url .. "?x=" .. string.rep("y", 64) end
      if k == "body" then return "message=" .. string.rep("z", 200) end
    end })
    local ok, err = pcall(s.many, s, { proxy })
    assert.is_false(ok)
    assert.matches("request 1: 'method' must be a string", err)
    s:close()
  end)

  -- request()'s scratch is kept for the next call on Lua 5.4 (in the registry: the debug library
  -- reaches it there too); one a raise left behind is not, and calls go on.
  it("keeps request()'s scratch between calls (Lua 5.4), through a raise and a __gc run by hand", function()
    local s = core.session{ ca_file = H.ca_file, timeout = 10 }
    local auth = { Authorization = "Bearer " .. H.token }
    local function spares()
      local found = {}
      for _, v in pairs(debug.getregistry()) do
        local mt = type(v) == "userdata" and debug.getmetatable(v)
        if mt and mt.__name == "instagram.core.call" then found[#found + 1] = v end
      end
      return found
    end
    assert.equal(200, (s:request("GET", url, auth)))
    local kept = spares()
    assert.equal((_VERSION == "Lua 5.4" and not jit) and 1 or 0, #kept)
    assert.has_error(function() s:request("GET", url, { ["Bad Name"] = "x" }) end) -- raises after the scratch is taken
    for _ = 1, 3 do
      for _, v in ipairs(kept) do debug.getmetatable(v).__gc(v) end -- by hand, between calls: nothing to free
      local status, _, body = s:request("GET", url, auth)
      assert.equal(200, status)
      assert.matches('"id"', body)
    end
    assert.equal(#kept, #spares())
    s:close()
  end)

  it("s:close() inside an upload's progress callback stops the upload", function()
    local path = temp_file("u", 4 * 1024 * 1024)
    local s = core.session{ ca_file = H.ca_file, timeout = 20 }
    local calls = 0
    local t0 = os.time()
    local ok, kind, msg = s:upload(H.graph_url .. "/ig-api-upload/v24.0/1", {}, path, 0, function()
      calls = calls + 1
      s:close()
    end)
    os.remove(path)
    assert.is_nil(ok)
    assert.equal("aborted", kind)
    assert.matches("closed", msg)
    assert.equal(1, calls, "no progress call after the close")
    assert.is_false(s:is_open())
    assert.is_true(os.time() - t0 < 10)
  end)

  it("a progress callback that runs the call's own finalizer by hand (debug library) frees nothing in use", function()
    local path = temp_file("d", 1024 * 1024)
    local s = core.session{ ca_file = H.ca_file, timeout = 20 }
    local freed = false
    local status = s:upload(H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token }, path, 0,
      function()
        if freed then return end
        for i = 1, 30 do -- the C function's own slots, as the debug library shows them
          local name, v = debug.getlocal(2, i)
          if name == nil then break end
          local mt = type(v) == "userdata" and v ~= s and debug.getmetatable(v)
          if mt and mt.__name == "instagram.core.call" then mt.__gc(v); freed = true end
        end
      end)
    os.remove(path)
    if _VERSION == "Lua 5.4" and not jit then assert.is_true(freed, "the call's scratch was found") end
    assert.is_number(status) -- the file and the header list were still there: no crash, the upload went on
    s:close()
  end)

  it("a progress callback that collects garbage and makes finalizers run does not disturb the upload", function()
    local path = temp_file("g", 256 * 1024)
    local s = core.session{ ca_file = H.ca_file, timeout = 20 }
    local calls, finalized = 0, 0
    local status = s:upload(H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token }, path, 0,
      function()
        calls = calls + 1
        for _ = 1, 50 do
          if newproxy then getmetatable(newproxy(true)).__gc = function() finalized = finalized + 1 end
          else setmetatable({}, { __gc = function() finalized = finalized + 1 end }) end
        end
        collectgarbage("collect")
      end)
    os.remove(path)
    assert.is_number(status)
    assert.is_true(calls > 0)
    assert.is_true(finalized > 0)
    assert.is_true(s:is_open())
    assert.equal(200, (s:request("GET", H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token })))
    s:close()
  end)
end)
