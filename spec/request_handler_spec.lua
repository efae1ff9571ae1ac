-- What a call does where a client waits on it (issue #14): the deadline (retries and throttle sleeps
-- never run past it; each attempt's timeout is cut to what is left), its default in nginx's request
-- phases, and the refusal to block an nginx worker from a phase without cosockets. nginx's phases
-- are stood for by a stand-in `ngx` here; spec/ngx/ has the real thing.
require "spec.helper"
local instagram = require "instagram"

local RATE = '{"error":{"message":"Application request limit reached","type":"OAuthException","code":4,'
  .. '"is_transient":true}}'

-- A transport on a clock of its own: each request is answered by answer(req), after `takes` seconds.
local function api(answer, takes)
  local t = { calls = 0, timeouts = {}, clock = 1000 }
  t.now = function() return t.clock end
  t.sleep = function(d) t.clock = t.clock + d end
  function t.request(_, req)
    t.calls = t.calls + 1
    t.timeouts[#t.timeouts + 1] = req.timeout or false
    t.clock = t.clock + (takes or 0)
    local status, headers, body = answer(req)
    return { status = status, headers = headers or {}, body = body }
  end
  return t
end

-- t with `many` (its requests one after another on t's clock) and `start` (answered at once).
local function with_many_and_start(t)
  function t.many(self, reqs)
    local out = {}
    for i, req in ipairs(reqs) do out[i] = self:request(req) end
    return out
  end
  function t.start(self, req)
    local res = self:request(req)
    return { finish = function() return res end, cancel = function() end }
  end
  return t
end

local function rate_limited(after)
  return function() return 400, { ["retry-after"] = tostring(after) }, RATE end
end

-- Runs fn with a stand-in ngx in the given phase (no cosockets: no ngx.socket).
local function in_phase(phase, fn)
  local saved = rawget(_G, "ngx")
  _G.ngx = { get_phase = function() return phase end, now = os.time }
  local ok, err = pcall(fn)
  _G.ngx = saved
  if not ok then error(err, 0) end
end

describe("deadline", function()
  it("makes no retry that would end past it, and says when to come back", function()
    local t = api(rate_limited(3))
    local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 5, deadline = 2, retry_base = 0 }
    local v, err = c:get("/me")
    assert.is_nil(v)
    assert.equal(4, err.code)
    assert.equal(1, t.calls)
    assert.equal(1, err.attempts)
    assert.equal(3, err.retry_after)
    -- a retry that fits is made
    local t2 = api(rate_limited(1))
    local c2 = instagram.new{ access_token = "tok-12345", transport = t2, retries = 5, deadline = 2.5, retry_base = 0 }
    local _, err2 = c2:get("/me")
    assert.equal(3, t2.calls) -- at 0 and 1 and 2 s; the next would end at 3 > 2.5
    assert.equal(1, err2.retry_after)
  end)

  it("cuts each attempt's timeout to what is left", function()
    local t = api(rate_limited(0.5), 0.5)
    local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 3, deadline = 2, timeout = 30,
      retry_base = 0 }
    c:get("/me")
    assert.near(2, t.timeouts[1], 1e-9)
    assert.near(1, t.timeouts[2], 1e-9) -- 0.5 s answering + 0.5 s waiting
    assert.is_true(#t.timeouts <= 3)
  end)

  it("never cuts a POST's timeout (cut short, it may have been carried out all the same)", function()
    local t = api(function() return 200, {}, '{"id":"1"}' end)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2, timeout = 60 }
    assert(c:post("/17841405822304914/media", { caption = "x" }))
    assert.is_false(t.timeouts[1]) -- none given: the transport's own (the client's 60 s), not what is left
    assert(c:get("/me"))
    assert.equal(2, t.timeouts[2])
  end)

  it("sends no attempt once it has passed (the throttle slept into it)", function()
    local t = api(rate_limited(1), 0)
    local slept = 0
    t.sleep = function(d) slept = slept + d; t.clock = t.clock + d + 1.5 end -- a sleep that overruns
    local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 5, deadline = 2, retry_base = 0 }
    local _, err = c:get("/me")
    assert.equal(4, err.code)
    assert.equal(1, t.calls) -- the retry would have started past the deadline
  end)

  it("holds get_many's retries to its own deadline", function()
    local t = api(rate_limited(1), 0.25)
    local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 3, deadline = 2, retry_base = 0 }
    local t0 = t.clock
    -- 0.75 s for the three; one retry fits after the 1 s the server asked for, then the deadline is reached
    local _, errs = c:get_many{ "/1", "/2", "/3" }
    assert.is_true(t.clock - t0 <= 2.001, "took " .. (t.clock - t0))
    assert.equal(4, t.calls)
    assert.same({ 2, 1, 1 }, { errs[1].attempts, errs[2].attempts, errs[3].attempts })
  end)

  it("retries get_many's failures as request would: after the wait, counting the first attempt", function()
    local t = api(function() return 503, {}, '{"error":{"message":"busy","code":2,"is_transient":true}}' end)
    local waits = {}
    t.sleep = function(d) waits[#waits + 1] = d; t.clock = t.clock + d end
    local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 2, deadline = false,
      retry_base = 0.5 }
    local values, errs = c:get_many{ "/1", "/2" }
    assert.same({ false, false }, values)
    assert.equal(6, t.calls) -- 3 attempts each: retries = 2, as for request
    assert.equal(3, errs[1].attempts)
    assert.equal(3, errs[2].attempts)
    assert.equal(4, #waits) -- a wait before every retry
    assert.is_true(waits[1] > 0)
  end)

  it("refuses a throttle sleep that would pass it: kind blocked, reason deadline, no call", function()
    local t = api(function()
      return 200, { ["x-app-usage"] = '{"call_count":100,"total_time":1,"total_cputime":1}' }, '{"id":"1"}'
    end)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2,
      throttle = { threshold = 50, max_delay = 10 } }
    assert(c:get("/me"))
    local v, err = c:get("/me")
    assert.is_nil(v)
    assert.equal("blocked", err.kind)
    assert.equal("deadline", err.reason)
    assert.equal(10, err.retry_after)
    assert.equal(1, t.calls)
  end)

  it("is 5 s by default in nginx's request phases, none in timers or outside nginx; false: none", function()
    for _, case in ipairs{ { "content", 6, 1 }, { "access", 6, 1 }, { "rewrite", 4, 2 }, { "timer", 6, 3 } } do
      in_phase(case[1], function()
        local t = api(rate_limited(case[2]))
        local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 2, retry_max_wait = 3600,
          retry_base = 0 }
        c:get("/me")
        assert.equal(case[3], t.calls, case[1])
      end)
    end
    in_phase("content", function()
      local t = api(rate_limited(6))
      instagram.new{ access_token = "tok-12345", transport = t, retries = 2, retry_max_wait = 3600, deadline = false }
        :get("/me")
      assert.equal(3, t.calls)
    end)
    local t = api(rate_limited(6))
    instagram.new{ access_token = "tok-12345", transport = t, retries = 2, retry_max_wait = 3600 }:get("/me")
    assert.equal(3, t.calls)
  end)

  it("refuses a deadline that is not seconds", function()
    for _, bad in ipairs{ 0, -1, true, 1e9, 0 / 0 } do
      assert.has_error(function() instagram.new{ deadline = bad } end)
    end
    assert.has_error(function() instagram.new{ deadline = "5" } end)
  end)
