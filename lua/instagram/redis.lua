--- A small Redis connection for @{instagram.store}'s Redis store: one command at a time.
-- Inside nginx (in a phase with cosockets) it goes through lua-resty-redis (`resty.redis`, or
-- Debian's `nginx.redis`) with a keep-alive pool keyed by host, port, db and a hash of the
-- password; elsewhere through a blocking luasocket connection (Debian `lua-socket`) that it keeps
-- and reopens after a failure. Why luasocket and not hiredis in the C core: the C core stays
-- libcurl and OpenSSL only, everyone who does not use Redis installs nothing more, and five
-- commands of RESP need no more than this file.
--
-- `conn:call(cmd, ...)` answers the reply (a string, number, table, or `nil` for a nil reply), or
-- `nil, err, "down"` when Redis could not be reached or did not answer in time (the caller falls
-- back), `nil, err, "phase"` in an nginx phase without cosockets (init, log, filters), or
-- `nil, err, "reply"` for an error reply (Redis answered; nothing is wrong with it). A password
-- never appears in an error. `conn.client` says which client it uses: `"lua-resty-redis"` or
-- `"luasocket"`.
-- @module instagram.redis
local type, tostring, tonumber, error, pcall, rawget = type, tostring, tonumber, error, pcall, rawget
local require, select, setmetatable, ipairs = require, select, setmetatable, ipairs
local concat, floor = table.concat, math.floor
local unpack = table.unpack or unpack -- luacheck: ignore 143

local _M = {}

-- The phases where lua-nginx-module gives cosockets.
local COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
  ssl_session_fetch = true, ssl_client_hello = true, preread = true }

local function ngx_phase()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return nil end
  local ok, phase = pcall(ngx.get_phase)
  return ok and phase or nil
end

--- Whether this code runs inside nginx in a phase with cosockets.
-- @treturn boolean
function _M.cosockets()
  return COSOCKET_PHASES[ngx_phase() or ""] == true
end

local resty_redis
local function load_resty()
  if resty_redis == nil then
    local ok, m = pcall(require, "resty.redis")
    if not ok then ok, m = pcall(require, "nginx.redis") end
    resty_redis = ok and m or false
  end
  return resty_redis
end

-- ---- RESP over luasocket -------------------------------------------------------------------------

