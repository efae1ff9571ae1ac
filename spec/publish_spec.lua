local H = require "spec.helper"
local core = require "instagram.core"

local FAST = { interval = 0.01, max_interval = 0.02, timeout = 5 }

describe("publishing", function()
  local c, user, slept
  setup(function()
    os.execute("mkdir -p build && head -c 200000 /dev/urandom > build/publish-clip.mp4")
  end)
  before_each(function()
    H.reset()
    slept = 0
    c = H.client{ rupload_url = H.graph_url, sleep = function(d) slept = slept + d end }
    user = c:ig_user(H.IG_USER_ID)
  end)

  local function paths()
    local out = {}
    for _, r in ipairs(H.log()) do out[#out + 1] = r.method .. " " .. r.path:gsub("^/v24%.0", "") end
    return out
  end

  it("publishes a single image with alt text, user tags, location, collaborators", function()
    local res, err = user:publish_image{ image_url = "https://cdn.example/dino.jpg", caption = "Roar #dinos @dinocafe",
      alt_text = "A green dinosaur", user_tags = { { username = "dinocafe", x = 0.5, y = 0.8 } },
      location_id = "134895793791914", collaborators = { "dinocafe" }, wait = FAST,
      fields = "id,media_type,media_product_type,caption,alt_text" }
    assert.is_nil(err)
    assert.matches("^%d+$", res.id)
    assert.equal("IMAGE", res.media_type)
    assert.equal("FEED", res.media_product_type)
    assert.equal("Roar #dinos @dinocafe", res.caption)
    assert.equal("A green dinosaur", res.alt_text)
    local sequence = paths()
    local first = assert(user:media{ max_items = 1 }:all())[1]
    assert.equal(res.id, first.id)
    local create = H.requests("/media$")[1]
    assert.equal("POST", create.method)
    local body = require("instagram.params").decode(create.body)
    assert.equal('[{"username":"dinocafe","x":0.5,"y":0.8}]', body.user_tags)
    assert.equal('["dinocafe"]', body.collaborators)
    assert.same({ "POST /17841405822304914/media", "GET /" .. res.container_id,
      "GET /17841405822304914/content_publishing_limit", "POST /17841405822304914/media_publish",
      "GET /" .. res.id }, sequence)
  end)

  it("answers a published post even when reading its fields fails (fields_error), so nobody posts twice", function()
    local res, err = user:publish_image{ image_url = "https://cdn.example/x.jpg", fields = "id,permalnk" }
    assert.is_nil(err)
    assert.is_string(res.id)
    assert.is_string(res.container_id)
    assert.equal(100, res.fields_error.code)
    assert.equal(1, #H.requests("/media_publish$"))
  end)

  it("ends a wait with interval 0 at its timeout, counting the polls' own time; refuses a negative one", function()
    H.config{ processing_polls = 1000000, rate_limit = { limit = 1000000 } }
    local ct = assert(user:create_container{ media_type = "REELS", video_url = "https://cdn.example/v.mp4" })
    local t0 = core.now()
    local res, err = c:wait_for_container(ct.id, { interval = 0, timeout = 0.3 })
    assert.is_nil(res)
    assert.equal("timeout", err.reason)
    assert.is_true(core.now() - t0 < 5)
    assert.has_error(function() c:wait_for_container(ct.id, { timeout = -5 }) end,
      "wait_for_container: option 'opts.timeout' must be a number of seconds from 0 to 86400")
    assert.has_error(function() user:publish_image{ image_url = "https://cdn.example/x.jpg", wait = { interval = -1 } } end)
  end)

  it("checks the flow's own options before any call: a mistake never leaves a container behind", function()
    local clip = "build/publish-clip.mp4"
    local cases = {
      { function() user:publish_reel{ file = clip, progress = 5 } end,
        "publish_video: option 'progress' must be a function(sent, total), got number" },
      { function() user:publish_image{ image_url = "https://cdn.example/x.jpg", check_quota = "no" } end,
        "publish_image: option 'check_quota' must be a boolean, got string" },
      { function() user:publish_story{ image_url = "https://cdn.example/x.jpg", fields = 5 } end,
        "publish_story: option 'fields' must be a string or a list of names, got number" },
      { function() user:publish_image{ image_url = "https://cdn.example/x.jpg", fields = { "id", 7 } } end, nil },
      { function() c:upload_video("17890000000000001", clip, { max_attempts = "3" }) end,
        "upload_video: opts.max_attempts must be a whole number, 1 or more (got 3)" },
      { function() c:upload_video("17890000000000001", clip, { max_attempts = 0 }) end,
        "upload_video: opts.max_attempts must be a whole number, 1 or more (got 0)" },
      { function() c:upload_video("17890000000000001", clip, { offset = -1 }) end,
        "upload_video: opts.offset must be a whole number, 0 or more (got -1)" },
      { function() c:upload_video("17890000000000001", clip, { retry_base = "1" }) end,
        "upload_video: opts.retry_base must be a number of seconds from 0 to 86400 (got 1)" },
      { function() c:upload_video("17890000000000001", clip, { retry_cap = 1 / 0 }) end, nil },
    }
    for _, case in ipairs(cases) do
      if case[2] then assert.has_error(case[1], case[2]) else assert.has_error(case[1]) end
    end
    assert.same({}, paths()) -- nothing was sent
  end)

  it("publishes a reel from a URL with its documented options", function()
    local res = assert(user:publish_video{ video_url = "https://cdn.example/reel.mp4", caption = "Reel!",
      share_to_feed = true, cover_url = "https://cdn.example/cover.jpg", thumb_offset = 1500,
      audio_name = "Dino song", trial_params = { graduation_strategy = "MANUAL" }, wait = FAST,
      fields = "media_type,media_product_type" })
    assert.equal("VIDEO", res.media_type)
    assert.equal("REELS", res.media_product_type)
    local body = require("instagram.params").decode(H.requests("/media$")[1].body)
    assert.same({ "REELS", "true", "1500", '{"graduation_strategy":"MANUAL"}', "Dino song" },
      { body.media_type, body.share_to_feed, body.thumb_offset, body.trial_params, body.audio_name })
    assert.is_true(slept > 0) -- it waited for processing
  end)

  it("publishes a reel from a local file through the resumable upload", function()
    local sent
    local res = assert(user:publish_reel{ file = "build/publish-clip.mp4", caption = "From disk",
      progress = function(s, t) sent = { s, t } end, wait = FAST })
    assert.same({ 200000, 200000 }, sent)
    assert.is_string(res.id)
    local body = require("instagram.params").decode(H.requests("/media$")[1].body)
    assert.equal("resumable", body.upload_type)
    assert.equal(1, #H.requests("ig%-api%-upload"))
  end)

  it("publishes image and video stories, which stay out of /media", function()
    local img = assert(user:publish_story{ image_url = "https://cdn.example/story.jpg", wait = FAST,
      fields = "media_product_type,media_type" })
    assert.equal("STORY", img.media_product_type)
    assert.equal("IMAGE", img.media_type)
    local vid = assert(user:publish_story{ file = "build/publish-clip.mp4", wait = FAST, fields = "media_type" })
    assert.equal("VIDEO", vid.media_type)
    local first = assert(user:media{ max_items = 1 }:all())[1]
    assert.not_equal(img.id, first.id)
    assert.not_equal(vid.id, first.id)
  end)

  it("publishes a carousel of mixed children", function()
    local res = assert(user:publish_carousel{ caption = "Three facts", wait = FAST, fields = "media_type", children = {
      { image_url = "https://cdn.example/1.jpg", alt_text = "one" },
      { video_url = "https://cdn.example/2.mp4" },
      { file = "build/publish-clip.mp4" },
    } })
    assert.equal("CAROUSEL_ALBUM", res.media_type)
    local creates = H.requests("/media$")
    assert.equal(4, #creates)
    local params = require "instagram.params"
    for i = 1, 3 do assert.equal("true", params.decode(creates[i].body).is_carousel_item) end
    local parent = params.decode(creates[4].body)
    assert.equal("CAROUSEL", parent.media_type)
    assert.matches('^%["%d+","%d+","%d+"%]$', parent.children)
  end)

  it("surfaces a container that ends in ERROR with its status text", function()
    local res, err = user:publish_video{ video_url = "https://cdn.example/broken.mov", wait = FAST }
    assert.is_nil(res)
    assert.equal("publish", err.kind)
    assert.equal("container_error", err.reason)
    assert.matches("2207026", err.container_status)
    assert.equal(2207026, err.subcode)
    assert.equal(0, #H.requests("media_publish"))
  end)

  it("surfaces an EXPIRED container", function()
    local ct = assert(user:create_container{ image_url = "https://cdn.example/late.jpg" })
    H.config{ clock_offset = 86401 }
    local ok, err = c:wait_for_container(ct.id, FAST)
    assert.is_nil(ok)
    assert.equal("container_expired", err.reason)
    local _, perr = user:media_publish(ct.id)
    assert.equal(2207020, perr.subcode)
  end)

  it("gives up waiting after the timeout with a clear error", function()
    H.config{ processing_polls = 1000 }
    local ct = assert(user:create_container{ media_type = "REELS", video_url = "https://cdn.example/slow.mp4" })
    local ok, err = c:wait_for_container(ct.id, { interval = 0.01, timeout = 0.05 })
    assert.is_nil(ok)
    assert.equal("timeout", err.reason)
    assert.matches("IN_PROGRESS", err.message)
  end)

  it("enforces the containers-per-24-hours limit", function()
    H.config{ container_limit = 2 }
    assert(user:create_container{ image_url = "https://cdn.example/1.jpg" })
    assert(user:create_container{ image_url = "https://cdn.example/2.jpg" })
    local _, err = user:create_container{ image_url = "https://cdn.example/3.jpg" }
    assert.equal(9, err.code)
    assert.matches("limit is 2", err.message)
    H.config{ clock_offset = 86401 } -- a day later the window has moved on
    assert(user:create_container{ image_url = "https://cdn.example/4.jpg" })
  end)

  it("reports a publish before the container is ready (9007/2207027)", function()
    local ct = assert(user:create_container{ media_type = "REELS", video_url = "https://cdn.example/r.mp4" })
    local _, err = user:media_publish(ct.id)
    assert.equal(9007, err.code)
    assert.equal(2207027, err.subcode)
  end)

  it("exposes content_publishing_limit and refuses to publish over the quota", function()
    H.config{ publish_quota = 1 }
    local lim = assert(user:content_publishing_limit())
    assert.same({ quota_usage = 0, config = { quota_total = 1, quota_duration = 86400 } }, lim)
    assert(user:publish_image{ image_url = "https://cdn.example/a.jpg", wait = FAST })
    assert.equal(1, assert(user:content_publishing_limit{ fields = "quota_usage" }).quota_usage)
    local res, err = user:publish_image{ image_url = "https://cdn.example/b.jpg", wait = FAST }
    assert.is_nil(res)
    assert.equal("publish", err.kind)
    assert.equal("quota", err.reason)
    assert.matches("1 of its 1 posts", err.message)
    assert.equal(1, #H.requests("media_publish"))
    -- without the local check, the API's own answer comes back
    local _, err2 = user:publish_image{ image_url = "https://cdn.example/c.jpg", wait = FAST, check_quota = false }
    assert.equal(9, err2.code)
    assert.equal(2207042, err2.subcode)
  end)

  describe("checks the documented limits before any call", function()
    local function refuses(fn, pattern)
      local ok, msg = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, msg)
      assert.equal(0, #H.log(), "a request was made")
    end
    local img = "https://cdn.example/x.jpg"

    it("caption length, hashtags and mentions", function()
      refuses(function() user:publish_image{ image_url = img, caption = ("é"):rep(2201) } end, "2,200")
      local tags = {}
      for i = 1, 31 do tags[i] = "#tag" .. i end
      refuses(function() user:publish_image{ image_url = img, caption = table.concat(tags, " ") } end, "31 hashtags")
      local at = {}
      for i = 1, 21 do at[i] = "@user" .. i end
      refuses(function() user:publish_image{ image_url = img, caption = table.concat(at, " ") } end, "21 @ mentions")
      assert(user:publish_image{ image_url = img, caption = ("é"):rep(2200), wait = FAST }) -- characters, not bytes
    end)

    it("alt text, user tags, collaborators, product tags", function()
      refuses(function() user:publish_image{ image_url = img, alt_text = ("a"):rep(1001) } end, "1,000")
      local many = {}
      for i = 1, 21 do many[i] = { username = "u" .. i, x = 0.1, y = 0.1 } end
      refuses(function() user:publish_image{ image_url = img, user_tags = many } end, "21 tags")
      refuses(function() user:publish_image{ image_url = img, user_tags = { { username = "u", x = 1.5, y = 0 } } } end,
        "0%.0 to 1%.0")
      refuses(function() user:publish_image{ image_url = img, user_tags = { { username = "u" } } } end, "0%.0 to 1%.0")
      refuses(function() user:publish_image{ image_url = img, collaborators = { "a", "b", "c", "d" } } end, "limit is 3")
      local pt = {}
      for i = 1, 21 do pt[i] = { product_id = 3231775643511089, x = 0.5, y = 0.5 } end
      refuses(function() user:publish_image{ image_url = img, product_tags = pt } end, "limit here is 20")
      refuses(function() user:publish_video{ video_url = "https://cdn.example/v.mp4",
        product_tags = { { product_id = "1", x = 0.1, y = 0.1 } } } end, "no x/y")
    end)

    it("carousel size and children", function()
      refuses(function() user:publish_carousel{ children = { { image_url = img } } } end, "2 to 10 items, got 1")
      local eleven = {}
      for i = 1, 11 do eleven[i] = { image_url = img } end
      refuses(function() user:publish_carousel{ children = eleven } end, "got 11")
      refuses(function() user:publish_carousel{ children = { { image_url = img }, { caption = "x" } } } end,
        "unknown option 'children%[2%]%.caption' %(known: alt_text, file, image_url, product_tags, user_tags, video_url%)")
      refuses(function() user:publish_carousel{ children = { { image_url = img }, { video_url = img, alt_text = "a" } } } end,
        "images only")
      local six = {}
      for i = 1, 6 do six[i] = { product_id = "1", x = 0.1, y = 0.1 } end
      refuses(function() user:publish_carousel{ children = { { image_url = img, product_tags = six }, { image_url = img } } } end,
        "limit here is 5")
    end)

    it("URLs, files and option types", function()
      refuses(function() user:publish_image{} end, "image_url: is required")
      refuses(function() user:publish_image{ image_url = "cdn.example/x.jpg" } end, "http%(s%) URL")
      refuses(function() user:publish_image{ image_url = "https://cdn.example/dïno.jpg" } end, "US%-ASCII")
      refuses(function() user:publish_video{} end, "exactly one of video_url or file")
      refuses(function() user:publish_video{ video_url = img, file = "x" } end, "exactly one")
      refuses(function() user:publish_video{ file = "build/none.mp4" } end, "cannot read")
      os.execute("truncate -s 301M build/too-big.mp4")
      refuses(function() user:publish_video{ file = "build/too-big.mp4" } end, "at most 300 MB")
      os.remove("build/too-big.mp4")
      refuses(function() user:publish_video{ video_url = img, thumb_offset = -1 } end, "thumb_offset")
      refuses(function() user:publish_video{ video_url = img, share_to_feed = "yes" } end, "boolean")
      refuses(function() user:publish_video{ video_url = img, media_type = "STORIES" } end, "REELS or VIDEO")
      refuses(function() user:publish_story{ image_url = img, video_url = img } end, "exactly one")
      refuses(function() user:publish_image{ image_url = img, colour = "red" } end, "unknown option 'colour'")
      refuses(function() user:publish_image{ image_url = img, location_id = "Paris" } end, "location_id")
    end)
  end)

  it("never puts the token in a URL while publishing", function()
    assert(user:publish_story{ file = "build/publish-clip.mp4", wait = FAST })
    for _, r in ipairs(H.log()) do
      assert.not_matches(H.token, r.uri, 1, true)
    end
    assert.is_string(core._VERSION)
  end)
end)
