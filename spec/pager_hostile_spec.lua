-- Pagers against a hostile server (stub transports): a walk that loops ends, a huge next URL costs
-- nothing, a hostile cursor is an error, and misuse raises where the pager is made.
local instagram = require "instagram"
local json = require "instagram.json"

local TOKEN = "EAABpagerTOKEN0123456789abcdef"
local BASE = "https://graph.facebook.com/v24.0"

local function client(answer)
  local t = { sent = 0 }
  function t.request(self, req)
    self.sent = self.sent + 1
    if self.sent > 50 then error("the walk did not stop") end
    return { status = 200, headers = {}, body = json.encode(answer(req, self.sent)) }
  end
  return instagram.new{ access_token = TOKEN, transport = t, retries = 0 }, t
end

describe("a pager against a server that loops", function()
  it("ends when a page comes back as it was (same next URL, same items), with an error", function()
    local c, t = client(function()
      return { data = { { id = "1" }, { id = "2" } }, paging = { next = BASE .. "/17841405822304914/media?after=SAME" } }
    end)
    local items, err = c:edge("/17841405822304914/media"):all()
    assert.is_nil(items)
    assert.truthy(err.message:find("already read", 1, true))
    assert.equal(2, t.sent)
  end)

  it("goes on when the next URL repeats but the items do not (a hashtag's edge does that)", function()
    local c, t = client(function(_, n)
      local page = { data = n <= 3 and { { id = tostring(n) } } or {} }
      if n <= 3 then page.paging = { next = BASE .. "/17900000000000001/top_media?user_id=1&after=SAME" } end
      return page
    end)
    local items = assert(c:edge("/17900000000000001/top_media", { user_id = "1" }):all())
    assert.equal(3, #items)
    assert.equal(4, t.sent)
  end)

  it("ends a cursor walk at a cursor read before, also one two pages back", function()
    local c, t = client(function(_, n)
      return { data = { { id = tostring(n) } }, paging = { cursors = { after = n % 2 == 0 and "B" or "A" } } }
    end)
    local items = assert(c:edge("/17841405822304914/tags", nil, { cursor_only = true }):all())
    assert.equal(3, #items) -- A, B, then A again: the end
    assert.equal(3, t.sent)
  end)

  it("refuses a next URL over 64 KiB before any work on it, and keeps no long URL in the client", function()
    local c = client(function()
      return { data = { { id = "1" } }, paging = { next = BASE .. "/1/media?after=" .. ("x"):rep(300000) } }
    end)
    local p = c:edge("/1/media")
    local _, err = p:all()
    assert.truthy(err.message:find("longer than 64 KiB", 1, true))
  end)
end)

describe("a nested pager against a hostile cursor", function()
  it("ends with an error when the cursor cannot go into the field expansion, never raising", function()
    local c, t = client(function()
      return { business_discovery = { media = { data = { { id = "1" } }, paging = { cursors = { after = "QVFI){evil}" } } } } }
    end)
    local F = require "instagram.fields"
    local p = require("instagram.pager").nested(c, "/17841405822304914",
      function(after)
        return F.build{ F.edge("business_discovery", { username = "x" }, { F.edge("media", { after = after }, { "id" }) }) }
      end,
      function(res) return res.business_discovery and res.business_discovery.media end)
    local items, err = p:all()
    assert.is_nil(items)
    assert.truthy(err.message:find("cursor cannot be used", 1, true))
    assert.equal(1, t.sent)
  end)
end)

describe("pager misuse", function()
  it("raises where the pager is made, not later from an iterator", function()
    local c = client(function() return { data = {} } end)
    assert.has_error(function() c:edge("/1/media", { fields = { "id", 42 } }) end,
      "edge params: parameter 'fields' item 2 must be a non-empty string (a field name or fields.edge(...))")
    assert.has_error(function() c:edge("/1/media", { limit = print }) end)
    local pager = require "instagram.pager"
    assert.has_error(function() pager.nested(c, 17841405822304914, nil, nil) end, "pager.nested: path must be a non-empty string")
    assert.has_error(function() pager.nested(c, "/1", nil, nil) end, "pager.nested: build_fields must be a function")
    assert.has_error(function() pager.nested(c, "/1", function() end, 5) end, "pager.nested: pick must be a function")
  end)
end)
