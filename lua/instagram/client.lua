--- The Graph API client: URLs, tokens, appsecret_proof, decoding, errors, retries, usage.
--
-- @{new} (also `instagram.new`) makes a @{Client}; its options are listed at @{new_options}.
-- Every call returns the decoded JSON answer, or `nil, err` with an @{instagram.error.Error} for
-- anything the network or the API can do (nothing a server sends makes a call raise); misuse (a
-- wrong argument type, an unknown option, a number out of range) raises a Lua error at the caller.
--
-- The token travels in the `Authorization` header, never in a URL; with `app_secret` every call
-- also carries `appsecret_proof`. No secret appears in an error, in `tostring(client)` or in what
-- `on_retry` is given: see @{Client:request} for what each call scrubs.
-- @module instagram.client
-- @usage local instagram = require "instagram"
-- local client = instagram.new{ access_token = os.getenv("IG_TOKEN"), app_secret = os.getenv("IG_APP_SECRET") }
-- local user = client:ig_user("17841405822304914")
-- for media in user:media{ fields = { "id", "caption" }, max_items = 50 }:items() do print(media.id) end
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
local min, max, random, huge, next = math.min, math.max, math.random, math.huge, next

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
  user_agent = "string", http2 = "boolean|string", transport = "table", sleep = "function",
  on_retry = "function", max_body = "number", store = "table", store_key = "string", token_key = "string",
  deadline = "number|boolean", allow_blocking = "boolean", pool_size = "number", keepalive_timeout = "number",
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
  pool_size = { 1, 65536, "a whole number from 1 to 65536", true },
  keepalive_timeout = { 0, MAX_WAIT, "a number of seconds, more than 0 and at most 86400", false, true },
  ["throttle.threshold"] = { 0, 100, "a percentage from 0 to 100" },
  ["throttle.max_delay"] = { 0, MAX_WAIT, "a number of seconds from 0 to 86400" },
}
local THROTTLE = { threshold = "number", max_delay = "number", on_throttle = "function" }

-- The one checker of option tables, top-level and nested alike (instagram.new, a call's opts,
-- wait, throttle, pager, upload, get_many and batch options). known maps each allowed key to its
-- type ("number", "string|token", ...) or to true (any type: checked where it is used). An
-- unknown key raises, naming the function, the key with the table it was in (as "wait.intervall")
-- and the keys allowed; level is the level the caller would give error().
local function type_ok(v, want)
  for t in gmatch(want, "[^|]+") do
    if type(v) == t or (t == "token" and token_m.is_token(v)) then return true end
  end
  return false
end

