--- The emulator's login side: the Facebook Login dialog and token endpoints (www.facebook.com,
-- graph.facebook.com/oauth/access_token, /debug_token) and Instagram Login's (api.instagram.com
-- /oauth/authorize and /oauth/access_token, graph.instagram.com /access_token and
-- /refresh_access_token). Dialogs are real HTML pages that redirect back with a code, a token
-- fragment or the documented error parameters.
local data = require "emulator.data"
local json = require "instagram.json"

local ngx = ngx
local format, concat, type, pairs, ipairs, tostring = string.format, table.concat, type, pairs, ipairs, tostring

local _M = {}

local FB_CODE_TTL, IG_CODE_TTL = 600, 3600
local SHORT_TTL, LONG_TTL, IG_LONG_TTL = 5400, 5183944, 5184000

local function random_hex(n)
  local out = {}
  for i = 1, n do out[i] = format("%02x", math.random(0, 255)) end
  return concat(out)
end

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local function query(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = ngx.escape_uri(k) .. "=" .. ngx.escape_uri(tostring(t[k])) end
  return concat(parts, "&")
end

local function redirect(url)
  ngx.header["Cache-Control"] = "no-store"
  return ngx.redirect(url, 302)
end

local function mint(ctx, kind, id, scopes, ttl, long_lived)
  local token = (kind == "ig_user" and "EMU-IG-" or "EMU-FB-") .. random_hex(16)
  ctx.state.tokens[token] = { kind = kind, id = id, scopes = scopes, issued_at = ctx.now(),
    expires_at = ttl and (ctx.now() + ttl) or nil, long_lived = long_lived }
  return token
end

local function split_scopes(s)
  local out = {}
  for p in tostring(s or ""):gmatch("[^,%s]+") do out[#out + 1] = p end
  return out
end

-- ---- dialogs -------------------------------------------------------------------------------

local PAGE = [[<!doctype html>
<html><head><meta charset="utf-8"><title>%s</title>
<style>
body{font-family:system-ui,sans-serif;background:#f0f2f5;display:flex;justify-content:center;padding-top:60px}
.card{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.12);padding:28px 32px;width:380px}
h1{font-size:20px;margin:0 0 6px} p{color:#555} ul{padding-left:20px;color:#333}
a.button{display:block;text-align:center;padding:11px;border-radius:8px;margin-top:12px;text-decoration:none;font-weight:600}
#continue{background:#1877f2;color:#fff} #cancel{background:#e4e6eb;color:#050505}
small{color:#888}
</style></head><body><div class="card">
<h1>%s</h1><p>%s wants to use your account <b>%s</b> and asks for:</p><ul>%s</ul>
<a class="button" id="continue" href="%s">Continue as %s</a>
<a class="button" id="cancel" href="%s">Cancel</a>
<p><small>instagram-graph local emulator: no real account is involved.</small></p>
</div></body></html>]]

local function dialog(ctx, args, title, account, decide_path)
  local redirect_uri = args.redirect_uri
  if args.client_id ~= data.APP_ID then
    return ctx.html(400, "<h1>Invalid App ID</h1><p>The client_id is not a known app.</p>")
  end
  if type(redirect_uri) ~= "string" or not redirect_uri:match("^https?://") then
    return ctx.html(400, "<h1>Invalid redirect_uri</h1><p>redirect_uri must be an absolute http(s) URL.</p>")
  end
  local items = {}
  for _, s in ipairs(split_scopes(args.scope)) do items[#items + 1] = "<li>" .. esc(s) .. "</li>" end
  local pass = {}
  for k, v in pairs(args) do if type(v) == "string" then pass[k] = v end end
  pass.decision = "allow"
  local allow = decide_path .. "?" .. query(pass)
  pass.decision = "deny"
  local deny = decide_path .. "?" .. query(pass)
  return ctx.html(200, format(PAGE, esc(title), esc(title), "Emulator App", esc(account),
    concat(items), esc(allow), esc(account), esc(deny)))
end

local function with_params(url, sep, t)
  return url .. (url:find("?", 1, true) and sep == "?" and "&" or sep) .. query(t)
end

local function fb_decide(ctx, args)
  local redirect_uri = args.redirect_uri
  if args.decision ~= "allow" then
    return redirect(with_params(redirect_uri, "?", { error = "access_denied", error_code = 200,
      error_description = "Permissions error", error_reason = "user_denied", state = args.state }))
  end
  local scopes = split_scopes(args.scope)
  if (args.response_type or "code") == "token" then
    local short = mint(ctx, "user", data.USER_ID, scopes, 4815)
    local long = mint(ctx, "user", data.USER_ID, scopes, LONG_TTL, true)
    return redirect(redirect_uri .. "#" .. query{ access_token = short, data_access_expiration_time = ctx.now() + 90 * 86400,
      expires_in = 4815, long_lived_token = long, state = args.state })
  end
  local code = "AQ" .. random_hex(24)
  ctx.state.codes[code] = { kind = "fb", redirect_uri = redirect_uri, scopes = scopes, issued = ctx.now() }
  return redirect(with_params(redirect_uri, "?", { code = code, state = args.state }))
end

local function ig_decide(ctx, args)
  local redirect_uri = args.redirect_uri
  if args.decision ~= "allow" then
    return redirect(with_params(redirect_uri, "?", { error = "access_denied", error_reason = "user_denied",
      error_description = "The user denied your request", state = args.state }))
  end
  local code = "AQB" .. random_hex(24)
  ctx.state.codes[code] = { kind = "ig", redirect_uri = redirect_uri, scopes = split_scopes(args.scope), issued = ctx.now() }
  -- As documented: "#_" is appended to the redirect and is not part of the code.
  return redirect(with_params(redirect_uri, "?", { code = code, state = args.state }) .. "#_")
end

-- ---- token endpoints -----------------------------------------------------------------------

local function ig_fail(ctx, message)
  return ctx.send(400, { error_type = "OAuthException", code = 400, error_message = message })
end

local function take_code(ctx, args, kind, ttl)
  local c = ctx.state.codes[args.code or ""]
  if not c or c.kind ~= kind then return nil, "unknown" end
  if c.used then return nil, "used" end
  if ctx.now() - c.issued > ttl then return nil, "expired" end
  if c.redirect_uri ~= args.redirect_uri then return nil, "redirect" end
  c.used = true
  return c
end

local function fb_token(ctx, args)
  if args.client_id ~= data.APP_ID then
    return ctx.fail(101, "Error validating application. Invalid application ID.")
  end
  if args.client_secret ~= data.APP_SECRET then return ctx.fail(1, "Error validating client secret.") end
  if args.grant_type == "fb_exchange_token" then
    local old = ctx.state.tokens[args.fb_exchange_token or ""]
    if not old or old.kind ~= "user" then return ctx.fail(190, "Invalid OAuth access token - Cannot parse access token") end
    if old.expires_at and ctx.now() > old.expires_at then
      return ctx.fail(190, "Error validating access token: Session has expired.", "OAuthException", { error_subcode = 463 })
    end
    local t = mint(ctx, "user", old.id, old.scopes, LONG_TTL, true)
    return ctx.send(200, { access_token = t, token_type = "bearer", expires_in = LONG_TTL })
  end
  if not args.code then return ctx.fail(100, "Missing code parameter.") end
  local c, why = take_code(ctx, args, "fb", FB_CODE_TTL)
  if not c then
    if why == "used" then
      return ctx.fail(100, "This authorization code has been used.", "OAuthException", { error_subcode = 36009 })
    end
    if why == "expired" then
      return ctx.fail(100, "This authorization code has expired.", "OAuthException", { error_subcode = 36007 })
    end
    if why == "redirect" then
      return ctx.fail(100, "Error validating verification code. Please make sure your redirect_uri is identical to the one "
        .. "you used in the OAuth dialog request", "OAuthException", { error_subcode = 36008 })
    end
    return ctx.fail(100, "Invalid verification code format.", "OAuthException")
  end
  local t = mint(ctx, "user", data.USER_ID, c.scopes, SHORT_TTL)
  return ctx.send(200, { access_token = t, token_type = "bearer", expires_in = SHORT_TTL })
end

local function ig_code_token(ctx, args)
  if args.client_id ~= data.APP_ID then return ig_fail(ctx, "Invalid platform app") end
  if args.client_secret ~= data.APP_SECRET then return ig_fail(ctx, "Error validating client secret") end
  if args.grant_type ~= "authorization_code" then return ig_fail(ctx, "Invalid grant_type") end
  local c, why = take_code(ctx, args, "ig", IG_CODE_TTL)
  if not c then
    if why == "used" then return ig_fail(ctx, "This authorization code has been used") end
    if why == "expired" then return ig_fail(ctx, "This authorization code has expired") end
    if why == "redirect" then
      return ig_fail(ctx, "Error validating verification code. Please make sure your redirect_uri is identical")
    end
    return ig_fail(ctx, "Invalid authorization code")
  end
  local t = mint(ctx, "ig_user", data.IG_USER_ID, c.scopes, 3600)
  return ctx.send(200, { data = { { access_token = t, user_id = data.IG_USER_ID, permissions = concat(c.scopes, ",") } } })
end

--- The Instagram token in args.access_token, or nil and the failure already answered.
local function live_ig_token(ctx, args)
  local old = ctx.state.tokens[args.access_token or ""]
  if not old or old.kind ~= "ig_user" then
    return nil, ig_fail(ctx, "Invalid OAuth access token - Cannot parse access token")
  end
  if old.expires_at and ctx.now() > old.expires_at then
    return nil, ig_fail(ctx, "Error validating access token: Session has expired")
  end
  return old
end

local function ig_exchange(ctx, args)
  if args.grant_type ~= "ig_exchange_token" then return ig_fail(ctx, "Invalid grant_type: expected ig_exchange_token") end
  if args.client_secret ~= data.APP_SECRET then return ig_fail(ctx, "Error validating client secret") end
  local old, answered = live_ig_token(ctx, args)
  if not old then return answered end
  local t = mint(ctx, "ig_user", old.id, old.scopes, IG_LONG_TTL, true)
  return ctx.send(200, { access_token = t, token_type = "bearer", expires_in = IG_LONG_TTL })
end

local function ig_refresh(ctx, args)
  if args.grant_type ~= "ig_refresh_token" then return ig_fail(ctx, "Invalid grant_type: expected ig_refresh_token") end
  local old, answered = live_ig_token(ctx, args)
  if not old then return answered end
  if not old.long_lived then return ig_fail(ctx, "Only long-lived tokens can be refreshed") end
  if ctx.now() - old.issued_at < 86400 then
    return ig_fail(ctx, "The access token can only be refreshed when it is at least 24 hours old")
  end
  local t = mint(ctx, "ig_user", old.id, old.scopes, IG_LONG_TTL, true)
  return ctx.send(200, { access_token = t, token_type = "bearer", expires_in = IG_LONG_TTL - 56 })
end

local function debug_token(ctx, args, app_token)
  if app_token ~= data.APP_ID .. "|" .. data.APP_SECRET then
    return ctx.fail(190, "Invalid OAuth access token signature.")
  end
  local t = ctx.state.tokens[args.input_token or ""]
  if not t then
    return ctx.send(200, { data = { is_valid = false, scopes = json.array(),
      error = { code = 190, message = "Invalid OAuth access token." } } })
  end
  local valid = not t.expires_at or ctx.now() <= t.expires_at
  local granular = {}
  for _, s in ipairs(t.scopes) do granular[#granular + 1] = { scope = s } end
  return ctx.send(200, { data = {
    app_id = data.APP_ID, type = t.kind == "page" and "PAGE" or "USER", application = "Emulator App",
    data_access_expires_at = (t.issued_at or ctx.now()) + 90 * 86400, expires_at = t.expires_at or 0,
    issued_at = t.issued_at, is_valid = valid, scopes = t.scopes, granular_scopes = granular,
    user_id = t.kind == "user" and t.id or nil, profile_id = t.kind == "page" and t.id or nil,
  } })
end

--- route(ctx, method, path, args, token) -> true when it answered, nil when the path is not a login one.
function _M.route(ctx, method, path, args, token)
  local rest = path:match("^/v%d+%.%d+(/.*)$") or path
  if rest == "/dialog/oauth" and method == "GET" then
    return dialog(ctx, args, "Log in with Facebook", "Emu Lator", ngx.var.uri .. "/decide") or true
  end
  if rest == "/dialog/oauth/decide" then return fb_decide(ctx, args) or true end
  if path == "/oauth/authorize" and method == "GET" then
    return dialog(ctx, args, "Log in with Instagram", "@metricsaurus", "/oauth/authorize/decide") or true
  end
  if path == "/oauth/authorize/decide" then return ig_decide(ctx, args) or true end
  if path == "/oauth/access_token" and method == "POST" then return ig_code_token(ctx, args) or true end
  if rest == "/oauth/access_token" and method == "GET" then return fb_token(ctx, args) or true end
  if path == "/access_token" then return ig_exchange(ctx, args) or true end
  if path == "/refresh_access_token" then return ig_refresh(ctx, args) or true end
  if rest == "/debug_token" then return debug_token(ctx, args, token) or true end
  return nil
end

return _M
