--- The OpenResty example site: handlers for examples/openresty/nginx.conf.
-- Everything that talks to Meta goes through instagram-graph's cosocket transport (picked by
-- itself inside nginx), so a slow Graph call never blocks the worker.
local instagram = require "instagram"
local json = require "instagram.json"
local core = require "instagram.core"

local ngx = ngx
local _M = {}

local APP_ID = os.getenv("IG_APP_ID")
local APP_SECRET = os.getenv("IG_APP_SECRET")
local VERIFY_TOKEN = os.getenv("IG_VERIFY_TOKEN")
local GRAPH_URL = os.getenv("IG_GRAPH_URL")         -- nil: https://graph.facebook.com
local DIALOG_URL = os.getenv("IG_DIALOG_URL")       -- nil: https://www.facebook.com
local SERVER_TOKEN = os.getenv("IG_SERVER_TOKEN")   -- a long-lived token for /api/media
-- The site's public address, e.g. https://example.com: the login's redirect_uri is built from it,
-- never from the request's Host header (which the visitor, or anyone, chooses).
local BASE_URL = os.getenv("IG_BASE_URL")

local SESSION_TTL, STATE_TTL, CACHE_TTL = 3600, 600, 60

local function esc(s)
  return (tostring(s or ""):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local function page(status, title, body)
  ngx.status = status
  ngx.header["Content-Type"] = "text/html; charset=utf-8"
  ngx.say(([[<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>
body{font-family:system-ui,sans-serif;margin:40px auto;max-width:900px;color:#222}
.button{display:inline-block;background:#1877f2;color:#fff;padding:12px 20px;border-radius:8px;text-decoration:none}
.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:8px}
.grid figure{margin:0;background:#eee;border-radius:6px;overflow:hidden}
.grid img{width:100%%;height:180px;object-fit:cover;display:block;background:#cfd8dc}
.grid figcaption{font-size:12px;padding:6px}
.profile{display:flex;gap:16px;align-items:center;margin-bottom:24px}
</style></head><body>%s</body></html>]]):format(esc(title), body))
  return ngx.exit(status)
end

local function json_reply(status, value, headers)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  ngx.say(json.encode(value))
  return ngx.exit(status)
end

local function redirect_uri()
  if not BASE_URL or not BASE_URL:match("^https?://[^/?#]+$") then
    error("set IG_BASE_URL to the site's public address, such as https://example.com (no trailing slash)")
  end
  return BASE_URL .. "/auth/callback"
end

local function facebook()
  return instagram.oauth.facebook{ app_id = APP_ID, app_secret = APP_SECRET, redirect_uri = redirect_uri(),
    graph_url = GRAPH_URL, dialog_url = DIALOG_URL }
end

local function cookie(name, value, max_age)
  return ("%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d"):format(name, value, max_age)
end

-- ---- (b) Log in with Facebook -------------------------------------------------------------

function _M.home()
  return page(200, "Instagram example", [[<h1>Instagram profile viewer</h1>
<p>Log in with the Facebook account that manages your Instagram professional account.</p>
<a class="button" id="login" href="/login">Log in with Facebook</a>]])
end

function _M.login()
  local url, state = facebook():login_url{
    scope = { "instagram_basic", "pages_show_list", "pages_read_engagement" },
    display = "page", extras = { setup = { channel = "IG_API_ONBOARDING" } },
  }
  -- The state travels in an HttpOnly cookie and is checked on return (constant-time).
  ngx.header["Set-Cookie"] = cookie("ig_state", state, STATE_TTL)
  return ngx.redirect(url, 302)
end

function _M.callback()
  local fb = facebook()
  local state = ngx.var.cookie_ig_state
  if not state then return page(400, "Login", "<p>Your login expired. <a href='/'>Start again</a>.</p>") end
  local token, err = fb:handle_redirect(ngx.var.request_uri, state)
  if not token then
    if err.reason == "cancelled" then
      return page(200, "Login cancelled", "<h1>Login cancelled</h1><p>No problem. <a href='/'>Try again</a>.</p>")
    end
    ngx.log(ngx.WARN, "login failed: ", tostring(err)) -- errors never carry tokens or secrets
    return page(400, "Login failed", "<h1>Login failed</h1><p>" .. esc(err.message) .. "</p>")
  end
  local long = fb:exchange_long_lived(token) or token
  local pages, perr = fb:pages(long)
  if not pages then return page(502, "Login failed", "<p>" .. esc(perr.message) .. "</p>") end
  local ig_id
  for _, p in ipairs(pages) do
    if p.instagram_business_account then ig_id = p.instagram_business_account.id break end
  end
  if not ig_id then
    return page(200, "No Instagram account", "<p>None of your Pages has an Instagram professional account.</p>")
  end
  local sid = core.random_token(16)
  ngx.shared.ig_sessions:set(sid, json.encode{ token = long:to_table(), ig_user_id = ig_id }, SESSION_TTL)
  ngx.header["Set-Cookie"] = { cookie("ig_sid", sid, SESSION_TTL), cookie("ig_state", "", 0) }
  return ngx.redirect("/profile", 302)
end

function _M.profile()
  local sid = ngx.var.cookie_ig_sid
  local raw = sid and ngx.shared.ig_sessions:get(sid)
  if not raw then return ngx.redirect("/", 302) end
  local s = json.decode(raw)
  local client = instagram.new{ access_token = instagram.token.from_table(s.token), graph_url = GRAPH_URL }
  local user = client:ig_user(s.ig_user_id)
  local profile, err = user:fetch("username,name,biography,followers_count,media_count,profile_picture_url")
  if not profile then return page(502, "Profile", "<p>" .. esc(err.message) .. "</p>") end
  local tiles = {}
  for m in user:media{ fields = "id,caption,media_type,media_url,thumbnail_url,permalink", max_items = 12 }:items() do
    tiles[#tiles + 1] = ('<figure class="media" data-id="%s"><a href="%s"><img alt="%s" src="%s"></a>'
      .. '<figcaption>%s</figcaption></figure>'):format(esc(m.id), esc(m.permalink), esc(m.media_type),
      esc(m.thumbnail_url or m.media_url), esc(m.caption))
  end
  return page(200, "@" .. profile.username, ([[<div class="profile"><img width="64" height="64" alt="" src="%s">
<div><h1 id="username">@%s</h1><p>%s · <b>%d</b> followers · <b>%d</b> posts</p></div></div>
<div class="grid" id="media">%s</div>]]):format(esc(profile.profile_picture_url), esc(profile.username),
    esc(profile.biography), profile.followers_count or 0, profile.media_count or 0, table.concat(tiles)))
end

-- ---- (c) JSON media proxy with a shared-dict cache -----------------------------------------

function _M.media_json()
  local ig, after = ngx.var.arg_ig, ngx.var.arg_after
  if not ig or not ig:match("^%d+$") then return json_reply(400, { error = "ig must be an IG user id" }) end
  if after and not after:match("^[%w=_%-]+$") then return json_reply(400, { error = "bad cursor" }) end
  local key = ig .. ":" .. (after or "")
  local cache = ngx.shared.ig_media_cache
  local hit = cache:get(key)
  if hit then
    ngx.header["X-Cache"] = "HIT"
    ngx.header["Content-Type"] = "application/json"
    return ngx.say(hit)
  end
  local client = instagram.new{ access_token = SERVER_TOKEN, graph_url = GRAPH_URL, app_secret = APP_SECRET }
  local res, err = client:get("/" .. ig .. "/media", { fields = "id,caption,media_type,timestamp", limit = 10,
    after = after })
  if not res then return json_reply(502, { error = err.message, code = err.code }) end
  local paging = res.paging or {}
  local body = json.encode{ data = res.data, next = paging.next and paging.cursors and paging.cursors.after or nil }
  cache:set(key, body, CACHE_TTL)
  ngx.header["X-Cache"] = "MISS"
  ngx.header["Content-Type"] = "application/json"
  return ngx.say(body)
end

-- ---- (a) webhook receiver ------------------------------------------------------------------

function _M.webhook()
  local method = ngx.req.get_method()
  if method == "GET" then
    local challenge, err = instagram.webhook.challenge(ngx.req.get_uri_args(), VERIFY_TOKEN)
    if not challenge then -- plain text: an error body is never read as a page
      ngx.status = 403
      ngx.header["Content-Type"] = "text/plain"
      ngx.say(err.message)
      return ngx.exit(403)
    end
    ngx.header["Content-Type"] = "text/plain"
    return ngx.print(challenge)
  end
  if method ~= "POST" then return ngx.exit(405) end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then return json_reply(413, { error = "body too large or missing" }) end
  -- A header sent twice comes as a table: handle() refuses it. Only X-Hub-Signature-256 is
  -- accepted (require_sha256 defaults to true), as Meta signs every delivery with it.
  local headers = ngx.req.get_headers()
  local events, err = instagram.webhook.handle{ app_secret = APP_SECRET, body = body,
    signature = headers["x-hub-signature-256"], signature_sha1 = headers["x-hub-signature"] }
  if not events then
    local malformed = err.reason == "bad_json" or err.reason == "bad_payload"
    local status = (err.reason == "too_large" and 413) or (malformed and 400) or 403
    return json_reply(status, { error = err.reason, message = err.message })
  end
  -- Meta keeps no copy of notifications: store what you need, then answer quickly.
  local store = ngx.shared.ig_webhook_events
  for _, e in ipairs(events) do
    local n = store:incr("count", 1, 0)
    store:set("event:" .. n, json.encode{ field = e.field, account_id = e.account_id, comment_id = e.comment_id,
      media_id = e.media_id, text = e.text, time = e.time })
  end
  ngx.header["Content-Type"] = "text/plain"
  return ngx.print("EVENT_RECEIVED")
end

--- GET /webhook/events: what the receiver stored (for the demo and the specs).
function _M.webhook_events()
  local store = ngx.shared.ig_webhook_events
  local out = {}
  for i = 1, store:get("count") or 0 do out[#out + 1] = json.decode(store:get("event:" .. i) or "null") end
  return json_reply(200, json.array(out))
end

return _M
