local H = require "spec.helper"
local json = require "instagram.json"

describe("pager", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  local function media_path() return "/" .. H.IG_USER_ID .. "/media" end

  it("walks every page of a cursor-paged edge by following paging.next", function()
    local p = c:edge(media_path(), { fields = "id,timestamp", limit = 25 })
    local sizes, ids = {}, {}
    for data in p:pages() do
      sizes[#sizes + 1] = #data
      for _, m in ipairs(data) do ids[#ids + 1] = m.id end
    end
    assert.is_nil(p.err)
    assert.same({ 25, 25, 10 }, sizes)
    assert.equal(60, #ids)
    local unique = {}
    for _, id in ipairs(ids) do unique[id] = true end
    local n = 0
    for _ in pairs(unique) do n = n + 1 end
    assert.equal(60, n)
    assert.equal(3, #H.log()) -- no extra request after the last page
  end)

  it("never sends the token in a URL, though the server's next links carry it", function()
    local p = c:edge(media_path(), { limit = 20 })
    assert.equal(60, #assert(p:all()))
    local log = H.log()
    assert.equal(3, #log)
    for _, r in ipairs(log) do
      assert.not_matches("access_token", r.uri)
      assert.equal("Bearer " .. H.token, r.headers.authorization)
    end
    assert.matches("after=", log[2].query)
  end)

  it("iterates items across pages", function()
    local n, first = 0, nil
    for m in c:edge(media_path(), { fields = "id,caption", limit = 7 }):items() do
      n = n + 1
      first = first or m
    end
    assert.equal(60, n)
    assert.equal("17918195224100001", first.id)
    assert.matches("^Dino fact #1:", first.caption)
  end)

  it("stops fetching as soon as max_items is met, and asks for no more than needed", function()
    local items = assert(c:edge(media_path(), { max_items = 10 }):all())
    assert.equal(10, #items)
    local log = H.log()
    assert.equal(1, #log)
    assert.matches("limit=10", log[1].query)
    assert.not_matches("max_items", log[1].query)
    H.reset()
    local more = assert(c:edge(media_path(), { limit = 25 }, { max_items = 30 }):all())
    assert.equal(30, #more)
    assert.equal(2, #H.log())
  end)

  it("stops after max_pages", function()
    local p = c:edge(media_path(), { limit = 5, max_pages = 3 })
    local pages = 0
    for _ in p:pages() do pages = pages + 1 end
    assert.equal(3, pages)
    assert.equal(3, #H.log())
  end)

  it("passes since/until for time-based ranges and keeps them on later pages", function()
    -- media i is at EPOCH - (i-1) days; ask for media 5..24 (20 items)
    local epoch = 1793534400
    local p = c:edge(media_path(), { since = epoch - 23 * 86400, ["until"] = epoch - 4 * 86400, limit = 8 })
    local items = assert(p:all())
    assert.equal(20, #items)
    assert.equal("17918195224100005", items[1].id)
    for _, r in ipairs(H.log()) do
      assert.matches("since=" .. (epoch - 23 * 86400), r.query)
      assert.matches("until=" .. (epoch - 4 * 86400), r.query)
    end
  end)

  it("handles an empty edge", function()
    local pc = H.client{ access_token = "EMU-PAGE-TOKEN-134895793791916" }
    local p = pc:edge("/134895793791916/page_backed_instagram_accounts")
    local pages = 0
    for _ in p:pages() do pages = pages + 1 end
    assert.equal(0, pages)
    assert.same({}, assert(p:all()))
    assert.is_nil(p.err)
  end)

  it("stops at an error and keeps it", function()
    H.config{ faults = { { path = "/media$", status = 500, times = 5 } } }
    local p = c:edge(media_path())
    local n = 0
    for _ in p:items() do n = n + 1 end
    assert.equal(0, n)
    assert.equal("http", p.err.kind)
    local all, err = c:edge(media_path()):all()
    assert.is_nil(all)
    assert.equal(500, err.status)
  end)

  it("stops at an error on a later page and keeps what it had yielded", function()
    local p = c:edge(media_path(), { limit = 25 })
    local first = assert(p:next_page())
    assert.equal(25, #first.data)
    H.config{ faults = { { path = "/media$", status = 500 } } }
    local page, err = p:next_page()
    assert.is_nil(page)
    assert.equal(500, err.status)
    assert.is_nil((p:next_page())) -- done after an error
  end)

  it("follows `after` cursors on edges that give cursors without next (cursor_only)", function()
    -- Reference edges like /tags and field-expanded edges: emulate with a server that drops `next`.
    local p = c:edge(media_path(), { limit = 25 }, { cursor_only = true })
    local first = assert(p:next_page())
    assert.is_string(first.paging.next)
    local rest = {}
    for item in p:items() do rest[#rest + 1] = item end
    assert.equal(35, #rest)
  end)

  it("prefetches the next page while the caller works on this one", function()
    local core = require "instagram.core"
    local sleep = rawget(_G, "ngx") and ngx.sleep or core.sleep -- luacheck: ignore 113
    local p = c:edge(media_path(), { limit = 20, prefetch = true })
    local spans, seen = {}, 0
    for data in p:pages() do
      local t0 = core.now()
      seen = seen + #data
      sleep(0.15) -- the caller's own work on this page
      spans[#spans + 1] = { t0, core.now() }
    end
    assert.is_nil(p.err)
    assert.equal(60, seen)
    local log = H.log()
    assert.equal(3, #log) -- no page fetched twice, none past the end
    -- pages 2 and 3 reached the server while the caller was still busy with the page before
    assert.is_true(log[2].time < spans[1][2], "page 2 was asked for only after page 1 was done")
    assert.is_true(log[3].time < spans[2][2], "page 3 was asked for only after page 2 was done")
  end)

  it("can start again with reset()", function()
    local p = c:edge(media_path(), { max_items = 3 })
    assert.equal(3, #assert(p:all()))
    p:reset()
    assert.equal(3, #assert(p:all()))
  end)

  it("refuses a non-list response with a decode error", function()
    local p = c:edge("/me")
    local all, err = p:all()
    assert.is_nil(all)
    assert.equal("decode", err.kind)
  end)

  it("raises on bad arguments", function()
    assert.has_error(function() c:edge() end)
    assert.has_error(function() c:edge("/x", "limit=1") end)
    assert.has_error(function() c:edge("/x", { max_items = 0 }) end)
    assert.has_error(function() c:edge("/x", { max_pages = 1.5 }) end)
    assert.has_error(function() c:edge("/x", nil, { bogus = true }) end)
  end)

  it("holds only one page at a time", function()
    local p = c:edge(media_path(), { limit = 10 })
    local seen = setmetatable({}, { __mode = "v" })
    local count = 0
    for data in p:pages() do
      count = count + 1
      seen[count] = data
      if count == 3 then break end
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(seen[1])
    assert.is_nil(rawget(p, "data"))
  end)

  it("returns 16-digit product ids that survive the trip back to the API", function()
    local m = "/17918195224100001/product_tags"
    local tags = assert(c:get(m)).data
    assert.equal(3231775643511089, tags[1].product_id)
    assert(c:post(m, { updated_tags = { { product_id = tags[1].product_id, x = tags[1].x, y = tags[1].y } } }))
    local body = H.log()[2].body
    assert.matches("3231775643511089", require("instagram.core").url_decode(body), 1, true)
    assert.equal('updated_tags=[{"product_id":3231775643511089,"x":0.5,"y":0.80000001192093}]',
      require("instagram.core").url_decode(body))
    assert.equal(3231775643511089, assert(c:get(m)).data[1].product_id)
    assert.equal(json.encode(tags[1].product_id), "3231775643511089")
  end)
end)
