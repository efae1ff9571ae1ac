--- The default transport: picks, for each call, the cosocket transport when running inside
-- ngx_lua in a phase that allows cosockets, and libcurl otherwise. A client made at module load
-- or in init_worker_by_lua (where cosockets are not allowed) still never blocks a request handler.
local core = require "instagram.core"
local ngx_ok, ngx_transport = pcall(require, "instagram.transport.ngx")

local setmetatable = setmetatable

local _M = {}
local T = {}
T.__index = T

function _M.new(opts)
  return setmetatable({ opts = opts or {}, name = "auto" }, T)
end

local function in_cosocket_phase() return ngx_ok and ngx_transport.available() end

--- The transport this call would use now.
function T:pick()
  if in_cosocket_phase() then
    if not self.ngx then self.ngx = ngx_transport.new(self.opts) end
    return self.ngx
  end
  if not self.curl then self.curl = require("instagram.transport.curl").new(self.opts) end
  return self.curl
end

function T:request(req) return self:pick():request(req) end
function T:upload(req) return self:pick():upload(req) end
function T:many(reqs, concurrency) return self:pick():many(reqs, concurrency) end
function T:start(req) return self:pick():start(req) end
-- ngx.sleep yields to other requests; core.sleep blocks, which is right outside nginx.
function T.sleep(s)
  if in_cosocket_phase() then return ngx.sleep(s) end -- luacheck: ignore 113
  return core.sleep(s)
end
function T.now() return in_cosocket_phase() and ngx.now() or core.now() end -- luacheck: ignore 113

function T:close()
  if self.curl then self.curl:close() end
end

return _M
