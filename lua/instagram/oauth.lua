--- Logins and tokens: Facebook Login (for Business) and Instagram (Business) Login.
--
--     local fb = instagram.oauth.facebook{ app_id = ID, app_secret = SECRET, redirect_uri = URI }
--     local url, state = fb:login_url{ scope = { "instagram_basic", "pages_show_list" } }
--     local token, err = fb:handle_redirect(redirect_url_with_code, state)
--     local ig = instagram.oauth.instagram{ app_id = ID, app_secret = SECRET, redirect_uri = URI }
--     ig:authorize_url{...}; ig:exchange_code(code); ig:exchange_long_lived(t); ig:refresh(t)
--
-- Token endpoints answer with `instagram.token` objects (@{instagram.token.Token}): `tostring()`
-- never shows the token. The login objects (@{FacebookLogin}, @{InstagramLogin}) keep the app
-- secret out of reach of `tostring` and serialisers; the token endpoints take it as a parameter:
-- run them server-side only.
--
-- Errors of the flow itself have `kind = "oauth"` and a `reason`: `"state_mismatch"` (the
-- redirect's state is not the one sent: possible CSRF), `"cancelled"` (the user declined;
-- `error`, `error_reason`, `error_code` and the description kept), `"ambiguous_redirect"` (the
-- query and the fragment disagree), `"no_code"` (neither a code nor a token came back; an empty
-- code counts as none), `"bad_token"` (a token in the redirect that cannot be sent),
-- `"too_early"` (@{InstagramLogin:refresh} of a token that cannot be refreshed yet), `"expired"`
-- (its refresh of an expired token object), or, for any
-- other failure the redirect reports, its `error` value (such as `"server_error"`, or `"error"`
-- when it has none). The token endpoints' own errors are Graph errors (`kind = "graph"`;
-- Instagram's flat `{ error_type, code, error_message }` shape included).
-- @module instagram.oauth
local core = require "instagram.core"
local client_m = require "instagram.client"
local params_m = require "instagram.params"
local errors = require "instagram.error"
local token_m = require "instagram.token"
local json = require "instagram.json"

local type, pairs, ipairs, tostring, tonumber, setmetatable, error, select = type, pairs, ipairs, tostring,
  tonumber, setmetatable, error, select
local concat, sort, match, find = table.concat, table.sort, string.match, string.find

local _M = {}

-- App secrets live here, keyed weakly by login object, never on the object itself (as the
-- client keeps its token): printing or serialising a login object cannot leak them.
local secrets = setmetatable({}, { __mode = "k" })

-- The redirect_uri each login URL was made with, by state, when it is not the object's own
-- (the code exchange must send the same one); the newest MAX_REMEMBERED per login object.
local remembered = setmetatable({}, { __mode = "k" })
local MAX_REMEMBERED = 64

-- ---- permissions and Page tasks (as the Graph API reference tables them) ----------------------

--- Which Page tasks can grant each documented permission (permission -> list of tasks).
-- `MANAGE`, `CREATE_CONTENT`, `MODERATE`, `ADVERTISE`, `ANALYZE` are the tasks a Page role has.
-- @table TASK_PERMISSIONS
-- @field instagram_basic MANAGE, CREATE_CONTENT, MODERATE, ADVERTISE, ANALYZE
-- @field instagram_content_publish MANAGE, CREATE_CONTENT
-- @field instagram_manage_comments MANAGE, CREATE_CONTENT, MODERATE
-- @field instagram_manage_insights MANAGE, CREATE_CONTENT, MODERATE, ADVERTISE, ANALYZE
_M.TASK_PERMISSIONS = {
  instagram_basic = { "MANAGE", "CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE" },
  instagram_content_publish = { "MANAGE", "CREATE_CONTENT" },
  instagram_manage_comments = { "MANAGE", "CREATE_CONTENT", "MODERATE" },
  instagram_manage_insights = { "MANAGE", "CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE" },
}

local function task_set(tasks)
  local set = {}
  for _, t in ipairs(tasks or {}) do set[t] = true end
  return set
end

