--- The default transport: cosockets inside nginx, libcurl elsewhere.
-- It picks, for each call, the cosocket transport when running inside ngx_lua in a phase that
-- allows cosockets, and libcurl otherwise. A client made at module load
-- or in init_worker_by_lua (where cosockets are not allowed) still never blocks a request handler.
--
-- This is the client's default `transport`. Cosockets are allowed in the server_rewrite, rewrite, access, content,
-- timer, ssl_cert and ssl_session_fetch phases; outside nginx calls go through libcurl. Inside
-- nginx, in a phase without cosockets (init, init_worker, log, header and body filters), a call
-- (or a sleep) **raises**, naming the phase: libcurl would block the worker and every request it
-- serves; `allow_blocking = true` lets it go through libcurl instead. Each underlying transport is
-- made on first use, with the same options (libcurl's without `pool_size` and
-- `keepalive_timeout`).
-- @module instagram.transport.auto
-- @usage local t = require("instagram.transport.auto").new{ timeout = 10 }
-- local res, reason, message = t:request{ method = "GET", url = "https://graph.facebook.com/v24.0/me" }
local core = require "instagram.core"
local ngx_ok, ngx_transport = pcall(require, "instagram.transport.ngx")

local setmetatable, pairs, type, error = setmetatable, pairs, type, error

local _M = {}
local T = {}
T.__index = T

-- The options either transport takes (the values are checked by the one that is made).
local OPTIONS = { timeout = true, connect_timeout = true, ca_file = true, user_agent = true, http2 = true,
                  max_body = true, keepalive_timeout = true, pool_size = true, allow_blocking = true }
-- what only the cosocket transport takes (libcurl's pool is its own), and what is this module's
local NGX_ONLY = { keepalive_timeout = true, pool_size = true }

local function without(opts, drop)
  local out = {}
  for k, v in pairs(opts) do if not drop[k] then out[k] = v end end
  return out
end

local function in_cosocket_phase() return ngx_ok and ngx_transport.available() end

local function ngx_phase() return ngx_ok and ngx_transport.phase() or nil end

-- Inside nginx, a phase without cosockets would have libcurl (or core.sleep) block the whole
-- worker, every request it serves, for as long as the call takes: refused unless allowed.
local function refuse_blocking(self)
  if self.allow_blocking then return end
  local phase = ngx_phase()
  if phase then
    error(("instagram: a call in nginx's '%s' phase would block the worker (no cosockets there); make it "
      .. "in a request or timer phase (e.g. ngx.timer.at(0, fn)), or create the client with allow_blocking = true")
      :format(phase), 0)
  end
end

--- Makes the default transport. An unknown option name raises at once; nothing is opened, and
-- the values are checked, when the first call makes the transport it needs (a wrong value raises
-- then).
-- @tparam[opt] table opts options for both transports: `timeout`, `connect_timeout`, `ca_file`,
--   `user_agent`, `http2`, `max_body` (see @{instagram.transport.curl.new}); `keepalive_timeout`
--   and `pool_size` for nginx's pool (see @{instagram.transport.ngx.new}; libcurl keeps its own);
--   `allow_blocking` (boolean): inside nginx, let calls from phases without cosockets block
--   through libcurl instead of raising
-- @treturn Transport the transport (`name = "auto"`)
-- @raise when `opts` is not a table or names an option neither transport knows, or
--   `allow_blocking` is not a boolean
-- @usage local t = require("instagram.transport.auto").new{ timeout = 10 }
function _M.new(opts)
  if opts ~= nil then
    if type(opts) ~= "table" then error("transport.auto.new: options must be a table, got " .. type(opts), 2) end
    require("instagram.client").check_options("transport.auto.new", nil, opts, OPTIONS, 2)
  end
  if opts and opts.allow_blocking ~= nil and type(opts.allow_blocking) ~= "boolean" then
    error("transport.auto.new: allow_blocking must be a boolean", 2)
  end
  local self = setmetatable({ opts = without(opts or {}, { allow_blocking = true }), name = "auto",
    allow_blocking = opts and opts.allow_blocking or false }, T)
  -- ngx.sleep yields to other requests; core.sleep blocks, which is right outside nginx.
  self.sleep = function(s)
    if in_cosocket_phase() then return ngx.sleep(s) end -- luacheck: ignore 113
    refuse_blocking(self)
    return core.sleep(s)
  end
  return self
end


--- The default transport, made by @{new}: each method hands the call to the transport
-- `pick` returns. `sleep(s)` is `ngx.sleep` in a cosocket phase and
-- @{instagram.core.sleep} elsewhere; `now()` likewise.
-- @type Transport

--- The transport a call made now would use (raises inside nginx in a phase without cosockets,
-- unless made with `allow_blocking`).
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
  refuse_blocking(self)
  if not self.curl then self.curl = require("instagram.transport.curl").new(without(self.opts, NGX_ONLY)) end
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
-- (nginx's time brought up to date: it moves only when the event loop turns)
function T.now()
  if in_cosocket_phase() then ngx.update_time(); return ngx.now() end -- luacheck: ignore 113
  return core.now()
end

--- Closes the libcurl transport's connections, if one was made (nginx keeps its own pool).
-- @treturn nil nothing
-- @raise never raises
-- @usage t:close()
-- @function Transport:close
function T:close()
  if self.curl then self.curl:close() end
end

return _M
