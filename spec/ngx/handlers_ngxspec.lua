-- Runs only inside the test nginx (spec/ngx/run): the library in content handlers of this same
-- single worker, called over cosockets, and proof that a slow Graph call blocks nobody.
local H = require "spec.helper"
local json = require "instagram.json"
local ngx_transport = require "instagram.transport.ngx"

local base = assert(os.getenv("IG_NGX_TEST_URL"), "run through spec/ngx/run")
local http = ngx_transport.new{ timeout = 20 }

local function get(path)
  local res, reason, msg = http:request{ method = "GET", url = base .. path }
  assert(res, tostring(reason) .. ": " .. tostring(msg))
  return res.status, json.decode(res.body)
end

describe("inside nginx", function()
  before_each(function() H.reset() end)

  it("runs this suite in a phase with cosockets, so clients pick the ngx transport", function()
    assert.is_true(ngx_transport.available())
    assert.equal("ngx", H.client().transport:pick().name)
    assert.equal(ngx.get_phase(), ngx_transport.phase()) -- the phase, as nginx names it
    assert.is_string(ngx_transport.phase())
  end)

  it("serves a handler that reads a profile through the library", function()
    local status, body = get("/t/profile?ig=" .. H.IG_USER_ID)
    assert.equal(200, status)
    assert.equal("metricsaurus", body.user.username)
    assert.equal(1520, body.user.followers_count)
    assert.equal("ngx", body.transport)
    assert.is_number(body.usage.app.call_count)
    local r = H.log()[1]
    assert.equal("Bearer " .. H.token, r.headers.authorization)
    assert.matches("%(ngx_lua%)$", r.headers["user-agent"])
    assert.equal("https", r.scheme)
  end)

  it("walks a pager inside a handler, following next links without the token", function()
    local status, body = get("/t/media?ig=" .. H.IG_USER_ID .. "&max=25")
    assert.equal(200, status)
    assert.equal(25, #body.ids)
    assert.equal(3, body.pages)
    for _, r in ipairs(H.log()) do assert.not_matches("access_token", r.uri) end
  end)

  -- (an outside attack: finish() and a pager's next page raised "only the parent coroutine can wait
  -- on the thread" from any light thread but the one that started them)
  it("finishes a started request from another light thread, or another request, of the worker", function()
    local c = H.client{ retries = 0 }
    local h = assert(c:start_get("/me"))
    local got
    assert(ngx.thread.wait(ngx.thread.spawn(function() got = { h.finish() } end)))
    assert.equal("10158000000000001", got[1].id)
    local pager = c:ig_user("17841405822304914"):media{ fields = "id", limit = 2, max_items = 4, prefetch = true }
    local first = assert(pager:next_page())
    local second
    assert(ngx.thread.wait(ngx.thread.spawn(function() second = { pager:next_page() } end)))
    assert.is_table(second[1], tostring(second[2]))
    assert.is_true(#first.data + #second[1].data >= 3)
    -- started by this timer, finished by a request to the worker
    local handlers = require "spec.ngx.handlers"
    handlers.saved = assert(c:start_get("/me"))
    local status, body = get("/t/handle?finish=1")
    assert.equal(200, status)
    assert.equal("10158000000000001", body.id)
    -- started by a request that ended at once (its light threads with it): an error, by the deadline
    H.config{ faults = { { path = "/me$", delay = 0.5 } } }
    status = get("/t/handle?start=/me&exit=1")
    assert.equal(204, status)
    local t0 = ngx.now()
    local v, err = handlers.saved.finish()
    assert.is_nil(v)
    assert.equal("transport", err.kind)
    assert.is_true(ngx.now() - t0 < 10)
  end)

  it("calls through cosockets, under a deadline, in the server_rewrite phase too", function()
    local status, body = get("/t/anything?server_rewrite=1")
    assert.equal(200, status)
    assert.same({ phase = "server_rewrite", transport = "ngx", id = "10158000000000001", deadline = true }, body)
  end)

  it("uses cosockets in handlers even for a client made in init_worker", function()
    local status, body = get("/t/early")
    assert.equal(200, status)
    assert.equal("ngx", body.transport)
    assert.is_true(body.ok, body.err)
    assert.matches("%(ngx_lua%)$", H.log()[1].headers["user-agent"])
  end)

  it("returns Graph errors without the token", function()
    local _, body = get("/t/error")
    assert.equal("graph", body.kind)
    assert.equal(190, body.code)
    assert.equal("OAuthException", body.type)
    assert.is_string(body.fbtrace_id)
    assert.not_matches("NOT%-A%-TOKEN", body.text)
  end)

  it("keeps serving 50 requests while one handler waits 2 s on the Graph API", function()
    H.config{ faults = { { path = "/slow%-graph%-call", delay = 2, status = 200, body = '{"id":"1"}',
                           content_type = "application/json" } } }
    local t0 = ngx.now()
    local slow = ngx.thread.spawn(function()
      local _, body = get("/t/slow")
      return ngx.now() - t0, body
    end)
    ngx.sleep(0.1) -- let the slow one reach the emulator first
    local fast = {}
    for i = 1, 50 do
      fast[i] = ngx.thread.spawn(function()
        local status, body = get("/t/profile?ig=" .. H.IG_USER_ID)
        return ngx.now() - t0, status, body.user and body.user.username
      end)
    end
    local latest = 0
    for i = 1, 50 do
      local ok, finished, status, username = ngx.thread.wait(fast[i])
      assert.is_true(ok)
      assert.equal(200, status)
      assert.equal("metricsaurus", username)
      if finished > latest then latest = finished end
    end
    local ok, slow_finished, slow_body = ngx.thread.wait(slow)
    assert.is_true(ok)
    assert.is_true(slow_body.ok)
    assert.is_true(slow_body.waited >= 1.9)
    assert.is_true(latest < slow_finished,
      ("fast requests ended at %.2fs, the slow one at %.2fs"):format(latest, slow_finished))
    assert.is_true(latest < 1.9, ("50 requests took %.2fs beside the slow one"):format(latest))
  end)

  it("retries with ngx.sleep, which yields instead of blocking the worker", function()
    local c = H.client{ retries = 2, retry_base = 0.05 }
    local ran = false
    ngx.thread.spawn(function() ran = true end)
    c.sleep(0.05) -- a blocking sleep would not let the other thread run first
    assert.is_true(ran)
    H.config{ faults = { { path = "/me$", status = 503, times = 2 } } }
    local me, err = c:get("/me")
    assert.is_nil(err)
    assert.equal("10158000000000001", me.id)
    assert.equal(3, #H.log())
  end)

  it("reports timeouts and refused connections like the curl transport", function()
    H.config{ faults = { { path = "/slowish", delay = 1 } } }
    local c = H.client()
    local _, err = c:get("/slowish", nil, { timeout = 0.2 })
    assert.equal("timeout", err.kind)
    local _, err2 = H.client{ graph_url = "http://127.0.0.1:1" }:get("/me")
    assert.equal("transport", err2.kind)
    assert.equal("connect", err2.reason)
  end)

  -- nginx's clock (ngx.now, and the timers of cosockets) moves only when its event loop turns: after
  -- a blocking call or a long stretch of Lua work it is behind, and a deadline reckoned from it is
  -- already partly (or wholly) spent. A call gets its whole timeout all the same.
  it("gives a call its whole timeout after the worker was blocked longer than that", function()
    H.config{ faults = { { path = "/me$", delay = 0.3 } } } -- (answers that take a while)
    local c = H.client{ retries = 0 }
    local sleep = require("socket").sleep -- (blocking: nginx's event loop does not turn)
    for _, call in ipairs{
      function() return c:get("/me", nil, { timeout = 1 }) end, -- (a new connection)
      function() return c:get("/me", nil, { timeout = 1 }) end, -- (a pooled one)
      function() return ngx_transport.new{ timeout = 1 }:request{ method = "GET", url = base .. "/hostile/count" } end,
    } do
      sleep(1.2)
      local t0 = require("instagram.core").now()
      local v, err = call()
      assert.truthy(v, tostring(err and (err.message or err)))
      assert.is_true(require("instagram.core").now() - t0 < 1)
    end
    -- and the client's clock is the present, not the loop's last turn
    sleep(0.5)
    assert.is_true(math.abs(c.now() - require("instagram.core").now()) < 0.05)
  end)

  -- An upload's limit is per step (stall_timeout): each step's timer counts from the present, after
  -- a blocking call before the upload or in its progress callback, while other work turns the loop.
  it("gives each step of an upload its whole stall timeout after the worker was blocked", function()
    local sleep = require("socket").sleep
    local function other_work() ngx.thread.spawn(function() ngx.sleep(0.05) end) end
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(("x"):rep(1000))
    f:close()
    local c = H.client{ rupload_url = H.graph_url, timeout = 1, retries = 0 }
    assert(c:get("/me")) -- (a pooled connection)
    H.config{ faults = { { path = "ig%-api%-upload", delay = 0.3 } } }
    sleep(1.2)
    other_work()
    local _, err = c:raw_upload(H.graph_url .. "/ig-api-upload/v24.0/123", { offset = "0", file_size = "1000" }, path, 0)
    assert.is_not_equal("timeout", err and (err.reason or err.kind), tostring(err and err.message))
    -- the transport alone: the answer takes 1.5 s, of which 1.2 s the progress callback blocked
    local t = ngx_transport.new{ timeout = 1 }
    H.config{ faults = { { path = "/me$", delay = 1.5 } } }
    local res, reason, message = t:upload{ url = H.graph_url .. "/me", file = path, headers = {}, stall_timeout = 1,
      progress = function(sent, total) if sent == total then sleep(1.2); other_work() end end }
    os.remove(path)
    assert.truthy(res, tostring(reason) .. ": " .. tostring(message))
  end)
end)
