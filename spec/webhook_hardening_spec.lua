-- Webhook deliveries an attacker (or Meta's newer event kinds) can send (issue #11, finding 9 and
-- the messaging fields): repeated signature headers, SHA-1-only deliveries, messaging entries that
-- are not messages, and values of the wrong type.
require "spec.helper"
local webhook = require("instagram").webhook
local core = require "instagram.core"
local json = require "instagram.json"

local SECRET = "emulator-app-secret"
local BODY = '{"object":"instagram","entry":[{"id":"17841405822304914","time":1793534400,"changes":[{"field":'
  .. '"comments","value":{"comment_id":"17865799348089039","text":"hi","media":{"id":"123123123"}}}]}]}'
local SHA256 = "sha256=" .. core.hmac_sha256_hex(SECRET, BODY)
local SHA1 = "sha1=" .. core.hmac_sha1_hex(SECRET, BODY)

describe("webhook signatures (finding 9)", function()
  it("treats repeated signature headers (a table, as ngx.req.get_headers() gives) as invalid, never raising", function()
    for _, header in ipairs{ { SHA256, SHA256 }, { SHA256, "sha256=" .. ("0"):rep(64) }, { SHA256 }, {} } do
      local ok, res, err = pcall(webhook.verify_signature, SECRET, BODY, header)
      assert.is_true(ok, "verify_signature raised: " .. tostring(res))
      assert.is_nil(res)
      assert.equal("webhook", err.kind)
      assert.equal("malformed_signature", err.reason)
      local okh, events, herr = pcall(webhook.handle, { app_secret = SECRET, body = BODY, signature = header })
      assert.is_true(okh, "handle raised: " .. tostring(events))
      assert.is_nil(events)
      assert.equal("malformed_signature", herr.reason)
      -- a repeated legacy header is no better
      local _, _, serr = pcall(webhook.handle, { app_secret = SECRET, body = BODY, signature_sha1 = header,
        require_sha256 = false })
      assert.equal("malformed_signature", serr.reason)
    end
  end)

  it("requires X-Hub-Signature-256 by default: a SHA-1-only delivery is refused", function()
    local events, err = webhook.handle{ app_secret = SECRET, body = BODY, signature_sha1 = SHA1 }
    assert.is_nil(events)
    assert.equal("sha256_required", err.reason)
    assert.equal(1, #assert(webhook.handle{ app_secret = SECRET, body = BODY, signature = SHA256 }))
    assert.equal(1, #assert(webhook.handle{ app_secret = SECRET, body = BODY, signature = SHA256,
      signature_sha1 = SHA1 }))
    -- opting out accepts the legacy header alone, and still checks it
    assert.equal(1, #assert(webhook.handle{ app_secret = SECRET, body = BODY, signature_sha1 = SHA1,
      require_sha256 = false }))
    local _, bad = webhook.handle{ app_secret = SECRET, body = BODY, signature_sha1 = "sha1=" .. ("0"):rep(40),
      require_sha256 = false }
    assert.equal("bad_signature", bad.reason)
    -- a sha1 value given as the SHA-256 header is no way around it
    local _, e2 = webhook.handle{ app_secret = SECRET, body = BODY, signature = SHA1 }
    assert.equal("sha256_required", e2.reason)
    assert.has_error(function() webhook.handle{ app_secret = SECRET, body = BODY, signature = SHA256,
      require_sha256 = "yes" } end)
  end)
end)

