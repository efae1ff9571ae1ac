-- Webhook deliveries once across a fleet (issue #14): event ids, webhook.dedupe/forget and
-- handle{ dedupe = store }. Signatures are made with the C core's HMAC.
require "spec.helper"
local webhook = require("instagram").webhook
local core = require "instagram.core"
local store_m = require "instagram.store"

local SECRET = "fleet-app-secret"
local function sig(body) return "sha256=" .. core.hmac_sha256_hex(SECRET, body) end

local COMMENT = '{"object":"instagram","entry":[{"id":"17841405822304914","time":1700000000,"changes":['
  .. '{"field":"comments","value":{"id":"17865799348089039","text":"nice","media":{"id":"1791819522"},'
  .. '"from":{"id":"2","username":"a"}}}]}]}'
local MESSAGE = '{"object":"instagram","entry":[{"id":"17841405822304914","time":1700000001,"messaging":['
  .. '{"sender":{"id":"11"},"recipient":{"id":"22"},"timestamp":1700000001000,"message":{"mid":"aWdfZAG1","text":"hi"}}]}]}'

describe("webhook.event_id", function()
  it("is the message id for a message, and a hash of account, time, field and value otherwise", function()
    local m = assert(webhook.parse(MESSAGE))[1]
    assert.equal("mid:17841405822304914:aWdfZAG1:message", webhook.event_id(m))
    local c = assert(webhook.parse(COMMENT))[1]
    local id = webhook.event_id(c)
    assert.matches("^%x+$", id)
    assert.equal(64, #id)
  end)

  it("is the same whatever the key order or number spelling of the delivery", function()
    local a = assert(webhook.parse(COMMENT))[1]
    local reordered = '{"entry":[{"changes":[{"value":{"from":{"username":"a","id":"2"},"media":{"id":"1791819522"},'
      .. '"text":"nice","id":"17865799348089039"},"field":"comments"}],"time":1.7e9,"id":"17841405822304914"}],'
      .. '"object":"instagram"}'
    local b = assert(webhook.parse(reordered))[1]
    assert.equal(webhook.event_id(a), webhook.event_id(b))
    local other = assert(webhook.parse((COMMENT:gsub('"nice"', '"nicer"'))))[1]
    assert.are_not.equal(webhook.event_id(a), webhook.event_id(other))
    -- a big numeric id: an integer on 5.4, a string of digits on LuaJIT; the same identity on both
    local big = assert(webhook.parse((COMMENT:gsub('"id":"2"', '"id":17841405822304915'))))[1]
    local as_string = assert(webhook.parse((COMMENT:gsub('"id":"2"', '"id":"17841405822304915"'))))[1]
    assert.equal(webhook.event_id(big), webhook.event_id(as_string))
  end)

  it("tells apart the same message seen by two accounts, its echo and its unsend", function()
    local base = assert(webhook.parse(MESSAGE))[1]
    local other = assert(webhook.parse((MESSAGE:gsub('"id":"17841405822304914"', '"id":"17841405822304999"'))))[1]
    local echo = assert(webhook.parse((MESSAGE:gsub('"text":"hi"', '"text":"hi","is_echo":true'))))[1]
    local unsend = assert(webhook.parse((MESSAGE:gsub('"text":"hi"', '"is_deleted":true'))))[1]
    local ids = {}
    for _, ev in ipairs{ base, other, echo, unsend } do
      local id = webhook.event_id(ev)
      assert.is_nil(ids[id], id)
      ids[id] = true
    end
  end)

  it("does not raise on deep or odd values", function()
    local deep = ('{"a":'):rep(300) .. "1" .. ("}"):rep(300)
    local ev = { field = "x", time = 0 / 0, value = assert(require("instagram.json").decode(deep)) }
    assert.equal(64, #webhook.event_id(ev))
    assert.has_error(function() webhook.event_id(nil) end, "event_id: expects an event")
  end)
end)

describe("webhook deliveries once", function()
  local st
  before_each(function() st = store_m.memory() end)

  local function deliver(body, store)
    return webhook.handle{ app_secret = SECRET, body = body, signature = sig(body), dedupe = store or st }
  end

  it("hands each event out once, across receivers sharing the store", function()
    local first = assert(deliver(COMMENT))
    assert.equal(1, #first)
    assert.is_string(first[1].id)
    assert.same({}, assert(deliver(COMMENT))) -- Meta's retry
    assert.equal(1, #assert(deliver(MESSAGE)))
    -- a delivery holding an old and a new event: only the new one
    local both = '[' .. COMMENT .. ',' .. (COMMENT:gsub('"nice"', '"again"')) .. ']'
    local fresh = assert(deliver(both))
    assert.equal(1, #fresh)
    assert.equal("again", fresh[1].text)
  end)

  it("remembers for dedupe_ttl seconds", function()
    local clock = 0
    local s = store_m.memory{ now = function() return clock end }
    local body = COMMENT
    assert.equal(1, #webhook.handle{ app_secret = SECRET, body = body, signature = sig(body), dedupe = s, dedupe_ttl = 60 })
    clock = 59
    assert.equal(0, #webhook.handle{ app_secret = SECRET, body = body, signature = sig(body), dedupe = s, dedupe_ttl = 60 })
    clock = 61
    assert.equal(1, #webhook.handle{ app_secret = SECRET, body = body, signature = sig(body), dedupe = s, dedupe_ttl = 60 })
  end)

  it("names an app by a hash of its secret that never shows the secret", function()
    local name = webhook.app_name(SECRET)
    assert.matches("^%x+$", name)
    assert.equal(16, #name)
    assert.equal(name, webhook.app_name(SECRET)) -- the same on every worker
    assert.not_equal(name, webhook.app_name(SECRET .. "x")) -- apps apart
    assert.falsy(name:find(SECRET, 1, true))
    for _, bad in ipairs{ "", 42, false } do
      assert.has_error(function() webhook.app_name(bad) end, "app_name: app_secret must be a non-empty string")
    end
    assert.has_error(function() webhook.app_name() end, "app_name: app_secret must be a non-empty string")
    -- handle keeps the events under that name: another app's name leaves them alone
    local events = assert(deliver(COMMENT))
    webhook.forget(events, st, webhook.app_name("another app's secret"))
    assert.equal(0, #assert(deliver(COMMENT)))
  end)

  it("forgets events whose processing failed, so that the retry is processed", function()
    local events = assert(deliver(COMMENT))
    webhook.forget(events, st, webhook.app_name(SECRET))
    assert.equal(1, #assert(deliver(COMMENT)))
  end)

  it("keeps the events when the store fails (processed twice rather than lost)", function()
    local broken = { add = function() return nil, "down" end, delete = function() error("down") end }
    assert.equal(1, #assert(deliver(COMMENT, broken)))
    assert.equal(1, #assert(deliver(COMMENT, broken)))
    local raising = { add = function() error("boom") end }
    assert.equal(1, #assert(deliver(COMMENT, raising)))
  end)

  it("marks nothing for a delivery that fails its signature", function()
    local _, err = webhook.handle{ app_secret = SECRET, body = COMMENT, signature = "sha256=" .. ("0"):rep(64), dedupe = st }
    assert.equal("bad_signature", err.reason)
    assert.equal(1, #assert(deliver(COMMENT)))
  end)

  it("hands an event to each app sharing a store (the account subscribed to both)", function()
    assert.equal(1, #assert(deliver(COMMENT)))
    local other = webhook.handle{ app_secret = "another-app-secret", body = COMMENT,
      signature = "sha256=" .. core.hmac_sha256_hex("another-app-secret", COMMENT), dedupe = st }
    assert.equal(1, #assert(other))
  end)

  it("refuses a dedupe that is no store and a ttl out of range", function()
    assert.has_error(function() webhook.handle{ app_secret = SECRET, body = COMMENT, dedupe = {} } end,
      "handle: store must be an instagram.store")
    assert.has_error(function() webhook.handle{ app_secret = SECRET, body = COMMENT, dedupe = st, dedupe_ttl = 0 } end,
      "handle: dedupe_ttl must be seconds from 1 to 2592000 (30 days)")
    assert.has_error(function() webhook.dedupe({}, st, 1e9) end, "dedupe: dedupe_ttl must be seconds from 1 to 2592000 (30 days)")
    assert.has_error(function() webhook.dedupe("x", st) end, "dedupe: events must be a list")
  end)
end)
