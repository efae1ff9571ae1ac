local H = require "spec.helper"
local core = require "instagram.core"

local function media_id(i) return ("17918195224%06d"):format(100000 + i) end

describe("throttle", function()
  local c, delays
  before_each(function()
    H.reset()
    delays = {}
    local function seen(d, pct) delays[#delays + 1] = { d, pct } end
    c = H.client{ throttle = { threshold = 75, max_delay = 10, on_throttle = seen }, sleep = function() end }
  end)

  it("does nothing while usage is low", function()
    H.config{ rate_limit = { limit = 100 } }
    for _ = 1, 5 do assert(c:get("/" .. H.IG_USER_ID)) end
    assert.same({}, delays)
  end)

  it("slows callers down as usage nears 100%", function()
    H.config{ rate_limit = { limit = 10, window = 600 } }
    for _ = 1, 9 do assert(c:get("/" .. H.IG_USER_ID)) end
    -- the 8th response reported 80%, the 9th call waited in proportion
    assert.is_true(#delays >= 1)
    local d, pct = delays[#delays][1], delays[#delays][2]
    assert.equal(80, pct)
    assert.near(2, d, 0.001) -- (80 - 75) / 25 * 10
    assert.equal(90, c:usage().max_percent)
  end)

  it("refuses to call while the API says the app is blocked, with the time to regain access", function()
    H.config{ rate_limit = { limit = 2, window = 600 } }
    assert(c:get("/" .. H.IG_USER_ID))
    assert(c:get("/" .. H.IG_USER_ID))
    local _, err = c:get("/" .. H.IG_USER_ID)
    assert.equal(4, err.code)
    local before = #H.log()
    local _, blocked = c:get("/" .. H.IG_USER_ID)
    assert.equal("blocked", blocked.kind)
    assert.is_true(blocked.retry_after > 500 and blocked.retry_after <= 600)
    assert.matches("access returns in about %d+ s", blocked.message)
    assert.equal(before, #H.log()) -- no request was sent
  end)
end)

describe("batch", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("returns 120 results in order for 120 operations, in three calls", function()
    local ops = {}
    for i = 1, 120 do ops[i] = { method = "GET", relative_url = media_id((i - 1) % 60 + 1) .. "?fields=id,caption" } end
    local results = assert(c:batch(ops))
    assert.equal(120, #results)
    for i = 1, 120 do
      assert.equal(200, results[i].code)
      assert.equal(media_id((i - 1) % 60 + 1), results[i].body.id)
    end
    assert.equal(3, #H.requests("^/v24%.0/$"))
    local first = H.requests("^/v24%.0/$")[1]
    local batch = require("instagram.json").decode(require("instagram.params").decode(first.body).batch)
    assert.equal(50, #batch)
  end)

  it("resolves dependencies with JSONPath, omits depended-on responses, reports per-operation errors", function()
    local results = assert(c:batch{
      { relative_url = "me/accounts?fields=id,name", name = "pages" },
      { relative_url = "{result=pages:$.data.0.id}?fields=name", depends_on = "pages" },
      { method = "POST", relative_url = "17918195224100001/comments", body = { message = "batched" } },
      { relative_url = "me?fields=shoe_size", name = "bad" },
      { relative_url = "me", depends_on = "bad" },
      { relative_url = "me/accounts?fields=id", name = "kept", omit_response_on_success = false },
      { relative_url = "{result=kept:$.data.2.id}?fields=name", depends_on = "kept" },
    })
    assert.is_false(results[1]) -- omitted: another operation depended on it
    assert.equal("Metricsaurus", results[2].body.name)
    assert.matches("^%d+$", results[3].body.id)
    assert.equal("graph", results[4].kind)
    assert.equal(100, results[4].code)
    assert.is_false(results[5]) -- its dependency failed: not run
    assert.equal(3, #results[6].body.data)
    assert.equal("No Instagram Here", results[7].body.name)
    assert.equal("application/json; charset=UTF-8", results[2].headers["content-type"])
  end)

  it("keeps the token out of an operation's error, even when the server echoes it", function()
    -- the emulator names the unknown object id in its message: here, the token itself
    local results = assert(c:batch{ { relative_url = H.token } })
    assert.equal("graph", results[1].kind)
    assert.matches("%[redacted%]", results[1].message)
    assert.not_matches(H.token, tostring(results[1]), 1, true)
  end)

  it("raises on malformed operations and dependencies across the 50-operation boundary", function()
    assert.has_error(function() c:batch{} end)
    assert.has_error(function() c:batch{ { method = "GET" } } end)
    assert.has_error(function() c:batch{ { relative_url = "me", colour = "red" } } end)
    assert.has_error(function() c:batch{ { relative_url = "me", depends_on = "nobody" } } end)
    local ops = {}
    for i = 1, 51 do ops[i] = { relative_url = "me" } end
    ops[50].name = "last"
    ops[51].depends_on = "last"
    assert.has_error(function() c:batch(ops) end)
    assert.equal(0, #H.log())
  end)
end)

describe("get_many", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("runs independent GETs in parallel and keeps the order", function()
    local reqs = {}
    for i = 1, 30 do reqs[i] = { "/" .. media_id(i), { fields = "id" } } end
    local values, errs = c:get_many(reqs, { concurrency = 10 })
    assert.equal(30, #values)
    for i = 1, 30 do
      assert.is_false(errs[i])
      assert.equal(media_id(i), values[i].id)
    end
  end)

  it("keeps per-request errors in place", function()
    local values, errs = c:get_many({ "/me", "/99999", { path = "/me", params = { fields = "nope" } },
      "https://elsewhere.example/me", "/" .. H.IG_USER_ID })
    assert.equal("10158000000000001", values[1].id)
    assert.equal(100, errs[2].code)
    assert.equal(100, errs[3].code)
    assert.equal("foreign_host", errs[4].reason)
    assert.equal(H.IG_USER_ID, values[5].id)
    assert.is_false(values[2])
  end)

  it("overlaps latency: 20 requests of 200 ms at concurrency 10 take two rounds, not twenty", function()
    H.config{ faults = { { path = "/me$", delay = 0.2 } } }
    local reqs = {}
    for i = 1, 20 do reqs[i] = "/me" end
    local t0 = core.now()
    local values = c:get_many(reqs, { concurrency = 10 })
    local took = core.now() - t0
    for i = 1, 20 do assert.equal("10158000000000001", values[i].id) end
    -- generous bound (20 sequential calls would take 4 s): this checks overlap, not speed
    assert.is_true(took < 2.5, ("took %.2f s"):format(took))
  end)

  it("retries transient failures afterwards, one by one", function()
    local rc = H.client{ retries = 2, sleep = function() end }
    H.config{ faults = { { path = "/me$", status = 503, times = 3 } } }
    local values, errs = rc:get_many({ "/me", "/me", "/me", "/me" }, { concurrency = 4 })
    for i = 1, 4 do
      assert.is_false(errs[i])
      assert.equal("10158000000000001", values[i].id)
    end
  end)

  it("raises on misuse", function()
    assert.has_error(function() c:get_many("x") end)
    assert.has_error(function() c:get_many({ 42 }) end)
    assert.has_error(function() c:get_many({ "/me" }, { concurrency = 0 }) end)
    assert.same({}, (c:get_many({})))
  end)
end)

describe("core session:many", function()
  local s
  before_each(function() s = core.session{ ca_file = H.ca_file } end)
  after_each(function() s:close() end)

  it("returns results in order with per-request errors", function()
    local r = s:many({
      { method = "GET", url = H.graph_url .. "/__emulator/health" },
      { method = "GET", url = "http://127.0.0.1:1/" },
      { method = "POST", url = H.graph_url .. "/v24.0/me", body = "a=1", headers = { Authorization = "Bearer " .. H.token } },
    }, 2)
    assert.equal(200, r[1].status)
    assert.equal("ok\n", r[1].body)
    assert.equal("connect", r[2].error)
    assert.equal(400, r[3].status)
  end)

  it("refuses malformed requests before sending anything", function()
    assert.has_error(function() s:many("x") end)
    assert.has_error(function() s:many({ "x" }) end)
    assert.has_error(function() s:many({ { method = "get", url = "http://x" } }) end)
    assert.has_error(function() s:many({ { method = "GET", url = "ftp://x" } }) end)
    assert.has_error(function() s:many({ { method = "GET", url = "http://x", headers = { ["a b"] = "c" } } }) end)
    assert.has_error(function() s:many({ { method = "GET", url = "http://x", body = {} } }) end)
    assert.has_error(function() s:many({}, 0) end)
    assert.has_error(function() s:many({}, 65) end)
    assert.same({}, s:many({}))
  end)
end)

describe("soak", function()
  -- In a process of its own (spec/support/soak.lua), except inside nginx, where the cosocket
  -- transport is what is soaked and the process is the nginx worker.
  local function soak()
    if rawget(_G, "ngx") then
      H.reset()
      H.config{ rate_limit = { limit = 1000000 } }
      return require("support.soak")(H.client())
    end
    local p = assert(io.popen((jit and "luajit" or "lua5.4") .. " spec/support/soak.lua 2>&1"))
    local out = p:read("*a")
    p:close()
    local runtime, transport, before, mid, after = out:match("^(.-) (%S+) (%d+) (%d+) (%d+)%s*$")
    assert(runtime, "the soak process failed:\n" .. out)
    return runtime, transport, tonumber(before), tonumber(mid), tonumber(after)
  end

  it("performs 20,000 requests in one process without growing", function()
    local runtime, transport, before, mid, after = soak()
    io.stdout:write(("\n    soak (%s, %s transport): RSS %d kB after 2,000 requests, %d kB after 11,000, "
      .. "%d kB after 20,000 (%+d kB)\n"):format(runtime, transport, before, mid, after, after - before))
    -- A leak grows every window alike; buffers, the JIT and the connection settling once do not.
    -- So the last 9,000 requests are what must not grow: 2 MiB over them is about 230 bytes a request.
    assert.is_true(after - mid < 2048, ("RSS grew by %d kB over the last 9,000 requests"):format(after - mid))
  end)
end)
