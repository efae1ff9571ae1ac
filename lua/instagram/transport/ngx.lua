--- The nginx cosocket transport: never blocks an nginx worker.
--   t:request{ method, url, headers, body, timeout } -> { status, headers, body } | nil, reason, message
-- HTTP/1.1 over ngx.socket.tcp, TLS verified by sslhandshake (trust comes from nginx's
-- `lua_ssl_trusted_certificate`), SNI, a keep-alive pool per origin, content-length, chunked and
-- read-until-close bodies, an overall deadline per request.
local ngx = ngx
local type, tonumber, tostring, setmetatable, pairs = type, tonumber, tostring, setmetatable, pairs
local lower, match, find, sub, concat, format = string.lower, string.match, string.find, string.sub,
  table.concat, string.format
local max, floor = math.max, math.floor

local VERSION = "0.1.0"
local _M = {}
local T = {}
T.__index = T

-- Phases in which cosockets may be used.
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true,
}

--- True when running inside ngx_lua in a phase that allows cosockets.
function _M.available()
  if type(ngx) ~= "table" or not ngx.socket or not ngx.get_phase then return false end
  return COSOCKET_PHASES[ngx.get_phase()] == true
end

local OPTIONS = {
  timeout = true, connect_timeout = true, ca_file = true, user_agent = true, http2 = true,
  max_body = true, keepalive_timeout = true, pool_size = true,
}

