--- Resumable video uploads (rupload), streamed from disk and resumed after any fault.
-- Reached through the client:
--
--     client:upload_video(uri_or_container_id, path, { progress = fn, max_attempts = 6 })  --> true, info | nil, err
--     client:upload_video_url(uri_or_container_id, file_url)                             --> true | nil, err
--
-- After a dropped connection or a transient failure it asks the container how far it got
-- (`video_status.uploading_phase.bytes_transferred`) and continues from there, with backoff.
-- @module instagram.upload
local type, tostring, tonumber, error, min = type, tostring, tonumber, error, math.min
local floor, huge = math.floor, math.huge
local match, find, random = string.match, string.find, math.random
local errors = require "instagram.error"

local _M = {}

-- The options of upload_video (their types are checked where they are used).
local VIDEO_OPTS = { progress = true, max_attempts = true, offset = true, retry_base = true, retry_cap = true }

local function container_url(client, target)
  if type(target) ~= "string" and type(target) ~= "number" then
    error("upload: give the container's uri (from the create call) or its id", 3)
  end
  target = tostring(target)
  if find(target, "://", 1, true) or find(target, "^//") then -- a uri (a server's words): nil, err, never a raise
    local uerr = client:_upload_url_error(target)
    if uerr then return nil, uerr end
    local id = match(target, "/(%d+)/?$")
    if not id then
      return nil, errors.new{ kind = "transport", reason = "invalid",
        message = "refusing an upload uri that does not end with a container id" }
    end
    return target, id
  end
  if not match(target, "^%d+$") then error("upload: a container id is digits only, got '" .. target .. "'", 3) end
  return client.rupload_url .. "/ig-api-upload/" .. client.version .. "/" .. target, target
end

local function file_size(path)
  if type(path) ~= "string" or path == "" then error("upload: path must be a file name", 3) end
  local f = io.open(path, "rb")
  if not f then return nil end
  local readable = f:read(0) ~= nil or f:seek("end") == 0 -- (a directory opens, but does not read)
  local size = readable and f:seek("end") or nil
  f:close()
  return size
end

-- Where the container's upload stands: bytes_transferred and whether it is complete.
-- Returns the whole byte count to resume from (nil: unknown) and whether the upload is complete;
-- a failed lookup is "unknown, not complete", never a success.
local function uploaded(client, id, limit)
  local c = client:_request_until(limit, "GET", "/" .. id, { fields = "id,status_code,video_status" })
  local phase = type(c) == "table" and type(c.video_status) == "table" and c.video_status.uploading_phase or nil
  if type(phase) ~= "table" then return nil, false end
  local bytes = tonumber(phase.bytes_transferred)
  -- only a whole, finite count is an offset to resume from
  if bytes and (bytes ~= bytes or bytes == huge or bytes % 1 ~= 0) then bytes = nil end
  return bytes and floor(bytes), phase.status == "complete"
end

--- Uploads a local video file to a container, resuming after faults; `client:upload_video` calls this.
-- `POST {rupload_url}/ig-api-upload/{version}/{container-id}` with `Authorization: OAuth`, `offset`
-- and `file_size`, streamed from disk (never held in memory; HTTP/1.1). After a dropped connection,
-- a timeout, a 5xx or a transient error it waits (exponential backoff with jitter), asks the
-- container for `video_status.uploading_phase.bytes_transferred` and continues from there.
-- @tparam Client client the client to call through
-- @tparam string|number target the container's `uri` (from a `upload_type = "resumable"` create
-- call: on `rupload_url`, under `/ig-api-upload/`, ending with the container id) or its id (digits)
-- @tparam string path the file to upload (not empty)
-- @tparam[opt] table opts
-- @tparam[opt] function opts.progress `progress(sent, total)` as bytes go out; return `false` to stop
-- @tparam[opt=6] int opts.max_attempts attempts in all
-- @tparam[opt=0] int opts.offset the byte to start from
-- @tparam[opt=1] number opts.retry_base the first backoff, in seconds
-- @tparam[opt=30] number opts.retry_cap the longest backoff, in seconds
-- @treturn[1] boolean `true`
-- @treturn[1] table info `{ attempts, offsets = { where each attempt started }, size }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err: `kind = "transport"` with `reason = "file"` (the file cannot be opened),
-- `"aborted"` (`progress` returned false), `"foreign_host"` (a `uri` not on `rupload_url`) or
-- `"invalid"` (a `uri` outside `/ig-api-upload/`, with a control byte, or not ending with a
-- container id); the last transport error; or rupload's own failure (its `debug_info` made an
-- error object; `retriable` becomes `is_transient`); an error after an attempt has `offset`, where
-- its last attempt started (or the container's count when it was read): give it as `opts.offset`
-- to resume. Neither a backoff pause nor an attempt passes the client's `deadline`: the error
-- comes back with `retry_after`
-- @raise when `opts` is not a table or has an unknown option, `progress` is not a function, `path`
-- is not a non-empty string or names an empty file, or `target` is neither a string nor a number,
-- or is not digits without being a URL
-- @usage
-- local ok, info = client:upload_video(container.uri or container.id, "clip.mp4", {
--   progress = function(sent, total) io.write(("\r%d/%d"):format(sent, total)) end })
-- if not ok then print(info) end
function _M.video(client, target, path, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("upload_video: opts must be a table", 2) end
  require("instagram.client").check_options("upload_video", "opts", opts, VIDEO_OPTS, 2)
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    error("upload_video: progress must be a function(sent, total)", 2)
  end
  -- Every value checked before the first byte goes: a mistake is never found after an attempt.
  local function whole(name, v, lo)
    if v ~= nil and not (type(v) == "number" and v == v and v % 1 == 0 and v >= lo and v < 2 ^ 53) then
      error(("upload_video: opts.%s must be a whole number, %d or more (got %s)"):format(name, lo, tostring(v)), 3)
    end
  end
  local function seconds(name, v)
    if v ~= nil and not (type(v) == "number" and v >= 0 and v <= 86400) then
      error(("upload_video: opts.%s must be a number of seconds from 0 to 86400 (got %s)"):format(name, tostring(v)), 3)
    end
  end
  whole("max_attempts", opts.max_attempts, 1)
  whole("offset", opts.offset, 0)
  seconds("retry_base", opts.retry_base)
  seconds("retry_cap", opts.retry_cap)
  local url, id = container_url(client, target)
  if not url then return nil, id end
  local size = file_size(path)
  if not size then
    return nil, require("instagram.error").new{ kind = "transport", reason = "file",
      message = "cannot open '" .. path .. "' for reading" }
  end
  if size == 0 then error("upload_video: '" .. path .. "' is empty", 2) end
  local max_attempts = opts.max_attempts or 6
  local base, cap = opts.retry_base or 1, opts.retry_cap or 30
  local offset = opts.offset or 0
  local info = { attempts = 0, offsets = {}, size = size }
  local limit = client:_deadline()
  while true do
    info.attempts = info.attempts + 1
    info.offsets[info.attempts] = offset
    local res, err = client:raw_upload(url, { offset = tostring(offset), file_size = tostring(size) }, path, offset,
      opts.progress)
    if type(res) == "table" and res.success == false then -- a 200 that says it failed: not done
      res, err = nil, require("instagram.error").new{ kind = "decode", is_transient = true,
        message = "the upload host answered success: false" }
    end
    if res then return true, info end
    err.offset = offset -- where this attempt started: a place to resume from (opts.offset)
    if err.reason == "aborted" or err.reason == "file" or info.attempts >= max_attempts then return nil, err end
    local transient = err.is_transient or err.kind == "timeout"
      or (err.kind == "transport" and (err.reason == "network" or err.reason == "connect"))
      or (err.status and err.status >= 500)
    if not transient then return nil, err end
    local delay = min(cap, base * 2 ^ (info.attempts - 1))
    delay = delay / 2 + random() * delay / 2
    if limit and client.now() + delay >= limit then -- no pause past the client's deadline
      if not (type(err.retry_after) == "number" and err.retry_after >= delay) then err.retry_after = delay end
      return nil, err
    end
    client.sleep(delay)
    -- Continue from what the server has, not from where we think we were.
    local bytes, complete = uploaded(client, id, limit)
    if complete then return true, info end
    if bytes and bytes >= 0 and bytes <= size then offset = bytes end
    if limit and client.now() >= limit then -- no attempt past the deadline either
      err.offset = offset
      return nil, err
    end
  end
end

--- Has rupload fetch a hosted video for a container; `client:upload_video_url` calls this.
-- `POST {rupload_url}/ig-api-upload/{version}/{container-id}` with `Authorization: OAuth` and a
-- `file_url` header.
-- @tparam Client client the client to call through
-- @tparam string|number target the container's `uri` or its id (digits)
-- @tparam string file_url a public http(s) URL of the video
-- @treturn[1] boolean `true`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or rupload can do; a bad `uri` as for
-- @{video} (`reason` `"foreign_host"` or `"invalid"`)
-- @raise when `file_url` is not an http(s) URL, or `target` is neither a string nor a number, or
-- is not digits without being a URL
-- @usage local ok, err = client:upload_video_url(container.id, "https://cdn.example/clip.mp4")
function _M.video_url(client, target, file_url)
  if type(file_url) ~= "string" or not match(file_url, "^https?://") then
    error("upload_video_url: file_url must be an http(s) URL", 2)
  end
  local url, uerr = container_url(client, target)
  if not url then return nil, uerr end
  local res, err = client:request("POST", url, nil, { auth = "OAuth", headers = { file_url = file_url } })
  if not res then return nil, err end
  return true
end

return _M
