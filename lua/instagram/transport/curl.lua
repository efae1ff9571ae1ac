--- The libcurl transport (instagram.core): plain Lua 5.4 and LuaJIT outside nginx.
--   t:request{ method, url, headers, body, timeout } -> { status, headers, body } | nil, reason, message
-- A thin layer over an @{instagram.core} session: one libcurl handle whose connections are kept
-- open between calls (HTTP/2 where the server offers it). It blocks the calling thread: inside
-- nginx the default transport (@{instagram.transport.auto}) uses @{instagram.transport.ngx}
-- instead. Any object with the same `:request` contract can be given as the client's `transport`.
-- @module instagram.transport.curl
-- @usage local client = instagram.new{ access_token = TOKEN,
--   transport = require("instagram.transport.curl").new{ timeout = 10, http2 = false } }
local core = require "instagram.core"
local json_options = require("instagram.json").core_options

local setmetatable = setmetatable

local _M = {}
local T = {}
T.__index = T

--- Makes a libcurl transport (a new @{instagram.core.session}).
-- @tparam[opt] table opts the options, as `instagram.core.session`'s:
-- @tparam[opt=30] number opts.timeout seconds per request (more than 0, at most 86400)
-- @tparam[opt=10] number opts.connect_timeout seconds to connect (more than 0, at most 86400)
-- @tparam[opt] string opts.ca_file a CA bundle to trust besides the system's (a readable regular file)
-- @tparam[opt] string opts.user_agent the `User-Agent` (default `instagram-graph-lua/<version>`)
-- @tparam[opt=true] boolean|string opts.http2 HTTP/2 (the server willing) for requests that run at
--   once (@{Transport:many}), HTTP/1.1 one at a time; `"always"`: HTTP/2 for all; `false`: never
-- @tparam[opt=67108864] integer opts.max_body the largest answer, bytes (1 to 4 GiB; default 64 MiB)
-- @treturn Transport the transport
-- @raise for an unknown option, a wrong type or a value out of range, an unreadable `ca_file`
-- @usage local t = require("instagram.transport.curl").new{ timeout = 5 }
function _M.new(opts)
  return setmetatable({ session = core.session(opts), name = "curl" }, T)
end

--- A libcurl transport, made by @{new}. `name` is `"curl"`; `sleep` and `now` are
-- @{instagram.core.sleep} and @{instagram.core.now}.
-- @type Transport

