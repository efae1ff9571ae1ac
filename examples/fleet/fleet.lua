-- The handlers of examples/fleet/nginx.conf: every worker of every instance shares, through one
-- Redis (instagram.store.redis), what the API told any of them:
--   * the block: when the API says the app is rate limited, every worker answers 429 at once,
--     without calling the API, until access returns (instagram.new{ store = ... });
--   * the token: one token in Redis, refreshed once for the fleet when it nears expiry
--     (token_key + auto_refresh; the others go on with the still-valid one);
--   * webhook deliveries: Meta delivers at least once, to any instance; each event is handled once
--     (webhook.handle{ dedupe = store }), and forgotten again when handling it failed.
-- A Redis that is down or slow never fails a request: each worker goes on with its own state (and
-- logs one warning) until Redis answers again.
local instagram = require "instagram"
local store_m = require "instagram.store"
local json = require "instagram.json"

local _M = {}
local client, store

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

function _M.init()
  store = store_m.redis{ host = env("REDIS_HOST", "127.0.0.1"), port = tonumber(env("REDIS_PORT", "6379")),
    password = env("REDIS_PASSWORD"), prefix = "fleet:", timeout = 0.2 }
  local graph = env("IG_GRAPH_URL")
  local token = instagram.token.new{ access_token = assert(env("IG_TOKEN"), "IG_TOKEN is not set"),
    kind = "instagram", long_lived = true, issued_at = tonumber(env("IG_TOKEN_ISSUED_AT")),
    expires_at = tonumber(env("IG_TOKEN_EXPIRES_AT")) }
  local login = instagram.oauth.instagram{ app_id = env("IG_APP_ID"), app_secret = env("IG_APP_SECRET"),
    graph_url = graph }
  client = instagram.new{
    access_token = token, app_secret = env("IG_APP_SECRET"), graph_url = graph or "https://graph.instagram.com",
    store = store, token_key = "token", auto_refresh = login,
    throttle = { threshold = 80, max_delay = 2 }, retries = 2,
  }
end

local function reply(status, t)
  ngx.status = status
  ngx.say(json.encode(t))
  return ngx.exit(status)
end

-- GET /media: the latest media; 429 (with Retry-After) while the app is blocked.
function _M.media()
  local page, err = client:get("/me/media", { fields = "id,caption", limit = 10 })
  if not page then
    if err.retry_after then ngx.header["Retry-After"] = math.ceil(err.retry_after) end
    return reply((err.kind == "blocked" or err.code == 4) and 429 or 502,
      { error = err.kind, code = err.code, worker = ngx.worker.pid(), message = tostring(err) })
  end
  return reply(200, { count = #page.data, worker = ngx.worker.pid() })
end

-- /webhook: the handshake (GET), and deliveries (POST): each comment gets one reply, fleet-wide.
function _M.webhook()
  if ngx.req.get_method() == "GET" then
    local challenge = instagram.webhook.challenge(ngx.req.get_uri_args(), env("IG_VERIFY_TOKEN"))
    if not challenge then return ngx.exit(403) end
    ngx.header.content_type = "text/plain"
    ngx.print(challenge)
    return ngx.exit(200)
  end
  ngx.req.read_body()
  local events, err = instagram.webhook.handle{ app_secret = env("IG_APP_SECRET"), body = ngx.req.get_body_data() or "",
    signature = ngx.var.http_x_hub_signature_256, dedupe = store }
  if not events then
    return reply(err.reason == "too_large" and 413 or (err.reason or ""):find("json") and 400 or 403,
      { error = err.reason })
  end
  local failed = {}
  for _, ev in ipairs(events) do
    if ev.field == "comments" and ev.comment_id then
      local ok, rerr = client:post("/" .. ev.comment_id .. "/replies", { message = "Thanks for the comment!" })
      if not ok then
        ngx.log(ngx.WARN, "reply to comment ", ev.comment_id, " failed: ", tostring(rerr))
        failed[#failed + 1] = ev
      end
    end
  end
  if #failed > 0 then
    -- Meta's retry is then handled (events of handle{} are kept under the app's name)
    instagram.webhook.forget(failed, store, instagram.webhook.app_name(env("IG_APP_SECRET")))
    return reply(500, { handled = #events - #failed, failed = #failed })
  end
  return reply(200, { handled = #events })
end

return _M