end)

-- (a stand-in ngx cannot replace the real one inside nginx, whose modules hold it: there,
-- spec/ngx/store_ngxspec.lua checks a call made in init_worker)
if rawget(_G, "ngx") then return end

describe("deadline over a flow of calls", function()
  local IN_PROGRESS = '{"id":"17900000000000001","status_code":"IN_PROGRESS","status":"In Progress"}'

  it("holds a container wait to one deadline: no poll or pause past it, and says when to poll again", function()
    local t = api(function() return 200, {}, IN_PROGRESS end, 0.1)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 10 }
    local t0 = t.clock
    local v, err = c:wait_for_container("17900000000000001", { timeout = 300, interval = 3 })
    assert.is_nil(v)
    assert.equal("publish", err.kind)
    assert.equal("deadline", err.reason)
    assert.equal("17900000000000001", err.container_id)
    assert.equal(3, t.calls) -- at 0, 3.1 and 7.7 s; the next pause (6.75 s) would end past 10 s
    assert.is_true(t.clock - t0 <= 10, "took " .. (t.clock - t0))
    assert.near(6.75, err.retry_after, 1e-9)
    assert.falsy(tostring(err):find("tok-12345", 1, true))
    -- without a deadline the wait's own timeout ends it, as before
    local c2 = instagram.new{ access_token = "tok-12345", transport = api(function() return 200, {}, IN_PROGRESS end),
      deadline = false }
    local _, err2 = c2:wait_for_container("17900000000000001", { timeout = 20, interval = 3 })
    assert.equal("timeout", err2.reason)
  end)

  it("cuts the polls' timeouts to what is left of the wait's deadline, not each poll's own", function()
    local t = api(function() return 200, {}, IN_PROGRESS end, 1)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 10, timeout = 30 }
    c:wait_for_container("17900000000000001", { interval = 2 })
    assert.equal(10, t.timeouts[1])
    assert.is_true(t.timeouts[2] < 8, tostring(t.timeouts[2])) -- 10 - (1 + 2) = 7
  end)

  it("takes no upload backoff pause past the deadline: the error comes back with retry_after", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write(("v"):rep(1000)); f:close()
    local t = api(function() return 200, {}, '{"offset":0}' end)
    t.uploads = 0
    function t.upload()
      t.uploads = t.uploads + 1
      return { status = 503, headers = {},
        body = '{"debug_info":{"retriable":true,"type":"ProcessingFailedError","message":"busy"}}' }
    end
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2 }
    local t0 = t.clock
    local ok, err = c:upload_video("17900000000000001", path, { retry_base = 4, retry_cap = 4 })
    assert.is_nil(ok)
    assert.equal(1, t.uploads) -- a pause of 2 to 4 s would end past the deadline
    assert.equal(t0, t.clock) -- and was not taken
    assert.is_true(err.retry_after >= 2 and err.retry_after <= 4, tostring(err.retry_after))
    local c2 = instagram.new{ access_token = "tok-12345", transport = t, deadline = false }
    c2:upload_video("17900000000000001", path, { retry_base = 4, retry_cap = 4, max_attempts = 2 })
    assert.equal(3, t.uploads) -- without a deadline the retry is made
    os.remove(path)
  end)
