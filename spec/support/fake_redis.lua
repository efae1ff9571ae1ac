-- A hostile "Redis" for spec/store_redis_spec.lua:  lua5.4 spec/support/fake_redis.lua PORT MODE
-- It listens on 127.0.0.1:PORT, writes "ready" to stdout, and for every connection reads one RESP
-- command, then by MODE: silent (never answers), garbage (a line that is no reply), huge (a bulk
-- length of 99 GB), close (closes), echo (an error reply quoting every byte the client sent),
-- drip (an array of 1,000 integers, one every 0.1 s), endless (a status line that never ends),
-- bigarray (an array of 100,000,000 elements, announced), readonly (Redis's replica refusal).
local socket = require "socket"
local port, mode = tonumber(arg[1]), arg[2]
local server = assert(socket.bind("127.0.0.1", port))
io.stdout:write("ready\n")
io.stdout:flush()
-- silent: the connections stay open (and unanswered) until this process ends
local held = {} -- luacheck: ignore 241
while true do
  local c = server:accept()
  if c then
    c:settimeout(2)
    local got = {}
    local first = c:receive("*l")
    if first then
      got[1] = first
      local n = tonumber(first:match("^%*(%d+)")) or 0
      for _ = 1, 2 * n do got[#got + 1] = c:receive("*l") or "" end
    end
    if mode == "silent" then
      held[#held + 1] = c
    elseif mode == "garbage" then
      c:send("?what\r\n")
    elseif mode == "huge" then
      c:send("$99999999999\r\n")
    elseif mode == "echo" then
      c:send("-ERR you sent " .. table.concat(got, " ") .. "\r\n")
    elseif mode == "drip" then
      c:send("*1000\r\n")
      for _ = 1, 1000 do
        socket.sleep(0.1)
        if not c:send(":1\r\n") then break end
      end
    elseif mode == "endless" then
      c:send("+")
      for _ = 1, 20000 do
        if not c:send(("a"):rep(1000)) then break end
      end
    elseif mode == "bigarray" then
      c:send("*100000000\r\n")
    elseif mode == "readonly" then
      c:send("-READONLY You can't write against a read only replica.\r\n")
    end
    if mode ~= "silent" then c:close() end
  end
end
