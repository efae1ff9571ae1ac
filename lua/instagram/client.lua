--- The Graph API client: URLs, tokens, appsecret_proof, decoding, errors, retries, usage.
local core = require "instagram.core"
local json = require "instagram.json"
local params_m = require "instagram.params"
local errors = require "instagram.error"
local usage_m = require "instagram.usage"
local token_m = require "instagram.token"

local type, pairs, ipairs, tostring, tonumber, setmetatable, error, pcall, select =
      type, pairs, ipairs, tostring, tonumber, setmetatable, error, pcall, select
local find, sub, match, lower, format, gsub, gmatch, char, concat =
      string.find, string.sub, string.match, string.lower, string.format, string.gsub, string.gmatch, string.char,
      table.concat
local min, random, huge = math.min, math.random, math.huge

local _M = { DEFAULT_VERSION = "v24.0", _VERSION = core._VERSION }

local Client = {}
Client.__index = Client
Client.__tostring = function(c)
  return format("instagram client (%s, %s)", c.graph_url, c.version)
end

-- Secrets live here, keyed weakly by client, never on the client table itself: printing or
-- serialising a client cannot leak them. own: the token, app secret and proof, each also
-- percent-encoded (as it reads in a URL): what every error of the client is scrubbed of.
local secrets = setmetatable({}, { __mode = "k" })

