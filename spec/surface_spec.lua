local H = require "spec.helper"
local fields = require "instagram.fields"
local params = require "instagram.params"

local function media_id(i) return ("17918195224%06d"):format(100000 + i) end

describe("IG user wrapper", function()
  local c, user
  before_each(function()
    H.reset()
    c = H.client()
    user = c:ig_user(H.IG_USER_ID)
  end)

  it("reads stories", function()
    local stories = assert(user:stories{ fields = { "id", "media_product_type" } }:all())
    assert.equal(2, #stories)
    assert.equal("STORY", stories[1].media_product_type)
    assert.equal("fields=id%2Cmedia_product_type", H.log()[1].query)
  end)

  it("reads tags, following after cursors on an edge without next", function()
    local tagged = assert(user:tags{ fields = "id,caption", limit = 3 }:all())
    assert.equal(7, #tagged)
    assert.equal(3, #H.log()) -- 3 + 3 + 1: a short page is the last, no request past it
    assert.matches("after=", H.log()[2].query)
  end)

  it("reads live media", function()
    local live = assert(user:live_media():all())
    assert.equal("BROADCAST", live[1].media_type)
    assert.equal("LIVE", live[1].media_product_type)
  end)

  it("reads account insights as a time series and as totals with breakdowns", function()
    local since, untl = 1793000000, 1793000000 + 3 * 86400
    local res = assert(user:insights{ metric = { "reach", "profile_views" }, period = "day", since = since, ["until"] = untl })
    assert.equal(2, #res.data)
    assert.equal("reach", res.data[1].name)
    assert.equal(3, #res.data[1].values)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", res.data[1].values[1].end_time)
    assert.matches("since=" .. untl, res.paging.next)
    local total = assert(user:insights{ metric = "reach", period = "day", metric_type = "total_value",
      breakdown = "media_product_type" })
    local b = total.data[1].total_value.breakdowns[1]
    assert.same({ "media_product_type" }, b.dimension_keys)
    assert.equal(3, #b.results)
  end)

  it("reads demographics with a timeframe, and checks the documented rules before calling", function()
    local res = assert(user:insights{ metric = "follower_demographics", period = "lifetime", metric_type = "total_value",
      timeframe = "this_month", breakdown = "country" })
    assert.same({ "timeframe", "country" }, res.data[1].total_value.breakdowns[1].dimension_keys)
    local n = #H.log()
    assert.has_error(function() user:insights{ period = "day" } end)
    assert.has_error(function() user:insights{ metric = "reach" } end)
    assert.has_error(function() user:insights{ metric = "reach", period = "day", breakdown = "follow_type" } end)
    assert.has_error(function() user:insights{ metric = "follower_demographics", period = "lifetime",
      metric_type = "total_value" } end)
    assert.has_error(function() user:insights{ metric = "follower_demographics", period = "lifetime",
      metric_type = "total_value", timeframe = "this_week", since = 1 } end)
    assert.equal(n, #H.log())
  end)

  it("reports the API's insights errors: unsupported breakdown, removed metric and timeframe", function()
    local _, e1 = user:insights{ metric = "replies", period = "day", metric_type = "total_value", breakdown = "follow_type" }
    assert.equal("An unknown error has occurred.", e1.message)
    local _, e2 = user:insights{ metric = "impressions", period = "day" }
    assert.matches("v22%.0", e2.message)
    local _, e3 = user:insights{ metric = "engaged_audience_demographics", period = "lifetime",
      metric_type = "total_value", timeframe = "last_30_days", breakdown = "age" }
    assert.matches("v20%.0", e3.message)
    -- fewer than 100 followers: the metric is left out, not zero
    local small = assert(c:ig_user("17841405309211844"):insights{ metric = "follower_count,reach", period = "day" })
    assert.equal(1, #small.data)
    assert.equal("reach", small.data[1].name)
  end)

  it("discovers another business account and pages its media through the nested edge", function()
    local bd = assert(user:business_discovery("dinocafe", { "username", "followers_count", "media_count" }))
    assert.same({ id = "17841405309211844", username = "dinocafe", followers_count = 88, media_count = 3 }, bd)
    assert.equal("fields=business_discovery.username%28dinocafe%29%7Busername%2Cfollowers_count%2Cmedia_count%7D",
      H.log()[1].query)
    local pager = user:business_discovery_media("metricsaurus", { "id", "like_count", "view_count" }, { limit = 25 })
    local items = assert(pager:all())
    assert.equal(60, #items)
    assert.is_number(items[1].view_count)
    assert.equal(4, #H.log()) -- the first call, then 25 + 25 + 10: a short page is the last
    local _, err = user:business_discovery("nobody_here")
    assert.equal(110, err.code)
  end)

  it("reads mentioned media and comments by field expansion, and replies to mentions", function()
    local media = assert(user:mentioned_media("17900007000000001", "caption,media_type"))
    assert.matches("@metricsaurus", media.caption)
    local comment = assert(user:mentioned_comment("17873440459141021"))
    assert.equal("Shout out to @metricsaurus", comment.text)
    assert.equal(185, comment.like_count)
    local r1 = assert(user:reply_to_mention{ media_id = "17900007000000001", message = "Thanks!" })
    local r2 = assert(user:reply_to_mention{ media_id = "17900007000000001", comment_id = "17873440459141021",
      message = "Thanks for the shout out" })
    assert.matches("^%d+$", r1.id)
    assert.not_equal(r1.id, r2.id)
    assert.has_error(function() user:reply_to_mention{ message = "x" } end)
  end)

  it("searches hashtags, lists them as recently searched, and enforces 30 per 7 days", function()
    local id = assert(c:hashtag_search(H.IG_USER_ID, "dinos"))
    assert.equal("17843853986012965", id)
    assert.equal("17843853986012965", assert(c:hashtag_search(H.IG_USER_ID, "dinos"))) -- repeats do not count
    local recent = assert(user:recently_searched_hashtags():all())
    assert.same({ { id = "17843853986012965" } }, recent)
    for i = 1, 29 do assert(c:hashtag_search(H.IG_USER_ID, "tag" .. i)) end
    local _, err = c:hashtag_search(H.IG_USER_ID, "one_too_many")
    assert.equal(24, err.code)
    assert.matches("30 unique hashtags", err.message)
    assert(c:hashtag_search(H.IG_USER_ID, "tag7")) -- already counted: still allowed
  end)

  it("reads catalogs, searches products, and appeals a rejected one", function()
    local cats = assert(user:available_catalogs())
    assert.equal("960179311066902", cats.data[1].catalog_id)
    local products = assert(user:catalog_product_search{ catalog_id = "960179311066902", limit = 2 }:all())
    assert.equal(3, #products)
    assert.equal(3231775643511089, products[1].product_id)
    local found = assert(user:catalog_product_search{ catalog_id = "960179311066902", q = "mug" }:all())
    assert.equal("Dino Mug", found[1].product_name)
    local appeal = assert(user:product_appeal{ product_id = 7478222675582505 })
    assert.is_true(appeal.data[1].eligible_for_appeal)
    assert.same({ success = true }, assert(user:appeal_product{ product_id = 7478222675582505,
      appeal_reason = "It is a mug with a dinosaur on it" }))
    assert.equal("pending", assert(user:product_appeal{ product_id = 7478222675582505 }).data[1].review_status)
    assert.matches("product_id=7478222675582505", H.log()[#H.log()].query)
    assert.has_error(function() user:appeal_product{ product_id = 1 } end)
  end)

  it("creates, lists, reads and updates upcoming events", function()
    local ev = assert(user:create_upcoming_event{ title = "Season premier", start_time = "2026-12-11T16:00:00+0000",
      notification_subtypes = { "BEFORE_EVENT_1DAY", "BEFORE_EVENT_15MIN", "EVENT_START" },
      notification_target_time = "EVENT_START" })
    local list = assert(user:upcoming_events():all())
    assert.equal(ev.id, list[1].id)
    assert.equal("Season premier", list[1].title)
    local event = c:upcoming_event(ev.id)
    assert(event:update{ title = "Updated season premier" })
    assert.equal("Updated season premier", assert(event:fetch("title")).title)
    local _, err = user:create_upcoming_event{ title = "x", start_time = "2026-12-11T16:00:00+0000",
      notification_subtypes = { "EVENT_START" } }
    assert.matches("exactly 3", err.message)
    assert.has_error(function() user:create_upcoming_event{ title = "no time" } end)
  end)

  it("reads and creates Threads users", function()
    local connected = assert(user:connected_threads_user{ fields = "threads_user_id" })
    assert.matches("^%d+$", connected.data[1].threads_user_id)
    assert.same({}, assert(user:instagram_backed_threads_user()).data)
    local made = assert(user:create_instagram_backed_threads_user())
    assert.matches("^%d+$", made.data[1].threads_user_id)
  end)

  it("discovers creators and reads a creator's insights", function()
    local creators = assert(user:creator_marketplace_creators{ creator_countries = { "BR", "US" },
      creator_min_followers = 10000, creator_max_followers = 50000 }:all())
    assert.equal(3, #creators)
    assert.equal('["BR","US"]', params.decode(H.log()[1].query).creator_countries)
    local ins = assert(user:creator_insights("creator_1",
      fields.edge("insights", { { "metrics", "creator_reach" }, { "breakdown", "follow_type" } })))
    assert.equal("creator_1", ins.data[1].username)
    assert.equal("fields=insights.metrics%28creator_reach%29.breakdown%28follow_type%29&username=creator_1",
      H.log()[#H.log()].query)
    local _, err = user:creator_marketplace_creators{ creator_min_followers = 50000, creator_max_followers = 10000 }:all()
    assert.matches("Invalid Parameter Input", err.message)
  end)

  it("lists agencies and authorized ad accounts", function()
    assert.equal("Raptor Agency", assert(user:agencies():all())[1].name)
    assert.equal("act_1234567890", assert(user:authorized_adaccounts():all())[1].id)
  end)

  it("sends one private reply to a commenter, as JSON", function()
    local res = assert(user:private_reply("17873440459141021", "Thanks, here is your code"))
    assert.equal("17841400000000777", res.recipient_id)
    local r = H.requests("/messages$")[1]
    assert.equal("application/json", r.headers["content-type"])
    assert.matches('"recipient":{"comment_id":"17873440459141021"}', r.body, 1, true)
    local _, err = user:private_reply("17873440459141021", "again")
    assert.matches("one private reply", err.message)
  end)
end)

describe("IG media wrapper", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("fetches fields, children and collaborators", function()
    local m = c:ig_media(media_id(3))
    assert.equal("CAROUSEL_ALBUM", assert(m:fetch{ "media_type" }).media_type)
    local kids = assert(m:children{ fields = "id,media_type" }:all())
    assert.equal(3, #kids)
    assert.equal("VIDEO", kids[3].media_type)
    local collab = assert(c:ig_media(media_id(1)):collaborators():all())
    assert.same({ "Accepted", "Pending" }, { collab[1].invite_status, collab[2].invite_status })
  end)

  it("expands nested edges in fields", function()
    local m = assert(c:ig_media(media_id(1)):fetch(fields.build{ "id",
      fields.edge("comments", { limit = 2 }, { "id", "text" }) }))
    assert.equal(2, #m.comments.data)
    assert.is_string(m.comments.paging.cursors.after)
  end)

  it("reads media insights by media type, with breakdowns", function()
    local feed = assert(c:ig_media(media_id(1)):insights{ metric = { "reach", "likes", "saved" } })
    assert.equal(3, #feed.data)
    assert.equal("lifetime", feed.data[1].period)
    local prof = assert(c:ig_media(media_id(1)):insights{ metric = "profile_activity", breakdown = "action_type" })
    assert.same({ "action_type" }, prof.data[1].total_value.breakdowns[1].dimension_keys)
    local reel = c:ig_media(media_id(2)) -- a REELS fixture
    assert(reel:insights{ metric = "ig_reels_avg_watch_time" })
    local _, e1 = reel:insights{ metric = "plays" }
    assert.matches("v22%.0", e1.message)
    local _, e2 = c:ig_media(media_id(1)):insights{ metric = "reach", breakdown = "action_type" }
    assert.equal("An unknown error has occurred.", e2.message)
  end)

  it("reports too few story viewers as code 10", function()
    local stories = assert(c:ig_user(H.IG_USER_ID):stories():all())
    assert(c:ig_media(stories[1].id):insights{ metric = "reach" })
    local _, err = c:ig_media(stories[2].id):insights{ metric = "reach" }
    assert.equal(10, err.code)
    assert.matches("Not enough viewers", err.message)
  end)

  it("turns comments off and on", function()
    local m = c:ig_media(media_id(1))
    assert.same({ success = true }, assert(m:set_comment_enabled(false)))
    assert.is_false(assert(m:fetch("is_comment_enabled")).is_comment_enabled)
    assert(m:set_comment_enabled(true))
    assert.is_true(assert(m:fetch("is_comment_enabled")).is_comment_enabled)
    assert.equal("comment_enabled=true", H.log()[#H.log() - 1].body)
    assert.has_error(function() m:set_comment_enabled("yes") end)
  end)

  it("reads and updates product tags (at most 5)", function()
    local m = c:ig_media(media_id(1))
    local tags = assert(m:product_tags()).data
    assert.equal(3231775643511089, tags[1].product_id)
    assert(m:update_product_tags{ { product_id = 3231775643511089, x = 0.3, y = 0.4 } })
    assert.has_error(function() m:update_product_tags{ {}, {}, {}, {}, {}, {} } end)
  end)

  it("reads copyright information", function()
    local info = assert(c:ig_media(media_id(2)):copyright_check())
    assert.is_true(info.status.matches_found)
    assert.equal("AUDIO", info.copyright_matches[1].matched_segments[1].segment_type)
    assert.is_false(assert(c:ig_media(media_id(1)):copyright_check()).status.matches_found)
  end)
end)

describe("IG comment wrapper", function()
  local c, m
  before_each(function()
    H.reset()
    c = H.client()
    m = c:ig_media(media_id(1))
  end)

  it("creates a comment that then appears in comments", function()
    local res = assert(m:comment("What a fact!"))
    local first = assert(m:comments{ fields = "id,text", max_items = 1 }:all())[1]
    assert.equal(res.id, first.id)
    assert.equal("What a fact!", first.text)
  end)

  it("replies, lists replies, hides, unhides and deletes", function()
    local comment = c:ig_comment(assert(m:comments{ max_items = 1 }:all())[1].id)
    local reply = assert(comment:reply("Thanks!"))
    local replies = assert(comment:replies{ fields = "id,text,parent_id" }:all())
    assert.equal(reply.id, replies[1].id)
    assert.equal(comment.id, replies[1].parent_id)
    assert.same({ success = true }, assert(comment:hide()))
    assert.is_true(assert(comment:fetch("hidden")).hidden)
    assert(comment:unhide())
    assert.is_false(assert(comment:fetch("hidden")).hidden)
    assert.same({ success = true }, assert(comment:delete()))
    local _, err = comment:fetch()
    assert.equal(100, err.code)
    for _, x in ipairs(assert(m:comments():all())) do assert.not_equal(comment.id, x.id) end
  end)

  it("needs instagram_manage_comments (code 10 without it)", function()
    local limited = H.client{ access_token = "EMU-LIMITED-TOKEN" }
    local _, err = limited:ig_media(media_id(1)):comment("hi")
    assert.equal(10, err.code)
  end)
end)

describe("IG hashtag wrapper", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("reads a hashtag and pages its top and recent media despite the repeating cursor", function()
    local tag = c:ig_hashtag(assert(c:hashtag_search(H.IG_USER_ID, "dinos")))
    assert.equal("dinos", assert(tag:fetch()).name)
    local top = assert(tag:top_media(H.IG_USER_ID, { limit = 50 }):all())
    assert.equal(80, #top)
    assert.is_true(top[1].like_count >= top[2].like_count)
    local pages = 0
    for _, page in tag:recent_media(H.IG_USER_ID, { limit = 30 }):pages() do
      pages = pages + 1
      assert.equal("QVFIUjhOZAWhastag", page.paging.cursors.after)
    end
    assert.equal(3, pages)
    assert.has_error(function() tag:top_media() end)
  end)
end)

describe("Page, me, containers and oEmbed", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("reads the Page's IG account and Page-backed accounts", function()
    assert.same({ id = H.IG_USER_ID }, assert(c:page(H.PAGE_ID):instagram_business_account()))
    local none, err = c:page("134895793791916"):instagram_business_account()
    assert.is_nil(err)
    assert.is_false(none)
    local backed = assert(H.client{ access_token = "EMU-PAGE-TOKEN-" .. H.PAGE_ID }:page(H.PAGE_ID)
      :page_backed_instagram_accounts():all())
    assert.equal("17841400000000099", backed[1].id)
  end)

  it("reads me and my Pages", function()
    assert.equal("Emu Lator", assert(c:me():fetch("id,name")).name)
    local pages = assert(c:me():accounts{ fields = "id,name,tasks" }:all())
    assert.equal(3, #pages)
    assert.same({ "ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE" }, pages[1].tasks)
  end)

  it("reads a container's status and copyright check", function()
    local ct = assert(c:ig_user(H.IG_USER_ID):create_container{ image_url = "https://cdn.example/a.jpg" })
    local box = c:ig_container(ct.id)
    assert.equal("FINISHED", assert(box:status()).status_code)
    assert.same({ status = "completed", matches_found = false }, assert(box:copyright_check_status()))
    assert(box:wait{ interval = 0.01 })
  end)

  it("gets oEmbed HTML for a post", function()
    local e = assert(c:oembed("https://www.instagram.com/p/fA9uwTtkSN/", { maxwidth = 320, omitscript = true }))
    assert.equal("rich", e.type)
    assert.equal(320, e.width)
    assert.matches('instagram%-media', e.html)
    assert.not_matches("embed%.js", e.html)
    local _, err = c:oembed("https://example.com/x")
    assert.equal(100, err.code)
  end)

  it("reads node metadata", function()
    local meta = assert(c:metadata(H.IG_USER_ID))
    assert.equal("IGUser", meta.metadata.type)
    assert.is_true(#meta.metadata.fields > 5)
  end)
end)

describe("fields builder", function()
  it("builds nested edges with modifiers", function()
    assert.equal("id,caption,media.limit(5){id,caption}",
      fields.build{ "id", "caption", fields.edge("media", { limit = 5 }, { "id", "caption" }) })
    assert.equal("business_discovery.username(bluebottle){followers_count,media{comments_count,like_count}}",
      fields.edge("business_discovery", { username = "bluebottle" },
        { "followers_count", fields.edge("media", nil, { "comments_count", "like_count" }) }))
    assert.equal("insights.metrics(creator_reach).breakdown(follow_type)",
      fields.edge("insights", { { "metrics", "creator_reach" }, { "breakdown", "follow_type" } }))
    assert.equal("a.after(QVF).limit(2)", fields.edge("a", { limit = 2, after = "QVF" }))
  end)

  it("refuses what would break the grammar", function()
    assert.has_error(function() fields.edge("bad name") end)
    assert.has_error(function() fields.edge("a", { limit = "1)" }) end)
    assert.has_error(function() fields.build{ 1 } end)
    assert.has_error(function() fields.build(42) end)
  end)
end)
