--- IG User node: client:ig_user(id)
local node = require "instagram.node"
local fields_m = require "instagram.fields"

local type, error, pairs, tostring = type, error, pairs, tostring

local _M = {}
local User = node.class("IG user")
_M.User = User

function _M.new(client, id) return User.new(client, id) end

-- List edges (pagers).
node.list(User, "media", "media")                        -- cursor; since/until for time ranges
node.list(User, "stories", "stories")
node.list(User, "live_media", "live_media")              -- since/until
node.list(User, "recently_searched_hashtags", "recently_searched_hashtags")
node.list(User, "upcoming_events", "upcoming_events")
node.list(User, "agencies", "agencies")
node.list(User, "authorized_adaccounts", "authorized_adaccounts")
node.list(User, "catalog_product_search", "catalog_product_search")
node.list(User, "creator_marketplace_creators", "creator_marketplace_creators")

--- tags(params) -> pager; the edge gives cursors without next, so the pager follows `after`.
function User:tags(params, opts)
  local o = { cursor_only = true }
  for k, v in pairs(opts or {}) do o[k] = v end
  if params and params.fields then params.fields = node.fields(params.fields) end
  return self.client:edge(self:path("tags"), params, o)
end

-- Single calls.
node.call(User, "available_catalogs", "GET", "available_catalogs")
node.call(User, "connected_threads_user", "GET", "connected_threads_user")
node.call(User, "instagram_backed_threads_user", "GET", "instagram_backed_threads_user")
node.call(User, "create_instagram_backed_threads_user", "POST", "instagram_backed_threads_user")
node.call(User, "product_appeal", "GET", "product_appeal", { "product_id" })
node.call(User, "appeal_product", "POST", "product_appeal", { "product_id", "appeal_reason" })
node.call(User, "create_upcoming_event", "POST", "upcoming_events", { "title", "start_time" })

--- reply_to_mention{ media_id, comment_id (for a comment mention), message } -> { id } | nil, err
node.call(User, "reply_to_mention", "POST", "mentions", { "media_id", "message" })

local DEMOGRAPHICS = { engaged_audience_demographics = true, follower_demographics = true,
                       reached_audience_demographics = true }

--- insights{ metric, period, metric_type, breakdown, timeframe, since, until } -> { data, paging } | nil, err
-- Checks the documented rules first: metric and period are required, breakdowns need
-- metric_type = "total_value", demographic metrics need a timeframe and take no since/until.
function User:insights(p)
  if type(p) ~= "table" or p.metric == nil then error("insights: metric is required", 2) end
  local metric = type(p.metric) == "table" and table.concat(p.metric, ",") or p.metric
  if p.period == nil then error("insights: period is required (day or lifetime)", 2) end
  if p.breakdown and p.metric_type ~= "total_value" then
    error("insights: breakdown needs metric_type = 'total_value'", 2)
  end
  for m in tostring(metric):gmatch("[^,]+") do
    if DEMOGRAPHICS[m] then
      if not p.timeframe then error("insights: " .. m .. " needs a timeframe (this_week, this_month, ...)", 2) end
      if p.since or p["until"] then error("insights: " .. m .. " takes a timeframe, not since/until", 2) end
    end
  end
  local q = {}
  for k, v in pairs(p) do q[k] = v end
  q.metric = metric
  if type(q.breakdown) == "table" then q.breakdown = table.concat(q.breakdown, ",") end
  return self.client:get(self:path("insights"), q)
end

--- One field expansion on this user, unwrapped: GET /{id}?fields=<expansion>
local function expand(self, name, modifiers, f, default)
  local res, err = self.client:get(self:path(), { fields = fields_m.edge(name, modifiers, f or default) })
  if not res then return nil, err end
  return node.field(res, name)
end

--- business_discovery(username, fields) -> the other account's fields | nil, err
function User:business_discovery(username, f)
  if type(username) ~= "string" or username == "" then error("business_discovery: username is required", 2) end
  return expand(self, "business_discovery", { username = username }, f,
    { "id", "username", "name", "biography", "followers_count", "media_count" })
end

--- business_discovery_media(username, media_fields, opts) -> pager over the account's media,
-- paged with media.after(cursor) (the nested edge returns cursors without next).
function User:business_discovery_media(username, media_fields, opts)
  if type(username) ~= "string" or username == "" then error("business_discovery_media: username is required", 2) end
  opts = opts or {}
  local sub = node.fields(media_fields) or "id,caption,media_type,timestamp"
  local limit = opts.limit
  return require("instagram.pager").nested(self.client, self:path(), function(after)
    local mods = {}
    if limit then mods[#mods + 1] = { "limit", limit } end
    if after then mods[#mods + 1] = { "after", after } end
    return fields_m.edge("business_discovery", { username = username },
      { fields_m.edge("media", #mods > 0 and mods or nil, { sub }) })
  end, function(res)
    return type(res) == "table" and type(res.business_discovery) == "table" and res.business_discovery.media or nil
  end,
  { max_items = opts.max_items, max_pages = opts.max_pages, limit = limit })
end

--- mentioned_media(media_id, fields) -> the media an account @mentioned this user in
function User:mentioned_media(media_id, f)
  return expand(self, "mentioned_media", { media_id = node.check_id(media_id, "media") }, f,
    { "caption", "media_type", "timestamp" })
end

--- mentioned_comment(comment_id, fields) -> the comment that @mentioned this user
function User:mentioned_comment(comment_id, f)
  return expand(self, "mentioned_comment", { comment_id = node.check_id(comment_id, "comment") }, f,
    { "timestamp", "like_count", "text" })
end

--- private_reply(comment_id, text) -> { recipient_id, message_id } | nil, err
-- One message to the author of a comment (within 7 days of it); sent as JSON, as documented.
function User:private_reply(comment_id, text)
  if type(text) ~= "string" or text == "" then error("private_reply: text is required", 2) end
  return self.client:post(self:path("messages"), {
    recipient = { comment_id = node.check_id(comment_id, "comment") }, message = { text = text } }, { json = true })
end

--- creator_insights(username, fields) -> a creator's marketplace insights | nil, err
function User:creator_insights(username, f)
  if type(username) ~= "string" or username == "" then error("creator_insights: username is required", 2) end
  return self.client:get(self:path("creator_marketplace_creators"), { username = username, fields = node.fields(f) })
end

--- Publishing (instagram.publish): one call per flow; see that module for the options.
function User:publish_image(o) return require("instagram.publish").image(self.client, self.id, o) end
function User:publish_video(o) return require("instagram.publish").video(self.client, self.id, o) end
User.publish_reel = User.publish_video
function User:publish_story(o) return require("instagram.publish").story(self.client, self.id, o) end
function User:publish_carousel(o) return require("instagram.publish").carousel(self.client, self.id, o) end

--- create_container(params) -> { id [, uri] } | nil, err : POST /{ig-user-id}/media with params as given.
function User:create_container(params) return require("instagram.publish").create(self.client, self.id, params) end

--- media_publish(container_id) -> { id } | nil, err
function User:media_publish(container_id)
  return self.client:post(self:path("media_publish"), { creation_id = node.check_id(container_id, "IG container") })
end

--- content_publishing_limit{ fields, since } -> { quota_usage, config = { quota_total, quota_duration } } | nil, err
function User:content_publishing_limit(opts)
  return require("instagram.publish").limit(self.client, self.id, opts)
end

return _M
