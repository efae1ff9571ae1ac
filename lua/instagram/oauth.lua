--- Logins and tokens: Facebook Login (for Business) and Instagram (Business) Login.
--   local fb = instagram.oauth.facebook{ app_id = ID, app_secret = SECRET, redirect_uri = URI }
--   local url, state = fb:login_url{ scope = { "instagram_basic", "pages_show_list" } }
--   local token, err = fb:handle_redirect(redirect_url_with_code, state)
--   local ig = instagram.oauth.instagram{ app_id = ID, app_secret = SECRET, redirect_uri = URI }
--   ig:authorize_url{...}; ig:exchange_code(code); ig:exchange_long_lived(t); ig:refresh(t)
-- Token endpoints answer with instagram.token objects: tostring() never shows the token.
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

-- ---- permissions and Page tasks (seed 002) -------------------------------------------------

--- Which Page tasks can grant each documented permission.
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

--- grantable_permissions(tasks) -> sorted list of the documented permissions these Page tasks can grant
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

--- missing_permissions(tasks, wanted) -> the permissions in `wanted` that these tasks cannot grant
-- (permissions the seeds' table does not cover are not judged).
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

--- Text a redirect carried, fit for an error and a log line: control characters (CR, LF, NUL,
-- ESC, ...) become spaces, and it is cut to errors.MAX_FIELD bytes.
local function clean(v)
  if type(v) ~= "string" then return nil end
  v = v:gsub("[%c\127]", " ")
  if #v > errors.MAX_FIELD then v = v:sub(1, errors.MAX_FIELD) .. "..." end
  return v
end

--- Only strings go in a secrets list for scrubbing (a list without holes).
local function scrub_list(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

--- A call whose parameters carry secrets the client does not know as its own (a code being
-- exchanged, a token being inspected, the app secret): they are scrubbed from any error.
local function call(c, method, path, params, opts, scrub)
  opts = opts or {}
  opts.scrub = scrub
  local res, err = c:request(method, path, params, opts)
  if not res then return nil, errors.scrub_error(err, scrub) end
  return res
end

--- Splits a redirect URL (or a bare query / fragment) into its parameters. The query wins: the
-- fragment only adds parameters the query lacks (the token of response_type=token). A parameter
-- in both with different values is listed in the second result (handle_redirect refuses such a
-- redirect). Instagram appends "#_" to its redirect: an empty "_" fragment is dropped.
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

--- check_state(expected, got) -> true | nil, err  (constant-time compare in the C core)
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
  if type(scope) == "table" then return concat(scope, ",") end
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

--- The redirect_uri and state of a login URL (the state is random unless given). A
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

--- The redirect_uri to exchange a code with: the one given, else the one the login URL with
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

--- The redirect's parameters once its state checks out and it reports no failure; else nil, err.
local function checked_redirect(url, expected_state)
  local p, conflicts = _M.parse_redirect(url)
  local ok, serr = _M.check_state(expected_state, p.state)
  if not ok then return nil, serr end
  if conflicts then
    return nil, oauth_error("ambiguous_redirect", "the redirect's query and fragment disagree about "
      .. clean(concat(conflicts, ", ")) .. ": refusing it (tampered with?); start the login again")
  end
  local rerr = redirect_error(p)
  if rerr then return nil, rerr end
  return p
end

function redirect_error(p)
  if p.error or p.error_reason then
    local cancelled = p.error_reason == "user_denied" or p.error == "access_denied"
    return oauth_error(cancelled and "cancelled" or (clean(p.error) or "error"),
      clean(p.error_description) or clean(p.error_message) or "the login did not complete",
      { error = clean(p.error), error_reason = clean(p.error_reason), error_code = tonumber(p.error_code) })
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

local FB = {}
FB.__index = FB
FB.__tostring = function(f) return "instagram Facebook Login (app " .. f.app_id .. ")" end

local FB_OPTS = { dialog_url = true }
for k in pairs(COMMON) do FB_OPTS[k] = true end

--- facebook{ app_id, app_secret, redirect_uri, version, graph_url, dialog_url, ca_file, timeout, transport }
function _M.facebook(opts)
  check_opts("oauth.facebook", opts, FB_OPTS)
  local self = setmetatable({
    app_id = tostring(opts.app_id), redirect_uri = opts.redirect_uri,
    version = opts.version or client_m.DEFAULT_VERSION,
    dialog_url = opts.dialog_url or "https://www.facebook.com",
  }, FB)
  secrets[self] = opts.app_secret
  self.client = make_client(opts, opts.graph_url or "https://graph.facebook.com")
  return self
end

--- login_url{ scope, state, response_type = "code", display, extras, config_id, auth_type, redirect_uri }
-- -> url, state. The state is 32 random hex bytes from the C core unless given.
function FB:login_url(o)
  o = o or {}
  local redirect_uri, state = redirect_and_state(self, o, "login_url")
  local extras = o.extras
  if type(extras) == "table" then extras = assert(json.encode(extras)) end
  local p = {
    client_id = self.app_id, redirect_uri = redirect_uri, state = state,
    response_type = o.response_type or "code",
    scope = scope_string(o.scope, { "instagram_basic", "pages_show_list" }),
    display = o.display, extras = extras, config_id = o.config_id, auth_type = o.auth_type,
  }
  return self.dialog_url .. "/" .. self.version .. "/dialog/oauth?" .. params_m.encode(p), state
end

FB.parse_redirect = function(_, url) return _M.parse_redirect(url) end
FB.check_state = function(_, expected, got) return _M.check_state(expected, got) end

local function fb_token(res, long_lived)
  if type(res) ~= "table" or type(res.access_token) ~= "string" or res.access_token == "" then
    return nil, errors.new{ kind = "decode", message = "token response without access_token" }
  end
  return token_m.new{ access_token = res.access_token, token_type = res.token_type, expires_in = res.expires_in,
    kind = "facebook", long_lived = long_lived }
end

--- exchange_code(code [, redirect_uri]) -> token | nil, err
function FB:exchange_code(code, redirect_uri)
  need_secret(self, "exchange_code")
  if type(code) ~= "string" or code == "" then error("exchange_code: code must be a non-empty string", 2) end
  local res, err = call(self.client, "GET", "/oauth/access_token", {
    client_id = self.app_id, client_secret = secrets[self], code = code,
    redirect_uri = redirect_uri or self.redirect_uri,
  }, nil, scrub_list(secrets[self], code))
  if not res then return nil, err end
  return fb_token(res, false)
end

--- exchange_long_lived(token) -> long-lived token (about 60 days) | nil, err
function FB:exchange_long_lived(t)
  need_secret(self, "exchange_long_lived")
  local token = token_string(t)
  local res, err = call(self.client, "GET", "/oauth/access_token", {
    grant_type = "fb_exchange_token", client_id = self.app_id, client_secret = secrets[self],
    fb_exchange_token = token,
  }, nil, scrub_list(secrets[self], token))
  if not res then return nil, err end
  return fb_token(res, true)
end
FB.refresh = FB.exchange_long_lived

--- handle_redirect(url, expected_state [, redirect_uri]) -> token | nil, err
-- Checks the state, reports a cancelled or failed login, then exchanges the code (code flow) or
-- reads the token from the fragment (response_type=token, preferring its long_lived_token). The
-- code is exchanged with the redirect_uri given here, else the one login_url used for this
-- state (when this object made it), else the object's own.
function FB:handle_redirect(url, expected_state, redirect_uri)
  local p, err = checked_redirect(url, expected_state)
  if not p then return nil, err end
  redirect_uri = exchange_redirect(self, expected_state, redirect_uri)
  if p.code then return self:exchange_code(p.code, redirect_uri) end
  if p.access_token and p.access_token ~= "" then
    local long = p.long_lived_token
    if long == "" then long = nil end
    return token_m.new{ access_token = long or p.access_token, kind = "facebook", long_lived = long ~= nil,
      expires_in = not long and tonumber(p.expires_in) or nil,
      data_access_expiration_time = p.data_access_expiration_time }
  end
  return nil, oauth_error("no_code", "the redirect carries neither a code nor an access token")
end

--- debug_token(token) -> data (is_valid, scopes, expires_at, user_id, ...) | nil, err
function FB:debug_token(t)
  need_secret(self, "debug_token")
  local app_token = self.app_id .. "|" .. secrets[self]
  local app_client = client_m.new{ graph_url = self.client.graph_url, version = self.version,
    access_token = app_token, transport = self.client.transport, retries = 0 }
  local input = token_string(t)
  local res, err = call(app_client, "GET", "/debug_token", { input_token = input }, nil,
    scrub_list(app_token, secrets[self], input))
  if not res then return nil, err end
  if type(res) ~= "table" then return nil, errors.new{ kind = "decode", message = "debug_token answered no object" } end
  return res.data or res
end

--- pages(user_token) -> list of Pages { id, name, access_token, instagram_business_account, tasks,
-- grantable_permissions } | nil, err
function FB:pages(user_token)
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

local IG = {}
IG.__index = IG
IG.__tostring = function(i) return "instagram Instagram Login (app " .. i.app_id .. ")" end

local IG_OPTS = { authorize_url = true, api_url = true }
for k in pairs(COMMON) do IG_OPTS[k] = true end

--- instagram{ app_id, app_secret, redirect_uri, graph_url = "https://graph.instagram.com",
--             api_url = "https://api.instagram.com", authorize_url (defaults to api_url), ca_file, ... }
function _M.instagram(opts)
  check_opts("oauth.instagram", opts, IG_OPTS)
  local api_url = opts.api_url or "https://api.instagram.com"
  local self = setmetatable({
    app_id = tostring(opts.app_id), redirect_uri = opts.redirect_uri,
    version = opts.version or client_m.DEFAULT_VERSION,
    authorize_base = opts.authorize_url or api_url,
  }, IG)
  secrets[self] = opts.app_secret
  self.graph = make_client(opts, opts.graph_url or "https://graph.instagram.com")
  self.api = make_client(opts, api_url)
  return self
end

--- authorize_url{ scope, state, redirect_uri, force_reauth, enable_fb_login } -> url, state
function IG:authorize_url(o)
  o = o or {}
  local redirect_uri, state = redirect_and_state(self, o, "authorize_url")
  local p = {
    client_id = self.app_id, redirect_uri = redirect_uri, response_type = "code", state = state,
    scope = scope_string(o.scope, { "instagram_business_basic" }),
    force_reauth = o.force_reauth, enable_fb_login = o.enable_fb_login,
  }
  return self.authorize_base .. "/oauth/authorize?" .. params_m.encode(p), state
end

IG.parse_redirect = FB.parse_redirect
IG.check_state = FB.check_state

local function ig_token(res, long_lived, now)
  -- The code exchange answers { data = { { access_token, user_id, permissions } } } or flat.
  if type(res) == "table" and type(res.data) == "table" and res.data[1] then res = res.data[1] end
  if type(res) ~= "table" or type(res.access_token) ~= "string" or res.access_token == "" then
    return nil, errors.new{ kind = "decode", message = "token response without access_token" }
  end
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

--- exchange_code(code [, redirect_uri]) -> short-lived (1 hour) token | nil, err ; strips a "#_" suffix
function IG:exchange_code(code, redirect_uri)
  need_secret(self, "exchange_code")
  if type(code) ~= "string" or code == "" then error("exchange_code: code must be a non-empty string", 2) end
  code = code:gsub("#_$", "")
  local res, err = call(self.api, "POST", "/oauth/access_token", {
    client_id = self.app_id, client_secret = secrets[self], grant_type = "authorization_code",
    redirect_uri = redirect_uri or self.redirect_uri, code = code,
  }, { versioned = false }, scrub_list(secrets[self], code))
  if not res then return nil, err end
  return ig_token(res, false)
end

--- A long-lived token from the Instagram host, keeping what the old token knew of its user.
local function ig_long_lived(self, path, params, old)
  local res, err = call(self.graph, "GET", path, params, { versioned = false },
    scrub_list(params.client_secret, params.access_token))
  if not res then return nil, err end
  local tok, terr = ig_token(res, true)
  if tok and token_m.is_token(old) then tok.user_id, tok.permissions = old.user_id, old.permissions end
  return tok, terr
end

--- exchange_long_lived(token) -> long-lived (60 days) token | nil, err
function IG:exchange_long_lived(t)
  need_secret(self, "exchange_long_lived")
  return ig_long_lived(self, "/access_token", {
    grant_type = "ig_exchange_token", client_secret = secrets[self], access_token = token_string(t) }, t)
end

--- refresh(token) -> a new long-lived token | nil, err. Only for long-lived tokens at least
-- 24 hours old and not expired; a token object that is too young is refused before any call.
function IG:refresh(t)
  if token_m.is_token(t) then
    local ok, why = t:can_refresh()
    if not ok then return nil, oauth_error("too_early", why) end
  end
  return ig_long_lived(self, "/refresh_access_token", { grant_type = "ig_refresh_token", access_token = token_string(t) }, t)
end

--- handle_redirect(url, expected_state [, redirect_uri]) -> short-lived token | nil, err
-- (redirect_uri: as for Facebook Login's handle_redirect)
function IG:handle_redirect(url, expected_state, redirect_uri)
  local p, err = checked_redirect(url, expected_state)
  if not p then return nil, err end
  redirect_uri = exchange_redirect(self, expected_state, redirect_uri)
  if not p.code then return nil, oauth_error("no_code", "the redirect carries no code") end
  return self:exchange_code(p.code, redirect_uri)
end

return _M
