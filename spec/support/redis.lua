-- Starts and stops redis-server instances on loopback for the store specs: each in a directory of its
-- own, nothing saved to disk. start{ port =, password =, args = } -> handle; stop(handle); ping(handle).
local M = {}

local function sh(cmd)
  local r = os.execute(cmd) -- true (5.2+) or 0 (5.1, LuaJIT): run once
  return r == true or r == 0
end
M.sh = sh

-- cmd as a shell line run with only stdin, stdout and stderr open: started from inside nginx, a
-- server would otherwise inherit nginx's listening sockets and hold its ports after nginx exits.
function M.clean(cmd)
  local inner = "for fd in /proc/$$/fd/*; do n=${fd##*/}; [ \"$n\" -gt 2 ] 2>/dev/null && eval \"exec $n>&-\"; done; " .. cmd
  return "bash -c " .. ("'" .. inner:gsub("'", "'\\''") .. "'")
end

local function ping(h)
  local auth = h.password and ("-a '" .. h.password .. "' --no-auth-warning ") or ""
  local p = io.popen(("redis-cli -h 127.0.0.1 -p %d %sping 2>/dev/null"):format(h.port, auth))
  local out = p:read("*a") or ""
  p:close()
  return out:find("PONG", 1, true) ~= nil
end
M.ping = ping

function M.start(o)
  local dir = os.tmpname()
  os.remove(dir)
  assert(sh("mkdir -p " .. dir))
  local h = { port = o.port, password = o.password, dir = dir }
  local cmd = ("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir %s "
    .. "--pidfile %s/redis.pid --logfile %s/redis.log%s %s"):format(o.port, dir, dir, dir,
      o.password and (" --requirepass '" .. o.password .. "'") or "", o.args or "")
  assert(sh(M.clean(cmd)), "redis-server did not start: " .. cmd)
  for _ = 1, 100 do
    if ping(h) then return h end
    sh("sleep 0.05")
  end
  error("redis-server on port " .. o.port .. " does not answer")
end

function M.stop(h)
  if not h or h.stopped then return end
  h.stopped = true
  local f = io.open(h.dir .. "/redis.pid")
  local pid = f and f:read("*l")
  if f then f:close() end
  if pid then
    sh("kill " .. pid .. " 2>/dev/null")
    for _ = 1, 100 do
      if not sh("kill -0 " .. pid .. " 2>/dev/null") then break end
      sh("sleep 0.05")
    end
  end
  sh("rm -rf " .. h.dir)
end

return M
