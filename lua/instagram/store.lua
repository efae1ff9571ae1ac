--- Shared state: one small interface over a process table, an nginx `lua_shared_dict` or Redis.
-- What the library keeps between calls (rate-limit usage and blocks, tokens and their refresh
-- lock, webhook deliveries already seen) goes through a store, so that it can be shared by the
-- workers of one nginx (@{shdict}) or a fleet (@{redis}). Every store has the same five
-- methods; keys are non-empty strings (of at most 250 bytes, prefixed with the store's `prefix`),
-- values strings or numbers; a `ttl` is seconds (more than 0; nil: no expiry). A method answers
-- `nil, err` when the store fails, never raises for that; it raises for a programmer's mistake
-- (a key or value of the wrong type).
--
--     store:get(key)              -> value | nil (absent) | nil, err
--     store:set(key, value, ttl)  -> true | nil, err
--     store:add(key, value, ttl)  -> true (set) | false (already there) | nil, err: lock, dedupe
--     store:incr(key, by, ttl)    -> the new number (from 0 when absent; ttl set then) | nil, err
--     store:delete(key)           -> true | nil, err
-- @module instagram.store
-- @usage local store = require "instagram.store"
-- local s = store.memory()
-- print(s:add("lock", "me", 30), s:add("lock", "you", 30)) --> true	false
-- print(s:incr("calls", 1), s:incr("calls", 2))           --> 1	3
local type, tostring, tonumber, error, setmetatable = type, tostring, tonumber, error, setmetatable
local pairs, pcall, rawget = pairs, pcall, rawget
local floor, huge, tointeger = math.floor, math.huge, math.tointeger

local _M = {}

local MAX_KEY = 250
-- The longest ttl (a year): a larger one is a mistake (milliseconds for seconds).
local MAX_TTL = 365 * 86400

local function default_now()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.now) == "function" then
    if type(ngx.update_time) == "function" then ngx.update_time() end -- (it moves only when the loop turns)
    return ngx.now()
  end
  local ok, core = pcall(require, "instagram.core")
  if ok and type(core) == "table" and core.now then return core.now() end
  return os.time()
end

