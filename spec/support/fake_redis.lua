-- A hostile "Redis" for spec/store_redis_spec.lua:  lua5.4 spec/support/fake_redis.lua PORT MODE
-- It listens on 127.0.0.1:PORT, writes "ready" to stdout, and for every connection reads one RESP
-- command, then by MODE: silent (never answers), garbage (a line that is no reply), huge (a bulk
-- length of 99 GB), close (closes), echo (an error reply quoting every byte the client sent).
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
    end
    if mode ~= "silent" then c:close() end
  end
end
