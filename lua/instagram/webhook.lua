--- Webhooks: the subscription handshake, payload signatures, and events.
--   instagram.webhook.challenge(query_params, verify_token)          --> challenge | nil, err
--   instagram.webhook.verify_signature(app_secret, raw_body, header)  --> true | nil, err
--   instagram.webhook.parse(raw_body)                                --> events | nil, err
--   instagram.webhook.handle{ app_secret, body, signature, signature_sha1 } --> events | nil, err
-- Signatures are checked over the raw body bytes with HMAC-SHA256 (X-Hub-Signature-256) or the
-- legacy HMAC-SHA1 (X-Hub-Signature), compared in constant time by the C core.
local core = require "instagram.core"
local json = require "instagram.json"
local errors = require "instagram.error"

local type, ipairs, tostring, error = type, ipairs, tostring, error
local lower, match = string.lower, string.match

local _M = { MAX_BODY = 1024 * 1024 }

local function fail(reason, message)
  return nil, errors.new{ kind = "webhook", reason = reason, message = message }
end

local function param(q, key)
  local v = q[key]
  if v == nil then v = q[(key:gsub("%.", "_"))] end -- some frameworks turn hub.mode into hub_mode
  if type(v) == "table" then v = v[1] end
  return v
end

--- challenge(query, verify_token) -> the hub.challenge to answer with (HTTP 200) | nil, err (answer 403)
function _M.challenge(query, verify_token)
  if type(query) ~= "table" then error("challenge: query must be a table of the request's query parameters", 2) end
  if type(verify_token) ~= "string" or verify_token == "" then
    error("challenge: verify_token (the one set in the app dashboard) is required", 2)
  end
  local mode, token, challenge = param(query, "hub.mode"), param(query, "hub.verify_token"), param(query, "hub.challenge")
  if mode ~= "subscribe" then
    return fail("bad_mode", "hub.mode must be 'subscribe', got " .. tostring(mode))
  end
  if type(token) ~= "string" or not core.constant_time_equal(token, verify_token) then
    return fail("bad_verify_token", "hub.verify_token does not match this endpoint's verify token")
  end
  if type(challenge) ~= "string" or challenge == "" then
    return fail("no_challenge", "hub.challenge is missing")
  end
  return challenge
end

--- verify_signature(app_secret, raw_body, header) -> true | nil, err
-- header: the X-Hub-Signature-256 value "sha256=<hex>", or the legacy X-Hub-Signature "sha1=<hex>".
function _M.verify_signature(app_secret, body, header)
  if type(app_secret) ~= "string" or app_secret == "" then error("verify_signature: app_secret is required", 2) end
  if type(body) ~= "string" then error("verify_signature: the raw body must be a string", 2) end
  if header == nil or header == "" then
    return fail("missing_signature", "no X-Hub-Signature-256 (or X-Hub-Signature) header: refusing an unsigned payload")
  end
  if type(header) ~= "string" then error("verify_signature: the signature header must be a string", 2) end
  local algo, hex = match(header, "^%s*(sha%d+)=(%x+)%s*$")
  if not algo then
    return fail("malformed_signature", "signature header must look like sha256=<64 hex digits>")
  end
  algo, hex = lower(algo), lower(hex)
  local expected
  if algo == "sha256" and #hex == 64 then expected = core.hmac_sha256_hex(app_secret, body)
  elseif algo == "sha1" and #hex == 40 then expected = core.hmac_sha1_hex(app_secret, body)
  else return fail("malformed_signature", "unsupported signature '" .. algo .. "' or wrong length") end
  if not core.constant_time_equal(expected, hex) then
    return fail("bad_signature", "the payload's signature does not match: wrong app secret, or the body was altered")
  end
  return true
end

local function str(v)
  if type(v) == "number" then return json.number(v) end
  return v
end

