--- The nginx cosocket transport: never blocks an nginx worker.
--   t:request{ method, url, headers, body, timeout } -> { status, headers, body } | nil, reason, message
-- HTTP/1.1 over ngx.socket.tcp, TLS verified by sslhandshake (trust comes from nginx's
-- `lua_ssl_trusted_certificate`), SNI, a keep-alive pool per origin, content-length, chunked and
-- read-until-close bodies, an overall deadline per request.
--
-- It holds to what the C core (libcurl) does with the same input:
-- * misuse raises: a URL that is not a string, empty, over 64 KiB, with a NUL byte or not http(s);
--   a method that is not 1-16 upper-case letters; header names that are not HTTP tokens of at most
--   256 bytes, values with CR, LF or NUL or over 16384 bytes. A URL with any other byte up to 0x20,
--   or 0x7F, is refused as libcurl refuses it: nil, "invalid". Nothing is sent in either case.
-- * a Host or User-Agent header replaces the transport's own; Content-Length and
--   Transfer-Encoding raise (the transport frames the body itself, and two would split a request).
-- * answers are bounded: at most 256 KiB of status and header lines (interim 1xx answers and
--   chunked trailers included) and at most 1000 header lines, else nil, "size"; bodies stop as soon
--   as they pass max_body, whatever their framing, with nil, "size".
-- * header lines are parsed as the C core parses them: a line without a colon, or with an empty or
--   over-256-byte name, is skipped; values keep their bytes (CR and NUL included) and lose the
--   spaces and tabs around them; a repeated name is joined with ", ".
-- * status lines and framing are read as RFC 9112 has them, where libcurl would guess: nil,
--   "network" for a status line that is not HTTP/1.0 or 1.1, a space and exactly three digits (then
--   a space or the end; codes under 100 refused as libcurl refuses them, 600-999 returned), for a
--   101 (no upgrade is ever asked for: the connection speaks something else now), for a
--   Transfer-Encoding other than chunked alone, for a chunk size with anything but extensions after
--   it, for a Content-Length that is not one decimal number. Messages never quote the server's
--   status line (it may echo the Authorization header). A connection goes back to the pool only
--   after an answer framed one way, that did not say close, with no byte left over; never after a
--   204 that announced a body or chunked beside a Content-Length or in HTTP/1.0; over TLS, never
--   when the answer's last read may have filled nginx's buffer (bytes may wait inside OpenSSL).
-- * a request is sent again on a fresh connection only when a reused keep-alive connection failed
--   and the server cannot have acted on it: for GET, HEAD, DELETE, PUT and OPTIONS when no answer
--   byte came; for any other method only when not one byte of the request left (the first byte is
--   sent alone on a reused connection to know that). A POST the server may have read is never
--   sent twice: its failure is returned as "network".
--
-- The client picks it by itself through @{instagram.transport.auto}; make one directly only to set
-- `pool_size` or `keepalive_timeout`, and only for a client used in phases that allow cosockets.
-- nginx needs `lua_ssl_trusted_certificate` and a `resolver` for the Graph API's hosts.
-- @module instagram.transport.ngx
-- @usage -- content_by_lua_block
-- local client = require("instagram").new{ access_token = TOKEN,
--   transport = require("instagram.transport.ngx").new{ pool_size = 64, keepalive_timeout = 30 } }
-- local me, err = client:get("/me", { fields = "id" })
local ngx = ngx
local type, tonumber, tostring, setmetatable, pairs, error = type, tonumber, tostring, setmetatable, pairs, error
local lower, match, find, sub, byte, concat, format = string.lower, string.match, string.find, string.sub,
  string.byte, table.concat, string.format
local max, min, floor = math.max, math.min, math.floor
-- The C core only for its non-blocking file check, loaded when first needed: the emulator loads
-- this module in nginx without a core built for its LuaJIT.
local function regular_file(path) return require("instagram.core").regular_file(path) end

local VERSION = "0.2.0" -- = IG_CORE_VERSION (src/core.h): make release-check compares them
local _M = {}
local T = {}
T.__index = T

local MAX_URL = 64 * 1024
local MAX_HEADER_NAME, MAX_HEADER_VALUE = 256, 16384
local MAX_HEADER_BLOCK = 256 * 1024 -- bytes of status and header lines, 1xx answers included
local MAX_HEADER_LINES = 1000       -- header lines (not counting status lines)
local MAX_CHUNK_LINE = 4096         -- a chunk-size line, extensions included
local PIECE = 65536                 -- what one socket read asks for
local DAY = 86400

local SIZE_HEADERS = "response headers larger than 256 KiB"
local SIZE_LINES = "response headers: more than " .. MAX_HEADER_LINES .. " lines"

-- Safe to send twice: the server may have acted on the first and acts the same on the second.
local IDEMPOTENT = { GET = true, HEAD = true, DELETE = true, PUT = true, OPTIONS = true }

-- Phases in which cosockets may be used.
local COSOCKET_PHASES = {
  server_rewrite = true, rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true,
}

--- Can cosockets be used here and now?
-- @treturn boolean true inside ngx_lua in the server_rewrite, rewrite, access, content, timer, ssl_cert or
--   ssl_session_fetch phase; false elsewhere (and outside nginx)
-- @raise never raises
-- @usage if require("instagram.transport.ngx").available() then ngx.say("cosockets") end
function _M.available()
  if type(ngx) ~= "table" or not ngx.socket or not ngx.get_phase then return false end
  return COSOCKET_PHASES[ngx.get_phase()] == true
