--- The rest of the documented Graph surface, installed onto the emulator's routing tables:
-- IG user edges (stories, tags, live_media, insights, mentions, hashtags, catalogs, product
-- appeal, upcoming events, Threads users, creator marketplace, agencies, private replies),
-- field expansions (business_discovery, mentioned_media, mentioned_comment, available_catalogs,
-- nested media/comments/children), IG media edges (children, collaborators, insights) and
-- writes (comment_enabled), comments (replies, hide, delete), hashtags (search, top/recent
-- media, the 30-per-7-days rule) and oEmbed.
local cjson = require "cjson.safe"
local json = require "instagram.json"
local data = require "emulator.data"

local ngx = ngx
local type, tostring, tonumber, ipairs, pairs, format = type, tostring, tonumber, ipairs, pairs, string.format
local floor, min = math.floor, math.min

local _M = {}

local K -- the kit from app.lua

local function S() return K.state() end

--- A stable pseudo-random number from strings (the same question gets the same answer).
local function hash(...)
  local h = 2166136261
  for _, part in ipairs{ ... } do
    local str = tostring(part)
    for i = 1, #str do h = (h * 31 + str:byte(i)) % 4294967296 end
  end
  return h
end

-- ---- world additions (built lazily on the state table) --------------------------------------

local HASHTAGS = { dinos = "17843853986012965", coke = "17841593698074073", bluebottle = "17843857450040591" }

local function world()
  local st = S()
  if st.surface then return st.surface end
  local w = { hashtag_searches = {}, events = {}, event_seq = 0, appeals = {}, threads = {}, replies_of = {} }
  st.surface = w
  -- public media by other accounts, for hashtags, tags and mentions
  w.public = {}
  for i = 1, 80 do
    local id = format("1790%013d", 7000000000 + i)
    st.nodes[id] = { type = "ig_media", id = id, owner_id = "17841400000000777", created = data.EPOCH - i * 1800,
      caption = format("Public dino post %d #dinos @metricsaurus", i), media_type = i % 4 == 0 and "VIDEO" or "IMAGE",
      media_product_type = "FEED", media_url = format("/__emulator/img/%s.jpg", id), permalink =
      format("https://www.instagram.com/p/PUB%05d/", i), timestamp = data.iso(data.EPOCH - i * 1800), username = "dinofan",
      like_count = (i * 37) % 500, is_comment_enabled = true, public = true }
    st.comments_of[id] = {}
    w.public[i] = id
  end
  for name, id in pairs(HASHTAGS) do st.nodes[id] = { type = "ig_hashtag", id = id, name = name } end
  -- stories and a live broadcast for the main account
  st.stories_of[data.IG_USER_ID] = st.stories_of[data.IG_USER_ID] or {}
  for i = 1, 2 do
    local id = format("1790%013d", 8000000000 + i)
    st.nodes[id] = { type = "ig_media", id = id, owner_id = data.IG_USER_ID, created = data.EPOCH + i * 600,
      media_type = "IMAGE", media_product_type = "STORY", media_url = format("/__emulator/img/%s.jpg", id),
      permalink = format("https://www.instagram.com/stories/metricsaurus/%s/", id), timestamp =
      data.iso(data.EPOCH + i * 600), username = "metricsaurus", like_count = 0, story_reach = i == 1 and 120 or 1 }
    st.comments_of[id] = {}
    table.insert(st.stories_of[data.IG_USER_ID], id)
  end
  local live = "90010498116233"
  st.nodes[live] = { type = "ig_media", id = live, owner_id = data.IG_USER_ID, created = data.EPOCH + 3600,
    media_type = "BROADCAST", media_product_type = "LIVE", username = "metricsaurus", timestamp = data.iso(data.EPOCH + 3600) }
  st.comments_of[live] = {}
  w.live = { live }
  -- media the account is tagged in, and a comment that mentions it
  w.tagged = { w.public[1], w.public[2], w.public[3], w.public[4], w.public[5], w.public[6], w.public[7] }
  local mention = "17873440459141021"
  st.nodes[mention] = { type = "ig_comment", id = mention, media_id = w.public[1], text = "Shout out to @metricsaurus",
    timestamp = data.iso(data.EPOCH - 300), username = "dinofan", like_count = 185, hidden = false,
    from = { id = "17841400000000777", username = "dinofan" } }
  table.insert(st.comments_of[w.public[1]], mention)
  -- children of the carousel fixtures (media 3, 6, 9, ... are CAROUSEL_ALBUM)
  for i = 3, data.MEDIA_COUNT, 3 do
    local parent = st.nodes[data.media_id(i)]
    parent.children_ids = {}
    for j = 1, 3 do
      local cid = format("1790%013d", 9000000000 + i * 10 + j)
      st.nodes[cid] = { type = "ig_media", id = cid, owner_id = data.IG_USER_ID, created = parent.created,
        media_type = j == 3 and "VIDEO" or "IMAGE", media_url = format("/__emulator/img/%s.jpg", cid),
        timestamp = parent.timestamp, username = "metricsaurus", is_child = true }
      parent.children_ids[j] = cid
    end
  end
  -- collaborators on the first media
  st.nodes[data.media_id(1)].collaborators = {
    { id = "90010775360791", username = "dinocafe", invite_status = "Accepted" },
    { id = "17841449208283139", username = "raptor_runs", invite_status = "Pending" } }
  -- the Shop: one catalog, three products (16-digit ids as bare JSON numbers)
  w.catalog = { catalog_id = "960179311066902", catalog_name = "Dino Shop Catalog", shop_name = "Dino Shop",
    product_count = 3 }
  w.products = {
    { product_id = 3231775643511089, merchant_id = 90010177253934, product_name = "Dino T-shirt", retailer_id = "dino-tee",
      review_status = "approved", is_checkout_flow = true, image_url = "https://cdn.example/tee.jpg",
      product_variants = { { product_id = 5209223099160494, variant_name = "Green Dino T-shirt" } } },
    { product_id = 7478222675582505, merchant_id = 90010177253934, product_name = "Dino Mug", retailer_id = "dino-mug",
      review_status = "rejected", is_checkout_flow = true, image_url = "https://cdn.example/mug.jpg",
      product_variants = {} },
    { product_id = 4029274203846188, merchant_id = 90010177253934, product_name = "Fossil Kit", retailer_id = "fossil",
      review_status = "pending", is_checkout_flow = false, image_url = "https://cdn.example/kit.jpg",
      product_variants = {} },
  }
  return w
