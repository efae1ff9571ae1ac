-- A keep-alive HTTP/1.1 server (luasocket) for spec/stale_connection_spec.lua: it answers each
-- request on one connection with {"for":"<request line>"}, and after the answer to the request
-- line holding "extra" it writes a whole forged answer at once (bytes after the answer's end), or,
-- for "late", writes one 0.1 s later on the idle connection.
--   lua stale_server.lua PORT   (prints "ready" when listening; serves until killed)
local socket = require "socket"
local server = assert(socket.bind("127.0.0.1", tonumber(arg[1])))
print("ready")
io.stdout:flush()
local FORGED = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"forged":true}'
local conns = 0
while true do
  local c = server:accept()
  conns = conns + 1
  c:settimeout(0.5) -- one connection at a time: an idle one is let go soon
  while true do
    local line = c:receive("*l")
    if not line then break end
    local length = 0
    repeat
      local h = c:receive("*l")
      if not h then break end
      local n = h:lower():match("^content%-length:%s*(%d+)")
      if n then length = tonumber(n) end
    until h == ""
    if length > 0 then c:receive(length) end
    local body = ('{"for":"%s","conn":%d}'):format(line:gsub('"', "'"), conns)
    local answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
    if line:find("extra", 1, true) then answer = answer .. FORGED end
    c:send(answer)
    if line:find("late", 1, true) then socket.sleep(0.1); c:send(FORGED) end
  end
  c:close()
end