local function event_from_change(entry, field, value)
  value = type(value) == "table" and value or {}
  local media = type(value.media) == "table" and value.media or nil
  return {
    object = "instagram",
    account_id = str(entry.id),
    time = entry.time,
    field = field,
    value = value,
    -- conveniences across the documented shapes (FB Login uses comment_id, IG Login uses id)
    comment_id = str(value.comment_id or ((field == "comments" or field == "live_comments") and value.id or nil)),
    media_id = str(value.media_id or (media and media.id)),
    parent_id = str(value.parent_id),
    text = value.text,
    from = value.from,
  }
end

local function event_from_message(entry, m)
  m = type(m) == "table" and m or {}
  local message = type(m.message) == "table" and m.message or {}
  return {
    object = "instagram",
    account_id = str(entry.id),
    time = entry.time,
    field = "messages",
    value = m,
    sender_id = str(type(m.sender) == "table" and m.sender.id or nil),
    recipient_id = str(type(m.recipient) == "table" and m.recipient.id or nil),
    timestamp = m.timestamp,
    message_id = message.mid,
    text = message.text,
  }
end

--- parse(raw_body [, max_body]) -> list of events | nil, err
-- Accepts one payload object or a list of them. Each event: { object, account_id, time, field,
-- value, comment_id, media_id, parent_id, text, from } for changes (comments, live_comments,
-- mentions, story_insights, ...), { field = "messages", sender_id, recipient_id, timestamp,
-- message_id, text, value } for messaging entries.
function _M.parse(body, max_body)
  if type(body) ~= "string" then error("parse: the raw body must be a string", 2) end
  max_body = max_body or _M.MAX_BODY
  if #body > max_body then
    return fail("too_large", ("body of %d bytes is over the %d-byte limit"):format(#body, max_body))
  end
  if body == "" then return fail("bad_json", "empty body") end
  local payload, why = json.decode(body)
  if payload == nil then return fail("bad_json", "body is not JSON: " .. tostring(why)) end
  if type(payload) ~= "table" then return fail("bad_payload", "payload must be a JSON object") end
  local payloads = payload.object and { payload } or payload
  local events = {}
  for _, p in ipairs(payloads) do
    if type(p) ~= "table" or type(p.entry) ~= "table" then
      return fail("bad_payload", "payload has no 'entry' list")
    end
    if p.object ~= nil and p.object ~= "instagram" and p.object ~= "page" then
      return fail("bad_payload", "not an Instagram payload (object = " .. tostring(p.object) .. ")")
    end
    for _, entry in ipairs(p.entry) do
      if type(entry) ~= "table" then return fail("bad_payload", "an entry is not an object") end
      if type(entry.changes) == "table" then
        for _, ch in ipairs(entry.changes) do
          if type(ch) == "table" and ch.field then events[#events + 1] = event_from_change(entry, ch.field, ch.value) end
        end
      end
      if type(entry.messaging) == "table" then
        for _, m in ipairs(entry.messaging) do events[#events + 1] = event_from_message(entry, m) end
      end
      if entry.field and entry.value then -- Instagram Login's shape, without changes[]
        events[#events + 1] = event_from_change(entry, entry.field, entry.value)
      end
    end
  end
  return events
end

--- handle{ app_secret, body, signature (X-Hub-Signature-256), signature_sha1 (X-Hub-Signature),
--          max_body } -> events | nil, err. Size first, then signature, then JSON.
function _M.handle(o)
  if type(o) ~= "table" then error("handle: expects a table", 2) end
  if type(o.body) ~= "string" then error("handle: body (the raw request body) is required", 2) end
  local max_body = o.max_body or _M.MAX_BODY
  if #o.body > max_body then
    return fail("too_large", ("body of %d bytes is over the %d-byte limit"):format(#o.body, max_body))
  end
  local ok, err = _M.verify_signature(o.app_secret, o.body, o.signature or o.signature_sha1)
  if not ok then return nil, err end
  return _M.parse(o.body, max_body)
end

return _M
