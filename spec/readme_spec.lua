-- The README is a guide a stranger follows: every ```lua block in it runs here, as a user would run it,
-- against the emulator, so the guide cannot rot.
--   * Each block is written to a file in a scratch folder (holding clip.mp4 and b.mp4 for the upload
--     examples) and run there by this runtime's interpreter, in a shell that did what the README says:
--     eval "$(emulator/run env)", with LUA_PATH/LUA_CPATH on this checkout.
--   * The block marked <!-- readme-spec: prelude --> (it makes `client` and `IG_USER_ID`) is run
--     before every block after it, as the README says.
--   * A `print(...)  --> text` line must print text (in order); the block must exit 0 with nothing on
--     stderr.
--   * <!-- readme-spec: person --> marks a block that prints "Open <login dialog URL>" and reads the
--     address the browser came back to from stdin: the spec is that person, following the emulator's
--     dialog as a browser would and typing the redirect back.
--   * <!-- readme-spec: skip: REASON --> marks a block that cannot run here; it is still compiled, and
--     the reason must say which spec runs the same flow.
local H = require "spec.helper"
local core = require "instagram.core"

local runtime = jit and "luajit" or "lua5.4"
local root = io.popen("pwd"):read("*l")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

--- The README's ```lua blocks: { line, code, mark, reason }.
local function blocks(text)
  local out, n, prev, cur = {}, 0, nil, nil
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if cur then
      if line:match("^```%s*$") then out[#out + 1] = cur; cur = nil
      else cur.code = cur.code .. line .. "\n" end
    elseif line:match("^```lua%s*$") then
      local mark, reason = (prev or ""):match("^<!%-%- readme%-spec: (%a+):?%s*(.-)%s*%-%->$")
      cur = { line = n, code = "", mark = mark, reason = reason }
    end
    prev = line
  end
  assert(not cur, "README.md: the ```lua block at line " .. (cur and cur.line or 0) .. " is never closed")
  return out
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local scratch = os.tmpname()
os.remove(scratch)
assert(os.execute("mkdir -p " .. scratch .. " && head -c 1000000 /dev/urandom > " .. scratch .. "/clip.mp4"
  .. " && head -c 300000 /dev/urandom > " .. scratch .. "/b.mp4"))

-- The command line a reader runs: the emulator's variables, this checkout on the Lua path, the block.
-- feed: a command whose output is the block's stdin; the block's exit code goes to rc.txt.
local function command(feed)
  return ("cd %s && eval \"$(emulator/run env)\" && export LUA_PATH=%s LUA_CPATH=%s && cd %s && "
    .. "{ %s | %s block.lua > out.txt 2> err.txt; echo $? > rc.txt; }"):format(sh_quote(root),
    sh_quote(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"), sh_quote(root .. "/build/" .. runtime .. "/?.so;;"),
    sh_quote(scratch), feed, runtime)
end

local function start(code, feed, background)
  write(scratch .. "/block.lua", code)
  for _, f in ipairs{ "answer.txt", "rc.txt", "out.txt", "err.txt" } do os.remove(scratch .. "/" .. f) end
  os.execute(background and "(" .. command(feed) .. ") >/dev/null 2>&1 &" or command(feed))
end

local function result(wait)
  for _ = 1, wait and 400 or 1 do
    local f = io.open(scratch .. "/rc.txt")
    local rc = f and tonumber(f:read("*a"))
    if f then f:close() end
    if rc then return rc, read(scratch .. "/out.txt"), read(scratch .. "/err.txt") end
    core.sleep(0.05)
  end
  return nil, "", "the block did not finish in 20 s"
end

--- Runs code as README readers do; returns exit code, stdout, stderr.
local function run(code)
  start(code, "true")
  return result()
end

--- The person at the browser: waits for "Open <url>" on the block's stdout, answers the emulator's login
-- dialog as a browser would, and types the address it came back to (the block reads it from stdin).
local function run_with_person(code)
  start(code, "(for _ in $(seq 300); do [ -s answer.txt ] && break; sleep 0.05; done; cat answer.txt)", true)
  local url
  for _ = 1, 200 do
    local f = io.open(scratch .. "/out.txt")
    url = f and f:read("*a"):match("Open (https?://%S+)")
    if f then f:close() end
    if url then break end
    core.sleep(0.05)
  end
  if url then
    local browser = core.session{ ca_file = H.ca_file, timeout = 10 }
    local _, _, html = browser:request("GET", url)
    local href = assert((html or ""):match('id="continue" href="([^"]+)"'), "no continue link on the dialog page")
    local _, headers = browser:request("GET", H.graph_url .. href:gsub("&amp;", "&"))
    write(scratch .. "/answer.txt", assert(headers and headers.location, "the dialog did not redirect") .. "\n")
  end
  return result(true)
end

local list = blocks(read("README.md"))

describe("README.md", function()
  teardown(function() os.execute("rm -rf " .. scratch) end)

  it("has Lua blocks, one prelude, and few that cannot run here", function()
    local preludes, skipped = 0, 0
    for _, b in ipairs(list) do
      assert(b.mark == nil or b.mark == "prelude" or b.mark == "skip" or b.mark == "person",
        "README.md line " .. b.line .. ": unknown readme-spec mark " .. tostring(b.mark))
      if b.mark == "prelude" then preludes = preludes + 1 end
      if b.mark == "skip" then
        skipped = skipped + 1
        assert.matches("spec/[%w_/]+%.%a+", b.reason, "line " .. b.line .. ": a skip names the spec that runs it")
      end
    end
    assert.is_true(#list >= 10, "only " .. #list .. " Lua blocks found")
    assert.equal(1, preludes)
    assert.is_true(skipped <= 3, skipped .. " blocks skipped")
  end)

  -- Inside nginx the blocks would only run again as child processes: the standalone runs cover them.
  if rawget(_G, "ngx") then return end

  local prelude = ""
  for _, b in ipairs(list) do
    local first = b.code:match("^%s*(.-)%s*\n") or ""
    local code = prelude .. b.code
    if b.mark == "skip" then
      it(("block at line %d compiles (not run: %s)"):format(b.line, b.reason), function()
        assert(load(code, "=README.md:" .. b.line))
      end)
    else
      it(("block at line %d runs: %s"):format(b.line, first), function()
        H.reset()
        local rc, out, err = (b.mark == "person" and run_with_person or run)(code)
        local where = ("README.md line %d\n--- stdout:\n%s\n--- stderr:\n%s"):format(b.line, out, err)
        assert.equal(0, rc, where)
        assert.equal("", err, where)
        -- print(...)  --> what it prints
        local at = 1
        for line in b.code:gmatch("[^\n]+") do
          local want = line:match("print%b().-%-%->%s*(.-)%s*$")
          if want then
            local s, e = out:find(want, at, true)
            assert(s, ("README.md line %d: expected %q in the output (in order)\n%s"):format(b.line, want, where))
            at = e + 1
          end
        end
      end)
    end
    if b.mark == "prelude" then prelude = b.code end
  end
end)
