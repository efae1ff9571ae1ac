--- The libcurl transport (instagram.core): plain Lua 5.4 and LuaJIT outside nginx.
--   t:request{ method, url, headers, body, timeout } -> { status, headers, body } | nil, reason, message
local core = require "instagram.core"

local setmetatable = setmetatable

local _M = {}
local T = {}
T.__index = T

--- new{ timeout, connect_timeout, ca_file, user_agent, http2, max_body } (all optional)
function _M.new(opts)
  return setmetatable({ session = core.session(opts), name = "curl" }, T)
end

function T:request(req)
  local status, headers, body = self.session:request(req.method, req.url, req.headers, req.body, req.timeout)
  if not status then return nil, headers, body end -- reason, message
  return { status = status, headers = headers, body = body }
end

--- t:upload{ url, headers, file, offset, progress, stall_timeout } -> res | nil, reason, message
-- Streams the file from `offset` (never held in memory); progress(sent, total) may return false to stop.
function T:upload(req)
  local status, headers, body = self.session:upload(req.url, req.headers, req.file, req.offset or 0, req.progress,
    req.stall_timeout)
  if not status then return nil, headers, body end
  return { status = status, headers = headers, body = body }
end

--- t:many(reqs, concurrency) -> results in order: { status, headers, body } or { error, message }
-- (curl_multi in the C core; HTTP/2 multiplexing where the server offers it).
function T:many(reqs, concurrency) return self.session:many(reqs, concurrency) end

--- t:start(req) -> handle; handle:finish() -> res | nil, reason, message ; handle:cancel()
-- The request is sent now; the answer is collected at finish (one in flight per session).
function T:start(req)
  local pending = self.session:start(req.method, req.url, req.headers, req.body, req.timeout)
  return {
    finish = function()
      local status, headers, body = pending:finish()
      if not status then return nil, headers, body end
      return { status = status, headers = headers, body = body }
    end,
    cancel = function() pending:cancel() end,
  }
end

function T:close() self.session:close() end

T.sleep = core.sleep
T.now = core.now

return _M
