-- A loopback HTTP server that restarts at the worst moment (lua5.4 + luasocket, run by a spec):
--   lua5.4 spec/support/restart_server.lua
-- Prints "port N" first. Answers one GET keep-alive, then reads the next request (a POST) whole,
-- stops listening and resets the connection without answering, stays down DOWN seconds (0.5),
-- then listens again and answers everything 200 until nobody comes for 1.5 s. Prints
-- "READ <request line>" for every request it read, and "done" last.
local socket = require "socket"

local DOWN = tonumber(os.getenv("DOWN") or "0.5")

local function read_request(c)
  local line = c:receive("*l")
  if not line then return nil end
  local len = 0
  while true do
    local h = c:receive("*l")
    if not h then return nil end
    if h == "" then break end
    local n = h:lower():match("^content%-length:%s*(%d+)")
    if n then len = tonumber(n) end
  end
  if len > 0 and not c:receive(len) then return nil end
  io.stdout:write("READ ", line, "\n")
  io.stdout:flush()
  return line
end

local function answer(c)
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"id\":\"1\"}")
end

local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
srv:settimeout(10)
local c = assert(srv:accept())
c:settimeout(10)
if read_request(c) then answer(c) end
read_request(c)                                      -- the POST, read whole
srv:close()                                          -- the restart: nothing listens
c:setoption("linger", { on = true, timeout = 0 })
c:close()                                            -- a reset, no answer
socket.sleep(DOWN)
srv = assert(socket.bind("127.0.0.1", port))
srv:settimeout(1.5)
while true do
  local c2 = srv:accept()
  if not c2 then break end
  c2:settimeout(2)
  while read_request(c2) do answer(c2) end
  c2:close()
end
io.stdout:write("done\n")