end

--- The nginx phase this code runs in.
-- @treturn ?string `ngx.get_phase()` inside ngx_lua, nil outside nginx
-- @raise never raises
-- @usage local phase = require("instagram.transport.ngx").phase()
function _M.phase()
  local n = rawget(_G, "ngx")
  if type(n) ~= "table" or type(n.get_phase) ~= "function" then return nil end
  local ok, phase = pcall(n.get_phase)
  return ok and phase or nil
end

local pool_key -- (below, with the reading)

-- nginx's time, brought up to date. ngx.now() and the timers of cosockets move only when the event
-- loop turns: after a blocking call or a long stretch of Lua work they lag, and a deadline reckoned
-- from them (or a socket timeout counted from them) would be spent before the request began.
local function clock()
  ngx.update_time()
  return ngx.now()
end

-- ---- options ----------------------------------------------------------------------------------

-- Raises at `level` (default 4: the caller of whoever called the function that called this).
local function seconds(v, name, level)
  level = level or 4
  if type(v) ~= "number" then error(format("option '%s' must be a number of seconds, got %s", name, type(v)), level) end
  if not (v > 0 and v <= DAY) then
    error(format("option '%s' must be between 0 and 86400 seconds (exclusive of 0)", name), level)
  end
  return v
end

local function option_string(v, name)
  if type(v) ~= "string" then error(format("option '%s' must be a string, got %s", name, type(v)), 4) end
  if #v == 0 or #v > 4096 or find(v, "\0", 1, true) then
    error(format("option '%s' must be a non-empty string without NUL bytes (at most 4096 bytes)", name), 4)
  end
  return v
end

local CHECK = {
  timeout = function(v) return seconds(v, "timeout") end,
  connect_timeout = function(v) return seconds(v, "connect_timeout") end,
  keepalive_timeout = function(v) return seconds(v, "keepalive_timeout") end,
  ca_file = function(v) return option_string(v, "ca_file") end,
  user_agent = function(v)
    option_string(v, "user_agent")
    if find(v, "[%z\1-\31\127]") then error("option 'user_agent' must not contain control characters", 3) end
    return v
  end,
  http2 = function(v)
    if type(v) ~= "boolean" and v ~= "always" then error("option 'http2' must be true, false or \"always\"", 3) end
    return v
  end,
  max_body = function(v)
    if type(v) ~= "number" then error("option 'max_body' must be a number of bytes", 3) end
    if not (v >= 1 and v <= 4294967296) then error("option 'max_body' must be between 1 byte and 4 GiB", 3) end
    return floor(v)
  end,
  pool_size = function(v)
    if type(v) ~= "number" or v < 1 or v > 65536 or v % 1 ~= 0 then
      error("option 'pool_size' must be a whole number from 1 to 65536", 3)
    end
    return v
  end,
}

--- Makes a cosocket transport.
-- `ca_file` and `http2` are accepted for symmetry with the curl transport and have no effect here:
-- nginx's `lua_ssl_trusted_certificate` decides trust, and this speaks HTTP/1.1. Options are checked
-- as the C core checks its own.
-- @tparam[opt] table opts the options:
-- @tparam[opt=30] number opts.timeout seconds per request, for the whole request (more than 0, at
--   most 86400)
-- @tparam[opt=10] number opts.connect_timeout seconds to connect (more than 0, at most 86400)
-- @tparam[opt=60] number opts.keepalive_timeout seconds an idle connection stays in nginx's pool
--   (more than 0, at most 86400)
-- @tparam[opt=32] integer opts.pool_size connections kept per origin in the keep-alive pool
--   (whole, 1 to 65536)
-- @tparam[opt] string opts.user_agent the `User-Agent` (default `instagram-graph-lua/<version>
--   (ngx_lua)`); no control characters, at most 4096 bytes
-- @tparam[opt=67108864] integer opts.max_body the largest answer, bytes (1 to 4 GiB; default 64 MiB)
-- @tparam[opt] string opts.ca_file checked to be a readable regular file, otherwise unused
-- @tparam[opt] boolean|string opts.http2 checked, otherwise unused
-- @treturn Transport the transport (`name = "ngx"`)
-- @raise when `opts` is not a table, for an unknown option, a wrong type, a value out of range, or
--   a `ca_file` that is not a readable regular file
-- @usage local t = require("instagram.transport.ngx").new{ timeout = 10, pool_size = 16 }
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("ngx transport options must be a table", 2) end
  for k, v in pairs(opts) do
    local check = CHECK[k]
    if not check then error("unknown ngx transport option '" .. tostring(k) .. "'", 2) end
    check(v)
  end
  if opts.ca_file then -- not used here, but a wrong path is still a mistake worth naming
    -- asked of the C core, which never blocks: io.open on a FIFO would stall the whole worker
    local ok, why = regular_file(opts.ca_file)
    if not ok then error("option 'ca_file': " .. why, 2) end
  end
  return setmetatable({
    name = "ngx",
    timeout = opts.timeout or 30,
    connect_timeout = opts.connect_timeout or 10,
    user_agent = opts.user_agent or ("instagram-graph-lua/" .. VERSION .. " (ngx_lua)"),
    max_body = opts.max_body and floor(opts.max_body) or 64 * 1024 * 1024,
    keepalive_timeout = (opts.keepalive_timeout or 60) * 1000,
    pool_size = opts.pool_size or 32,
  }, T)
