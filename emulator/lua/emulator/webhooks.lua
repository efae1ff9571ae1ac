--- Sends webhook traffic the way Meta does, for tests and for trying a receiver by hand:
--   POST /__emulator/webhook         { url, field, value | payload, account_id, secret,
--                                      signature = "both" | "sha256" | "sha1" | "bad" | "none" }
--   POST /__emulator/webhook_verify  { url, verify_token, challenge }
-- Both answer with what the receiver said: { status, body, ... }.
local cjson = require "cjson.safe"
local json = require "instagram.json"
local data = require "emulator.data"
local hmac = require "emulator.hmac"
local transport = require "instagram.transport.ngx"

local ngx = ngx
local type = type

local _M = {}

local function body_of_request()
  ngx.req.read_body()
  local b = cjson.decode(ngx.req.get_body_data() or "{}")
  return type(b) == "table" and b or {}
end

local function sha1_hex(key, msg)
  local raw = ngx.hmac_sha1(key, msg)
  return (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

function _M.deliver(ctx)
  local o = body_of_request()
  if type(o.url) ~= "string" or not o.url:match("^http://127%.0%.0%.1[:/]") then
    return ctx.send(400, { error = "url must be an http://127.0.0.1 address (the emulator posts to loopback only)" })
  end
  local payload = o.payload or { object = "instagram", entry = { {
    id = o.account_id or data.IG_USER_ID, time = ctx.now(),
    changes = { { field = o.field or "comments", value = o.value or json.object() } } } } }
  local body = type(payload) == "string" and payload or assert(json.encode(payload))
  local secret = o.secret or data.APP_SECRET
  local mode = o.signature or "both"
  local headers = { ["Content-Type"] = "application/json" }
  local s256, s1 = "sha256=" .. hmac.sha256_hex(secret, body), "sha1=" .. sha1_hex(secret, body)
  if mode == "both" or mode == "sha256" then headers["X-Hub-Signature-256"] = s256 end
  if mode == "both" or mode == "sha1" then headers["X-Hub-Signature"] = s1 end
  if mode == "bad" then headers["X-Hub-Signature-256"] = "sha256=" .. string.rep("0", 64) end
  local res, reason, message = transport.new{ timeout = 10 }:request{ method = "POST", url = o.url,
    headers = headers, body = body }
  if not res then return ctx.send(502, { error = reason .. ": " .. tostring(message) }) end
  return ctx.send(200, { status = res.status, body = res.body, sent = body, signature_256 = headers["X-Hub-Signature-256"],
    signature = headers["X-Hub-Signature"] })
end

function _M.verify(ctx)
  local o = body_of_request()
  if type(o.url) ~= "string" or not o.url:match("^http://127%.0%.0%.1[:/]") then
    return ctx.send(400, { error = "url must be an http://127.0.0.1 address" })
  end
  local challenge = o.challenge or tostring(math.random(100000000, 999999999))
  local url = o.url .. (o.url:find("?", 1, true) and "&" or "?") .. ngx.encode_args{
    ["hub.mode"] = o.mode or "subscribe", ["hub.challenge"] = challenge, ["hub.verify_token"] = o.verify_token or "" }
  local res, reason, message = transport.new{ timeout = 10 }:request{ method = "GET", url = url }
  if not res then return ctx.send(502, { error = reason .. ": " .. tostring(message) }) end
  return ctx.send(200, { status = res.status, body = res.body, challenge = challenge,
    ok = res.status == 200 and res.body:gsub("%s+$", "") == challenge })
end

return _M
