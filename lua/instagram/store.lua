--- Shared state: one small interface over a process table, an nginx `lua_shared_dict` or Redis.
-- What the library keeps between calls (rate-limit usage and blocks, tokens and their refresh
-- lock, webhook deliveries already seen) goes through a store, so that it can be shared by the
-- workers of one nginx (@{shdict}) or a fleet (Redis, next). Every store has the same five
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
local type, tostring, error, setmetatable, pairs, pcall, rawget = type, tostring, error, setmetatable, pairs, pcall, rawget
local floor, huge, tointeger = math.floor, math.huge, math.tointeger

local _M = {}

local MAX_KEY = 250
-- The longest ttl (a year): a larger one is a mistake (milliseconds for seconds).
local MAX_TTL = 365 * 86400

local function default_now()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.now) == "function" then return ngx.now() end
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

--- A store made by @{memory} or @{shdict} (Redis next): the five methods.
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
    v = v + by
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
-- @tparam[opt] function opts.now the clock, seconds (default `ngx.now` in nginx, else
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

local SHDICT = {
  get = function(self, k)
    local v, err = self.dict:get(k)
    if v == nil and err then return nil, err end
    return v
  end,
  set = function(self, k, value, ttl)
    local ok, err = self.dict:set(k, value, ttl or 0)
    if not ok then return nil, err or "set failed" end
    return true
  end,
  add = function(self, k, value, ttl)
    local ok, err = self.dict:add(k, value, ttl or 0)
    if ok then return true end
    if err == "exists" then return false end
    return nil, err or "add failed"
  end,
  incr = function(self, k, by, ttl)
    local v, err = self.dict:incr(k, by, 0, ttl or 0)
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

return _M
