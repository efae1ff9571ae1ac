--- IG User node: an Instagram professional account, `client:ig_user(id)`.
-- The object is an @{IgUser}; every list edge returns a pager, every other call the decoded
-- answer or `nil, err`. Ids are strings of digits (exact numbers are accepted).
-- @module instagram.node.ig_user
local node = require "instagram.node"
local fields_m = require "instagram.fields"

local type, error, pairs, tostring = type, error, pairs, tostring

local _M = {}
local IgUser = node.class("IG user")
_M.User = IgUser

--- Makes an IG user object; `client:ig_user(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the IG user id (digits)
-- @treturn IgUser the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local user = client:ig_user("17841405822304914")
function _M.new(client, id) return IgUser.new(client, id) end

--- An IG user (`client:ig_user(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type IgUser

--- Reads the user's fields: `GET /{ig-user-id}`.
-- For example `id`, `username`, `name`, `biography`, `followers_count`, `follows_count`,
-- `media_count`, `profile_picture_url`, `website`, `shopping_product_tag_eligibility`.
-- @function IgUser:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the user's fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err
-- @raise when `fields` is neither a string nor a list
-- @usage local me, err = client:ig_user(IG_USER_ID):fetch{ "username", "followers_count", "media_count" }

-- List edges (pagers).

--- Lists the user's media (feed posts and reels; not stories).
-- A pager over `GET /{ig-user-id}/media`.
-- @function IgUser:media
-- @tparam[opt] table params query parameters: `fields` (a string or a list), `limit`, `since`, `until` (a
-- Unix time or strtotime text: a time range, kept on every page), `after`, `before`; at most the 10,000
-- newest media
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for m in client:ig_user(IG_USER_ID):media{ fields = { "id", "caption", "timestamp" } }:items() do
--   print(m.id, m.caption)
-- end
node.list(IgUser, "media", "media")                        -- cursor; since/until for time ranges

--- Lists the user's current stories (the last 24 hours).
-- A pager over `GET /{ig-user-id}/stories`.
-- @function IgUser:stories
-- @tparam[opt] table params query parameters: `fields` (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- local stories, err = client:ig_user(IG_USER_ID):stories{ fields = "id,media_type,permalink" }:all()
node.list(IgUser, "stories", "stories")

--- Lists the live video the user is broadcasting now.
-- A pager over `GET /{ig-user-id}/live_media`.
-- @function IgUser:live_media
-- @tparam[opt] table params query parameters: `fields` (a string or a list), `since`, `until`
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- local live = client:ig_user(IG_USER_ID):live_media{ fields = "id,media_type,comments" }:all()
node.list(IgUser, "live_media", "live_media")              -- since/until

--- Lists the hashtags the user searched in the last 7 days.
-- A pager over `GET /{ig-user-id}/recently_searched_hashtags`. Each search
-- (@{instagram.client.Client:hashtag_search})
-- counts towards the limit of 30 unique hashtags per 7 days.
-- @function IgUser:recently_searched_hashtags
-- @tparam[opt] table params query parameters: `fields` (a string or a list), `limit`
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- local tags = client:ig_user(IG_USER_ID):recently_searched_hashtags():all()
node.list(IgUser, "recently_searched_hashtags", "recently_searched_hashtags")

--- Lists the user's upcoming events (those made with Ads Manager or this API).
-- A pager over `GET /{ig-user-id}/upcoming_events`. Read or update one with
-- `client:upcoming_event(id)` (@{instagram.node.misc.UpcomingEvent}).
-- @function IgUser:upcoming_events
-- @tparam[opt] table params query parameters: `fields` (a string or a list) (`id`, `title`, `start_time`,
-- `end_time`, `notification_subtypes`, `notification_target_time`)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for e in client:ig_user(IG_USER_ID):upcoming_events{ fields = { "id", "title", "start_time" } }:items() do
--   print(e.id, e.title)
-- end
node.list(IgUser, "upcoming_events", "upcoming_events")

--- Lists the agencies (businesses) the user has partnered with.
-- A pager over `GET /{ig-user-id}/agencies`.
-- @function IgUser:agencies
-- @tparam[opt] table params query parameters: `fields` (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- local agencies, err = client:ig_user(IG_USER_ID):agencies():all()
node.list(IgUser, "agencies", "agencies")

--- Lists the ad accounts authorized to advertise with the user's content.
-- A pager over `GET /{ig-user-id}/authorized_adaccounts`.
-- @function IgUser:authorized_adaccounts
-- @tparam[opt] table params query parameters: `fields` (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- local accounts, err = client:ig_user(IG_USER_ID):authorized_adaccounts():all()
node.list(IgUser, "authorized_adaccounts", "authorized_adaccounts")

--- Searches a product catalog for products to tag.
-- A pager over `GET /{ig-user-id}/catalog_product_search`. Answers carry `product_id`, `product_name`,
-- `image_url`, `retailer_id`, `review_status`, `product_variants`, ...
-- @function IgUser:catalog_product_search
-- @tparam[opt] table params query parameters: `catalog_id` (required by the API), `q` (text to search for in
-- names and retailer ids), `fields` (a string or a list), `after`, `before`
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- local products = client:ig_user(IG_USER_ID):catalog_product_search{ catalog_id = CATALOG_ID, q = "dino" }:all()
node.list(IgUser, "catalog_product_search", "catalog_product_search")

--- Discovers creators in the creator marketplace.
-- A pager over `GET /{ig-user-id}/creator_marketplace_creators`. Needs a Page access token and the
-- `instagram_creator_marketplace_discovery` permission; one creator's insights: @{IgUser:creator_insights}.
-- @function IgUser:creator_marketplace_creators
-- @tparam[opt] table params query parameters: the API's filters, such as `creator_countries`,
-- `creator_min_followers`, `creator_max_followers`, `creator_age_bucket`, `creator_gender`,
-- `creator_interests`, `major_audience_countries`, `query`, `similar_to_creators`, `username`, and `fields`
-- (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for c in client:ig_user(IG_USER_ID):creator_marketplace_creators{ creator_countries = "US" }:items() do
--   print(c.username)
-- end
node.list(IgUser, "creator_marketplace_creators", "creator_marketplace_creators")

--- Lists the media the user has been tagged in.
-- A pager over `GET /{ig-user-id}/tags`. The edge gives cursors without `next`, so the pager
-- follows `paging.cursors.after` (`cursor_only`, always set here). Private media are not listed.
-- @tparam[opt] table params query parameters: `fields` (a string or a list) (media fields, `username`),
-- `limit`
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for m in client:ig_user(IG_USER_ID):tags{ fields = { "id", "username", "caption" } }:items() do
--   print(m.username, m.id)
-- end
function IgUser:tags(params, opts)
  local o = { cursor_only = true }
  for k, v in pairs(opts or {}) do o[k] = v end
  if params and params.fields then params.fields = node.fields(params.fields) end
  return self.client:edge(self:path("tags"), params, o)
end

-- Single calls.

--- Reads the product catalogs the user can tag products from.
-- `GET /{ig-user-id}/available_catalogs`.
-- @function IgUser:available_catalogs
-- @tparam[opt] table params query parameters: `fields` (a string or a list: `catalog_id`, `catalog_name`,
-- `shop_name`, `product_count`)
-- @treturn[1] table `{ data = { { catalog_id, catalog_name, ... } } }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table
-- @usage local res, err = client:ig_user(IG_USER_ID):available_catalogs()
node.call(IgUser, "available_catalogs", "GET", "available_catalogs")

--- Reads the Threads user connected to this account.
-- `GET /{ig-user-id}/connected_threads_user`.
-- @function IgUser:connected_threads_user
-- @tparam[opt] table params query parameters, such as `fields`
-- @treturn[1] table `{ data = { { threads_user_id } } }` (an empty list when none)
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table
-- @usage local res, err = client:ig_user(IG_USER_ID):connected_threads_user()
node.call(IgUser, "connected_threads_user", "GET", "connected_threads_user")

--- Reads the Instagram-backed Threads user of this account.
-- `GET /{ig-user-id}/instagram_backed_threads_user`.
-- @function IgUser:instagram_backed_threads_user
-- @tparam[opt] table params query parameters, such as `fields`
-- @treturn[1] table `{ data = { { threads_user_id } } }` (an empty list when none)
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table
-- @usage local res, err = client:ig_user(IG_USER_ID):instagram_backed_threads_user()
node.call(IgUser, "instagram_backed_threads_user", "GET", "instagram_backed_threads_user")

--- Creates an Instagram-backed Threads user for this account.
-- `POST /{ig-user-id}/instagram_backed_threads_user`.
-- @function IgUser:create_instagram_backed_threads_user
-- @tparam[opt] table params form parameters, if any
-- @treturn[1] table `{ id }` or `{ threads_user_id }`, as the API answers
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table
-- @usage local res, err = client:ig_user(IG_USER_ID):create_instagram_backed_threads_user()
node.call(IgUser, "create_instagram_backed_threads_user", "POST", "instagram_backed_threads_user")

--- Reads the status of an appeal against a rejected product.
-- `GET /{ig-user-id}/product_appeal`.
-- @function IgUser:product_appeal
-- @tparam table params `{ product_id = ... }` (required), and `fields`
-- @treturn[1] table `{ data = { { eligible_for_appeal, product_id, review_status } } }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table or lacks `product_id`
-- @usage local res, err = client:ig_user(IG_USER_ID):product_appeal{ product_id = "3231775643511089" }
node.call(IgUser, "product_appeal", "GET", "product_appeal", { "product_id" })

--- Appeals the rejection of a product.
-- `POST /{ig-user-id}/product_appeal`.
-- @function IgUser:appeal_product
-- @tparam table params `{ product_id = ..., appeal_reason = "..." }` (both required)
-- @treturn[1] table `{ success = true }`: the appeal was received (not its outcome)
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table or lacks `product_id` or `appeal_reason`
-- @usage client:ig_user(IG_USER_ID):appeal_product{ product_id = "3231775643511089", appeal_reason = "It is a toy" }
node.call(IgUser, "appeal_product", "POST", "product_appeal", { "product_id", "appeal_reason" })

--- Creates an upcoming event (for reminder ads).
-- `POST /{ig-user-id}/upcoming_events`. The API checks the
-- combinations of `notification_subtypes`; this call does not.
-- @function IgUser:create_upcoming_event
-- @tparam table params `title` and `start_time` (ISO 8601, both required); optional `end_time`,
-- `notification_subtypes` (a list of three, such as `{ "EVENT_START", "BEFORE_EVENT_1DAY",
-- "BEFORE_EVENT_15MIN" }`, sent as JSON), `notification_target_time` (`"EVENT_START"` or `"EVENT_END"`)
-- @treturn[1] table `{ id }` of the event
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table or lacks `title` or `start_time`
-- @usage local ev, err = client:ig_user(IG_USER_ID):create_upcoming_event{ title = "Launch",
--   start_time = "2025-07-01T18:00:00+0000" }
node.call(IgUser, "create_upcoming_event", "POST", "upcoming_events", { "title", "start_time" })

--- Replies to a media or a comment the user was @mentioned in.
-- `POST /{ig-user-id}/mentions`. The reply is a comment in the
-- mention's thread. Mentions in stories cannot be answered.
-- @function IgUser:reply_to_mention
-- @tparam table params `media_id` and `message` (required), and `comment_id` when the mention is in a comment
-- @treturn[1] table `{ id }` of the new comment
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table or lacks `media_id` or `message`
-- @usage client:ig_user(IG_USER_ID):reply_to_mention{ media_id = MEDIA_ID, comment_id = COMMENT_ID, message = "Thanks!" }
node.call(IgUser, "reply_to_mention", "POST", "mentions", { "media_id", "message" })

local DEMOGRAPHICS = { engaged_audience_demographics = true, follower_demographics = true,
                       reached_audience_demographics = true }

--- Reads account insights: `GET /{ig-user-id}/insights`.
-- Checks the documented rules first: metric and period are required, breakdowns need
-- `metric_type = "total_value"`, demographic metrics (`engaged_audience_demographics`,
-- `follower_demographics`, `reached_audience_demographics`) need a timeframe and take no since/until.
-- @tparam table p the query parameters
-- @tparam string|table p.metric a metric or a list (`"reach"`, `{ "reach", "views" }`, ...)
-- @tparam string p.period `"day"` or `"lifetime"`
-- @tparam[opt] string p.metric_type `"time_series"` (the API's default) or `"total_value"`
-- @tparam[opt] string|table p.breakdown a breakdown or a list (`"media_product_type"`, `"follow_type"`, ...);
-- only with `metric_type = "total_value"`
-- @tparam[opt] string p.timeframe for demographic metrics: `"this_week"`, `"this_month"`, ...
-- @tparam[opt] number|string p.since start of the range (a Unix time); not for demographic metrics
-- @tparam[opt] number|string p.until end of the range; not for demographic metrics
-- @treturn[1] table `{ data = { { name, period, values or total_value, ... } }, paging }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `p` is not a table, `metric` or `period` is missing, a breakdown comes without
-- `metric_type = "total_value"`, a demographic metric lacks a timeframe or has since/until, or
-- `metric` or `breakdown` is neither a name nor a list of names
-- @usage
-- local res, err = client:ig_user(IG_USER_ID):insights{ metric = { "reach", "profile_views" },
--   period = "day", metric_type = "total_value", breakdown = "media_product_type" }
function IgUser:insights(p)
  if type(p) ~= "table" or p.metric == nil then error("insights: metric is required", 2) end
  local metric = node.names(p.metric, "insights", "metric")
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
  if q.breakdown ~= nil then q.breakdown = node.names(q.breakdown, "insights", "breakdown") end
  return self.client:get(self:path("insights"), q)
end

-- One field expansion on this user, unwrapped: GET /{id}?fields=<expansion>
local function expand(self, name, modifiers, f, default)
  local res, err = self.client:get(self:path(), { fields = fields_m.edge(name, modifiers, f or default) })
  if not res then return nil, err end
  return node.field(res, name)
end

--- Reads another professional account's public fields by its username (business discovery).
-- `GET /{ig-user-id}?fields=business_discovery.username(name){fields}`, unwrapped.
-- @tparam string username the other account's username (without `@`)
-- @tparam[opt] string|table f its fields, `"a,b"` or a list (may hold `instagram.fields.edge`
-- strings); default `id,username,name,biography,followers_count,media_count`
-- @treturn[1] table the other account's fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do (`kind = "decode"` when the answer has no
-- `business_discovery`)
-- @raise when `username` is not a non-empty string, or `f` is neither a string nor a list
-- @usage local other, err = client:ig_user(IG_USER_ID):business_discovery("bluebottle", { "followers_count", "media_count" })
function IgUser:business_discovery(username, f)
  if type(username) ~= "string" or username == "" then error("business_discovery: username is required", 2) end
  return expand(self, "business_discovery", { username = username }, f,
    { "id", "username", "name", "biography", "followers_count", "media_count" })
end

--- Pages another professional account's media through business discovery.
-- A pager over the nested edge `business_discovery.username(name){media.after(cursor){fields}}`
-- on `GET /{ig-user-id}`, paged with the `after` modifier (the nested edge returns cursors
-- without `next`).
-- @tparam string username the other account's username
-- @tparam[opt] string|table media_fields fields of each media; default `id,caption,media_type,timestamp`
-- @tparam[opt] table opts
-- @tparam[opt] int opts.limit media per page (a shorter page ends the paging)
-- @tparam[opt] int opts.max_items stop after this many media
-- @tparam[opt] int opts.max_pages stop after this many pages
-- @treturn Pager a pager (no request is sent until it is iterated; errors end the iteration in `pager.err`)
-- @raise when `username` is not a non-empty string, `media_fields` is neither a string nor a list, or
-- `max_items`/`max_pages` is not a positive whole number
-- @usage
-- for m in client:ig_user(IG_USER_ID):business_discovery_media("bluebottle", { "id", "like_count" },
--     { limit = 25, max_items = 100 }):items() do
--   print(m.id, m.like_count)
-- end
function IgUser:business_discovery_media(username, media_fields, opts)
  if type(username) ~= "string" or username == "" then error("business_discovery_media: username is required", 2) end
  require("instagram.client").check_options("business_discovery_media", "opts", opts,
    { limit = true, max_items = true, max_pages = true }, 2)
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

--- Reads a media in whose caption another account @mentioned this user.
-- `GET /{ig-user-id}?fields=mentioned_media.media_id(id){fields}`, unwrapped (the id comes
-- from a `mentions` webhook).
-- @tparam string|number media_id the media's id (digits)
-- @tparam[opt] string|table f its fields; default `caption,media_type,timestamp`
-- @treturn[1] table the media's fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `media_id` is not digits, or `f` is neither a string nor a list
-- @usage local media, err = client:ig_user(IG_USER_ID):mentioned_media(event.media_id, "caption,username")
function IgUser:mentioned_media(media_id, f)
  return expand(self, "mentioned_media", { media_id = node.check_id(media_id, "media") }, f,
    { "caption", "media_type", "timestamp" })
end

--- Reads a comment in which another account @mentioned this user.
-- `GET /{ig-user-id}?fields=mentioned_comment.comment_id(id){fields}`, unwrapped.
-- @tparam string|number comment_id the comment's id (digits)
-- @tparam[opt] string|table f its fields; default `timestamp,like_count,text`
-- @treturn[1] table the comment's fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `comment_id` is not digits, or `f` is neither a string nor a list
-- @usage local c, err = client:ig_user(IG_USER_ID):mentioned_comment(event.comment_id, { "text", "username" })
function IgUser:mentioned_comment(comment_id, f)
  return expand(self, "mentioned_comment", { comment_id = node.check_id(comment_id, "comment") }, f,
    { "timestamp", "like_count", "text" })
end

--- Sends one private message to the author of a comment.
-- `POST /{ig-user-id}/messages` with `recipient = { comment_id }` and `message = { text }`, sent
-- as a JSON body, as documented. One reply per comment, within 7 days of it.
-- @tparam string|number comment_id the comment's id (digits)
-- @tparam string text the message
-- @treturn[1] table `{ recipient_id, message_id }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `text` is not a non-empty string, or `comment_id` is not digits
-- @usage local sent, err = client:ig_user(IG_USER_ID):private_reply(event.comment_id, "Thanks! Check your DMs.")
function IgUser:private_reply(comment_id, text)
  if type(text) ~= "string" or text == "" then error("private_reply: text is required", 2) end
  return self.client:post(self:path("messages"), {
    recipient = { comment_id = node.check_id(comment_id, "comment") }, message = { text = text } }, { json = true })
end

--- Reads one creator's marketplace profile and insights.
-- `GET /{ig-user-id}/creator_marketplace_creators?username=...&fields=...` (Page access token).
-- @tparam string username the creator's username
-- @tparam[opt] string|table f fields, such as
-- `F.edge("insights", { { "metrics", "creator_reach" }, { "breakdown", "follow_type" } })` or
-- `"branded_content_media{media_type,insights.metrics(views)}"`
-- @treturn[1] table the answer (`{ data = { { username, insights, ... } } }`)
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `username` is not a non-empty string, or `f` is neither a string nor a list
-- @usage
-- local F = instagram.fields
-- local res, err = client:ig_user(IG_USER_ID):creator_insights("dinocafe",
--   { F.edge("insights", { { "metrics", "creator_reach" }, { "breakdown", "follow_type" } }) })
function IgUser:creator_insights(username, f)
  if type(username) ~= "string" or username == "" then error("creator_insights: username is required", 2) end
  return self.client:get(self:path("creator_marketplace_creators"), { username = username, fields = node.fields(f) })
end

-- Publishing (instagram.publish): one call per flow.

--- Publishes an image post.
-- Creates the container (`POST /{ig-user-id}/media`), waits for it, checks the publishing
-- quota, publishes (`POST /{ig-user-id}/media_publish`). The documented limits are checked
-- before any request.
-- @tparam table o the post
-- @tparam string o.image_url a public http(s) URL of a JPEG, US-ASCII only
-- @tparam[opt] string o.caption at most 2,200 characters, 30 hashtags and 20 @ mentions
-- @tparam[opt] string o.alt_text at most 1,000 characters
-- @tparam[opt] table o.user_tags up to 20 `{ username = "...", x = 0.5, y = 0.8 }` (x and y from 0 to 1,
-- required)
-- @tparam[opt] string|number o.location_id a Page id with a location (digits)
-- @tparam[opt] table o.product_tags up to 20 `{ product_id = "...", x = 0.5, y = 0.5 }` (x and y required)
-- @tparam[opt] {string,...} o.collaborators up to 3 usernames invited as collaborators
-- @tparam[opt] string o.fields fields of the published media to read back and add to the result
-- (`"permalink,timestamp"`)
-- @tparam[opt=true] boolean o.check_quota check `content_publishing_limit` before publishing, and
-- return a `quota` error when the 24-hour quota is used up
-- @tparam[opt] table o.wait how to wait for the container(s): `{ timeout = 300, interval = 3,
-- max_interval = 60 }` (seconds; see @{instagram.node.misc.IgContainer:wait})
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error, an upload's, or `kind = "publish"` with `reason`
-- `"container_error"` (the container failed: `container_status` text, `subcode` such as 2207026),
-- `"container_expired"` (not published within 24 hours), `"timeout"` (still in progress after
-- `wait.timeout`; `container_id` set: wait again with `client:wait_for_container(err.container_id)`),
-- `"deadline"` (the same, the client's `deadline` having come first; `retry_after`) or `"quota"`
-- (`quota_usage`, `quota_total`); errors after a container exists carry `container_id`
-- @raise when `o` is not a table, has an unknown option (in `o.wait` too), lacks `image_url`, or breaks a
-- documented
-- limit (see @{instagram.publish.LIMITS}): the message names the option
-- @usage
-- local media, err = client:ig_user(IG_USER_ID):publish_image{ image_url = "https://cdn.example/dino.jpg",
--   caption = "Roar #dinos", alt_text = "A dinosaur", user_tags = { { username = "dinocafe", x = 0.5, y = 0.8 } },
--   fields = "permalink" }
-- if not media then print(err.kind, err.reason, err) end
function IgUser:publish_image(o) return require("instagram.publish").image(self.client, self.id, o) end

--- Publishes a reel (or a video), from a URL or a local file.
-- Creates the container; for `file`, uploads it through the resumable protocol
-- (@{instagram.client.Client:upload_video}); waits for the container; checks the quota; publishes.
-- @tparam table o the post: exactly one of `video_url` and `file`
-- @tparam[opt] string o.video_url a public http(s) URL of the video
-- @tparam[opt] string o.file a local file to upload (at most 300 MB, not empty)
-- @tparam[opt="REELS"] string o.media_type `"REELS"` or `"VIDEO"`
-- @tparam[opt] string o.caption at most 2,200 characters, 30 hashtags and 20 @ mentions
-- @tparam[opt] boolean o.share_to_feed also show the reel in the feed
-- @tparam[opt] string o.cover_url a public http(s) URL of the cover image
-- @tparam[opt] int o.thumb_offset the cover frame, in whole milliseconds from the start
-- @tparam[opt] string o.audio_name a name for the reel's original audio
-- @tparam[opt] table o.trial_params a trial reel: `{ graduation_strategy = "MANUAL" }` (or
-- `"SS_PERFORMANCE"`)
-- @tparam[opt] {string,...} o.collaborators up to 3 usernames invited as collaborators
-- @tparam[opt] string|number o.location_id a Page id with a location (digits)
-- @tparam[opt] table o.user_tags up to 20 `{ username = "..." }` (x and y optional, from 0 to 1)
-- @tparam[opt] table o.product_tags up to 30 `{ product_id = "..." }` (no x/y on video)
-- @tparam[opt] function o.progress `progress(sent, total)` during a file upload; return `false` to stop
-- @tparam[opt] string o.fields fields of the published media to read back and add to the result
-- (`"permalink,timestamp"`)
-- @tparam[opt=true] boolean o.check_quota check `content_publishing_limit` before publishing, and
-- return a `quota` error when the 24-hour quota is used up
-- @tparam[opt] table o.wait how to wait for the container(s): `{ timeout = 300, interval = 3,
-- max_interval = 60 }` (seconds; see @{instagram.node.misc.IgContainer:wait})
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error, an upload's, or `kind = "publish"` with `reason`
-- `"container_error"` (the container failed: `container_status` text, `subcode` such as 2207026),
-- `"container_expired"` (not published within 24 hours), `"timeout"` (still in progress after
-- `wait.timeout`; `container_id` set: wait again with `client:wait_for_container(err.container_id)`),
-- `"deadline"` (the same, the client's `deadline` having come first; `retry_after`) or `"quota"`
-- (`quota_usage`, `quota_total`); errors after a container exists carry `container_id`
-- @raise when `o` is not a table, has an unknown option (in `o.wait` too), gives both or neither of
-- `video_url` and
-- `file`, names a file that cannot be read, is empty or too large, or breaks a documented limit
-- @usage
-- local media, err = client:ig_user(IG_USER_ID):publish_video{ file = "clip.mp4", caption = "From disk",
--   share_to_feed = true, progress = function(sent, total) print(sent, total) end }
function IgUser:publish_video(o) return require("instagram.publish").video(self.client, self.id, o) end

--- Publishes a reel: the same call as @{IgUser:publish_video}.
-- @function IgUser:publish_reel
-- @tparam table o the options of @{IgUser:publish_video}
-- @treturn[1] table `{ id = media_id, container_id = id }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, as for @{IgUser:publish_video}
-- @raise as @{IgUser:publish_video}
-- @usage local media, err = client:ig_user(IG_USER_ID):publish_reel{ video_url = "https://cdn.example/clip.mp4" }
IgUser.publish_reel = IgUser.publish_video

--- Publishes a story: an image or a video, from a URL or a local file.
-- Creates a `STORIES` container (uploading `file` through the resumable protocol), waits for it,
-- checks the quota and publishes. Stories are not listed by @{IgUser:media}; see @{IgUser:stories}.
-- @tparam table o the story: exactly one of `image_url`, `video_url` and `file`
-- @tparam[opt] string o.image_url a public http(s) URL of an image
-- @tparam[opt] string o.video_url a public http(s) URL of a video
-- @tparam[opt] string o.file a local video file to upload (at most 100 MB)
-- @tparam[opt] table o.user_tags up to 20 `{ username = "..." }` (x and y optional, from 0 to 1)
-- @tparam[opt] function o.progress `progress(sent, total)` during a file upload; return `false` to stop
-- @tparam[opt] string o.fields fields of the published media to read back and add to the result
-- (`"permalink,timestamp"`)
-- @tparam[opt=true] boolean o.check_quota check `content_publishing_limit` before publishing, and
-- return a `quota` error when the 24-hour quota is used up
-- @tparam[opt] table o.wait how to wait for the container(s): `{ timeout = 300, interval = 3,
-- max_interval = 60 }` (seconds; see @{instagram.node.misc.IgContainer:wait})
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error, an upload's, or `kind = "publish"` with `reason`
-- `"container_error"` (the container failed: `container_status` text, `subcode` such as 2207026),
-- `"container_expired"` (not published within 24 hours), `"timeout"` (still in progress after
-- `wait.timeout`; `container_id` set: wait again with `client:wait_for_container(err.container_id)`),
-- `"deadline"` (the same, the client's `deadline` having come first; `retry_after`) or `"quota"`
-- (`quota_usage`, `quota_total`); errors after a container exists carry `container_id`
-- @raise when `o` is not a table, has an unknown option (in `o.wait` too), gives other than one of
-- `image_url`,
-- `video_url` and `file`, or breaks a documented limit
-- @usage local story, err = client:ig_user(IG_USER_ID):publish_story{ image_url = "https://cdn.example/dino.jpg" }
function IgUser:publish_story(o) return require("instagram.publish").story(self.client, self.id, o) end

--- Publishes a carousel of 2 to 10 images and videos.
-- Creates a container per child (uploading files), waits for them, creates the carousel
-- container, waits for it, checks the quota and publishes. An error in a child carries `child`
-- (its index in `children`).
-- @tparam table o the post
-- @tparam table o.children 2 to 10 tables, each with exactly one of `image_url`, `video_url`, `file`
-- (at most 300 MB), and optionally `user_tags` (x/y required on images), `product_tags` (up to 5;
-- x/y on images, none on videos) and `alt_text` (images only, at most 1,000 characters)
-- @tparam[opt] string o.caption at most 2,200 characters, 30 hashtags and 20 @ mentions
-- @tparam[opt] {string,...} o.collaborators up to 3 usernames invited as collaborators
-- @tparam[opt] string|number o.location_id a Page id with a location (digits)
-- @tparam[opt] table o.product_tags up to 20 `{ product_id = "...", x = 0.5, y = 0.5 }`
-- @tparam[opt] function o.progress `progress(sent, total)` during each file upload; return `false` to stop
-- @tparam[opt] string o.fields fields of the published media to read back and add to the result
-- (`"permalink,timestamp"`)
-- @tparam[opt=true] boolean o.check_quota check `content_publishing_limit` before publishing, and
-- return a `quota` error when the 24-hour quota is used up
-- @tparam[opt] table o.wait how to wait for the container(s): `{ timeout = 300, interval = 3,
-- max_interval = 60 }` (seconds; see @{instagram.node.misc.IgContainer:wait})
-- @treturn[1] table `{ id = media_id, container_id = id }`, plus the `fields` asked for (or
-- `fields_error` when only reading them failed: the post exists)
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error, an upload's, or `kind = "publish"` with `reason`
-- `"container_error"` (the container failed: `container_status` text, `subcode` such as 2207026),
-- `"container_expired"` (not published within 24 hours), `"timeout"` (still in progress after
-- `wait.timeout`; `container_id` set: wait again with `client:wait_for_container(err.container_id)`),
-- `"deadline"` (the same, the client's `deadline` having come first; `retry_after`) or `"quota"`
-- (`quota_usage`, `quota_total`); errors after a container exists carry `container_id`
-- @raise when `o` or a child is not a table, has an unknown option (in `o.wait` too), there are fewer than 2
-- or more
-- than 10 children, a child gives other than one media, or a documented limit is broken
-- (the message names the child, as `children[2].image_url`)
-- @usage
-- local media, err = client:ig_user(IG_USER_ID):publish_carousel{ caption = "Three dinos",
--   children = { { image_url = "https://cdn.example/a.jpg" }, { video_url = "https://cdn.example/b.mp4" },
--                { file = "c.mp4" } } }
function IgUser:publish_carousel(o) return require("instagram.publish").carousel(self.client, self.id, o) end

--- Creates a media container with the parameters as given: `POST /{ig-user-id}/media`.
-- A building block: nothing is checked locally, and nothing is waited for. Publish the
-- container with @{IgUser:media_publish} once @{instagram.node.misc.IgContainer:wait} says it is finished.
-- @tparam table params the API's parameters (`image_url`, `video_url`, `media_type`, `caption`,
-- `upload_type = "resumable"`, `is_carousel_item`, `children`, ...)
-- @treturn[1] table `{ id }`, and `uri` for a resumable upload (see @{instagram.client.Client:upload_video})
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table (tables inside it are sent as JSON)
-- @usage
-- local user = client:ig_user(IG_USER_ID)
-- local c = assert(user:create_container{ media_type = "REELS", upload_type = "resumable" })
-- assert(client:upload_video(c.uri or c.id, "clip.mp4"))
-- assert(client:ig_container(c.id):wait())
-- local media = assert(user:media_publish(c.id))
function IgUser:create_container(params) return require("instagram.publish").create(self.client, self.id, params) end

--- Publishes a finished container: `POST /{ig-user-id}/media_publish`.
-- @tparam string|number container_id the container's id (digits)
-- @treturn[1] table `{ id }` of the new media
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do (code 9007, subcode 2207027: the
-- container is not
-- ready yet)
-- @raise when `container_id` is not digits
-- @usage local media, err = client:ig_user(IG_USER_ID):media_publish(container_id)
function IgUser:media_publish(container_id)
  return self.client:post(self:path("media_publish"), { creation_id = node.check_id(container_id, "IG container") })
end

--- Reads the account's publishing quota: `GET /{ig-user-id}/content_publishing_limit`.
-- @tparam[opt] table opts
-- @tparam[opt="quota_usage,config"] string opts.fields the fields asked for
-- @tparam[opt] number opts.since a Unix time: count the posts published since then (at most 24 hours ago)
-- @treturn[1] table `{ quota_usage = 3, config = { quota_total = 100, quota_duration = 86400 } }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do (`kind = "decode"` when the answer is not
-- an object)
-- @raise when `opts` is not a table or has another option than `fields` and `since`
-- @usage
-- local lim = assert(client:ig_user(IG_USER_ID):content_publishing_limit())
-- print(lim.quota_usage .. " of " .. lim.config.quota_total)
function IgUser:content_publishing_limit(opts)
  return require("instagram.publish").limit(self.client, self.id, opts)
end

return _M
