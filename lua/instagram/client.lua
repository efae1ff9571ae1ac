--- The Graph API client: URLs, tokens, appsecret_proof, decoding, errors, retries, usage.
local core = require "instagram.core"
local json = require "instagram.json"
local params_m = require "instagram.params"
local errors = require "instagram.error"
local usage_m = require "instagram.usage"
local token_m = require "instagram.token"

local type, pairs, tostring, tonumber, setmetatable, error, pcall =
      type, pairs, tostring, tonumber, setmetatable, error, pcall
local find, sub, match, lower, format = string.find, string.sub, string.match, string.lower, string.format
local min, random = math.min, math.random

local _M = { DEFAULT_VERSION = "v24.0", _VERSION = core._VERSION }

local Client = {}
Client.__index = Client
Client.__tostring = function(c)
  return format("instagram client (%s, %s)", c.graph_url, c.version)
end

-- Secrets live here, keyed weakly by client, never on the client table itself: printing or
-- serialising a client cannot leak them.
local secrets = setmetatable({}, { __mode = "k" })

local OPTIONS = {
  access_token = "string|token", auto_refresh = "table", refresh_margin = "number",
  on_refresh = "function", app_secret = "string", version = "string", graph_url = "string",
  rupload_url = "string", timeout = "number", connect_timeout = "number", ca_file = "string",
  retries = "number", retry_base = "number", retry_cap = "number", retry_max_wait = "number",
  throttle = "table",
  user_agent = "string", http2 = "boolean", transport = "table", sleep = "function",
  on_retry = "function", max_body = "number",
}

local function check_url(name, url)
  if not match(url, "^https?://[^/?#]+$") then
    error("instagram.new: option '" .. name .. "' must be a scheme and host without a path or "
          .. "trailing slash, like https://graph.facebook.com (got '" .. url .. "')", 3)
  end
end

local function default_transport(opts)
  return require("instagram.transport.auto").new(opts)
end

--- instagram.new{ access_token, app_secret, version, graph_url, rupload_url, timeout,
--                 connect_timeout, ca_file, retries, user_agent, http2, transport, sleep, on_retry }
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
  if retries < 0 or retries > 10 or retries % 1 ~= 0 then
    error("instagram.new: retries must be a whole number from 0 to 10", 2)
  end

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
  if opts.access_token then c:set_access_token(opts.access_token) else secrets[c].list = { opts.app_secret } end
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
  s.list = { s.token, s.app_secret, s.proof }
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
function Client:redact(s) return errors.scrub(s, secrets[self].list) end

-- For modules that build error objects from answers of their own (batch): what to scrub.
function Client:_secret_list() return secrets[self].list end

-- ---- URLs ----------------------------------------------------------------------------------

local function origin(url) return match(url, "^(https?://[^/?#]+)") end

--- Splits "path?query" and drops access_token / appsecret_proof from the query: the token
-- travels in the Authorization header and the proof is recomputed.
local function split_query(path_and_query)
  local path, query = match(path_and_query, "^([^?#]*)%??([^#]*)")
  local extra = params_m.decode(query)
  extra.access_token, extra.appsecret_proof = nil, nil
  return path, extra
end

