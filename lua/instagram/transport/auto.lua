--- The default transport: cosockets inside nginx, libcurl elsewhere.
-- It picks, for each call, the cosocket transport when running inside ngx_lua in a phase that
-- allows cosockets, and libcurl otherwise. A client made at module load
-- or in init_worker_by_lua (where cosockets are not allowed) still never blocks a request handler.
--
-- This is the client's default `transport`. Cosockets are allowed in the rewrite, access, content,
-- timer, ssl_cert and ssl_session_fetch phases; elsewhere (init, init_worker, log, header and body
-- filters) and outside nginx, calls go through libcurl. Each underlying transport is made on first
-- use, with the same options.
-- @module instagram.transport.auto
-- @usage local t = require("instagram.transport.auto").new{ timeout = 10 }
-- local res, reason, message = t:request{ method = "GET", url = "https://graph.facebook.com/v24.0/me" }
local core = require "instagram.core"
local ngx_ok, ngx_transport = pcall(require, "instagram.transport.ngx")

local setmetatable = setmetatable

local _M = {}
local T = {}
T.__index = T

-- The options either transport takes (the values are checked by the one that is made).
local OPTIONS = { timeout = true, connect_timeout = true, ca_file = true, user_agent = true, http2 = true,
                  max_body = true, keepalive_timeout = true, pool_size = true }

--- Makes the default transport. An unknown option name raises at once; nothing is opened, and
-- the values are checked, when the first call makes the transport it needs (a wrong value raises
-- then).
-- @tparam[opt] table opts options for both transports: `timeout`, `connect_timeout`, `ca_file`,
--   `user_agent`, `http2`, `max_body` (see @{instagram.transport.curl.new}); inside nginx also
--   `keepalive_timeout` and `pool_size` (see @{instagram.transport.ngx.new}), which the curl
--   transport refuses
-- @treturn Transport the transport (`name = "auto"`)
-- @raise when `opts` is not a table or names an option neither transport knows
-- @usage local t = require("instagram.transport.auto").new{ timeout = 10 }
function _M.new(opts)
  if opts ~= nil then
    if type(opts) ~= "table" then error("transport.auto.new: options must be a table, got " .. type(opts), 2) end
    require("instagram.client").check_options("transport.auto.new", nil, opts, OPTIONS, 2)
  end
  return setmetatable({ opts = opts or {}, name = "auto" }, T)
end

local function in_cosocket_phase() return ngx_ok and ngx_transport.available() end

--- The default transport, made by @{new}: each method hands the call to the transport
-- `pick` returns. `sleep(s)` is `ngx.sleep` in a cosocket phase and
-- @{instagram.core.sleep} elsewhere; `now()` likewise.
-- @type Transport

--- The transport a call made now would use.
-- @treturn table the @{instagram.transport.ngx} transport in an nginx phase that allows cosockets,
--   else the @{instagram.transport.curl} one (each made once, then reused)
-- @raise when making the transport raises (a wrong option)
-- @usage print(t:pick().name) --> "curl" outside nginx, "ngx" in a content handler
-- @function Transport:pick
function T:pick()
  if in_cosocket_phase() then
    if not self.ngx then self.ngx = ngx_transport.new(self.opts) end
    return self.ngx
  end
  if not self.curl then self.curl = require("instagram.transport.curl").new(self.opts) end
  return self.curl
end

--- Sends one request through @{Transport:pick}'s transport; see
-- @{instagram.transport.curl.Transport:request} for the contract.
-- @tparam table req `{ method, url, headers, body, timeout }`
-- @treturn[1] table `{ status, headers, body }`
-- @treturn[2] nil
-- @treturn[2] string reason
-- @treturn[2] string message
-- @raise for a malformed request
-- @usage local res, reason, message = t:request{ method = "GET", url = url }
-- @function Transport:request
function T:request(req) return self:pick():request(req) end
--- Streams a file upload through @{Transport:pick}'s transport (see
-- @{instagram.transport.curl.Transport:upload}).
-- @tparam table req `{ url, headers, file, offset, progress, stall_timeout }`
-- @treturn[1] table `{ status, headers, body }`
-- @treturn[2] nil
-- @treturn[2] string reason
-- @treturn[2] string message
-- @raise for a malformed request
-- @usage local res, reason = t:upload{ url = url, file = "/tmp/clip.mp4" }
-- @function Transport:upload
function T:upload(req) return self:pick():upload(req) end
--- Sends many requests at once through @{Transport:pick}'s transport (see
-- @{instagram.transport.curl.Transport:many}).
-- @tparam {table,...} reqs the requests
-- @tparam[opt=8] integer concurrency how many at a time
-- @treturn table the results in order: `{ status, headers, body }` or `{ error, message }`
-- @raise for a malformed request
-- @usage local results = t:many({ { method = "GET", url = u1 }, { method = "GET", url = u2 } })
-- @function Transport:many
function T:many(reqs, concurrency) return self:pick():many(reqs, concurrency) end
--- Starts a request through @{Transport:pick}'s transport (see
-- @{instagram.transport.curl.Transport:start}).
-- @tparam table req as for @{Transport:request}
-- @treturn table the handle, with `finish()` and `cancel()`
-- @raise for a malformed request
-- @usage local h = t:start{ method = "GET", url = url }
-- @function Transport:start
function T:start(req) return self:pick():start(req) end
-- ngx.sleep yields to other requests; core.sleep blocks, which is right outside nginx.
function T.sleep(s)
  if in_cosocket_phase() then return ngx.sleep(s) end -- luacheck: ignore 113
  return core.sleep(s)
end
function T.now() return in_cosocket_phase() and ngx.now() or core.now() end -- luacheck: ignore 113

--- Closes the libcurl transport's connections, if one was made (nginx keeps its own pool).
-- @treturn nil nothing
-- @raise never raises
-- @usage t:close()
-- @function Transport:close
function T:close()
  if self.curl then self.curl:close() end
end

return _M
