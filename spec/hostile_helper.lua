--- The hostile specs' helper: random secrets, clients pointed at the hostile server (spec/hostile/run),
-- and the checks behind the library's promises:
--   * no call raises: every failure comes back as nil, err (err an instagram error object);
--   * no byte run of 8 or more characters of any secret (token, app secret, proof, and whatever else a
--     call carries: OAuth codes, tokens being exchanged) appears in an error (every string field, walked
--     recursively), in tostring(err), in an on_retry / on_refresh argument, or in a pager's fields;
--   * no secret reaches the foreign host, or a path outside the version prefix;
--   * no POST is sent twice (the server logs every request of the test's tenant).
-- Problems are collected per test and reported together, with the secrets masked.
local core = require "instagram.core"
local json = require "instagram.json"
local errors = require "instagram.error"

local type, pairs, ipairs, tostring, pcall, select, next, getmetatable = type, pairs, ipairs, tostring, pcall,
  select, next, getmetatable
local find, sub, format, concat, max = string.find, string.sub, string.format, table.concat, math.max
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

M.runtime = (type(ngx) == "table" and ngx.get_phase and "nginx (cosocket transport)") -- luacheck: ignore 113
  or (jit and "LuaJIT") or _VERSION

-- ---- where the hostile server is -------------------------------------------------------------

local function read_env()
  local env = {}
  local dir = os.getenv("IG_HOSTILE_DIR") or "build/hostile"
  local f = io.open(dir .. "/env", "r")
  if f then
    for line in f:lines() do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then env[k] = v end
    end
    f:close()
  end
  for _, k in ipairs{ "IG_HOSTILE_HTTP_URL", "IG_HOSTILE_HTTPS_URL", "IG_HOSTILE_FOREIGN_URL", "IG_HOSTILE_CA_FILE" } do
    env[k] = os.getenv(k) or env[k]
  end
  env.dir = dir
  return env
end

M.env = read_env()
M.http_url = M.env.IG_HOSTILE_HTTP_URL
M.https_url = M.env.IG_HOSTILE_HTTPS_URL
M.foreign_url = M.env.IG_HOSTILE_FOREIGN_URL
M.ca_file = M.env.IG_HOSTILE_CA_FILE

local control_session

local function control(method, path, body)
  if not M.http_url then
    error("the hostile server is not running (no " .. M.env.dir .. "/env): start it with `spec/hostile/run start`", 0)
  end
  control_session = control_session or core.session{ timeout = 10 }
  local status, _, text = control_session:request(method, M.http_url .. "/__hostile/" .. path,
    body and { ["Content-Type"] = "application/json" } or nil, body and assert(json.encode(body)) or nil)
  if status ~= 200 then
    error("hostile server control call " .. path .. " failed: " .. tostring(status) .. " " .. tostring(text), 0)
  end
  return json.decode(text)
end

--- Raises unless the hostile server answers (the specs fail, they do not hang, when it is down).
function M.require_server()
  control("GET", "health")
end

function M.reset() return control("POST", "reset") end

--- The mode of a tenant (the token, app id, ...): see spec/hostile/server.lua.
function M.set_mode(key, mode) return control("POST", "mode", { key = key, mode = mode or json.null }) end

function M.log_of(key) return control("GET", "log?key=" .. core.url_encode(key)) end
function M.log_uid(uid) return control("GET", "log?uid=" .. core.url_encode(uid)) end
function M.foreign_log() return control("GET", "foreign") end

-- ---- secrets ---------------------------------------------------------------------------------

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

--- n random-looking letters and digits (from the C core's CSPRNG).
function M.random(n)
  local hex = core.random_token(n)
  local out = {}
  for i = 1, n do
    local b = tonumber(sub(hex, 2 * i - 1, 2 * i), 16)
    local k = b % 62 + 1
    out[i] = sub(ALPHABET, k, k)
  end
  return concat(out)
end

--- The first run of 8+ bytes of any secret in s: name, first and last byte of the run in the secret,
-- and where it starts and ends in s; nil when there is none.
local function find_run(s, secrets)
  for name, secret in pairs(secrets) do
    if type(secret) == "string" and #secret >= 8 then
      for i = 1, #secret - 7 do
        local a = find(s, sub(secret, i, i + 7), 1, true)
        if a then
          local j, b = i + 7, a + 7
          while j < #secret and sub(s, b + 1, b + 1) == sub(secret, j + 1, j + 1) do j, b = j + 1, b + 1 end
          return name, i, j, a, b
        end
      end
    end
  end
end
M.find_run = find_run

--- s with every run of a secret replaced by <name[i..j]>, for messages that may be shown.
local function mask(s, secrets)
  s = tostring(s)
  for _ = 1, 200 do
    local name, i, j, a, b = find_run(s, secrets)
    if not name then break end
    s = sub(s, 1, a - 1) .. "<" .. name .. "[" .. i .. ".." .. j .. "]>" .. sub(s, b + 1)
  end
  s = s:gsub("[%z\1-\31\127]", function(c) return format("\\x%02x", c:byte()) end)
  return s
end
M.mask = mask

-- ---- a test ----------------------------------------------------------------------------------

local T = {}
T.__index = T

--- new{ scheme = "https" | "http", retries = 2, timeout = 5, throttle, client = { more options } }
-- -> a test: t.client (token and app_secret of random letters), t.token, t.app_secret, t.proof, t.uid
function M.new(o)
  o = o or {}
  local t = setmetatable({ problems = {}, retry_calls = {}, sleeps = {}, allowed_paths = {} }, T)
  t.scheme = o.scheme or "https"
  t.base = t.scheme == "https" and M.https_url or M.http_url
  t.token = "EAAG" .. M.random(60)
  t.app_secret = M.random(40)
  t.uid = "u" .. M.random(20)
  t.keys = { t.token }
  local opts = {
    access_token = t.token, app_secret = t.app_secret, graph_url = t.base, rupload_url = t.base, ca_file = M.ca_file,
    retries = o.retries or 2, timeout = o.timeout or 5, throttle = o.throttle,
    sleep = function(s) t.sleeps[#t.sleeps + 1] = s end,
    on_retry = function(...) t.retry_calls[#t.retry_calls + 1] = { n = select("#", ...), ... } end,
  }
  for k, v in pairs(o.client or {}) do opts[k] = v end
  t.client = require("instagram").new(opts)
  t.proof = t.client:appsecret_proof()
  t.secrets = { token = t.token, app_secret = t.app_secret, proof = t.proof }
  return t
end

--- Another secret this test's calls carry (an OAuth code, a token being exchanged).
function T:secret(name, value)
  self.secrets[name] = value
  return value
end

--- The server's mode for this test's token (or another tenant key: an app id, an exchanged token).
function T:mode(mode, key)
  key = key or self.token
  local seen = false
  for _, k in ipairs(self.keys) do if k == key then seen = true end end
  if not seen then self.keys[#self.keys + 1] = key end
  M.set_mode(key, mode)
end

function T:problem(fmt, ...)
  local msg = format(fmt, ...)
  self.problems[#self.problems + 1] = mask(msg, self.secrets)
end

--- Walks v (tables recursively, keys too, tostring of anything with a metatable) for runs of the
-- secrets; `skip` names table keys not to enter, at any depth.
function T:check(label, v, skip, seen, depth)
  seen = seen or {}
  depth = depth or 0
  local tv = type(v)
  if tv == "string" then
    local name, i, j, a, b = find_run(v, self.secrets)
    if name then
      self:problem("%s: %d bytes of the %s (bytes %d-%d of it) in %s: ...%s...", M.runtime, j - i + 1, name, i, j,
        label, sub(v, max(1, a - 30), b + 30))
    end
  elseif tv == "table" then
    if seen[v] or depth > 200 then return end
    seen[v] = true
    local mt = getmetatable(v)
    if mt and mt.__tostring then
      local ok, s = pcall(tostring, v)
      if not ok then self:problem("%s: tostring(%s) raised: %s", M.runtime, label, tostring(s))
      else self:check("tostring(" .. label .. ")", s, nil, seen, depth + 1) end
    end
    for k, x in next, v do
      if not (skip and skip[k]) then
        local kl = type(k) == "string" and ("." .. k) or ("[" .. tostring(k) .. "]")
        if type(k) == "string" then self:check(label .. " key", k, nil, seen, depth + 1) end
        self:check(label .. kl, x, skip, seen, depth + 1)
      end
    end
  elseif tv == "userdata" then
    local ok, s = pcall(tostring, v)
    if ok then self:check("tostring(" .. label .. ")", s, nil, seen, depth + 1) end
  end
end

--- An error as a call returns it: an instagram error object, with no secret in any field or in
-- tostring.
function T:check_err(label, err)
  if not errors.is_error(err) then
    self:problem("%s: %s failed without an instagram error object (got %s: %s)", M.runtime, label, type(err),
      tostring(err))
  end
  if type(err) == "table" then
    local ok, s = pcall(tostring, err)
    if not ok then self:problem("%s: tostring(err) of %s raised: %s", M.runtime, label, tostring(s))
    elseif type(s) ~= "string" then self:problem("%s: tostring(err) of %s is not a string", M.runtime, label) end
  end
  self:check(label .. " err", err)
end

--- Runs fn(client, t) protected: a raise is a problem. Checks the error of a nil, err answer.
-- Returns what fn returned (nil on a raise).
function T:call(label, fn)
  local r = pack(pcall(fn, self.client, self))
  if not r[1] then
    self:problem("%s: %s raised: %s", M.runtime, label, tostring(r[2]))
    return nil
  end
  if r[2] == nil or r[2] == false then
    if r.n >= 3 and r[3] ~= nil then self:check_err(label, r[3])
    elseif r[2] == nil then self:problem("%s: %s returned nil without an error", M.runtime, label) end
  end
  return unpack(r, 2, r.n)
end

--- A pager: every field (the client it belongs to aside) and its error.
function T:check_pager(label, p)
  if type(p) ~= "table" then return end
  self:check(label .. " pager", p, { client = true })
  local ok, s = pcall(tostring, p)
  if not ok then self:problem("%s: tostring(pager) of %s raised: %s", M.runtime, label, tostring(s)) end
  if p.err ~= nil then self:check_err(label .. " (pager.err)", p.err) end
end

--- Walks a pager with items(), pages() or all(), protected; checks it after.
function T:walk_pager(label, make, how, max_steps)
  local ok, perr = pcall(function()
    local p = make(self.client)
    how = how or "items"
    local steps = 0
    if how == "all" then
      local list, err = p:all()
      if not list then self:check_err(label .. " all()", err) end
    elseif how == "pages" then
      for _, page in p:pages() do -- (the pages handed back: their links and cursors hold no secret)
        steps = steps + 1
        self:check(label .. " page " .. steps .. " paging", type(page) == "table" and page.paging or nil)
        if steps > (max_steps or 50) then break end
      end
    else
      for _ in p:items() do
        steps = steps + 1
        if steps > (max_steps or 200) then break end
      end
    end
    self:check_pager(label, p)
  end)
  if not ok then self:problem("%s: %s (pager %s) raised: %s", M.runtime, label, how, tostring(perr)) end
end

local function has_secret(self, s) return type(s) == "string" and find_run(s, self.secrets) ~= nil end

--- The checks that need the server's log, then the verdict: raises with every problem found.
-- opts: post_retry_ok (the server answered "not carried out", so a POST may be sent again),
-- paths = { lua patterns of unversioned paths this test may call }
function T:done(opts)
  opts = opts or {}
  for i, args in ipairs(self.retry_calls) do
    for k = 1, args.n do self:check("on_retry call " .. i .. " argument " .. k, args[k]) end
  end
  self:check("client", self.client)
  local uok, u = pcall(self.client.usage, self.client)
  if not uok then self:problem("%s: client:usage() raised: %s", M.runtime, tostring(u))
  else self:check("client:usage()", u) end
  local ok, s = pcall(tostring, self.client)
  if not ok then self:problem("%s: tostring(client) raised: %s", M.runtime, tostring(s))
  else self:check("tostring(client)", s) end

  local seen_post = {}
  for _, key in ipairs(self.keys) do
    for _, r in ipairs(M.log_of(key)) do
      local uri = r.uri or ""
      if r.method == "POST" and not find(uri, "/ig%-api%-upload/") then
        local sig = uri .. "\n" .. (r.body or "")
        seen_post[sig] = (seen_post[sig] or 0) + 1
        if seen_post[sig] == 2 and not opts.post_retry_ok then
          self:problem("%s: POST %s was sent more than once", M.runtime, sub(uri, 1, 120))
        end
      end
      local allowed = find(uri, "^/v%d+%.%d+/") or find(uri, "^/ig%-api%-upload/v%d+%.%d+/")
      for _, p in ipairs(opts.paths or {}) do if find(uri, p) then allowed = true end end
      local path = uri:match("^[^?#]*")
      if find(path, "/%.%.?/") or find(path, "/%.%.?$") or find(path:lower(), "%%2e") then allowed = false end
      if not allowed and (has_secret(self, r.authorization) or has_secret(self, uri) or has_secret(self, r.body)) then
        self:problem("%s: a secret was sent outside the version prefix: %s %s", M.runtime, tostring(r.method),
          sub(uri, 1, 160))
      end
    end
  end
  for _, r in ipairs(M.log_uid(self.uid)) do
    if find(r.uri or "", "/smuggled/", 1, true) then
      self:problem("%s: request splitting: the server received a smuggled %s %s (body: %s)", M.runtime,
        tostring(r.method), sub(r.uri, 1, 80), sub(r.body or "", 1, 200))
    end
    for name in pairs(r.headers or {}) do
      if find(name, "injected", 1, true) then
        self:problem("%s: header injection: the server received a header '%s'", M.runtime, sub(name, 1, 60))
      end
    end
  end
  for _, r in ipairs(M.foreign_log()) do
    local label = "a request to the foreign host (" .. tostring(r.method) .. " " .. sub(tostring(r.uri), 1, 80) .. ")"
    self:check(label, { uri = r.uri, headers = r.headers, body = r.body })
  end
  pcall(self.client.close, self.client)
  self:verdict()
end

--- Raises with every problem found, if any.
function T:verdict()
  if #self.problems > 0 then
    require("luassert").is_true(false, #self.problems .. " problem(s):\n  " .. concat(self.problems, "\n  "))
  end
end

--- A test without a client or server (webhooks): the same checks over the given secrets.
function M.checker(secrets)
  return setmetatable({ problems = {}, retry_calls = {}, sleeps = {}, allowed_paths = {}, secrets = secrets }, T)
end

return M
