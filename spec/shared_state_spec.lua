-- instagram.new{ store = ... } (issue #14): clients sharing a store share the API's block and usage.
-- Two clients stand for two workers (or machines); a scripted transport stands for the API, so each
-- client's calls are counted. One case runs over a real Redis (started here on loopback).
require "spec.helper"
local instagram = require "instagram"
local store_m = require "instagram.store"
local usage = require "instagram.usage"
local R = require "spec.support.redis"

local TOKEN = "EAAB" .. ("SharedStateToken0123456789"):rep(4)
local SECRET = "app-secret-of-the-fleet"
local BLOCKED = '{"error":{"message":"Application request limit reached","type":"OAuthException","code":4,'
  .. '"is_transient":true,"fbtrace_id":"Ax1"}}'
local BUC_BLOCK = '{"17841405822304914":[{"type":"instagram","call_count":100,"total_cputime":20,'
  .. '"total_time":20,"estimated_time_to_regain_access":5}]}'

-- A transport that answers from a script (a function of the request) and counts what it was sent.
local function api(clock, answer)
  local t = { calls = 0 }
  t.now = function() return clock.t end
  t.sleep = function(d) clock.t = clock.t + d end
  function t.request(_, req)
    t.calls = t.calls + 1
    local status, headers, body = answer(req)
    return { status = status, headers = headers or {}, body = body }
  end
  return t
end

local function ok_answer()
  return 200, { ["x-app-usage"] = '{"call_count":10,"total_time":5,"total_cputime":5}' }, '{"id":"1"}'
end

describe("clients sharing a store", function()
  local clock, store
  before_each(function()
    clock = { t = 1000000 }
    store = store_m.memory{ now = function() return clock.t end }
  end)

  local function client(transport, extra)
    local o = { access_token = TOKEN, app_secret = SECRET, store = store, retries = 0, transport = transport }
    for k, v in pairs(extra or {}) do o[k] = v end
    return instagram.new(o)
  end

  it("honour a block the API reported to one of them, without a call, until it ends", function()
    local a = api(clock, function() return 400, { ["x-business-use-case-usage"] = BUC_BLOCK }, BLOCKED end)
    local b = api(clock, ok_answer)
    local ca, cb = client(a), client(b)
    local _, err = ca:get("/me")
    assert.equal(4, err.code)
    assert.equal(300, err.retry_after)
    local v, berr = cb:get("/me")
    assert.is_nil(v)
    assert.equal("blocked", berr.kind)
    assert.is_true(berr.retry_after > 290 and berr.retry_after <= 300)
    assert.equal(0, b.calls)
    clock.t = clock.t + 301
    assert.same({ id = "1" }, cb:get("/me"))
    assert.equal(1, b.calls)
  end)

  it("share the latest usage: a client that saw no header slows down with the others (throttle)", function()
    local high = api(clock, function()
      return 200, { ["x-app-usage"] = '{"call_volume":95,"cpu_time":10}' }, '{"id":"1"}' -- the Instagram host's form
    end)
    local b = api(clock, ok_answer)
    local waits = {}
    local throttle = { threshold = 75, max_delay = 20, on_throttle = function(d, pct) waits[#waits + 1] = { d, pct } end }
    local ca = client(high, { throttle = throttle })
    local cb = client(b, { throttle = throttle })
    assert(ca:get("/me"))
    assert.equal(95, cb:usage().max_percent) -- usage() reads the store
    assert(cb:get("/me"))
    assert.equal(1, #waits)
    assert.equal(95, waits[1][2])
    assert.near(16, waits[1][1], 1e-9) -- (95 - 75) / 25 * 20
  end)

  it("check the block again after a throttle sleep", function()
    local b = api(clock, ok_answer)
    local a = api(clock, function() return 400, { ["x-business-use-case-usage"] = BUC_BLOCK }, BLOCKED end)
    local ca = client(a)
    local cb = client(b, { throttle = { threshold = 50, max_delay = 10 } })
    store:set("app:" .. require("instagram.core").hmac_sha256_hex("instagram-store", SECRET):sub(1, 16) .. ":usage",
      '{"call_count":90}', 3600)
    -- while cb sleeps before its call, another worker is told the app is blocked
    b.sleep = function(d) clock.t = clock.t + d; ca:get("/me") end
    cb.sleep = b.sleep
    local v, err = cb:get("/me")
    assert.is_nil(v)
    assert.equal("blocked", err.kind)
    assert.equal(0, b.calls)
    assert.equal(1, a.calls)
  end)

  it("keep apart the state of clients with other app secrets or store keys", function()
    local a = api(clock, function() return 400, { ["x-business-use-case-usage"] = BUC_BLOCK }, BLOCKED end)
    local b = api(clock, ok_answer)
    client(a):get("/me")
    assert(client(b, { app_secret = "another-app-secret" }):get("/me"))
    assert(client(b, { store_key = "other-app" }):get("/me"))
    assert.equal(2, b.calls)
  end)

  it("never put the token into the store, whatever a server echoes into the usage headers", function()
    local echo = api(clock, function(req)
      local auth = req.headers.Authorization or req.headers.authorization or ""
      return 200, { ["x-app-usage"] = '{"call_count":50,"note":"' .. auth .. '","t":"' .. TOKEN .. '"}',
        ["x-business-use-case-usage"] = '{"' .. TOKEN .. '":[{"call_count":5}]}' }, '{"id":"1"}'
    end)
    local c = client(echo, { throttle = {} })
    assert(c:get("/me"))
    local seen = 0
    for k, v in pairs(store.values) do
      seen = seen + 1
      assert.falsy(tostring(k):find(TOKEN, 1, true))
      assert.falsy(tostring(v):find(TOKEN, 1, true), tostring(v))
      assert.falsy(tostring(v):find(SECRET, 1, true))
    end
    assert.equal(1, seen)
  end)

  it("share only the app's limits: a user's or a business object's block and usage stay with its client", function()
    for _, code in ipairs{ 17, 32, 613, 80002 } do
      local body = BLOCKED:gsub('"code":4', '"code":' .. code)
      local a = api(clock, function() return 400, { ["x-business-use-case-usage"] = BUC_BLOCK }, body end)
      local b = api(clock, ok_answer)
      local ca, cb = client(a), client(b)
      local _, err = ca:get("/me")
      assert.equal(code, err.code)
      assert.equal("blocked", select(2, ca:get("/me")).kind) -- its own client honours it
      assert.same({ id = "1" }, cb:get("/me"), "code " .. code) -- the others call
      assert.equal(1, b.calls)
    end
    local busy = api(clock, function() return 200, { ["x-business-use-case-usage"] = BUC_BLOCK }, '{"id":"1"}' end)
    local waits = {}
    local cb = client(api(clock, ok_answer), { throttle = { on_throttle = function(d) waits[#waits + 1] = d end } })
    assert(client(busy, { throttle = {} }):get("/me"))
    assert(cb:get("/me"))
    assert.same({}, waits)
  end)

  it("believe a shared block only while its entry lives, only a day ahead, and keep the longer one", function()
    local key = "app:" .. require("instagram.core").hmac_sha256_hex("instagram-store", SECRET):sub(1, 16) .. ":blocked"
    local b = api(clock, ok_answer)
    local cb = client(b)
    store:set(key, 1e300, 60)
    assert.same({ id = "1" }, cb:get("/me")) -- beyond a day: not believed
    store:set(key, clock.t + 3600, 3600)
    assert.equal("blocked", select(2, cb:get("/me")).kind)
    store:delete(key) -- the block is lifted (or its entry lapsed): at once
    assert.same({ id = "1" }, cb:get("/me"))
    -- a shorter block reported later does not cut a longer one short
    store:set(key, clock.t + 3600, 3600)
    local a = api(clock, function() return 400, { ["retry-after"] = "10" }, BLOCKED end)
    client(a):get("/me")
    assert.equal(clock.t + 3600, store:get(key))
  end)

  it("never share a token a server echoed escaped (\\u0045...) into X-App-Usage", function()
    local escaped = TOKEN:gsub(".", function(ch) return ("\\u%04x"):format(ch:byte()) end)
    local echo = api(clock, function()
      return 200, { ["x-app-usage"] = '{"call_count":50,"note":"' .. escaped .. '"}' }, '{"id":"1"}'
    end)
    local c = client(echo, { throttle = {} })
    assert(c:get("/me"))
    for _, v in pairs(store.values) do assert.falsy(tostring(v):find(TOKEN, 1, true), tostring(v)) end
    local other = client(api(clock, ok_answer), { access_token = "EAAB-another-user-token", throttle = {} })
    local u = other:usage()
    assert.falsy(require("instagram.json").encode(u):find(TOKEN, 1, true))
  end)

  it("take usage headers of any type a transport gives (a list, a boolean) without raising", function()
    for _, h in ipairs{ { '{"call_count":10}', '{"call_count":20}' }, true, 42 } do
      local t = api(clock, function() return 200, { ["x-app-usage"] = h }, '{"id":"1"}' end)
      assert.same({ id = "1" }, client(t, { throttle = {} }):get("/me"))
    end
  end)

  it("never fail a call when the store fails or raises", function()
    local broken = {
      get = function() error("store down") end,
      set = function() return nil, "no space" end,
    }
    local b = api(clock, function() return 400, { ["x-business-use-case-usage"] = BUC_BLOCK }, BLOCKED end)
    local c = instagram.new{ access_token = TOKEN, store = broken, retries = 0, transport = b, throttle = {} }
    local _, err = c:get("/me")
    assert.equal(4, err.code)
    local _, again = c:get("/me") -- the block this client saw itself still holds
    assert.equal("blocked", again.kind)
    assert.equal(1, b.calls)
  end)

  it("refuse a store option that is no store, and a bad store_key", function()
    assert.has_error(function() instagram.new{ store = {} } end,
      "instagram.new: option 'store' must be an instagram.store (get and set methods)")
    assert.has_error(function() instagram.new{ store = store, store_key = "" } end,
      "instagram.new: option 'store_key' must be a string of 1 to 100 bytes")
    assert.has_error(function() instagram.new{ store = "redis" } end)
  end)
end)

describe("instagram.usage: the Instagram host's form of X-App-Usage", function()
  it("counts call_volume and cpu_time", function()
    assert.equal(90, usage.parse{ ["x-app-usage"] = '{"call_volume":90,"cpu_time":12}' }.max_percent)
    assert.equal(40, usage.parse{ ["x-app-usage"] = '{"call_volume":3,"cpu_time":40}' }.max_percent)
  end)
end)

describe("clients on two 'machines' sharing Redis", function()
  local server
  setup(function() server = R.start{ port = 18395 } end)
  teardown(function() R.stop(server) end)

  it("honour a block one of them was told about, with no call", function()
    local clock = { t = require("instagram.core").now() }
    local prefix = "fleet" .. math.random(1e9) .. ":"
    local a = api(clock, function() return 400, { ["x-business-use-case-usage"] = BUC_BLOCK }, BLOCKED end)
    local b = api(clock, ok_answer)
    local ca = instagram.new{ access_token = TOKEN, app_secret = SECRET, retries = 0, transport = a,
      store = store_m.redis{ port = 18395, prefix = prefix } }
    local cb = instagram.new{ access_token = TOKEN, app_secret = SECRET, retries = 0, transport = b,
      store = store_m.redis{ port = 18395, prefix = prefix } }
    assert.equal(4, select(2, ca:get("/me")).code)
    assert.equal("blocked", select(2, cb:get("/me")).kind)
    assert.equal(0, b.calls)
  end)
end)
