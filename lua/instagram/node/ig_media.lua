--- IG Media node: a post, reel, story or carousel, `client:ig_media(id)`.
-- The object is an @{IgMedia}; list edges return pagers, other calls the decoded answer or
-- `nil, err`.
-- @module instagram.node.ig_media
local node = require "instagram.node"

local type, error, pairs = type, error, pairs

local _M = {}
local IgMedia = node.class("IG media")
_M.Media = IgMedia

--- Makes an IG media object; `client:ig_media(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the media id (digits)
-- @treturn IgMedia the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local media = client:ig_media("17895695668004550")
function _M.new(client, id) return IgMedia.new(client, id) end

--- An IG media (`client:ig_media(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type IgMedia

--- Reads the media's fields: `GET /{ig-media-id}`.
-- For example `id`, `caption`, `media_type`, `media_product_type`, `media_url`, `permalink`,
-- `thumbnail_url`, `timestamp`, `username`, `like_count`, `comments_count`, `is_comment_enabled`.
-- @function IgMedia:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the media's fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `fields` is neither a string nor a list
-- @usage local m, err = client:ig_media(MEDIA_ID):fetch{ "caption", "media_type", "permalink" }


--- Lists the media of a carousel.
-- A pager over `GET /{ig-media-id}/children`.
-- @function IgMedia:children
-- @tparam[opt] table params query parameters: `fields` (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage local slides, err = client:ig_media(CAROUSEL_ID):children{ fields = "id,media_type,media_url" }:all()
node.list(IgMedia, "children", "children")

--- Lists the collaborators invited to the media, and whether they accepted.
-- A pager over `GET /{ig-media-id}/collaborators`.
-- @function IgMedia:collaborators
-- @tparam[opt] table params query parameters: `fields` (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage local people, err = client:ig_media(MEDIA_ID):collaborators():all() -- { id, username, invite_status }
node.list(IgMedia, "collaborators", "collaborators")

--- Lists the top-level comments on the media.
-- A pager over `GET /{ig-media-id}/comments`. Replies are under
-- `client:ig_comment(id):replies()`.
-- @function IgMedia:comments
-- @tparam[opt] table params query parameters: `fields` (a string or a list: `id`, `text`, `username`,
-- `timestamp`, `like_count`, `replies`, ...), `limit`
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for c in client:ig_media(MEDIA_ID):comments{ fields = { "id", "text", "username" } }:items() do
--   print(c.username, c.text)
-- end
node.list(IgMedia, "comments", "comments")

--- Reads the media's product tags: `GET /{ig-media-id}/product_tags`.
-- @function IgMedia:product_tags
-- @tparam[opt] table params query parameters, such as `fields`
-- @treturn[1] table `{ data = { { product_id, merchant_id, name, x, y, review_status, ... } } }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table
-- @usage local tags, err = client:ig_media(MEDIA_ID):product_tags()
node.call(IgMedia, "product_tags", "GET", "product_tags")

--- Comments on the media: `POST /{ig-media-id}/comments`.
-- @tparam string message the comment's text
-- @treturn[1] table `{ id }` of the new comment
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `message` is not a non-empty string
-- @usage local c, err = client:ig_media(MEDIA_ID):comment("Nice!")
function IgMedia:comment(message)
  if type(message) ~= "string" or message == "" then error("comment: message is required", 2) end
  return self.client:post(self:path("comments"), { message = message })
end

--- Reads the media's insights: `GET /{ig-media-id}/insights`.
-- Which metrics apply depends on the media: feed posts (`reach`, `likes`, `comments`, `saved`,
-- `shares`, `views`, `total_interactions`, ...), reels (`ig_reels_avg_watch_time`, ...), stories
-- (`navigation`, `replies`, ...).
-- @tparam table p the query parameters; list values are joined with commas
-- @tparam string|table p.metric a metric or a list (required)
-- @tparam[opt] string p.period such as `"lifetime"`
-- @tparam[opt] string|table p.breakdown such as `"action_type"` (`profile_activity`) or
-- `"story_navigation_action_type"` (`navigation`)
-- @treturn[1] table `{ data = { { name, period, values, title, description, id } } }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `p` is not a table, has no `metric`, or `metric` or `breakdown` is neither a name nor a
-- list of names
-- @usage local res, err = client:ig_media(MEDIA_ID):insights{ metric = { "reach", "likes", "saved" } }
function IgMedia:insights(p)
  if type(p) ~= "table" or p.metric == nil then error("insights: metric is required", 2) end
  local q = {}
  for k, v in pairs(p) do q[k] = v end
  q.metric = node.names(p.metric, "insights", "metric")
  if p.breakdown ~= nil then q.breakdown = node.names(p.breakdown, "insights", "breakdown") end
  return self.client:get(self:path("insights"), q)
end

--- Replaces the media's product tags: `POST /{ig-media-id}/product_tags` (`updated_tags`).
-- @tparam table tags 1 to 5 `{ product_id = "...", x = 0.5, y = 0.5 }` (x and y on images only),
-- sent as JSON
-- @treturn[1] table `{ success = true }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `tags` is not a non-empty list, or has more than 5 tags
-- @usage client:ig_media(MEDIA_ID):update_product_tags{ { product_id = "3231775643511089", x = 0.5, y = 0.8 } }
function IgMedia:update_product_tags(tags)
  if type(tags) ~= "table" or #tags == 0 then error("update_product_tags: a list of { product_id, x, y }", 2) end
  if #tags > 5 then error("update_product_tags: at most 5 tags per media", 2) end
  return self.client:post(self:path("product_tags"), { updated_tags = tags })
end

--- Turns comments on the media on or off: `POST /{ig-media-id}` (`comment_enabled`).
-- @tparam boolean on `true` to allow comments, `false` to turn them off
-- @treturn[1] table `{ success = true }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `on` is not a boolean
-- @usage local ok, err = client:ig_media(MEDIA_ID):set_comment_enabled(false)
function IgMedia:set_comment_enabled(on)
  if type(on) ~= "boolean" then error("set_comment_enabled: expects true or false", 2) end
  return self.client:post(self:path(), { comment_enabled = on })
end

--- Reads the copyright check of a video: `GET /{ig-media-id}?fields=copyright_check_information`.
-- @treturn[1] table `copyright_check_information`: `{ status = { status, matches_found },
-- copyright_matches = { ... } }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do (`kind = "decode"` when the answer lacks
-- the field)
-- @usage local info, err = client:ig_media(MEDIA_ID):copyright_check()
function IgMedia:copyright_check()
  local res, err = self:fetch("copyright_check_information")
  if not res then return nil, err end
  return node.field(res, "copyright_check_information")
end

return _M