--- Resolves a path ("/me", "me/accounts", "/v19.0/x") or an absolute URL on one of this client's
-- hosts into base URL + extra params. Returns nil, err for a URL on a foreign host.
function Client:_resolve(path, unversioned)
  if type(path) ~= "string" or path == "" then
    error("path must be a non-empty string such as '/me' or '/17841405822304914/media'", 3)
  end
  local base
  if find(path, "^https?://") then
    local o = origin(path)
    if o ~= self.graph_url and o ~= self.rupload_url then
      return nil, errors.new{ kind = "transport", reason = "foreign_host",
        message = "refusing to send the access token to " .. tostring(o)
                  .. ": only " .. self.graph_url .. " and " .. self.rupload_url .. " are trusted" }
    end
    base = o
    path = sub(path, #o + 1)
  else
    base = self.graph_url
    if sub(path, 1, 1) ~= "/" then path = "/" .. path end
  end
  local p, extra = split_query(path)
  if not unversioned and not find(p, "^/v%d+%.%d+/") and not find(p, "^/ig%-api%-upload/")
     and base == self.graph_url then
    p = "/" .. self.version .. p
  end
  return base .. p, extra
end

-- ---- requests ------------------------------------------------------------------------------

local IDEMPOTENT = { GET = true, HEAD = true, DELETE = true, PUT = true, OPTIONS = true }

-- Graph codes that mean "throttled or briefly unavailable; the call was not carried out".
local REJECTED_CODES = { [4] = true, [17] = true, [32] = true, [341] = true, [613] = true }
local TRANSIENT_CODES = { [1] = true, [2] = true }

local function rejected_before_running(err)
  if err.kind == "transport" and err.reason == "connect" then return true end
  local code = err.code
  return err.kind == "graph" and code and (REJECTED_CODES[code] or (code >= 80001 and code <= 80014))
end

--- May this failed call be made again without risk of doing it twice?
local function retryable(method, err)
  if rejected_before_running(err) then return true end
  if not IDEMPOTENT[method] then return false end
  if err.kind == "graph" then return err.is_transient or TRANSIENT_CODES[err.code] or false end
  if err.kind == "timeout" then return true end
  if err.kind == "transport" then return err.reason == "network" end
  if err.kind == "http" or err.kind == "decode" then return (err.status or 0) >= 500 or err.status == 429 end
  return false
end

local function retry_after_header(headers)
  local v = headers and headers["retry-after"]
  return v and tonumber(v) or nil
end

--- Turns a transport response into the decoded value or an error object.
function Client:_interpret(res)
  local list = secrets[self].list
  local headers = res.headers or {}
  local u = usage_m.parse(headers)
  if u then self.last_usage = u end
  local retry_after = retry_after_header(headers)
  if not retry_after and u and u.regain_access_seconds > 0 then retry_after = u.regain_access_seconds end
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
    if value == nil and status >= 500 and find(lower(headers["content-type"] or ""), "json", 1, true) then
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
  if err.retry_after and err.retry_after > delay then delay = err.retry_after end
  return delay
end

--- Builds the transport request: URL with version, token header, proof, encoded params.
-- Returns req, or nil, err (a URL on a foreign host). Raises on programmer mistakes.
function Client:_build(method, path, params, opts)
  if type(method) ~= "string" then error("method must be a string such as 'GET'", 3) end
  if params ~= nil and type(params) ~= "table" then
    error("params must be a table or nil, got " .. type(params), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then error("opts must be a table or nil", 3) end
  opts = opts or {}
  method = method:upper()
  local s = secrets[self]
  local url, extra = self:_resolve(path, opts.versioned == false)
  if not url then return nil, extra end
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
  return { method = method, url = url, headers = headers, body = body, timeout = opts.timeout }
end

--- With `throttle`, slow down as usage nears 100%, and refuse to call while the API has said
-- the app is blocked (estimated_time_to_regain_access).
function Client:_throttle()
  local t, u = self.throttle, self.last_usage
  if not (t and u) then return end
  local now = self.now()
  if self.blocked_until and now < self.blocked_until then
    local wait = self.blocked_until - now
    return errors.new{ kind = "blocked", retry_after = wait, is_transient = true,
      message = ("rate limited: the API said access returns in about %d s; not calling until then"):format(
        math.ceil(wait)) }
  end
  local pct = u.max_percent or 0
  if pct >= t.threshold then
    local share = (pct - t.threshold) / math.max(1, 100 - t.threshold)
    local delay = min(t.max_delay, t.max_delay * share)
    if delay > 0 then
      if t.on_throttle then t.on_throttle(delay, pct) end
      self.sleep(delay)
    end
  end
end

--- request(method, path, params [, opts]) -> value | nil, err
-- opts: timeout (seconds), json (send params as a JSON body), headers (extra request headers),
-- versioned = false (no version prefix: the unversioned OAuth token endpoints),
-- auth = "OAuth" (the Authorization scheme; "Bearer" by default, rupload documents "OAuth").
-- Retries what is safe to retry (see retryable), with backoff; honours the throttle.
function Client:request(method, path, params, opts)
  if self.auto_refresh then self:_maybe_refresh() end
  local req, berr = self:_build(method, path, params, opts)
  if not req then return nil, berr end
  method = req.method
  local s = secrets[self]
  local attempt = 0
  while true do
    attempt = attempt + 1
    local terr = self:_throttle()
    if terr then return nil, terr end
    local res, reason, message = self.transport:request(req)
    local value, err
    if res then value, err = self:_interpret(res)
    else err = errors.transport(reason, message, s.list) end
    if not err then return value end
    err.attempts = attempt
    self:_note_block(err)
    if attempt > self.retries or not retryable(method, err) then return nil, err end
    local delay = self:_backoff(attempt, err)
    if delay > self.retry_max_wait then return nil, err end
    if self.on_retry then self.on_retry(err, attempt, delay, method, path) end
    self.sleep(delay)
  end
end

--- start_get(path, params) -> handle with :finish() -> value | nil, err (and :cancel()), or nil
-- when the transport cannot start requests. The GET is sent now and collected at finish; a
-- failure that is safe to retry is retried then, as request() would.
function Client:start_get(path, params)
  if not self.transport.start then return nil end
  local req = self:_build("GET", path, params, nil)
  if not req then return nil end
  local terr = self:_throttle()
  if terr then return nil end
  local ok, handle = pcall(self.transport.start, self.transport, req)
  if not ok then return nil end
  local s = secrets[self]
  return {
    finish = function()
      local res, reason, message = handle.finish()
      local value, err
      if res then value, err = self:_interpret(res) else err = errors.transport(reason, message, s.list) end
      if not err then return value end
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
  if self.throttle and err.kind == "graph" and rejected_before_running(err) and err.retry_after then
    self.blocked_until = self.now() + err.retry_after
  end
end

--- get_many(requests [, { concurrency = 8 }]) -> values, errors
-- requests: { "/path", { "/path", params }, { path = "/path", params = {...} }, ... }. The GETs run
-- in parallel (curl_multi in the C core, threads of cosockets in nginx); values[i] is the decoded
-- result or false, errors[i] the error or false, in the order asked. Failures that are safe to
-- retry are retried one by one afterwards, as request() would.
function Client:get_many(requests, opts)
  if type(requests) ~= "table" then error("get_many: requests must be a list", 2) end
  opts = opts or {}
  local concurrency = opts.concurrency or 8
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency > 64 or concurrency % 1 ~= 0 then
    error("get_many: concurrency must be a whole number from 1 to 64", 2)
  end
  local n = #requests
  local built, values, errs = {}, {}, {}
  local paths, plist = {}, {}
  for i = 1, n do
    local r = requests[i]
    local path, params
    if type(r) == "string" then path = r
    elseif type(r) == "table" then path, params = r.path or r[1], r.params or r[2]
    else error("get_many: request " .. i .. " must be a path or { path, params }", 2) end
    paths[i], plist[i] = path, params
    local req, err = self:_build("GET", path, params, nil)
    built[i] = req or false
    values[i], errs[i] = false, req and false or err
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
  local s = secrets[self]
  for k, res in ipairs(results) do
    local i = index[k]
    local value, err
    if res.error then err = errors.transport(res.error, res.message, s.list)
    else value, err = self:_interpret(res) end
    if err then
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
-- (instagram.upload resumes on top of it).
function Client:raw_upload(url, headers, file, offset, progress)
  local base = self.rupload_url .. "/"
  if type(url) ~= "string" or url:sub(1, #base) ~= base then
    error("raw_upload: url must be on rupload_url (" .. self.rupload_url .. ")", 2)
  end
  local s = secrets[self]
  local h = { Accept = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  if s.token then h.Authorization = "OAuth " .. s.token end
  if not self.transport.upload then error("this transport cannot upload files", 2) end
  local res, reason, message = self.transport:upload{ url = url, headers = h, file = file, offset = offset,
    progress = progress, stall_timeout = self.timeout }
  if not res then
    if reason == "aborted" or reason == "file" then
      return nil, errors.new{ kind = "transport", reason = reason, message = errors.scrub(message, s.list) }
    end
    return nil, errors.transport(reason, message, s.list)
  end
  return self:_interpret(res)
end

--- batch(ops [, opts]) -> results | nil, err : see instagram.batch
function Client:batch(ops, opts) return require("instagram.batch").run(self, ops, opts) end

function Client:upload_video(...) return require("instagram.upload").video(self, ...) end
function Client:upload_video_url(...) return require("instagram.upload").video_url(self, ...) end
function Client:wait_for_container(...) return require("instagram.publish").wait(self, ...) end

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
