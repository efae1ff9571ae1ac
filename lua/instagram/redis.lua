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
local require, select, setmetatable = require, select, setmetatable
local concat, floor = table.concat, math.floor
local unpack = table.unpack or unpack -- luacheck: ignore 143

local _M = {}

local ngx_transport = require "instagram.transport.ngx"
local ngx_phase = ngx_transport.phase

--- Whether this code runs inside nginx in a phase with cosockets.
-- @treturn boolean
function _M.cosockets()
  return ngx_transport.available()
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

-- Numbers go out as integers when whole (SELECT 1, never "1.0"), else in %.17g.
local function arg_text(a)
  if type(a) == "number" then
    if a == floor(a) and a > -2 ^ 63 and a < 2 ^ 63 then return ("%d"):format(a) end
    return ("%.17g"):format(a)
  end
  return tostring(a)
end

local function encode(args, n)
  local out = { "*" .. n .. "\r\n" }
  for i = 1, n do
    local a = arg_text(args[i])
    out[#out + 1] = "$" .. #a .. "\r\n"
    out[#out + 1] = a
    out[#out + 1] = "\r\n"
  end
  return concat(out)
end

-- What one reply may hold: the store's values are small (a token, usage headers), so a reply is
-- bounded in bytes, elements, depth and line length, and must be whole within `timeout` seconds of
-- the command (a server that drips bytes cannot hold a caller longer).
local MAX_REPLY = 4 * 1024 * 1024
local MAX_ITEMS = 1024
local MAX_LINE = 64 * 1024

-- r: { sock, deadline, budget, now }. Reads n bytes, or a line, within the deadline.
local function receive(r, what)
  local left = r.deadline - r.now()
  if left <= 0 then return nil, "timeout" end
  r.sock:settimeout(left)
  return r.sock:receive(what)
end

local function read_line(r)
  local parts, len = {}, 0
  while true do
    local c, err = receive(r, 1)
    if not c then return nil, err end
    if c == "\n" then break end
    len = len + 1
    if len > MAX_LINE then return nil, "line too long" end
    parts[len] = c
  end
  if parts[len] ~= "\r" then return nil, "line without CR" end
  parts[len] = nil
  r.budget = r.budget - len
  if r.budget < 0 then return nil, "reply too large" end
  return concat(parts)
end

-- A decimal integer as RESP writes it (no hex, spaces, exponent or fraction), or nil.
local function resp_int(s)
  if not s:find("^%-?%d+$") or #s > 18 then return nil end
  return tonumber(s)
end

-- One reply: value | nil (nil reply), or false, err, kind.
local function read_reply(r, depth)
  local line, err = read_line(r)
  if not line then return false, "read: " .. tostring(err), "down" end
  local t, rest = line:sub(1, 1), line:sub(2)
  if t == "+" then return rest end
  if t == "-" then return false, rest, "reply" end
  if t == ":" then
    local n = resp_int(rest)
    if not n then return false, "bad integer reply", "down" end
    return n
  end
  if t == "$" then
    local n = resp_int(rest)
    if not n or n < -1 then return false, "bad bulk length", "down" end
    if n == -1 then return nil end
    r.budget = r.budget - n
    if r.budget < 0 then return false, "reply too large", "down" end
    local data, rerr = receive(r, n + 2)
    if not data then return false, "read: " .. tostring(rerr), "down" end
    if data:sub(-2) ~= "\r\n" then return false, "bad bulk ending", "down" end
    return data:sub(1, n)
  end
  if t == "*" then
    local n = resp_int(rest)
    if not n or n < -1 or n > MAX_ITEMS or depth > 8 then return false, "bad array", "down" end
    if n == -1 then return nil end
    local list = {}
    for i = 1, n do
      local v, e, kind = read_reply(r, depth + 1)
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

-- Is the kept connection still open? Redis (or a proxy) closes idle clients: a closed one reads
-- "closed" at once, a live one "timeout" (nothing waiting). Anything waiting is a reply nobody
-- asked for: the connection is not to be trusted either.
local function still_open(sock)
  sock:settimeout(0)
  local data, err, partial = sock:receive(1)
  return data == nil and err == "timeout" and (partial == nil or partial == "")
end

-- One command and its reply on sock within the deadline r.
local function exchange(r, args, n)
  local left = r.deadline - r.now()
  if left <= 0 then return false, "timeout", "down" end
  r.sock:settimeout(left)
  local sent, err = r.sock:send(encode(args, n))
  if not sent then return false, "send: " .. tostring(err), "down" end
  local ok, v, e, kind = pcall(read_reply, r, 0)
  if not ok then return false, "read: " .. tostring(v), "down" end -- (out of memory...)
  return v, e, kind
end

-- A command on the kept connection; the connection is opened (AUTH and SELECT sent) when needed
-- and closed after any failure that leaves it in an unknown state. The whole of it, connecting
-- included, within `timeout` seconds.
function Socket:run(args, n)
  local r = { deadline = self.socket.gettime() + self.timeout, budget = MAX_REPLY, now = self.socket.gettime }
  if self.sock and not still_open(self.sock) then self:close() end
  if not self.sock then
    local sock = self.socket.tcp()
    sock:settimeout(self.timeout)
    local ok, err = sock:connect(self.host, self.port)
    if not ok then
      pcall(sock.close, sock)
      return false, ("connect %s:%d: %s"):format(self.host, self.port, tostring(err)), "down"
    end
    self.sock = sock
    r.sock = sock
    if self.password then
      local v, e, kind = exchange(r, { "AUTH", self.password }, 2)
      if v == false then
        self:close()
        -- never the reply's text: a server may quote the password back (cut, or with its line breaks changed)
        return false, kind == "reply" and "AUTH refused (an error reply)" or ("AUTH failed: " .. tostring(e)), "down"
      end
    end
    if self.db ~= 0 then
      local v, e = exchange(r, { "SELECT", self.db }, 2)
      if v == false then
        self:close()
        return false, "SELECT " .. self.db .. " failed: " .. tostring(e), "down"
      end
    end
  end
  r.sock = self.sock
  local v, e, kind = exchange(r, args, n)
  if v == false and kind == "down" then self:close() end
  return v, e, kind
end

-- ---- lua-resty-redis ------------------------------------------------------------------------------

local function resty_exchange(self, args, n)
  local ngx = rawget(_G, "ngx")
  local red, err = self.resty:new()
  if not red then return false, "resty.redis: " .. tostring(err), "down" end
  red:set_timeout(self.timeout * 1000)
  local ok
  ok, err = red:connect(self.host, self.port, { pool = self.pool, pool_size = self.pool_size })
  if not ok then return false, ("connect %s:%d: %s"):format(self.host, self.port, tostring(err)), "down" end
  local reused = (red:get_reused_times() or 0) > 0
  if not reused then
    if self.password then
      ok, err = red:auth(self.password)
      if not ok then
        red:close()
        return false, err == nil and "AUTH failed" or "AUTH refused (an error reply)", "down"
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
    return false, tostring(err), "down", reused and err == "closed"
  end
  red:set_keepalive(self.idle_timeout * 1000, self.pool_size)
  if res == false then return false, tostring(err), "reply" end
  if res == ngx.null then return nil end
  if type(res) == "table" then
    for i = 1, #res do if res[i] == ngx.null then res[i] = nil end end
  end
  return res
end

-- lua-resty-redis raises for some malformed replies (and runs out of memory or stack on hostile
-- ones): an answer, never a raise.
local function run_resty(self, args, n)
  local ok, v, e, kind, stale = pcall(resty_exchange, self, args, n)
  -- a kept connection Redis had closed (idle clients): once more, on a new one
  if ok and stale then ok, v, e, kind = pcall(resty_exchange, self, args, n) end
  if not ok then return false, "lua-resty-redis: " .. tostring(v), "down" end
  return v, e, kind
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
    local pw = self.password
    if pw and pw ~= "" and type(err) == "string" then -- a hostile server may echo it
      local out, from = {}, 1
      while true do
        local at, stop = err:find(pw, from, true)
        if not at then break end
        out[#out + 1] = err:sub(from, at - 1)
        out[#out + 1] = "[password]"
        from = stop + 1
      end
      out[#out + 1] = err:sub(from)
      err = concat(out)
    end
    -- Redis answered, but cannot serve: for the store that is down (fall back, warn), not an answer
    if kind == "reply" and type(err) == "string" and (err:find("^NOAUTH") or err:find("^WRONGPASS")
      or err:find("^READONLY") or err:find("^LOADING") or err:find("^MASTERDOWN") or err:find("^OOM")
      or err:find("^NOSCRIPT") or err:find("^BUSY") or err:find("^CLUSTERDOWN") or err:find("^MOVED")
      or err:find("^ERR unknown command") or err:find("^NOPERM")) then
      kind = "down"
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