local function check_options(fn, where, t, known, level)
  if t == nil then return end
  local prefix = where and (where .. ".") or ""
  if type(t) ~= "table" then
    error(format("%s: option%s must be a table, got %s", fn, where and (" '" .. where .. "'") or "s", type(t)), level + 1)
  end
  for k, v in pairs(t) do
    local want = known[k]
    if want == nil then
      local names = {}
      for name in pairs(known) do names[#names + 1] = name end
      table.sort(names)
      error(format("%s: unknown option '%s%s' (known: %s)", fn, prefix, tostring(k), concat(names, ", ")), level + 1)
    end
    if want ~= true and not type_ok(v, want) then
      local shown = gsub(gsub(want, "|token", " or an instagram.token"), "|", " or a ")
      error(format("%s: option '%s%s' must be a %s, got %s", fn, prefix, k, shown, type(v)), level + 1)
    end
  end
end
_M.check_options = check_options

--- Checks an options table against the names and types it may hold, as @{new} and the calls do
-- (a helper for the library's modules, and for wrappers of your own that want the same messages).
-- @function check_options
-- @tparam string fn the function to name in the message (`"instagram.new"`, `"client:get"`)
-- @tparam ?string where the option table's own name (`"opts"`, `"throttle"`), prefixed to each key
-- @param t the options; nil passes
-- @tparam table known `{ [name] = want }`: `want` is `true` (any type) or type names joined by `|`
--   (`"string|token"`, where `token` is an @{instagram.token.Token})
-- @tparam integer level the `error` level, as for `error` from the function that calls this
-- @treturn nil nothing, when the options are fine
-- @raise `"<fn>: unknown option '<where>.<key>' (known: ...)"`, `"<fn>: option '<key>' must be a
--   <type>, got <type>"`, or `"<fn>: options must be a table"` when `t` is not a table
-- @usage require("instagram.client").check_options("my_call", "opts", opts, { limit = "number" }, 2)

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
  check_options("instagram.new", "throttle", t, THROTTLE, 3)
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

--- The options of @{new} (`instagram.new`): every one is optional.
-- Unknown options, wrong types and numbers out of range raise, naming the option and its range.
-- Numbers in seconds may have fractions; "whole" ones may not.
-- @table new_options
-- @tfield[opt] string|Token access_token the access token, or an @{instagram.token.Token} (needed
--   for `auto_refresh`); sent as `Authorization: Bearer ...`, never in a URL; not empty
-- @tfield[opt] string app_secret the app secret: every call then carries `appsecret_proof =
--   HMAC-SHA256(app_secret, access_token)`; not empty
-- @tfield[opt="v24.0"] string version the Graph API version, like `"v24.0"` (`v<digits>.<digits>`);
--   prefixed to every path that does not name one
-- @tfield[opt="https://graph.facebook.com"] string graph_url scheme and host (and port) only, no path
--   or trailing slash (`https://graph.instagram.com`, an emulator's); `http://` only for loopback
--   hosts (127.0.0.0/8, `localhost`, `[::1]`)
-- @tfield[opt="https://rupload.facebook.com"] string rupload_url the resumable-upload host; same rule
-- @tfield[opt=30] number timeout seconds per request (more than 0, at most 86400); also the stall
--   limit of each upload piece
-- @tfield[opt=10] number connect_timeout seconds to connect (more than 0, at most 86400)
-- @tfield[opt=67108864] integer max_body the largest answer accepted, in bytes (whole, 1 to
--   4294967296 = 4 GiB; default 64 MiB); a larger one fails with `reason = "size"`
-- @tfield[opt] string ca_file a CA bundle to trust besides the system's (the emulator's); must be a
--   readable regular file. TLS verification is always on. Inside nginx trust comes from
--   `lua_ssl_trusted_certificate` and this file is only checked
-- @tfield[opt=3] integer retries how many times a failed call is made again, 0 to 10 (whole); only
--   calls that are safe to repeat (see @{Client:request})
-- @tfield[opt=0.5] number retry_base seconds of the first backoff step (0 to 86400); each retry
--   doubles it, with jitter (between half and the whole step)
-- @tfield[opt=8] number retry_cap the longest backoff step, seconds (0 to 86400)
-- @tfield[opt=60] number retry_max_wait seconds: a retry that would wait longer (a server's
--   `Retry-After`, the usage headers' time to regain access) is not made and the error is returned
-- @tfield[opt] string user_agent the `User-Agent` (default `instagram-graph-lua/<version>`); no
--   control characters, at most 4096 bytes
-- @tfield[opt=true] boolean|string http2 where libcurl speaks HTTP/2 (the server willing): `true`
--   for requests that run at once (`get_many`), HTTP/1.1 one at a time (less work a call, see
--   `make bench`); `"always"`; `false` never. The nginx transport always speaks HTTP/1.1.
-- @tfield[opt=auto] table transport the object that sends requests. The default is
--   @{instagram.transport.auto}: the cosocket transport (@{instagram.transport.ngx}) inside nginx
--   phases that allow cosockets, libcurl (@{instagram.transport.curl}) elsewhere, chosen call by
--   call, made with `timeout`, `connect_timeout`, `ca_file`, `user_agent`, `http2` and `max_body`.
--   Any object with `:request(req)` will do (see @{instagram.transport.curl.Transport:request} for
--   the contract); `:upload`, `:many`, `:start`, `:close`, `.sleep` and `.now` are used when present.
--   The nginx transport's own `pool_size` and `keepalive_timeout` are set by passing
--   `transport = require("instagram.transport.ngx").new{ pool_size = 64 }` (nginx only)
-- @tfield[opt] function sleep `sleep(seconds)` between retries and throttle waits; default the
--   transport's (`ngx.sleep` inside nginx) or `instagram.core.sleep`
-- @tfield[opt] function on_retry called before each retry as `on_retry(err, attempt, delay, method,
--   path)`: the scrubbed error, the attempt that failed (1 = the first), the seconds about to be
--   slept, the method, and the path without its secret-bearing query parameters
-- @tfield[opt] table throttle slow down as usage nears 100%, and refuse calls (`kind = "blocked"`)
--   while the API has said the app is blocked: `{ threshold = 75, max_delay = 30, on_throttle }`:
--   from `threshold` percent (0 to 100) of the highest usage, sleep up to `max_delay` seconds (0 to
--   86400) before each call, growing linearly to 100%; `on_throttle(delay, percent)` is called
--   before each such sleep. Other keys raise
-- @tfield[opt] table store an @{instagram.store} shared with other clients (the workers of an
--   nginx: `store.shdict`; machines: `store.redis`): a block the API reports to any of them
--   (`kind = "blocked"` until access returns) is honoured by all without a call, and with
--   `throttle` the latest usage headers any of them saw slow all of them down. Costs one store
--   read a call (the block); the usage is read at most once a second and written when it changes.
--   A store that fails never fails a call
-- @tfield[opt] string store_key names this app's state in the store (1 to 100 bytes); default: a
--   hash of `app_secret`, or `"default"` without one (clients of different apps sharing a store
--   without an app secret need their own key)
-- @tfield[opt] number|boolean deadline seconds one call may take in all, its retries and throttle
--   sleeps included (more than 0, at most 86400): a retry or a throttle sleep that would end past
--   it is not made, and the call answers its error with `retry_after` (a throttle sleep:
--   `kind = "blocked"`, `reason = "deadline"`), and no attempt starts past it; the timeout of a
--   GET, HEAD, DELETE or PUT is cut to what is left (a POST keeps its own: one cut short may have
--   been carried out all the same). A container wait (@{Client:wait_for_container} and the
--   publishing flows' waits) holds to one deadline from its start: no poll or pause past it
--   (`kind = "publish"`, `reason = "deadline"`, with `container_id`: wait again later); the
--   backoff of @{Client:upload_video} pauses only within it.
--   Default: 5 seconds in nginx's request phases (server_rewrite, rewrite, access, content), where a client waits
--   on the answer, none elsewhere; `false`: none anywhere
-- @tfield[opt=false] boolean allow_blocking inside nginx, let a call from a phase without cosockets
--   (init, init_worker, log, header and body filters) go through libcurl, blocking the worker;
--   without it such a call raises, naming the phase (the default transport)
-- @tfield[opt=32] integer pool_size inside nginx: connections kept per origin in nginx's
--   keep-alive pool (1 to 65536; the default transport)
-- @tfield[opt=60] number keepalive_timeout inside nginx: seconds an idle connection stays in the
--   pool (the default transport)
-- @tfield[opt] string token_key with `store` (one with `add` and `delete`): the name of the token
--   every client of the app sharing the store uses (1 to 200 bytes; kept under the app's
--   `store_key`). The first call shares this client's token when the store has none (or one that
--   lapses sooner), else takes the store's; each client reads it again at most once a second (at
--   once after an answer with code 190); @{Client:set_access_token} saves there. Give a token its
--   real `expires_at`: a client started with one that seems to lapse later shares it. With `auto_refresh` the token is refreshed
--   **once across the fleet** (a lock in the store): the others go on with the still-valid token
--   (an expired one cannot be refreshed) and take up the new one within a second of its saving.
--   The store then holds the token: see @{instagram.token.Token:save}
-- @tfield[opt] table auto_refresh an @{instagram.oauth} object (anything with `:refresh(token)`):
--   the token is refreshed before a call when it is within `refresh_margin` of its expiry;
--   needs `access_token` to be an @{instagram.token.Token}
-- @tfield[opt=604800] number refresh_margin seconds before expiry from which `auto_refresh` renews
--   the token (default 7 days; 0 to 31536000)
-- @tfield[opt] function on_refresh `on_refresh(new_token, err)` after each automatic refresh: the new
--   @{instagram.token.Token}, or nil and the error (the old token stays in use)

--- Makes a client.
-- Checks every option (see @{new_options}) and makes the default transport; no request is sent.
-- @tparam[opt] table opts the options, see @{new_options}
-- @treturn Client the client
-- @raise when `opts` is not a table; for an unknown option, an option of the wrong type, a number
--   out of its range, an empty `access_token` or `app_secret`, a malformed `version`, `graph_url`
--   or `rupload_url` (or `http://` to a host that is not loopback), an unreadable `ca_file`, and
--   `auto_refresh` without a token object or without a `:refresh` method
-- @usage local instagram = require "instagram"
-- local client = instagram.new{
--   access_token = os.getenv("IG_TOKEN"), app_secret = os.getenv("IG_APP_SECRET"),
--   timeout = 10, retries = 2, on_retry = function(err, attempt, delay) print("retry", attempt, delay, err) end,
-- }
function _M.new(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error("instagram.new: options must be a table, got " .. type(opts), 2) end
  check_options("instagram.new", nil, opts, OPTIONS, 2)
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
    -- Opened without blocking, regular files only (io.open would wait forever on a FIFO).
    local ok, why = core.regular_file(opts.ca_file)
    if not ok then error("instagram.new: option 'ca_file': " .. tostring(why), 2) end
  end
  local retries = opts.retries or 3
  local st = opts.store
  if st ~= nil and not (type(st.get) == "function" and type(st.set) == "function") then
    error("instagram.new: option 'store' must be an instagram.store (get and set methods)", 2)
  end
  if opts.store_key ~= nil and (opts.store_key == "" or #opts.store_key > 100) then
    error("instagram.new: option 'store_key' must be a string of 1 to 100 bytes", 2)
  end
  if opts.token_key ~= nil and (not st or opts.token_key == "" or #opts.token_key > 200) then
    error("instagram.new: option 'token_key' must be a string of 1 to 200 bytes, with a store", 2)
  end
  if opts.token_key ~= nil and not (type(st.add) == "function" and type(st.delete) == "function") then
    error("instagram.new: option 'token_key' needs a store with add and delete (the refresh lock)", 2)
  end
  -- the app's shared state: named by the caller, else by the app secret (hashed), else one for all
  local store_key = opts.store_key
  if not store_key then
    store_key = opts.app_secret and core.hmac_sha256_hex("instagram-store", opts.app_secret):sub(1, 16) or "default"
  end

  local deadline = opts.deadline
  if deadline == true or (type(deadline) == "number" and not (deadline > 0 and deadline <= MAX_WAIT)) then
    error("instagram.new: option 'deadline' must be a number of seconds, more than 0 and at most 86400, or false"
      .. " (got " .. tostring(deadline) .. ")", 2)
  end
  local transport = opts.transport or default_transport{
    timeout = opts.timeout or 30, connect_timeout = opts.connect_timeout, ca_file = opts.ca_file,
    user_agent = opts.user_agent, http2 = opts.http2, max_body = opts.max_body,
    allow_blocking = opts.allow_blocking, pool_size = opts.pool_size, keepalive_timeout = opts.keepalive_timeout,
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
    auto_refresh = opts.auto_refresh,
    refresh_margin = opts.refresh_margin or 7 * 86400,
    on_refresh = opts.on_refresh,
    now = transport.now or core.now,
    store = st,
    store_key = st and ("app:" .. store_key .. ":") or nil,
    deadline = deadline, -- nil: REQUEST_DEADLINE in nginx's request phases; false: none
    throttle = opts.throttle and {
      threshold = opts.throttle.threshold or 75, max_delay = opts.throttle.max_delay or 30,
      on_throttle = opts.throttle.on_throttle,
    } or nil,
  }, Client)
  -- want: the only headers of an answer the client reads (_interpret: these two and the usage
  -- module's), which it tells its transport (a transport may leave out the rest); a list of its own,
  -- so a transport that changes it changes nothing for other clients
  local want = { "content-type", "retry-after" }
  for _, name in ipairs(usage_m.HEADERS) do want[#want + 1] = name end
  secrets[c] = { app_secret = opts.app_secret, want = want }
  if opts.access_token then c:set_access_token(opts.access_token) else set_list(secrets[c], opts.app_secret) end
  if opts.token_key then -- (after the token is set: it is shared on the first call, not here)
    c.token_key = c.store_key .. "token:" .. opts.token_key
    secrets[c].lock_id = core.random_token(12) -- who holds the refresh lock (OpenSSL's randomness)
  end
  return c
end

--- A client of the Graph API, made by @{new}.
-- `tostring(client)` shows its `graph_url` and `version`, never a secret. Its public fields
-- (read them, do not change them) include `version`, `graph_url`, `rupload_url`, `timeout`,
-- `retries` and `transport`; the token and app secret are kept elsewhere.
--
-- Calls (@{Client:get}, @{Client:post}, @{Client:delete}, @{Client:request}) return the decoded
-- answer or `nil, err`; pagers (@{Client:edge}) and node wrappers (@{Client:ig_user} ...) build on
-- them.
-- @type Client

--- The `appsecret_proof` this client sends, for callers that build requests by hand.
-- @treturn ?string the proof (64 hex digits), or nil without `app_secret` or without a token
-- @raise never raises
-- @usage local proof = client:appsecret_proof()
function Client:appsecret_proof() return secrets[self].proof end

-- With store and token_key: the fleet's token lives in the store, under the app's store_key
-- ("app:<key>:token:<token_key>"). It is read at most once a second (at once after an answer
-- said the token is invalid, code 190) and adopted when it changed and reads as a token; an empty
-- store gets this client's, and on its first look a store holding one that lapses sooner. A refresh
-- takes the lock "<that key>:refresh" (store:add, REFRESH_LOCK_TTL); the others go on with the
-- token, still valid (an expired one is never refreshed), and take up the new one when it is saved.
-- A refresh that failed, or gave a token that already needs one, is not tried again for
-- REFRESH_PAUSE seconds.
local TOKEN_READ_EVERY = 1
local REFRESH_LOCK_TTL = 30
local REFRESH_PAUSE = 60

-- What a token may be to be sent: printable, no spaces or line breaks, at most 4 KiB (a store
-- holding anything else is not believed).
local sendable = token_m.is_sendable

-- How many replaced tokens (and their proofs) errors are still scrubbed of: a replaced token is
-- usually still valid, and a server (or a refresh's answer) may echo it after the change.
local KEEP_REPLACED = 2

local function set_token(self, token, obj)
  local s = secrets[self]
  if s.token and s.token ~= token then
    local old = s.replaced or {}
    table.insert(old, 1, { s.token, s.proof })
    old[KEEP_REPLACED + 1] = nil
    s.replaced = old
  end
  s.token, s.token_obj = token, obj
  s.proof = s.app_secret and core.hmac_sha256_hex(s.app_secret, token) or nil
  local r1, r2 = s.replaced and s.replaced[1] or {}, s.replaced and s.replaced[2] or {}
  set_list(s, s.token, s.app_secret, s.proof, r1[1], r1[2], r2[1], r2[2])
end

-- Shares this client's token; first: only into an empty store (add), so that a token another
-- worker saved meanwhile (a refresh) is never overwritten by the one this worker started with.
local function save_token(self, first)
  local s = secrets[self]
  local obj = s.token_obj or token_m.new{ access_token = s.token }
  s.token_text = nil -- read back (once) on the next pull
  pcall(obj.save, obj, self.store, self.token_key, first)
end

--- Replaces the access token; the `appsecret_proof` is recomputed.
-- Later calls (and retries of calls already running) use the new token. With `store` and
-- `token_key` it is saved there too, and every client sharing them takes it up within a second.
-- @tparam string|Token token a non-empty token string, or an @{instagram.token.Token} (which
--   `auto_refresh` needs to know the expiry)
-- @treturn nil nothing
-- @raise when `token` is neither a non-empty string nor a token object
-- @usage local t, err = oauth:exchange_code(code)
-- if t then client:set_access_token(t) end
function Client:set_access_token(token)
  local obj
  if token_m.is_token(token) then obj, token = token, token.access_token end
  if type(token) ~= "string" or token == "" then
    error("set_access_token: token must be a non-empty string or an instagram.token", 2)
  end
  set_token(self, token, obj)
  if self.token_key then save_token(self) end
end

--- The token object in use.
-- @treturn ?Token the @{instagram.token.Token}, or nil when the client was given a plain string
-- @raise never raises
-- @usage local t = client:token()
-- if t and t:needs_refresh(86400) then print("the token expires within a day") end
function Client:token() return secrets[self].token_obj end

-- With auto_refresh: refresh the token when it is within refresh_margin of expiry and may be
-- refreshed. A failed refresh leaves the current token in place and is reported to on_refresh.
local function pull_token(self, force)
  local s = secrets[self]
  local now = self.now()
  if not force and s.token_read_at and now >= s.token_read_at and now - s.token_read_at < TOKEN_READ_EVERY then
    return
  end
  s.token_read_at = now
  local ok, text = pcall(self.store.get, self.store, self.token_key)
  if not ok or (text ~= nil and type(text) ~= "string") then return end
  if text == nil then -- nothing shared yet (or it lapsed): ours, if any
    s.token_seen = true
    if s.token then save_token(self, true) end
    return
  end
  if text == s.token_text then return end
  local got, decoded = pcall(json.decode, text)
  local made, t = pcall(token_m.from_table, got and type(decoded) == "table" and decoded or nil)
  if not made or not sendable(t.access_token) then return end -- not a token: left alone, never shown
  s.token_text = text
  local mine = s.token_obj
  if not s.token_seen and mine and mine.expires_at and (not t.expires_at or mine.expires_at > t.expires_at) then
    s.token_seen = true
    if mine.access_token ~= t.access_token then save_token(self) end -- ours lapses later: ours is shared
    return
  end
  s.token_seen = true
  if t.access_token ~= s.token then set_token(self, t.access_token, t) end
end

-- A refresh that raises, or answers something that is not a token, counts as a failed one.
local function refresh(self, obj)
  local ok, new, err = pcall(self.auto_refresh.refresh, self.auto_refresh, obj)
  if not ok then
    local shown, text = pcall(tostring, new)
    return nil, errors.new{ kind = "oauth", reason = "raised",
      message = "auto_refresh raised: " .. errors.scrub(shown and type(text) == "string" and text or "(an error)",
        secrets[self].own) }
  end
  if new ~= nil and not sendable(token_m.is_token(new) and new.access_token or new) then
    return nil, errors.new{ kind = "oauth", reason = "bad_answer",
      message = "auto_refresh answered a " .. type(new) .. " that is not a token" }
  end
  return new, err
end

function Client:_maybe_refresh()
  local s = secrets[self]
  if self.token_key then pull_token(self) end
  local obj = s.token_obj
  local margin = self.refresh_margin
  if not (self.auto_refresh and obj and obj:needs_refresh(margin)) then return end
  local now = self.now()
  -- a refresh under way (another coroutine's): unless it began longer ago than the fleet's lock
  -- lasts, then its coroutine never came back (a light thread killed, a request ended under it)
  if s.refreshing and now < s.refreshing + REFRESH_LOCK_TTL then return end
  if s.refresh_pause_until and now < s.refresh_pause_until then return end
  local lock
  if self.token_key then
    pull_token(self, true) -- another worker may have refreshed it
    obj = s.token_obj
    if not (obj and obj:needs_refresh(margin)) then return end
    lock = self.token_key .. ":refresh"
    local ok, got = pcall(self.store.add, self.store, lock, s.lock_id, REFRESH_LOCK_TTL)
    -- another worker refreshes: this token is still valid (only a valid one is refreshed), so the
    -- call goes on with it, and the new one is taken up within a second. A store that cannot
    -- answer holds no lock: this client refreshes by itself rather than let the token lapse.
    if ok and got == false then return end
    if not (ok and got == true) then lock = nil end
    if lock then
      pull_token(self, true) -- the lock is ours: is a refresh still needed?
      obj = s.token_obj
      if not (obj and obj:needs_refresh(margin)) then
        pcall(self.store.delete, self.store, lock)
        return
      end
    end
  end
  s.refreshing = now
  local new, err = refresh(self, obj)
  if s.refreshing == now then s.refreshing = nil end -- (not a later refresh's, begun past the 30 s)
  if new then self:set_access_token(new) end
  local after = s.token_obj
  if not new or (after and after:needs_refresh(margin)) then s.refresh_pause_until = now + REFRESH_PAUSE end
  if lock then
    local ok, holder = pcall(self.store.get, self.store, lock)
    if ok and holder == s.lock_id then pcall(self.store.delete, self.store, lock) end
  end
  if self.on_refresh then -- (what the refresh answered is scrubbed of this client's secrets too: its proof)
    if type(err) == "table" then errors.scrub_error(err, s.own)
    elseif type(err) == "string" then err = errors.scrub(err, s.own) end
    self.on_refresh(new, err)
  end
end

--- Scrubs this client's secrets out of a string, for log lines of your own.
-- The token, app secret and proof (plain and percent-encoded), any run of 8 or more bytes of one,
-- and values named like secrets (`access_token=...`) become `[redacted]` (see
-- @{instagram.error.scrub}).
-- @param s the text; a value that is not a string is returned as it is
-- @return `s`, scrubbed
-- @raise never raises
-- @usage ngx.log(ngx.ERR, client:redact("callback failed: " .. url))
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

-- The scrub list of one call: the client's secrets, the values of the call's secret-bearing
-- params (SECRET_PARAMS, in params or in the path's query) and the strings of opts.scrub.
-- Most calls carry none of their own: then the list is the client's own list itself (never
-- changed in place: set_access_token makes a new one), which error.scrub prepares once.
function Client:_call_secrets(path, params, scrub)
  local own = secrets[self].own
  if not scrub and not (type(path) == "string" and find(path, "?", 1, true)) then
    local any = false
    if type(params) == "table" then
      for i = 1, #SECRET_PARAMS do
        if params[SECRET_PARAMS[i]] ~= nil then any = true break end
      end
    end
    if not any then return own end
  end
  local extra = {}
  if type(params) == "table" then
    for i = 1, #SECRET_PARAMS do add_secret(extra, params[SECRET_PARAMS[i]]) end
  end
  local q = query_of(path)
  if q and q ~= "" then
    local decoded = params_m.decode(q)
    for i = 1, #SECRET_PARAMS do add_secret(extra, decoded[SECRET_PARAMS[i]]) end
  end
  if scrub then
    for i = 1, #scrub do add_secret(extra, scrub[i]) end
  end
  if #extra == 0 then return own end
  local list = {}
  for i = 1, #own do list[i] = own[i] end
  for i = 1, #extra do list[#own + i] = extra[i] end
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

-- For modules that build error objects of their own (batch): scrub every string of err.
function Client:_scrub_error(err, list) return scrub_error(err, list or secrets[self].own) end

-- Every 8-byte run of each secret of a list (of those of 8 bytes or more: a shorter one would
-- match ids and cursors by chance), made once per list.
local RUN = 8
-- What holds_secret looks for in a list, made once per list: its secrets, those that are hex (an
-- app secret, a proof: the same value in either case) in lower case apart, and every 8-byte run
-- of each (the hex ones' in lower case).
local looks_of = setmetatable({}, { __mode = "k" })
local function looks(list)
  local l = looks_of[list]
  if l then return l end
  l = { plain = {}, hex = {}, runs = {}, hex_runs = {} }
  local seen, seen_run = {}, {}
  for i = 1, #list do
    local secret = list[i]
    local is_hex = not find(secret, "[^%x]") and find(secret, "%a") ~= nil -- (digits alone: as written)
    if is_hex then secret = lower(secret) end
    if #secret >= RUN and not seen[secret] then
      seen[secret] = true
      local whole, runs = is_hex and l.hex or l.plain, is_hex and l.hex_runs or l.runs
      whole[#whole + 1] = secret
      for j = 1, #secret - RUN + 1 do
        local r = sub(secret, j, j + RUN - 1)
        if not seen_run[r] then seen_run[r] = true; runs[#runs + 1] = r end
      end
    end
  end
  looks_of[list] = l
  return l
end

local function any_in(s, pieces)
  for i = 1, #pieces do
    if find(s, pieces[i], 1, true) then return true end
  end
  return false
end

--- Does s hold a secret of the list (of 8 bytes or more; hex ones in any case)? With `part`, also
-- any 8-byte run of one: for what a pager keeps of a server's answer (a cursor, a next URL), where
-- part of a token is as bad as the token. (Not for the caller's own paths: an id may share 8
-- digits with a token.)
local function holds_secret(s, list, part)
  if type(s) ~= "string" or #s < RUN then return false end
  local l = looks(list)
  if any_in(s, part and l.runs or l.plain) then return true end
  local hex = part and l.hex_runs or l.hex
  return #hex > 0 and any_in(lower(s), hex)
end

-- Does s hold a secret of this client (its token, app secret or proof, plain or percent-encoded)?
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

local MAX_URL = 65536 -- the longest URL a transport takes (the C core and nginx's alike)

-- Does s, as written or percent-decoded, hold a secret of the list or a run of one?
local function holds_any(s, list)
  return holds_secret(s, list, true) or (find(s, "%", 1, true) ~= nil and holds_secret(core.url_decode(s), list, true))
end

-- s scrubbed of the list's secrets; "[redacted]" whole when what is left still holds one or a run
-- of one (percent-encoded, which a scrub does not decode).
local function clean_text(s, list)
  local scrubbed = errors.scrub(s, list)
  return holds_any(scrubbed, list) and "[redacted]" or scrubbed
end

-- A pager's paging table (t, at depth), made fit to hand back: strings holding a secret of the list
-- (or a run of one, plain or percent-encoded) cleaned (clean_text), keys too; what is deeper than 4
-- levels, longer than a URL may be, or past the 64th string, dropped (a real paging has a handful
-- of strings; the cost of looking is bounded whatever a server sent).
local function scrub_strings(t, list, depth, budget)
  local renamed, dropped
  for k, v in pairs(t) do
    budget.n = budget.n - 1
    if budget.n < 0 or depth > 4 or (type(v) == "string" and #v > MAX_URL) then
      dropped = dropped or {}; dropped[#dropped + 1] = k
    else
      if type(v) == "string" then
        if holds_any(v, list) then t[k] = clean_text(v, list) end
      elseif type(v) == "table" then
        scrub_strings(v, list, depth + 1, budget)
      end
      if type(k) == "string" and (#k > MAX_URL or holds_any(k, list)) then renamed = renamed or {}; renamed[k] = true end
    end
  end
  for i = 1, dropped and #dropped or 0 do t[dropped[i]] = nil end
  for k in pairs(renamed or {}) do
    if t[k] ~= nil then t[#k > MAX_URL and "[redacted]" or clean_text(k, list)], t[k] = t[k], nil end
  end
end

-- A link of an answer without its access_token and appsecret_proof parameters (their names
-- percent-decoded, in any case), or u itself when it has none.
local function strip_named(u)
  local head, query, frag = match(u, "^([^?#]*)%??([^#]*)(#?.*)$")
  local kept, dropped = {}, false
  for pair in gmatch(query, "[^&]+") do
    local k = match(pair, "^[^=]*")
    if find(k, "%", 1, true) then k = core.url_decode(k) end
    k = lower(k)
    if k == "access_token" or k == "appsecret_proof" then dropped = true else kept[#kept + 1] = pair end
  end
  local lf = lower(frag)
  if find(lf, "token", 1, true) or find(lf, "proof", 1, true) then frag, dropped = "", true end
  if not dropped then return u end
  return head .. (#kept > 0 and "?" .. concat(kept, "&") or "") .. frag
end

-- pg[k], a link of an answer's paging, without its access_token and appsecret_proof parameters
-- (the API may write the token it was called with there): looked for only in a link that has
-- "token" or "proof" in any case, or a '%' (two plain finds on every answer with paging). Linear
-- in the link: one too long to follow stays one, without them.
local function strip_link(pg, k)
  local u = pg[k]
  if type(u) ~= "string" then return end
  local l = lower(u)
  if find(l, "token", 1, true) or find(l, "proof", 1, true) or find(u, "%", 1, true) then
    local kept = strip_named(u)
    if kept ~= u then pg[k] = kept end
  end
end

-- Every answer's (and batch result's) paging links (see strip_link).
local function strip_paging_links(value)
  local pg = value.paging
  if type(pg) ~= "table" then return end
  strip_link(pg, "next")
  strip_link(pg, "previous")
end

-- A page a pager hands back, once its walk has read the links: a link keeps only what strip_query
-- keeps, and is dropped if it still holds a secret of the list or a run of one (in its path: the
-- walk refused to follow it) or is longer than any URL; the rest of its paging, cursors included,
-- goes through scrub_strings.
local function clean_page(page, list)
  local pg = page.paging
  if type(pg) ~= "table" then return end
  for _, k in ipairs{ "next", "previous" } do
    local u = pg[k]
    if type(u) == "string" then
      local kept = #u <= MAX_URL and strip_query(u, list, true, true)
      if not kept or holds_any(kept, list) then pg[k] = nil elseif kept ~= u then pg[k] = kept end
    end
  end
  scrub_strings(pg, list, 0, { n = 64 })
end

-- For the pager: a page cleaned of this client's secrets (clean_page).
function Client:_clean_page(page)
  if type(page) == "table" then clean_page(page, secrets[self].own) end
end

-- For batch results: an answer's paging links (strip_paging_links).
function Client._strip_paging_links(_, value) -- (a method: batch calls it on its client)
  if type(value) == "table" then strip_paging_links(value) end
end

-- ---- URLs ----------------------------------------------------------------------------------

local CONTROL = "[%z\1-\32\127]" -- bytes no URL may carry: C0 controls, space, DEL

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

-- Resolves a path ("/me", "me/accounts", "/v19.0/x") or an absolute URL on one of this client's
-- hosts into base URL + extra params (the query, less access_token, appsecret_proof and any
-- parameter holding a secret of the client: the token travels in the Authorization header).
-- Raises for a path that is not a non-empty string. Returns nil, err (kind "transport") for any
-- path it will not send, so that a server's paging.next never raises:
--   reason "foreign_host": an absolute URL on another origin (scheme, host and port compared;
--     userinfo, other schemes and protocol-relative "//host" refused);
--   reason "invalid": a byte <= 0x20 or 0x7F anywhere; a '.' or '..' segment, plain or
--     percent-encoded; a backslash; an encoded '%', '\' or control byte in the path; a secret of
--     the client in the path; on rupload_url, a path outside /ig-api-upload/.
local function resolve(self, path, unversioned)
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

-- The checks above are most of what building a call costs, and a client calls the same paths
-- again and again: what a path resolved to is kept (up to RESOLVED_MAX paths, then the cache
-- starts over) while the client's hosts, version and secrets are those it was resolved with.
-- A refusal is not kept. The caller gets its own copy of the extra parameters.
local RESOLVED_MAX = 256

function Client:_resolve(path, unversioned)
  if type(path) ~= "string" or path == "" then
    error("path must be a non-empty string such as '/me' or '/17841405822304914/media'", 4) -- (via _build)
  end
  local s = secrets[self] -- (kept with the secrets: the cache knows the client's list)
  local own, c = s.own, s.resolved
  if not c or c.own ~= own or c.graph_url ~= self.graph_url or c.rupload_url ~= self.rupload_url
     or c.version ~= self.version or c.n >= RESOLVED_MAX then
    c = { own = own, graph_url = self.graph_url, rupload_url = self.rupload_url, version = self.version, n = 0,
          [true] = {}, [false] = {} }
    s.resolved = c
  end
  local paths = c[unversioned and true or false]
  local hit = paths[path]
  local url, extra
  if hit then
    url, extra = hit.url, {}
    for k, v in next, hit.extra do extra[k] = v end
    return url, extra
  end
  url, extra = resolve(self, path, unversioned)
  if url and #path <= 2048 then -- (a server's long next URL is not kept: the cache stays small)
    local kept = {}
    for k, v in next, extra do kept[k] = v end
    paths[path] = { url = url, extra = kept }
    c.n = c.n + 1
  end
  return url, extra
end

-- next_url(url) -> the URL with no secret in its query | nil, err : what a pager keeps of a
-- server's paging.next. The URL must resolve (own host, no control byte or dot segment).
function Client:_next_url(url)
  if #url > MAX_URL then -- before any work on it: the client would not send it anyway
    return nil, errors.new{ kind = "transport", reason = "invalid",
      message = "refusing a next URL longer than 64 KiB (" .. #url .. " bytes)" }
  end
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
-- action "suspected to be spam" (the Graph API reference's error codes), not a rate limit.
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

local share_usage -- (below: the shared state)
local call_deadline -- (below, with the throttle)

local APP_H, BUC_H, AD_H = usage_m.HEADERS[1], usage_m.HEADERS[2], usage_m.HEADERS[3]

-- The usage headers of an answer, parsed and scrubbed (a server may echo anything into them), or
-- nil. They change slowly: the same texts as the last answer's (and the same scrub list) give the
-- table made then, so an unchanged header costs three comparisons.
local function usage_of(self, headers, list, from_store)
  local app, buc, ad = headers[APP_H], headers[BUC_H], headers[AD_H]
  if app == nil and buc == nil and ad == nil then return nil end
  local s = secrets[self] -- (kept with the secrets: the cache knows the scrub list)
  local c = s.usage_seen
  if c and c.list == list and c.app == app and c.buc == buc and c.ad == ad then return c.u end
  local u = usage_m.parse(headers)
  if u then u = scrubbed_copy(u, list, 0) end
  s.usage_seen = { list = list, app = app, buc = buc, ad = ad, u = u }
  if self.store and not from_store and u and u.app then share_usage(self, u.app) end
  return u
end

-- ---- state shared through opts.store (issue #14) ------------------------------------------------
-- Only what is the app's, never one user's or one business object's (a user of a multi-tenant app
-- must not be able to stop the others): two keys under the client's store_key, "blocked" (when the
-- API said the app may call again, code 4: seconds since the epoch, the entry's ttl ending with the
-- block) read before every call, and "usage" (the app's X-App-Usage as JSON, made from the parsed
-- and scrubbed header, so an escaped token is scrubbed too) written when it changes and read at most
-- once a second. Blocks and usage of users, pages and business objects (codes 17, 32, 613, 80001+,
-- X-Business-Use-Case-Usage) stay with the client that saw them. The store never fails a call: an
-- error from it counts as nothing known.
local USAGE_READ_EVERY = 1
local USAGE_TTL = 3600 -- the API's usage windows are an hour

local function store_get(self, what)
  local ok, v = pcall(self.store.get, self.store, self.store_key .. what)
  if ok then return v end
  return nil
end

local function store_set(self, what, value, ttl)
  pcall(self.store.set, self.store, self.store_key .. what, value, ttl)
end

share_usage = function(self, app)
  local ok, text = pcall(json.encode, app)
  if not ok or type(text) ~= "string" or #text > 4096 then return end
  local s = secrets[self]
  if text == s.usage_shared then return end
  s.usage_shared = text
  store_set(self, "usage", text, USAGE_TTL)
end

-- The fleet's latest app usage, when this client has not read it for a second (or force), with
-- this client's own business and ad account usage.
local function pull_usage(self, force)
  local s = secrets[self]
  local now = self.now()
  if not force and s.usage_read_at and now - s.usage_read_at < USAGE_READ_EVERY and now >= s.usage_read_at then
    return
  end
  s.usage_read_at = now
  local text = store_get(self, "usage")
  if type(text) ~= "string" or #text > 4096 or text == s.usage_shared then return end
  s.usage_shared = text
  local own = s.usage_seen or {}
  local headers = { [APP_H] = text, [BUC_H] = own.buc, [AD_H] = own.ad }
  local u = usage_of(self, headers, s.own, true)
  if u then s.usage = u end
end

-- Turns a transport response into the decoded value or an error object; list is what to
-- scrub from the error (the call's secrets; the client's by default).
function Client:_interpret(res, list)
  list = list or secrets[self].own
  local headers = res.headers or {}
  local u = usage_of(self, headers, list)
  if u then secrets[self].usage = u end -- (private: what usage() hands out is a copy)
  local retry_after = retry_after_header(headers)
  if not retry_after and u then
    local regain = sane_wait(u.regain_access_seconds)
    if regain and regain > 0 then retry_after = regain end
  end
  local status, body = res.status, res.body
  local value, why = res.value, res.decode_error -- a transport that decoded (instagram.transport.curl)
  if value == nil and why == nil then
    why = "empty body"
    if body and body ~= "" then value, why = json.decode(body) end
  end
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
    if res.decode_error == nil and (body == "" or body == nil) then return true end -- 2xx with no body (e.g. 204)
    return nil, errors.decode(status, body or "", why, list)
  end
  if type(value) == "table" then strip_paging_links(value) end
  return value
end

function Client:_backoff(attempt, err)
  local delay = min(self.retry_cap, self.retry_base * 2 ^ (attempt - 1))
  delay = delay / 2 + random() * delay / 2 -- jitter: between half and the whole step
  local after = sane_wait(err.retry_after)
  if after and after > delay then delay = after end
  return delay
end

-- The options of one call (client:get, post, delete, request): their types are checked where used.
local CALL_OPTS = { timeout = true, scrub = true, json = "boolean", headers = "table", versioned = "boolean",
                    auth = "string" }
local CALL_NAMES = { GET = "client:get", POST = "client:post", DELETE = "client:delete" }
local UPPER = { GET = "GET", POST = "POST", DELETE = "DELETE", PUT = "PUT", HEAD = "HEAD" }
local NO_OPTS = setmetatable({}, { __newindex = function() error("internal: NO_OPTS is read-only", 2) end })
local GET_MANY_OPTS = { concurrency = true }

-- Builds the transport request: URL with version, token header, proof, encoded params.
-- Returns req, list (the call's scrub list, see request), or nil, err (a path _resolve refuses,
-- scrubbed). Raises on programmer mistakes.
function Client:_build(method, path, params, opts)
  if type(method) ~= "string" then error("method must be a string such as 'GET'", 3) end
  if params ~= nil and type(params) ~= "table" then
    error("params must be a table or nil, got " .. type(params), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then error("opts must be a table or nil", 3) end
  method = UPPER[method] or method:upper()
  if opts then check_options(CALL_NAMES[method] or "client:request", "opts", opts, CALL_OPTS, 3)
  else opts = NO_OPTS end
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
  local s = secrets[self]
  local list = self:_call_secrets(path, params, scrub)
  local url, extra = self:_resolve(path, opts.versioned == false)
  if not url then return nil, scrub_error(extra, list) end
  if params then for k, v in pairs(params) do extra[k] = v end end
  if type(extra.fields) == "table" then -- { "id", "caption" } -> "id,caption", as the node wrappers take it
    local fok, f = pcall(params_m.value, extra.fields, "fields")
    if not fok then error(f, 3) end
    extra.fields = f
  end
  local on_rupload = find(url, "/ig-api-upload/", 1, true) ~= nil -- no proof for the upload host
    and find(url, "^https?://[^/]+/ig%-api%-upload/") ~= nil
  if s.proof and not on_rupload then extra.appsecret_proof = s.proof end

  local headers = { Accept = "application/json" }
  if s.token then
    if opts.auth then headers.Authorization = opts.auth .. " " .. s.token
    else -- made once per token (a real one is ~200 bytes)
      if s.bearer_of ~= s.token then s.bearer, s.bearer_of = "Bearer " .. s.token, s.token end
      headers.Authorization = s.bearer
    end
  end
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
  return { method = method, url = url, headers = headers, body = body, timeout = opts.timeout, decode = true,
           want_headers = s.want }, list
end

-- When a call that starts now must be over (seconds, the client's clock), or nil for no limit:
-- the client's deadline, or REQUEST_DEADLINE in nginx's request phases (a client waits there).
local REQUEST_PHASES = { server_rewrite = true, rewrite = true, access = true, content = true }
local REQUEST_DEADLINE = 5

call_deadline = function(self)
  local d = self.deadline
  if d == false then return nil end
  if d == nil then
    local ngx = rawget(_G, "ngx")
    if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return nil end
    local ok, phase = pcall(ngx.get_phase)
    if not (ok and REQUEST_PHASES[phase]) then return nil end
    d = REQUEST_DEADLINE
  end
  return self.now() + d
end

-- The "blocked" error while the API has said the app may not call (this client saw it, or, with a
-- store, any client sharing it), else nil.
function Client:_blocked()
  local blocked_until = self.blocked_until
  local now = self.now()
  if self.store then
    -- the shared block counts while its entry lives (never kept here: when it goes, the block goes)
    -- and only as far as a day ahead (a store may hold anything)
    local shared = store_get(self, "blocked")
    if type(shared) == "number" and shared > now and shared <= now + MAX_WAIT
      and (not blocked_until or shared > blocked_until) then
      blocked_until = shared
    end
  end
  if blocked_until and now < blocked_until then
    local wait = sane_wait(blocked_until - now) or MAX_WAIT
    return errors.new{ kind = "blocked", retry_after = wait, is_transient = true,
      message = ("rate limited: the API said access returns in about %d s; not calling until then"):format(
        math.ceil(wait)) }
  end
end

-- With `throttle`, slow down as usage nears 100%, and refuse to call while the API has said
-- the app is blocked (estimated_time_to_regain_access); with `store`, the block (and the usage)
-- of every client sharing it. The block is checked again after a throttle sleep.
function Client:_throttle(limit)
  local t, st = self.throttle, self.store
  if not (t or st) then return end
  if st and t then pull_usage(self) end
  local u = secrets[self].usage
  if not st and not u then return end
  local berr = self:_blocked()
  if berr or not (t and u) then return berr end
  local pct = u.max_percent
  if type(pct) ~= "number" or pct ~= pct then pct = 0 end
  if pct >= t.threshold then
    local share = min(1, (pct - t.threshold) / math.max(1, 100 - t.threshold))
    local delay = t.max_delay * share
    if delay > 0 then
      if limit and self.now() + delay > limit then
        return errors.new{ kind = "blocked", reason = "deadline", retry_after = delay, is_transient = true,
          message = ("throttled: usage at %d%%, and waiting %.1f s would pass the call's deadline"):format(
            math.floor(pct), delay) }
      end
      if t.on_throttle then t.on_throttle(delay, pct) end
      self.sleep(delay)
      return self:_blocked()
    end
  end
end

-- A GET's first attempt as it may go inside `limit` (the call's deadline; nil: none): req itself, or
-- a copy with its timeout stated (a transport's own may be longer than the client's) and cut to what
-- is left (get_many's and start_get's first attempts, which send below does not make); nil when the
-- deadline has passed already.
local function first_within(self, req, limit)
  if not limit then return req end
  local left = limit - self.now()
  if left <= 0 then return nil end
  local timeout = req.timeout or self.timeout
  if req.timeout and timeout <= left then return req end
  local cut = {}
  for k, v in pairs(req) do cut[k] = v end
  cut.timeout = max(0.001, min(timeout, left))
  return cut
end

local function past_deadline()
  return errors.new{ kind = "blocked", reason = "deadline", is_transient = true,
    message = "the call's deadline passed before it could be sent" }
end

-- What every failed attempt does: scrub the error, count it, note a block, and after code 190 read
-- a shared token again (another worker may have a new one).
local function failed(self, err, list, attempt)
  scrub_error(err, list)
  err.attempts = attempt
  self:_note_block(err)
  if err.code == 190 and self.token_key then secrets[self].token_read_at = nil end
end

-- The attempts of one built request: throttle, send, interpret, and retry while it is safe, allowed
-- and inside `limit` (the call's deadline; nil: none). `attempt` were made already (get_many's
-- first, which failed with `err`); `path` is the caller's, for on_retry.
local function send(self, req, list, path, limit, attempt, err, err_at)
  local method = req.method
  local timeout = req.timeout or self.timeout
  -- only a request that may be sent twice has its timeout cut: a POST cut short may have been
  -- carried out all the same, and a caller would then make it again
  local cut = limit and IDEMPOTENT[method]
  while true do
    if err then
      if attempt > self.retries or not retryable(method, err) then return nil, err end
      local delay = self:_backoff(attempt, err)
      if delay > self.retry_max_wait then return nil, err end
      -- get_many's failures came back together at err_at: the time since counts as waited
      if err_at then delay, err_at = max(0, delay - (self.now() - err_at)), nil end
      if limit and self.now() + delay >= limit then -- no retry at or past the deadline: say when to come back
        if not (type(err.retry_after) == "number" and err.retry_after >= delay) then err.retry_after = delay end
        return nil, err
      end
      if self.on_retry then
        self.on_retry(err, attempt, delay, method, errors.scrub(strip_query(path, list, true), list))
      end
      self.sleep(delay)
    end
    attempt = attempt + 1
    local terr = self:_throttle(limit)
    if terr then return nil, terr end
    if limit and self.now() >= limit then -- no attempt at or past the deadline (a sleep may overrun)
      return nil, err or past_deadline()
    end
    if cut then req.timeout = max(0.001, min(timeout, limit - self.now())) end
    local res, reason, message = self.transport:request(req)
    local value
    if res then value, err = self:_interpret(res, list)
    else err = errors.transport(reason, message, list) end
    if not err then return value end
    failed(self, err, list, attempt)
  end
end

--- Makes one Graph API call (any method), with retries; @{Client:get}, @{Client:post} and
-- @{Client:delete} are this with the method filled in.
--
-- **Paths.** `"/me"`, `"17841405822304914/media"` (a leading `/` is added), `"/v19.0/..."` (a
-- version given wins; otherwise the client's is prefixed), or an absolute URL on the client's own
-- `graph_url` or `rupload_url` (as in `paging.next`); `access_token` and `appsecret_proof` in such a
-- URL's query are dropped (the client sends its own). Refused before anything is sent, as
-- `nil, err` with `kind = "transport"`: a URL on any other host, scheme or port, userinfo, or a
-- protocol-relative `//host` (`reason = "foreign_host"`); a byte up to 0x20 or DEL, a `.` or `..`
-- segment (also `%2e`), a backslash, an encoded `%`, `\` or control byte, a secret of the client in
-- the path, a URL over 64 KiB, a path outside `/ig-api-upload/` on `rupload_url`
-- (`reason = "invalid"`).
--
-- **Parameters.** Strings as they are, numbers exactly (integers as integers), booleans as
-- `true`/`false`, tables JSON-encoded (the API's complex parameters), except `fields`: a list
-- (`{ "id", "caption" }`, items may be @{instagram.fields.edge} strings) is joined with commas.
-- GET and DELETE put them in the query string, POST and PUT in a form body (or a JSON body with
-- `opts.json`).
--
-- **Retries.** A failed call is made again (up to `retries` times, with backoff) only when that
-- cannot do anything twice: for any method, a connection refused before the request was sent and
-- the throttling answers that mean the call was not carried out (codes 4, 17, 32, 341, 613,
-- 80001-80014; never code 4 subcode 2207051, a spam refusal); for GET, HEAD, DELETE, PUT and
-- OPTIONS also timeouts, dropped connections, 5xx and 429, codes 1 and 2 and `is_transient`
-- errors. A wait longer than `retry_max_wait` ends the retries. With `throttle`, the call may
-- first sleep, or be refused (`kind = "blocked"`).
--
-- **Secrets.** Every error this call returns, and every argument it hands to `on_retry`, is
-- scrubbed of the call's secrets: the client's (token, app secret, proof), the values of the
-- parameters named `access_token`, `input_token`, `fb_exchange_token`, `client_secret`, `code`,
-- `appsecret_proof` and `refresh_token` (in `params` or in the path's query), and the strings of
-- `opts.scrub`, each also as it reads percent-encoded.
-- @tparam string method `"GET"`, `"POST"`, `"DELETE"` ... (upper-cased)
-- @tparam string path a path or an absolute URL on the client's hosts (see above)
-- @tparam[opt] table params query or form parameters
-- @tparam[opt] table opts options of this call:
-- @tparam[opt] number opts.timeout seconds for this call (more than 0, at most 86400; default the
--   client's `timeout`)
-- @tparam[opt=false] boolean opts.json send `params` as a JSON body (POST, PUT)
-- @tparam[opt] table opts.headers more request headers, `{ name = value }`
-- @tparam[opt=true] boolean opts.versioned false: no version prefix (the unversioned OAuth
--   endpoints)
-- @tparam[opt="Bearer"] string opts.auth the `Authorization` scheme (the upload host documents
--   `"OAuth"`)
-- @tparam[opt] {string,...} opts.scrub more secrets this call carries, scrubbed from its errors
-- @treturn[1] table|true the decoded JSON answer (`true` for a 2xx answer with an empty body)
-- @treturn[2] nil
-- @treturn[2] Error err what went wrong; `err.attempts` says how many times the call was made
-- @raise when `method` is not a string, `path` is not a non-empty string, `params` or `opts` is
--   neither a table nor nil, `opts` has an unknown key or one of the wrong type, `opts.timeout` is
--   out of range, `opts.scrub` is not a list of strings, or `params` holds a value that cannot be
--   encoded
-- @usage local res, err = client:request("POST", "/17841405822304914/media",
--   { image_url = "https://example.com/a.jpg", caption = "Hello" }, { timeout = 60 })
-- if not res then print(err) else print(res.id) end
function Client:request(method, path, params, opts)
  return self:_request_until(call_deadline(self), method, path, params, opts)
end

-- request, held to a deadline the caller took (a flow of several calls, such as a container wait,
-- under one deadline); nil: none. Called in tail position, so _build's error levels still name
-- request's caller.
function Client:_request_until(limit, method, path, params, opts)
  if self.auto_refresh or self.token_key then self:_maybe_refresh() end
  local req, list = self:_build(method, path, params, opts)
  if not req then return nil, list end
  return send(self, req, list, path, limit, 0)
end

-- When a call (or a flow of calls) that starts now must be over, or nil (see `deadline`).
function Client:_deadline() return call_deadline(self) end

--- Sends a GET now and collects its answer later (what a pager's `prefetch` uses).
-- The request runs while the caller goes on (a started transfer over curl_multi outside nginx, a
-- light thread inside it). `handle.finish()` waits for it and returns what @{Client:get} would (a
-- failure that is safe to retry is retried then); `handle.cancel()` drops it.
-- @tparam string path as for @{Client:request}
-- @tparam[opt] table params query parameters
-- @treturn[1] table the handle `{ finish = function() -> value | nil, err, cancel = function() }`
-- @treturn[2] nil when the call cannot be started (a transport without `:start`, a path the client
--   refuses, the throttle's block, a session already busy, the deadline passed): make the call with
--   @{Client:get}
-- @raise when `path` or `params` have the wrong type (as @{Client:request})
-- @usage local h = client:start_get("/17841405822304914", { fields = "followers_count" })
-- -- ... other work ...
-- local user, err = h and h.finish() or client:get("/17841405822304914", { fields = "followers_count" })
function Client:start_get(path, params)
  local req, list = self:_build("GET", path, params, nil) -- (raises for bad arguments, whatever the transport)
  if not req or not self.transport.start then return nil end
  local limit = call_deadline(self)
  local terr = self:_throttle(limit)
  if terr then return nil end
  local first = first_within(self, req, limit) -- (the request runs on while the caller works: inside the deadline)
  if not first then return nil end
  local ok, handle = pcall(self.transport.start, self.transport, first)
  if not ok then return nil end
  return {
    finish = function()
      local res, reason, message = handle.finish()
      local value, err
      if res then value, err = self:_interpret(res, list) else err = errors.transport(reason, message, list) end
      if not err then return value end
      failed(self, err, list, 1)
      -- retried as a get made now would be: within a deadline from now
      return send(self, req, list, path, call_deadline(self), 1, err, self.now())
    end,
    cancel = handle.cancel,
  }
end

-- Remembers when a rate-limited app may call again (used by the throttle).
function Client:_note_block(err)
  local after = sane_wait(err.retry_after)
  if (self.throttle or self.store) and err.kind == "graph" and rejected_before_running(err) and after and after > 0 then
    local now = self.now()
    local blocked_until = now + after
    if not self.blocked_until or blocked_until > self.blocked_until then self.blocked_until = blocked_until end
    -- only the app's own limit (code 4) is shared; a longer block already shared stays
    if self.store and err.code == 4 then
      local shared = store_get(self, "blocked")
      if not (type(shared) == "number" and shared > blocked_until and shared <= now + MAX_WAIT) then
        store_set(self, "blocked", blocked_until, after)
      end
    end
  end
end

--- Makes many GETs at once.
-- They run in parallel (curl_multi with HTTP/2 multiplexing in the C core, light threads of
-- cosockets in nginx); failures that are safe to retry are retried one by one afterwards, as
-- @{Client:request} would. Errors are scrubbed as request's.
-- @tparam {string|table,...} requests each a path, `{ path, params }` or `{ path = ..., params = ... }`
-- @tparam[opt] table opts
-- @tparam[opt=8] integer opts.concurrency how many requests at a time, 1 to 64
-- @treturn {table|false,...} values `values[i]`: the decoded answer of `requests[i]`, or false
-- @treturn {Error|false,...} errors `errors[i]`: its error, or false
-- @raise when `requests` is not a table, a request is neither a path nor a table, a path or
--   params have the wrong type, `opts` has a key other than `concurrency`, or `concurrency` is out
--   of range
-- @usage local values, errors = client:get_many({ "/17895695668004550", { "/17841405822304914", { fields = "username" } } })
-- for i = 1, #values do print(i, values[i] and values[i].id or tostring(errors[i])) end
function Client:get_many(requests, opts)
  if type(requests) ~= "table" then error("get_many: requests must be a list", 2) end
  check_options("get_many", "opts", opts, GET_MANY_OPTS, 2)
  opts = opts or {}
  local concurrency = opts.concurrency or 8
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency > 64 or concurrency % 1 ~= 0 then
    error("get_many: concurrency must be a whole number from 1 to 64", 2)
  end
  local n = #requests
  local built, values, errs = {}, {}, {}
  local paths, lists = {}, {}
  for i = 1, n do
    local r = requests[i]
    local path, params
    if type(r) == "string" then path = r
    elseif type(r) == "table" then path, params = r.path or r[1], r.params or r[2]
    else error("get_many: request " .. i .. " must be a path or { path, params }", 2) end
    paths[i] = path
    local req, list = self:_build("GET", path, params, nil)
    built[i] = req or false
    lists[i] = req and list or nil
    values[i], errs[i] = false, req and false or list
  end
  local todo, index = {}, {}
  for i = 1, n do
    if built[i] then todo[#todo + 1] = built[i] index[#todo] = i end
  end
  local limit = call_deadline(self)
  local terr = self:_throttle(limit)
  if terr then
    for i = 1, n do if built[i] then errs[i] = terr end end
    return values, errs
  end
  if not (self.transport.many and #todo > 0) then -- one by one, each as request makes it
    for k, req in ipairs(todo) do
      local i = index[k]
      local value, err = send(self, req, lists[i], paths[i], limit, 0)
      values[i], errs[i] = value or false, err or false
    end
    return values, errs
  end
  -- With a deadline the requests go in waves of `concurrency`: a transport counts a request's timeout
  -- from when it leaves its queue, so timeouts cut once for all would let the later ones run past
  -- the deadline. Each wave's are cut to what is left when it starts; none starts past it.
  local results = {}
  local step = limit and concurrency or #todo
  for from = 1, #todo, step do
    local wave = {}
    for k = from, min(#todo, from + step - 1) do
      wave[#wave + 1] = first_within(self, todo[k], limit)
    end
    if #wave == 0 then break end -- (the deadline passed: the rest are not sent)
    local got = self.transport:many(wave, concurrency)
    for j = 1, #wave do results[from + j - 1] = got[j] end
  end
  local came = self.now()
  for k = 1, #todo do
    local res, i = results[k], index[k]
    local value, err
    if not res then err = past_deadline() -- (not sent: nothing to retry)
    elseif res.error then err = errors.transport(res.error, res.message, lists[i])
    else value, err = self:_interpret(res, lists[i]) end
    if err and res then -- retried as request would, inside the same deadline; the waits run from when all came
      failed(self, err, lists[i], 1)
      value, err = send(self, built[i], lists[i], paths[i], limit, 1, err, came)
    end
    values[i], errs[i] = value or false, err or false
  end
  return values, errs
end


-- An upload URL (a container's uri: a server's words) that will not be sent, as an error (scrubbed),
-- or nil: one on another origin than rupload_url (reason "foreign_host": the token goes nowhere
-- else), or with a control byte, a backslash, a dot segment or a path outside /ig-api-upload/
-- (reason "invalid").
function Client:_upload_url_error(url)
  local s = secrets[self]
  if find(url, CONTROL) then
    return errors.new{ kind = "transport", reason = "invalid",
      message = "refusing an upload URL that holds a control byte, space or DEL" }
  end
  local base = self.rupload_url .. "/"
  if lower(sub(url, 1, #base)) ~= lower(base) then
    local origin = match(url, "^(%a[%w+.-]*://[^/?#]*)") or "a URL that is not on an http(s) host"
    return errors.new{ kind = "transport", reason = "foreign_host", message = "refusing to upload to "
      .. errors.scrub(origin, s.own) .. ": uploads go to rupload_url only (" .. self.rupload_url .. "); if that "
      .. "server is yours (the local emulator takes uploads on its graph_url), set rupload_url to it" }
  end
  local p = match(sub(url, #base), "^[^?#]*")
  local why = path_problem(p, s.own) or (not find(p, "^/ig%-api%-upload/") and "a path outside /ig-api-upload/")
    or (holds_any(p, s.own) and "part of a secret of the client") -- (a server-supplied URI)
  if why then
    return errors.new{ kind = "transport", reason = "invalid", message = "refusing an upload URL that holds " .. why }
  end
  return nil
end

--- One streamed POST of a file to the upload host, with no retry.
-- The file is sent from `offset` with `Authorization: OAuth <token>`, never held in memory.
-- @{Client:upload_video} resumes on top of this; use it instead.
-- @tparam string url a URL on `rupload_url`, under `/ig-api-upload/`
-- @tparam[opt] table headers more headers (`offset`, `file_size` ...)
-- @tparam string file the path of a regular file
-- @tparam[opt=0] integer offset where in the file to start
-- @tparam[opt] function progress `progress(sent, total)`; returning false stops the upload
--   (`reason = "aborted"`)
-- @treturn[1] table|true the decoded answer
-- @treturn[2] nil
-- @treturn[2] Error err `kind = "transport"` with `reason = "invalid"` (a URL outside
--   `/ig-api-upload/`, or with a control byte, a backslash or a dot segment), `"file"` (the file
--   cannot be read), `"aborted"`, or any error of a call
-- @raise when `url` is not on `rupload_url`, or the transport cannot upload
-- @usage local res, err = client:raw_upload(client.rupload_url .. "/ig-api-upload/v24.0/17889455560051444",
--   { offset = "0", file_size = "1048576" }, "/tmp/clip.mp4", 0)
function Client:raw_upload(url, headers, file, offset, progress)
  if type(url) ~= "string" then error("raw_upload: url must be a string on rupload_url (" .. self.rupload_url .. ")", 2) end
  local s = secrets[self]
  local uerr = self:_upload_url_error(url)
  if uerr then return nil, uerr end
  -- a server-supplied URI's access_token, appsecret_proof or anything holding a secret is dropped:
  -- the token goes in the Authorization header alone, never in a URL
  if find(url, "?", 1, true) or find(url, "#", 1, true) then url = strip_query(url, s.own, true, true) end
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

--- Runs Graph batch requests: many operations in one HTTP call each 50 (see @{instagram.batch}).
-- @tparam {table,...} ops the operations, each `{ method, relative_url, body, name, depends_on,
--   omit_response_on_success }`
-- @tparam[opt] table opts
-- @tparam[opt=true] boolean opts.include_headers ask for each operation's headers
-- @treturn[1] table `results[i]`: `{ code, headers, body = decoded }`, an @{instagram.error.Error}
--   for a failed operation, or false when the API sent nothing for it
-- @treturn[2] nil when a whole batch call failed
-- @treturn[2] Error err
-- @raise on malformed operations (see @{instagram.batch})
-- @usage local results, err = client:batch{
--   { method = "GET", relative_url = "me/accounts?fields=id", name = "pages" },
--   { method = "GET", relative_url = "{result=pages:$.data.0.id}?fields=name", depends_on = "pages" },
-- }
function Client:batch(ops, opts) return require("instagram.batch").run(self, ops, opts) end

--- Uploads a video file to a container, resumably (see @{instagram.upload}).
-- Streamed from disk; after a dropped connection or a transient failure it asks the container how
-- far it got and continues from there, with backoff.
-- @param ... `uri_or_container_id, path [, opts]`: the `uri` the container's create call returned
--   (or the container id), the file's path, and `opts` = `{ progress = function(sent, total),
--   max_attempts = 6, offset = 0, retry_base = 1, retry_cap = 30 }`
-- @treturn[1] true
-- @treturn[1] table info `{ attempts, offsets = { each attempt's offset }, size }`
-- @treturn[2] nil
-- @treturn[2] Error err (`reason = "file"`: the file cannot be read; `"aborted"`: progress said stop)
-- @raise for a malformed container uri or id, an empty or unnamed file, bad `opts`
-- @usage local ok, info_or_err = client:upload_video(container.uri, "/tmp/reel.mp4", {
--   progress = function(sent, total) print(sent, total) end })
function Client:upload_video(...) return require("instagram.upload").video(self, ...) end
--- Has the upload host fetch a video from a URL into a container (see @{instagram.upload}).
-- @param ... `uri_or_container_id, file_url`: the container's `uri` (or id) and the video's public
--   http(s) URL
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] Error err
-- @raise for a malformed container uri or id, or a `file_url` that is not an http(s) URL
-- @usage assert(client:upload_video_url(container.uri, "https://example.com/reel.mp4"))
function Client:upload_video_url(...) return require("instagram.upload").video_url(self, ...) end
--- Waits until a media container is ready to publish (see @{instagram.publish}).
-- Polls its `status_code` until `FINISHED` (or `PUBLISHED`), sleeping with the client's `sleep`.
-- @tparam string|integer id the container id (digits)
-- @param ... `[opts]`: `{ timeout = 300, interval = 3, max_interval = 60 }` (seconds: the whole wait,
--   the first pause, the longest pause)
-- @treturn[1] table the container `{ id, status_code, status }`
-- @treturn[2] nil
-- @treturn[2] Error err `kind = "publish"` with `reason` `container_error`, `container_expired` or
--   `timeout`, or the error of a call
-- @raise when `id` is not a string of digits (or a whole number)
-- @usage local c, err = client:wait_for_container("17889455560051444", { timeout = 120 })
function Client:wait_for_container(id, ...)
  return require("instagram.publish").wait(self, require("instagram.node").check_id(id, "IG container", 3), ...)
end

--- A GET: @{Client:request} with `method = "GET"` (retried when it fails transiently).
-- @tparam string path a path (`"/me"`, `"17841405822304914/media"`) or an absolute URL on the client's
--   hosts
-- @tparam[opt] table params query parameters (`fields` as `"id,username"` or `{ "id", "username" }`)
-- @tparam[opt] table opts as for @{Client:request}
-- @treturn[1] table the decoded answer
-- @treturn[2] nil
-- @treturn[2] Error err
-- @raise as @{Client:request}
-- @usage local me, err = client:get("/me", { fields = { "id", "username" } })
function Client:get(path, params, opts) return self:request("GET", path, params, opts) end
--- A POST: @{Client:request} with `method = "POST"` (parameters in a form body; never replayed once
-- it may have reached the server).
-- @tparam string path a path or an absolute URL on the client's hosts
-- @tparam[opt] table params form parameters (or a JSON body with `opts.json`)
-- @tparam[opt] table opts as for @{Client:request}
-- @treturn[1] table the decoded answer
-- @treturn[2] nil
-- @treturn[2] Error err
-- @raise as @{Client:request}
-- @usage local res, err = client:post("/17918195224100001/comments", { message = "Nice!" })
function Client:post(path, params, opts) return self:request("POST", path, params, opts) end
--- A DELETE: @{Client:request} with `method = "DELETE"`.
-- @tparam string path a path or an absolute URL on the client's hosts
-- @tparam[opt] table params query parameters
-- @tparam[opt] table opts as for @{Client:request}
-- @treturn[1] table|true the decoded answer (usually `{ success = true }`)
-- @treturn[2] nil
-- @treturn[2] Error err
-- @raise as @{Client:request}
-- @usage local ok, err = client:delete("/17870913679156914")
function Client:delete(path, params, opts) return self:request("DELETE", path, params, opts) end

-- A deep copy of a usage table (what usage() hands out).
local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy(v) or v end
  return out
end

--- The rate-limit usage of the last answer that carried usage headers (see @{instagram.usage}).
-- @treturn ?table `{ app, business, ad_account, max_percent, regain_access_seconds }` (scrubbed;
--   a copy of the client's, made for each call), or nil before any such answer
-- @raise never raises
-- @usage local u = client:usage()
-- if u and u.max_percent > 80 then print("slow down", u.max_percent) end
function Client:usage()
  if self.store then pull_usage(self, true) end
  local u = secrets[self].usage
  return u and copy(u) -- a copy: the client's own is kept between answers, and must not change
end

--- A pager over a list edge (see @{instagram.pager}); nothing is fetched until it is iterated.
-- @tparam string path the edge (`"/17841405822304914/media"`)
-- @tparam[opt] table params query parameters; the pager options may be given here too
-- @tparam[opt] table opts pager options: `max_items`, `max_pages`, `cursor_only`, `prefetch`
--   (see @{instagram.pager.new})
-- @treturn Pager the pager
-- @raise when `path` is not a non-empty string, `params` or `opts` is not a table, an option is
--   unknown, or `max_items`/`max_pages` is not a positive whole number
-- @usage for m in client:edge("/17841405822304914/media", { fields = "id,caption", max_items = 100 }):items() do
--   print(m.id, m.caption)
-- end
function Client:edge(path, params, opts)
  return require("instagram.pager").new(self, path, params, opts)
end

--- The IG User node (@{instagram.node.ig_user}): media, stories, insights, publishing ...
-- @tparam string|integer id the IG user id (digits; a whole number is accepted while exact)
-- @treturn IgUser the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage for m in client:ig_user("17841405822304914"):media{ fields = "id" }:items() do print(m.id) end
function Client:ig_user(id) return require("instagram.node.ig_user").new(self, id) end
--- The IG Media node (@{instagram.node.ig_media}): children, comments, insights ...
-- @tparam string|integer id the media id (digits)
-- @treturn IgMedia the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage local media, err = client:ig_media("17895695668004550"):fetch{ "id", "caption" }
function Client:ig_media(id) return require("instagram.node.ig_media").new(self, id) end
--- The IG Comment node (@{instagram.node.ig_comment}): replies, reply, hide, delete.
-- @tparam string|integer id the comment id (digits)
-- @treturn IgComment the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage client:ig_comment("17870913679156914"):hide(true)
function Client:ig_comment(id) return require("instagram.node.ig_comment").new(self, id) end
--- The IG Hashtag node (@{instagram.node.ig_hashtag}): top and recent media.
-- @tparam string|integer id the hashtag id (digits; see @{Client:hashtag_search})
-- @treturn IgHashtag the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage local tag = client:ig_hashtag(client:hashtag_search("17841405822304914", "coke"))
function Client:ig_hashtag(id) return require("instagram.node.ig_hashtag").new(self, id) end
--- The Facebook Page node (@{instagram.node.page}): its Instagram business account.
-- @tparam string|integer id the Page id (digits)
-- @treturn Page the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage local ig, err = client:page("134895793791914"):instagram_business_account()
function Client:page(id) return require("instagram.node.page").new(self, id) end
--- The token's user, `/me` (@{instagram.node.misc}): fetch and the `accounts` pager.
-- @treturn Me the wrapper (no request is made)
-- @raise never raises
-- @usage for page in client:me():accounts():items() do print(page.id, page.name) end
function Client:me() return require("instagram.node.misc").me(self) end
--- A media container (@{instagram.node.misc}): fetch, status, wait.
-- @tparam string|integer id the container id (digits)
-- @treturn IgContainer the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage local st, err = client:ig_container("17889455560051444"):status()
function Client:ig_container(id) return require("instagram.node.misc").container(self, id) end
--- An upcoming event (@{instagram.node.misc}): fetch, update.
-- @tparam string|integer id the event id (digits)
-- @treturn UpcomingEvent the wrapper (no request is made)
-- @raise when `id` is not a string of digits
-- @usage local ev, err = client:upcoming_event("17912345678901234"):fetch()
function Client:upcoming_event(id) return require("instagram.node.misc").event(self, id) end

--- Finds a hashtag's id (`GET /ig_hashtag_search`); an account may look up 30 unique hashtags in 7
-- days (see @{instagram.node.ig_hashtag}).
-- @tparam string|integer user_id the IG user making the search
-- @tparam string q the hashtag, without `#`
-- @treturn[1] string the hashtag id
-- @treturn[2] nil
-- @treturn[2] Error err (`kind = "graph"`, `code = 100` when no hashtag matches)
-- @raise when `user_id` is not digits or `q` is not a usable hashtag
-- @usage local id, err = client:hashtag_search("17841405822304914", "bluebottle")
function Client:hashtag_search(user_id, q) return require("instagram.node.ig_hashtag").search(self, user_id, q) end

--- The embed HTML of a public post (`GET /instagram_oembed`; needs an app token or the oEmbed
-- feature).
-- @tparam string url the post's http(s) URL
-- @tparam[opt] table params more parameters: `maxwidth`, `omitscript`, `fields`
-- @treturn[1] table the embed: `html`, `author_name`, `thumbnail_url` ...
-- @treturn[2] nil
-- @treturn[2] Error err
-- @raise when `url` is not an http(s) URL, or `params` is neither a table nor nil
-- @usage local e, err = client:oembed("https://www.instagram.com/p/fA9uwTtkSN/", { maxwidth = 320 })
function Client:oembed(url, params)
  if type(url) ~= "string" or not url:match("^https?://") then error("oembed: url of an Instagram post is required", 2) end
  if params ~= nil and type(params) ~= "table" then error("oembed: params must be a table or nil, got " .. type(params), 2) end
  local p = { url = url }
  for k, v in pairs(params or {}) do p[k] = v end
  return self:get("/instagram_oembed", p)
end

--- A node with its metadata: its fields and type (`GET /{id}?metadata=1`).
-- @tparam string|integer id the node id (digits)
-- @treturn[1] table the node, with `metadata = { fields = {...}, type = ... }`
-- @treturn[2] nil
-- @treturn[2] Error err
-- @raise when `id` is not a string of digits
-- @usage local node, err = client:metadata("17841405822304914")
function Client:metadata(id)
  return self:get("/" .. require("instagram.node").check_id(id, "node"), { metadata = 1 })
end

--- Closes the transport's connections (libcurl's session; a no-op inside nginx, whose pool keeps
-- them). The client must not be used afterwards. Optional: garbage collection does the same.
-- @treturn nil nothing
-- @raise never raises
-- @usage client:close()
function Client:close()
  if self.transport.close then self.transport:close() end
end

return _M