end

local SUBTYPES = {}
for _, v in ipairs{ "BEFORE_EVENT_1DAY", "BEFORE_EVENT_15MIN", "EVENT_START", "BEFORE_EVENT_2DAY",
  "BEFORE_EVENT_1HOUR", "AFTER_EVENT_1DAY", "AFTER_EVENT_2DAY", "AFTER_EVENT_3DAY", "AFTER_EVENT_4DAY",
  "AFTER_EVENT_5DAY", "AFTER_EVENT_6DAY", "AFTER_EVENT_7DAY" } do SUBTYPES[v] = true end

local function need(args, name)
  if args[name] == nil or args[name] == "" then
    return K.fail(100, format("(#100) The parameter %s is required", name))
  end
end

local function owner_of(node)
  if node.type == "ig_comment" then return S().nodes[node.media_id].owner_id end
  return node.owner_id
end

local function list_reply(page, err)
  if not page then return K.fail(100, err) end
  return K.send(200, page)
end

-- ---- IG user edges --------------------------------------------------------------------------

local function user_edges(E)
  E.stories = function(method, node, args, token)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/stories") end
    world()
    return list_reply(K.paginate(S().stories_of[node.id] or {}, args, token, { default_limit = 25 }))
  end

  E.tags = function(method, node, args, token)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/tags") end
    -- documented: before/after cursors only, no next/previous
    return list_reply(K.paginate(node.id == data.IG_USER_ID and world().tagged or {}, args, token,
      { default_limit = 3, no_next = true, fields = "id,caption,media_type,username" }))
  end

  E.live_media = function(method, node, args, token)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/live_media") end
    return list_reply(K.paginate(node.id == data.IG_USER_ID and world().live or {}, args, token,
      { fields = "id,media_type,media_product_type,username" }))
  end

  E.recently_searched_hashtags = function(method, node, args, token)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/recently_searched_hashtags") end
    local since = K.now() - 7 * 86400
    local ids = {}
    for _, h in ipairs(world().hashtag_searches[node.id] or {}) do
      if h.time > since then ids[#ids + 1] = h.id end
    end
    return list_reply(K.paginate(ids, args, token, { default_limit = 25, max_limit = 30, fields = "id" }))
  end

  E.mentions = function(method, node, args)
    if method ~= "POST" then return K.unsupported(method, node.id .. "/mentions") end
    local e = need(args, "media_id") or need(args, "message")
    if e then return e end
    local st = S()
    local media = st.nodes[tostring(args.media_id)]
    if not media or media.type ~= "ig_media" then return K.fail(100, "(#100) media_id is not a media that mentions you") end
    if args.comment_id and not st.nodes[tostring(args.comment_id)] then
      return K.fail(100, "(#100) comment_id is not a comment that mentions you")
    end
    world().seq = (world().seq or 0) + 1
    local id = format("178463198%08d", world().seq)
    st.nodes[id] = { type = "ig_comment", id = id, media_id = media.id, text = args.message, timestamp = data.iso(K.now()),
      username = st.nodes[node.id].username, like_count = 0, hidden = false,
      from = { id = node.id, username = st.nodes[node.id].username }, parent_id = args.comment_id }
    if args.comment_id then
      local list = world().replies_of[args.comment_id] or {}
      world().replies_of[args.comment_id] = list
      list[#list + 1] = id
    else
      table.insert(st.comments_of[media.id], 1, id)
    end
    return K.send(200, { id = id })
  end

  E.available_catalogs = function(method, node)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/available_catalogs") end
    return K.send(200, { data = { world().catalog } })
  end

  E.catalog_product_search = function(method, node, args)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/catalog_product_search") end
    local e = need(args, "catalog_id")
    if e then return e end
    if args.catalog_id ~= world().catalog.catalog_id then return K.fail(100, "(#100) Unknown catalog_id") end
    local q = args.q and tostring(args.q):lower()
    local list = {}
    for i, p in ipairs(world().products) do
      if not q or p.product_name:lower():find(q, 1, true) or p.retailer_id:find(q, 1, true) then list[#list + 1] = i end
    end
    local first = 1
    if args.after then first = (tonumber(ngx.decode_base64(args.after) or "") or 0) + 1 end
    local limit = tonumber(args.limit) or 2
    local out = {}
    for k = first, min(#list, first + limit - 1) do out[#out + 1] = world().products[list[k]] end
    local paging = json.object()
    if #out > 0 then
      local after = ngx.encode_base64(tostring(first + #out - 1))
      paging.cursors = { before = ngx.encode_base64(tostring(first)), after = after }
      if first + #out - 1 < #list then paging.next = K.page_url(args, nil, "after", after) end
    end
    return K.send(200, { data = json.array(out), paging = paging })
  end

  E.product_appeal = function(method, node, args)
    local e = need(args, "product_id")
    if e then return e end
    local pid = tostring(args.product_id)
    local product
    for _, p in ipairs(world().products) do if json.number(p.product_id) == pid then product = p end end
    if not product then return K.fail(100, "(#100) Unknown product_id") end
    if method == "POST" then
      local e2 = need(args, "appeal_reason")
      if e2 then return e2 end
      world().appeals[pid] = args.appeal_reason
      product.review_status = "pending"
      return K.send(200, { success = true })
    end
    if method ~= "GET" then return K.unsupported(method, node.id .. "/product_appeal") end
    return K.send(200, { data = { { product_id = product.product_id, review_status = product.review_status,
      eligible_for_appeal = product.review_status == "rejected" and not world().appeals[pid] } } })
  end

  local function threads(name)
    return function(method, node)
      local w = world()
      if method == "POST" and name == "instagram_backed_threads_user" then
        w.threads[node.id] = w.threads[node.id] or format("2%017d", hash(node.id) % 100000000000000000)
      elseif method ~= "GET" then
        return K.unsupported(method, node.id .. "/" .. name)
      end
      local id = name == "connected_threads_user" and format("6%017d", hash("t", node.id) % 100000000000000000)
        or w.threads[node.id]
      return K.send(200, { data = json.array(id and { { threads_user_id = id } } or {}) })
    end
  end
  E.connected_threads_user = threads("connected_threads_user")
  E.instagram_backed_threads_user = threads("instagram_backed_threads_user")


  E.upcoming_events = function(method, node, args, token)
    local w = world()
    if method == "POST" then
      local e = need(args, "title") or need(args, "start_time")
      if e then return e end
      local err = _M.check_event(args)
      if err then return err end
      w.event_seq = w.event_seq + 1
      local id = format("1801%013d", w.event_seq)
      S().nodes[id] = { type = "ig_event", id = id, owner_id = node.id, title = args.title, start_time = args.start_time,
        end_time = args.end_time, notification_subtypes = args.notification_subtypes and cjson.decode(args.notification_subtypes),
        notification_target_time = args.notification_target_time }
      w.events[node.id] = w.events[node.id] or {}
      table.insert(w.events[node.id], id)
      return K.send(200, { id = id })
    end
    if method ~= "GET" then return K.unsupported(method, node.id .. "/upcoming_events") end
    return list_reply(K.paginate(w.events[node.id] or {}, args, token, { fields = "id,title,start_time" }))
  end

  E.creator_marketplace_creators = function(method, node, args)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/creator_marketplace_creators") end
    local minf, maxf = tonumber(args.creator_min_followers), tonumber(args.creator_max_followers)
    if minf and maxf and minf > maxf then
      return K.fail(100, "Invalid Parameter Input: creator_min_followers is greater than creator_max_followers")
    end
    local sim = args.similar_to_creators and cjson.decode(args.similar_to_creators)
    if type(sim) == "table" and #sim > 5 then return K.fail(100, "Invalid Parameter Input: similar_to_creators takes up to 5") end
    if args.username then -- one creator's insights
      return K.send(200, { data = { { id = "178414869381437360", username = args.username, country = "BR",
        insights = { data = { { name = "creator_reach", period = "overall", total_value = { value = 48211 } } } } } } })
    end
    local out = {}
    for i = 1, 3 do
      out[i] = { id = format("17841486938143%04d", i), username = "creator_" .. i, country = i == 2 and "US" or "BR",
        gender = i == 1 and "female" or "male" }
    end
    return K.send(200, { data = out })
  end

  E.agencies = function(method, node)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/agencies") end
    return K.send(200, { data = { { id = "90010101010101", name = "Raptor Agency" } } })
  end
  E.authorized_adaccounts = function(method, node)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/authorized_adaccounts") end
    return K.send(200, { data = { { id = "act_1234567890", account_id = "1234567890" } } })
  end

  E.messages = function(method, node, args)
    if method ~= "POST" then return K.unsupported(method, node.id .. "/messages") end
    world()
    local recipient = type(args.recipient) == "string" and cjson.decode(args.recipient) or args.recipient
    local message = type(args.message) == "string" and cjson.decode(args.message) or args.message
    if type(recipient) ~= "table" or not recipient.comment_id then return K.fail(100, "(#100) recipient.comment_id is required") end
    if type(message) ~= "table" or type(message.text) ~= "string" then return K.fail(100, "(#100) message.text is required") end
    local comment = S().nodes[tostring(recipient.comment_id)]
    if not comment or comment.type ~= "ig_comment" then return K.fail(100, "(#100) Unknown comment") end
    local w = world()
    w.private_replied = w.private_replied or {}
    if w.private_replied[comment.id] then
      return K.fail(10900, "Activity already replied to: only one private reply per comment is allowed")
    end
    if K.now() - (comment.created or data.EPOCH) > 7 * 86400 and comment.created then
      return K.fail(10903, "This comment is older than 7 days: private replies are allowed within 7 days")
    end
    w.private_replied[comment.id] = true
    return K.send(200, { recipient_id = comment.from and comment.from.id or "526", message_id = "aWdfZAG1" .. comment.id })
  end

  E.insights = function(method, node, args)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/insights") end
    return _M.user_insights(node, args)
  end
end

-- ---- insights -------------------------------------------------------------------------------

local USER_METRICS = {
  accounts_engaged = {}, comments = { media_product_type = true }, likes = { media_product_type = true },
  engaged_audience_demographics = { demo = true }, follower_demographics = { demo = true, followers = true },
  reached_audience_demographics = { demo = true },
  follows_and_unfollows = { follow_type = true, followers = true }, profile_links_taps = { contact_button_type = true },
  reach = { media_product_type = true, follow_type = true, series = true }, replies = {},
  saved = { media_product_type = true }, shares = { media_product_type = true },
  total_interactions = { media_product_type = true }, views = { follower_type = true, follow_type = true, media_product_type = true },
  profile_views = { series = true }, follower_count = { series = true, followers = true }, online_followers = { followers = true },
  website_clicks = { series = true },
}
local DEMO_BREAKDOWN = { age = { "18-24", "25-34", "35-44" }, city = { "London, England", "Sao Paulo, Sao Paulo State" },
  country = { "BR", "US", "GB" }, gender = { "F", "M", "U" } }
local OTHER_BREAKDOWN = { media_product_type = { "FEED", "REELS", "STORY" }, follow_type = { "FOLLOWER", "NON_FOLLOWER" },
  follower_type = { "FOLLOWER", "NON_FOLLOWER" }, contact_button_type = { "CALL", "EMAIL", "TEXT" } }
local TIMEFRAMES = { this_week = true, this_month = true }
local OLD_TIMEFRAMES = { last_14_days = true, last_30_days = true, last_90_days = true, prev_month = true }

local function unknown_error() return K.fail(1, "An unknown error has occurred.", "OAuthException", { is_transient = false }) end

local function version_num() return tonumber((ngx.var.uri or ""):match("^/v(%d+)")) or 24 end

function _M.user_insights(node, args)
  local metric, period = args.metric, args.period
  if not metric then return K.fail(100, "(#100) The parameter metric is required") end
  if not period then return K.fail(100, "(#100) The parameter period is required") end
  if period ~= "day" and period ~= "lifetime" and period ~= "week" and period ~= "days_28" then
    return K.fail(100, "(#100) period must be one of day, week, days_28, lifetime")
  end
  local metric_type = args.metric_type or "time_series"
  local breakdowns = {}
  for b in tostring(args.breakdown or args.breakdowns or ""):gmatch("[^,]+") do breakdowns[#breakdowns + 1] = b end
  if #breakdowns > 0 and metric_type ~= "total_value" then
    return K.fail(100, "(#100) breakdown is supported only with metric_type=total_value")
  end
  local untl = tonumber(args["until"]) or K.now()
  local since = tonumber(args.since) or (untl - 86400)
  local out = {}
  for name in tostring(metric):gmatch("[^,]+") do
    local m = USER_METRICS[name]
    if name == "impressions" then
      if version_num() >= 22 then
        return K.fail(100, "(#100) The impressions metric is no longer supported from v22.0: use views")
      end
      m = { series = true }
    end
    if not m then return K.fail(100, "(#100) metric[0] must be one of the following values: " ..
      "reach, follower_count, website_clicks, profile_views, online_followers, accounts_engaged, total_interactions, " ..
      "likes, comments, shares, saved, replies, engaged_audience_demographics, reached_audience_demographics, " ..
      "follower_demographics, follows_and_unfollows, profile_links_taps, views") end
    if m.demo then
      if OLD_TIMEFRAMES[args.timeframe] and version_num() >= 20 then
        return K.fail(100, "(#100) timeframe " .. args.timeframe .. " is not supported from v20.0: use this_week or this_month")
      end
      if not (TIMEFRAMES[args.timeframe] or OLD_TIMEFRAMES[args.timeframe]) then
        return K.fail(100, "(#100) demographic metrics need timeframe (this_week or this_month)")
      end
      if metric_type ~= "total_value" then return K.fail(100, "(#100) demographic metrics need metric_type=total_value") end
    end
    for _, b in ipairs(breakdowns) do
      local ok = (m.demo and DEMO_BREAKDOWN[b]) or (not m.demo and m[b] and OTHER_BREAKDOWN[b])
      if not ok then return unknown_error() end
    end
    local enough = not m.followers or (S().nodes[node.id].followers_count or 0) >= 100
    if enough then
      local entry = { name = name, period = m.demo and "lifetime" or period,
        title = name:gsub("_", " "):gsub("^%l", string.upper), description = "Emulated " .. name:gsub("_", " "),
        id = node.id .. "/insights/" .. name .. "/" .. period }
      if metric_type == "total_value" then
        local total = hash(node.id, name, since, untl) % 5000 + 100
        entry.total_value = { value = total }
        if #breakdowns > 0 then
          local results = {}
          local values = m.demo and DEMO_BREAKDOWN[breakdowns[1]] or OTHER_BREAKDOWN[breakdowns[1]]
          for i, v in ipairs(values) do
            results[i] = { dimension_values = m.demo and { args.timeframe:upper(), v } or { v },
              value = hash(node.id, name, v) % 300 + 1 }
          end
          entry.total_value.breakdowns = { { dimension_keys = m.demo and { "timeframe", breakdowns[1] } or breakdowns,
            results = results } }
        end
      else
        if not m.series then return K.fail(100, "(#100) " .. name .. " supports only metric_type=total_value") end
        local values = {}
        local day = 86400
        local t = floor(since / day) * day + day
        while t <= untl and #values < 31 do
          values[#values + 1] = { value = hash(node.id, name, t) % 400, end_time = data.iso(t + 7 * 3600) }
          t = t + day
        end
        entry.values = values
      end
      out[#out + 1] = entry
    end
  end
  local base = format("%s://%s%s", ngx.var.scheme, ngx.var.http_host or ngx.var.host, ngx.var.uri)
  local function link(a, b)
    return base .. "?" .. ngx.encode_args{ metric = metric, period = period, metric_type = args.metric_type,
      since = floor(a), ["until"] = floor(b) }
  end
  local span = untl - since
  return K.send(200, { data = json.array(out), paging = { previous = link(since - span, since), next = link(untl, untl + span) } })
end

local MEDIA_METRICS = {
  FEED = { comments = 1, follows = 1, likes = 1, profile_activity = "action_type", profile_visits = 1, reach = 1,
    saved = 1, shares = 1, total_interactions = 1, views = 1 },
  REELS = { comments = 1, likes = 1, reach = 1, saved = 1, shares = 1, total_interactions = 1, views = 1,
    ig_reels_avg_watch_time = 1, ig_reels_video_view_total_time = 1 },
  STORY = { follows = 1, navigation = "story_navigation_action_type", profile_activity = "action_type",
    profile_visits = 1, reach = 1, replies = 1, shares = 1, total_interactions = 1, views = 1 },
}
local DEPRECATED_MEDIA = { plays = true, clips_replays_count = true, ig_reels_aggregated_all_plays_count = true,
  video_views = true }

function _M.media_insights(media, args)
  if not args.metric then return K.fail(100, "(#100) The parameter metric is required") end
  if media.is_child then return K.fail(100, "(#100) Insights are not available for media inside an album") end
  local kind = media.media_product_type == "REELS" and "REELS" or (media.media_product_type == "STORY" and "STORY") or "FEED"
  local allowed = MEDIA_METRICS[kind]
  local out = {}
  for name in tostring(args.metric):gmatch("[^,]+") do
    if DEPRECATED_MEDIA[name] or (name == "impressions" and version_num() >= 22) then
      return K.fail(100, "(#100) The " .. name .. " metric is no longer supported from v22.0")
    end
    local m = allowed[name]
    if not m then
      return K.fail(100, format("(#100) The metric %s is not supported for %s media", name, kind))
    end
    if args.breakdown and m ~= args.breakdown then return unknown_error() end
    local value = hash(media.id, name) % 900 + 10
    if kind == "STORY" then
      value = (media.story_reach or 0) + (hash(media.id, name) % 3)
      if value < 5 then return K.fail(10, "(#10) Not enough viewers for the media to show insights") end
    end
    local entry = { name = name, period = "lifetime", values = { { value = value } },
      title = name:gsub("_", " "):gsub("^%l", string.upper), description = "Emulated " .. name:gsub("_", " "),
      id = media.id .. "/insights/" .. name .. "/lifetime" }
    if args.breakdown then
      local keys = m == "action_type" and { "bio_link_clicked", "call", "email" } or { "tap_forward", "tap_back", "tap_exit" }
      local results = {}
      for i, k in ipairs(keys) do results[i] = { dimension_values = { k }, value = hash(media.id, k) % 20 } end
      entry.total_value = { value = value, breakdowns = { { dimension_keys = { m }, results = results } } }
    end
    out[#out + 1] = entry
  end
  return K.send(200, { data = json.array(out) })
end

-- ---- upcoming events --------------------------------------------------------------------------

function _M.check_event(args)
  if args.notification_subtypes then
    local list = type(args.notification_subtypes) == "string" and cjson.decode(args.notification_subtypes)
      or args.notification_subtypes
    if type(list) ~= "table" or #list ~= 3 then
      return K.fail(100, "(#100) notification_subtypes must list exactly 3 values")
    end
    for _, v in ipairs(list) do
      if not SUBTYPES[v] then return K.fail(100, "(#100) unknown notification subtype " .. tostring(v)) end
    end
  end
  if args.notification_target_time and args.notification_target_time ~= "EVENT_START"
     and args.notification_target_time ~= "EVENT_END" then
    return K.fail(100, "(#100) notification_target_time must be EVENT_START or EVENT_END")
  end
  if args.start_time and not tostring(args.start_time):match("^%d%d%d%d%-%d%d%-%d%dT") then
    return K.fail(100, "(#100) start_time must be an ISO 8601 time such as 2026-12-01T16:00:00+0000")
  end
end

-- ---- field expansions ------------------------------------------------------------------------

local PUBLIC_USER = { id = true, username = true, name = true, biography = true, website = true, followers_count = true,
  follows_count = true, media_count = true, profile_picture_url = true }
local PUBLIC_MEDIA = { id = true, caption = true, comments_count = true, like_count = true, media_type = true,
  media_product_type = true, media_url = true, permalink = true, timestamp = true, username = true, view_count = true }

--- A nested edge (media{...}, comments{...}, children{...}): { data, paging = { cursors } } without next.
local function nested(ids, tok, default_fields, allowed)
  local limit = min(tonumber(tok.mods and tok.mods.limit) or 25, 100)
  local first = 1
  if tok.mods and tok.mods.after then first = (tonumber(ngx.decode_base64(tok.mods.after) or "") or 0) + 1 end
  local sub = tok.sub or default_fields
  local views = false -- view_count exists only through Business Discovery
  if allowed then
    local kept = {}
    for _, t in ipairs(require("emulator.app").parse_fields(sub)) do
      if not allowed[t.name] then return nil, "(#100) Tried accessing nonexisting field (" .. t.name .. ") on node type (Media)" end
      if t.name == "view_count" then views = true else kept[#kept + 1] = t.name end
    end
    sub = table.concat(kept, ",")
  end
  local out = {}
  for i = first, min(#ids, first + limit - 1) do
    local r, err = K.render(S().nodes[ids[i]], sub)
    if not r then return nil, err end
    if views then r.view_count = hash(ids[i], "views") % 10000 end
    out[#out + 1] = r
  end
  local paging = json.object()
  if #out > 0 then
    paging.cursors = { before = ngx.encode_base64(tostring(first)), after = ngx.encode_base64(tostring(first + #out - 1)) }
  end
  return { data = json.array(out), paging = paging }
end

local function expansions(EX)
  EX.ig_user = EX.ig_user or {}
  EX.ig_user.business_discovery = function(_, tok)
    local username = tok.mods and tok.mods.username
    if not username then return nil, "(#100) business_discovery needs .username(<username>)" end
    local target
    for _, n in pairs(S().nodes) do
      if n.type == "ig_user" and n.username == username then target = n end
    end
    if not target then return nil, { code = 110, message = "Invalid user id", extra = { error_subcode = 2207013,
      error_user_title = "Cannot find User", error_user_msg = "The user with username: " .. username .. " cannot be found." } } end
    local out = { id = target.id }
    for _, t in ipairs(require("emulator.app").parse_fields(tok.sub or "id,username")) do
      if t.name == "media" then
        local media, err = nested(S().media_of[target.id] or {}, t, "id", PUBLIC_MEDIA)
        if not media then return nil, err end
        out.media = media
      elseif PUBLIC_USER[t.name] then
        out[t.name] = target[t.name]
      else
        return nil, "(#100) Tried accessing nonexisting field (" .. t.name .. ") on node type (BusinessDiscovery)"
      end
    end
    return out
  end
  -- mentioned_media.media_id(X){...} and mentioned_comment.comment_id(X){...}
  local function mentioned(field, key, node_type, what, defaults)
    return function(_, tok)
      world()
      local id = tok.mods and tok.mods[key]
      local n = id and S().nodes[id]
      if not n or n.type ~= node_type then
        return nil, ("(#100) %s needs .%s(<id>) of a %s that mentions you"):format(field, key, what)
      end
      return K.render(n, tok.sub or defaults)
    end
  end
  EX.ig_user.mentioned_media = mentioned("mentioned_media", "media_id", "ig_media", "media", "caption,media_type,timestamp")
  EX.ig_user.mentioned_comment = mentioned("mentioned_comment", "comment_id", "ig_comment", "comment",
    "timestamp,like_count,text")
  EX.ig_user.available_catalogs = function() return { data = { world().catalog } } end
  EX.ig_user.media = function(node, tok) return nested(S().media_of[node.id] or {}, tok, "id") end

  EX.ig_media = EX.ig_media or {}
  EX.ig_media.comments = function(node, tok) return nested(S().comments_of[node.id] or {}, tok, "timestamp,text,id") end
  EX.ig_media.children = function(node, tok)
    world()
    return nested(node.children_ids or {}, tok, "id")
  end
  EX.ig_media.copyright_check_information = function(node)
    return { status = { status = "completed", matches_found = node.id == data.media_id(2) },
      copyright_matches = json.array(node.id == data.media_id(2) and { { author = "Dino Records", content_title = "Roar",
        matched_segments = { { start_time_in_seconds = 3, duration_in_seconds = 7, segment_type = "AUDIO" } },
        owner_copyright_policy = { name = "Dino Records policy", actions = { { action = "MUTE", territories = "3", geos = { "US", "GB", "BR" } } } } } } or {}) }
  end
  EX.ig_comment = EX.ig_comment or {}
  EX.ig_comment.replies = function(node, tok)
    return nested(world().replies_of[node.id] or {}, tok, "timestamp,text,id")
  end
end

-- ---- install ---------------------------------------------------------------------------------

function _M.install(kit)
  K = kit
  local F = kit.FIELDS
  F.ig_hashtag = { list = { "id", "name" }, default = { "id", "name" }, label = "IGHashtag" }
  F.ig_event = { list = { "id", "title", "start_time", "end_time", "notification_subtypes", "notification_target_time" },
    default = { "id", "title", "start_time" }, label = "IGUpcomingEvent" }
  for _, spec in pairs{ F.ig_hashtag, F.ig_event } do
    spec.set = {}
    for _, f in ipairs(spec.list) do spec.set[f] = true end
  end

  kit.EDGES.ig_user = kit.EDGES.ig_user or {}
  user_edges(kit.EDGES.ig_user)
  expansions(kit.EXPAND)

  local ME = kit.EDGES.ig_media
  ME.children = function(method, node, args, token)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/children") end
    world()
    return list_reply(K.paginate(node.children_ids or {}, args, token, { fields = "id" }))
  end
  ME.collaborators = function(method, node)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/collaborators") end
    world()
    return K.send(200, { data = json.array(node.collaborators or {}) })
  end
  ME.insights = function(method, node, args, _, tok)
    if method ~= "GET" then return K.unsupported(method, node.id .. "/insights") end
    world()
    return K.need_scope(tok, "instagram_manage_insights") or _M.media_insights(node, args)
  end

  kit.EDGES.ig_comment = kit.EDGES.ig_comment or {}
  kit.EDGES.ig_comment.replies = function(method, node, args, token, tok)
    local w = world()
    if method == "POST" then
      local scope = K.need_scope(tok, "instagram_manage_comments")
      if scope then return scope end
      local e = need(args, "message")
      if e then return e end
      if node.parent_id then return K.fail(100, "(#100) Replies can be made to top-level comments only") end
      w.seq = (w.seq or 0) + 1
      local id = format("178700%011d", 50000000 + w.seq)
      local owner = S().nodes[owner_of(node)]
      S().nodes[id] = { type = "ig_comment", id = id, media_id = node.media_id, text = args.message, parent_id = node.id,
        timestamp = data.iso(K.now()), username = owner.username, like_count = 0, hidden = false,
        from = { id = owner.id, username = owner.username } }
      w.replies_of[node.id] = w.replies_of[node.id] or {}
      table.insert(w.replies_of[node.id], id)
      return K.send(200, { id = id })
    end
    if method ~= "GET" then return K.unsupported(method, node.id .. "/replies") end
    return list_reply(K.paginate(w.replies_of[node.id] or {}, args, token, { default_limit = 25, max_limit = 50 }))
  end

  kit.EDGES.ig_hashtag = {}
  local function hashtag_media(kind)
    return function(method, node, args, token)
      if method ~= "GET" then return K.unsupported(method, node.id .. "/" .. kind) end
      local e = need(args, "user_id")
      if e then return e end
      local ids = {}
      for _, id in ipairs(world().public) do
        if node.name == "dinos" then ids[#ids + 1] = id end
      end
      if kind == "top_media" then
        table.sort(ids, function(a, b) return S().nodes[a].like_count > S().nodes[b].like_count end)
      end
      local page, err = K.paginate(ids, args, token, { default_limit = 25, max_limit = 50,
        fields = "id,media_type,comments_count,like_count" })
      if not page then return K.fail(100, err) end
      -- documented quirk: only an after cursor, the same on every page; `next` moves on
      if page.paging and page.paging.cursors then
        page.paging.cursors = { after = "QVFIUjhOZAWhastag" }
        page.paging.previous = nil
      end
      return K.send(200, page)
    end
  end
  kit.EDGES.ig_hashtag.top_media = hashtag_media("top_media")
  kit.EDGES.ig_hashtag.recent_media = hashtag_media("recent_media")

  -- POST /{id}?<param>=true|false sets one flag of the node (comment_enabled, hide).
  local function set_flag(param, field)
    return function(node, args, tok)
      local scope = K.need_scope(tok, "instagram_manage_comments")
      if scope then return scope end
      if args[param] == nil then return K.fail(100, "(#100) The parameter " .. param .. " is required") end
      node[field] = args[param] == "true" or args[param] == true
      return K.send(200, { success = true })
    end
  end
  kit.NODE_WRITE.ig_media = { POST = set_flag("comment_enabled", "is_comment_enabled") }
  kit.NODE_WRITE.ig_comment = {
    POST = set_flag("hide", "hidden"),
    DELETE = function(node, _, tok)
      local scope = K.need_scope(tok, "instagram_manage_comments")
      if scope then return scope end
      local st = S()
      for _, list in pairs{ st.comments_of[node.media_id] or {}, world().replies_of[node.parent_id or ""] or {} } do
        for i = #list, 1, -1 do if list[i] == node.id then table.remove(list, i) end end
      end
      st.nodes[node.id] = nil
      return K.send(200, { success = true })
    end,
  }
  kit.NODE_WRITE.ig_event = {
    POST = function(node, args)
      local err = _M.check_event(args)
      if err then return err end
      for _, k in ipairs{ "title", "start_time", "end_time", "notification_target_time" } do
        if args[k] ~= nil then node[k] = args[k] end
      end
      if args.notification_subtypes then node.notification_subtypes = cjson.decode(args.notification_subtypes) end
      return K.send(200, { id = node.id })
    end,
  }

  kit.ROOT.ig_hashtag_search = function(method, args, tok)
    if method ~= "GET" then return K.unsupported(method, "ig_hashtag_search") end
    local e = need(args, "user_id") or need(args, "q")
    if e then return e end
    local scope = K.need_scope(tok, "instagram_basic")
    if scope then return scope end
    local q = tostring(args.q):lower():gsub("^#", "")
    local id = HASHTAGS[q] or format("178%014d", hash("tag", q) % 100000000000000)
    world()
    local list = world().hashtag_searches[args.user_id] or {}
    world().hashtag_searches[args.user_id] = list
    local since, seen, unique = K.now() - 7 * 86400, false, {}
    for _, h in ipairs(list) do
      if h.time > since then
        unique[h.id] = true
        if h.id == id then seen = true end
      end
    end
    local count = 0
    for _ in pairs(unique) do count = count + 1 end
    if not seen and count >= 30 then
      return K.fail(24, "You have reached the maximum of 30 unique hashtags in 7 days for this account.",
        "OAuthException", { error_subcode = 2207034, error_user_title = "Hashtag limit reached",
        error_user_msg = "An Instagram account can query at most 30 unique hashtags in a rolling 7-day period." })
    end
    if not seen then list[#list + 1] = { id = id, time = K.now() } end
    if not S().nodes[id] then S().nodes[id] = { type = "ig_hashtag", id = id, name = q } end
    return K.send(200, { data = { { id = id } } })
  end

  kit.ROOT.instagram_oembed = function(method, args)
    if method ~= "GET" then return K.unsupported(method, "instagram_oembed") end
    local e = need(args, "url")
    if e then return e end
    local url = tostring(args.url)
    if not url:match("^https://www%.instagram%.com/") then
      return K.fail(100, "(#100) url must be an Instagram post, reel or profile URL")
    end
    local width = min(tonumber(args.maxwidth) or 658, 658)
    local out = { version = "1.0", author_name = "metricsaurus", provider_name = "Instagram",
      provider_url = "https://www.instagram.com/", type = "rich", width = width,
      html = '<blockquote class="instagram-media" data-instgrm-permalink="' .. url .. '"></blockquote>'
        .. (args.omitscript == "true" and "" or '<script async src="//www.instagram.com/embed.js"></script>'),
      thumbnail_url = "http://127.0.0.1:" .. (ngx.var.emu_http_port or ngx.var.server_port) .. "/__emulator/img/oembed.jpg",
      thumbnail_width = 640, thumbnail_height = 640 }
    if args.fields then
      local picked = {}
      for f in tostring(args.fields):gmatch("[^,]+") do picked[f] = out[f] end
      out = picked
    end
    return K.send(200, out)
  end
end

return _M