describe("webhook messaging entries", function()
  local function parse(m)
    local body = json.encode{ object = "instagram", entry = { { id = "17841405822304914", time = 1793534400,
      messaging = { m } } } }
    local events = assert(webhook.parse(body))
    assert.equal(1, #events)
    return events[1]
  end
  local base = { sender = { id = "6000" }, recipient = { id = "17841405822304914" }, timestamp = 1793534400123 }
  local function with(k, v)
    local m = {}
    for kk, vv in pairs(base) do m[kk] = vv end
    m[k] = v
    return m
  end

  it("reports a read receipt as messaging_seen", function()
    local e = parse(with("read", { mid = "aWdfZAG1" }))
    assert.same({ "messaging_seen", "6000", "17841405822304914", "aWdfZAG1", 1793534400123 },
      { e.field, e.sender_id, e.recipient_id, e.message_id, e.timestamp })
    assert.is_nil(e.text)
  end)

  it("reports a reaction as message_reactions", function()
    local e = parse(with("reaction", { mid = "aWdfZAG2", action = "react", reaction = "love", emoji = "\u{2764}" }))
    assert.same({ "message_reactions", "aWdfZAG2", "react", "love", "\u{2764}" },
      { e.field, e.message_id, e.action, e.reaction, e.emoji })
    local un = parse(with("reaction", { mid = "aWdfZAG2", action = "unreact" }))
    assert.same({ "message_reactions", "unreact" }, { un.field, un.action })
  end)

  it("reports a postback as messaging_postbacks", function()
    local e = parse(with("postback", { mid = "aWdfZAG3", title = "Talk to us", payload = "ICEBREAKER_1" }))
    assert.same({ "messaging_postbacks", "aWdfZAG3", "Talk to us", "ICEBREAKER_1" },
      { e.field, e.message_id, e.title, e.payload })
  end)

  it("reports a referral as messaging_referral", function()
    local e = parse(with("referral", { ref = "summer", source = "IGME", type = "OPEN_THREAD" }))
    assert.same({ "messaging_referral", "summer", "IGME" }, { e.field, e.ref, e.source })
    assert.is_nil(e.message_id)
  end)

  it("still reports a message (an echo, or one carrying an ad referral) as messages", function()
    local e = parse(with("message", { mid = "m1", text = "hello", referral = { ref = "ad", source = "ADS" } }))
    assert.same({ "messages", "m1", "hello" }, { e.field, e.message_id, e.text })
    local echo = parse(with("message", { mid = "m2", text = "hi back", is_echo = true }))
    assert.equal("messages", echo.field)
  end)

  it("never reports an entry it does not recognise as a received message", function()
    local e = parse(with("something_new", { x = 1 }))
    assert.not_equal("messages", e.field)
    assert.equal("messaging", e.field)
    local junk = parse(with("message", "not an object"))
    assert.not_equal("messages", junk.field)
  end)

  it("keeps ids exact and ignores values of the wrong type", function()
    local e = parse{ sender = { id = 1784140000000001 }, recipient = "x", timestamp = "soon",
      read = { mid = { "not", "a", "string" } } }
    assert.equal("messaging_seen", e.field)
    assert.equal("1784140000000001", e.sender_id)
    assert.is_nil(e.recipient_id)
    assert.is_nil(e.message_id)
  end)
end)

describe("webhook.parse with values of the wrong type", function()
  it("never raises on ids, fields and values of any type", function()
    local weird = { true, false, 1.5, -3, 1e300, "x", {}, { 1, 2 }, json.null }
    for _, v in ipairs(weird) do
      local body = json.encode{ object = "instagram", entry = {
        { id = v, time = v, changes = { { field = v, value = { comment_id = v, media_id = v, media = v,
          parent_id = v, text = v, from = v } } }, field = v, value = v },
        { id = v, messaging = { { sender = { id = v }, recipient = { id = v }, message = { mid = v, text = v } } } } } }
      local ok, events, err = pcall(webhook.parse, body)
      assert.is_true(ok, "webhook.parse raised for " .. tostring(v) .. ": " .. tostring(events))
      assert.is_true(events ~= nil or err ~= nil)
      for _, e in ipairs(events or {}) do
        assert.is_true(e.field == nil or type(e.field) == "string")
        assert.is_true(e.comment_id == nil or type(e.comment_id) == "string")
        assert.is_true(e.account_id == nil or type(e.account_id) == "string")
      end
    end
  end)
end)

describe("webhook max_body", function()
  it("must be a whole number of bytes, in parse and in handle", function()
    for _, bad in ipairs{ "10", -1, 1.5, 0 / 0, true } do
      assert.has_error(function() webhook.parse("{}", bad) end,
        "parse: max_body must be a whole number of bytes, got " .. tostring(bad))
      assert.has_error(function() webhook.handle{ app_secret = "s", body = "{}", max_body = bad } end,
        "handle: max_body must be a whole number of bytes, got " .. tostring(bad))
    end
    local _, err = webhook.parse("{}", 1)
    assert.equal("too_large", err.reason)
  end)
end)

describe("webhook.challenge against a hostile sender", function()
  local VT = "verify-me"
  it("never puts the sender's words into its error, and echoes only a plain challenge", function()
    local _, err = webhook.challenge({ ["hub.mode"] = "x\r\nforged log line <script>alert(1)</script>" }, VT)
    assert.equal("bad_mode", err.reason)
    assert.equal("instagram: webhook error (bad_mode): hub.mode must be 'subscribe', got another value", tostring(err))
    local _, long = webhook.challenge({ ["hub.mode"] = ("m"):rep(5 * 1024 * 1024) }, VT)
    assert.is_true(#long.message < 100)
    local _, word = webhook.challenge({ ["hub.mode"] = "unsubscribe" }, VT)
    assert.equal("hub.mode must be 'subscribe', got 'unsubscribe'", word.message)
    for _, bad in ipairs{ "<script>alert(1)</script>", "1\r\nSet-Cookie: a=b", ("9"):rep(257), "a b", "1;2" } do
      local v, e = webhook.challenge({ ["hub.mode"] = "subscribe", ["hub.verify_token"] = VT, ["hub.challenge"] = bad }, VT)
      assert.is_nil(v)
      assert.equal("bad_challenge", e.reason)
    end
    assert.equal("1158201444", webhook.challenge({ ["hub.mode"] = "subscribe", ["hub.verify_token"] = VT,
      ["hub.challenge"] = "1158201444" }, VT))
    assert.equal(("7"):rep(256), webhook.challenge({ ["hub.mode"] = "subscribe", ["hub.verify_token"] = VT,
      ["hub.challenge"] = ("7"):rep(256) }, VT))
  end)
end)

describe("webhook deliveries with more events than Meta ever batches", function()
  local function messaging(n, shape)
    local items = {}
    for i = 1, n do items[i] = shape or "0" end
    return '{"object":"page","entry":[{"id":"1","time":1,"messaging":[' .. table.concat(items, ",") .. ']}]}'
  end

  it("gives up to MAX_EVENTS events and refuses one more as too_large (413), signed or not", function()
    assert.equal(10000, webhook.MAX_EVENTS)
    assert.equal(10000, #assert(webhook.parse(messaging(10000))))
    local body = messaging(10001)
    local events, err = webhook.parse(body)
    assert.is_nil(events)
    assert.equal("webhook", err.kind)
    assert.equal("too_large", err.reason)
    assert.equal("more than 10000 events in one delivery (Meta sends at most 1000)", err.message)
    local sig = "sha256=" .. core.hmac_sha256_hex(SECRET, body)
    local hev, herr = webhook.handle{ app_secret = SECRET, body = body, signature = sig }
    assert.is_nil(hev)
    assert.equal("too_large", herr.reason)
  end)

  it("counts changes, messaging entries and Instagram Login's flat entries together, across payloads", function()
    local change = '{"field":"comments","value":{"comment_id":"1"}}'
    local changes = {}
    for i = 1, 5000 do changes[i] = change end
    local entry = '{"id":"1","time":1,"changes":[' .. table.concat(changes, ",") .. '],"field":"mentions","value":{}}'
    local two = '[{"object":"instagram","entry":[' .. entry .. ']},{"object":"instagram","entry":[' .. entry .. ']}]'
    local events, err = webhook.parse(two) -- 2 x (5000 + 1)
    assert.is_nil(events)
    assert.equal("too_large", err.reason)
    local one = '{"object":"instagram","entry":[' .. entry .. ']}'
    assert.equal(5001, #assert(webhook.parse(one)))
  end)

  it("stops a 1 MiB body of tiny entries before making its ~500,000 events", function()
    local body = messaging(math.floor((webhook.MAX_BODY - 100) / 2))
    assert.truthy(#body <= webhook.MAX_BODY)
    collectgarbage()
    local before = collectgarbage("count")
    local events, err = webhook.parse(body)
    assert.is_nil(events)
    assert.equal("too_large", err.reason)
    collectgarbage()
    assert.truthy(collectgarbage("count") - before < 1024, "memory kept after the refusal")
  end)

  it("raises, naming MAX_EVENTS, when it is set to something that is not a whole number", function()
    local saved = webhook.MAX_EVENTS
    for _, bad in ipairs{ 2.5, -1, 0 / 0, math.huge, "3", false } do
      webhook.MAX_EVENTS = bad
      local ok, err = pcall(webhook.parse, messaging(1))
      webhook.MAX_EVENTS = saved
      assert.is_false(ok, tostring(bad))
      assert.truthy(tostring(err):find("MAX_EVENTS must be a whole number of events", 1, true), tostring(err))
    end
  end)

  it("MAX_EVENTS can be raised or lowered", function()
    local saved = webhook.MAX_EVENTS
    webhook.MAX_EVENTS = 3
    local ok, events, err = pcall(webhook.parse, messaging(4, '{"sender":{"id":"1"},"message":{"mid":"m"}}'))
    webhook.MAX_EVENTS = saved
    assert.is_true(ok)
    assert.is_nil(events)
    assert.equal("more than 3 events in one delivery (Meta sends at most 1000)", err.message)
  end)
end)