--- Adds s (and its percent-encoded spelling) to the list; shorter than 4 bytes, as errors.scrub.
local function add_secret(list, s)
  if type(s) == "number" then s = tostring(s) end
  if type(s) ~= "string" or #s < 4 then return end
  list[#list + 1] = s
  local e = core.url_encode(s)
  if e ~= s then list[#list + 1] = e end
end

local function set_list(s, ...)
  s.own = {}
  for i = 1, select("#", ...) do add_secret(s.own, (select(i, ...))) end
end

local OPTIONS = {
  access_token = "string|token", auto_refresh = "table", refresh_margin = "number",
  on_refresh = "function", app_secret = "string", version = "string", graph_url = "string",
  rupload_url = "string", timeout = "number", connect_timeout = "number", ca_file = "string",
  retries = "number", retry_base = "number", retry_cap = "number", retry_max_wait = "number",
  throttle = "table",
  user_agent = "string", http2 = "boolean", transport = "table", sleep = "function",
  on_retry = "function", max_body = "number",
}

-- The longest wait the client takes from anyone (a server's Retry-After, an option): one day.
local MAX_WAIT = 86400

-- The numeric options and their ranges (timeouts and max_body as the C core checks them):
-- { low, high, what, whole number?, low excluded? }
local NUMBERS = {
  timeout = { 0, MAX_WAIT, "a number of seconds, more than 0 and at most 86400", false, true },
  connect_timeout = { 0, MAX_WAIT, "a number of seconds, more than 0 and at most 86400", false, true },
  max_body = { 1, 4294967296, "a whole number of bytes from 1 to 4 GiB (4294967296)", true },
  retries = { 0, 10, "a whole number from 0 to 10", true },
  retry_base = { 0, MAX_WAIT, "a number of seconds from 0 to 86400" },
  retry_cap = { 0, MAX_WAIT, "a number of seconds from 0 to 86400" },
  retry_max_wait = { 0, MAX_WAIT, "a number of seconds from 0 to 86400" },
  refresh_margin = { 0, 365 * 86400, "a number of seconds from 0 to 31536000 (a year)" },
  ["throttle.threshold"] = { 0, 100, "a percentage from 0 to 100" },
  ["throttle.max_delay"] = { 0, MAX_WAIT, "a number of seconds from 0 to 86400" },
}
local THROTTLE = { threshold = "number", max_delay = "number", on_throttle = "function" }

--- Raises (at the caller of instagram.new) unless v, when given, is within the option's range.
local function check_number(name, v, level)
  if v == nil then return end
  local r = NUMBERS[name]
  local ok = type(v) == "number" and v == v and v > -huge and v < huge and v <= r[2]
    and (r[5] and v > r[1] or not r[5] and v >= r[1]) and (not r[4] or v % 1 == 0)
  if not ok then
    error("instagram.new: option '" .. name .. "' must be " .. r[3] .. " (got " .. tostring(v) .. ")", level)
  end
end

local function check_throttle(t)
  if t == nil then return end
  for k, v in pairs(t) do
    local want = THROTTLE[k]
    if not want then
      error("instagram.new: unknown option 'throttle." .. tostring(k) .. "' (known: threshold, max_delay, "
            .. "on_throttle)", 3)
    end
    if type(v) ~= want then
      error("instagram.new: option 'throttle." .. k .. "' must be a " .. want .. ", got " .. type(v), 3)
    end
  end
  check_number("throttle.threshold", t.threshold, 4)
  check_number("throttle.max_delay", t.max_delay, 4)
end

--- Is this URL host (as written in graph_url) the local machine? 127.0.0.0/8, localhost, [::1].
local function loopback(host)
  host = lower(host)
  if host == "localhost" or host == "[::1]" then return true end
  local a, b, c, d = match(host, "^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$")
  return a == "127" and tonumber(b) <= 255 and tonumber(c) <= 255 and tonumber(d) <= 255
end

--- graph_url / rupload_url: a scheme and a plain host (a name, IPv4 or [IPv6]) with an optional
-- port, nothing else; http:// only for loopback, where no token crosses a network in clear.
local function check_url(name, url)
  local scheme, authority = match(url, "^(https?)://(.+)$")
  local host, port
  if authority then
    host, port = match(authority, "^(%[[%x:.]+%])(.*)$")
    if not host then host, port = match(authority, "^([%w][%w.-]*)(.*)$") end
  end
  local port_ok = port == "" or (port and match(port, "^:%d%d?%d?%d?%d?$") and tonumber(sub(port, 2)) <= 65535)
  if not (host and port_ok) then
    error(format("instagram.new: option '%s' must be a scheme and host without a path or trailing slash, "
          .. "like https://graph.facebook.com (got %q)", name, url), 3)
  end
  if scheme == "http" and not loopback(host) then
    error(format("instagram.new: option '%s' may use http:// for loopback hosts only (127.0.0.0/8, localhost, "
          .. "[::1]): the token and app secret would cross the network in clear text; use https:// for %q",
          name, host), 3)
  end
end

local function default_transport(opts)
  return require("instagram.transport.auto").new(opts)
end

--- instagram.new{ access_token, app_secret, version, graph_url, rupload_url, timeout,
--                 connect_timeout, ca_file, retries, user_agent, http2, transport, sleep, on_retry }
-- Numeric options are checked here, each against its range: timeout and connect_timeout
-- (0 < s <= 86400), max_body (1 byte to 4 GiB, whole), retries (0 to 10, whole), retry_base,
-- retry_cap, retry_max_wait (0 to 86400), refresh_margin (0 to a year), throttle.threshold (0 to
-- 100), throttle.max_delay (0 to 86400). graph_url and rupload_url take http:// for loopback only.
function _M.new(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error("instagram.new: options must be a table, got " .. type(opts), 2) end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then error("instagram.new: unknown option '" .. tostring(k) .. "'", 2) end
    local ok = type(v) == want or (want == "string|token" and (type(v) == "string" or token_m.is_token(v)))
    if not ok then
      error("instagram.new: option '" .. k .. "' must be a " .. want:gsub("|token", " or an instagram.token")
        .. ", got " .. type(v), 2)
    end
  end
  for name in pairs(NUMBERS) do
    if not find(name, ".", 1, true) then check_number(name, opts[name], 3) end
  end
  check_throttle(opts.throttle)
  if opts.auto_refresh and type(opts.auto_refresh.refresh) ~= "function" then
    error("instagram.new: auto_refresh must be an oauth object with a :refresh(token) method", 2)
  end
  if opts.auto_refresh and not token_m.is_token(opts.access_token) then
    error("instagram.new: auto_refresh needs access_token to be an instagram.token (it must know its expiry)", 2)
  end
  if opts.access_token == "" then error("instagram.new: access_token must not be empty", 2) end
  if opts.app_secret == "" then error("instagram.new: app_secret must not be empty", 2) end
  local version = opts.version or _M.DEFAULT_VERSION
  if not match(version, "^v%d+%.%d+$") then
    error("instagram.new: version must look like 'v24.0' (got '" .. version .. "')", 2)
  end
  local graph_url = opts.graph_url or "https://graph.facebook.com"
  local rupload_url = opts.rupload_url or "https://rupload.facebook.com"
  check_url("graph_url", graph_url)
  check_url("rupload_url", rupload_url)
  if opts.ca_file then
    local f = io.open(opts.ca_file, "rb")
    if not f then error("instagram.new: option 'ca_file': cannot read '" .. opts.ca_file .. "'", 2) end
    f:close()
  end
  local retries = opts.retries or 3

  local transport = opts.transport or default_transport{
    timeout = opts.timeout or 30, connect_timeout = opts.connect_timeout, ca_file = opts.ca_file,
    user_agent = opts.user_agent, http2 = opts.http2, max_body = opts.max_body,
  }
  local c = setmetatable({
    version = version,
    graph_url = graph_url,
    rupload_url = rupload_url,
    timeout = opts.timeout or 30,
    retries = retries,
    retry_base = opts.retry_base or 0.5,
    retry_cap = opts.retry_cap or 8,
    retry_max_wait = opts.retry_max_wait or 60,
    on_retry = opts.on_retry,
    sleep = opts.sleep or transport.sleep or core.sleep,
    transport = transport,
    last_usage = nil,
    auto_refresh = opts.auto_refresh,
    refresh_margin = opts.refresh_margin or 7 * 86400,
    on_refresh = opts.on_refresh,
    now = transport.now or core.now,
    throttle = opts.throttle and {
      threshold = opts.throttle.threshold or 75, max_delay = opts.throttle.max_delay or 30,
      on_throttle = opts.throttle.on_throttle,
    } or nil,
  }, Client)
  secrets[c] = { app_secret = opts.app_secret }
  if opts.access_token then c:set_access_token(opts.access_token) else set_list(secrets[c], opts.app_secret) end
  return c
end

--- The appsecret_proof this client sends (nil without app_secret), for callers that build
-- requests by hand.
function Client:appsecret_proof() return secrets[self].proof end

--- Replaces the access token (a string or an instagram.token); the proof is recomputed.
function Client:set_access_token(token)
  local obj
  if token_m.is_token(token) then obj, token = token, token.access_token end
  if type(token) ~= "string" or token == "" then
    error("set_access_token: token must be a non-empty string or an instagram.token", 2)
  end
  local s = secrets[self]
  s.token, s.token_obj = token, obj
  s.proof = s.app_secret and core.hmac_sha256_hex(s.app_secret, token) or nil
  set_list(s, s.token, s.app_secret, s.proof)
end

--- The token object in use (nil when the client was given a plain string).
function Client:token() return secrets[self].token_obj end

--- With auto_refresh: refresh the token when it is within refresh_margin of expiry and may be
-- refreshed. A failed refresh leaves the current token in place and is reported to on_refresh.
function Client:_maybe_refresh()
  local s = secrets[self]
  local obj = s.token_obj
  if not (self.auto_refresh and obj and obj:needs_refresh(self.refresh_margin)) then return end
  if s.refreshing then return end
  s.refreshing = true
  local new, err = self.auto_refresh:refresh(obj)
  s.refreshing = false
  if new then self:set_access_token(new) end
  if self.on_refresh then self.on_refresh(new, err) end
end

--- Scrubs this client's secrets out of a string (for log lines of your own).
function Client:redact(s) return errors.scrub(s, secrets[self].own) end

-- For modules that build error objects from answers of their own (batch): what to scrub.
function Client:_secret_list() return secrets[self].own end

-- ---- secrets a call carries -----------------------------------------------------------------

--- Parameters whose values are secrets wherever they appear: a call's params or its path's query.
local SECRET_PARAMS = { "access_token", "input_token", "fb_exchange_token", "client_secret", "code",
                        "appsecret_proof", "refresh_token" }
_M.SECRET_PARAMS = SECRET_PARAMS
local SECRET_PARAM = {}
for _, k in ipairs(SECRET_PARAMS) do SECRET_PARAM[k] = true end

local function query_of(path)
  return type(path) == "string" and match(path, "^[^?#]*%?([^#]*)") or nil
end

--- The scrub list of one call: the client's secrets, the values of the call's secret-bearing
-- params (SECRET_PARAMS, in params or in the path's query) and the strings of opts.scrub.
function Client:_call_secrets(path, params, scrub)
  local list = {}
  local own = secrets[self].own
  for i = 1, #own do list[i] = own[i] end
  if type(params) == "table" then
    for i = 1, #SECRET_PARAMS do add_secret(list, params[SECRET_PARAMS[i]]) end
  end
  local q = query_of(path)
  if q and q ~= "" then
    local decoded = params_m.decode(q)
    for i = 1, #SECRET_PARAMS do add_secret(list, decoded[SECRET_PARAMS[i]]) end
  end
  if scrub then
    for i = 1, #scrub do add_secret(list, scrub[i]) end
  end
  return list
end

--- Scrubs every string of an error object (and of the tables in it) with the call's list.
local function scrub_error(err, list, depth)
  if type(err) ~= "table" then return err end
  depth = depth or 0
  for k, v in pairs(err) do
    if type(v) == "string" then err[k] = errors.scrub(v, list)
    elseif type(v) == "table" and depth < 3 then scrub_error(v, list, depth + 1) end
  end
  return err
end

--- A copy of a table read from a server (usage headers) with every string, key or value, scrubbed.
local function scrubbed_copy(t, list, depth)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" then k = errors.scrub(k, list) end
    if type(v) == "string" then v = errors.scrub(v, list)
    elseif type(v) == "table" then v = depth < 4 and scrubbed_copy(v, list, depth + 1) or nil end
    if k ~= nil then out[k] = v end
  end
  return out
end

--- For modules that build error objects of their own (batch): scrub every string of err.
function Client:_scrub_error(err, list) return scrub_error(err, list or secrets[self].own) end

-- Every 8-byte run of each secret of a list (of those of 8 bytes or more: a shorter one would
-- match ids and cursors by chance), made once per list.
local RUN = 8
local runs_of = setmetatable({}, { __mode = "k" })
local function secret_runs(list)
  local runs = runs_of[list]
  if runs then return runs end
  runs = {}
  local seen = {}
  for i = 1, #list do
    local secret = list[i]
    for j = 1, #secret - RUN + 1 do
      local r = sub(secret, j, j + RUN - 1)
      if not seen[r] then seen[r] = true; runs[#runs + 1] = r end
    end
  end
  runs_of[list] = runs
  return runs
end

--- Does s hold a secret of the list (of 8 bytes or more)? With `part`, also any 8-byte run of one:
-- for what a pager keeps of a server's answer (a cursor, a next URL), where part of a token is as
-- bad as the token. (Not for the caller's own paths: an id may share 8 digits with a token.)
local function holds_secret(s, list, part)
  if type(s) ~= "string" or #s < RUN then return false end
  if not part then
    for i = 1, #list do
      local secret = list[i]
      if #secret >= RUN and find(s, secret, 1, true) then return true end
    end
    return false
  end
  local runs = secret_runs(list)
  for i = 1, #runs do
    if find(s, runs[i], 1, true) then return true end
  end
  return false
end

--- Does s hold a secret of this client (its token, app secret or proof, plain or percent-encoded)?
function Client:_holds_secret(s) return holds_secret(s, secrets[self].own, true) end

--- A URL or path with no secret in its query: the parameters named access_token or
-- appsecret_proof (or any of SECRET_PARAMS when `all`), and those whose name or value holds a
-- secret of the list, are dropped; the rest is kept as written. The fragment is dropped.
local function strip_query(url, list, all, part)
  local head, query = match(url, "^([^?#]*)%??([^#]*)")
  if query == "" then return head end
  local kept = {}
  for pair in gmatch(query, "[^&]+") do
    local k, v = match(pair, "^([^=]*)=?(.*)$")
    local dk, dv = core.url_decode(k), core.url_decode(v)
    local named = dk == "access_token" or dk == "appsecret_proof" or (all and SECRET_PARAM[dk])
    if not (named or holds_secret(dk, list, part) or holds_secret(dv, list, part) or holds_secret(pair, list, part)) then
      kept[#kept + 1] = pair
    end
  end
  if #kept == 0 then return head end
  return head .. "?" .. concat(kept, "&")
end

-- ---- URLs ----------------------------------------------------------------------------------

local CONTROL = "[%z\1-\32\127]" -- bytes no URL may carry: C0 controls, space, DEL
local MAX_URL = 65536 -- the longest URL a transport takes (the C core and nginx's alike)

local function hex_byte(h) return char(tonumber(h, 16)) end
local function percent_decode(s) return (gsub(s, "%%(%x%x)", hex_byte)) end

--- Why a path (the part before ? and #) must not be sent, or nil. libcurl and servers resolve
-- '.' and '..' segments, plain or percent-encoded, and some read '\' as '/': each could carry
-- the token out of the version prefix.
local function path_problem(p, list)
  if find(p, "\\", 1, true) then return "a backslash" end
  local d = percent_decode(p)
  if find(d, CONTROL) then return "a percent-encoded control byte or space" end
  if find(d, "[\\%%]") then return "a percent-encoded '\\' or '%', or a '%' that encodes nothing" end
  for seg in gmatch(d .. "/", "([^/]*)/") do
    if seg == "." or seg == ".." then return "a '.' or '..' segment (plain or percent-encoded)" end
  end
  if holds_secret(p, list) or holds_secret(d, list) then return "a secret of the client" end
  return nil
end

local function refuse(reason, message)
  return nil, errors.new{ kind = "transport", reason = reason, message = message }
end

local function foreign(self, what)
  return refuse("foreign_host", "refusing to send the access token to " .. what .. ": only " .. self.graph_url
    .. " and " .. self.rupload_url .. " are trusted")
end

--- Resolves a path ("/me", "me/accounts", "/v19.0/x") or an absolute URL on one of this client's
-- hosts into base URL + extra params (the query, less access_token, appsecret_proof and any
-- parameter holding a secret of the client: the token travels in the Authorization header).
-- Raises for a path that is not a non-empty string. Returns nil, err (kind "transport") for any
-- path it will not send, so that a server's paging.next never raises:
--   reason "foreign_host": an absolute URL on another origin (scheme, host and port compared;
--     userinfo, other schemes and protocol-relative "//host" refused);
--   reason "invalid": a byte <= 0x20 or 0x7F anywhere; a '.' or '..' segment, plain or
--     percent-encoded; a backslash; an encoded '%', '\' or control byte in the path; a secret of
--     the client in the path; on rupload_url, a path outside /ig-api-upload/.
function Client:_resolve(path, unversioned)
  if type(path) ~= "string" or path == "" then
    error("path must be a non-empty string such as '/me' or '/17841405822304914/media'", 3)
  end
  if find(path, CONTROL) then
    return refuse("invalid", "refusing a path or URL that holds a control byte, space or DEL (such as CR or LF): "
      .. "it could split the request")
  end
  local list = secrets[self].own
  local base, rest
  local scheme = match(path, "^(%a[%w+.-]*):")
  if scheme then
    local s = lower(scheme)
    if (s ~= "http" and s ~= "https") or sub(path, #scheme + 2, #scheme + 3) ~= "//" then
      return foreign(self, "a URL of scheme '" .. errors.scrub(scheme, list) .. ":'")
    end
    local o = match(s .. sub(path, #scheme + 1), "^(https?://[^/?#]*)")
    local lo = lower(o)
    if lo == lower(self.graph_url) then base = self.graph_url
    elseif lo == lower(self.rupload_url) then base = self.rupload_url
    else return foreign(self, errors.scrub(o, list)) end
    rest = sub(path, #o + 1)
  elseif sub(path, 1, 2) == "//" then
    return foreign(self, "a protocol-relative URL")
  else
    base = self.graph_url
    rest = sub(path, 1, 1) == "/" and path or "/" .. path
  end
  local p, query = match(rest, "^([^?#]*)%??([^#]*)")
  if p == "" then p = "/" end
  local why = path_problem(p, list)
  if why then return refuse("invalid", "refusing a path that holds " .. why) end
  local extra = params_m.decode(query)
  for k, v in pairs(extra) do -- (as decoded, and as they will be encoded again)
    if k == "access_token" or k == "appsecret_proof" or holds_secret(k, list) or holds_secret(v, list)
       or holds_secret(core.url_encode(k), list) or holds_secret(core.url_encode(v), list) then
      extra[k] = nil
    end
  end
  if base == self.rupload_url and find(p, "^/ig%-api%-upload/") then -- the upload paths, as they are
    return base .. p, extra
  end
  if base ~= self.graph_url then
    return refuse("invalid", "refusing a path outside /ig-api-upload/ on rupload_url")
  end
  if not unversioned and not find(p, "^/v%d+%.%d+/") then p = "/" .. self.version .. p end
  return base .. p, extra
end

--- next_url(url) -> the URL with no secret in its query | nil, err : what a pager keeps of a
-- server's paging.next. The URL must resolve (own host, no control byte or dot segment).
function Client:_next_url(url)
  local ok, err = self:_resolve(url)
  if not ok then return nil, scrub_error(err, secrets[self].own) end
  local list = self:_call_secrets(url, nil, nil)
  local kept = strip_query(url, list, true, true)
  if holds_secret(match(kept, "^[^?]*"), list, true) or holds_secret(percent_decode(kept), list, true) then
    return nil, errors.new{ kind = "transport", reason = "invalid",
      message = "refusing a next URL that holds part of a secret of the client" }
  end
  return kept
end

-- ---- requests ------------------------------------------------------------------------------

local IDEMPOTENT = { GET = true, HEAD = true, DELETE = true, PUT = true, OPTIONS = true }

-- Graph codes that mean "throttled or briefly unavailable; the call was not carried out".
local REJECTED_CODES = { [4] = true, [17] = true, [32] = true, [341] = true, [613] = true }
local TRANSIENT_CODES = { [1] = true, [2] = true }
-- Refusals that no retry will change, whatever their code says: 2207051 (code 4) is the publishing
-- action "suspected to be spam" (the seeds' error table), not a rate limit.
local FINAL_SUBCODES = { [2207051] = true }

local function rejected_before_running(err)
  if err.kind == "transport" and err.reason == "connect" then return true end
  local code = err.code
  if err.kind ~= "graph" or type(code) ~= "number" then return false end
  if FINAL_SUBCODES[err.subcode] then return false end
  return REJECTED_CODES[code] or (code >= 80001 and code <= 80014) or false
end

--- May this failed call be made again without risk of doing it twice?
local function retryable(method, err)
  if err.kind == "graph" and FINAL_SUBCODES[err.subcode] then return false end
  if rejected_before_running(err) then return true end
  if not IDEMPOTENT[method] then return false end
  if err.kind == "graph" then return err.is_transient or TRANSIENT_CODES[err.code] or false end
  if err.kind == "timeout" then return true end
  if err.kind == "transport" then return err.reason == "network" end
  if err.kind == "http" or err.kind == "decode" then return (err.status or 0) >= 500 or err.status == 429 end
  return false
end

--- A wait a server asked for, made sane: nil unless a finite number; clamped to 0..MAX_WAIT.
local function sane_wait(n)
  if type(n) ~= "number" or n ~= n then return nil end
  if n < 0 then return 0 end
  if n > MAX_WAIT then return MAX_WAIT end
  return n
end

--- Retry-After in seconds (the delta-seconds form; an HTTP date or anything else is ignored).
local function retry_after_header(headers)
  local v = headers and headers["retry-after"]
  if type(v) == "table" then v = v[1] end
  if type(v) ~= "string" then return nil end
  local num = match(v, "^%s*([+-]?%d[%d.eE+-]*)%s*$")
  return sane_wait(num and tonumber(num))
end

--- Turns a transport response into the decoded value or an error object; list is what to
-- scrub from the error (the call's secrets; the client's by default).
function Client:_interpret(res, list)
  list = list or secrets[self].own
  local headers = res.headers or {}
  local u = usage_m.parse(headers)
  if u then
    u = scrubbed_copy(u, list, 0) -- a server may echo anything into these headers
    self.last_usage = u
  end
  local retry_after = retry_after_header(headers)
  if not retry_after and u then
    local regain = sane_wait(u.regain_access_seconds)
    if regain and regain > 0 then retry_after = regain end
  end
  local status, body = res.status, res.body
  local value, why = nil, "empty body"
  if body and body ~= "" then value, why = json.decode(body) end
  if type(value) == "table" then
    if type(value.error) == "table" then return nil, errors.graph(status, value.error, retry_after, list) end
    if type(value.debug_info) == "table" then
      return nil, errors.debug_info(status, value.debug_info, retry_after, list)
    end
    -- graph.instagram.com's flat shape: { error_type, code, error_message }
    if value.error_type and value.error_message then
      return nil, errors.graph(status, { type = value.error_type, code = value.code,
        message = value.error_message, fbtrace_id = value.fbtrace_id }, retry_after, list)
    end
  end
  if status < 200 or status >= 300 then
    local ctype = headers["content-type"]
    if type(ctype) == "table" then ctype = ctype[1] end -- a repeated header, as nginx gives it
    if value == nil and status >= 500 and type(ctype) == "string" and find(lower(ctype), "json", 1, true) then
      return nil, errors.decode(status, body, why, list)
    end
    return nil, errors.http(status, body, retry_after, list)
  end
  if value == nil then
    if body == "" or body == nil then return true end -- 2xx with no body (e.g. 204)
    return nil, errors.decode(status, body, why, list)
  end
  return value
end

function Client:_backoff(attempt, err)
  local delay = min(self.retry_cap, self.retry_base * 2 ^ (attempt - 1))
  delay = delay / 2 + random() * delay / 2 -- jitter: between half and the whole step
  local after = sane_wait(err.retry_after)
  if after and after > delay then delay = after end
  return delay
end

--- Builds the transport request: URL with version, token header, proof, encoded params.
-- Returns req, list (the call's scrub list, see request), or nil, err (a path _resolve refuses,
-- scrubbed). Raises on programmer mistakes.
function Client:_build(method, path, params, opts)
  if type(method) ~= "string" then error("method must be a string such as 'GET'", 3) end
  if params ~= nil and type(params) ~= "table" then
    error("params must be a table or nil, got " .. type(params), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then error("opts must be a table or nil", 3) end
  opts = opts or {}
  local t = opts.timeout
  if t ~= nil and not (type(t) == "number" and t > 0 and t <= MAX_WAIT) then
    error("opts.timeout must be a number of seconds, more than 0 and at most 86400 (got " .. tostring(t) .. ")", 3)
  end
  local scrub = opts.scrub
  if scrub ~= nil then
    if type(scrub) ~= "table" then error("opts.scrub must be a list of strings", 3) end
    for i = 1, #scrub do
      if type(scrub[i]) ~= "string" then error("opts.scrub must be a list of strings", 3) end
    end
  end
  method = method:upper()
  local s = secrets[self]
  local list = self:_call_secrets(path, params, scrub)
  local url, extra = self:_resolve(path, opts.versioned == false)
  if not url then return nil, scrub_error(extra, list) end
  for k, v in pairs(params or {}) do extra[k] = v end
  local on_rupload = find(url, "^https?://[^/]+/ig%-api%-upload/") ~= nil -- no proof for the upload host
  if s.proof and not on_rupload then extra.appsecret_proof = s.proof end

  local headers = { Accept = "application/json" }
  if s.token then headers.Authorization = (opts.auth or "Bearer") .. " " .. s.token end
  if opts.headers then for k, v in pairs(opts.headers) do headers[k] = v end end
  local body
  local ok, encoded = pcall(params_m.encode, extra)
  if not ok then error(encoded, 3) end
  if method == "POST" or method == "PUT" then
    if opts.json then
      local q = s.proof and ("appsecret_proof=" .. s.proof) or ""
      extra.appsecret_proof = nil
      local jbody, jerr = json.encode(extra)
      if not jbody then error("cannot encode params as JSON: " .. jerr, 3) end
      body = jbody
      headers["Content-Type"] = "application/json"
      if q ~= "" then url = url .. "?" .. q end
    else
      body = encoded
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
  elseif encoded ~= "" then
    url = url .. "?" .. encoded
  end
  if #url > MAX_URL then
    return nil, scrub_error(errors.new{ kind = "transport", reason = "invalid",
      message = "refusing a URL longer than 64 KiB (" .. #url .. " bytes)" }, list)
  end
  return { method = method, url = url, headers = headers, body = body, timeout = opts.timeout }, list
end

--- With `throttle`, slow down as usage nears 100%, and refuse to call while the API has said
-- the app is blocked (estimated_time_to_regain_access).
function Client:_throttle()
  local t, u = self.throttle, self.last_usage
  if not (t and u) then return end
  local now = self.now()
  local blocked_until = self.blocked_until
  if blocked_until and now < blocked_until then
    local wait = sane_wait(blocked_until - now) or MAX_WAIT
    return errors.new{ kind = "blocked", retry_after = wait, is_transient = true,
      message = ("rate limited: the API said access returns in about %d s; not calling until then"):format(
        math.ceil(wait)) }
  end
  local pct = u.max_percent
  if type(pct) ~= "number" or pct ~= pct then pct = 0 end
  if pct >= t.threshold then
    local share = min(1, (pct - t.threshold) / math.max(1, 100 - t.threshold))
    local delay = t.max_delay * share
    if delay > 0 then
      if t.on_throttle then t.on_throttle(delay, pct) end
      self.sleep(delay)
    end
  end
end

--- request(method, path, params [, opts]) -> value | nil, err
-- opts: timeout (seconds, 0 < t <= 86400), json (send params as a JSON body), headers (extra
-- request headers), versioned = false (no version prefix: the unversioned OAuth token
-- endpoints), auth = "OAuth" (the Authorization scheme; "Bearer" by default, rupload documents
-- "OAuth"), scrub = { "string", ... } (more secrets this call carries).
-- Every error this call returns, and every argument it hands to on_retry, is scrubbed of the
-- call's secrets: the client's (token, app secret, proof), the values of the params named in
-- instagram.client.SECRET_PARAMS (access_token, input_token, fb_exchange_token, client_secret,
-- code, appsecret_proof, refresh_token), whether in params or in the path's query, and the
-- strings of opts.scrub; each also as it reads percent-encoded. on_retry's path has its
-- secret-bearing query parameters removed.
-- Retries what is safe to retry (see retryable), with backoff; honours the throttle.
function Client:request(method, path, params, opts)
  if self.auto_refresh then self:_maybe_refresh() end
  local req, list = self:_build(method, path, params, opts)
  if not req then return nil, list end
  method = req.method
  local attempt = 0
  while true do
    attempt = attempt + 1
    local terr = self:_throttle()
    if terr then return nil, terr end
    local res, reason, message = self.transport:request(req)
    local value, err
    if res then value, err = self:_interpret(res, list)
    else err = errors.transport(reason, message, list) end
    if not err then return value end
    scrub_error(err, list)
    err.attempts = attempt
    self:_note_block(err)
    if attempt > self.retries or not retryable(method, err) then return nil, err end
    local delay = self:_backoff(attempt, err)
    if delay > self.retry_max_wait then return nil, err end
    if self.on_retry then
      self.on_retry(err, attempt, delay, method, errors.scrub(strip_query(path, list, true), list))
    end
    self.sleep(delay)
  end
end

--- start_get(path, params) -> handle with :finish() -> value | nil, err (and :cancel()), or nil
-- when the transport cannot start requests. The GET is sent now and collected at finish; a
-- failure that is safe to retry is retried then, as request() would.
function Client:start_get(path, params)
  if not self.transport.start then return nil end
  local req, list = self:_build("GET", path, params, nil)
  if not req then return nil end
  local terr = self:_throttle()
  if terr then return nil end
  local ok, handle = pcall(self.transport.start, self.transport, req)
  if not ok then return nil end
  return {
    finish = function()
      local res, reason, message = handle.finish()
      local value, err
      if res then value, err = self:_interpret(res, list) else err = errors.transport(reason, message, list) end
      if not err then return value end
      scrub_error(err, list)
      err.attempts = 1
      self:_note_block(err)
      if self.retries > 0 and retryable("GET", err) then return self:request("GET", path, params) end
      return nil, err
    end,
    cancel = handle.cancel,
  }
end

--- Remembers when a rate-limited app may call again (used by the throttle).
function Client:_note_block(err)
  local after = sane_wait(err.retry_after)
  if self.throttle and err.kind == "graph" and rejected_before_running(err) and after then
    self.blocked_until = self.now() + after
  end
end

--- get_many(requests [, { concurrency = 8 }]) -> values, errors
-- requests: { "/path", { "/path", params }, { path = "/path", params = {...} }, ... }. The GETs run
-- in parallel (curl_multi in the C core, threads of cosockets in nginx); values[i] is the decoded
-- result or false, errors[i] the error or false, in the order asked. Failures that are safe to
-- retry are retried one by one afterwards, as request() would. Errors are scrubbed as request's.
function Client:get_many(requests, opts)
  if type(requests) ~= "table" then error("get_many: requests must be a list", 2) end
  opts = opts or {}
  local concurrency = opts.concurrency or 8
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency > 64 or concurrency % 1 ~= 0 then
    error("get_many: concurrency must be a whole number from 1 to 64", 2)
  end
  local n = #requests
  local built, values, errs = {}, {}, {}
  local paths, plist, lists = {}, {}, {}
  for i = 1, n do
    local r = requests[i]
    local path, params
    if type(r) == "string" then path = r
    elseif type(r) == "table" then path, params = r.path or r[1], r.params or r[2]
    else error("get_many: request " .. i .. " must be a path or { path, params }", 2) end
    paths[i], plist[i] = path, params
    local req, list = self:_build("GET", path, params, nil)
    built[i] = req or false
    lists[i] = req and list or nil
    values[i], errs[i] = false, req and false or list
  end
  local todo, index = {}, {}
  for i = 1, n do
    if built[i] then todo[#todo + 1] = built[i] index[#todo] = i end
  end
  local terr = self:_throttle()
  if terr then
    for i = 1, n do if built[i] then errs[i] = terr end end
    return values, errs
  end
  local results
  if self.transport.many and #todo > 0 then
    results = self.transport:many(todo, concurrency)
  else
    results = {}
    for k, req in ipairs(todo) do
      local res, reason, message = self.transport:request(req)
      results[k] = res or { error = reason, message = message }
    end
  end
  for k, res in ipairs(results) do
    local i = index[k]
    local value, err
    if res.error then err = errors.transport(res.error, res.message, lists[i])
    else value, err = self:_interpret(res, lists[i]) end
    if err then
      scrub_error(err, lists[i])
      err.attempts = 1
      self:_note_block(err)
      if self.retries > 0 and retryable("GET", err) then value, err = self:request("GET", paths[i], plist[i]) end
    end
    values[i], errs[i] = value or false, err or false
  end
  return values, errs
end


--- raw_upload(url, headers, file, offset, progress) -> value | nil, err : one streamed POST of the
-- file from `offset` to a URL on rupload_url, with `Authorization: OAuth <token>`; no retries
-- (instagram.upload resumes on top of it). Raises for a URL on another host; returns nil, err
-- (kind "transport", reason "invalid") for one outside /ig-api-upload/ or with a control byte,
-- a backslash or a dot segment, as _resolve does.
function Client:raw_upload(url, headers, file, offset, progress)
  local base = self.rupload_url .. "/"
  if type(url) ~= "string" or url:sub(1, #base) ~= base then
    error("raw_upload: url must be on rupload_url (" .. self.rupload_url .. ")", 2)
  end
  local s = secrets[self]
  local p = match(sub(url, #base), "^[^?#]*")
  local why = find(url, CONTROL) and "a control byte, space or DEL" or path_problem(p, s.own)
    or (not find(p, "^/ig%-api%-upload/") and "a path outside /ig-api-upload/") or nil
  if why then return refuse("invalid", "refusing an upload URL that holds " .. why) end
  local h = { Accept = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  if s.token then h.Authorization = "OAuth " .. s.token end
  if not self.transport.upload then error("this transport cannot upload files", 2) end
  local res, reason, message = self.transport:upload{ url = url, headers = h, file = file, offset = offset,
    progress = progress, stall_timeout = self.timeout }
  if not res then
    if reason == "aborted" or reason == "file" then
      return nil, errors.new{ kind = "transport", reason = reason, message = errors.scrub(message, s.own) }
    end
    return nil, errors.transport(reason, message, s.own)
  end
  return self:_interpret(res)
end

--- batch(ops [, opts]) -> results | nil, err : see instagram.batch
function Client:batch(ops, opts) return require("instagram.batch").run(self, ops, opts) end

function Client:upload_video(...) return require("instagram.upload").video(self, ...) end
function Client:upload_video_url(...) return require("instagram.upload").video_url(self, ...) end
--- wait_for_container(id [, opts]) -> container | nil, err (see instagram.publish.wait); id as a node's.
function Client:wait_for_container(id, ...)
  return require("instagram.publish").wait(self, require("instagram.node").check_id(id, "IG container", 3), ...)
end

function Client:get(path, params, opts) return self:request("GET", path, params, opts) end
function Client:post(path, params, opts) return self:request("POST", path, params, opts) end
function Client:delete(path, params, opts) return self:request("DELETE", path, params, opts) end

--- Usage reported by the last response that carried usage headers (nil before any).
function Client:usage() return self.last_usage end

--- A pager over a list edge: client:edge("/17841405822304914/media", { fields = "id" })
function Client:edge(path, params, opts)
  return require("instagram.pager").new(self, path, params, opts)
end

--- Node wrappers.
function Client:ig_user(id) return require("instagram.node.ig_user").new(self, id) end
function Client:ig_media(id) return require("instagram.node.ig_media").new(self, id) end
function Client:ig_comment(id) return require("instagram.node.ig_comment").new(self, id) end
function Client:ig_hashtag(id) return require("instagram.node.ig_hashtag").new(self, id) end
function Client:page(id) return require("instagram.node.page").new(self, id) end
function Client:me() return require("instagram.node.misc").me(self) end
function Client:ig_container(id) return require("instagram.node.misc").container(self, id) end
function Client:upcoming_event(id) return require("instagram.node.misc").event(self, id) end

--- hashtag_search(ig_user_id, q) -> hashtag id | nil, err (30 unique hashtags per user per 7 days)
function Client:hashtag_search(user_id, q) return require("instagram.node.ig_hashtag").search(self, user_id, q) end

--- oembed(url [, { maxwidth, omitscript, fields }]) -> the embed (html, author_name, ...) | nil, err
function Client:oembed(url, params)
  if type(url) ~= "string" or not url:match("^https?://") then error("oembed: url of an Instagram post is required", 2) end
  local p = { url = url }
  for k, v in pairs(params or {}) do p[k] = v end
  return self:get("/instagram_oembed", p)
end

--- metadata(id) -> the node with metadata = { fields = {...}, type } (GET /{id}?metadata=1)
function Client:metadata(id)
  return self:get("/" .. require("instagram.node").check_id(id, "node"), { metadata = 1 })
end

function Client:close()
  if self.transport.close then self.transport:close() end
end

return _M
