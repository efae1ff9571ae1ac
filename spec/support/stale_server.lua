-- A keep-alive HTTP/1.1 server (luasocket) for spec/stale_connection_spec.lua: it answers each
-- request on one connection with {"for":"<request line>"}, and after the answer to the request
-- line holding "extra" it writes a whole forged answer at once (bytes after the answer's end), or,
-- for "late", writes one 0.1 s later on the idle connection; /raw/NAME gets a canned answer (RAW)
-- that breaks HTTP/1.1 framing; /big/N answers with a body of N bytes and the forged answer in the
-- same write (over TLS: in the same record as the answer's end). A request line holding "dropfirst"
-- is read whole and, the first time that line comes, the connection closed with no answer;
-- /count/TAG answers {"n":N}, N the request lines seen so far that hold TAG; after the answer to a
-- line holding "closeidle" the server closes the connection 0.1 s later, while it is idle;
-- /split/N answers with its header block in one write and then a body of N bytes and the forged
-- answer in another (over TLS, with N = 16384: the body fills one record and the forged answer is a
-- record of its own, which Nagle sends with it: they arrive together).
--   lua stale_server.lua PORT [CERT KEY]   (TLS with a certificate and key (lua-sec); prints
--   "ready" when listening; serves until killed)
local socket = require "socket"
local server = assert(socket.bind("127.0.0.1", tonumber(arg[1])))
local tls = arg[2] and { mode = "server", protocol = "any", certificate = arg[2], key = arg[3],
  options = { "all", "no_sslv2", "no_sslv3" } }
print("ready")
io.stdout:flush()
local FORGED = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"forged":true}'
-- Answers that break HTTP/1.1 framing, by name (GET /v24.0/raw/NAME); each is followed on the same
-- connection by nothing else.
local function head(status, fields, body)
  return "HTTP/1.1 " .. status .. "\r\n" .. table.concat(fields, "\r\n") .. "\r\n\r\n" .. (body or "")
end
local ERR = '{"error":{"message":"busy","code":1}}'
local RAW = {
  upgrade = head("101 Switching Protocols", { "Upgrade: websocket", "Connection: Upgrade" })
    .. head("200 OK", { "Content-Type: application/json", "Content-Length: 8" }, '{"n":-1}'),
  hexlength = head("200 OK", { "Content-Type: application/json", "Content-Length: 0x8" }, '{"n":-1}'),
  twolengths = head("200 OK", { "Content-Type: application/json", "Content-Length: 2", "Content-Length: 8" }, '{"n":-1}'),
  junklength = head("200 OK", { "Content-Type: application/json", "Content-Length: 8abc" }, '{"n":-1}'),
  samelengths = head("200 OK", { "Content-Type: application/json", "Content-Length: 8", "Content-Length: 8" }, '{"n":-1}'),
  trailers = head("503 Busy", { "Content-Type: text/plain", "Transfer-Encoding: chunked" })
    .. "4\r\noops\r\n0\r\nRetry-After: 45\r\nContent-Type: application/json\r\n\r\n",
  httpfield = head("429 Too Many", { "Content-Type: application/json", "Retry-After: 45",
    "Content-Length: " .. #ERR, "HTTP/x: y" }, ERR),
  -- as libcurl reads them: blanks before the code, a 1xx block ended by a line that starts with CR
  spaced101 = "HTTP/1.1  101 Switching Protocols\r\n\r\n"
    .. head("200 OK", { "Content-Type: application/json", "Content-Length: 8" }, '{"n":-1}'),
  crblock = "HTTP/1.1 100 Continue\r\n\rX\r\n"
    .. head("200 OK", { "Content-Type: application/json", "Content-Length: 0x8" }, '{"n":-1}'),
  trailerstatus = head("200 OK", { "Content-Type: application/json", "Transfer-Encoding: chunked",
    "X-App-Usage: {\"call_count\":5,\"total_time\":5,\"total_cputime\":5}" })
    .. "8\r\n{\"n\":-1}\r\n0\r\nHTTP/1.1 200: trailer\r\nX-App-Usage: {\"call_count\":100}\r\n\r\n",
  lengthlist = head("200 OK", { "Content-Type: application/json", "Content-Length: 8, 08",
    "Content-Length: 0000000000000000008" }, '{"n":-1}'),
  folded = head("200 OK", { "Content-Type: application/json", "Content-Length: 2", " 8" }, '{"n":-1}'),
}
-- Connections are served side by side (coroutines over socket.select): a client keeping one idle
-- never holds up another's.
local conns, clients, later, lines = 0, {}, {}, {}
server:settimeout(0)

local function receive(c, pattern)
  local acc = ""
  while true do
    local data, err, partial = c:receive(type(pattern) == "number" and pattern - #acc or pattern)
    if data then return acc .. data end
    if err ~= "timeout" and err ~= "wantread" and err ~= "wantwrite" then return nil end -- (lua-sec: want*)
    acc = acc .. (partial or "")
    coroutine.yield()
  end
end

local function serve(c, id)
  while true do
    local line = receive(c, "*l")
    if not line then break end
    local length = 0
    repeat
      local h = receive(c, "*l")
      if not h then return end
      local n = h:lower():match("^content%-length:%s*(%d+)")
      if n then length = tonumber(n) end
    until h == ""
    if length > 0 and not receive(c, length) then return end
    lines[#lines + 1] = line
    if line:find("dropfirst", 1, true) then
      local n = 0
      for _, l in ipairs(lines) do if l == line then n = n + 1 end end
      if n == 1 then return end -- (closed with no answer)
    end
    local body = ('{"for":"%s","conn":%d}'):format(line:gsub('"', "'"), id)
    local tag = line:match("/count/(%w+)")
    if tag then
      local n = 0
      for _, l in ipairs(lines) do if l:find(tag, 1, true) and not l:find("/count/", 1, true) then n = n + 1 end end
      body = ('{"n":%d}'):format(n)
    end
    local answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
    local canned = line:match("/raw/(%w+)")
    if canned then answer = RAW[canned] or answer end
    local big = tonumber(line:match("/big/(%d+)"))
    if big then
      answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. big .. "\r\n\r\n"
        .. '{"n":"' .. ("x"):rep(big - 8) .. '"}' .. FORGED
    end
    if line:find("extra", 1, true) then answer = answer .. FORGED end
    local split = tonumber(line:match("/split/(%d+)"))
    c:settimeout(5)
    if split then
      c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. split .. "\r\n\r\n")
      answer = '{"n":"' .. ("x"):rep(split - 8) .. '"}' .. FORGED
    end
    c:send(answer)
    c:settimeout(0)
    if line:find("late", 1, true) then later[#later + 1] = { at = socket.gettime() + 0.1, c = c } end
    if line:find("closeidle", 1, true) then later[#later + 1] = { at = socket.gettime() + 0.1, c = c, close = true } end
  end
end

while true do
  local readers = { server }
  for c in pairs(clients) do readers[#readers + 1] = c end
  local ready = socket.select(readers, nil, 0.02)
  for _, r in ipairs(ready) do
    if r == server then
      local c = server:accept()
      if c and tls then -- (the handshake blocks this server a moment: only the specs talk to it)
        c:settimeout(5)
        c = require("ssl").wrap(c, tls)
        if not (c and c:dohandshake()) then c = nil end
      end
      if c then
        conns = conns + 1
        c:settimeout(0)
        clients[c] = coroutine.create(serve)
        local co = clients[c]
        coroutine.resume(co, c, conns)
        if coroutine.status(co) == "dead" then clients[c] = nil; c:close() end
      end
    elseif clients[r] then
      local co = clients[r]
      coroutine.resume(co)
      if coroutine.status(co) == "dead" then clients[r] = nil; r:close() end
    end
  end
  local now = socket.gettime()
  for i = #later, 1, -1 do
    if later[i].at <= now then
      local c = later[i].c
      if later[i].close then
        if clients[c] then clients[c] = nil; c:close() end
      else
        c:send(FORGED)
      end
      table.remove(later, i)
    end
  end
end
