--- A minimal webhook receiver in plain Lua (luasocket), one request at a time: answers the
-- verification handshake and prints each verified event. For production inside nginx, see
-- examples/openresty (the /webhook location).
--   lua5.4 examples/webhook_receiver.lua [port]      (IG_APP_SECRET, IG_VERIFY_TOKEN; IG_MAX_REQUESTS to stop)
-- With the local emulator, `eval "$(emulator/run env)"` sets both to what its test deliveries use
-- (POST /__emulator/webhook_verify { url, verify_token = "emulator-verify-token" }, /__emulator/webhook).
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
local socket = require "socket"
local instagram = require "instagram"
local params = require "instagram.params"

local secret = assert(os.getenv("IG_APP_SECRET"), "set IG_APP_SECRET")
local verify_token = assert(os.getenv("IG_VERIFY_TOKEN"), "set IG_VERIFY_TOKEN")
local port = tonumber(arg[1]) or 18200
local max_requests = tonumber(os.getenv("IG_MAX_REQUESTS"))

local server = assert(socket.bind("127.0.0.1", port))
print("webhook receiver on http://127.0.0.1:" .. port .. "/webhook")
io.stdout:flush()

local function reply(conn, status, text)
  conn:send(("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s")
    :format(status, #text, text))
end

local served = 0
while not max_requests or served < max_requests do
  local conn = server:accept()
  conn:settimeout(10)
  local line = conn:receive("*l") or ""
  local method, target = line:match("^(%u+) (%S+)")
  local headers = {}
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.*)$")
    if k then
      k = k:lower()
      local seen = headers[k]
      -- a header sent twice is kept as a list (as nginx does): handle() refuses two signatures
      if seen == nil then headers[k] = v
      elseif type(seen) == "table" then seen[#seen + 1] = v
      else headers[k] = { seen, v } end
    end
  end
  local length = type(headers["content-length"]) == "string" and headers["content-length"]:match("^%s*(%d+)%s*$")
  length = tonumber(length) or 0
  if length > instagram.webhook.MAX_BODY then
    reply(conn, "413 Payload Too Large", "too large")
  elseif method == "GET" then
    local challenge, err = instagram.webhook.challenge(params.decode(target:match("%?(.*)$") or ""), verify_token)
    if challenge then reply(conn, "200 OK", challenge) else reply(conn, "403 Forbidden", err.message) end
  elseif method == "POST" then
    local body = length > 0 and conn:receive(length) or ""
    local events, err = instagram.webhook.handle{ app_secret = secret, body = body,
      signature = headers["x-hub-signature-256"], signature_sha1 = headers["x-hub-signature"] }
    if events then
      for _, e in ipairs(events) do
        print(("event %s on %s: comment %s media %s %q"):format(e.field, tostring(e.account_id),
          tostring(e.comment_id), tostring(e.media_id), e.text or ""))
      end
      reply(conn, "200 OK", "EVENT_RECEIVED")
    else
      print("refused: " .. err.reason)
      reply(conn, err.reason == "bad_json" and "400 Bad Request" or "403 Forbidden", err.message)
    end
  else
    reply(conn, "405 Method Not Allowed", "")
  end
  io.stdout:flush()
  conn:close()
  served = served + 1
end