local function check_key(fn, key)
  if type(key) ~= "string" or key == "" or #key > MAX_KEY then
    error(("%s: key must be a non-empty string of at most %d bytes, got %s"):format(fn, MAX_KEY,
      type(key) == "string" and (#key .. " bytes") or type(key)), 3)
  end
end

local function check_value(fn, value)
  local tv = type(value)
  if tv ~= "string" and not (tv == "number" and value == value and value > -huge and value < huge) then
    error(fn .. ": value must be a string or a finite number, got " .. (tv == "number" and tostring(value) or tv), 3)
  end
end

local function check_ttl(fn, ttl)
  if ttl ~= nil and not (type(ttl) == "number" and ttl > 0 and ttl <= MAX_TTL) then
    error(("%s: ttl must be a number of seconds, more than 0 and at most %d (got %s)"):format(fn, MAX_TTL,
      tostring(ttl)), 3)
  end
end

local function check_by(fn, by)
  if not (type(by) == "number" and by == by and by > -2 ^ 53 and by < 2 ^ 53) then
    error(fn .. ": by must be a finite number, got " .. tostring(by), 3)
  end
end

local function check_prefix(fn, prefix)
  if prefix ~= nil and type(prefix) ~= "string" then error(fn .. ": prefix must be a string", 3) end
  return prefix or "instagram:"
end

local function check_opts(fn, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fn .. ": options must be a table, got " .. type(opts), 3) end
  require("instagram.client").check_options(fn, nil, opts, known, 3)
  return opts
end

-- ---- the interface: every method checks its arguments here, then calls its backend --------------
-- A backend is a table of five functions taking the store and the prefixed key (and the checked
-- value, by and ttl): get, set, add, incr, delete, with the interface's answers.

local Store = {}
Store.__index = Store

local function make(backend, fields, prefix)
  fields.backend, fields.prefix = backend, prefix
  return setmetatable(fields, Store)
end

--- A store made by @{memory}, @{shdict} or @{redis}: the five methods.
-- @type Store

--- The value of a key.
-- @tparam string key the key
-- @return[1] the value (a string or number), or nil when the key is absent or expired
-- @treturn[2] nil
-- @treturn[2] string err why the store failed
-- @raise for a key that is not a non-empty string of at most 250 bytes
function Store:get(key)
  check_key("store:get", key)
  return self.backend.get(self, self.prefix .. key)
end

--- Sets a key.
-- @tparam string key the key
-- @param value a string or a finite number
-- @tparam[opt] number ttl seconds until it expires (more than 0, at most a year); nil: never
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] string err why the store failed
-- @raise for a bad key, value or ttl
function Store:set(key, value, ttl)
  check_key("store:set", key)
  check_value("store:set", value)
  check_ttl("store:set", ttl)
  return self.backend.set(self, self.prefix .. key, value, ttl)
end

--- Sets a key only if it is absent (or expired): the lock and dedupe primitive.
-- @tparam string key the key
-- @param value a string or a finite number
-- @tparam[opt] number ttl seconds until it expires
-- @treturn[1] boolean true when this call set it, false when it was there
-- @treturn[2] nil
-- @treturn[2] string err why the store failed
-- @raise for a bad key, value or ttl
function Store:add(key, value, ttl)
  check_key("store:add", key)
  check_value("store:add", value)
  check_ttl("store:add", ttl)
  return self.backend.add(self, self.prefix .. key, value, ttl)
end

--- Adds to a number; an absent key starts from 0 (and gets the ttl then; an existing key keeps its
-- expiry).
-- @tparam string key the key
-- @tparam[opt=1] number by how much to add (may be negative)
-- @tparam[opt] number ttl seconds until a key this call creates expires
-- @treturn[1] number the new value
-- @treturn[2] nil
-- @treturn[2] string err why the store failed, or `"not a number"` when the key holds a string
-- @raise for a bad key, `by` or ttl
function Store:incr(key, by, ttl)
  check_key("store:incr", key)
  if by == nil then by = 1 end
  check_by("store:incr", by)
  check_ttl("store:incr", ttl)
  return self.backend.incr(self, self.prefix .. key, by, ttl)
end

--- Removes a key (absent or not).
-- @tparam string key the key
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] string err why the store failed
-- @raise for a bad key
function Store:delete(key)
  check_key("store:delete", key)
  return self.backend.delete(self, self.prefix .. key)
end

--- @section end

-- ---- memory ----------------------------------------------------------------------------------

local SWEEP_EVERY = 1000 -- writes between two sweeps of expired keys (amortised, bounded memory)

local function live(self, k)
  local at = self.expires[k]
  if at and at <= self.now() then
    self.values[k], self.expires[k] = nil, nil
  end
  return self.values[k]
end

local function put(self, k, value, ttl)
  self.values[k] = value
  self.expires[k] = ttl and (self.now() + ttl) or nil
  self.writes = self.writes + 1
  if self.writes % SWEEP_EVERY ~= 0 then return end
  local now = self.now()
  for key, at in pairs(self.expires) do
    if at <= now then self.values[key], self.expires[key] = nil, nil end
  end
end

local MEMORY = {
  get = live,
  set = function(self, k, value, ttl)
    put(self, k, value, ttl)
    return true
  end,
  add = function(self, k, value, ttl)
    if live(self, k) ~= nil then return false end
    put(self, k, value, ttl)
    return true
  end,
  incr = function(self, k, by, ttl)
    local v = live(self, k)
    if v == nil then
      put(self, k, by, ttl)
      return by
    end
    if type(v) ~= "number" then return nil, "not a number" end
    local sum = v + by
    if (by > 0 and sum < v) or (by < 0 and sum > v) then sum = (v + 0.0) + by end -- 5.4 integers wrap: not here
    v = sum
    if tointeger and floor(v) == v then v = tointeger(v) or v end
    self.values[k] = v
    return v
  end,
  delete = function(self, k)
    self.values[k], self.expires[k] = nil, nil
    return true
  end,
}

--- A store in this process's memory: the default; nothing is shared.
-- Expired keys are dropped when read, and swept every 1,000 writes, so memory stays bounded by
-- what is live.
-- @tparam[opt] table opts
-- @tparam[opt="instagram:"] string opts.prefix prefixed to every key
-- @tparam[opt] function opts.now the clock, seconds (default `ngx.now`, brought up to date, in nginx; else
--   `instagram.core.now`)
-- @treturn Store the store
-- @raise for an unknown option or one of the wrong type
-- @usage local s = require("instagram.store").memory()
function _M.memory(opts)
  opts = check_opts("store.memory", opts, { prefix = "string", now = "function" })
  return make(MEMORY, { name = "memory", now = opts.now or default_now, values = {}, expires = {}, writes = 0 },
    check_prefix("store.memory", opts.prefix))
end

-- ---- lua_shared_dict ---------------------------------------------------------------------------

-- nginx reckons a ttl from its cached clock, which moves only when the event loop turns: brought up
-- to date first, or a ttl set after a blocking call or long Lua work would end early (a lock held
-- for less than its ttl).
local function ttl_from_now(ttl)
  if ttl and ttl > 0 then rawget(_G, "ngx").update_time() end
  return ttl or 0
end

local SHDICT = {
  get = function(self, k)
    local v, err = self.dict:get(k)
    if v == nil and err then return nil, err end
    return v
  end,
  set = function(self, k, value, ttl)
    local ok, err = self.dict:set(k, value, ttl_from_now(ttl))
    if not ok then return nil, err or "set failed" end
    return true
  end,
  add = function(self, k, value, ttl)
    local ok, err = self.dict:add(k, value, ttl_from_now(ttl))
    if ok then return true end
    if err == "exists" then return false end
    return nil, err or "add failed"
  end,
  incr = function(self, k, by, ttl)
    local v, err = self.dict:incr(k, by, 0, ttl_from_now(ttl))
    if v == nil then return nil, err or "incr failed" end
    return v
  end,
  delete = function(self, k)
    self.dict:delete(k)
    return true
  end,
}

--- A store in an nginx `lua_shared_dict`: shared by every worker of one nginx.
-- Declare it in `nginx.conf` (`lua_shared_dict instagram 1m;`). A full dict evicts its least
-- recently used keys (nginx's rule); a write that had to evict still succeeds.
-- @tparam string name the dict's name
-- @tparam[opt] table opts
-- @tparam[opt="instagram:"] string opts.prefix prefixed to every key
-- @treturn Store the store
-- @raise outside nginx, or when there is no such dict, or for a bad option
-- @usage local s = require("instagram.store").shdict("instagram")
function _M.shdict(name, opts)
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.shared) ~= "table" then
    error("store.shdict: only inside nginx (ngx.shared); outside it use store.memory() or Redis", 2)
  end
  if type(name) ~= "string" or name == "" then error("store.shdict: name must be the dict's name", 2) end
  local dict = ngx.shared[name]
  if not dict then
    error(("store.shdict: no lua_shared_dict named '%s' (declare it in nginx.conf: lua_shared_dict %s 1m;)")
      :format(name, name), 2)
  end
  opts = check_opts("store.shdict", opts, { prefix = "string" })
  return make(SHDICT, { name = "shdict", dict = dict }, check_prefix("store.shdict", opts.prefix))
end

-- ---- Redis ------------------------------------------------------------------------------------

-- Values keep their type: a string is stored as "=" .. s, a number as its decimal text (so INCRBY
-- and INCRBYFLOAT work on it). A value another program wrote comes back as it is, or as a number
-- when it is one.
local function to_redis(value)
  if type(value) == "string" then return "=" .. value end
  if math.type and math.type(value) == "integer" then return ("%d"):format(value) end
  if value == floor(value) and value > -2 ^ 53 and value < 2 ^ 53 then return ("%.0f"):format(value) end
  return ("%.17g"):format(value)
end

-- A finite number in plain decimal (as this store and INCRBYFLOAT write them), or nil: no hex,
-- spaces, "inf" or "nan", whatever else tonumber would take.
local function decimal(raw)
  if type(raw) ~= "string" or #raw > 400 then return nil end
  if not (raw:find("^%-?%d+%.?%d*$") or raw:find("^%-?%d+%.?%d*[eE][%-+]?%d+$") or raw:find("^%-?%.%d+$")) then
    return nil
  end
  local n = tonumber(raw)
  if n == nil or n ~= n or n == huge or n == -huge then return nil end
  return n
end

local function from_redis(raw)
  if type(raw) == "number" then return decimal(("%.17g"):format(raw)) and raw or nil end
  if type(raw) ~= "string" then return nil end
  if raw:sub(1, 1) == "=" then return raw:sub(2) end
  return decimal(raw) or raw
end

local function px(ttl) return ("%d"):format(math.ceil(ttl * 1000)) end

-- INCRBYFLOAT (integers and fractions alike; its answer is the shortest text, "5" for 5), and
-- the expiry only for a key the call creates; an error reply when the key holds a string.
local INCR_SCRIPT = [[
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v]]

-- The warning when Redis stops answering (once per outage) and when it is back.
local function warn(self, msg)
  local ok = pcall(self.log, msg)
  if not ok then pcall(io.stderr.write, io.stderr, msg, "\n") end
end

-- One command; when Redis is down (or marked down for retry_after seconds after a failure), the
-- same operation on the local store instead (unless fallback is false: then nil, err).
local function via(self, op, ...)
  local now = self.now()
  if self.down_until and now < self.down_until then
    if not self.fallback then return nil, self.down_err end
    return self.backend_local[op](self.local_store, ...)
  end
  local conn = self.conn
  local v, err, kind = self.ops[op](conn, ...)
  if kind == "phase" then -- not Redis's fault: this call only
    if not self.fallback then return nil, "redis: " .. tostring(err) end
    return self.backend_local[op](self.local_store, ...)
  end
  if kind == "down" then
    self.down_until, self.down_err = now + self.retry_after, "redis: " .. tostring(err)
    if not self.warned then
      self.warned = true
      warn(self, ("instagram.store: Redis at %s:%d did not answer (%s); %s for %g s, then trying Redis again")
        :format(self.host, self.port, tostring(err), self.fallback and "using this process's state"
          or "answering errors", self.retry_after))
    end
    if not self.fallback then return nil, self.down_err end
    return self.backend_local[op](self.local_store, ...)
  end
  if self.warned then
    self.warned = false
    -- what was kept locally meanwhile is dropped: Redis is the truth again, and a later outage
    -- must not bring back a replaced token or a released lock
    self.local_store.values, self.local_store.expires = {}, {}
    warn(self, ("instagram.store: Redis at %s:%d answers again"):format(self.host, self.port))
  end
  self.down_until = nil
  if v == nil and err then return nil, err end
  return v
end

local REDIS_OPS = {
  get = function(conn, k)
    local raw, err, kind = conn:call("GET", k)
    if raw == nil then return nil, err, kind end
    return from_redis(raw)
  end,
  set = function(conn, k, value, ttl)
    local r, err, kind
    if ttl then r, err, kind = conn:call("SET", k, to_redis(value), "PX", px(ttl))
    else r, err, kind = conn:call("SET", k, to_redis(value)) end
    if r == nil then return nil, err or "SET answered nothing", kind end
    return true
  end,
  add = function(conn, k, value, ttl)
    local r, err, kind
    if ttl then r, err, kind = conn:call("SET", k, to_redis(value), "NX", "PX", px(ttl))
    else r, err, kind = conn:call("SET", k, to_redis(value), "NX") end
    if r == nil and err then return nil, err, kind end
    return r ~= nil
  end,
  incr = function(conn, k, by, ttl)
    local r, err, kind = conn:call("EVAL", INCR_SCRIPT, 1, k, to_redis(by), ttl and px(ttl) or "")
    if r == nil then
      if kind == "reply" and type(err) == "string" and (err:find("not a valid float", 1, true)
        or err:find("WRONGTYPE", 1, true)) then
        return nil, "not a number"
      end
      return nil, err or "EVAL answered nothing", kind or "down"
    end
    local v = decimal(type(r) == "number" and ("%.17g"):format(r) or r)
    if v == nil then return nil, "redis: not a number in INCRBYFLOAT's answer", "down" end
    if tointeger and v == floor(v) then v = tointeger(v) or v end
    return v
  end,
  delete = function(conn, k)
    local r, err, kind = conn:call("DEL", k)
    if r == nil then return nil, err or "DEL answered nothing", kind end
    return true
  end,
}

local REDIS = {}
for op in pairs(REDIS_OPS) do
  REDIS[op] = function(self, ...) return via(self, op, ...) end
end

local function default_log(msg)
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.log) == "function" then return ngx.log(ngx.WARN, msg) end
  io.stderr:write(msg, "\n")
