--- A request made with the Lua stack all but full (Lua 5.4, whose stack grows to a million slots):
-- refused before anything is sent, never raised after the answer was taken (it would be lost, and a
-- POST may have been carried out); the JSON decoder there answers nil, message, never raises. The
-- cases recurse hundreds of thousands of levels deep many times: they run here, in processes of
-- their own, rather than among the GC-stress cases valgrind runs.
local H = require "spec.helper"

-- Runs a GC-stress case in a process of its own; asserts it exited 0 and returns its output.
local function run_case(name)
  H.reset()
  local p = assert(io.popen("timeout 300 lua5.4 spec/support/gc_stress.lua " .. name .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  assert.equal("0", out:match("exit=(%d+)%s*$"), out)
  return out
end

if _VERSION == "Lua 5.4" and not jit then
  describe("C core with the Lua stack all but full", function()
    it("refuses a request before sending it, never raises after", function()
      assert.matches("ok stack_full_after_sending: %d+ calls refused before sending, none raised after",
        run_case("stack_full_after_sending"))
    end)
    it("decodes, and answers or refuses every kind of call, never raising after sending", function()
      assert.matches("ok stack_edge: ", run_case("stack_edge"))
    end)
  end)
end