end)

describe("deadline and retries, attacked from outside", function()
  local RATE30 = function() return 400, { ["retry-after"] = "30" }, RATE end

  it("waits one Retry-After for get_many's failures together, not one after another", function()
    for _, deadline in ipairs{ false, 60 } do
      local round = true
      local t = api(function() if round then return RATE30() end return 200, {}, '{"id":"1"}' end)
      t.many = function(self, reqs)
        local r = {}
        for i, q in ipairs(reqs) do r[i] = self:request(q) end
        round = false
        return r
      end
      local c = instagram.new{ access_token = "tok-12345", transport = t, retries = 2, deadline = deadline }
      local t0 = t.clock
      local values, errs = c:get_many{ "/1", "/2", "/3", "/4", "/5" }
      for i = 1, 5 do assert.equal("1", values[i] and values[i].id, tostring(errs[i])) end
      assert.equal(30, t.clock - t0) -- one 30 s wait covered them all
      assert.equal(10, t.calls)
    end
  end)

  it("holds get_many to its deadline without a many transport: no attempt past it, timeouts cut", function()
    local t = api(function() return 200, {}, '{"id":"1"}' end, 1)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2, timeout = 30 }
    local values, errs = c:get_many{ "/1", "/2", "/3", "/4" }
    assert.equal(2, t.calls)
    assert.same({ 2, 1 }, t.timeouts)
    assert.equal("1", values[2].id)
    assert.is_false(values[3])
    assert.equal("deadline", errs[3].reason)
  end)

  it("sends no first attempt past the deadline after a throttle sleep that overran", function()
    local t = api(function()
      return 200, { ["x-app-usage"] = '{"call_count":60,"total_time":1,"total_cputime":1}' }, '{"id":"1"}'
    end)
    local overrun = 0
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2.5,
      sleep = function(d) t.clock = t.clock + d + overrun end, throttle = { threshold = 50, max_delay = 10 } }
    assert(c:post("/me", { a = 1 }))
    overrun = 1 -- the 2 s throttle sleep takes 3 s
    local v, err = c:post("/me", { a = 2 })
    assert.is_nil(v)
    assert.equal("deadline", err.reason)
    assert.equal(1, t.calls) -- the POST was not sent
  end)

  it("retries a prefetched GET finished late as a get made then would be", function()
    local answers = { { 503, '{"error":{"message":"busy","code":2,"is_transient":true}}' }, { 200, '{"id":"7"}' } }
    local t = api(function() local a = table.remove(answers, 1); return a[1], {}, a[2] end)
    t.start = function(self, req)
      local res = self:request(req)
      return { finish = function() return res end, cancel = function() end }
    end
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 5, retries = 1, retry_base = 0.1 }
    local h = assert(c:start_get("/7"))
    t.clock = t.clock + 6 -- the caller worked 6 s before it wanted the page
    local v = assert(h.finish())
    assert.equal("7", v.id)
    assert.equal(2, t.calls)
  end)

  -- (an outside attack inside nginx: get_many and start_get ran 9 s in a handler with a 5 s deadline)
  it("cuts the timeouts of get_many's and start_get's first attempts to what is left of it", function()
    local t = with_many_and_start(api(function() return 200, {}, '{"id":"1"}' end, 0.5))
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2, timeout = 30 }
    local values = c:get_many{ "/1", "/2" }
    assert.equal("1", values[2].id)
    assert.same({ 2, 2 }, t.timeouts) -- (both sent at once: each has all that is left)
    assert.equal("1", assert(c:start_get("/3")).finish().id)
    assert.near(2, t.timeouts[3], 1e-9)
    -- a timeout shorter than what is left is the client's, stated (a transport's own may be longer)
    local c2 = instagram.new{ access_token = "tok-12345", transport = t, deadline = 10, timeout = 3 }
    c2:get_many{ "/4" }
    assert(c2:start_get("/5")).finish()
    assert.same({ 3, 3 }, { t.timeouts[4], t.timeouts[5] })
    -- past the deadline once the throttle slept: nothing is sent
    local busy = with_many_and_start(api(function()
      return 200, { ["x-app-usage"] = '{"call_count":60,"total_time":1,"total_cputime":1}' }, '{"id":"1"}'
    end))
    local c3 = instagram.new{ access_token = "tok-12345", transport = busy, deadline = 2.5,
      sleep = function(d) busy.clock = busy.clock + d + 1 end, throttle = { threshold = 50, max_delay = 10 } }
    assert(c3:get("/me"))
    local _, errs = c3:get_many{ "/6" }
    assert.equal("deadline", errs[1].reason)
    assert.is_nil(c3:start_get("/7"))
    assert.equal(1, busy.calls)
  end)

  -- (a review: a transport counts each request's timeout from when it leaves its queue, so with more
  -- requests than `concurrency` the later ones ran past the deadline, cut once for all)
  it("sends get_many's requests in waves of concurrency under a deadline, each cut to what is left", function()
    local t = with_many_and_start(api(function() return 200, {}, '{"id":"1"}' end, 0.5)) -- (0.5 s each)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 2, timeout = 30 }
    local values, errs = c:get_many({ "/1", "/2", "/3", "/4", "/5", "/6" }, { concurrency = 2 })
    assert.same({ 2, 2, 1, 1 }, t.timeouts)
    assert.equal("1", values[4].id)
    for i = 5, 6 do
      assert.is_false(values[i])
      assert.equal("deadline", errs[i].reason)
      assert.is_nil(errs[i].attempts) -- (never sent)
    end
    -- without a deadline: all at once
    local c2 = instagram.new{ access_token = "tok-12345", transport = t, deadline = false }
    t.timeouts = {}
    c2:get_many({ "/1", "/2", "/3" }, { concurrency = 2 })
    assert.same({ false, false, false }, t.timeouts)
  end)

  it("raises for bad arguments of start_get whatever the transport, at the caller's line", function()
    local c = instagram.new{ access_token = "tok-12345", transport = api(function() return 200, {}, "{}" end) }
    assert.has_error(function() c:start_get("/me", 5) end, "params must be a table or nil, got number")
    local ok, err = pcall(function() c:get(nil) end)
    assert.is_false(ok)
    assert.truthy(err:find("request_handler_spec.lua:%d+: path must be a non%-empty string"), err)
  end)

  it("stops a container wait whose pause overran the deadline before polling again", function()
    local t = api(function() return 200, {}, '{"id":"17900000000000001","status_code":"IN_PROGRESS"}' end)
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 5,
      sleep = function(d) t.clock = t.clock + d + 3 end }
    local _, err = c:wait_for_container("17900000000000001", { interval = 2 })
    assert.equal("deadline", err.reason)
    assert.equal(1, t.calls) -- the pause ended at +5: no poll then
    -- a poll that fails says which container to wait for again
    local t2 = api(function() return 500, {}, '{"error":{"message":"oops","code":1}}' end)
    local c2 = instagram.new{ access_token = "tok-12345", transport = t2, retries = 0 }
    local _, err2 = c2:wait_for_container("17900000000000001")
    assert.equal("17900000000000001", err2.container_id)
  end)

  it("starts no upload attempt or status read past the deadline, and says where to resume", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write(("v"):rep(1000)); f:close()
    local t = api(function()
      return 200, {}, '{"id":"1","video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":600}}}'
    end, 1.5)
    local starts = {}
    function t.upload()
      starts[#starts + 1] = t.clock
      return { status = 503, headers = {},
        body = '{"debug_info":{"retriable":true,"type":"ProcessingFailedError","message":"busy"}}' }
    end
    local c = instagram.new{ access_token = "tok-12345", transport = t, deadline = 5 }
    local t0 = t.clock
    local ok, err = c:upload_video("17900000000000001", path, { retry_base = 0.5, retry_cap = 0.5, max_attempts = 10 })
    assert.is_nil(ok)
    for _, at in ipairs(starts) do assert.is_true(at - t0 < 5, "an upload started at +" .. (at - t0)) end
    for _, r in ipairs(t.timeouts) do assert.is_true(r ~= false and r <= 5) end -- status reads within it
    assert.equal(600, err.offset) -- the container's count, read before the deadline came
    os.remove(path)
  end)
end)