--- new{ timeout = 30, connect_timeout = 10, user_agent, max_body = 64 MiB, keepalive_timeout = 60,
--       pool_size = 32 }. ca_file and http2 are accepted for symmetry with the curl transport and
-- have no effect here: nginx's lua_ssl_trusted_certificate decides trust, and this speaks HTTP/1.1.
function _M.new(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then error("unknown ngx transport option '" .. tostring(k) .. "'", 2) end
  end
  if opts.ca_file then -- not used here, but a wrong path is still a mistake worth naming
    local f = io.open(opts.ca_file, "rb")
    if not f then error("option 'ca_file': cannot read '" .. tostring(opts.ca_file) .. "'", 3) end
    f:close()
  end
  return setmetatable({
    name = "ngx",
    timeout = opts.timeout or 30,
    connect_timeout = opts.connect_timeout or 10,
    user_agent = opts.user_agent or ("instagram-graph-lua/" .. VERSION .. " (ngx_lua)"),
    max_body = opts.max_body or 64 * 1024 * 1024,
    keepalive_timeout = (opts.keepalive_timeout or 60) * 1000,
    pool_size = opts.pool_size or 32,
  }, T)
end

T.sleep = function(s) return ngx.sleep(s) end
T.now = function() return ngx.now() end

--- "https://host:port/path?q" -> scheme, host, port, path_and_query
local function parse_url(url)
  local scheme, rest = match(url, "^(https?)://(.+)$")
  if not scheme then return nil end
  local authority, path = match(rest, "^([^/?#]+)(.*)$")
  if not authority then return nil end
  local host, port = match(authority, "^%[(.+)%]:?(%d*)$")
  if not host then host, port = match(authority, "^([^:]+):?(%d*)$") end
  if not host then return nil end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if path == "" or sub(path, 1, 1) == "?" then path = "/" .. path end
  path = match(path, "^([^#]*)")
  return scheme, host, port, path, authority
end

local function classify(err)
  err = tostring(err)
  if find(err, "timeout", 1, true) then return "timeout" end
  if find(err, "refused", 1, true) or find(err, "no resolver", 1, true) or find(err, "could not be resolved", 1, true) then
    return "connect"
  end
  return "network"
end

-- Every socket operation gets what is left of the request's time; a negative deadline means
-- "this many seconds per operation" instead (uploads: a stall limit, not a total one).
local function remaining_ms(deadline)
  if deadline < 0 then return max(1, floor(-deadline * 1000)) end
  return max(1, floor((deadline - ngx.now()) * 1000))
end

local function read_headers(sock, deadline)
  sock:settimeout(remaining_ms(deadline))
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local status = tonumber(match(line, "^HTTP/%d%.%d (%d%d%d)"))
  if not status then return nil, "bad status line: " .. sub(line, 1, 80) end
  local headers = {}
  while true do
    sock:settimeout(remaining_ms(deadline))
    local h, herr = sock:receive("*l")
    if not h then return nil, herr end
    if h == "" then break end
    local name, value = match(h, "^([^:]+):%s*(.-)%s*$")
    if name then
      name = lower(name)
      local old = headers[name]
      headers[name] = old and (old .. ", " .. value) or value
    end
  end
  return status, headers
end

local function read_chunked(sock, deadline, limit)
  local parts, total = {}, 0
  while true do
    sock:settimeout(remaining_ms(deadline))
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(match(line, "^%s*(%x+)"), 16)
    if not size then return nil, "bad chunk size line" end
    if size == 0 then
      repeat -- trailers, up to the blank line
        sock:settimeout(remaining_ms(deadline))
        line, err = sock:receive("*l")
        if not line then return nil, err end
      until line == ""
      return concat(parts)
    end
    total = total + size
    if total > limit then return nil, "size" end
    sock:settimeout(remaining_ms(deadline))
    local data, derr = sock:receive(size)
    if not data then return nil, derr end
    parts[#parts + 1] = data
    sock:settimeout(remaining_ms(deadline))
    local crlf, cerr = sock:receive(2)
    if not crlf then return nil, cerr end
  end
end

--- One attempt on one connection. Returns res, or nil, reason, message, stale (true when a
-- reused keep-alive connection failed before any response byte: safe to try a fresh one).
function T:_attempt(req, scheme, host, port, path, authority, deadline, body_writer, body_length)
  local sock = ngx.socket.tcp()
  sock:settimeout(max(1, floor(self.connect_timeout * 1000)))
  local pool = format("%s://%s:%d", scheme, host, port)
  local ok, err = sock:connect(host, port, { pool = pool, pool_size = self.pool_size })
  if not ok then return nil, classify(err), "connect to " .. pool .. " failed: " .. tostring(err) end
  local reused = (sock:getreusedtimes() or 0) > 0
  if scheme == "https" and not reused then
    sock:settimeout(remaining_ms(deadline))
    local sess, serr = sock:sslhandshake(nil, host, true)
    if not sess then
      sock:close()
      local reason = find(tostring(serr), "timeout", 1, true) and "timeout" or "tls"
      return nil, reason, "TLS handshake with " .. pool .. " failed: " .. tostring(serr)
    end
  end

  local method = req.method
  local body = req.body
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: " .. authority, "User-Agent: " .. self.user_agent }
  for k, v in pairs(req.headers or {}) do
    v = tostring(v)
    if find(k, "[\r\n:]") or find(v, "[\r\n]") then
      sock:close()
      error("invalid header '" .. tostring(k) .. "': names are HTTP tokens, values have no CR or LF", 3)
    end
    lines[#lines + 1] = k .. ": " .. v
  end
  if body_writer then lines[#lines + 1] = "Content-Length: " .. body_length
  elseif body or method == "POST" or method == "PUT" then lines[#lines + 1] = "Content-Length: " .. #(body or "") end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body_writer and "" or (body or "")
  sock:settimeout(remaining_ms(deadline))
  local sent, serr = sock:send(concat(lines, "\r\n"))
  if not sent then
    sock:close()
    return nil, classify(serr), "sending to " .. pool .. " failed: " .. tostring(serr), reused
  end
  if body_writer then
    local written, reason, message = body_writer(sock, deadline)
    if not written then
      sock:close()
      return nil, reason, message
    end
  end

  local status, headers = read_headers(sock, deadline)
  while status and status >= 100 and status < 200 do -- interim responses
    status, headers = read_headers(sock, deadline)
  end
  if not status then
    sock:close()
    return nil, classify(headers), "reading from " .. pool .. " failed: " .. tostring(headers),
      reused and headers ~= "timeout"
  end

  local res_body, berr
  local keep = lower(headers["connection"] or "") ~= "close"
  if method == "HEAD" or status == 204 or status == 304 then
    res_body = ""
  elseif find(lower(headers["transfer-encoding"] or ""), "chunked", 1, true) then
    res_body, berr = read_chunked(sock, deadline, self.max_body)
  elseif headers["content-length"] then
    local n = tonumber(headers["content-length"])
    if not n or n < 0 then berr = "bad Content-Length"
    elseif n > self.max_body then berr = "size"
    elseif n == 0 then res_body = ""
    else
      sock:settimeout(remaining_ms(deadline))
      res_body, berr = sock:receive(n)
    end
  else
    keep = false
    sock:settimeout(remaining_ms(deadline))
    res_body, berr = sock:receive("*a")
    if res_body and #res_body > self.max_body then res_body, berr = nil, "size" end
  end
  if not res_body then
    sock:close()
    if berr == "size" then
      return nil, "size", format("response body larger than max_body (%d bytes)", self.max_body)
    end
    return nil, classify(berr), "reading the body from " .. pool .. " failed: " .. tostring(berr)
  end
  if keep then sock:setkeepalive(self.keepalive_timeout, self.pool_size) else sock:close() end
  return { status = status, headers = headers, body = res_body }
end

function T:request(req)
  if type(req) ~= "table" then error("request must be a table", 2) end
  if type(req.method) ~= "string" or not match(req.method, "^%u+$") then
    error("bad method '" .. tostring(req.method) .. "': an upper-case HTTP method such as GET or POST", 2)
  end
  if type(req.url) ~= "string" then error("bad url: a string is required", 2) end
  local scheme, host, port, path, authority = parse_url(req.url)
  if not scheme then return nil, "invalid", "bad url: only http:// and https:// URLs are supported" end
  local timeout = req.timeout or self.timeout
  local deadline = ngx.now() + timeout
  local res, reason, message, stale
  for _ = 1, 3 do -- a keep-alive connection the server closed meanwhile is retried once or twice
    res, reason, message, stale = self:_attempt(req, scheme, host, port, path, authority, deadline)
    if res or not stale then break end
  end
  if res then return res end
  return nil, reason, message
end

--- t:many(reqs, concurrency) -> results in order: { status, headers, body } or { error, message }
-- `concurrency` light threads, each taking the next request until none is left.
function T:many(reqs, concurrency)
  local results, next_i = {}, 0
  local function worker()
    while true do
      next_i = next_i + 1
      local i = next_i
      if i > #reqs then return end
      local res, reason, message = self:request(reqs[i])
      results[i] = res or { error = reason, message = message }
    end
  end
  local threads = {}
  for k = 1, math.min(concurrency or 8, #reqs) do threads[k] = ngx.thread.spawn(worker) end
  for k = 1, #threads do
    local ok, err = ngx.thread.wait(threads[k])
    if not ok then error(err, 0) end
  end
  return results
end

--- t:start(req) -> handle; handle:finish() -> res | nil, reason, message ; handle:cancel()
-- A light thread does the request while the caller goes on.
function T:start(req)
  local thread = ngx.thread.spawn(function() return self:request(req) end)
  return {
    finish = function()
      local ok, res, reason, message = ngx.thread.wait(thread)
      if not ok then return nil, "network", tostring(res) end
      return res, reason, message
    end,
    cancel = function() ngx.thread.kill(thread) end,
  }
end

--- t:upload{ url, headers, file, offset, progress, stall_timeout } -> res | nil, reason, message
-- Streams the file from `offset` in 64 KiB pieces (never held in memory); progress(sent, total)
-- may return false to stop. Each piece has stall_timeout (default: the transport timeout) to go.
function T:upload(req)
  if type(req) ~= "table" or type(req.url) ~= "string" or type(req.file) ~= "string" then
    error("upload needs { url = string, file = path }", 2)
  end
  local scheme, host, port, path, authority = parse_url(req.url)
  if not scheme then return nil, "invalid", "bad url: only http:// and https:// URLs are supported" end
  local f = io.open(req.file, "rb")
  if not f then return nil, "file", "cannot open '" .. req.file .. "' for reading" end
  local total = f:seek("end")
  local offset = req.offset or 0
  if offset > total then
    f:close()
    return nil, "file", "the offset is past the end of '" .. req.file .. "'"
  end
  local stall = req.stall_timeout or self.timeout
  local progress = req.progress
  local function writer(sock)
    f:seek("set", offset)
    if progress and progress(offset, total) == false then return nil, "aborted", "upload stopped by the progress callback" end
    local sent = offset
    while sent < total do
      local chunk = f:read(65536)
      if not chunk then return nil, "file", "error reading the file" end
      sock:settimeout(max(1, floor(stall * 1000)))
      local ok, err = sock:send(chunk)
      if not ok then return nil, classify(err), "sending the file failed: " .. tostring(err) end
      sent = sent + #chunk
      if progress and progress(sent, total) == false then
        return nil, "aborted", "upload stopped by the progress callback"
      end
    end
    return true
  end
  local ureq = { method = "POST", headers = req.headers }
  local res, reason, message = self:_attempt(ureq, scheme, host, port, path, authority, -stall, writer, total - offset)
  f:close()
  if res then return res end
  return nil, reason, message
end

function T.close() end -- connections belong to nginx's keep-alive pool

return _M
