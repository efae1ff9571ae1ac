require "spec.helper"
local webhook = require("instagram").webhook

-- A comments payload in the documented Facebook-Login shape, and its signatures computed
-- independently (Python's hmac) with the secret "emulator-app-secret".
local BODY = '{"object":"instagram","entry":[{"id":"17841405822304914","time":1793534400,"changes":[{"field":'
  .. '"comments","value":{"from":{"id":"232323232","username":"test"},"comment_id":"17865799348089039",'
  .. '"text":"This is an example.","media":{"id":"123123123","media_product_type":"FEED"}}}]}]}'
local SECRET = "emulator-app-secret"
local SHA256 = "sha256=b63e23a0a0266630d1d72cd9c0f63db8279d2b58bd7aaf2c79befade7c6792a9"
local SHA1 = "sha1=72437c0f9b45cc6470b5fe7a3a0f68172f0bc391"

describe("webhook.verify_signature", function()
  it("accepts a valid X-Hub-Signature-256", function()
    assert.is_true(webhook.verify_signature(SECRET, BODY, SHA256))
    assert.is_true(webhook.verify_signature(SECRET, BODY, SHA256:upper():gsub("^SHA256", "sha256")))
  end)

  it("accepts a valid legacy X-Hub-Signature (sha1)", function()
    assert.is_true(webhook.verify_signature(SECRET, BODY, SHA1))
  end)

  it("rejects a wrong secret, an altered body and a forged signature", function()
    local ok, err = webhook.verify_signature("other-secret", BODY, SHA256)
    assert.is_nil(ok)
    assert.equal("webhook", err.kind)
    assert.equal("bad_signature", err.reason)
    assert.is_nil((webhook.verify_signature(SECRET, BODY .. " ", SHA256)))
    assert.is_nil((webhook.verify_signature(SECRET, BODY, "sha256=" .. ("0"):rep(64))))
    assert.is_nil((webhook.verify_signature(SECRET, BODY, (SHA1:gsub("1$", "2")))))
  end)

  it("rejects a missing or malformed header with a clear reason", function()
    local _, e1 = webhook.verify_signature(SECRET, BODY, nil)
    assert.equal("missing_signature", e1.reason)
    local _, e2 = webhook.verify_signature(SECRET, BODY, "")
    assert.equal("missing_signature", e2.reason)
    local _, e3 = webhook.verify_signature(SECRET, BODY, "b63e23a0a0266630d1d72cd9")
    assert.equal("malformed_signature", e3.reason)
    local _, e4 = webhook.verify_signature(SECRET, BODY, "md5=abcdef")
    assert.equal("malformed_signature", e4.reason)
    local _, e5 = webhook.verify_signature(SECRET, BODY, "sha256=abc")
    assert.equal("malformed_signature", e5.reason)
  end)

  it("raises on misuse", function()
    assert.has_error(function() webhook.verify_signature(nil, BODY, SHA256) end)
    assert.has_error(function() webhook.verify_signature(SECRET, nil, SHA256) end)
    assert.has_error(function() webhook.verify_signature(SECRET, BODY, 42) end)
  end)
end)

describe("webhook.challenge", function()
  local q = { ["hub.mode"] = "subscribe", ["hub.verify_token"] = "my-verify-token", ["hub.challenge"] = "1158201444" }

  it("answers the subscription handshake with hub.challenge", function()
    assert.equal("1158201444", webhook.challenge(q, "my-verify-token"))
    assert.equal("42", webhook.challenge({ hub_mode = "subscribe", hub_verify_token = "t", hub_challenge = "42" }, "t"))
  end)

  it("refuses a wrong verify token, a wrong mode and a missing challenge", function()
    local _, e1 = webhook.challenge(q, "other")
    assert.equal("bad_verify_token", e1.reason)
    local _, e2 = webhook.challenge({ ["hub.mode"] = "unsubscribe", ["hub.verify_token"] = "t", ["hub.challenge"] = "1" }, "t")
    assert.equal("bad_mode", e2.reason)
    local _, e3 = webhook.challenge({ ["hub.mode"] = "subscribe", ["hub.verify_token"] = "t" }, "t")
    assert.equal("no_challenge", e3.reason)
    assert.has_error(function() webhook.challenge(q, "") end)
    assert.has_error(function() webhook.challenge("hub.mode=subscribe", "t") end)
  end)
end)

describe("webhook.parse", function()
  local function payload(field, value, entry_extra)
    local json = require "instagram.json"
    local entry = { id = "17841405822304914", time = 1793534400, changes = { { field = field, value = value } } }
    for k, v in pairs(entry_extra or {}) do entry[k] = v end
    return json.encode{ object = "instagram", entry = { entry } }
  end

  it("reads a comments event with every documented field", function()
    local events = assert(webhook.parse(BODY))
    assert.equal(1, #events)
    local e = events[1]
    assert.same({ "instagram", "17841405822304914", 1793534400, "comments", "17865799348089039", "123123123",
                  "This is an example.", "232323232", "test" },
      { e.object, e.account_id, e.time, e.field, e.comment_id, e.media_id, e.text, e.from.id, e.from.username })
    assert.equal("FEED", e.value.media.media_product_type)
  end)

  it("reads a reply (parent_id) and live_comments", function()
    local e = assert(webhook.parse(payload("comments", { comment_id = "2", parent_id = "1", text = "re",
      from = { id = "9", username = "u" }, media = { id = "5" } })))[1]
    assert.equal("1", e.parent_id)
    local l = assert(webhook.parse(payload("live_comments", { comment_id = "3", text = "live!",
      from = { id = "9", username = "u" }, media = { id = "6", media_product_type = "LIVE" } })))[1]
    assert.equal("live_comments", l.field)
    assert.equal("3", l.comment_id)
    assert.equal("6", l.media_id)
  end)

  it("reads mentions in captions and in comments", function()
    local caption = assert(webhook.parse(payload("mentions", { media_id = "17918195224100001" })))[1]
    assert.equal("mentions", caption.field)
    assert.equal("17918195224100001", caption.media_id)
    assert.is_nil(caption.comment_id)
    local comment = assert(webhook.parse(payload("mentions", { media_id = "1", comment_id = "2" })))[1]
    assert.equal("2", comment.comment_id)
  end)

  it("reads story_insights", function()
    local e = assert(webhook.parse(payload("story_insights", { media_id = "18", impressions = 444, reach = 44,
      taps_forward = 4, taps_back = 3, exits = 3, replies = 0 })))[1]
    assert.equal("story_insights", e.field)
    assert.equal("18", e.media_id)
    assert.equal(444, e.value.impressions)
    assert.equal(0, e.value.replies)
  end)

  it("reads messaging entries", function()
    local json = require "instagram.json"
    local body = json.encode{ object = "instagram", entry = { { id = "17841405822304914", time = 1, messaging = { {
      sender = { id = "6000" }, recipient = { id = "17841405822304914" }, timestamp = 1793534400123,
      message = { mid = "aWdfZAG1", text = "hello" } } } } } }
    local e = assert(webhook.parse(body))[1]
    assert.same({ "messages", "6000", "17841405822304914", "aWdfZAG1", "hello", 1793534400123 },
      { e.field, e.sender_id, e.recipient_id, e.message_id, e.text, e.timestamp })
  end)

  it("reads the Instagram-Login shape (no changes[], value.id) and lists of payloads", function()
    local json = require "instagram.json"
    local body = json.encode{ { object = "instagram", entry = { { id = "1", time = 2, field = "comments",
      value = { id = "17865799348089039", from = { id = "3", username = "x" }, text = "hi", media = { id = "4" } } } } } }
    local e = assert(webhook.parse(body))[1]
    assert.equal("17865799348089039", e.comment_id)
    assert.equal("4", e.media_id)
  end)

  it("keeps many changes and entries in order", function()
    local json = require "instagram.json"
    local body = json.encode{ object = "instagram", entry = {
      { id = "1", time = 1, changes = { { field = "comments", value = { comment_id = "a" } },
                                        { field = "mentions", value = { media_id = "b" } } } },
      { id = "2", time = 2, changes = { { field = "comments", value = { comment_id = "c" } } } } } }
    local events = assert(webhook.parse(body))
    assert.equal(3, #events)
    assert.same({ "a", "b", "c" }, { events[1].comment_id, events[2].media_id, events[3].comment_id })
    assert.equal("2", events[3].account_id)
  end)

  it("rejects malformed JSON, wrong shapes and oversized bodies", function()
    local _, e1 = webhook.parse("{not json")
    assert.equal("bad_json", e1.reason)
    local _, e2 = webhook.parse("")
    assert.equal("bad_json", e2.reason)
    local _, e3 = webhook.parse('{"object":"instagram"}')
    assert.equal("bad_payload", e3.reason)
    local _, e4 = webhook.parse('{"object":"user","entry":[]}')
    assert.equal("bad_payload", e4.reason)
    local _, e5 = webhook.parse('"text"')
    assert.equal("bad_payload", e5.reason)
    local _, e6 = webhook.parse(BODY, 100)
    assert.equal("too_large", e6.reason)
    local _, e7 = webhook.parse(("x"):rep(webhook.MAX_BODY + 1))
    assert.equal("too_large", e7.reason)
    assert.has_error(function() webhook.parse(nil) end)
  end)
end)

describe("webhook.handle", function()
  it("checks size, then signature, then parses", function()
    local events = assert(webhook.handle{ app_secret = SECRET, body = BODY, signature = SHA256 })
    assert.equal("comments", events[1].field)
    assert.equal(1, #assert(webhook.handle{ app_secret = SECRET, body = BODY, signature_sha1 = SHA1,
      require_sha256 = false })) -- the legacy signature alone only when allowed (see webhook_hardening_spec)
    local _, e1 = webhook.handle{ app_secret = SECRET, body = BODY }
    assert.equal("missing_signature", e1.reason)
    local _, e2 = webhook.handle{ app_secret = SECRET, body = "{}", signature = SHA256 }
    assert.equal("bad_signature", e2.reason)
    local _, e3 = webhook.handle{ app_secret = SECRET, body = BODY, signature = SHA256, max_body = 10 }
    assert.equal("too_large", e3.reason)
    assert.has_error(function() webhook.handle{ app_secret = SECRET } end)
  end)
end)