describe("a call from an nginx phase without cosockets", function()
  for _, phase in ipairs{ "log", "header_filter", "body_filter", "init", "init_worker", "set" } do
    it("raises in the " .. phase .. " phase, naming it, instead of blocking the worker", function()
      in_phase(phase, function()
        local c = instagram.new{ access_token = "tok-12345", graph_url = "http://127.0.0.1:1" }
        local ok, err = pcall(c.get, c, "/me")
        assert.is_false(ok)
        assert.truthy(tostring(err):find("'" .. phase .. "' phase would block the worker", 1, true), tostring(err))
        assert.truthy(tostring(err):find("allow_blocking", 1, true))
        assert.falsy(tostring(err):find("tok-12345", 1, true))
      end)
    end)
  end

  it("goes through libcurl with allow_blocking = true (also its sleeps)", function()
    in_phase("log", function()
      local c = instagram.new{ access_token = "tok-12345", graph_url = "http://127.0.0.1:1", allow_blocking = true,
        retries = 1, retry_base = 0.01, retry_cap = 0.01 }
      local v, err = c:get("/me")
      assert.is_nil(v)
      assert.equal("transport", err.kind)
      assert.equal("connect", err.reason)
      assert.equal(2, err.attempts)
    end)
  end)

  it("takes pool_size and keepalive_timeout outside nginx too (libcurl keeps its own pool)", function()
    local c = instagram.new{ access_token = "tok-12345", graph_url = "http://127.0.0.1:1", pool_size = 8,
      keepalive_timeout = 30, retries = 0 }
    local _, err = c:get("/me")
    assert.equal("connect", err.reason)
    assert.has_error(function() instagram.new{ pool_size = 0 } end)
    assert.has_error(function() instagram.new{ keepalive_timeout = 0 } end)
    assert.has_error(function() instagram.new{ allow_blocking = "yes" } end)
  end)
end)

describe("instagram.transport.ngx.phase", function()
  local phase = require("instagram.transport.ngx").phase

  it("names nginx's phase, nil outside nginx, and never raises", function()
    assert.is_nil(phase())
    for _, p in ipairs{ "content", "timer", "log", "init_worker" } do
      in_phase(p, function() assert.equal(p, phase()) end)
    end
    local saved = rawget(_G, "ngx")
    for _, odd in ipairs{ { get_phase = function() error("API disabled in this context") end }, { get_phase = 42 }, 7 } do
      _G.ngx = odd
      local ok, v = pcall(phase)
      _G.ngx = saved
      assert.is_true(ok)
      assert.is_nil(v)
    end
  end)
end)
