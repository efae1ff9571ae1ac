--- Content publishing: containers, waiting for them, media_publish, and the documented limits.
-- The limits are checked before any call. The IG user wrapper exposes one call per flow, and
-- its reference (@{instagram.node.ig_user.IgUser:publish_image} and the following) lists every option:
--
--     user:publish_image{ image_url, caption, alt_text, user_tags, location_id, product_tags, collaborators }
--     user:publish_video{ video_url | file, media_type = "REELS", caption, share_to_feed, cover_url,
--                         thumb_offset, audio_name, trial_params, collaborators, location_id, user_tags, ... }
--     user:publish_story{ image_url | video_url | file, user_tags }
--     user:publish_carousel{ children = { { image_url = ... }, { video_url | file = ... }, ... }, caption, ... }
--
-- Each returns `{ id = media_id, container_id = ... }` (plus the fields asked for with `fields`),
-- or `nil, err`. Errors of the flow itself have `kind = "publish"` and a `reason`:
-- `container_error`, `container_expired`, `timeout`, `deadline`, `quota` (a failed local check is raised as
-- an error instead, never returned).
-- @module instagram.publish
local errors = require "instagram.error"
local json = require "instagram.json"

local type, pairs, ipairs, tonumber, error, select = type, pairs, ipairs, tonumber, error, select
local match, gsub, find, min, max = string.match, string.gsub, string.find, math.min, math.max
local check_options = require("instagram.client").check_options

local _M = {}

--- The documented limits, checked before any request (a broken one raises, naming the option).
-- Where the Graph API reference gives two numbers, the larger is used so that no valid call is refused.
-- @table LIMITS
-- @field caption_chars 2200: characters in a caption
-- @field hashtags 30: hashtags in a caption
-- @field mentions 20: @ mentions in a caption
-- @field alt_text_chars 1000: characters of alt text
-- @field user_tags 20: user tags on a media
-- @field collaborators 3: collaborators on a post
-- @field carousel_min 2: fewest children of a carousel
-- @field carousel_max 10: most children of a carousel
-- @field product_tags_feed 20: product tags on a feed post (image or carousel)
-- @field product_tags_reel 30: product tags on a reel
-- @field product_tags_slide 5: product tags on one carousel child
-- @field reel_bytes 300 MB: a reel or carousel video file on disk
-- @field story_video_bytes 100 MB: a story video file on disk
_M.LIMITS = {
  caption_chars = 2200, hashtags = 30, mentions = 20, alt_text_chars = 1000, user_tags = 20,
  collaborators = 3, carousel_min = 2, carousel_max = 10,
  product_tags_feed = 20, product_tags_reel = 30, product_tags_slide = 5,
  reel_bytes = 300 * 1024 * 1024, story_video_bytes = 100 * 1024 * 1024,
}
local L = _M.LIMITS

