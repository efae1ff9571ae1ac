-- Publishing and the error machinery against a hostile server and hostile input (stub transports):
-- what an outside attack found, each as it must be now.
local instagram = require "instagram"
local json = require "instagram.json"
local errors = require "instagram.error"
local F = require "instagram.fields"

local USER = "17841405822304914"

local function client(answer)
  local t = { sent = {} }
  function t.request(self, req)
    self.sent[#self.sent + 1] = req
    local status, body = answer(req)
    return { status = status, headers = {}, body = type(body) == "table" and json.encode(body) or body }
  end
  return instagram.new{ access_token = "EAABpublishTOKEN0123456789", transport = t, retries = 0, sleep = function() end }, t
end

local function publisher(read_answer)
  return client(function(req)
    if req.url:find("/media_publish$") then return 200, { id = "2002" } end
    if req.method == "POST" then return 200, { id = "1001" } end
    if req.url:find("/2002%?") then return 200, read_answer end
    return 200, { id = "1001", status_code = "FINISHED" }
  end)
end

describe("publishing against a hostile server", function()
  it("never lets the read of the new post's fields change its id or container id", function()
    local c = publisher('{"id":"not-the-post","container_id":"x","fields_error":"x","permalink":"p"}')
    local res = assert(c:ig_user(USER):publish_image{ image_url = "https://a.example/x.jpg", fields = "id,permalink",
      check_quota = false })
    assert.equal("2002", res.id)
    assert.equal("1001", res.container_id)
    assert.is_nil(res.fields_error)
    assert.equal("p", res.permalink)
  end)

  it("keeps the container's status text in container_status; status stays the HTTP one", function()
    local c = client(function(req)
      if req.method == "POST" then return 200, { id = "1001" } end
      return 200, { id = "1001", status_code = "ERROR", status = "Error: Media upload has failed with error code 2207026" }
    end)
    local _, err = c:ig_user(USER):publish_image{ image_url = "https://a.example/x.jpg", check_quota = false }
    assert.equal("container_error", err.reason)
    assert.equal(2207026, err.subcode)
    assert.matches("2207026", err.container_status)
    assert.is_nil(err.status)
    assert.falsy(tostring(err):find("HTTP", 1, true))
  end)

  it("content_publishing_limit answers a table or nil, decode", function()
    for _, body in ipairs{ '{"data":["not an object"]}', '{"data":[null]}', '"x"' } do
      local c = client(function() return 200, body end)
      local v, err = c:ig_user(USER):content_publishing_limit()
      assert.is_nil(v, body)
      assert.equal("decode", err.kind)
    end
    local c = client(function() return 200, '{"data":[{"quota_usage":1}]}' end)
    assert.equal(1, c:ig_user(USER):content_publishing_limit().quota_usage)
  end)
end)

describe("publishing misuse", function()
  it("raises at the caller's line, before any request, also for a value found only when encoding", function()
    local c, t = publisher("{}")
    local me = c:ig_user(USER)
    local cases = {
      function() me:publish_video{ video_url = "https://a.example/v.mp4", media_type = "STORY" } end,
      function() me:publish_image{ image_url = "https://a.example/x.jpg", caption = 5 } end,
      function()
        me:publish_image{ image_url = "https://a.example/x.jpg", user_tags = { { username = "a", x = 0 / 0, y = 0.5 } } }
      end,
      function() me:publish_video{ video_url = "https://a.example/v.mp4", trial_params = { f = print } } end,
      function()
        me:publish_carousel{ children = { { image_url = "https://a.example/1.jpg" },
          { image_url = "https://a.example/2.jpg", user_tags = { { username = "a", x = 0.5, y = 0.5, extra = 0 / 0 } } } } }
      end,
      function() me:content_publishing_limit{ since = 0 / 0 } end,
    }
    for i, case in ipairs(cases) do
      local ok, err = pcall(case)
      assert.is_false(ok, "case " .. i)
      assert.truthy(tostring(err):find("publish_hostile_spec.lua:%d+:"), "case " .. i .. ": " .. tostring(err))
    end
    assert.equal(0, #t.sent) -- nothing was sent: no container left behind
    assert.has_error(function() require("instagram.publish").check_caption(5) end, "caption: must be a string")
  end)
end)

describe("fields.edge misuse", function()
  it("raises with a message for mixed or broken modifiers, NaN, and writes big numbers exactly", function()
    assert.has_error(function() F.edge("media", { { "limit", 5 }, 7 }) end,
      "fields.edge: modifier 2 must be a { name, value } pair")
    assert.has_error(function() F.edge("media", { { "limit", 5 }, after = "C" }) end,
      "fields.edge: modifiers are a list of { name, value } pairs or a table by name, not both")
    assert.has_error(function() F.edge("media", { since = 0 / 0 }) end,
      "fields.edge: modifier since needs a string without ( ) { } or commas, or a finite number")
    assert.has_error(function() F.edge("media", { since = math.huge }) end)
    assert.equal("comments.after(1234567890123456)", F.edge("comments", { after = 1234567890123456 }))
    assert.has_error(function() F.edge("media", nil, { "id", 5 }) end)
  end)
end)

describe("scrubbing text a server sent", function()
  it("takes time bounded by the limit, not by the body: megabytes of named secrets", function()
    local body = ('"code":"x",'):rep(100000) -- 1.1 MB
    local c = client(function() return 502, body end)
    local t0 = os.clock()
    local _, err = c:get("/me")
    assert.is_true(os.clock() - t0 < 2, "took " .. (os.clock() - t0) .. " s")
    assert.equal("http", err.kind)
    -- and redact_named is one pass however many values it redacts
    local many = ('"code":"secret-value",'):rep(50000)
    t0 = os.clock()
    local out = errors.redact_named(many)
    assert.is_true(os.clock() - t0 < 2)
    assert.falsy(out:find("secret-value", 1, true))
  end)

  it("never raises for odd limits or a secrets list with a raising __pairs", function()
    local trap = setmetatable({ "secretSECRETsecret" }, { __pairs = function() error("trap") end })
    assert.equal("a [redacted] b", errors.scrub("a secretSECRETsecret b", trap))
    local e = errors.new{ kind = "http", message = ("m"):rep(500) }
    assert.is_table(errors.scrub_error(e, nil, { message = "100" }))
  end)
end)

describe("uploads against odd files and answers", function()
  it("refuses a directory as the file, and does not take a 200 that says success: false for done", function()
    local t = { request = function() return { status = 200, headers = {}, body = '{"id":"1"}' } end,
      upload = function() return { status = 200, headers = {}, body = '{"success":false}' } end }
    local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 0, sleep = function() end }
    local ok, err = c:upload_video("17900000000000001", "/tmp")
    assert.is_nil(ok)
    assert.equal("file", err.reason)
    assert.has_error(function() c:ig_user(USER):publish_video{ file = "/tmp" } end, "file: '/tmp' is not a file that can be read")
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write("abc"); f:close()
    local done, uerr = c:upload_video("17900000000000001", path, { max_attempts = 2 })
    os.remove(path)
    assert.is_nil(done)
    assert.equal("the upload host answered success: false", uerr.message)
  end)
end)
