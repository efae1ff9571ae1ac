--- Resumable video uploads (rupload), streamed from disk and resumed after any fault.
--   client:upload_video(uri_or_container_id, path, { progress = fn, max_attempts = 6 })  --> true, info | nil, err
--   client:upload_video_url(uri_or_container_id, file_url)                             --> true | nil, err
-- After a dropped connection or a transient failure it asks the container how far it got
-- (video_status.uploading_phase.bytes_transferred) and continues from there, with backoff.
local type, tostring, tonumber, error, min = type, tostring, tonumber, error, math.min
local floor, huge = math.floor, math.huge
local match, random = string.match, math.random

local _M = {}

local function container_url(client, target)
  if type(target) ~= "string" and type(target) ~= "number" then
    error("upload: give the container's uri (from the create call) or its id", 3)
  end
  target = tostring(target)
  if match(target, "^https?://") then
    local id = match(target, "/(%d+)/?$")
    if not id then error("upload: the uri does not end with a container id: " .. target, 3) end
    return target, id
  end
  if not match(target, "^%d+$") then error("upload: a container id is digits only, got '" .. target .. "'", 3) end
  return client.rupload_url .. "/ig-api-upload/" .. client.version .. "/" .. target, target
end

local function file_size(path)
  if type(path) ~= "string" or path == "" then error("upload: path must be a file name", 3) end
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

--- Where the container's upload stands: bytes_transferred and whether it is complete.
local function uploaded(client, id)
  local c, err = client:get("/" .. id, { fields = "id,status_code,video_status" })
  if not c then return nil, err end
  local phase = type(c) == "table" and type(c.video_status) == "table" and c.video_status.uploading_phase or nil
  if type(phase) ~= "table" then return nil end
  local bytes = tonumber(phase.bytes_transferred)
  -- only a whole, finite count is an offset to resume from
  if bytes and (bytes ~= bytes or bytes == huge or bytes % 1 ~= 0) then bytes = nil end
  return bytes and floor(bytes), phase.status == "complete"
end

--- video(client, uri_or_id, path, opts) -> true, info | nil, err
-- opts: progress(sent, total) (return false to stop), max_attempts (6), offset (where to start, 0),
-- retry_base (1 s), retry_cap (30 s). info = { attempts, offsets = { each attempt's offset }, size }
function _M.video(client, target, path, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("upload_video: opts must be a table", 2) end
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    error("upload_video: progress must be a function(sent, total)", 2)
  end
  local url, id = container_url(client, target)
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
  while true do
    info.attempts = info.attempts + 1
    info.offsets[info.attempts] = offset
    local res, err = client:raw_upload(url, { offset = tostring(offset), file_size = tostring(size) }, path, offset,
      opts.progress)
    if res then return true, info end
    if err.reason == "aborted" or err.reason == "file" or info.attempts >= max_attempts then return nil, err end
    local transient = err.is_transient or err.kind == "timeout"
      or (err.kind == "transport" and (err.reason == "network" or err.reason == "connect"))
      or (err.status and err.status >= 500)
    if not transient then return nil, err end
    local delay = min(cap, base * 2 ^ (info.attempts - 1))
    client.sleep(delay / 2 + random() * delay / 2)
    -- Continue from what the server has, not from where we think we were.
    local bytes, complete = uploaded(client, id)
    if complete then return true, info end
    if bytes and bytes >= 0 and bytes <= size then offset = bytes end
  end
end

--- video_url(client, uri_or_id, file_url) -> true | nil, err : the hosted-file variant (file_url header).
function _M.video_url(client, target, file_url)
  if type(file_url) ~= "string" or not match(file_url, "^https?://") then
    error("upload_video_url: file_url must be an http(s) URL", 2)
  end
  local url = container_url(client, target)
  local res, err = client:request("POST", url, nil, { auth = "OAuth", headers = { file_url = file_url } })
  if not res then return nil, err end
  return true
end

return _M
