--- The emulator's content publishing: containers (POST /{ig-user-id}/media) with their status
-- transitions, the resumable upload protocol (rupload: /ig-api-upload/{version}/{container-id}),
-- /media_publish and /content_publishing_limit, with the documented limits and error codes.
local cjson = require "cjson.safe"
local json = require "instagram.json"
local data = require "emulator.data"

local ngx = ngx
local type, tonumber, tostring, ipairs, pairs = type, tonumber, tostring, ipairs, pairs
local format, min, select = string.format, math.min, select

local _M = {}

_M.DEFAULTS = {
  publish_quota = 50,     -- posts per 24 h (the reference's number; the guide says 100)
  container_limit = 400,  -- containers per rolling 24 h
  processing_polls = 1,   -- status reads that answer IN_PROGRESS once a video's bytes are in
  upload_faults = {},     -- { drop_after = bytes, status = N, stall = s, times = N }
}

local function new_id(ctx)
  ctx.state.next_id = (ctx.state.next_id or 0) + 1
  return format("1789%013d", 4000000000 + ctx.state.next_id)
end

local function upload_path(id)
  return ngx.config.prefix() .. "uploads/" .. id .. ".bin"
end

-- ---- container status ----------------------------------------------------------------------

local VIDEO_KINDS = { VIDEO = true, REELS = true }

local function is_video(c)
  return VIDEO_KINDS[c.media_type] or (c.media_type == "STORIES" and (c.params.video_url or c.resumable))
    or (c.is_carousel_item and (c.params.video_url or c.resumable))
end

--- The container's status_code, advancing processing by one step per read.
function _M.status(ctx, c, advance)
  if c.published then return "PUBLISHED" end
  if ctx.now() - c.created > 86400 then return "EXPIRED" end
  if c.error then return "ERROR" end
  if c.resumable and not c.upload_complete then return "IN_PROGRESS" end
  if c.media_type == "CAROUSEL" then
    for _, child in ipairs(c.children) do
      if _M.status(ctx, ctx.state.nodes[child], false) ~= "FINISHED" then return "IN_PROGRESS" end
    end
    return "FINISHED"
  end
  if is_video(c) then
    if c.polls < ctx.config.processing_polls then
      if advance then c.polls = c.polls + 1 end
      return "IN_PROGRESS"
    end
    local url = c.params.video_url or ""
    if url:find("/broken", 1, true) then
      c.error = "Error: 2207026 The video format is not supported. Please check spec for supported video formats."
      return "ERROR"
    end
  elseif (c.params.image_url or ""):find("/broken", 1, true) then
    c.error = "Error: 2207052 The media could not be fetched from this URI."
    return "ERROR"
  end
  return "FINISHED"
end

local STATUS_TEXT = {
  PUBLISHED = "Published: Media has been successfully published.",
  FINISHED = "Finished: Media has been uploaded and it is ready to be published.",
  IN_PROGRESS = "In Progress: Media is still being processed.",
  EXPIRED = "Expired: Media was not published within 24 hours.",
}

--- What a read of the container shows, computed once per read (one processing step per read).
function _M.snapshot(ctx, c)
  local code = _M.status(ctx, c, true)
  local view = { id = c.id, status_code = code, status = code == "ERROR" and c.error or STATUS_TEXT[code] }
  if is_video(c) then
    local uploaded = not c.resumable or c.upload_complete
    view.video_status = {
      uploading_phase = { status = uploaded and "complete" or (c.bytes > 0 and "in_progress" or "not_started"),
                          bytes_transferred = c.bytes },
      processing_phase = { status = (code == "FINISHED" or code == "PUBLISHED") and "complete"
        or (code == "ERROR" and "error") or (uploaded and "in_progress" or "not_started") },
    }
  end
  view.copyright_check_status = { status = code == "IN_PROGRESS" and "in_progress" or "completed", matches_found = false }
  return view
end

-- ---- creating containers -------------------------------------------------------------------

local function count_matches(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

local function list_param(v)
  if type(v) == "table" then return v end
  if type(v) ~= "string" or v == "" then return nil end
  local decoded = cjson.decode(v)
  if type(decoded) == "table" then return decoded end
  local out = {} -- the guide's comma-separated form
  for id in v:gmatch("[^,%s%[%]\"]+") do out[#out + 1] = id end
  return out
end

local MEDIA_TYPES = { CAROUSEL = true, REELS = true, STORIES = true, VIDEO = true }

function _M.create(ctx, user, args)
  local fail = ctx.fail
  local since = ctx.now() - 86400
  local recent = 0
  for _, c in pairs(ctx.state.containers) do
    if c.owner == user.id and c.created > since then recent = recent + 1 end
  end
  if recent >= ctx.config.container_limit then
    return fail(9, format("(#9) You have created %d containers in 24 hours: the limit is %d",
      recent, ctx.config.container_limit))
  end
  local media_type = args.media_type
  if media_type and not MEDIA_TYPES[media_type] then
    return fail(100, "The media type " .. tostring(media_type) .. " is unknown.", "OAuthException",
      { error_subcode = 2207023, error_user_title = "Unknown media type" })
  end
  local resumable = args.upload_type == "resumable"
  if args.upload_type and not resumable then return fail(100, "(#100) upload_type must be resumable") end
  local is_item = args.is_carousel_item == "true" or args.is_carousel_item == true
  if media_type == nil and not is_item and not args.image_url then
    return fail(100, "(#100) The parameter image_url is required.")
  end
  if (media_type == "REELS" or media_type == "VIDEO") and not args.video_url and not resumable then
    return fail(100, "(#100) The parameter video_url is required.")
  end
  if media_type == "STORIES" and not (args.image_url or args.video_url or resumable) then
    return fail(100, "(#100) Stories need image_url or video_url.")
  end
  if is_item and not (args.image_url or args.video_url or resumable) then
    return fail(100, "(#100) A carousel item needs image_url or video_url.")
  end
  local caption = args.caption
  if caption then
    local chars = select(2, tostring(caption):gsub("[^\128-\191]", ""))
    if chars > 2200 or count_matches(caption, "#[%w_]+") > 30 or count_matches(caption, "@[%w_.]+") > 20 then
      return fail(36004, "The caption is too long.", "OAuthException", { error_subcode = 2207010,
        error_user_title = "Caption too long",
        error_user_msg = "The caption may have at most 2,200 characters, 30 hashtags and 20 @ tags." })
    end
  end
  if args.alt_text and #tostring(args.alt_text) > 1000 then
    return fail(100, "(#100) alt_text may have at most 1000 characters.")
  end
  local tags = list_param(args.user_tags)
  if tags and #tags > 20 then
    return fail(100, "The media has been tagged with more than 20 accounts.", "OAuthException",
      { error_subcode = 2207040, error_user_title = "Too many tags" })
  end
  local collaborators = list_param(args.collaborators)
  if collaborators and #collaborators > 3 then return fail(100, "(#100) You can invite up to 3 collaborators.") end
  local thumb = args.thumb_offset and tonumber(args.thumb_offset)
  if args.thumb_offset and (not thumb or thumb < 0) then
    return fail(1, "The thumbnail offset must be a non-negative number of milliseconds.", "OAuthException",
      { error_subcode = 2207057 })
  end
  local product_tags = list_param(args.product_tags)
  if product_tags and (media_type == "REELS" or media_type == "VIDEO" or args.video_url) then
    for _, t in ipairs(product_tags) do
      if type(t) == "table" and (t.x or t.y) then
        return fail(100, "Product tag positions are not supported for videos.", "OAuthException", { error_subcode = 2207035 })
      end
    end
  end
  local children
  if media_type == "CAROUSEL" then
    children = list_param(args.children) or {}
    if #children < 2 or #children > 10 then
      return fail(100, "A carousel needs at least 2 and at most 10 photos or videos.", "OAuthException",
        { error_subcode = 2207028, error_user_title = "Carousel size" })
    end
    for i, child in ipairs(children) do
      child = tostring(child)
      children[i] = child
      local cc = ctx.state.containers[child]
      if not cc or cc.owner ~= user.id or not cc.is_carousel_item then
        return fail(100, "(#100) children must be carousel item containers of this user: " .. child)
      end
    end
  end

  local id = new_id(ctx)
  local c = {
    type = "ig_container", id = id, owner = user.id, media_type = media_type or "IMAGE",
    params = args, created = ctx.now(), resumable = resumable, is_carousel_item = is_item,
    children = children, polls = 0, bytes = 0, upload_complete = false,
  }
  ctx.state.containers[id] = c
  ctx.state.nodes[id] = c
  if resumable then
    local base = ngx.var.scheme .. "://" .. (ngx.var.http_host or ngx.var.host)
    return ctx.send(200, { id = id, uri = base .. "/ig-api-upload/" .. ctx.version .. "/" .. id })
  end
  return ctx.send(200, { id = id })
end

-- ---- publishing ----------------------------------------------------------------------------

local function published_in_day(ctx, user_id, since)
  local n = 0
  for _, t in ipairs(ctx.state.published[user_id] or {}) do if t > since then n = n + 1 end end
  return n
end

function _M.publish(ctx, user, args)
  local fail = ctx.fail
  local c = ctx.state.containers[tostring(args.creation_id or "")]
  if not c or c.owner ~= user.id then
    return fail(24, "The media builder with creation id " .. tostring(args.creation_id) .. " does not exist.",
      "OAuthException", { error_subcode = 2207008 })
  end
  if c.is_carousel_item then return fail(100, "(#100) A carousel item is published through its carousel.") end
  local code = _M.status(ctx, c, false)
  if code == "EXPIRED" then
    return fail(-2, "The media has expired: create a new container.", "OAuthException", { error_subcode = 2207020,
      is_transient = false })
  end
  if code == "PUBLISHED" then
    return fail(24, "Media " .. c.id .. " has been published already.", "OAuthException", { error_subcode = 2207006 })
  end
  if code ~= "FINISHED" then
    return fail(9007, "Media ID is not available", "OAuthException", { error_subcode = 2207027,
      error_user_title = "Media not ready for publishing",
      error_user_msg = "The media is not ready for publishing, please wait for a moment" })
  end
  if published_in_day(ctx, user.id, ctx.now() - 86400) >= ctx.config.publish_quota then
    return fail(9, "Application request limit reached", "OAuthException", { error_subcode = 2207042,
      error_user_title = "Reached the maximum posts",
      error_user_msg = "You reached the maximum number of posts that is allowed to be published by Content "
        .. "Publishing API. Please try again the next day." })
  end
  c.published = true
  local list = ctx.state.published[user.id] or {}
  ctx.state.published[user.id] = list
  list[#list + 1] = ctx.now()

  local mid = new_id(ctx)
  local kind = c.media_type
  local media_type = (kind == "CAROUSEL" and "CAROUSEL_ALBUM") or ((kind == "REELS" or kind == "VIDEO"
    or (kind == "STORIES" and c.params.video_url) or (kind == "STORIES" and c.resumable)) and "VIDEO") or "IMAGE"
  local product = (kind == "REELS" and "REELS") or (kind == "STORIES" and "STORY") or "FEED"
  local m = {
    type = "ig_media", id = mid, owner_id = user.id, created = ctx.now(), caption = c.params.caption,
    media_type = media_type, media_product_type = product,
    media_url = format("/__emulator/img/%s.%s", mid, media_type == "VIDEO" and "mp4" or "jpg"),
    permalink = format("https://www.instagram.com/p/EMUP%s/", mid:sub(-6)), shortcode = "EMUP" .. mid:sub(-6),
    timestamp = data.iso(ctx.now()), username = user.username, like_count = 0, is_comment_enabled = true,
    alt_text = c.params.alt_text, children_ids = c.children, container_id = c.id,
  }
  ctx.state.nodes[mid] = m
  ctx.state.comments_of[mid] = {}
  if product == "STORY" then
    local stories = ctx.state.stories_of[user.id] or {}
    ctx.state.stories_of[user.id] = stories
    table.insert(stories, 1, mid)
  else
    local media = ctx.state.media_of[user.id] or {}
    ctx.state.media_of[user.id] = media
    table.insert(media, 1, mid)
    user.media_count = (user.media_count or 0) + 1
  end
  return ctx.send(200, { id = mid })
end

function _M.limit(ctx, user, args)
  local since = tonumber(args.since) or (ctx.now() - 86400)
  if since < ctx.now() - 86400 then
    return ctx.fail(100, "(#100) since must be no older than 24 hours")
  end
  local fields = args.fields or "quota_usage"
  local entry = json.object()
  for f in tostring(fields):gmatch("[^,%s]+") do
    if f == "quota_usage" then entry.quota_usage = published_in_day(ctx, user.id, since)
    elseif f == "config" then entry.config = { quota_total = ctx.config.publish_quota, quota_duration = 86400 }
    else return ctx.fail(100, format("(#100) Tried accessing nonexisting field (%s)", f)) end
  end
  return ctx.send(200, { data = { entry } })
end

-- ---- the resumable upload protocol ---------------------------------------------------------

local function debug_info(status, retriable, message)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(json.encode{ debug_info = { retriable = retriable, type = "ProcessingFailedError",
    message = json.encode{ success = false, error = { message = message } } } })
  return ngx.exit(status)
end

local function take_fault(ctx)
  for _, f in ipairs(ctx.config.upload_faults) do
    if f.times == nil or f.times > 0 then
      if f.times then f.times = f.times - 1 end
      return f
    end
  end
end

--- POST /ig-api-upload/{version}/{container-id}
function _M.rupload(ctx, id)
  local auth = ngx.var.http_authorization or ""
  local token = auth:match("^%s*OAuth%s+(%S+)")
  local tok = token and ctx.state.tokens[token]
  if not tok then return debug_info(400, false, "unauthorized user request") end
  local c = ctx.state.containers[id]
  if not c or not c.resumable then return debug_info(400, false, "invalid container id for a resumable upload") end
  if ctx.state.nodes[c.owner] and tok.kind == "ig_user" and tok.id ~= c.owner then
    return debug_info(400, false, "unauthorized user request")
  end
  if _M.status(ctx, c, false) == "EXPIRED" then return debug_info(400, false, "the container has expired") end

  local file_url = ngx.var.http_file_url
  if file_url then
    if not file_url:match("^https?://") then return debug_info(400, false, "file_url must be an http(s) URL") end
    c.params.video_url = file_url
    c.upload_complete = true
    return ctx.send(200, { success = true, message = "Upload successful." })
  end

  local offset, size = tonumber(ngx.var.http_offset), tonumber(ngx.var.http_file_size)
  if not offset or not size or offset < 0 or size < 1 or offset > size then
    return debug_info(400, false, "the offset and file_size headers are required (offset <= file_size)")
  end
  if c.file_size and c.file_size ~= size then
    return debug_info(400, false, "file_size differs from the size given when the upload started")
  end
  if offset > c.bytes then
    return debug_info(400, false, format("offset %d is past the %d bytes received so far", offset, c.bytes))
  end
  local fault = take_fault(ctx)
  if fault and fault.status then return debug_info(fault.status, true, "temporary failure, try again") end
  c.file_size = size

  local length = tonumber(ngx.var.http_content_length) or 0
  os.execute("mkdir -p " .. ngx.config.prefix() .. "uploads")
  local f = io.open(upload_path(id), c.bytes > 0 and "r+b" or "wb")
  if not f then return debug_info(500, true, "the emulator could not store the upload") end
  f:seek("set", offset)
  c.bytes = offset
  local received = 0
  if ngx.req.http_version() >= 2 then -- no streaming body socket under HTTP/2: take it whole
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then
      local tmp = ngx.req.get_body_file()
      local bf = tmp and io.open(tmp, "rb")
      body = bf and bf:read("*a") or ""
      if bf then bf:close() end
    end
    f:write(body)
    received = #body
  else
    local sock = assert(ngx.req.socket())
    sock:settimeout(30000)
    while received < length do
      local want = min(65536, length - received)
      if fault and fault.drop_after then want = min(want, fault.drop_after - received) end
      if want <= 0 then -- drop the connection mid-way, as a flaky network would
        f:close()
        c.bytes = offset + received
        return ngx.exit(444)
      end
      local chunk, err, partial = sock:receive(want)
      chunk = chunk or partial
      if chunk and #chunk > 0 then
        f:write(chunk)
        received = received + #chunk
        c.bytes = offset + received
      end
      if err then break end
      if fault and fault.stall then ngx.sleep(fault.stall) fault.stall = nil end
    end
  end
  f:close()
  c.bytes = offset + received
  if c.bytes >= size then
    c.upload_complete = true
    return ctx.send(200, { success = true, message = "Upload successful." })
  end
  return debug_info(400, true, format("partial upload: %d of %d bytes received", c.bytes, size))
end

return _M