end

--- A store in Redis: shared by every worker of every machine that uses the same Redis.
-- Inside nginx it uses lua-resty-redis (`resty.redis`, or Debian's `lua-nginx-redis` as
-- `nginx.redis`) on cosockets, with a keep-alive pool; outside nginx a blocking luasocket
-- connection (Debian `lua-socket`) kept by the store. **A Redis that is down or slow never fails
-- the caller**: the operation is done on a store in this process's memory instead, a warning is
-- logged (once per outage: `ngx.log(ngx.WARN)` in nginx, else stderr, or `opts.log`), and Redis is
-- tried again after `retry_after` seconds. State written meanwhile stays local. In an nginx phase
-- without cosockets (init, log, header and body filters) that one call uses the local store (no
-- warning; Redis is not marked down).
-- @tparam[opt] table opts
-- @tparam[opt="127.0.0.1"] string opts.host
-- @tparam[opt=6379] number opts.port
-- @tparam[opt] string opts.password sent with AUTH on each new connection (never in an error)
-- @tparam[opt=0] number opts.db the database (SELECT)
-- @tparam[opt="instagram:"] string opts.prefix prefixed to every key
-- @tparam[opt=0.5] number opts.timeout seconds for connecting and for each answer
-- @tparam[opt=32] number opts.pool_size nginx: connections kept per worker
-- @tparam[opt=60] number opts.idle_timeout nginx: seconds a kept connection may idle
-- @tparam[opt=5] number opts.retry_after seconds on local state after a failure
-- @tparam[opt=true] boolean opts.fallback false: answer `nil, err` while Redis is down instead
-- @tparam[opt] function opts.log receives the warning text
-- @tparam[opt] function opts.now the clock, seconds
-- @treturn Store the store (nothing is connected until the first call); its field `client` says
--   which Redis client it uses, `"lua-resty-redis"` or `"luasocket"`
-- @raise for a bad option, or when no Redis client can be loaded (luasocket outside nginx,
--   lua-resty-redis inside)
-- @usage local s = require("instagram.store").redis{ host = "10.0.0.5", password = os.getenv("REDIS_PASSWORD") }
function _M.redis(opts)
  opts = check_opts("store.redis", opts, { host = "string", port = "number", password = "string", db = "number",
    prefix = "string", timeout = "number", pool_size = "number", idle_timeout = "number", retry_after = "number",
    fallback = "boolean", log = "function", now = "function" })
  local function whole(name, v, lo, hi)
    if v ~= nil and not (v == floor(v) and v >= lo and v <= hi) then
      error(("store.redis: %s must be a whole number from %d to %d, got %s"):format(name, lo, hi, tostring(v)), 3)
    end
  end
  local function seconds(name, v, hi)
    if v ~= nil and not (v > 0 and v <= hi) then
      error(("store.redis: %s must be seconds, more than 0 and at most %d, got %s"):format(name, hi, tostring(v)), 3)
    end
  end
  whole("port", opts.port, 1, 65535)
  whole("db", opts.db, 0, 65535)
  whole("pool_size", opts.pool_size, 1, 100000)
  seconds("timeout", opts.timeout, 60)
  seconds("idle_timeout", opts.idle_timeout, 86400)
  seconds("retry_after", opts.retry_after, 3600)
  if opts.password == "" then
    error("store.redis: password must not be empty (leave it out for a Redis without one)", 2)
  end
  local host, port = opts.host or "127.0.0.1", opts.port or 6379
  if host == "" or host:find("[%s%c]") then error("store.redis: host must be a host name or address", 2) end
  local prefix = check_prefix("store.redis", opts.prefix)
  local conn = require("instagram.redis").new{ host = host, port = port, password = opts.password,
    db = opts.db and floor(opts.db) or 0, timeout = opts.timeout or 0.5, pool_size = opts.pool_size or 32,
    idle_timeout = opts.idle_timeout or 60 }
  local now = opts.now or default_now
  return make(REDIS, { name = "redis", client = conn.client, conn = conn, ops = REDIS_OPS, host = host, port = port,
    retry_after = opts.retry_after or 5, fallback = opts.fallback ~= false, log = opts.log or default_log,
    now = now, backend_local = MEMORY, local_store = { now = now, values = {}, expires = {}, writes = 0 } }, prefix)
end

return _M