-- A flow error; with a client, scrubbed of its secrets (the container's status text is the
-- server's words and may echo anything).
local function publish_error(reason, message, extra, client)
  local e = { kind = "publish", reason = reason, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  e = errors.new(e)
  local list = client and client._secret_list and client:_secret_list()
  return errors.scrub_error(e, list)
end

-- An id as digits (a string of digits, or a whole number), or nil.
local function id_text(v)
  if type(v) == "string" and match(v, "^%d+$") then return v end
  if type(v) == "number" and v >= 0 and v % 1 == 0 and v < 2 ^ 53 then return json.number(v) end
  return nil
end

-- The server's answer to a create or publish call must be an object with an id of digits.
local function answer_id(res, what)
  local id = type(res) == "table" and id_text(res.id) or nil
  if not id then
    return nil, errors.new{ kind = "decode", message = what .. " answered without an id of digits" }
  end
  return id
end

-- ---- local checks (raise: they are the caller's mistake, caught before any request) -------

-- level: 4 from a check_* helper (the caller of the flow that called it), 3 from a flow itself.
local function bad(what, why, level) error(what .. ": " .. why, level or 4) end

local function utf8_len(s) return select(2, gsub(s, "[^\128-\191]", "")) end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

--- Checks a caption against the documented limits (the flows call this before any request).
-- @tparam ?string caption the caption; `nil` passes
-- @raise `"caption: ..."` when it is not a string, or has more than 2,200 characters, 30 hashtags
-- or 20 @ mentions (see @{LIMITS})
-- @usage
-- local ok, why = pcall(require("instagram.publish").check_caption, text)
-- if not ok then print(why) end
local function check_caption(caption)
  if caption == nil then return end
  if type(caption) ~= "string" then bad("caption", "must be a string") end
  if utf8_len(caption) > L.caption_chars then
    bad("caption", ("has %d characters; the limit is 2,200"):format(utf8_len(caption)))
  end
  local tags = count(caption, "#[^%s#@]+")
  if tags > L.hashtags then bad("caption", ("has %d hashtags; the limit is 30"):format(tags)) end
  local mentions = count(caption, "@[%w_.]+")
  if mentions > L.mentions then bad("caption", ("has %d @ mentions; the limit is 20"):format(mentions)) end
end
_M.check_caption = function(caption) check_caption(caption) end -- (not a tail call: the levels hold)

local function check_url(name, v, required)
  if v == nil then
    if required then bad(name, "is required (a public http(s) URL)") end
    return
  end
  if type(v) ~= "string" or not match(v, "^https?://[^%s]+$") then bad(name, "must be a public http(s) URL") end
  if find(v, "[\128-\255]") then bad(name, "must contain only US-ASCII characters (the API rejects others)") end
end

local function check_unit(name, v)
  -- (called from check_user_tags / check_product_tags: one level deeper than the other helpers)
  if type(v) ~= "number" or not (v >= 0 and v <= 1) then bad(name, "must be a number from 0.0 to 1.0", 5) end
end

local function check_user_tags(tags, need_xy)
  if tags == nil then return end
  if type(tags) ~= "table" then bad("user_tags", "must be a list of { username, x, y }") end
  if #tags > L.user_tags then bad("user_tags", ("has %d tags; the limit is 20"):format(#tags)) end
  for i, t in ipairs(tags) do
    if type(t) ~= "table" or type(t.username) ~= "string" or t.username == "" then
      bad("user_tags[" .. i .. "]", "needs a username")
    end
    if need_xy or t.x ~= nil or t.y ~= nil then
      check_unit("user_tags[" .. i .. "].x", t.x)
      check_unit("user_tags[" .. i .. "].y", t.y)
    end
  end
end

local function check_product_tags(tags, limit, video)
  if tags == nil then return end
  if type(tags) ~= "table" then bad("product_tags", "must be a list of { product_id, x, y }") end
  if #tags > limit then bad("product_tags", ("has %d tags; the limit here is %d"):format(#tags, limit)) end
  for i, t in ipairs(tags) do
    if type(t) ~= "table" or (type(t.product_id) ~= "string" and type(t.product_id) ~= "number") then
      bad("product_tags[" .. i .. "]", "needs a product_id")
    end
    if video and (t.x ~= nil or t.y ~= nil) then bad("product_tags[" .. i .. "]", "videos take no x/y positions") end
    if not video then
      check_unit("product_tags[" .. i .. "].x", t.x)
      check_unit("product_tags[" .. i .. "].y", t.y)
    end
  end
end

local function check_collaborators(v)
  if v == nil then return end
  if type(v) ~= "table" then bad("collaborators", "must be a list of usernames") end
  if #v > L.collaborators then bad("collaborators", ("has %d usernames; the limit is 3"):format(#v)) end
  for i, u in ipairs(v) do
    if type(u) ~= "string" or u == "" then bad("collaborators[" .. i .. "]", "must be a username") end
  end
end

local function check_alt_text(v)
  if v == nil then return end
  if type(v) ~= "string" then bad("alt_text", "must be a string") end
  if utf8_len(v) > L.alt_text_chars then bad("alt_text", "has more than 1,000 characters") end
end

local function check_id(name, v)
  if v == nil then return end
  if not ((type(v) == "string" and match(v, "^%d+$")) or (type(v) == "number" and v % 1 == 0 and v >= 0)) then
    bad(name, "must be an id (digits)")
  end
end

local function check_file(path, limit, what)
  if type(path) ~= "string" or path == "" then bad("file", "must be a path") end
  local f = io.open(path, "rb")
  if not f then bad("file", "cannot read '" .. path .. "'") end
  local readable = f:read(0) ~= nil or f:seek("end") == 0 -- (a directory opens, but does not read)
  local size = f:seek("end")
  f:close()
  if not readable then bad("file", "'" .. path .. "' is not a file that can be read") end
  if size == 0 then bad("file", "'" .. path .. "' is empty") end
  if size > limit then
    bad("file", ("'%s' is %d bytes; %s may be at most %d MB"):format(path, size, what, limit / (1024 * 1024)))
  end
end

-- The options of a wait (a flow's `wait`, wait_for_container's opts).
local WAIT_OPTS = { timeout = "number", interval = "number", max_interval = "number" }
-- The options of content_publishing_limit.
local LIMIT_OPTS = { fields = true, since = true }

-- The wait options: known names, numbers, each from 0 to 86400 seconds. level: as for error.
local function check_wait(fn, where, w, level)
  check_options(fn, where, w, WAIT_OPTS, level + 1)
  for _, k in ipairs{ "timeout", "interval", "max_interval" } do
    local v = w and w[k]
    if v ~= nil and not (v >= 0 and v <= 86400) then
      error(("%s: option '%s.%s' must be a number of seconds from 0 to 86400"):format(fn, where, k), level + 1)
    end
  end
end

-- A flow's options (or a carousel child's, `where` naming it), and its `wait`: the client's checker.
local function check_known(o, known, fn, where)
  if type(o) ~= "table" then error(fn .. (where and (": " .. where) or "") .. ": expects a table of options", 3) end
  check_options(fn, where, o, known, 3)
  if not where then -- the flow's own options, checked before any call is made
    check_wait(fn, "wait", o.wait, 3)
    if o.progress ~= nil and type(o.progress) ~= "function" then
      error(fn .. ": option 'progress' must be a function(sent, total), got " .. type(o.progress), 3)
    end
    if o.check_quota ~= nil and type(o.check_quota) ~= "boolean" then
      error(fn .. ": option 'check_quota' must be a boolean, got " .. type(o.check_quota), 3)
    end
    local f = o.fields
    if f ~= nil and type(f) ~= "string" and type(f) ~= "table" then
      error(fn .. ": option 'fields' must be a string or a list of names, got " .. type(f), 3)
    end
    if type(f) == "table" then
      local ok, why = pcall(require("instagram.params").value, f, "fields")
      if not ok then error(fn .. ": " .. why, 3) end
    end
  end
end

-- Options of the flow itself (not API parameters) are accepted by every flow.
local FLOW = { "fields", "check_quota", "wait", "progress" }

local function set(list, with_flow)
  local t = {}
  for _, k in ipairs(list) do t[k] = true end
  if with_flow then for _, k in ipairs(FLOW) do t[k] = true end end
  return t
end

local IMAGE_OPTS = set({ "image_url", "caption", "alt_text", "user_tags", "location_id", "product_tags",
  "collaborators" }, true)
local VIDEO_OPTS = set({ "video_url", "file", "media_type", "caption", "share_to_feed", "cover_url", "thumb_offset",
  "audio_name", "trial_params", "collaborators", "location_id", "user_tags", "product_tags" }, true)
local STORY_OPTS = set({ "image_url", "video_url", "file", "user_tags" }, true)
local CAROUSEL_OPTS = set({ "children", "caption", "collaborators", "location_id", "product_tags" }, true)
local CHILD_OPTS = set{ "image_url", "video_url", "file", "user_tags", "product_tags", "alt_text" }

-- ---- containers ----------------------------------------------------------------------------

--- Waits for a container: polls `status_code` until FINISHED (or PUBLISHED).
-- `GET /{ig-container-id}?fields=id,status_code,status`, with waits growing 1.5 times each poll.
-- `client:wait_for_container(id, opts)` and @{instagram.node.misc.IgContainer:wait} call this.
-- @tparam Client client the client to call through
-- @tparam string|number id the container's id (digits)
-- @tparam[opt] table opts
-- @tparam[opt=300] number opts.timeout seconds to wait in all (the documented five minutes)
-- @tparam[opt=3] number opts.interval the first wait, in seconds
-- @tparam[opt=60] number opts.max_interval the longest wait (the documented once a minute)
-- @treturn[1] table the container, `{ id, status_code, status }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error (a `kind = "decode"` one when the answer is not an
-- object), or `kind = "publish"` with `container_id`, `container_status` (the container's status
-- text; `status` stays the HTTP status, as in every error) and `reason`:
-- `"container_error"` (status ERROR; `subcode` from the status text, such as 2207026),
-- `"container_expired"` (status EXPIRED: not published within 24 hours), `"timeout"` (still
-- IN_PROGRESS after `opts.timeout`: wait again later) or `"deadline"` (the client's `deadline`
-- came first, as in a request handler: `retry_after` says when to poll again)
-- @raise when `id` is not digits, or `opts` is not a table, has an unknown option or a value that
-- is not a number
-- @usage
-- local c, err = client:wait_for_container(CONTAINER_ID, { timeout = 600 })
-- if not c and err.reason == "timeout" then --[[ try again later ]] end
function _M.wait(client, id, opts)
  local sid = id_text(id)
  if not sid then error("wait_for_container: the container id must be digits, got " .. errors.text(id), 2) end
  id = sid
  check_wait("wait_for_container", "opts", opts, 2)
  opts = opts or {}
  local deadline_left = opts.timeout or 300
  local interval, cap = opts.interval or 3, opts.max_interval or 60
  local limit = client:_deadline() -- the client's (a request handler's): the whole wait within it
  local code, status
  -- the wait stopped by the deadline, `step` seconds before the next poll would have been due
  local function past(step)
    local e = publish_error("deadline", "container " .. id .. " is still " .. (errors.text(code) or "without a status")
      .. " and waiting longer would pass the call's deadline; try wait_for_container again later",
      { container_id = id, container_status = status }, client)
    e.retry_after = step
    return e
  end
  while true do
    local started = client.now()
    local c, err = client:_request_until(limit, "GET", "/" .. id, { fields = "id,status_code,status" })
    if not c then
      if type(err) == "table" and err.container_id == nil then err.container_id = id end -- (to wait again)
      return nil, err
    end
    if type(c) ~= "table" then
      return nil, errors.new{ kind = "decode", message = "container " .. id .. " answered no object" }
    end
    code, status = c.status_code, c.status
    local status_text = errors.text(status) or "no status"
    if code == "FINISHED" or code == "PUBLISHED" then return c end
    if code == "ERROR" then
      return nil, publish_error("container_error", "container " .. id .. " failed: " .. status_text,
        { container_id = id, container_status = status, subcode = tonumber(match(status_text, "(22%d%d%d%d%d)")) }, client)
    end
    if code == "EXPIRED" then
      return nil, publish_error("container_expired", "container " .. id .. " expired (not published within 24 hours)",
        { container_id = id, container_status = status }, client)
    end
    if deadline_left <= 0 then
      return nil, publish_error("timeout", "container " .. id .. " is still " .. (errors.text(code) or "without a status")
        .. " after waiting; try wait_for_container again later", { container_id = id, container_status = status }, client)
    end
    local step = min(interval, deadline_left)
    if limit and client.now() + step >= limit then return nil, past(step) end
    client.sleep(step)
    if limit and client.now() >= limit then return nil, past(0) end -- a pause that overran
    -- The poll's own time counts too: with interval 0 the timeout still ends the wait.
    deadline_left = deadline_left - max(step, client.now() - started)
    interval = min(cap, interval * 1.5)
  end
end

--- Creates a container with the parameters as given: `POST /{ig-user-id}/media`.
-- Nothing is checked locally; @{instagram.node.ig_user.IgUser:create_container} calls this.
-- @tparam Client client the client to call through
-- @tparam string user_id the IG user's id
-- @tparam table params the API's parameters (`image_url`, `media_type`, `upload_type`, ...)
-- @treturn[1] table `{ id }`, and `uri` for a resumable upload
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @usage local c, err = require("instagram.publish").create(client, IG_USER_ID, { image_url = URL })
function _M.create(client, user_id, params)
  return client:post("/" .. user_id .. "/media", params)
end

--- Reads the publishing quota: `GET /{ig-user-id}/content_publishing_limit`.
-- @{instagram.node.ig_user.IgUser:content_publishing_limit} calls this.
-- @tparam Client client the client to call through
-- @tparam string user_id the IG user's id
-- @tparam[opt] table opts
-- @tparam[opt="quota_usage,config"] string opts.fields the fields asked for
-- @tparam[opt] number opts.since a Unix time, at most 24 hours ago
-- @treturn[1] table `{ quota_usage, config = { quota_total, quota_duration } }` (the first item of
-- `data`, or the answer itself)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, or `kind = "decode"` when the answer is not an object
-- @raise when `opts` is not a table or has another option than `fields` and `since`
-- @usage local lim, err = require("instagram.publish").limit(client, IG_USER_ID)
function _M.limit(client, user_id, opts)
  check_options("content_publishing_limit", "opts", opts, LIMIT_OPTS, 2)
  opts = opts or {}
  local since = opts.since
  if since ~= nil and not (type(since) == "string" or (type(since) == "number" and since == since
      and since > -math.huge and since < math.huge)) then
    error("content_publishing_limit: option 'opts.since' must be a Unix time (a number or a string)", 2)
  end
  local res, err = client:get("/" .. user_id .. "/content_publishing_limit",
    { fields = opts.fields or "quota_usage,config", since = since })
  if not res then return nil, err end
  local v = type(res) == "table" and (type(res.data) == "table" and res.data[1] or (res.data == nil and res)) or nil
  if type(v) ~= "table" then
    return nil, errors.new{ kind = "decode", message = "content_publishing_limit answered no object" }
  end
  return v
end

local function api_params(o, skip)
  local p = {}
  for k, v in pairs(o) do
    if not skip[k] then p[k] = v end
  end
  return p
end
local NOT_API = set{ "fields", "check_quota", "wait", "progress", "file", "children" }

-- The parameters a flow will send, encoded once before its first request: a value that cannot be
-- sent (NaN, a cycle, a function) raises at the flow's caller, never after a container was made.
local function check_encodable(p, what)
  local ok, why = pcall(require("instagram.params").encode, p)
  if not ok then error(what .. ": " .. tostring(why), 4) end -- (1 check_encodable, 2 api_checked, 3 the flow, 4 its caller)
end

local function api_checked(o, what)
  local p = api_params(o, NOT_API)
  check_encodable(p, what)
  return p
end

-- A video container from a URL or a local file (resumable upload), waited for.
local function video_container(client, user_id, p, file, progress, wait)
  if file then p.upload_type = "resumable" end
  local c, err = _M.create(client, user_id, p)
  if not c then return nil, err end
  local id, ierr = answer_id(c, "the container call")
  if not id then return nil, ierr end
  if file then
    -- The upload goes to the uri the server named; one on another host than rupload_url is refused
    -- (nil, err with reason "foreign_host": the token goes nowhere else), so a client pointed at the
    -- emulator without its rupload_url says so at once. Without a URL, to the one the id makes.
    local target = (type(c.uri) == "string" and find(c.uri, "://", 1, true)) and c.uri or id
    local ok, uerr = client:upload_video(target, file, { progress = progress })
    if not ok then
      uerr.container_id = id
      return nil, uerr
    end
  end
  local done, werr = _M.wait(client, id, wait)
  if not done then return nil, werr end
  return { id = id, uri = c.uri }
end

local function finish(client, user_id, container_id, o)
  if o.check_quota ~= false then
    local lim = _M.limit(client, user_id)
    local used = type(lim) == "table" and tonumber(lim.quota_usage)
    local total = type(lim) == "table" and type(lim.config) == "table" and tonumber(lim.config.quota_total)
    if used and total and used >= total then
      return nil, publish_error("quota", ("the account has published %s of its %s posts in the last 24 hours; "
        .. "try again later"):format(errors.text(used), errors.text(total)),
        { container_id = container_id, quota_usage = used, quota_total = total })
    end
  end
  local res, err = client:post("/" .. user_id .. "/media_publish", { creation_id = container_id })
  if not res then
    err.container_id = container_id
    return nil, err
  end
  local media_id, merr = answer_id(res, "media_publish")
  if not media_id then
    merr.container_id = container_id
    return nil, merr
  end
  local out = { id = media_id, container_id = container_id }
  if o.fields then
    -- The post exists now: a failed read of its fields must not look like a failed publish (a
    -- caller would post again). The error goes with the answer instead.
    local media, ferr = client:get("/" .. media_id, { fields = o.fields })
    if not media then out.fields_error = ferr end
    if type(media) == "table" then -- (what the publish established is not the read's to change)
      for k, v in pairs(media) do
        if k ~= "id" and k ~= "container_id" and k ~= "fields_error" then out[k] = v end
      end
    end
  end
  return out
end

-- ---- the flows -----------------------------------------------------------------------------

--- The image flow behind @{instagram.node.ig_user.IgUser:publish_image}, which lists the options.
-- @tparam Client client the client to call through
-- @tparam string user_id the IG user's id
-- @tparam table o the options of `IgUser:publish_image`
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, or `kind = "publish"` (reasons `container_error`,
-- `container_expired`, `timeout`, `deadline`, `quota`)
-- @raise when `o` is not a table, has an unknown option (in `o.wait` too) or breaks a documented
-- limit (@{LIMITS})
-- @usage local media, err = require("instagram.publish").image(client, IG_USER_ID, { image_url = URL })
function _M.image(client, user_id, o)
  check_known(o, IMAGE_OPTS, "publish_image")
  check_url("image_url", o.image_url, true)
  check_caption(o.caption)
  check_alt_text(o.alt_text)
  check_user_tags(o.user_tags, true)
  check_product_tags(o.product_tags, L.product_tags_feed, false)
  check_collaborators(o.collaborators)
  check_id("location_id", o.location_id)
  local c, err = _M.create(client, user_id, api_checked(o, "publish_image"))
  if not c then return nil, err end
  local id, ierr = answer_id(c, "the container call")
  if not id then return nil, ierr end
  local done, werr = _M.wait(client, id, o.wait)
  if not done then return nil, werr end
  return finish(client, user_id, id, o)
end

--- The reel and video flow behind @{instagram.node.ig_user.IgUser:publish_video}, which lists the options.
-- @tparam Client client the client to call through
-- @tparam string user_id the IG user's id
-- @tparam table o the options of `IgUser:publish_video`
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, an upload's (with `container_id`), or `kind = "publish"`
-- (reasons `container_error`, `container_expired`, `timeout`, `deadline`, `quota`)
-- @raise when `o` is not a table, has an unknown option (in `o.wait` too), gives both or neither
-- of `video_url` and `file`, or breaks a documented limit (@{LIMITS})
-- @usage local media, err = require("instagram.publish").video(client, IG_USER_ID, { file = "clip.mp4" })
function _M.video(client, user_id, o)
  check_known(o, VIDEO_OPTS, "publish_video")
  local media_type = o.media_type or "REELS"
  if media_type ~= "REELS" and media_type ~= "VIDEO" then bad("media_type", "must be REELS or VIDEO", 3) end
  if (o.video_url == nil) == (o.file == nil) then bad("publish_video", "give exactly one of video_url or file", 3) end
  check_url("video_url", o.video_url)
  if o.file then check_file(o.file, L.reel_bytes, "a reel") end
  check_url("cover_url", o.cover_url)
  check_caption(o.caption)
  check_user_tags(o.user_tags, false)
  check_product_tags(o.product_tags, L.product_tags_reel, true)
  check_collaborators(o.collaborators)
  check_id("location_id", o.location_id)
  if o.share_to_feed ~= nil and type(o.share_to_feed) ~= "boolean" then bad("share_to_feed", "must be a boolean", 3) end
  if o.thumb_offset ~= nil and (type(o.thumb_offset) ~= "number" or o.thumb_offset < 0 or o.thumb_offset % 1 ~= 0) then
    bad("thumb_offset", "must be whole milliseconds, 0 or more", 3)
  end
  if o.trial_params ~= nil and type(o.trial_params) ~= "table" then
    bad("trial_params", "must be a table such as { graduation_strategy = 'MANUAL' }", 3)
  end
  local p = api_checked(o, "publish_video")
  p.media_type = media_type
  local c, err = video_container(client, user_id, p, o.file, o.progress, o.wait)
  if not c then return nil, err end
  return finish(client, user_id, c.id, o)
end

--- The story flow behind @{instagram.node.ig_user.IgUser:publish_story}, which lists the options.
-- @tparam Client client the client to call through
-- @tparam string user_id the IG user's id
-- @tparam table o the options of `IgUser:publish_story`
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, an upload's, or `kind = "publish"` (reasons
-- `container_error`, `container_expired`, `timeout`, `deadline`, `quota`)
-- @raise when `o` is not a table, has an unknown option (in `o.wait` too), gives other than one
-- of `image_url`, `video_url` and `file`, or breaks a documented limit (@{LIMITS})
-- @usage local story, err = require("instagram.publish").story(client, IG_USER_ID, { image_url = URL })
function _M.story(client, user_id, o)
  check_known(o, STORY_OPTS, "publish_story")
  local given = (o.image_url and 1 or 0) + (o.video_url and 1 or 0) + (o.file and 1 or 0)
  if given ~= 1 then bad("publish_story", "give exactly one of image_url, video_url or file", 3) end
  check_url("image_url", o.image_url)
  check_url("video_url", o.video_url)
  if o.file then check_file(o.file, L.story_video_bytes, "a story video") end
  check_user_tags(o.user_tags, false)
  local p = api_checked(o, "publish_story")
  p.media_type = "STORIES"
  local c, err
  if o.image_url then
    c, err = _M.create(client, user_id, p)
    if c then
      local id, ierr = answer_id(c, "the container call")
      if not id then return nil, ierr end
      c = { id = id }
      local done, werr = _M.wait(client, id, o.wait)
      if not done then return nil, werr end
    end
  else
    c, err = video_container(client, user_id, p, o.file, o.progress, o.wait)
  end
  if not c then return nil, err end
  return finish(client, user_id, c.id, o)
end

--- The carousel flow behind @{instagram.node.ig_user.IgUser:publish_carousel}, which lists the options.
-- @tparam Client client the client to call through
-- @tparam string user_id the IG user's id
-- @tparam table o the options of `IgUser:publish_carousel`
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's, an upload's, or `kind = "publish"` (reasons
-- `container_error`, `container_expired`, `timeout`, `deadline`, `quota`); a child's error carries `child`
-- @raise when `o` or a child is not a table, has an unknown option (in `o.wait` too), there are
-- not 2 to 10 children, or a documented limit is broken (@{LIMITS})
-- @usage
-- local media, err = require("instagram.publish").carousel(client, IG_USER_ID,
--   { children = { { image_url = URL1 }, { image_url = URL2 } } })
function _M.carousel(client, user_id, o)
  check_known(o, CAROUSEL_OPTS, "publish_carousel")
  local children = o.children
  if type(children) ~= "table" or #children < L.carousel_min or #children > L.carousel_max then
    bad("children", ("a carousel takes 2 to 10 items, got %s"):format(type(children) == "table" and #children or "none"), 3)
  end
  check_caption(o.caption)
  check_collaborators(o.collaborators)
  check_id("location_id", o.location_id)
  check_product_tags(o.product_tags, L.product_tags_feed, false)
  for i, ch in ipairs(children) do
    check_known(ch, CHILD_OPTS, "publish_carousel", "children[" .. i .. "]")
    local given = (ch.image_url and 1 or 0) + (ch.video_url and 1 or 0) + (ch.file and 1 or 0)
    if given ~= 1 then bad("children[" .. i .. "]", "give exactly one of image_url, video_url or file", 3) end
    check_url("children[" .. i .. "].image_url", ch.image_url)
    check_url("children[" .. i .. "].video_url", ch.video_url)
    if ch.file then check_file(ch.file, L.reel_bytes, "a carousel video") end
    check_user_tags(ch.user_tags, ch.image_url ~= nil)
    check_product_tags(ch.product_tags, L.product_tags_slide, ch.image_url == nil)
    check_alt_text(ch.alt_text)
    if ch.alt_text and not ch.image_url then bad("children[" .. i .. "].alt_text", "applies to images only", 3) end
  end
  local child_params = {}
  for i, ch in ipairs(children) do child_params[i] = api_checked(ch, "publish_carousel: children[" .. i .. "]") end
  local carousel_params = api_checked(o, "publish_carousel")
  local ids = {}
  for i, ch in ipairs(children) do
    local p = child_params[i]
    p.is_carousel_item = true
    if ch.video_url or ch.file then p.media_type = "VIDEO" end
    local c, err
    if ch.image_url then
      c, err = _M.create(client, user_id, p)
      if c then
        local id, ierr = answer_id(c, "the container call")
        c, err = id and { id = id }, ierr
      end
    else c, err = video_container(client, user_id, p, ch.file, o.progress, o.wait) end
    if not c then
      err.child = i
      return nil, err
    end
    ids[i] = c.id
  end
  for _, id in ipairs(ids) do
    local done, werr = _M.wait(client, id, o.wait)
    if not done then return nil, werr end
  end
  local p = carousel_params
  p.media_type = "CAROUSEL"
  p.children = ids -- sent as a JSON array, the Graph API's form for list parameters
  local c, err = _M.create(client, user_id, p)
  if not c then return nil, err end
  local id, ierr = answer_id(c, "the carousel container call")
  if not id then return nil, ierr end
  local done, werr = _M.wait(client, id, o.wait)
  if not done then return nil, werr end
  return finish(client, user_id, id, o)
end

return _M