end

--- A cosocket transport, made by @{new}. `sleep(s)` is `ngx.sleep` and `now()` is `ngx.now` brought
-- up to date first (`ngx.update_time`).
-- Its methods keep the contract of @{instagram.transport.curl.Transport}, with the differences the
-- module describes.
-- @type Transport

T.sleep = function(s) return ngx.sleep(s) end
T.now = clock

-- ---- the request: checked whole before any connection is made ---------------------------------

--- "https://host:port/path?q" -> scheme, host, port, path_and_query, authority
local function parse_url(url)
  local scheme, rest = match(url, "^(https?)://(.+)$")
  if not scheme then return nil end
  local authority, path = match(rest, "^([^/?#]+)(.*)$")
  if not authority then return nil end
  local host, port = match(authority, "^%[(.+)%]:?(%d*)$")
  if not host then host, port = match(authority, "^([^:]+):?(%d*)$") end
  if not host then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil end
  if path == "" or sub(path, 1, 1) == "?" then path = "/" .. path end
  path = match(path, "^([^#]*)")
  return scheme, host, port, path, authority
end

-- Raises (at `level`) on what the C core raises on; returns nil, message for what libcurl refuses.
local function check_url(url, level)
  if type(url) ~= "string" then error("bad url: a string is required", level) end
  if #url == 0 or #url > MAX_URL or find(url, "\0", 1, true) then
    error("bad url: a non-empty http(s) URL without NUL bytes, at most 64 KiB", level)
  end
  if sub(url, 1, 7) ~= "http://" and sub(url, 1, 8) ~= "https://" then
    error("bad url: only http:// and https:// URLs are supported", level)
  end
  if find(url, "[\1-\32\127]") then return nil, "bad url: spaces and control characters are not allowed" end
  return url
end

local function valid_name(k)
  return #k >= 1 and #k <= MAX_HEADER_NAME and not find(k, "[^%w!#$%%&'*+%-.^_`|~]")
end

local function valid_value(v)
  return #v <= MAX_HEADER_VALUE and not find(v, "[%z\r\n]")
end

