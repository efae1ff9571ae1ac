--- Webhooks: the subscription handshake, payload signatures, and events.
--
--     instagram.webhook.challenge(query_params, verify_token)          --> challenge | nil, err
--     instagram.webhook.verify_signature(app_secret, raw_body, header)  --> true | nil, err
--     instagram.webhook.parse(raw_body [, max_body])                   --> events | nil, err
--     instagram.webhook.handle{ app_secret, body, signature, signature_sha1, require_sha256 = true, max_body,
--                               dedupe = store, dedupe_ttl }         --> events | nil, err
--     instagram.webhook.dedupe(events, store [, ttl]) / forget(events, store)  -- once across a fleet
--
-- Signatures are checked over the raw body bytes with HMAC-SHA256 (`X-Hub-Signature-256`) or,
-- where the caller allows it, the legacy HMAC-SHA1 (`X-Hub-Signature`), compared in constant time
-- by the C core. `handle()` requires the SHA-256 one unless given `require_sha256 = false`: Meta
-- signs every delivery with it, so a delivery that has only the SHA-1 one is not Meta's.
--
-- Errors are returned, never raised, for anything a request can carry: `kind = "webhook"` and a
-- `reason`: `"bad_mode"`, `"bad_verify_token"`, `"no_challenge"` (the handshake: answer 403),
-- `"missing_signature"`, `"malformed_signature"`, `"bad_signature"`, `"sha256_required"` (the
-- signature: answer 403), `"too_large"` (over `max_body`, by default `instagram.webhook.MAX_BODY`,
-- 1 MiB, or more events than `instagram.webhook.MAX_EVENTS`, 10000: answer 413), `"bad_json"`,
-- `"bad_payload"` (answer 400). Misuse (a missing app secret or verify token, a body that is not a
-- string) raises.
-- @module instagram.webhook
local core = require "instagram.core"
local json = require "instagram.json"
local errors = require "instagram.error"

local type, ipairs, error = type, ipairs, error
local lower, match = string.lower, string.match

-- MAX_EVENTS: the most events one delivery may give (Meta batches at most 1000 updates a
-- delivery). A body of small entries could otherwise make hundreds of thousands of event tables
-- (1 MiB of `"messaging":[0,0,...]` is ~500,000) before any of it is used.
local _M = { MAX_BODY = 1024 * 1024, MAX_EVENTS = 10000 }

local function fail(reason, message)
  return nil, errors.new{ kind = "webhook", reason = reason, message = message }
end

local function param(q, key)
  local v = q[key]
  if v == nil then v = q[(key:gsub("%.", "_"))] end -- some frameworks turn hub.mode into hub_mode
  if type(v) == "table" then v = v[1] end
  return v
end

