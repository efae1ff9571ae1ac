-- One token for a fleet (issue #14): token:save / token.load, and clients with store + token_key
-- that share the token and refresh it once between them. Scripted transports stand for the API and
-- record which token each call carried; one case runs over a real Redis.
require "spec.helper"
local instagram = require "instagram"
local token_m = require "instagram.token"
local store_m = require "instagram.store"
local R = require "spec.support.redis"

local DAY = 86400
-- where the clients below (no app secret: store_key "default") keep their token, and its lock
local KEY = "app:default:token:token"
local LOCK = KEY .. ":refresh"

local function tok(name, expires_in_days, age_days)
  local now = os.time()
  return token_m.new{ access_token = name .. ("x"):rep(40), kind = "instagram", long_lived = true,
    issued_at = now - (age_days or 30) * DAY, expires_at = now + expires_in_days * DAY }
end

-- A transport recording the token of each call; answers {"id":"1"}.
local function api(clock)
  local t = { seen = {} }
  t.now = function() return clock.t end
  t.sleep = function(d) clock.t = clock.t + d end
  function t.request(_, req)
    local auth = req.headers.Authorization or req.headers.authorization or ""
    t.seen[#t.seen + 1] = auth:match("^Bearer (%w-)x+$") or auth
    return { status = 200, headers = {}, body = '{"id":"1"}' }
  end
  return t
end

-- An oauth stand-in: counts refreshes; `during` runs inside each (other workers calling meanwhile).
local function oauth(during)
  local o = { count = 0 }
  function o.refresh(_, old)
    o.count = o.count + 1
    assert(old:needs_refresh(7 * DAY))
    if during then during() end
    return tok("fresh" .. o.count, 60, 0)
  end
  return o
end

describe("token:save and token.load", function()
  it("round-trip a token through a store, with its expiry as the entry's", function()
    local clock = 5000
    local st = store_m.memory{ now = function() return clock end }
    local t = tok("abc", 2)
    assert.is_true(t:save(st, "t"))
    local back = assert(token_m.load(st, "t"))
    assert.same(t:to_table(), back:to_table())
    clock = clock + 2 * DAY + 1
    assert.is_nil(token_m.load(st, "t")) -- gone with the token
  end)

  it("with if_absent, save only into an empty key and never overwrite a saved token", function()
    local st = store_m.memory()
    assert.is_true(tok("first", 2):save(st, "t", true))
    assert.is_false(tok("second", 2):save(st, "t", true))
    assert.equal("first" .. ("x"):rep(40), assert(token_m.load(st, "t")).access_token)
    assert.is_true(tok("third", 2):save(st, "t"))
    assert.equal("third" .. ("x"):rep(40), assert(token_m.load(st, "t")).access_token)
  end)

  it("answer nil for nothing saved and 'unreadable token' (never the content) for anything else", function()
    local st = store_m.memory()
    assert.is_nil(token_m.load(st, "none"))
    for _, v in ipairs{ "{x", "[]", '{"access_token":""}', '{"access_token":"SECRETVALUE","bogus":1}', 42 } do
      st:set("bad", v)
      local t, err = token_m.load(st, "bad")
      assert.is_nil(t)
      assert.equal("unreadable token", err)
    end
    assert.has_error(function() token_m.load(nil, "k") end, "token.load: store must be an instagram.store")
    assert.has_error(function() tok("a", 1):save("redis", "k") end, "token:save: store must be an instagram.store")
  end)
end)

describe("clients sharing a token through a store", function()
  local clock, st
  before_each(function()
    clock = { t = os.time() }
    st = store_m.memory()
  end)

  local function client(token, extra)
    local t = api(clock)
    local o = { access_token = token, store = st, token_key = "token", retries = 0, transport = t }
    for k, v in pairs(extra or {}) do o[k] = v end
    return instagram.new(o), t
  end

  it("share the token that lapses last, and take up a new one within a second", function()
    local a, ta = client(tok("newer", 50))
    local b, tb = client(tok("older", 10))
    assert(a:get("/me"))
    assert(b:get("/me"))
    assert.same({ "newer" }, ta.seen)
    assert.same({ "newer" }, tb.seen) -- the store's, which lapses later than its own
    a:set_access_token(tok("replaced", 60))
    assert(b:get("/me"))
    assert.equal("newer", tb.seen[2]) -- read at most once a second
    clock.t = clock.t + 1
    assert(b:get("/me"))
    assert.equal("replaced", tb.seen[3])
    assert.equal("replaced", b:token().access_token:match("^(%w-)x+$"))
  end)

  it("refresh once for the whole fleet; the others keep the valid token meanwhile", function()
    local clients = {}
    local during_calls = {}
    local o
    o = oauth(function()
      -- while the refresh runs, the other workers call: they do not refresh, they use the old token
      for i = 2, #clients do
        assert(clients[i][1]:get("/me"))
        during_calls[#during_calls + 1] = clients[i][2].seen[#clients[i][2].seen]
      end
    end)
    for i = 1, 20 do
      local c, t = client(tok("expiring", 2, 40), { auto_refresh = o })
      clients[i] = { c, t }
    end
    assert(clients[1][1]:get("/me"))
    assert.equal(1, o.count)
    assert.equal(19, #during_calls)
    for _, who in ipairs(during_calls) do assert.equal("expiring", who) end
    assert.equal("fresh1", clients[1][2].seen[1])
    clock.t = clock.t + 1
    for i = 1, 20 do assert(clients[i][1]:get("/me")) end
    assert.equal(1, o.count)
    for i = 1, 20 do
      local seen = clients[i][2].seen
      assert.equal("fresh1", seen[#seen])
    end
    assert.is_nil(st:get(LOCK)) -- the lock was let go
  end)

  it("go on with the valid token while another worker holds the refresh lock, then take up the new one", function()
    local o = oauth()
    assert.is_true(st:add(LOCK, "another-worker", 30))
    local slept = false
    local b, tb = client(tok("old", 2, 40), { auto_refresh = o, sleep = function() slept = true end })
    assert(b:get("/me"))
    assert.same({ "old" }, tb.seen)
    assert.equal(0, o.count)
    assert.is_false(slept)
    tok("theirs", 60):save(st, KEY) -- the other worker's refresh lands
    st:delete(LOCK)
    clock.t = clock.t + 1
    assert(b:get("/me"))
    assert.equal("theirs", tb.seen[2])
    assert.equal(0, o.count)
  end)

  it("never refresh an expired token (the API refuses it): the call goes on as it is", function()
    local o = oauth()
    local c, tc = client(tok("expired", -1, 40), { auto_refresh = o })
    assert(c:get("/me"))
    assert.same({ "expired" }, tc.seen)
    assert.equal(0, o.count)
  end)

  it("report a refresh that raises, scrubbed, and let the lock go", function()
    local reports = {}
    local bad = { refresh = function(_, old) error("boom with " .. old.access_token) end }
    local old = tok("doomed", 2, 40)
    local c = client(old, { auto_refresh = bad, on_refresh = function(new, err) reports[#reports + 1] = { new, err } end })
    assert(c:get("/me"))
    assert.equal(1, #reports)
    assert.is_nil(reports[1][1])
    assert.equal("oauth", reports[1][2].kind)
    assert.equal("raised", reports[1][2].reason)
    assert.falsy(tostring(reports[1][2]):find(old.access_token, 1, true))
    assert.is_nil(st:get(LOCK))
  end)

  it("keep the tokens of apps sharing a store apart", function()
    local a, ta = client(tok("appa", 50), { app_secret = "secret-of-app-a" })
    local b, tb = client(tok("appb", 50), { app_secret = "secret-of-app-b" })
    assert(a:get("/me"))
    assert(b:get("/me"))
    assert.same({ "appa" }, ta.seen)
    assert.same({ "appb" }, tb.seen)
  end)

  it("let the first client take up a newer token another saved, even one lapsing sooner", function()
    local a, ta = client(tok("first", 50))
    local b = client(tok("first", 50))
    assert(a:get("/me")) -- shares its token in the empty store
    b:set_access_token(tok("relogin", 10)) -- after a new login, elsewhere
    clock.t = clock.t + 1
    assert(a:get("/me"))
    assert.equal("relogin", ta.seen[2])
    assert.equal("relogin", b:token().access_token:match("^(%w-)x+$"))
  end)

  it("read the shared token again at once after the API refused theirs (code 190)", function()
    local refused = true
    local t = api(clock)
    local base = t.request
    t.request = function(self, req)
      local res = base(self, req)
      if refused and t.seen[#t.seen] == "stale" then
        res.status, res.body = 400, '{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}'
      end
      return res
    end
    local c = instagram.new{ access_token = tok("stale", 50), store = st, token_key = "token", retries = 0, transport = t }
    assert.is_nil(c:get("/me"))
    tok("renewed", 60):save(st, KEY)
    assert(c:get("/me")) -- within the second, yet read again
    assert.equal("renewed", t.seen[2])
  end)

  it("never adopt a stored token that could not be sent (line breaks, spaces, 16 KiB)", function()
    local c, tc = client(tok("mine", 50))
    assert(c:get("/me"))
    for _, bad in ipairs{ "abc\r\nX-Evil: 1", "two words", ("A"):rep(16384) } do
      st:set(KEY, require("instagram.json").encode{ access_token = bad, kind = "instagram", expires_at = os.time() + 90 * DAY })
      clock.t = clock.t + 1
      assert(c:get("/me"))
      assert.equal("mine", tc.seen[#tc.seen])
    end
  end)

  it("count a refresh answering what is no token as failed, and pause before trying again", function()
    for _, garbage in ipairs{ {}, "", true, 42, "with space" } do
      local reports, calls = {}, 0
      local bad = { refresh = function() calls = calls + 1; return garbage end }
      local c = client(tok("doomed", 2, 40), { auto_refresh = bad,
        on_refresh = function(new, err) reports[#reports + 1] = { new, err } end })
      for _ = 1, 5 do assert(c:get("/me")) end
      assert.equal(1, calls)
      assert.equal("bad_answer", reports[1][2].reason)
      assert.is_nil(st:get(LOCK))
      clock.t = clock.t + 61
      assert(c:get("/me"))
      assert.equal(2, calls)
      st = store_m.memory()
    end
  end)

  it("refresh without the lock when the store cannot answer, rather than let the token lapse", function()
    local o = oauth()
    local broken = { get = function() return nil, "down" end, set = function() return nil, "down" end,
      add = function() return nil, "down" end, delete = function() return nil, "down" end }
    local c, t = client(tok("expiring", 2, 40), { auto_refresh = o, store = broken })
    assert(c:get("/me"))
    assert.equal(1, o.count)
    assert.same({ "fresh1" }, t.seen)
    assert.has_error(function() instagram.new{ store = { get = print, set = print }, token_key = "t" } end,
      "instagram.new: option 'token_key' needs a store with add and delete (the refresh lock)")
  end)

  it("refuse token_key without a store", function()
    assert.has_error(function() instagram.new{ access_token = "abcd", token_key = "t" } end,
      "instagram.new: option 'token_key' must be a string of 1 to 200 bytes, with a store")
  end)
end)

describe("clients sharing a token through Redis", function()
  local server
  setup(function() server = R.start{ port = 18396 } end)
  teardown(function() R.stop(server) end)

  it("refresh once between two 'machines', and both use the new token", function()
    local clock = { t = os.time() }
    local prefix = "tok" .. math.random(1e9) .. ":"
    local o = oauth()
    local ta, tb = api(clock), api(clock)
    local a = instagram.new{ access_token = tok("expiring", 2, 40), auto_refresh = o, retries = 0, transport = ta,
      store = store_m.redis{ port = 18396, prefix = prefix }, token_key = "token" }
    local b = instagram.new{ access_token = tok("expiring", 2, 40), auto_refresh = o, retries = 0, transport = tb,
      store = store_m.redis{ port = 18396, prefix = prefix }, token_key = "token" }
    assert(a:get("/me"))
    assert(b:get("/me"))
    assert.equal(1, o.count)
    assert.same({ "fresh1" }, ta.seen)
    assert.same({ "fresh1" }, tb.seen)
  end)
end)

describe("a refresh whose coroutine never came back (a light thread killed, a request ended under it)", function()
  it("holds off other refreshes only as long as the fleet's lock would, then refreshes again", function()
    local clock = { t = os.time() }
    local o = { count = 0 }
    function o.refresh()
      o.count = o.count + 1
      if o.count == 1 then coroutine.yield() end -- (never resumed)
      return tok("fresh", 60, 0)
    end
    local t = api(clock)
    local c = instagram.new{ access_token = tok("expiring", 2, 40), auto_refresh = o, retries = 0, transport = t }
    local co = coroutine.create(function() return c:get("/me") end)
    assert(coroutine.resume(co))
    assert.equal("suspended", coroutine.status(co))
    assert(c:get("/me")) -- meanwhile: the valid token, and no second refresh at once
    assert.same({ "expiring" }, t.seen)
    assert.equal(1, o.count)
    clock.t = clock.t + 29
    assert(c:get("/me"))
    assert.equal(1, o.count)
    clock.t = clock.t + 2
    assert(c:get("/me"))
    assert.equal(2, o.count)
    assert.equal("fresh", t.seen[#t.seen])
  end)
end)