--- The documented permissions a set of Page tasks can grant (see @{TASK_PERMISSIONS}).
-- @tparam {string,...} tasks a Page's `tasks`, such as `{ "MODERATE", "ANALYZE" }`
-- @treturn {string,...} the permissions, sorted
-- @raise when `tasks` is not a table
-- @usage
-- instagram.oauth.grantable_permissions{ "MODERATE" }
-- --> { "instagram_basic", "instagram_manage_comments", "instagram_manage_insights" }
function _M.grantable_permissions(tasks)
  if type(tasks) ~= "table" then error("grantable_permissions: tasks must be a list such as { 'MODERATE' }", 2) end
  local have, out = task_set(tasks), {}
  for perm, needed in pairs(_M.TASK_PERMISSIONS) do
    for _, t in ipairs(needed) do
      if have[t] then out[#out + 1] = perm break end
    end
  end
  sort(out)
  return out
end

--- The permissions in `wanted` that a set of Page tasks cannot grant.
-- Permissions that @{TASK_PERMISSIONS} does not cover are not judged (never listed).
-- @tparam {string,...} tasks a Page's `tasks`
-- @tparam {string,...} wanted the permissions the app needs
-- @treturn {string,...} those of `wanted` the tasks cannot grant, in `wanted`'s order (empty when none)
-- @raise when `tasks` or `wanted` is not a table
-- @usage
-- local missing = instagram.oauth.missing_permissions(page.tasks, { "instagram_basic", "instagram_content_publish" })
-- if #missing > 0 then print("ask for a role with: " .. table.concat(missing, ", ")) end
function _M.missing_permissions(tasks, wanted)
  if type(wanted) ~= "table" then error("missing_permissions: wanted must be a list of permissions", 2) end
  local grantable = task_set(_M.grantable_permissions(tasks))
  local out = {}
  for _, p in ipairs(wanted) do
    if _M.TASK_PERMISSIONS[p] and not grantable[p] then out[#out + 1] = p end
  end
  return out
end

-- ---- shared helpers ------------------------------------------------------------------------

local function oauth_error(reason, message, extra)
  local e = { kind = "oauth", reason = reason, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return errors.new(e)
end

-- Text a redirect carried, fit for an error and a log line: control characters (CR, LF, NUL,
-- ESC, ...) become spaces, and it is cut to errors.MAX_FIELD bytes.
local function clean(v)
  if type(v) ~= "string" then return nil end
  v = errors.redact_named(v:gsub("[%c\127]", " ")) -- a code= or access_token= it quotes is not shown
  if #v > errors.MAX_FIELD then v = v:sub(1, errors.MAX_FIELD) .. "..." end
  return v
end

-- Only strings go in a secrets list for scrubbing (a list without holes).
local function scrub_list(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

-- A call whose parameters carry secrets the client does not know as its own (a code being
-- exchanged, a token being inspected, the app secret): they are scrubbed from any error.
-- An answer's strings (a server's words), scrubbed of the call's secrets in place; `access_token`
-- members, when they are what the call hands out, only of token_scrub (see call).
local function scrub_answer(v, scrub, depth, token_scrub)
  if type(v) ~= "table" or depth > json.MAX_DEPTH then return end
  local renamed
  for k, x in pairs(v) do
    local list = k == "access_token" and token_scrub or scrub
    if type(x) == "string" then
      local y = errors.scrub(x, list)
      if y ~= x then v[k] = y end
    elseif type(x) == "table" then
      scrub_answer(x, scrub, depth + 1, token_scrub)
    end
    if type(k) == "string" and errors.scrub(k, scrub) ~= k then renamed = renamed or {}; renamed[#renamed + 1] = k end
  end
  for i = 1, renamed and #renamed or 0 do -- (keys moved once the walk is over)
    local k = renamed[i]
    v[errors.scrub(k, scrub)], v[k] = v[k], nil
  end
end

-- answer_scrub: the secrets to scrub an answer of, when not all of scrub (an app token's app id
-- part is no secret, and an answer names the app). token_scrub: for an answer whose
-- `access_token` members are what the call is for (an exchange's new token, the Pages' tokens),
-- what those are scrubbed of: the app secret alone (a refreshed token may be the one sent); nil
-- for an answer that has no token of its own to give (those are scrubbed as the rest).
local function call(c, method, path, params, opts, scrub, answer_scrub, token_scrub)
  opts = opts or {}
  opts.scrub = scrub
  local res, err = c:request(method, path, params, opts)
  if not res then return nil, errors.scrub_error(err, scrub) end
  scrub_answer(res, answer_scrub or scrub, 0, token_scrub)
  return res
end

--- Splits a redirect URL (or a bare query or fragment) into its parameters.
-- The query wins: the fragment only adds parameters the query lacks (the token of
-- `response_type = "token"`). A parameter in both with different values is listed in the second
-- result (`handle_redirect` refuses such a redirect). Instagram appends `#_` to its redirect: an
-- empty `_` fragment is dropped, and a `#_` at the end of `code` removed.
-- @tparam string url the URL the browser came back to (or its query string)
-- @treturn table the parameters, by name (`code`, `state`, `error`, `access_token`, ...)
-- @treturn ?{string,...} the names given different values in the query and the fragment, sorted; `nil` when
-- none
-- @raise when `url` is not a string
-- @usage
-- local p = instagram.oauth.parse_redirect("https://app.example/cb?code=AQB...&state=3f2a#_")
-- print(p.code, p.state)
function _M.parse_redirect(url)
  if type(url) ~= "string" then error("parse_redirect: expects the redirect URL as a string", 2) end
  local query = match(url, "^[^?#]*%?([^#]*)") or (not find(url, "[?#/]") and url) or ""
  local fragment = match(url, "#(.*)$") or ""
  local out = params_m.decode(query)
  local conflicts
  if fragment ~= "" and fragment ~= "_" then
    for k, v in pairs(params_m.decode(fragment)) do
      if out[k] == nil then out[k] = v
      elseif out[k] ~= v and k ~= "_" then
        conflicts = conflicts or {}
        conflicts[#conflicts + 1] = k
      end
    end
  end
  out._ = nil
  if out.code then out.code = out.code:gsub("#_$", "") end
  if conflicts then sort(conflicts) end
  return out, conflicts
end

--- Checks the state a redirect came back with (a constant-time compare in the C core).
-- @tparam string expected the state the login URL was made with
-- @tparam ?string got the redirect's `state`
-- @treturn[1] boolean `true` when they match
-- @treturn[2] nil when they do not (or `got` is not a string)
-- @treturn[2] Error err `kind = "oauth"`, `reason = "state_mismatch"`
-- @raise when `expected` is not a non-empty string
-- @usage local ok, err = instagram.oauth.check_state(session.state, params.state)
function _M.check_state(expected, got)
  if type(expected) ~= "string" or expected == "" then
    error("check_state: the expected state (the one login_url returned) is required", 2)
  end
  if type(got) ~= "string" or not core.constant_time_equal(expected, got) then
    return nil, oauth_error("state_mismatch",
      "the state returned with the redirect does not match the one sent: possible CSRF, start the login again")
  end
  return true
end

local function scope_string(scope, default)
  scope = scope or default
  if type(scope) == "table" then
    for i = 1, #scope do
      if type(scope[i]) ~= "string" or scope[i] == "" then
        error(("scope item %d must be a permission name, got %s"):format(i, type(scope[i])), 3)
      end
    end
    return concat(scope, ",")
  end
  if type(scope) ~= "string" then error("scope must be a list or a comma-separated string", 3) end
  return scope
end

local function check_opts(name, opts, known)
  if type(opts) ~= "table" then error(name .. ": options must be a table", 3) end
  for k in pairs(opts) do
    if not known[k] then error(name .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  if type(opts.app_id) ~= "string" and type(opts.app_id) ~= "number" then
    error(name .. ": app_id is required (your app's id, as a string)", 3)
  end
end

local function token_string(t)
  if token_m.is_token(t) then return t.access_token end
  if type(t) == "string" and t ~= "" then return t end
  error("expected an access token (string or instagram.token)", 3)
end

local function need_secret(self, what)
  if not secrets[self] then error(what .. " needs app_secret (server-side only)", 3) end
end

-- The redirect_uri and state of a login URL (the state is random unless given). A
-- redirect_uri other than the object's own is remembered by state for the code exchange.
local function redirect_and_state(self, o, what)
  local redirect_uri = o.redirect_uri or self.redirect_uri
  if type(redirect_uri) ~= "string" or redirect_uri == "" then error(what .. ": redirect_uri is required", 3) end
  local state = o.state
  if state == nil then state = core.random_token(16)
  elseif type(state) ~= "string" or state == "" then
    error(what .. ": state must be a non-empty string (leave it out for a random one)", 3)
  end
  if redirect_uri ~= self.redirect_uri then
    local r = remembered[self]
    if not r then r = { order = {}, by_state = {} } remembered[self] = r end
    if r.by_state[state] == nil then
      r.order[#r.order + 1] = state
      if #r.order > MAX_REMEMBERED then r.by_state[table.remove(r.order, 1)] = nil end
    end
    r.by_state[state] = redirect_uri
  end
  return redirect_uri, state
end

-- The redirect_uri to exchange a code with: the one given, else the one the login URL with
-- this state used (forgotten once taken), else the object's own.
local function exchange_redirect(self, state, given)
  if given ~= nil then
    if type(given) ~= "string" or given == "" then error("handle_redirect: redirect_uri must be a string", 3) end
    return given
  end
  local r = remembered[self]
  local uri = r and r.by_state[state]
  if uri then
    r.by_state[state] = nil
    for i, s in ipairs(r.order) do
      if s == state then table.remove(r.order, i) break end
    end
  end
  return uri
end

local redirect_error

-- The redirect's parameters once its state checks out and it reports no failure; else nil, err.
local function checked_redirect(url, expected_state)
  local p, conflicts = _M.parse_redirect(url)
  local ok, serr = _M.check_state(expected_state, p.state)
  if not ok then return nil, serr end
  if conflicts then
    return nil, oauth_error("ambiguous_redirect", "the redirect's query and fragment disagree about "
      .. clean(concat(conflicts, ", ")) .. ": refusing it (tampered with?); start the login again")
  end
  local rerr = redirect_error(p, url)
  if rerr then return nil, rerr end
  return p
end

-- Every value the redirect URL gives a code or token parameter (a repeated one too: p keeps one).
local function carried_secrets(url)
  local out = {}
  for name, value in tostring(url):gmatch("[?#&]([%w_%%]+)=([^&#]*)") do
    name = core.url_decode(name)
    if name == "code" or name == "access_token" or name == "long_lived_token" then
      local v = core.url_decode(value)
      if #v > 0 then out[#out + 1] = v end
      if v ~= value and #value > 0 then out[#out + 1] = value end
    end
  end
  return out
end

function redirect_error(p, url)
  if p.error or p.error_reason then
    local cancelled = p.error_reason == "user_denied" or p.error == "access_denied"
    local e = oauth_error(cancelled and "cancelled" or (clean(p.error) or "error"),
      clean(p.error_description) or clean(p.error_message) or "the login did not complete",
      { error = clean(p.error), error_reason = clean(p.error_reason), error_code = tonumber(p.error_code) })
    -- a code or token the same redirect carried is not quoted, wherever its text has it
    local carried = carried_secrets(url)
    for _, name in ipairs{ "code", "access_token", "long_lived_token" } do
      local v = p[name]
      if type(v) == "string" and v ~= "" then carried[#carried + 1] = v end
    end
    return errors.scrub_error(e, carried)
  end
end

local COMMON = { app_id = true, app_secret = true, redirect_uri = true, version = true, graph_url = true,
                 ca_file = true, timeout = true, transport = true }

local function make_client(opts, base_url)
  return client_m.new{ graph_url = base_url, version = opts.version, app_secret = opts.app_secret,
    ca_file = opts.ca_file, timeout = opts.timeout, transport = opts.transport,
    retries = 0 } -- codes are single-use: never replay an exchange
end

-- ---- Facebook Login ------------------------------------------------------------------------

local FacebookLogin = {}
FacebookLogin.__index = FacebookLogin
FacebookLogin.__tostring = function(f) return "instagram Facebook Login (app " .. f.app_id .. ")" end

local FB_OPTS = { dialog_url = true }
for k in pairs(COMMON) do FB_OPTS[k] = true end

--- Makes a Facebook Login (for Business) object.
-- Its calls are never retried (a code is single-use).
-- @tparam table opts
-- @tparam string|number opts.app_id the app's id (required)
-- @tparam[opt] string opts.app_secret the app secret: needed to exchange codes and tokens
-- (server-side only); kept off the object
-- @tparam[opt] string opts.redirect_uri the redirect URI registered for the app (needed by the
-- login URL and the code exchange unless given there)
-- @tparam[opt="v24.0"] string opts.version the Graph API version (`instagram.DEFAULT_VERSION`)
-- @tparam[opt] string opts.ca_file a CA file to trust too (as `instagram.new`'s)
-- @tparam[opt=30] number opts.timeout seconds per request
-- @tparam[opt] table opts.transport a transport object (as `instagram.new`'s)
-- @tparam[opt="https://graph.facebook.com"] string opts.graph_url the Graph API host (scheme and host)
-- @tparam[opt="https://www.facebook.com"] string opts.dialog_url the host of the login dialog
-- @treturn FacebookLogin the login object
-- @raise when `opts` is not a table, has an unknown option or no `app_id`, or an option is invalid
-- for `instagram.new` (`graph_url`, `timeout`, `ca_file`, `transport`)
-- @usage
-- local fb = instagram.oauth.facebook{ app_id = "1234567890", app_secret = os.getenv("APP_SECRET"),
--   redirect_uri = "https://app.example/callback" }
function _M.facebook(opts)
  check_opts("oauth.facebook", opts, FB_OPTS)
  local self = setmetatable({
    app_id = tostring(opts.app_id), redirect_uri = opts.redirect_uri,
    version = opts.version or client_m.DEFAULT_VERSION,
    dialog_url = opts.dialog_url or "https://www.facebook.com",
  }, FacebookLogin)
  secrets[self] = opts.app_secret
  self.client = make_client(opts, opts.graph_url or "https://graph.facebook.com")
  return self
end

--- A Facebook Login (for Business) object, from @{facebook}.
-- Fields: `app_id`, `redirect_uri`, `version`, `dialog_url`, `client` (the client its calls use).
-- `tostring(fb)` shows the app id only; the app secret is not on the object.
-- @type FacebookLogin

local LOGIN_URL_OPTS = { scope = true, state = true, redirect_uri = true, response_type = true, display = true,
                         extras = true, config_id = true, auth_type = true }
--- Builds the login dialog URL to send the browser to: `{dialog_url}/{version}/dialog/oauth?...`.
-- Keep the state (in an HttpOnly cookie, or the session) to check the redirect with.
-- @tparam[opt] table o
-- @tparam[opt] string|{string,...} o.scope the permissions asked for, a list or a comma-separated
-- string; default `{ "instagram_basic", "pages_show_list" }`
-- @tparam[opt] string o.state a non-empty state of your own; default 32 random hex digits from OpenSSL
-- @tparam[opt="code"] string o.response_type `"code"`, or `"token"` (the token comes back in the fragment)
-- @tparam[opt] string o.display the dialog's `display` (`"popup"`, ...)
-- @tparam[opt] string|table o.extras Facebook Login for Business `extras` (a table is sent as JSON)
-- @tparam[opt] string o.config_id a Facebook Login for Business configuration id
-- @tparam[opt] string o.auth_type such as `"rerequest"` (ask again for declined permissions)
-- @tparam[opt] string o.redirect_uri another redirect URI for this login; remembered by state for
-- the code exchange
-- @treturn string the URL
-- @treturn string the state
-- @raise when there is no `redirect_uri`, `state` is not a non-empty string, `scope` is neither
-- a list of names nor a string, or `extras` is neither a string nor a table that encodes as JSON
-- @usage
-- local url, state = fb:login_url{ scope = { "instagram_basic", "pages_show_list", "instagram_content_publish" } }
-- -- redirect the browser to url; keep state
function FacebookLogin:login_url(o)
  o = o or {}
  client_m.check_options("login_url", nil, o, LOGIN_URL_OPTS, 2)
  local redirect_uri, state = redirect_and_state(self, o, "login_url")
  local extras = o.extras
  if type(extras) == "table" then
    local text, why = json.encode(extras)
    if not text then error("login_url: extras cannot be sent as JSON: " .. tostring(why), 2) end
    extras = text
  elseif extras ~= nil and type(extras) ~= "string" then
    error("login_url: extras must be a string or a table, got " .. type(extras), 2)
  end
  local p = {
    client_id = self.app_id, redirect_uri = redirect_uri, state = state,
    response_type = o.response_type or "code",
    scope = scope_string(o.scope, { "instagram_basic", "pages_show_list" }),
    display = o.display, extras = extras, config_id = o.config_id, auth_type = o.auth_type,
  }
  return self.dialog_url .. "/" .. self.version .. "/dialog/oauth?" .. params_m.encode(p), state
end

--- Splits a redirect URL into its parameters: @{parse_redirect} as a method.
-- @function FacebookLogin:parse_redirect
-- @tparam string url the URL the browser came back to
-- @treturn table the parameters
-- @treturn ?{string,...} the names the query and the fragment disagree about
-- @raise when `url` is not a string
-- @usage local p = fb:parse_redirect(request_url)
FacebookLogin.parse_redirect = function(_, url) return _M.parse_redirect(url) end

--- Checks a redirect's state: @{check_state} as a method.
-- @function FacebookLogin:check_state
-- @tparam string expected the state the login URL was made with
-- @tparam ?string got the redirect's `state`
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] Error err `reason = "state_mismatch"`
-- @raise when `expected` is not a non-empty string
-- @usage assert(fb:check_state(session.state, p.state))
FacebookLogin.check_state = function(_, expected, got) return _M.check_state(expected, got) end

-- A token endpoint's access_token that cannot be sent (a line break would end up in a header).
local UNSENDABLE = "token response with an access_token that cannot be sent (a space, line break or control "
  .. "byte, or over 4 KiB)"

local function fb_token(res, long_lived)
  if type(res) ~= "table" or type(res.access_token) ~= "string" or res.access_token == "" then
    return nil, errors.new{ kind = "decode", message = "token response without access_token" }
  end
  if not token_m.is_sendable(res.access_token) then return nil, errors.new{ kind = "decode", message = UNSENDABLE } end
  return token_m.new{ access_token = res.access_token, token_type = res.token_type, expires_in = res.expires_in,
    kind = "facebook", long_lived = long_lived }
end

--- Exchanges a login code for a user token: `GET /{version}/oauth/access_token`.
-- @tparam string code the redirect's `code`
-- @tparam[opt] string redirect_uri the redirect URI the login URL used; default the object's
-- @treturn[1] Token a short-lived user token (`kind = "facebook"`, about 1 to 2 hours)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's (a used or expired code is a Graph error), or `kind = "decode"`
-- when the answer has no `access_token`
-- @raise when the object has no `app_secret`, or `code` is not a non-empty string
-- @usage local token, err = fb:exchange_code(params.code)
function FacebookLogin:exchange_code(code, redirect_uri)
  need_secret(self, "exchange_code")
  if type(code) ~= "string" or code == "" then error("exchange_code: code must be a non-empty string", 2) end
  local res, err = call(self.client, "GET", "/oauth/access_token", {
    client_id = self.app_id, client_secret = secrets[self], code = code,
    redirect_uri = redirect_uri or self.redirect_uri,
  }, nil, scrub_list(secrets[self], code), nil, scrub_list(secrets[self]))
  if not res then return nil, err end
  return fb_token(res, false)
end

--- Exchanges a user token for a long-lived one (about 60 days): `GET /oauth/access_token`
-- (`fb_exchange_token`).
-- @tparam string|Token t the short-lived token
-- @treturn[1] Token the long-lived token (`long_lived = true`)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, or `kind = "decode"` when the answer has no `access_token`
-- @raise when the object has no `app_secret`, or `t` is neither a non-empty string nor a token
-- @usage local long, err = fb:exchange_long_lived(token)
function FacebookLogin:exchange_long_lived(t)
  need_secret(self, "exchange_long_lived")
  local token = token_string(t)
  local res, err = call(self.client, "GET", "/oauth/access_token", {
    grant_type = "fb_exchange_token", client_id = self.app_id, client_secret = secrets[self],
    fb_exchange_token = token,
  }, nil, scrub_list(secrets[self], token), nil, scrub_list(secrets[self]))
  if not res then return nil, err end
  return fb_token(res, true)
end

--- Gets a fresh long-lived token: the same as @{FacebookLogin:exchange_long_lived}.
-- This makes a FacebookLogin usable as `instagram.new`'s `auto_refresh`.
-- @function FacebookLogin:refresh
-- @tparam string|Token t a valid user token
-- @treturn[1] Token the long-lived token
-- @treturn[2] nil on failure
-- @treturn[2] Error err
-- @raise as @{FacebookLogin:exchange_long_lived}
-- @usage local client = instagram.new{ access_token = long, auto_refresh = fb }
FacebookLogin.refresh = FacebookLogin.exchange_long_lived

--- Finishes a login from the redirect: checks the state, reports a cancel, exchanges the code.
-- A failed login is reported as an error; with a code (code flow) the code is exchanged, else the
-- token is read from the fragment (`response_type = "token"`, preferring its
-- `long_lived_token`). The code is exchanged with the `redirect_uri` given here, else the one
-- `login_url` used for this state (when this object made it), else the object's own.
-- @tparam string url the URL the browser came back to (or its query string)
-- @tparam string expected_state the state @{FacebookLogin:login_url} returned
-- @tparam[opt] string redirect_uri the redirect URI the login URL used (for apps that make a new
-- login object per request)
-- @treturn[1] Token the user token (short-lived from a code; from the fragment, long-lived when it
-- has `long_lived_token`)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: `kind = "oauth"` with `reason` `"state_mismatch"`, `"ambiguous_redirect"`,
-- `"cancelled"` (the user declined), `"no_code"`, `"bad_token"`, or the redirect's own `error`; or an
-- error of @{FacebookLogin:exchange_code}
-- @raise when `url` is not a string, `expected_state` is not a non-empty string, `redirect_uri` is
-- not a string, or a code must be exchanged and the object has no `app_secret`
-- @usage
-- local token, err = fb:handle_redirect(ngx.var.request_uri, cookie_state)
-- if not token and err.reason == "cancelled" then --[[ show "login cancelled" ]] end
function FacebookLogin:handle_redirect(url, expected_state, redirect_uri)
  local p, err = checked_redirect(url, expected_state)
  if not p then return nil, err end
  redirect_uri = exchange_redirect(self, expected_state, redirect_uri)
  if p.code and p.code ~= "" then return self:exchange_code(p.code, redirect_uri) end
  if p.access_token and p.access_token ~= "" then
    local long = p.long_lived_token
    if long == "" then long = nil end
    if not token_m.is_sendable(long or p.access_token) then
      return nil, oauth_error("bad_token", "the redirect's token cannot be sent (a space, line break or control byte)")
    end
    return token_m.new{ access_token = long or p.access_token, kind = "facebook", long_lived = long ~= nil,
      expires_in = not long and tonumber(p.expires_in) or nil,
      data_access_expiration_time = p.data_access_expiration_time }
  end
  return nil, oauth_error("no_code", "the redirect carries neither a code nor an access token")
end

--- Inspects a token with the app's token: `GET /debug_token?input_token=...`.
-- @tparam string|Token t the token to inspect
-- @treturn[1] table the `data`: `{ is_valid, app_id, user_id, scopes, granular_scopes, expires_at,
-- data_access_expires_at, ... }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, or `kind = "decode"` when the answer is not an object
-- @raise when the object has no `app_secret`, or `t` is neither a non-empty string nor a token
-- @usage
-- local info = assert(fb:debug_token(long))
-- print(info.is_valid, table.concat(info.scopes or {}, ","))
function FacebookLogin:debug_token(t)
  need_secret(self, "debug_token")
  local app_token = self.app_id .. "|" .. secrets[self]
  local app_client = client_m.new{ graph_url = self.client.graph_url, version = self.version,
    access_token = app_token, transport = self.client.transport, retries = 0 }
  local input = token_string(t)
  local res, err = call(app_client, "GET", "/debug_token", { input_token = input }, nil,
    scrub_list(app_token, secrets[self], input), scrub_list(secrets[self], input))
  if not res then return nil, err end
  local data = type(res) == "table" and res.data
  if data == nil then data = res end
  if type(data) ~= "table" then return nil, errors.new{ kind = "decode", message = "debug_token answered no object" } end
  return data -- the server's words about the token it was given: scrubbed of it and of the app secret
end

--- Lists the user's Pages with their tokens, IG accounts and what their tasks can grant.
-- `GET /me/accounts?fields=id,name,access_token,instagram_business_account,tasks`, every page of it;
-- each Page gets `grantable_permissions` (@{grantable_permissions} of its tasks).
-- @tparam string|Token user_token the user's token
-- @treturn[1] {table,...} the Pages: `{ id, name, access_token, instagram_business_account = { id },
-- tasks, grantable_permissions }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `user_token` is neither a non-empty string nor a token
-- @usage
-- for _, page in ipairs(assert(fb:pages(long))) do
--   print(page.name, page.instagram_business_account and page.instagram_business_account.id)
-- end
function FacebookLogin:pages(user_token)
  local token = token_string(user_token)
  local c = client_m.new{ graph_url = self.client.graph_url, version = self.version,
    access_token = token, app_secret = secrets[self], transport = self.client.transport }
  local list, err = c:edge("/me/accounts", { fields = "id,name,access_token,instagram_business_account,tasks" }):all()
  if not list then return nil, errors.scrub_error(err, scrub_list(token, secrets[self], c:appsecret_proof())) end
  for _, page in ipairs(list) do
    if type(page) == "table" then
      page.grantable_permissions = _M.grantable_permissions(type(page.tasks) == "table" and page.tasks or {})
    end
  end
  return list
end

-- ---- Instagram Login -----------------------------------------------------------------------

local InstagramLogin = {}
InstagramLogin.__index = InstagramLogin
InstagramLogin.__tostring = function(i) return "instagram Instagram Login (app " .. i.app_id .. ")" end

local IG_OPTS = { authorize_url = true, api_url = true }
for k in pairs(COMMON) do IG_OPTS[k] = true end

--- @section end

--- Makes an Instagram (Business) Login object.
-- Its calls are never retried (a code is single-use).
-- @tparam table opts
-- @tparam string|number opts.app_id the app's id (required)
-- @tparam[opt] string opts.app_secret the app secret: needed to exchange codes and tokens
-- (server-side only); kept off the object
-- @tparam[opt] string opts.redirect_uri the redirect URI registered for the app (needed by the
-- login URL and the code exchange unless given there)
-- @tparam[opt="v24.0"] string opts.version the Graph API version (`instagram.DEFAULT_VERSION`)
-- @tparam[opt] string opts.ca_file a CA file to trust too (as `instagram.new`'s)
-- @tparam[opt=30] number opts.timeout seconds per request
-- @tparam[opt] table opts.transport a transport object (as `instagram.new`'s)
-- @tparam[opt="https://graph.instagram.com"] string opts.graph_url the host of `/access_token` and
-- `/refresh_access_token`
-- @tparam[opt="https://api.instagram.com"] string opts.api_url the host of `/oauth/access_token`
-- @tparam[opt] string opts.authorize_url the host of the authorization page; default `api_url`
-- @treturn InstagramLogin the login object
-- @raise when `opts` is not a table, has an unknown option or no `app_id`, or an option is invalid
-- for `instagram.new`
-- @usage
-- local ig = instagram.oauth.instagram{ app_id = "1234567890", app_secret = os.getenv("APP_SECRET"),
--   redirect_uri = "https://app.example/callback" }
function _M.instagram(opts)
  check_opts("oauth.instagram", opts, IG_OPTS)
  local api_url = opts.api_url or "https://api.instagram.com"
  local self = setmetatable({
    app_id = tostring(opts.app_id), redirect_uri = opts.redirect_uri,
    version = opts.version or client_m.DEFAULT_VERSION,
    authorize_base = opts.authorize_url or api_url,
  }, InstagramLogin)
  secrets[self] = opts.app_secret
  self.graph = make_client(opts, opts.graph_url or "https://graph.instagram.com")
  self.api = make_client(opts, api_url)
  return self
end

--- An Instagram (Business) Login object, from @{instagram}.
-- Fields: `app_id`, `redirect_uri`, `version`, `authorize_base`, `graph` and `api` (the clients its
-- calls use). `tostring(ig)` shows the app id only; the app secret is not on the object.
-- @type InstagramLogin

local AUTHORIZE_URL_OPTS = { scope = true, state = true, redirect_uri = true, force_reauth = true,
                             enable_fb_login = true }
--- Builds the authorization URL to send the browser to: `{authorize_url}/oauth/authorize?...`.
-- @tparam[opt] table o
-- @tparam[opt] string|{string,...} o.scope the permissions asked for; default `{ "instagram_business_basic"
-- }`
-- @tparam[opt] string o.state a non-empty state of your own; default 32 random hex digits from OpenSSL
-- @tparam[opt] string o.redirect_uri another redirect URI for this login; remembered by state
-- @tparam[opt] boolean o.force_reauth ask the user to log in again
-- @tparam[opt] boolean o.enable_fb_login offer logging in with Facebook
-- @treturn string the URL
-- @treturn string the state
-- @raise when there is no `redirect_uri`, `state` is not a non-empty string, or `scope` is neither
-- a list nor a string
-- @usage local url, state = ig:authorize_url{ scope = { "instagram_business_basic", "instagram_business_content_publish" } }
function InstagramLogin:authorize_url(o)
  o = o or {}
  client_m.check_options("authorize_url", nil, o, AUTHORIZE_URL_OPTS, 2)
  local redirect_uri, state = redirect_and_state(self, o, "authorize_url")
  local p = {
    client_id = self.app_id, redirect_uri = redirect_uri, response_type = "code", state = state,
    scope = scope_string(o.scope, { "instagram_business_basic" }),
    force_reauth = o.force_reauth, enable_fb_login = o.enable_fb_login,
  }
  return self.authorize_base .. "/oauth/authorize?" .. params_m.encode(p), state
end

--- Splits a redirect URL into its parameters: @{parse_redirect} as a method.
-- @function InstagramLogin:parse_redirect
-- @tparam string url the URL the browser came back to
-- @treturn table the parameters (a `#_` at the end of `code` removed)
-- @treturn ?{string,...} the names the query and the fragment disagree about
-- @raise when `url` is not a string
-- @usage local p = ig:parse_redirect(request_url)
InstagramLogin.parse_redirect = FacebookLogin.parse_redirect

--- Checks a redirect's state: @{check_state} as a method.
-- @function InstagramLogin:check_state
-- @tparam string expected the state the authorization URL was made with
-- @tparam ?string got the redirect's `state`
-- @treturn[1] boolean `true`
-- @treturn[2] nil
-- @treturn[2] Error err `reason = "state_mismatch"`
-- @raise when `expected` is not a non-empty string
-- @usage assert(ig:check_state(session.state, p.state))
InstagramLogin.check_state = FacebookLogin.check_state

local function ig_token(res, long_lived, now)
  -- The code exchange answers { data = { { access_token, user_id, permissions } } } or flat.
  if type(res) == "table" and type(res.data) == "table" and res.data[1] then res = res.data[1] end
  if type(res) ~= "table" or type(res.access_token) ~= "string" or res.access_token == "" then
    return nil, errors.new{ kind = "decode", message = "token response without access_token" }
  end
  if not token_m.is_sendable(res.access_token) then return nil, errors.new{ kind = "decode", message = UNSENDABLE } end
  local perms = res.permissions
  if type(perms) == "string" then
    local list = {}
    for p in perms:gmatch("[^,%s]+") do list[#list + 1] = p end
    perms = list
  end
  return token_m.new{ access_token = res.access_token, token_type = res.token_type,
    expires_in = res.expires_in or (not long_lived and 3600 or nil), kind = "instagram", long_lived = long_lived,
    user_id = res.user_id, -- token.new keeps a string, or a number's exact digits
    permissions = perms, now = now }
end

--- Exchanges an authorization code for a short-lived token: `POST {api_url}/oauth/access_token`.
-- A `#_` that Instagram appended to the code is stripped.
-- @tparam string code the redirect's `code`
-- @tparam[opt] string redirect_uri the redirect URI the authorization URL used; default the object's
-- @treturn[1] Token a short-lived token (`kind = "instagram"`, 1 hour) with `user_id` and `permissions`
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, or `kind = "decode"` when the answer has no `access_token`
-- @raise when the object has no `app_secret`, or `code` is not a non-empty string
-- @usage local short, err = ig:exchange_code(params.code)
function InstagramLogin:exchange_code(code, redirect_uri)
  need_secret(self, "exchange_code")
  if type(code) ~= "string" or code == "" then error("exchange_code: code must be a non-empty string", 2) end
  code = code:gsub("#_$", "")
  local res, err = call(self.api, "POST", "/oauth/access_token", {
    client_id = self.app_id, client_secret = secrets[self], grant_type = "authorization_code",
    redirect_uri = redirect_uri or self.redirect_uri, code = code,
  }, { versioned = false }, scrub_list(secrets[self], code), nil, scrub_list(secrets[self]))
  if not res then return nil, err end
  return ig_token(res, false)
end

-- A long-lived token from the Instagram host, keeping what the old token knew of its user.
local function ig_long_lived(self, path, params, old)
  local res, err = call(self.graph, "GET", path, params, { versioned = false },
    scrub_list(params.client_secret, params.access_token), nil, scrub_list(params.client_secret))
  if not res then return nil, err end
  local tok, terr = ig_token(res, true)
  if tok and token_m.is_token(old) then tok.user_id, tok.permissions = old.user_id, old.permissions end
  return tok, terr
end

--- Exchanges a short-lived token for a long-lived one (60 days): `GET {graph_url}/access_token`
-- (`ig_exchange_token`).
-- The new token keeps the old token object's `user_id` and `permissions`.
-- @tparam string|Token t the short-lived token
-- @treturn[1] Token the long-lived token
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, or `kind = "decode"` when the answer has no `access_token`
-- @raise when the object has no `app_secret`, or `t` is neither a non-empty string nor a token
-- @usage local long, err = ig:exchange_long_lived(short)
function InstagramLogin:exchange_long_lived(t)
  need_secret(self, "exchange_long_lived")
  return ig_long_lived(self, "/access_token", {
    grant_type = "ig_exchange_token", client_secret = secrets[self], access_token = token_string(t) }, t)
end

--- Refreshes a long-lived token for another 60 days: `GET {graph_url}/refresh_access_token`.
-- Only for long-lived tokens at least 24 hours old and not expired: a token object that
-- @{instagram.token.Token:can_refresh} refuses (too young, or expired) is refused before any call.
-- No app secret is needed. An InstagramLogin can be `instagram.new`'s `auto_refresh`.
-- @tparam string|Token t the long-lived token
-- @treturn[1] Token the new long-lived token (keeping `user_id` and `permissions`)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: `kind = "oauth"`, `reason = "too_early"` (a token object too young to
-- refresh) or `"expired"` (a token object past its expiry: the user must log in again), with the
-- reason and no call made; the API's; or `kind = "decode"`
-- @raise when `t` is neither a non-empty string nor a token
-- @usage
-- local fresh, err = ig:refresh(long)
-- if not fresh and err.reason == "too_early" then --[[ try tomorrow ]] end
function InstagramLogin:refresh(t)
  if token_m.is_token(t) then
    local ok, why = t:can_refresh()
    if not ok then return nil, oauth_error(t:is_expired() and "expired" or "too_early", why) end
  end
  return ig_long_lived(self, "/refresh_access_token", { grant_type = "ig_refresh_token", access_token = token_string(t) }, t)
end

--- Finishes a login from the redirect: checks the state, reports a cancel, exchanges the code.
-- @tparam string url the URL the browser came back to (or its query string)
-- @tparam string expected_state the state @{InstagramLogin:authorize_url} returned
-- @tparam[opt] string redirect_uri the redirect URI the authorization URL used (as for
-- @{FacebookLogin:handle_redirect})
-- @treturn[1] Token the short-lived token
-- @treturn[2] nil on failure
-- @treturn[2] Error err: `kind = "oauth"` with `reason` `"state_mismatch"`, `"ambiguous_redirect"`,
-- `"cancelled"`, `"no_code"`, or the redirect's own `error`; or an error of @{InstagramLogin:exchange_code}
-- @raise when `url` is not a string, `expected_state` is not a non-empty string, `redirect_uri` is
-- not a string, or the object has no `app_secret`
-- @usage
-- local short, err = ig:handle_redirect(request_url, cookie_state)
-- local long = short and ig:exchange_long_lived(short)
function InstagramLogin:handle_redirect(url, expected_state, redirect_uri)
  local p, err = checked_redirect(url, expected_state)
  if not p then return nil, err end
  redirect_uri = exchange_redirect(self, expected_state, redirect_uri)
  if not p.code or p.code == "" then return nil, oauth_error("no_code", "the redirect carries no code") end
  return self:exchange_code(p.code, redirect_uri)
end

return _M