--- Sends one request and reads the whole answer (blocking).
-- This is the contract every transport keeps (a transport of your own needs only this method).
-- @tparam table req the request:
-- @tparam string req.method an upper-case HTTP method (`"GET"`, `"POST"` ...)
-- @tparam string req.url an `http://` or `https://` URL of at most 64 KiB
-- @tparam[opt] table req.headers `{ name = value }`: names are HTTP tokens of at most 256 bytes,
--   values strings (or numbers) without CR, LF or NUL, at most 16 KiB; `Host` and `User-Agent`
--   replace the transport's own; `Content-Length` and `Transfer-Encoding` raise
-- @tparam[opt] string req.body the request body
-- @tparam[opt] number req.timeout seconds for the whole request (default the transport's `timeout`)
-- @tparam[opt] boolean req.decode the caller wants the body as JSON decoded (the client sets it): a
--   transport may then answer `value` (and `decode_error`) instead of `body`; one that does not,
--   and every transport of your own, just answers `body`
-- @tparam[opt] {string,...} req.want_headers the lower-case names of the only answer headers the
--   caller reads (the client sets it: the usage headers, `retry-after`, `content-type`): a
--   transport may then leave the others out of `headers` (this one does, so a call makes no
--   strings of headers nobody reads); one that does not just answers them all. It is the caller's
--   list: read it, never change it
-- @treturn[1] table `{ status = integer, headers = { [lower-case name] = value }, body = string }`
--   (a repeated header's values joined with `", "`). With `req.decode`, this transport decodes
--   in the C core, straight from its buffer (@{instagram.json.decode}'s rules): `value` is the
--   decoded body, `decode_error` why it is not JSON; `body` is nil when a 2xx answer decoded
-- @treturn[2] nil
-- @treturn[2] string reason `timeout`, `connect` (nothing was sent), `tls`, `network` (the request
--   may have left), `size` (an answer over `max_body`, or headers over 256 KiB), `invalid`
-- @treturn[2] string message what went wrong
-- @raise for a malformed request: a method that is not upper-case letters, a URL that is not
--   http(s) or holds a space or control byte, a bad header name or value, a framing header; also
--   while another request of this transport is running (one at a time)
-- @usage local res, reason, message = t:request{ method = "GET", url = "https://graph.facebook.com/v24.0/me",
--   headers = { Authorization = "Bearer " .. TOKEN } }
-- @function Transport:request
function T:request(req)
  if req.decode then -- decoded in the C core from its buffer: no body string when all went well
    local status, headers, body, value, why = self.session:request(req.method, req.url, req.headers, req.body,
      req.timeout, json_options(), req.want_headers)
    if not status then return nil, headers, body end -- reason, message
    return { status = status, headers = headers, body = body, value = value, decode_error = why }
  end
  local status, headers, body = self.session:request(req.method, req.url, req.headers, req.body, req.timeout, nil,
    req.want_headers)
  if not status then return nil, headers, body end -- reason, message
  return { status = status, headers = headers, body = body }
end

--- Streams a file as the body of a POST (never held in memory).
-- @tparam table req the upload:
-- @tparam string req.url the URL
-- @tparam[opt] table req.headers more headers (as for @{Transport:request})
-- @tparam string req.file the path of a regular file
-- @tparam[opt=0] integer req.offset where in the file to start
-- @tparam[opt] function req.progress `progress(sent, total)`; returning false stops the upload
-- @tparam[opt] number req.stall_timeout seconds without progress before giving up (default: the
--   transport's timeout)
-- @treturn[1] table `{ status, headers, body }`
-- @treturn[2] nil
-- @treturn[2] string reason as for @{Transport:request}, plus `file` (cannot read the file) and
--   `aborted` (the progress callback said stop)
-- @treturn[2] string message
-- @raise for a malformed URL or headers, a bad offset, while another request is running
-- @usage local res, reason = t:upload{ url = url, file = "/tmp/clip.mp4", headers = { offset = "0" } }
-- @function Transport:upload
function T:upload(req)
  local status, headers, body = self.session:upload(req.url, req.headers, req.file, req.offset or 0, req.progress,
    req.stall_timeout)
  if not status then return nil, headers, body end
  return { status = status, headers = headers, body = body }
end

--- Sends many requests at once (curl_multi in the C core; HTTP/2 multiplexing where the server
-- offers it).
-- @tparam {table,...} reqs the requests, each as for @{Transport:request}
-- @tparam[opt=8] integer concurrency how many at a time (1 to 64)
-- @treturn table the results in order: `{ status, headers, body }`, or `{ error = reason, message }`
-- @raise for a malformed request (none is sent), while another request is running
-- @usage local results = t:many({ { method = "GET", url = u1 }, { method = "GET", url = u2 } }, 2)
-- @function Transport:many
function T:many(reqs, concurrency) return self.session:many(reqs, concurrency) end

--- Starts a request now; its answer is collected later (one in flight per transport).
-- @tparam table req as for @{Transport:request}
-- @treturn table the handle: `handle.finish()` returns what @{Transport:request} would;
--   `handle.cancel()` drops the request
-- @raise for a malformed request, or while another request is running or in flight
-- @usage local h = t:start{ method = "GET", url = url }
-- local res, reason, message = h.finish()
-- @function Transport:start
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

--- Closes the session's connections; the transport must not be used afterwards.
-- @treturn nil nothing
-- @raise never raises
-- @usage t:close()
-- @function Transport:close
function T:close() self.session:close() end

T.sleep = core.sleep
T.now = core.now

return _M
