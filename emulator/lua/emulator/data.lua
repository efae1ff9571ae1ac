--- The emulator's world: one Facebook user, three Pages, two IG professional accounts and a
-- Page-backed one, 60 media with comments, and product tags with 16-digit product ids.
-- Built afresh by reset(); everything the API changes lives in these tables.
local format, date = string.format, os.date

local _M = {}

_M.APP_ID = "442224939723604"
_M.APP_SECRET = "emulator-app-secret"
_M.USER_ID = "10158000000000001"
_M.IG_USER_ID = "17841405822304914"
_M.IG_USER2_ID = "17841405309211844"
_M.PAGE_BACKED_ID = "17841400000000099"
_M.MEDIA_COUNT = 60
_M.EPOCH = 1793534400 -- 2026-11-01T12:00:00+0000: the newest media's time

local ALL_SCOPES = {
  "instagram_basic", "instagram_content_publish", "instagram_manage_comments",
  "instagram_manage_insights", "instagram_shopping_tag_products", "pages_show_list",
  "pages_read_engagement", "business_management", "catalog_management",
}

function _M.iso(t) return date("!%Y-%m-%dT%H:%M:%S+0000", t) end

local function media_id(i) return format("17918195224%06d", 100000 + i) end
local function comment_id(i, j) return format("17870913679%03d%03d", i, j) end
_M.media_id, _M.comment_id = media_id, comment_id

local TYPES = { "IMAGE", "VIDEO", "CAROUSEL_ALBUM" }

function _M.reset()
  local nodes, tokens = {}, {}
  local s = { nodes = nodes, tokens = tokens, media_of = {}, comments_of = {}, accounts = {}, codes = {},
              containers = {}, published = {}, stories_of = {} }

  tokens["EMU-USER-TOKEN"] = { kind = "user", id = _M.USER_ID, scopes = ALL_SCOPES }
  tokens["EMU-LIMITED-TOKEN"] = { kind = "user", id = _M.USER_ID, scopes = { "pages_show_list" } }
  tokens["EMU-EXPIRED-TOKEN"] = { kind = "user", id = _M.USER_ID, scopes = ALL_SCOPES, expired = true }

  nodes[_M.USER_ID] = { type = "user", id = _M.USER_ID, name = "Emu Lator" }

  local pages = {
    { id = "134895793791914", name = "Metricsaurus", category = "Software", ig = _M.IG_USER_ID,
      backed = { _M.PAGE_BACKED_ID } },
    { id = "134895793791915", name = "Dino Cafe", category = "Cafe", ig = _M.IG_USER2_ID, backed = {} },
    { id = "134895793791916", name = "No Instagram Here", category = "Community", backed = {} },
  }
  for _, p in ipairs(pages) do
    local token = "EMU-PAGE-TOKEN-" .. p.id
    tokens[token] = { kind = "page", id = p.id, scopes = ALL_SCOPES }
    nodes[p.id] = {
      type = "page", id = p.id, name = p.name, category = p.category, access_token = token,
      category_list = { { id = "2211", name = p.category } },
      tasks = { "ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE" },
      instagram_business_account = p.ig and { id = p.ig } or nil,
      has_transitioned_to_new_page_experience = true,
      backed = p.backed,
    }
    s.accounts[#s.accounts + 1] = p.id
  end

  nodes[_M.IG_USER_ID] = {
    type = "ig_user", id = _M.IG_USER_ID, username = "metricsaurus", name = "Metricsaurus",
    biography = "Dino data crunching app", website = "http://www.metricsaurus.com/",
    followers_count = 1520, follows_count = 17, media_count = _M.MEDIA_COUNT, has_profile_pic = true,
    profile_picture_url = "/__emulator/img/metricsaurus.jpg",
    shopping_product_tag_eligibility = true, alt_text = nil,
  }
  nodes[_M.IG_USER2_ID] = {
    type = "ig_user", id = _M.IG_USER2_ID, username = "dinocafe", name = "Dino Cafe",
    biography = "Coffee for large lizards", website = "https://dino.cafe/", followers_count = 88,
    follows_count = 5, media_count = 3, has_profile_pic = false,
  }
  nodes[_M.PAGE_BACKED_ID] = {
    type = "ig_user", id = _M.PAGE_BACKED_ID, is_published = false,
    legacy_instagram_user_id = "2009876543210987", page_backed = true,
  }

  local function add_media(owner, i, count)
    local id = media_id(i + (owner == _M.IG_USER2_ID and 500 or 0))
    local t = _M.EPOCH - (i - 1) * 86400
    local kind = TYPES[(i - 1) % 3 + 1]
    local m = {
      type = "ig_media", id = id, owner_id = owner, created = t,
      caption = format("Dino fact #%d: %s", i, i % 2 == 0 and "T. rex had tiny arms #dinos" or "Sauropods were huge @dinocafe"),
      media_type = kind, media_product_type = kind == "VIDEO" and "REELS" or "FEED",
      -- Paths under /__emulator/img/ are served by the emulator itself (placeholder pictures);
      -- they are made absolute when rendered.
      media_url = format("/__emulator/img/%s.%s", id, kind == "VIDEO" and "mp4" or "jpg"),
      thumbnail_url = kind == "VIDEO" and format("/__emulator/img/%s_thumb.jpg", id) or nil,
      permalink = format("https://www.instagram.com/p/EMU%05d/", i), shortcode = format("EMU%05d", i),
      timestamp = _M.iso(t), username = nodes[owner].username, like_count = (i * 7) % 101,
      is_comment_enabled = true, is_shared_to_feed = kind == "VIDEO" or nil,
      legacy_instagram_media_id = format("2%018d", i),
    }
    nodes[id] = m
    local list = s.media_of[owner] or {}
    s.media_of[owner] = list
    list[#list + 1] = id
    local comments = {}
    s.comments_of[id] = comments
    for j = 1, count do
      local cid = comment_id(i % 1000, j)
      nodes[cid] = {
        type = "ig_comment", id = cid, media_id = id, text = format("Comment %d on fact #%d", j, i),
        timestamp = _M.iso(t + j * 60), username = "fan_" .. j, like_count = j % 4, hidden = false,
        from = { id = format("1784140%010d", j), username = "fan_" .. j },
      }
      table.insert(comments, 1, cid) -- newest first, as v3.2+ returns them
    end
  end
  for i = 1, _M.MEDIA_COUNT do add_media(_M.IG_USER_ID, i, i == 1 and 7 or i % 3) end
  for i = 1, 3 do add_media(_M.IG_USER2_ID, i, 1) end

  -- Product tags on the first media: ids as bare 16-digit JSON numbers, as the Graph API reference shows them.
  nodes[media_id(1)].product_tags = {
    { product_id = 3231775643511089, merchant_id = 7478222675582505, name = "Dino T-shirt",
      price_string = "$25.00", stripped_price_string = "$25", image_url = "https://scontent.example/shirt.jpg",
      review_status = "approved", is_checkout = true, x = 0.5, y = 0.80000001192093 },
  }
  return s
end

return _M