local function encode(args, n)
  local out = { "*" .. n .. "\r\n" }
  for i = 1, n do
    local a = tostring(args[i])
    out[#out + 1] = "$" .. #a .. "\r\n"
    out[#out + 1] = a
    out[#out + 1] = "\r\n"
  end
  return concat(out)
end

local MAX_BULK = 64 * 1024 * 1024
local MAX_ITEMS = 1024 * 1024

-- One reply from sock: value | nil (nil reply), or false, err, kind.
local function read_reply(sock, depth)
  local line, err = sock:receive("*l")
  if not line then return false, "read: " .. tostring(err), "down" end
  local t, rest = line:sub(1, 1), line:sub(2)
  if t == "+" then return rest end
  if t == "-" then return false, rest, "reply" end
  if t == ":" then
    local n = tonumber(rest)
    if not n then return false, "bad integer reply", "down" end
    return n
  end
  if t == "$" then
    local n = tonumber(rest)
    if not n or n ~= floor(n) or n < -1 or n > MAX_BULK then return false, "bad bulk length", "down" end
    if n == -1 then return nil end
    local data, rerr = sock:receive(n + 2)
    if not data then return false, "read: " .. tostring(rerr), "down" end
    if data:sub(-2) ~= "\r\n" then return false, "bad bulk ending", "down" end
    return data:sub(1, n)
  end
  if t == "*" then
    local n = tonumber(rest)
    if not n or n ~= floor(n) or n < -1 or n > MAX_ITEMS or depth > 8 then return false, "bad array", "down" end
    if n == -1 then return nil end
    local list = {}
    for i = 1, n do
      local v, e, kind = read_reply(sock, depth + 1)
      if v == false then
        if kind == "down" then return false, e, kind end
        v = { err = e }
      end
      list[i] = v
    end
    return list
  end
  return false, "not a Redis reply", "down"
end

local Socket = {}
Socket.__index = Socket

function Socket:close()
  if self.sock then pcall(self.sock.close, self.sock) end
  self.sock = nil
end

-- A command on the kept connection; the connection is opened (and AUTH, SELECT sent) when needed
-- and closed after any failure that leaves it in an unknown state.
function Socket:run(args, n)
  if not self.sock then
    local sock = self.socket.tcp()
    sock:settimeout(self.timeout)
    local ok, err = sock:connect(self.host, self.port)
    if not ok then
      pcall(sock.close, sock)
      return false, ("connect %s:%d: %s"):format(self.host, self.port, tostring(err)), "down"
    end
    self.sock = sock
    local setup = {}
    if self.password then setup[#setup + 1] = { "AUTH", self.password } end
    if self.db ~= 0 then setup[#setup + 1] = { "SELECT", self.db } end
    for _, cmd in ipairs(setup) do
      local sent, serr = sock:send(encode(cmd, #cmd))
      local r, e = nil, serr
      if sent then r, e = read_reply(sock, 0) end
      if not r then
        self:close()
        return false, cmd[1] .. " failed: " .. tostring(e), "down"
      end
    end
  end
  local sent, err = self.sock:send(encode(args, n))
  if not sent then
    self:close()
    return false, "send: " .. tostring(err), "down"
  end
  local v, e, kind = read_reply(self.sock, 0)
  if v == false and kind == "down" then self:close() end
  return v, e, kind
end

-- ---- lua-resty-redis ------------------------------------------------------------------------------

local function run_resty(self, args, n)
  local ngx = rawget(_G, "ngx")
  local red, err = self.resty:new()
  if not red then return false, "resty.redis: " .. tostring(err), "down" end
  red:set_timeout(self.timeout * 1000)
  local ok
  ok, err = red:connect(self.host, self.port, { pool = self.pool, pool_size = self.pool_size })
  if not ok then return false, ("connect %s:%d: %s"):format(self.host, self.port, tostring(err)), "down" end
  if (red:get_reused_times() or 0) == 0 then
    if self.password then
      ok, err = red:auth(self.password)
      if not ok then
        red:close()
        return false, "AUTH failed: " .. tostring(err), "down"
      end
    end
    if self.db ~= 0 then
      ok, err = red:select(self.db)
      if not ok then
        red:close()
        return false, "SELECT failed: " .. tostring(err), "down"
      end
    end
  end
  local res
  res, err = red[args[1]:lower()](red, unpack(args, 2, n))
  if res == nil then -- a socket error: the connection is in an unknown state
    red:close()
    return false, tostring(err), "down"
  end
  red:set_keepalive(self.idle_timeout * 1000, self.pool_size)
  if res == false then return false, tostring(err), "reply" end
  if res == ngx.null then return nil end
  if type(res) == "table" then
    for i = 1, #res do if res[i] == ngx.null then res[i] = nil end end
  end
  return res
end

-- ---- the connection ------------------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

--- Runs one command.
-- @tparam string cmd the command (`"GET"`, `"SET"`, ...)
-- @param ... its arguments (strings or numbers)
-- @return the reply, or nil for Redis's nil reply
-- @treturn[2] nil
-- @treturn[2] string err what failed (never the password)
-- @treturn[2] string `"down"` (not reached, or no answer in time), `"phase"` (no cosockets in this
--   nginx phase) or `"reply"` (an error reply)
function Conn:call(...)
  local n = select("#", ...)
  local args = { ... }
  local v, err, kind
  if self.resty and _M.cosockets() then
    v, err, kind = run_resty(self, args, n)
  elseif self.socket then
    v, err, kind = Socket.run(self, args, n)
  elseif self.resty then
    return nil, "no cosockets in nginx's " .. tostring(ngx_phase()) .. " phase", "phase"
  else
    return nil, "no Redis client (install lua-socket)", "down"
  end
  if v == false then
    if self.password and type(err) == "string" then
      local at, stop = err:find(self.password, 1, true)
      while at do
        err = err:sub(1, at - 1) .. "[password]" .. err:sub(stop + 1)
        at, stop = err:find(self.password, at + 10, true)
      end
    end
    return nil, err, kind
  end
  return v
end

--- Closes a kept luasocket connection (nginx's pool keeps its own).
function Conn:close() Socket.close(self) end

--- A connection (nothing is opened until the first command).
-- @tparam table o host, port, password (or nil), db, timeout (seconds), pool_size, idle_timeout
--   (seconds)
-- @treturn Conn
-- @raise when neither lua-resty-redis (inside nginx) nor luasocket (outside) can be loaded
function _M.new(o)
  local self = setmetatable({ host = o.host, port = o.port, password = o.password, db = o.db,
    timeout = o.timeout, pool_size = o.pool_size, idle_timeout = o.idle_timeout }, Conn)
  -- connections authenticated with one password are never handed to a store with another
  local core_ok, core = pcall(require, "instagram.core")
  local mark = "none"
  if o.password then
    mark = core_ok and core.hmac_sha256_hex and core.hmac_sha256_hex("instagram-redis-pool", o.password):sub(1, 16)
    if not mark then
      local h = 0
      for i = 1, #o.password do h = (h * 31 + o.password:byte(i)) % 4294967296 end
      mark = ("%08x"):format(h)
    end
  end
  self.pool = ("instagram-redis:%s:%d:%d:%s"):format(o.host, o.port, o.db, mark)
  if ngx_phase() then
    self.resty = load_resty() or nil -- never luasocket inside nginx: it would block the worker
  else
    local ok, socket = pcall(require, "socket")
    if ok and type(socket) == "table" and socket.tcp then self.socket = socket end
  end
  self.client = self.resty and "lua-resty-redis" or self.socket and "luasocket" or nil
  if not self.client then
    error(ngx_phase() and "store.redis: needs lua-resty-redis inside nginx (resty.redis, or Debian's lua-nginx-redis)"
      or "store.redis: needs luasocket outside nginx (Debian: lua-socket)", 3)
  end
  return self
end

return _M