--- Answers the subscription handshake (the GET Meta sends to the callback URL).
-- Checks `hub.mode` (`"subscribe"`) and `hub.verify_token` (constant-time), and returns
-- `hub.challenge` to send back as the body of an HTTP 200. Keys may also be `hub_mode` etc. (as
-- some frameworks rename them), and values lists (the first is used).
-- @tparam table query the request's query parameters (`ngx.req.get_uri_args()`, ...)
-- @tparam string verify_token the verify token set in the app dashboard
-- @treturn[1] string the `hub.challenge` to answer with (HTTP 200)
-- @treturn[2] nil on failure (answer 403)
-- @treturn[2] Error err `kind = "webhook"`, `reason` `"bad_mode"`, `"bad_verify_token"`, `"no_challenge"`
-- or `"bad_challenge"` (not 1 to 256 letters, digits, `-`, `_` or `.`: it is echoed as a body, so
-- markup or line breaks are never sent back; Meta's is a number)
-- @raise when `query` is not a table, or `verify_token` is not a non-empty string
-- @usage
-- local challenge, err = instagram.webhook.challenge(ngx.req.get_uri_args(), VERIFY_TOKEN)
-- if challenge then ngx.say(challenge) else ngx.exit(403) end
function _M.challenge(query, verify_token)
  if type(query) ~= "table" then error("challenge: query must be a table of the request's query parameters", 2) end
  if type(verify_token) ~= "string" or verify_token == "" then
    error("challenge: verify_token (the one set in the app dashboard) is required", 2)
  end
  local mode, token, challenge = param(query, "hub.mode"), param(query, "hub.verify_token"), param(query, "hub.challenge")
  if mode ~= "subscribe" then -- (the sender's words are named only when they are a short plain word)
    local shown = type(mode) == "string" and match(mode, "^[%w_%-]+$") and #mode <= 32 and ("'" .. mode .. "'")
    return fail("bad_mode", "hub.mode must be 'subscribe', got " .. (shown or (mode == nil and "nothing")
      or "another value"))
  end
  if type(token) ~= "string" or not core.constant_time_equal(token, verify_token) then
    return fail("bad_verify_token", "hub.verify_token does not match this endpoint's verify token")
  end
  if type(challenge) ~= "string" or challenge == "" then
    return fail("no_challenge", "hub.challenge is missing")
  end
  -- echoed as a response body: only what Meta sends (a number) or a plain token, never markup or
  -- line breaks, and short
  if #challenge > 256 or not match(challenge, "^[%w%-_.]+$") then
    return fail("bad_challenge", "hub.challenge is not a plain value of at most 256 letters, digits and -_.")
  end
  return challenge
end

--- Checks a delivery's signature: HMAC of the raw body with the app secret, compared in constant time.
-- Accepts `sha256=<64 hex digits>` (`X-Hub-Signature-256`) and the legacy `sha1=<40 hex digits>`
-- (`X-Hub-Signature`); to require SHA-256 use @{handle}. A table (what `ngx.req.get_headers()` gives
-- for a header sent more than once) is refused as malformed: a delivery carries one signature.
-- @tparam string app_secret the app secret
-- @tparam string body the raw request body, byte for byte
-- @tparam ?string|table header the signature header's value
-- @treturn[1] boolean `true` when the signature matches
-- @treturn[2] nil on failure (answer 403)
-- @treturn[2] Error err `kind = "webhook"`, `reason` `"missing_signature"` (no header, or empty),
-- `"malformed_signature"` (not `sha256=`/`sha1=` and hex of the right length, or sent twice) or
-- `"bad_signature"` (wrong secret, or an altered body)
-- @raise when `app_secret` is not a non-empty string, `body` is not a string, or `header` is
-- neither nil, a string nor a table
-- @usage
-- local ok, err = instagram.webhook.verify_signature(APP_SECRET, ngx.req.get_body_data(),
--   ngx.var.http_x_hub_signature_256)
function _M.verify_signature(app_secret, body, header)
  if type(app_secret) ~= "string" or app_secret == "" then error("verify_signature: app_secret is required", 2) end
  if type(body) ~= "string" then error("verify_signature: the raw body must be a string", 2) end
  if header == nil or header == "" then
    return fail("missing_signature", "no X-Hub-Signature-256 (or X-Hub-Signature) header: refusing an unsigned payload")
  end
  if type(header) == "table" then
    return fail("malformed_signature", "the signature header was sent more than once: refusing the payload")
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

-- An id or other convenience value as a string (numbers exactly), or nil for any other type.
local str = json.string_of

local function field_of(t, k)
  if type(t) == "table" then return t[k] end
  return nil
end

local function event_from_change(entry, field, value)
  value = type(value) == "table" and value or {}
  local media = type(value.media) == "table" and value.media or nil
  local comment_id = value.comment_id
  if comment_id == nil and (field == "comments" or field == "live_comments") then comment_id = value.id end
  local media_id = value.media_id
  if media_id == nil then media_id = field_of(media, "id") end
  return {
    object = "instagram",
    account_id = str(entry.id),
    time = entry.time,
    field = field,
    value = value,
    -- conveniences across the documented shapes (FB Login uses comment_id, IG Login uses id)
    comment_id = str(comment_id),
    media_id = str(media_id),
    parent_id = str(value.parent_id),
    text = str(value.text),
    from = value.from,
  }
end

-- What a messaging entry is, by the object it carries, in this order: an entry carrying a read
-- receipt, a reaction, a postback or a referral is not a received message, whatever else it
-- carries. The names are the webhook fields of Meta's Instagram messaging reference.
local MESSAGING = {
  { key = "read", field = "messaging_seen" },
  { key = "reaction", field = "message_reactions" },
  { key = "postback", field = "messaging_postbacks" },
  { key = "referral", field = "messaging_referral" },
  { key = "message", field = "messages" },
}

local function event_from_messaging(entry, m)
  m = type(m) == "table" and m or {}
  local field, inner = "messaging", nil -- "messaging": a kind this version does not know
  for _, kind in ipairs(MESSAGING) do
    if type(m[kind.key]) == "table" then
      field, inner = kind.field, m[kind.key]
      break
    end
  end
  local e = {
    object = "instagram",
    account_id = str(entry.id),
    time = entry.time,
    field = field,
    value = m,
    sender_id = str(field_of(m.sender, "id")),
    recipient_id = str(field_of(m.recipient, "id")),
    timestamp = m.timestamp,
    message_id = str(field_of(inner, "mid")),
  }
  if field == "messages" then
    e.text = str(inner.text)
  elseif field == "message_reactions" then
    e.action, e.reaction, e.emoji = str(inner.action), str(inner.reaction), str(inner.emoji)
  elseif field == "messaging_postbacks" then
    e.title, e.payload = str(inner.title), str(inner.payload)
  elseif field == "messaging_referral" then
    e.ref, e.source, e.referral_type = str(inner.ref), str(inner.source), str(inner.type)
  end
  return e
end

-- The largest body accepted: max_body when given (a whole number of bytes), else MAX_BODY.
local function body_limit(fn, max_body)
  if max_body == nil then return _M.MAX_BODY end
  if type(max_body) ~= "number" or max_body ~= max_body or max_body < 0 or max_body % 1 ~= 0 then
    error(fn .. ": max_body must be a whole number of bytes, got " .. tostring(max_body), 3)
  end
  return max_body
end

--- Parses a delivery's body into events (one per change or message); checks no signature.
-- Accepts one payload object or a list of them, `object` `"instagram"` or `"page"` (or none), in
-- both login flavours' shapes (`entry[].changes[]`, or Instagram Login's `entry[].field`/`value`).
-- Each event of a change: `{ object, account_id, time, field, value, comment_id, media_id,
-- parent_id, text, from }` (fields such as `comments`, `live_comments`, `mentions`,
-- `story_insights`). Each messaging entry: `{ object, account_id, time, field, value, sender_id,
-- recipient_id, timestamp, message_id }` with `field` `"messages"` (plus `text`),
-- `"messaging_seen"`, `"message_reactions"` (plus `action`, `reaction`, `emoji`),
-- `"messaging_postbacks"` (plus `title`, `payload`), `"messaging_referral"` (plus `ref`, `source`,
-- `referral_type`), or `"messaging"` for another kind. Convenience values are strings or nil (ids
-- exact); `value` keeps the change or messaging entry as sent.
-- @tparam string body the raw request body
-- @tparam[opt=1048576] int max_body the largest body accepted, in bytes
-- @treturn[1] {table,...} the events (an empty list when the payload has none)
-- @treturn[2] nil on failure (answer 400, or 413 for `too_large`)
-- @treturn[2] Error err `kind = "webhook"`, `reason` `"too_large"` (over `max_body`, or more
-- events than `MAX_EVENTS`), `"bad_json"` (empty, or not
-- JSON) or `"bad_payload"` (not an object or list of them, no `entry` list, an entry that is not an
-- object, or another `object` than `instagram`/`page`)
-- @raise when `body` is not a string, or `max_body` is not a whole number
-- @usage
-- for _, ev in ipairs(assert(instagram.webhook.parse(body))) do
--   if ev.field == "comments" then print(ev.comment_id, ev.text) end
-- end
function _M.parse(body, max_body)
  if type(body) ~= "string" then error("parse: the raw body must be a string", 2) end
  max_body = body_limit("parse", max_body)
  if #body > max_body then
    return fail("too_large", ("body of %d bytes is over the %d-byte limit"):format(#body, max_body))
  end
  if body == "" then return fail("bad_json", "empty body") end
  local payload, why = json.decode(body)
  if payload == nil then return fail("bad_json", "body is not JSON: " .. tostring(why)) end
  if type(payload) ~= "table" then return fail("bad_payload", "payload must be a JSON object") end
  -- one payload object, or a list of them (an object is one whatever keys it has: with or without
  -- `object`)
  if next(payload) == nil then return fail("bad_payload", "payload is empty") end
  local payloads = payload[1] ~= nil and payload or { payload }
  local events, max_events = {}, _M.MAX_EVENTS
  if type(max_events) ~= "number" or max_events < 0 or max_events % 1 ~= 0 then -- (NaN, inf: % gives NaN)
    error("parse: instagram.webhook.MAX_EVENTS must be a whole number of events, got " .. tostring(max_events), 2)
  end
  local function too_many()
    return fail("too_large", ("more than %d events in one delivery (Meta sends at most 1000)"):format(max_events))
  end
  for _, p in ipairs(payloads) do
    if type(p) ~= "table" or type(p.entry) ~= "table" or (p.entry[1] == nil and next(p.entry) ~= nil) then
      return fail("bad_payload", "payload has no 'entry' list")
    end
    if p.object ~= nil and p.object ~= "instagram" and p.object ~= "page" then
      -- (what the sender wrote is not quoted: its type only)
      return fail("bad_payload", "not an Instagram payload (its object is a " .. type(p.object)
        .. " that is neither \"instagram\" nor \"page\")")
    end
    for _, entry in ipairs(p.entry) do
      if type(entry) ~= "table" then return fail("bad_payload", "an entry is not an object") end
      if type(entry.changes) == "table" then
        for _, ch in ipairs(entry.changes) do
          if type(ch) == "table" and type(ch.field) == "string" then
            if #events >= max_events then return too_many() end
            events[#events + 1] = event_from_change(entry, ch.field, ch.value)
          end
        end
      end
      if type(entry.messaging) == "table" then
        for _, m in ipairs(entry.messaging) do
          if #events >= max_events then return too_many() end
          events[#events + 1] = event_from_messaging(entry, m)
        end
      end
      if type(entry.field) == "string" and entry.value ~= nil then -- Instagram Login's shape, without changes[]
        if #events >= max_events then return too_many() end
        events[#events + 1] = event_from_change(entry, entry.field, entry.value)
      end
    end
  end
  return events
end

-- ---- deliveries once ------------------------------------------------------------------------------

--- How long a delivery is remembered by @{dedupe}: 2 days, beyond Meta's retries (36 hours).
_M.DEDUPE_TTL = 2 * 86400

local tostring, pairs, sort, concat, format, find = tostring, pairs, table.sort, table.concat, string.format, string.find

-- A value as text that is the same on every runtime and machine: object keys sorted, numbers in
-- one spelling, keys with their type, depth bounded (deeper than 256: "{...}").
local function canonical(v, out, depth)
  local t = type(v)
  if t == "table" then
    -- (deeper than any decoded delivery, json.MAX_DEPTH: only a table made by hand, or a cycle, is cut)
    if depth > 256 then out[#out + 1] = "{...}"; return end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      if ta == "number" or ta == "string" then return a < b end
      return tostring(a) < tostring(b)
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      -- a key keeps its type: an object's "1" is not an array's 1 (values of digits are numbers,
      -- for LuaJIT's big ids, but keys never are)
      if type(k) == "string" then out[#out + 1] = format("s%d:%s", #k, k) else canonical(k, out, depth + 1) end
      out[#out + 1] = ":"
      canonical(v[k], out, depth + 1)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "number" then
    -- integers by their digits (a big id is an integer on 5.4 and a string of digits on LuaJIT:
    -- both read "n<digits>"), other numbers in %.17g
    if math.type and math.type(v) == "integer" then out[#out + 1] = format("n%d", v)
    elseif v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then out[#out + 1] = format("n%.0f", v)
    else out[#out + 1] = format("n%.17g", v) end
  elseif t == "string" then
    out[#out + 1] = v:find("^%-?%d+$") and ("n" .. v) or format("s%d:%s", #v, v)
  else
    out[#out + 1] = t:sub(1, 1) .. tostring(v == true) -- boolean, the null sentinel (userdata)
  end
end

--- The stable identity of an event (as @{parse} gives it): the same for every delivery of it, on
-- every machine. A received message is its account and `mid` (an echo, an unsend and an edit of it
-- are other events); anything else its account, time, field and an HMAC-SHA256 of its value.
-- @tparam table event an event
-- @treturn string the identity (64 hex digits, or `"mid:"`, the account, the message id and its kind)
-- @raise when `event` is not a table
function _M.event_id(event)
  if type(event) ~= "table" then error("event_id: expects an event", 2) end
  local m = type(event.value) == "table" and type(event.value.message) == "table" and event.value.message or nil
  if event.field == "messages" and m and type(event.message_id) == "string" and event.message_id ~= ""
    and #event.message_id <= 200 and type(event.account_id) == "string" and #event.account_id <= 64
    and find(event.account_id, "^%d+$") then -- (digits: the first ':' ends it, whatever the mid holds)
    local kind = m.is_deleted and "deleted" or m.is_echo and "echo" or m.is_edit and "edit" or "message"
    return ("mid:%s:%s:%s"):format(event.account_id, event.message_id, kind)
  end
  local out = {}
  canonical({ event.account_id, event.time, event.field, event.value }, out, 0)
  return core.hmac_sha256_hex("instagram-webhook-event", concat(out))
end

--- The name @{handle} gives an app's events in a dedupe store: a hash of its app secret.
-- @tparam string app_secret the app secret
-- @treturn string 16 hex digits
-- @raise when `app_secret` is not a non-empty string
function _M.app_name(app_secret)
  if type(app_secret) ~= "string" or app_secret == "" then error("app_name: app_secret must be a non-empty string", 2) end
  return core.hmac_sha256_hex("instagram-webhook-app", app_secret):sub(1, 16)
end

local function check_store(fn, store)
  if type(store) ~= "table" or type(store.add) ~= "function" then
    error(fn .. ": store must be an instagram.store", 3)
  end
end

local function check_ttl(fn, ttl)
  if ttl ~= nil and not (type(ttl) == "number" and ttl >= 1 and ttl <= 30 * 86400) then
    error(fn .. ": dedupe_ttl must be seconds from 1 to 2592000 (30 days)", 3)
  end
end

-- The key of an event in a store: under the app (apps sharing a store and an account each get it).
local function dedupe_key(ev, app)
  local id = ev.id or _M.event_id(ev)
  return "webhook:" .. (app or "") .. id, id
end

local function check_app(fn, app)
  if app ~= nil and (type(app) ~= "string" or #app > 64) then
    error(fn .. ": app must be a string of at most 64 bytes (the app's name in the store)", 3)
  end
end

--- Drops the events already handed out by any process sharing `store` (Meta delivers at least
-- once, and retries for hours): each event is marked there (`store:add`, for `ttl` seconds) and
-- kept only if this call marked it. A store that fails keeps the event (processed twice rather
-- than lost). If processing then fails, @{forget} them before answering an error, so that Meta's
-- retry is processed.
-- @tparam {table,...} events the events of @{parse} or @{handle}
-- @tparam Store store an @{instagram.store} (shdict or Redis for a fleet)
-- @tparam[opt=172800] number ttl seconds to remember a delivery (1 to 30 days)
-- @tparam[opt] string app the app's name in the store, when apps share a store (@{handle} uses a
--   hash of the app secret)
-- @treturn {table,...} the events not seen before, in order (each gets its `id`, @{event_id})
-- @raise when `events` is not a list, `store` not a store, `ttl` out of range or `app` not a string
-- @usage local fresh = instagram.webhook.dedupe(events, store)
function _M.dedupe(events, store, ttl, app)
  if type(events) ~= "table" then error("dedupe: events must be a list", 2) end
  check_store("dedupe", store)
  check_ttl("dedupe", ttl)
  check_app("dedupe", app)
  local fresh = {}
  for i, ev in ipairs(events) do
    if type(ev) ~= "table" then error("dedupe: event " .. i .. " must be an event (a table), got " .. type(ev), 2) end
    local key, id = dedupe_key(ev, app and (app .. ":"))
    ev.id = id
    local ok, added = pcall(store.add, store, key, 1, ttl or _M.DEDUPE_TTL)
    if not ok or added ~= false then fresh[#fresh + 1] = ev end
  end
  return fresh
end

--- Forgets events marked by @{dedupe} (their processing failed: the retry must not be dropped).
-- @{handle} marks each event when it hands it out: a worker that dies before it could forget a
-- failed one leaves it marked (Meta's retry is then dropped until `ttl`).
-- @tparam {table,...} events the events
-- @tparam Store store the store given to @{dedupe}
-- @tparam[opt] string app as given to @{dedupe} (for events of @{handle}: @{app_name}(app_secret))
-- @raise when `events` is not a list or `store` not a store
function _M.forget(events, store, app)
  if type(events) ~= "table" then error("forget: events must be a list", 2) end
  check_store("forget", store)
  check_app("forget", app)
  for _, ev in ipairs(events) do
    pcall(store.delete, store, (dedupe_key(ev, app and (app .. ":"))))
  end
end

local HANDLE_OPTS = { app_secret = true, body = true, signature = true, signature_sha1 = true,
                      require_sha256 = true, max_body = true, dedupe = "table", dedupe_ttl = "number" }
--- Handles a delivery (the POST to the callback URL): size first, then signature, then JSON.
-- With `require_sha256` (the default) only the SHA-256 signature is accepted: a delivery with only
-- the legacy SHA-1 one is refused (reason `"sha256_required"`); set it to `false` only for a
-- sender that cannot sign with SHA-256.
-- @tparam table o
-- @tparam string o.app_secret the app secret
-- @tparam string o.body the raw request body, byte for byte
-- @tparam[opt] string|table o.signature the `X-Hub-Signature-256` header (`sha256=...`)
-- @tparam[opt] string|table o.signature_sha1 the legacy `X-Hub-Signature` header (`sha1=...`), used
-- only with `require_sha256 = false` and no `signature`
-- @tparam[opt=true] boolean o.require_sha256 refuse deliveries without a SHA-256 signature
-- @tparam[opt=1048576] int o.max_body the largest body accepted, in bytes
-- @tparam[opt] Store o.dedupe an @{instagram.store}: hand out each event once across everything
--   sharing it (see @{dedupe}); each event gets its `id`
-- @tparam[opt=172800] number o.dedupe_ttl seconds a delivery is remembered (with `dedupe`)
-- @treturn[1] {table,...} the events, as @{parse} gives them (with `dedupe`: those not seen before)
-- @treturn[2] nil on failure (answer 413 for `too_large`, 403 for a signature, 400 for the payload)
-- @treturn[2] Error err `kind = "webhook"`, `reason` `"too_large"`, `"sha256_required"`,
-- `"missing_signature"`, `"malformed_signature"`, `"bad_signature"`, `"bad_json"` or `"bad_payload"`
-- @raise when `o` is not a table, `o.body` is not a string, `require_sha256` is not a boolean,
-- `max_body` is not a whole number, or `app_secret` is not a non-empty string
-- @usage
-- ngx.req.read_body()
-- local events, err = instagram.webhook.handle{ app_secret = APP_SECRET, body = ngx.req.get_body_data(),
--   signature = ngx.var.http_x_hub_signature_256 }
-- if not events then return ngx.exit(err.reason == "too_large" and 413 or 403) end
function _M.handle(o)
  if type(o) ~= "table" then error("handle: expects a table", 2) end
  require("instagram.client").check_options("webhook.handle", nil, o, HANDLE_OPTS, 2)
  if type(o.app_secret) ~= "string" or o.app_secret == "" then error("handle: app_secret is required", 2) end
  if type(o.body) ~= "string" then error("handle: body (the raw request body) is required", 2) end
  local require256 = o.require_sha256
  if require256 == nil then require256 = true end
  if type(require256) ~= "boolean" then error("handle: require_sha256 must be a boolean", 2) end
  if o.dedupe ~= nil then check_store("handle", o.dedupe) end
  check_ttl("handle", o.dedupe_ttl)
  local max_body = body_limit("handle", o.max_body)
  if #o.body > max_body then
    return fail("too_large", ("body of %d bytes is over the %d-byte limit"):format(#o.body, max_body))
  end
  local header = o.signature
  if header == nil or header == "" then
    local sha1 = o.signature_sha1
    if require256 then
      if sha1 ~= nil and sha1 ~= "" then
        return fail("sha256_required", "only the legacy X-Hub-Signature (SHA-1) came with the payload: "
          .. "X-Hub-Signature-256 is required (require_sha256 = false accepts SHA-1)")
      end
    else
      header = sha1
    end
  elseif require256 and type(header) == "string" and not match(lower(header), "^%s*sha256=") then
    return fail("sha256_required", "the X-Hub-Signature-256 header does not carry a sha256= signature")
  end
  local ok, err = _M.verify_signature(o.app_secret, o.body, header)
  if not ok then return nil, err end
  local events, perr = _M.parse(o.body, max_body)
  if events and o.dedupe then return _M.dedupe(events, o.dedupe, o.dedupe_ttl, _M.app_name(o.app_secret)) end
  return events, perr
end

return _M
