-- instagram.store.redis (issue #14) against a real redis-server on loopback (started and stopped here),
-- and against hostile ones (spec/support/fake_redis.lua). Runs on Lua 5.4 and LuaJIT (luasocket) and
-- inside the test nginx (lua-resty-redis on cosockets): the same specs, the client chosen by where they run.
local store = require "instagram.store"
local R = require "spec.support.redis"

local PORT, AUTH_PORT, FAKE_PORT = 18391, 18392, 18393
local PASSWORD = "s3cret-Redis pass"

local sh = R.sh

-- A fake Redis in a process of its own (lua5.4 + luasocket), stopped by the returned function.
local function fake(mode, port)
  local pidfile = os.tmpname()
  assert(sh(R.clean(("lua5.4 spec/support/fake_redis.lua %d %s > %s.out 2>&1 & echo $! > %s")
    :format(port, mode, pidfile, pidfile))))
  for _ = 1, 100 do
    local f = io.open(pidfile .. ".out")
    local out = f and f:read("*a") or ""
    if f then f:close() end
    if out:find("ready", 1, true) then break end
    sh("sleep 0.05")
  end
  local stopped = false
  return function()
    if stopped then return end
    stopped = true
    local f = io.open(pidfile)
    local pid = f and f:read("*l")
    if f then f:close() end
    if pid then sh("kill " .. pid .. " 2>/dev/null; sleep 0.1") end
    os.remove(pidfile)
    os.remove(pidfile .. ".out")
  end
end

local function now()
  local ngx = rawget(_G, "ngx")
  if ngx then ngx.update_time(); return ngx.now() end
  return require("instagram.core").now()
end

describe("instagram.store.redis", function()
  local server, auth_server
  setup(function()
    server = R.start{ port = PORT }
    auth_server = R.start{ port = AUTH_PORT, password = PASSWORD }
  end)
  teardown(function()
    R.stop(server)
    R.stop(auth_server)
  end)

  local s, logs
  before_each(function()
    logs = {}
    s = store.redis{ port = PORT, prefix = "spec:" .. tostring(math.random(1e9)) .. ":",
      log = function(m) logs[#logs + 1] = m end }
  end)

  it("uses lua-resty-redis inside nginx, luasocket elsewhere", function()
    assert.equal(rawget(_G, "ngx") and "lua-resty-redis" or "luasocket", s.client)
  end)

  it("gets, sets, deletes strings and numbers, each of its own type", function()
    assert.is_nil(s:get("a"))
    assert.is_true(s:set("a", "x"))
    assert.equal("x", s:get("a"))
    assert.is_true(s:set("a", "42")) -- a string of digits stays a string
    assert.equal("42", s:get("a"))
    assert.is_true(s:set("a", 42))
    assert.equal(42, s:get("a"))
    if math.type then
      assert.is_true(s:set("big", 17841405822304914))
      assert.equal(17841405822304914, s:get("big"))
      assert.equal("integer", math.type(s:get("big")))
    end
    assert.is_true(s:set("f", 0.1))
    assert.equal(0.1, s:get("f"))
    assert.is_true(s:set("e", ""))
    assert.equal("", s:get("e"))
    assert.is_true(s:set("bin", "a\0b\r\n$3\r\n"))
    assert.equal("a\0b\r\n$3\r\n", s:get("bin"))
    assert.is_true(s:delete("a"))
    assert.is_nil(s:get("a"))
    assert.is_true(s:delete("never"))
    assert.same({}, logs)
  end)

  it("expires keys after their ttl (milliseconds kept), and adds only what is absent", function()
    assert.is_true(s:set("t", "v", 0.15))
    assert.is_true(s:add("lock", "worker-1", 0.15))
    assert.is_false(s:add("lock", "worker-2", 30))
    assert.equal("worker-1", s:get("lock"))
    assert.equal("v", s:get("t"))
    sh("sleep 0.3")
    assert.is_nil(s:get("t"))
    assert.is_true(s:add("lock", "worker-2", 30))
    assert.equal("worker-2", s:get("lock"))
  end)

  it("increments from 0 atomically, gives the ttl only to a key it creates, refuses a string", function()
    assert.equal(1, s:incr("n"))
    assert.equal(4, s:incr("n", 3, 0.1))
    assert.equal(2.5, s:incr("n", -1.5))
    assert.equal(3.5, s:incr("n", 1)) -- an integer added to a fraction
    assert.equal(5, s:incr("m", 5, 0.15))
    sh("sleep 0.3")
    assert.equal(3.5, s:get("n")) -- made without a ttl: the later ttl did not apply
    assert.equal(1, s:incr("m"))
    if math.type then assert.equal("integer", math.type(s:incr("i", 2))) end
    s:set("str", "abc")
    local v, err = s:incr("str")
    assert.is_nil(v)
    assert.equal("not a number", err)
    assert.same({}, logs)
  end)

  it("keeps stores apart by prefix and by db", function()
    local a = store.redis{ port = PORT, prefix = "pa:", db = 3 }
    local b = store.redis{ port = PORT, prefix = "pb:", db = 3 }
    local c = store.redis{ port = PORT, prefix = "pa:", db = 4 }
    a:set("k", "a"); b:set("k", "b"); c:set("k", "c")
    assert.equal("a", a:get("k"))
    assert.equal("b", b:get("k"))
    assert.equal("c", c:get("k"))
    a:delete("k"); b:delete("k"); c:delete("k")
  end)

  it("authenticates with a password, and a wrong one is a warning that never shows it", function()
    local good = store.redis{ port = AUTH_PORT, password = PASSWORD }
    assert.is_true(good:set("k", "v"))
    assert.equal("v", good:get("k"))
    local warned = {}
    local bad = store.redis{ port = AUTH_PORT, password = "not-" .. PASSWORD, log = function(m) warned[#warned + 1] = m end }
    assert.is_true(bad:set("k", "local")) -- done in this process instead
    assert.equal("local", bad:get("k"))
    assert.equal(1, #warned)
    assert.truthy(warned[1]:find("did not answer", 1, true))
    assert.falsy(warned[1]:find(PASSWORD, 1, true))
    assert.equal("v", good:get("k"))
    local strict_warned = {}
    local strict = store.redis{ port = AUTH_PORT, password = "not-" .. PASSWORD, fallback = false,
      log = function(m) strict_warned[#strict_warned + 1] = m end }
    local v, err = strict:get("k")
    assert.is_nil(v)
    assert.falsy(err:find(PASSWORD, 1, true))
    assert.equal(1, #strict_warned) -- says what a caller gets meanwhile
    assert.truthy(strict_warned[1]:find("answering errors for 5 s, then trying Redis again", 1, true), strict_warned[1])
    assert.truthy(warned[1]:find("using this process's state", 1, true), warned[1])
  end)

  it("never fails a call when Redis stops: local state, one warning, Redis again after retry_after", function()
    local clock = 1000
    local own = R.start{ port = PORT + 10 }
    finally(function() R.stop(own) end)
    local st = store.redis{ port = PORT + 10, retry_after = 5, now = function() return clock end,
      log = function(m) logs[#logs + 1] = m end }
    assert.is_true(st:set("shared", "in redis"))
    R.stop(own)
    assert.equal(1, st:incr("calls")) -- Redis down: this process's state, no error
    assert.equal(2, st:incr("calls"))
    assert.is_nil(st:get("shared"))
    assert.equal(1, #logs)
    assert.truthy(logs[1]:find("127.0.0.1:" .. (PORT + 10), 1, true))
    own = R.start{ port = PORT + 10 }
    assert.equal(3, st:incr("calls")) -- still inside retry_after: not tried
    clock = clock + 5
    assert.equal(1, st:incr("calls")) -- Redis again (a new, empty one)
    assert.equal(2, #logs)
    assert.truthy(logs[2]:find("answers again", 1, true))
    R.stop(own)
  end)

  it("gives up on a Redis that does not answer within timeout", function()
    local stop = fake("silent", FAKE_PORT)
    finally(stop)
    local st = store.redis{ port = FAKE_PORT, timeout = 0.2, log = function(m) logs[#logs + 1] = m end }
    local t0 = now()
    assert.is_true(st:set("k", "v"))
    local took = now() - t0
    stop()
    assert.is_true(took >= 0.15 and took < 1.5, "took " .. took)
    assert.equal("v", st:get("k")) -- marked down: local, at once
    assert.equal(1, #logs)
  end)

  for _, mode in ipairs{ "garbage", "huge", "close", "echo" } do
    it("treats a server that answers '" .. mode .. "' as down, and never shows the password", function()
      local stop = fake(mode, FAKE_PORT + 1)
      finally(stop)
      local warned = {}
      local st = store.redis{ port = FAKE_PORT + 1, timeout = 1, password = PASSWORD,
        log = function(m) warned[#warned + 1] = m end }
      local ok = st:set("k", "v")
      local strict = store.redis{ port = FAKE_PORT + 1, timeout = 1, password = PASSWORD, fallback = false,
        log = function(m) warned[#warned + 1] = m end }
      local v, err = strict:get("k")
      stop()
      assert.is_true(ok)
      assert.equal("v", st:get("k"))
      assert.is_nil(v)
      assert.is_string(err)
      for _, m in ipairs(warned) do assert.falsy(m:find(PASSWORD, 1, true), m) end
      assert.falsy(err:find(PASSWORD, 1, true), err)
    end)
  end

  -- (luasocket only: lua-resty-redis bounds each read, not a whole reply, and sizes an announced
  -- array before reading it; inside nginx a hostile Redis is beyond what this store defends)
  for _, case in ipairs(rawget(_G, "ngx") and {} or { { "drip", "an array dripped one element every 0.1 s" },
                         { "endless", "a status line that never ends" },
                         { "bigarray", "an array of 100,000,000 elements" } }) do
    it("gives up within timeout on " .. case[2] .. ", and falls back", function()
      local stop = fake(case[1], FAKE_PORT + 2)
      finally(stop)
      local warned = {}
      local st = store.redis{ port = FAKE_PORT + 2, timeout = 0.5, log = function(m) warned[#warned + 1] = m end }
      local t0 = now()
      local ok = st:incr("k", 1)
      local took = now() - t0
      stop()
      assert.equal(1, ok)
      assert.is_true(took < 2, "took " .. took)
      assert.equal(1, #warned)
    end)
  end

  it("counts a Redis that cannot serve (a read-only replica) as down: falls back and warns", function()
    local stop = fake("readonly", FAKE_PORT + 3)
    finally(stop)
    local warned = {}
    local st = store.redis{ port = FAKE_PORT + 3, log = function(m) warned[#warned + 1] = m end }
    assert.is_true(st:set("k", "v"))
    assert.equal(2, st:incr("n", 2))
    stop()
    assert.equal(1, #warned)
    assert.truthy(warned[1]:find("READONLY", 1, true))
  end)

  it("reconnects at once when Redis closed the idle kept connection (no warning, no local state)", function()
    local own = R.start{ port = PORT + 11, args = "--timeout 1" }
    finally(function() R.stop(own) end)
    local warned = {}
    local st = store.redis{ port = PORT + 11, log = function(m) warned[#warned + 1] = m end }
    assert.is_true(st:add("lock", "a", 30))
    -- Redis closes clients idle for a second (inside nginx, while the event loop runs)
    local ngx = rawget(_G, "ngx")
    if ngx then ngx.sleep(2.2) else sh("sleep 2.2") end
    local other = store.redis{ port = PORT + 11 }
    assert.is_false(st:add("lock", "b", 30)) -- Redis's answer, not a local one
    assert.equal("a", other:get("lock"))
    assert.same({}, warned)
  end)

  it("forgets what it kept locally once Redis answers again", function()
    local clock = 1000
    local own = R.start{ port = PORT + 12 }
    finally(function() R.stop(own) end)
    local st = store.redis{ port = PORT + 12, retry_after = 5, now = function() return clock end, log = function() end }
    R.stop(own)
    assert.is_true(st:set("token", "old")) -- outage 1: kept locally
    assert.is_true(st:add("lock", "me", 300))
    own = R.start{ port = PORT + 12 }
    clock = clock + 5
    assert.is_nil(st:get("token")) -- Redis again: what it holds (nothing)
    R.stop(own)
    clock = clock + 1
    assert.is_nil(st:get("token")) -- outage 2: the old local value does not come back
    assert.is_true(st:add("lock", "me again", 300))
  end)

  it("reads only plain decimal numbers as numbers", function()
    local raw = store.redis{ port = PORT, prefix = "" }
    local conn = require("instagram.redis").new{ host = "127.0.0.1", port = PORT, db = 0, timeout = 1,
      pool_size = 1, idle_timeout = 1 }
    for text, want in pairs{ ["0x10"] = "0x10", [" 5"] = " 5", ["inf"] = "inf", ["nan"] = "nan", ["1e999"] = "1e999",
      ["42"] = 42, ["-2.5"] = -2.5, ["1e3"] = 1000 } do
      assert(conn:call("SET", "raw:" .. text, text))
      assert.equal(want, raw:get("raw:" .. text), text)
      conn:call("DEL", "raw:" .. text)
    end
  end)

  it("refuses bad options at once, naming them", function()
    for _, case in ipairs{
      { { port = 0 }, "port" }, { { port = 70000 }, "port" }, { { port = "6379" }, "port" },
      { { db = -1 }, "db" }, { { db = 1.5 }, "db" }, { { timeout = 0 }, "timeout" },
      { { pool_size = 0 }, "pool_size" }, { { retry_after = -1 }, "retry_after" }, { { host = "" }, "host" },
      { { host = "a b" }, "host" }, { { passwd = "x" }, "passwd" }, { { fallback = "no" }, "fallback" },
      { { password = "" }, "password must not be empty" },
    } do
      local ok, err = pcall(store.redis, case[1])
      assert.is_false(ok)
      assert.truthy(tostring(err):find(case[2], 1, true), tostring(err))
    end
  end)
end)
