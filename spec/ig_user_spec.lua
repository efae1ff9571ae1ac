local H = require "spec.helper"

describe("ig_user", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("fetches fields of an IG user", function()
    local u = assert(c:ig_user(H.IG_USER_ID):fetch("username,biography,followers_count,media_count"))
    assert.same({ id = H.IG_USER_ID, username = "metricsaurus", biography = "Dino data crunching app",
                  followers_count = 1520, media_count = 60 }, u)
    assert.equal("fields=username%2Cbiography%2Cfollowers_count%2Cmedia_count", H.log()[1].query)
  end)

  it("accepts a list of fields and no fields", function()
    assert.equal("metricsaurus", assert(c:ig_user(H.IG_USER_ID):fetch{ "username", "website" }).username)
    assert.same({ id = H.IG_USER_ID }, assert(c:ig_user(H.IG_USER_ID):fetch()))
  end)

  it("pages through its media", function()
    local n = 0
    for m in c:ig_user(H.IG_USER_ID):media{ fields = "id,caption,media_type" }:items() do
      assert.is_string(m.caption)
      n = n + 1
    end
    assert.equal(60, n)
  end)

  it("returns errors as nil, err", function()
    local u, err = c:ig_user("123"):fetch("username")
    assert.is_nil(u)
    assert.equal(100, err.code)
  end)

  it("accepts numeric ids and refuses bad ones", function()
    if math.type then
      assert.equal("17841405822304914", c:ig_user(17841405822304914).id)
    else -- a double cannot hold every 17-digit id: LuaJIT users pass strings
      assert.has_error(function() c:ig_user(17841405822304914) end)
    end
    assert.equal("4503599627370496", c:ig_user(2 ^ 52).id)
    assert.has_error(function() c:ig_user() end)
    assert.has_error(function() c:ig_user("12/../me") end)
    assert.has_error(function() c:ig_user(1.5) end)
    assert.matches("17841405822304914", tostring(c:ig_user(H.IG_USER_ID)))
  end)
end)
