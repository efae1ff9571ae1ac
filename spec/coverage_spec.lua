-- Keeps spec/coverage.lua honest: every documented operation names a wrapper that exists and a
-- spec that is there word for word; and every public method of the wrappers is either in the
-- table or a documented helper built on the covered operations.
local H = require "spec.helper"
local instagram = require "instagram"
local coverage = require "spec.coverage"

local CLASSES = {
  Me = require("instagram.node.misc").Me,
  IGContainer = require("instagram.node.misc").Container,
  Event = require("instagram.node.misc").Event,
  Page = require("instagram.node.page").Page,
  IGUser = require("instagram.node.ig_user").User,
  IGMedia = require("instagram.node.ig_media").Media,
  IGComment = require("instagram.node.ig_comment").Comment,
  IGHashtag = require("instagram.node.ig_hashtag").Hashtag,
  Client = getmetatable(instagram.new{}).__index,
  FBLogin = getmetatable(instagram.oauth.facebook{ app_id = "1" }).__index,
  IGLogin = getmetatable(instagram.oauth.instagram{ app_id = "1" }).__index,
  webhook = instagram.webhook,
}

-- Public methods that are not one operation each: flows and conveniences over covered ones.
local HELPERS = {
  ["IGUser:business_discovery_media"] = "pages business_discovery's nested media (covered op)",
  ["IGUser:create_container"] = "POST /{ig-user-id}/media as given (the create_* operations)",
  ["IGUser:publish_image"] = true, ["IGUser:publish_video"] = true, ["IGUser:publish_story"] = true,
  ["IGUser:publish_carousel"] = true, ["IGUser:publish_reel"] = true,
  ["IGComment:unhide"] = "hide(false)",
  ["IGContainer:wait"] = "polls IGContainer:status",
}

local function read(path)
  local f = assert(io.open(path, "r"), "missing " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

describe("coverage table", function()
  it("lists every documented operation once", function()
    local seen = {}
    for _, op in ipairs(coverage) do
      assert.is_nil(seen[op.id], "listed twice: " .. op.id)
      seen[op.id] = true
      assert.is_string(op.method)
      assert.is_string(op.path)
    end
    assert.equal(80, #coverage)
  end)

  it("names wrappers that exist and specs that are there, for every in-scope operation", function()
    local specs = {}
    for _, op in ipairs(coverage) do
      if op.out_of_scope then
        assert.is_string(op.out_of_scope)
      else
        local class, method = op.wrapper:match("^(%w+):([%w_]+)$")
        assert.is_table(CLASSES[class], "unknown wrapper class in " .. op.wrapper)
        assert.is_function(CLASSES[class][method], "no such wrapper method: " .. op.wrapper .. " (" .. op.id .. ")")
        specs[op.spec] = specs[op.spec] or read(op.spec)
        assert.is_truthy(specs[op.spec]:find('it("' .. op.test .. '"', 1, true),
          op.id .. ": no test named '" .. op.test .. "' in " .. op.spec)
      end
    end
  end)

  it("accounts for every public method of the node wrappers", function()
    local listed = {}
    for _, op in ipairs(coverage) do if op.wrapper then listed[op.wrapper] = true end end
    for _, class in ipairs{ "Me", "IGContainer", "Event", "Page", "IGUser", "IGMedia", "IGComment", "IGHashtag" } do
      for name, v in pairs(CLASSES[class]) do
        local key = class .. ":" .. name
        -- fetch is every node's GET /{id}?fields=; new and path are plumbing
        if type(v) == "function" and not name:match("^_") and name ~= "new" and name ~= "path" and name ~= "fetch" then
          assert.is_truthy(listed[key] or HELPERS[key], key .. " is neither in spec/coverage.lua nor a helper")
        end
      end
    end
  end)
end)

describe("operations covered here", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("reads shopping_product_tag_eligibility", function()
    local u = assert(c:ig_user(H.IG_USER_ID):fetch{ "shopping_product_tag_eligibility" })
    assert.is_true(u.shopping_product_tag_eligibility)
  end)

  it("publishes a video story from a URL", function()
    local res = assert(c:ig_user(H.IG_USER_ID):publish_story{ video_url = "https://cdn.example/story.mp4",
      wait = { interval = 0.01 }, fields = "media_product_type,media_type" })
    assert.equal("STORY", res.media_product_type)
    assert.equal("VIDEO", res.media_type)
  end)
end)
