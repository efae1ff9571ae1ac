-- instagram.store (issue #14, first part): the interface on the in-process store, with a clock of
-- the spec's own. The lua_shared_dict store is specced inside nginx (spec/ngx/store_ngxspec.lua).
local store = require "instagram.store"

describe("instagram.store.memory", function()
  local clock, s
  before_each(function()
    clock = 1000
    s = store.memory{ now = function() return clock end }
  end)

  it("gets, sets, deletes strings and numbers", function()
    assert.is_nil(s:get("a"))
    assert.is_true(s:set("a", "x"))
    assert.equal("x", s:get("a"))
    assert.is_true(s:set("a", 17841405822304914))
    assert.equal(17841405822304914, s:get("a"))
    assert.is_true(s:delete("a"))
    assert.is_nil(s:get("a"))
    assert.is_true(s:delete("never"))
  end)

  it("expires keys after their ttl, and a set without ttl clears an old one", function()
    s:set("t", "v", 10)
    clock = 1009.9
    assert.equal("v", s:get("t"))
    clock = 1010
    assert.is_nil(s:get("t"))
    s:set("u", "v", 5)
    s:set("u", "w")
    clock = 5000
    assert.equal("w", s:get("u"))
  end)

  it("adds only what is absent or expired: a lock", function()
    assert.is_true(s:add("lock", "worker-1", 30))
    assert.is_false(s:add("lock", "worker-2", 30))
    assert.equal("worker-1", s:get("lock"))
    clock = clock + 30
    assert.is_true(s:add("lock", "worker-2", 30))
    assert.equal("worker-2", s:get("lock"))
  end)

  it("increments from 0, gives the ttl only to a key it creates, refuses a string", function()
    assert.equal(1, s:incr("n"))
    assert.equal(4, s:incr("n", 3, 10))
    assert.equal(2.5, s:incr("n", -1.5))
    clock = clock + 100
    assert.equal(2.5, s:get("n")) -- made without a ttl: the later ttl did not apply
    assert.equal(5, s:incr("m", 5, 10))
    clock = clock + 10
    assert.equal(1, s:incr("m"))
    s:set("str", "abc")
    local v, err = s:incr("str")
    assert.is_nil(v)
    assert.equal("not a number", err)
    if math.type then assert.equal("integer", math.type(s:incr("i", 2))) end
    if math.maxinteger then -- an integer at the edge never wraps around to the other sign
      s:set("big", math.maxinteger)
      assert.is_true(s:incr("big", 1) > 0)
      s:set("small", math.mininteger)
      assert.is_true(s:incr("small", -1) < 0)
    end
  end)

  it("keeps keys apart by prefix", function()
    local other = store.memory{ prefix = "other:", now = function() return clock end }
    s:set("k", "mine")
    assert.is_nil(other:get("k"))
  end)

  it("sweeps expired keys as it is written to: memory stays bounded by what is live", function()
    for i = 1, 5000 do s:set("k" .. i, i, 1) end
    clock = clock + 2
    for i = 1, 1000 do s:set("x" .. i, i) end
    local n = 0
    for _ in pairs(s.values) do n = n + 1 end
    assert.is_true(n <= 1000, n .. " keys kept")
  end)

  it("raises for a programmer's mistake, naming it", function()
    local bad_key = "store:get: key must be a non-empty string of at most 250 bytes, got "
    assert.has_error(function() s:get("") end, bad_key .. "0 bytes")
    assert.has_error(function() s:get(5) end, bad_key .. "number")
    assert.has_error(function() s:get(("k"):rep(251)) end)
    assert.has_error(function() s:set("k", {}) end, "store:set: value must be a string or a finite number, got table")
    assert.has_error(function() s:set("k", 0 / 0) end)
    assert.has_error(function() s:set("k", "v", 0) end)
    assert.has_error(function() s:set("k", "v", 86400 * 366) end)
    assert.has_error(function() s:add("k", "v", -1) end)
    assert.has_error(function() s:incr("k", "1") end, "store:incr: by must be a finite number, got 1")
    assert.has_error(function() store.memory{ nope = 1 } end)
    assert.has_error(function() store.memory{ prefix = 1 } end)
    if rawget(_G, "ngx") then
      assert.has_error(function() store.shdict("no_such_dict") end,
        "store.shdict: no lua_shared_dict named 'no_such_dict' (declare it in nginx.conf: lua_shared_dict no_such_dict 1m;)")
    else
      assert.has_error(function() store.shdict("x") end,
        "store.shdict: only inside nginx (ngx.shared); outside it use store.memory() or Redis")
    end
  end)
end)