-- The request head, up to and including the blank line. Raises (at `level`) on bad headers.
local function build_head(self, method, path, authority, headers, body_length, level)
  local host, agent, lines = authority, self.user_agent, {}
  if headers ~= nil then
    if type(headers) ~= "table" then error("headers must be a table", level) end
    for k, v in pairs(headers) do
      if type(k) ~= "string" then error("header names must be strings", level) end
      local tv = type(v)
      if tv ~= "string" and tv ~= "number" then error("header values must be strings or numbers", level) end
      v = tostring(v)
      local name_ok = valid_name(k)
      if not (name_ok and valid_value(v)) then
        error(format("invalid header '%s': names are HTTP tokens, values have no CR, LF or NUL", name_ok and k or "?"),
          level)
      end
      local lk = lower(k)
      if lk == "content-length" or lk == "transfer-encoding" then
        error("header '" .. k .. "': the transport frames the body itself", level)
      elseif lk == "host" then host = v
      elseif lk == "user-agent" then agent = v
      else lines[#lines + 1] = k .. ": " .. v .. "\r\n" end
    end
  end
  if body_length then lines[#lines + 1] = "Content-Length: " .. format("%d", body_length) .. "\r\n" end
  return concat{ method, " ", path, " HTTP/1.1\r\nHost: ", host, "\r\nUser-Agent: ", agent, "\r\n",
                 concat(lines), "\r\n" }
end

local function check_method(method, level)
  if type(method) ~= "string" or #method > 16 or not match(method, "^%u+$") then
    error("bad method '" .. tostring(method) .. "': an upper-case HTTP method such as GET or POST", level)
  end
end

-- Checks a request table; returns what _attempt needs, or nil, "invalid", message. Raises at level.
local function prepare(self, req, level)
  if type(req) ~= "table" then error("request must be a table", level) end
  check_method(req.method, level + 1)
  local url, why = check_url(req.url, level + 1)
  if not url then return nil, "invalid", why end
  local body = req.body
  if body ~= nil and type(body) ~= "string" then
    if type(body) ~= "number" then error("body must be a string", level) end
    body = tostring(body)
  end
  local timeout = req.timeout
  if timeout ~= nil then seconds(timeout, "timeout") end
  local scheme, host, port, path, authority = parse_url(url)
  if not scheme then return nil, "invalid", "bad url: no host, or a bad port" end
  local method = req.method
  local length = (body or method == "POST" or method == "PUT") and #(body or "") or nil
  return {
    method = method, scheme = scheme, host = host, port = port,
    origin = format("%s://%s:%d", scheme, host, port), pool = pool_key(scheme, host, port),
    head = build_head(self, method, path, authority, req.headers, length, level + 1),
    body = body, timeout = timeout or self.timeout,
  }
end

-- The keep-alive pool of an origin. nginx's pools are shared by every Lua module of the worker: the
-- name says these connections are this library's, TLS-verified against the host name they were
-- opened for (as lua-resty-http keys its pools by verification and server name), so no connection
-- that some other code opened without verification (or for another name) is ever reused here.
pool_key = function(scheme, host, port)
  return format("instagram-graph %s://%s:%d%s", scheme, host, port,
    scheme == "https" and (" verify sni=" .. host) or "")
end

-- ---- reading the answer: every read bounded --------------------------------------------------

local function classify(err)
  err = tostring(err)
  if find(err, "timeout", 1, true) then return "timeout" end
  if find(err, "refused", 1, true) or find(err, "no resolver", 1, true) or find(err, "could not be resolved", 1, true) then
    return "connect"
  end
  return "network"
end

-- After the request may have left: a timeout stays a timeout, anything else is "network" (never
-- "connect", which callers take as "the request never left").
local function after_send(err)
  return classify(err) == "timeout" and "timeout" or "network"
end

-- Every socket operation gets what is left of the request's time; a negative deadline means
-- "this many seconds per operation" instead (uploads: a stall limit, not a total one), counted from
-- the present (an upload's progress callback may have blocked since the last operation).
local function remaining_ms(deadline)
  if deadline < 0 then
    ngx.update_time()
    return max(1, floor(-deadline * 1000))
  end
  return max(1, floor((deadline - ngx.now()) * 1000))
end

-- A read buffer over the socket: `buf` from `pos` is received and not yet used; `got` counts
-- every byte received, `last` those of the latest read.
local function new_reader(sock, deadline)
  return { sock = sock, deadline = deadline, buf = "", pos = 1, got = 0, last = 0 }
end

-- Over TLS a read that fills nginx's buffer for the socket (lua_socket_buffer_size) may leave the
-- rest of a record decrypted inside OpenSSL, where neither this module's buffer, nor the poll of
-- stale(), nor nginx's own keep-alive check (a peek at the socket) sees it: the next request on the
-- connection would read it as its answer (an answer a server sent unasked would be taken for a
-- POST's, and a "code 4" there has the POST made again). Every read asks for PIECE, more than the
-- buffer holds, so it takes all nginx has (nginx starts each read at its buffer's start once it is
-- emptied) and a read that filled the buffer returned exactly its size. That size is not known
-- here, but it is set in KiB (4k, 8k: the page size by default): an answer on TLS whose last read
-- returned a whole number of KiB is not kept (T:_attempt). An honest answer ends so about once in
-- 1024; a buffer size that is not a whole number of KiB hides a full read from this test.
local function may_have_filled(r) return r.last > 0 and r.last % 1024 == 0 end

-- Whatever has arrived (up to n bytes), waiting at most what is left of the deadline. nginx's
-- socket timeouts restart whenever a byte arrives, so every read is one receiveany under a
-- deadline checked here: a server dripping bytes cannot stretch the request past its timeout.
local function receive_some(r, n)
  local d = r.deadline
  if d >= 0 and ngx.now() >= d then return nil, "timeout" end
  r.sock:settimeout(remaining_ms(d))
  local data, err = r.sock:receiveany(n)
  if not data then return nil, err end
  r.got, r.last = r.got + #data, #data
  return data
end

local function fill(r)
  local data, err = receive_some(r, PIECE)
  if not data then return nil, err end
  r.buf, r.pos = data, 1
  return true
end

-- The next line (LF-terminated; a CR before the LF dropped) and the bytes it took, or nil, "size"
-- as soon as it would take more than `budget` bytes, or nil, socket error.
local function read_line(r, budget)
  local parts, n = nil, 0
  while true do
    local buf, pos = r.buf, r.pos
    local e = find(buf, "\n", pos, true)
    if e then
      n = n + (e - pos + 1)
      if n > budget then return nil, "size" end
      local line = sub(buf, pos, e - 1)
      r.pos = e + 1
      if parts then parts[#parts + 1] = line; line = concat(parts) end
      if byte(line, -1) == 13 then line = sub(line, 1, -2) end
      return line, n
    end
    local rest = #buf - pos + 1
    if rest > 0 then
      n = n + rest
      if n > budget then return nil, "size" end
      parts = parts or {}
      parts[#parts + 1] = pos == 1 and buf or sub(buf, pos)
    end
    local ok, err = fill(r)
    if not ok then return nil, err end
  end
end

-- Exactly n bytes (n already bounded by the caller).
local function read_exact(r, n)
  local avail = #r.buf - r.pos + 1
  if avail >= n then
    local s = sub(r.buf, r.pos, r.pos + n - 1)
    r.pos = r.pos + n
    return s
  end
  local parts, need = { sub(r.buf, r.pos) }, n - avail
  r.buf, r.pos = "", 1
  while need > 0 do
    local data, err = receive_some(r, PIECE) -- (all nginx holds: see may_have_filled)
    if not data then return nil, err end
    if #data > need then -- the rest stays in the buffer
      parts[#parts + 1] = sub(data, 1, need)
      r.buf, r.pos = data, need + 1
      break
    end
    parts[#parts + 1] = data
    need = need - #data
  end
  return concat(parts)
end

-- Collects many pieces without keeping each small one alive: 1024 at a time become one.
local function new_sink() return { small = {}, n = 0, big = {} } end
local function put(s, data)
  s.n = s.n + 1
  s.small[s.n] = data
  if s.n >= 1024 then
    s.big[#s.big + 1] = concat(s.small, "", 1, s.n)
    s.small, s.n = {}, 0
  end
end
local function drain(s)
  s.big[#s.big + 1] = concat(s.small, "", 1, s.n)
  return concat(s.big)
end

-- One header line into fields (name -> list of values), as ig_push_headers does in the C core.
local function add_field(fields, line)
  local colon = find(line, ":", 1, true)
  if not colon or colon == 1 or colon - 1 > MAX_HEADER_NAME then return end -- junk, or no usable name
  local name = lower(sub(line, 1, colon - 1))
  local vs = find(line, "[^ \t]", colon + 1) or #line + 1
  local ve = #line
  while ve >= vs do
    local b = byte(line, ve)
    if b ~= 32 and b ~= 9 then break end
    ve = ve - 1
  end
  local value = sub(line, vs, ve)
  local list = fields[name]
  if list then list[#list + 1] = value else fields[name] = { value } end
end

local function joined(fields)
  local headers = {}
  for name, list in pairs(fields) do headers[name] = concat(list, ", ") end
  return headers
end

-- Lines up to a blank one, within the budget; returns the fields, the budget left and the lines
-- counted so far, or nil, error ("size", "lines", a socket error).
local function read_fields(r, budget, count)
  local fields = {}
  while true do
    local line, n = read_line(r, budget)
    if not line then return nil, n end
    budget = budget - n
    if line == "" then return fields, budget, count end
    count = count + 1
    if count > MAX_HEADER_LINES then return nil, "lines" end
    add_field(fields, line)
  end
end

-- A status line (RFC 9112): HTTP/1.0 or HTTP/1.1, a space, a status code of exactly three digits,
-- then a space and a reason phrase, or nothing. Codes under 100 are refused, 600 to 999 taken, as
-- libcurl does. Returns the version and the status, or nil, why: never with the line's other bytes,
-- which a server may have filled with the request's Authorization header.
local function status_line(line)
  local version, status, rest = match(line, "^HTTP/(%d%.%d) (%d%d%d)(.*)$")
  if not version then return nil, "bad status line: not HTTP/x.y, a space and a three-digit status code" end
  if rest ~= "" and byte(rest) ~= 32 then
    return nil, "bad status line: the status code is not three digits followed by a space"
  end
  if version ~= "1.1" and version ~= "1.0" then return nil, "bad status line: HTTP/" .. version .. ", not 1.0 or 1.1" end
  local code = tonumber(status)
  if code < 100 then return nil, "bad status line: status code " .. status end
  return version, code
end

-- The final answer's status, headers and HTTP version (interim 1xx answers skipped), and the
-- header budget and line count left for chunked trailers; or nil, err.
local function read_head(r)
  local budget, count = MAX_HEADER_BLOCK, 0
  while true do
    local line, n = read_line(r, budget)
    if not line then return nil, n end
    budget = budget - n
    local version, status = status_line(line)
    if not version then return nil, status end
    -- not an interim answer: the connection speaks something else now, and no upgrade was asked for
    if status == 101 then return nil, "bad answer: 101 Switching Protocols to a request that asked for no upgrade" end
    local fields, left, lines = read_fields(r, budget, count)
    if not fields then return nil, left end
    budget, count = left, lines
    if status >= 200 then return status, joined(fields), version, budget, count end
  end
end

-- budget, count: what the head left of the header block's bytes and lines (trailers share them).
local function read_chunked(r, limit, budget, count)
  local sink, total = new_sink(), 0
  while true do
    local line, err = read_line(r, MAX_CHUNK_LINE)
    if not line then return nil, err == "size" and "bad chunk size line (too long)" or err end
    -- hex digits, then nothing or extensions (";name=value"): "0x5" is no chunk of 0 bytes
    local hex, ext = match(line, "^[ \t]*(%x+)[ \t]*(.*)$")
    if not hex or (ext ~= "" and byte(ext) ~= 59) then return nil, "bad chunk size line" end
    local size = tonumber(hex, 16)
    if size == 0 then
      local fields, terr = read_fields(r, budget, count) -- trailers: within what the head left
      if not fields then return nil, terr == "size" and "trailers" or terr end
      return drain(sink)
    end
    total = total + size
    if total > limit then return nil, "size" end
    local data, derr = read_exact(r, size)
    if not data then return nil, derr end
    put(sink, data)
    local crlf, cerr = read_line(r, 2)
    if not crlf then return nil, cerr == "size" and "bad chunk end" or cerr end
    if crlf ~= "" then return nil, "bad chunk end" end
  end
end

local function read_to_close(r, limit)
  local sink, total = new_sink(), 0
  local rest = sub(r.buf, r.pos)
  r.buf, r.pos = "", 1
  if rest ~= "" then put(sink, rest); total = #rest end
  while total <= limit do
    local data, err = receive_some(r, PIECE)
    if not data then
      if err == "closed" then return drain(sink) end
      return nil, err
    end
    total = total + #data
    put(sink, data)
  end
  return nil, "size"
end

local function has_token(list, token)
  for t in (list or ""):gmatch("[^,%s]+") do
    if lower(t) == token then return true end
  end
  return false
end

-- ---- one attempt -----------------------------------------------------------------------------

-- Whether a pooled connection has bytes (or an end) waiting before a request is sent on it: only
-- what a server wrote after its last answer, which this request would read as its own answer.
-- nginx closes such a connection when its event loop sees the bytes, but Lua work since the last
-- turn of the loop (or bytes that came just now) would get it from the pool all the same. The
-- socket's fd comes from lua-nginx-module's FFI (`ngx_http_lua_ffi_socket_tcp_hack_fd` with -1
-- returns it unchanged; the public `getfd` of newer versions is that), then a poll() that does not
-- wait. Without FFI or the symbol: false (nginx's own check is all there is).
local stale
do
  local ffi_ok, ffi = pcall(require, "ffi")
  local C = ffi_ok and ffi.C
  if ffi_ok then
    pcall(ffi.cdef, "struct ig_pollfd { int fd; short events; short revents; };")
    pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
    pcall(ffi.cdef, "int ngx_http_lua_ffi_socket_tcp_hack_fd(void *u, int fd, unsigned char *err, size_t *errlen);")
  end
  local have = ffi_ok and pcall(function() return C.poll and C.ngx_http_lua_ffi_socket_tcp_hack_fd end)
  local pfd, pfd_ptr, errbuf, errlen
  if have then
    pfd = ffi.new("struct ig_pollfd[1]")
    -- (void *: whatever another library declared poll() with first; made once, pfd kept alive above)
    pfd_ptr = ffi.cast("void *", pfd)
    errbuf, errlen = ffi.new("unsigned char[64]"), ffi.new("size_t[1]")
  end
  local function look(sock)
    local u = sock[1] -- (the socket's upstream, as lua-resty-core reads it)
    if u == nil then return false end
    errlen[0] = 64
    local fd = C.ngx_http_lua_ffi_socket_tcp_hack_fd(u, -1, errbuf, errlen)
    if fd < 0 then return false end
    pfd[0].fd, pfd[0].events, pfd[0].revents = fd, 1, 0 -- POLLIN
    return C.poll(pfd_ptr, 1, 0) > 0
  end
  stale = function(sock)
    if not have then return false end
    local ok, yes = pcall(look, sock)
    return ok and yes == true
  end
end

-- One attempt on one connection. Returns res, or nil, reason, message, retry (true when a fresh
-- connection may be tried: see the rule at the top of this file).
function T:_attempt(p, deadline, body_writer)
  local sock, ok, err, reused
  local pool = p.origin -- (in messages; the pool's key is p.pool)
  -- a pooled connection with bytes waiting is closed and the next one taken (each close takes one
  -- out of the pool: it ends with a connection that is new or clean)
  while true do
    sock = ngx.socket.tcp()
    sock:settimeout(min(max(1, floor(self.connect_timeout * 1000)), remaining_ms(deadline)))
    ok, err = sock:connect(p.host, p.port, { pool = p.pool, pool_size = self.pool_size })
    if not ok then return nil, classify(err), "connect to " .. pool .. " failed: " .. tostring(err) end
    reused = (sock:getreusedtimes() or 0) > 0
    if not (reused and stale(sock)) then break end
    sock:close()
  end
  if p.scheme == "https" and not reused then
    sock:settimeout(remaining_ms(deadline))
    -- sslhandshake may raise (Debian's resty core raises for some failures): an answer, never a raise
    local called, sess, serr = pcall(sock.sslhandshake, sock, nil, p.host, true)
    if not called then sess, serr = nil, sess end
    if not sess then
      sock:close()
      serr = tostring(serr)
      local reason = find(serr, "timeout", 1, true) and "timeout" or "tls"
      local hint = ""
      if reason == "tls" and (find(serr, "verif", 1, true) or find(serr, "certificate", 1, true)) then
        hint = " (inside nginx the trusted CAs are nginx.conf's lua_ssl_trusted_certificate, e.g. "
          .. "lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt; and lua_ssl_verify_depth 3;)"
      end
      return nil, reason, "TLS handshake with " .. pool .. " failed: " .. serr .. hint
    end
  end

  local idempotent = IDEMPOTENT[p.method] and not body_writer
  local head = p.head
  sock:settimeout(remaining_ms(deadline))
  if reused and not idempotent then
    -- The first byte alone: if even it cannot go, nothing of the request left this host.
    local sent, serr = sock:send(sub(head, 1, 1))
    if not sent then
      sock:close()
      return nil, after_send(serr), "sending to " .. pool .. " failed: " .. tostring(serr), true
    end
    head = sub(head, 2)
  end
  local sent, serr = sock:send(body_writer and head or { head, p.body or "" })
  if not sent then
    sock:close()
    local reason = after_send(serr)
    return nil, reason, "sending to " .. pool .. " failed: " .. tostring(serr),
      reused and idempotent and reason ~= "timeout"
  end
  if body_writer then
    local written, reason, message = body_writer(sock, deadline)
    if not written then
      sock:close()
      return nil, reason, message
    end
  end

  local r = new_reader(sock, deadline)
  local status, headers, version, head_budget, head_lines = read_head(r)
  if not status then
    sock:close()
    if headers == "size" then return nil, "size", SIZE_HEADERS end
    if headers == "lines" then return nil, "size", SIZE_LINES end
    local reason = find(headers, "^bad ") and "network" or after_send(headers)
    return nil, reason, "reading from " .. pool .. " failed: " .. tostring(headers),
      reused and idempotent and r.got == 0 and reason ~= "timeout"
  end

  local res_body, berr
  local connection = headers["connection"]
  -- "close" wins over "keep-alive", wherever either stands
  local keep = not has_token(connection, "close") and (version == "1.1" or has_token(connection, "keep-alive"))
  local te, length = headers["transfer-encoding"], headers["content-length"]
  if p.method == "HEAD" or status == 204 or status == 304 then
    res_body = ""
    -- a 204 may carry neither: one that announces a body may send it yet, as the next answer's start
    if status == 204 and (te or (length and length ~= "0")) then keep = false end
  elseif te then
    -- both framings, or chunked in HTTP/1.0 (which has none): trust neither for the next answer
    if length or version == "1.0" then keep = false end
    -- chunked once, alone, is all this decodes: "gzip, chunked" would hand over gzip, "chunked, gzip"
    -- ends at the close, chunked twice over would leave chunks in the body
    if lower(te) ~= "chunked" then berr = "bad Transfer-Encoding: only chunked, alone, is read"
    else res_body, berr = read_chunked(r, self.max_body, head_budget, head_lines) end
  elseif length then
    local n = match(length, "^%d+$") and tonumber(length)
    if not n then berr = "bad Content-Length"
    elseif n > self.max_body then berr = "size"
    elseif n == 0 then res_body = ""
    else res_body, berr = read_exact(r, n) end
  else
    keep = false
    res_body, berr = read_to_close(r, self.max_body)
  end
  if not res_body then
    sock:close()
    if berr == "size" then
      return nil, "size", format("response body larger than max_body (%d bytes)", self.max_body)
    end
    if berr == "trailers" then return nil, "size", SIZE_HEADERS end
    if berr == "lines" then return nil, "size", SIZE_LINES end
    local reason = find(berr, "^bad ") and "network" or after_send(berr)
    return nil, reason, "reading the body from " .. pool .. " failed: " .. tostring(berr)
  end
  if r.pos <= #r.buf then keep = false end -- bytes that belong to no request: not a connection to reuse
  -- over TLS, a last read that may have filled nginx's buffer may have left bytes inside OpenSSL
  if p.scheme == "https" and may_have_filled(r) then keep = false end
  if not (keep and sock:setkeepalive(self.keepalive_timeout, self.pool_size)) then sock:close() end
  return { status = status, headers = headers, body = res_body }
end

-- Attempts until one answers or a fresh connection may not be tried (at most 3).
function T:_perform(p, deadline, body_writer)
  local res, reason, message, retry
  for _ = 1, 3 do
    res, reason, message, retry = self:_attempt(p, deadline, body_writer)
    if res or not retry then break end
  end
  if res then return res end
  return nil, reason, message
end

--- Sends one request over a pooled connection and reads the whole answer; yields, never blocks
-- the worker.
-- @tparam table req `{ method, url, headers, body, timeout }` (see
--   @{instagram.transport.curl.Transport:request})
-- @treturn[1] table `{ status, headers, body }`
-- @treturn[2] nil
-- @treturn[2] string reason `timeout`, `connect`, `tls`, `network`, `size`, `invalid` (a URL with a
--   control byte or space, refused before anything is sent)
-- @treturn[2] string message
-- @raise for a malformed request (see the module's description); nothing is sent
-- @usage local res, reason, message = t:request{ method = "GET", url = "https://graph.facebook.com/v24.0/me",
--   headers = { Authorization = "Bearer " .. TOKEN } }
-- @function Transport:request
function T:request(req)
  local p, reason, message = prepare(self, req, 3)
  if not p then return nil, reason, message end
  return self:_perform(p, clock() + p.timeout)
end

--- Sends many requests at once: `concurrency` light threads, each taking the next request until
-- none is left.
-- @tparam {table,...} reqs the requests, each as for @{Transport:request}
-- @tparam[opt=8] integer concurrency how many light threads
-- @treturn table the results in order: `{ status, headers, body }` or `{ error = reason, message }`
-- @raise when `reqs` is not a table or a request is malformed (every request is checked before any
--   is sent: none is sent then)
-- @usage local results = t:many({ { method = "GET", url = u1 }, { method = "GET", url = u2 } }, 2)
-- @function Transport:many
function T:many(reqs, concurrency)
  if type(reqs) ~= "table" then error("many needs a list of requests", 2) end
  local prepared, results = {}, {}
  for i = 1, #reqs do
    local p, reason, message = prepare(self, reqs[i], 3)
    prepared[i] = p
    if not p then results[i] = { error = reason, message = message } end
  end
  local next_i = 0
  local function worker()
    while true do
      next_i = next_i + 1
      local i = next_i
      if i > #reqs then return end
      local p = prepared[i]
      if p then
        local res, reason, message = self:_perform(p, clock() + p.timeout)
        results[i] = res or { error = reason, message = message }
      end
    end
  end
  local threads = {}
  for k = 1, min(concurrency or 8, #reqs) do threads[k] = ngx.thread.spawn(worker) end
  for k = 1, #threads do
    local ok, err = ngx.thread.wait(threads[k])
    if not ok then error(err, 0) end
  end
  return results
end

-- A light thread may be waited on only by the coroutine that spawned it; any other (a light thread
-- of the same request, a later request holding the handle) waits on a semaphore the request's thread
-- posts when it has its answer (lua-resty-core's ngx.semaphore, shared by every request of a worker).
local semaphore_ok, semaphore = pcall(require, "ngx.semaphore")

--- Starts a request in a light thread while the caller goes on.
-- `finish()` may be called from any light thread or later request of the worker; if the request
-- that started it ended first (its light threads die with it), it answers `nil, "network"` a second
-- past the request's deadline.
-- @tparam table req as for @{Transport:request}
-- @treturn table the handle: `handle.finish()` waits and returns what @{Transport:request} would;
--   `handle.cancel()` drops the answer (and kills the thread, from the light thread that started it;
--   from another, the request runs on to its end unseen)
-- @raise for a malformed request, as @{Transport:request}
-- @usage local h = t:start{ method = "GET", url = url }
-- local res, reason, message = h.finish()
-- @function Transport:start
function T:start(req)
  local p, reason, message = prepare(self, req, 3)
  if not p then
    return { finish = function() return nil, reason, message end, cancel = function() end }
  end
  local deadline = clock() + p.timeout
  local owner, result, cancelled = coroutine.running(), nil, false
  local sema = semaphore_ok and semaphore.new() or nil
  local thread = ngx.thread.spawn(function()
    local ok, res, r2, m2 = pcall(self._perform, self, p, deadline)
    result = ok and { res, r2, m2 } or { nil, "network", tostring(res) }
    if sema then sema:post(64) end -- (every waiter)
  end)
  local function answer()
    if cancelled then return nil, "network", "the request was cancelled" end
    return result[1], result[2], result[3]
  end
  return {
    finish = function()
      if result or cancelled then return answer() end
      if coroutine.running() == owner then
        local ok, err = ngx.thread.wait(thread)
        if not ok and not result then return nil, "network", tostring(err) end
        return answer()
      end
      if not sema then
        return nil, "network", "finish() from another light thread needs lua-resty-core's ngx.semaphore"
      end
      pcall(sema.wait, sema, max(0, deadline - clock()) + 1)
      if result or cancelled then return answer() end
      return nil, "network", "the request started elsewhere did not answer by its deadline (the request "
        .. "that started it may have ended, and its light threads with it)"
    end,
    cancel = function()
      cancelled = true
      pcall(ngx.thread.kill, thread)
      if sema then sema:post(64) end
    end,
  }
end

--- Streams a file as the body of a POST, from `offset`, in 64 KiB pieces (never held in memory).
-- @tparam table req the upload:
-- @tparam string req.url the URL
-- @tparam[opt] table req.headers more headers
-- @tparam string req.file the path of a regular file
-- @tparam[opt=0] integer req.offset where in the file to start
-- @tparam[opt] function req.progress `progress(sent, total)`; returning false stops the upload
-- @tparam[opt] number req.stall_timeout seconds each piece has to go (default: the transport's
--   timeout)
-- @treturn[1] table `{ status, headers, body }`
-- @treturn[2] nil
-- @treturn[2] string reason as for @{Transport:request}, plus `file` (not a readable regular file,
--   or an offset past its end) and `aborted`
-- @treturn[2] string message
-- @raise when `req` is not a table with `url` and `file` strings, for a bad offset or headers
-- @usage local res, reason = t:upload{ url = url, file = "/tmp/clip.mp4", headers = { offset = "0" } }
-- @function Transport:upload
function T:upload(req)
  if type(req) ~= "table" or type(req.file) ~= "string" then
    error("upload needs { url = string, file = path }", 2)
  end
  local url, why = check_url(req.url, 3)
  if not url then return nil, "invalid", why end
  local scheme, host, port, path, authority = parse_url(url)
  if not scheme then return nil, "invalid", "bad url: no host, or a bad port" end
  local stall = req.stall_timeout ~= nil and seconds(req.stall_timeout, "stall_timeout", 3) or self.timeout
  local offset = req.offset or 0
  if type(offset) ~= "number" or offset < 0 or offset % 1 ~= 0 then
    error("upload offset must be a whole number of bytes", 2)
  end
  local regular, not_regular = regular_file(req.file) -- a FIFO would block the worker in io.open
  if not regular then return nil, "file", not_regular end
  local f = io.open(req.file, "rb")
  if not f then return nil, "file", "cannot open '" .. req.file .. "' for reading" end
  local total = f:seek("end")
  if offset > total then
    f:close()
    return nil, "file", "the offset is past the end of '" .. req.file .. "'"
  end
  local ok, head = pcall(build_head, self, "POST", path, authority, req.headers, total - offset, 0)
  if not ok then
    f:close()
    error(head, 2)
  end
  local progress = req.progress
  local function writer(sock)
    f:seek("set", offset)
    if progress and progress(offset, total) == false then return nil, "aborted", "upload stopped by the progress callback" end
    local sent = offset
    while sent < total do
      local chunk = f:read(65536)
      if not chunk then return nil, "file", "error reading the file" end
      sock:settimeout(remaining_ms(-stall))
      local sok, err = sock:send(chunk)
      if not sok then return nil, after_send(err), "sending the file failed: " .. tostring(err) end
      sent = sent + #chunk
      if progress and progress(sent, total) == false then
        return nil, "aborted", "upload stopped by the progress callback"
      end
    end
    return true
  end
  local p = { method = "POST", scheme = scheme, host = host, port = port, head = head,
              origin = format("%s://%s:%d", scheme, host, port), pool = pool_key(scheme, host, port) }
  local res, reason, message = self:_perform(p, -stall, writer)
  f:close()
  if res then return res end
  return nil, reason, message
end

--- Does nothing: connections belong to nginx's keep-alive pool.
-- @treturn nil nothing
-- @raise never raises
-- @usage t:close()
-- @function Transport:close
function T.close() end -- connections belong to nginx's keep-alive pool

return _M
