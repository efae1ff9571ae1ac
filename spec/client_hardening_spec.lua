-- The client under hostile answers and careless options: numeric options checked at new(), a
-- server's Retry-After or regain time that cannot wedge the throttle, the spam refusal never
-- retried, and every secret a call carries kept out of its errors, on_retry and pager fields.
local H = require "spec.helper"
local instagram = require "instagram"
local json = require "instagram.json"

local TOKEN = "HARDEN-TOKEN-aaaaaaaaaaaa"
local APP_SECRET = "HARDEN-APP-SECRET-bbbbbbbb"

local function recorder(answer)
  local t = { sent = {} }
  function t.request(_, req)
    t.sent[#t.sent + 1] = req
    return answer(req, #t.sent)
  end
  t.now = function() return t.clock or 1000 end
  return t
end

local function reply(status, body, headers)
  local h = { ["content-type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return { status = status, headers = h, body = type(body) == "table" and json.encode(body) or body }
end

local function client(t, opts)
  local o = { access_token = TOKEN, app_secret = APP_SECRET, transport = t, retries = 0, sleep = function() end }
  for k, v in pairs(opts or {}) do o[k] = v end
  return instagram.new(o)
end

describe("instagram.new numeric options", function()
  local function refuses(opts, name, range)
    local ok, msg = pcall(instagram.new, opts)
    assert.is_false(ok, name)
    assert.matches("option '" .. name .. "'", msg, 1, true)
    if range then assert.matches(range, msg, 1, true) end
  end

  it("refuses values out of range, NaN and infinities, naming the option and the range", function()
    local nan, inf = 0 / 0, math.huge
    for _, v in ipairs{ -5, 0, 86401, nan, inf, -inf } do
      refuses({ timeout = v }, "timeout", "86400")
      refuses({ connect_timeout = v }, "connect_timeout", "86400")
    end
    for _, v in ipairs{ 1e12, 0, -1, 1.5, nan, inf, 2 ^ 32 + 1 } do refuses({ max_body = v }, "max_body", "4 GiB") end
    for _, v in ipairs{ -1, nan, inf, 86401 } do
      refuses({ retry_base = v }, "retry_base")
      refuses({ retry_cap = v }, "retry_cap")
      refuses({ retry_max_wait = v }, "retry_max_wait")
    end
    for _, v in ipairs{ -1, 11, 1.5, nan, inf } do refuses({ retries = v }, "retries", "0 to 10") end
    for _, v in ipairs{ -1, nan, inf } do refuses({ refresh_margin = v }, "refresh_margin") end
    for _, v in ipairs{ -1, 101, nan } do refuses({ throttle = { threshold = v } }, "throttle.threshold", "100") end
    for _, v in ipairs{ -1, nan, inf, 86401 } do refuses({ throttle = { max_delay = v } }, "throttle.max_delay") end
    refuses({ throttle = { threshold = "75" } }, "throttle.threshold")
    refuses({ throttle = { on_throttle = 1 } }, "throttle.on_throttle")
    refuses({ throttle = { treshold = 75 } }, "throttle.treshold")
  end)

  it("keeps taking sensible values", function()
    local c = instagram.new{ timeout = 0.5, connect_timeout = 86400, max_body = 2 ^ 32, retry_base = 0,
      retry_cap = 0, retry_max_wait = 0, retries = 10, refresh_margin = 0,
      throttle = { threshold = 0, max_delay = 0, on_throttle = print } }
    assert.equal(0.5, c.timeout)
    assert.equal(0, c.throttle.threshold)
  end)

  it("checks a call's own timeout", function()
    local t = recorder(function() return reply(200, { id = "1" }) end)
    local c = client(t)
    for _, v in ipairs{ -1, 0, 0 / 0, math.huge, "5" } do
      assert.has_error(function() c:get("/me", nil, { timeout = v }) end)
    end
    assert(c:get("/me", nil, { timeout = 5 }))
  end)
end)

describe("Retry-After and regain times from a hostile server", function()
  local function blocked_answer(retry_after, usage)
    return function()
      return reply(400, { error = { message = "(#4) Application request limit reached", type = "OAuthException",
                                   code = 4, is_transient = true } },
                   { ["retry-after"] = retry_after, ["x-business-use-case-usage"] = usage,
                     ["x-app-usage"] = '{"call_count":100,"total_time":1,"total_cputime":1}' })
    end
  end

  it("never makes later calls raise, and keeps every wait finite and at most a day", function()
    local buc = function(v) return '{"1":[{"type":"instagram","call_count":100,"estimated_time_to_regain_access":'
      .. v .. '}]}' end
    for _, case in ipairs{
      { "1e999" }, { "-1e999" }, { "inf" }, { "-inf" }, { "nan" }, { "NaN" }, { "-5" }, { "abc" }, { "0x10" },
      { "99999999999999999999" }, { " 12 " }, { "3.5" },
      { nil, buc("1e999") }, { nil, buc("1e300") }, { nil, buc("-1e999") }, { "1e999", buc("1e999") },
    } do
      local t = recorder(blocked_answer(case[1], case[2]))
      local c = client(t, { throttle = { threshold = 75, max_delay = 1 }, retries = 3 })
      local ok, res, err = pcall(c.get, c, "/me")
      assert(ok, res)
      assert.is_nil(res)
      if err.retry_after ~= nil then
        assert.is_true(err.retry_after >= 0 and err.retry_after <= 86400, tostring(err.retry_after))
      end
      for _ = 1, 2 do
        local ok2, res2, err2 = pcall(c.get, c, "/me")
        assert(ok2, res2)
        assert.is_nil(res2)
        assert.is_true(err2.retry_after == nil or (err2.retry_after >= 0 and err2.retry_after <= 86400))
        assert.is_string(tostring(err2))
      end
      local u = c:usage()
      assert.is_true(u.regain_access_seconds >= 0 and u.regain_access_seconds <= 86400)
      if c.blocked_until then assert.is_true(c.blocked_until - 1000 <= 86400) end
    end
  end)

  it("uses a sane Retry-After as given", function()
    local t = recorder(blocked_answer("120"))
    local c = client(t, { throttle = {} })
    local _, err = c:get("/me")
    assert.equal(120, err.retry_after)
    local _, blocked = c:get("/me")
    assert.equal("blocked", blocked.kind)
    assert.equal(120, blocked.retry_after)
    assert.equal(1, #t.sent)
  end)
end)

describe("the spam refusal (code 4, subcode 2207051)", function()
  it("is not retried, not even as a rate limit", function()
    local t = recorder(function()
      return reply(400, { error = { message = "We restrict certain activity to protect our community.",
        type = "OAuthException", code = 4, error_subcode = 2207051, is_transient = false } })
    end)
    local retried = 0
    local c = client(t, { retries = 3, throttle = {}, on_retry = function() retried = retried + 1 end })
    local _, err = c:post("/17841405822304914/media_publish", { creation_id = "17889455560051444" })
    assert.equal(4, err.code)
    assert.equal(2207051, err.subcode)
    assert.equal(1, #t.sent)
    assert.equal(0, retried)
    assert.is_nil(c.blocked_until)
  end)

  it("leaves plain code 4 (application request limit) retried", function()
    local t = recorder(function(_, n)
      if n == 1 then return reply(400, { error = { message = "(#4) limit", code = 4 } }) end
      return reply(200, { id = "1" })
    end)
    assert(client(t, { retries = 1 }):post("/17841405822304914/media_publish", { creation_id = "1" }))
    assert.equal(2, #t.sent)
  end)
end)

describe("secrets a call carries", function()
  local CALL = { client_secret = "CALL-CLIENT-SECRET-1111", code = "CALL-OAUTH-CODE-2222",
                 fb_exchange_token = "CALL-FBX-TOKEN-3333", input_token = "CALL-INPUT-TOKEN-4444",
                 refresh_token = "CALL-REFRESH-5555", access_token = "CALL-ACCESS-TOKEN-6666",
                 appsecret_proof = "CALL-PROOF-7777" }
  local EXTRA = "CALL-EXTRA-SCRUB-8888"
  local PATH_TOKEN = "PATH-QUERY-TOKEN-9999"

  local function all_secrets()
    local list = { TOKEN, APP_SECRET, EXTRA, PATH_TOKEN }
    for _, v in pairs(CALL) do list[#list + 1] = v end
    return list
  end

  -- Every string reachable from v (depth-limited), concatenated.
  local function strings(v, out, depth)
    out, depth = out or {}, depth or 0
    if type(v) == "string" then out[#out + 1] = v
    elseif type(v) == "table" and depth < 4 then
      for k, x in pairs(v) do strings(k, out, depth + 1) strings(x, out, depth + 1) end
    elseif v ~= nil then out[#out + 1] = tostring(v) end
    return out
  end

  local function assert_clean(what, v)
    local text = table.concat(strings(v), "\n")
    for _, s in ipairs(all_secrets()) do
      assert(not text:find(s, 1, true), what .. " carries " .. s .. ":\n" .. text)
    end
  end

  -- A server that echoes everything it was sent into every field of its error.
  local function echo(status)
    return function(req)
      local all = req.url .. " " .. (req.body or "") .. " " .. tostring(req.headers.Authorization)
      return reply(status, { error = { message = "bad " .. all, type = "T " .. all, code = 1,
        error_subcode = 2, fbtrace_id = "F " .. all, error_user_title = all, error_user_msg = all,
        is_transient = true } }, { ["www-authenticate"] = all })
    end
  end

  it("are scrubbed from errors and on_retry arguments, with opts.scrub", function()
    for _, method in ipairs{ "GET", "POST", "DELETE" } do
      for _, status in ipairs{ 400, 500 } do
        local seen = {}
        local t = recorder(echo(status))
        local c = client(t, { retries = 2, on_retry = function(...) seen[#seen + 1] = { ... } end })
        local params = { fields = "id" }
        for k, v in pairs(CALL) do params[k] = v end
        local res, err = c:request(method, "/oauth/access_token?x=" .. EXTRA .. "&access_token=" .. PATH_TOKEN,
          params, { scrub = { EXTRA } })
        assert.is_nil(res)
        assert_clean("the error", err)
        assert_clean("tostring(err)", tostring(err))
        assert_clean("on_retry's arguments", seen)
        if method ~= "POST" then assert.equal(2, #seen) end
      end
    end
  end)

  it("are scrubbed from transport failures, start_get and get_many", function()
    local t = recorder(function(req) return nil, "network", "reset while sending " .. req.url end)
    local c = client(t, { retries = 1 })
    local _, err = c:get("/debug_token", { input_token = CALL.input_token })
    assert.equal("network", err.reason)
    assert_clean("a transport error", err)
    local _, errs = c:get_many{ { "/debug_token", { input_token = CALL.input_token } },
                                "/me?access_token=" .. PATH_TOKEN }
    assert_clean("get_many errors", errs)
    t.start = function(_, req)
      return { finish = function() return nil, "network", "reset " .. req.url end, cancel = function() end }
    end
    local h = assert(c:start_get("/debug_token", { input_token = CALL.input_token }))
    local _, serr = h.finish()
    assert_clean("start_get error", serr)
  end)

  it("checks opts.scrub", function()
    local c = client(recorder(echo(400)))
    assert.has_error(function() c:get("/me", nil, { scrub = "x" }) end)
    assert.has_error(function() c:get("/me", nil, { scrub = { 1 } }) end)
  end)
end)

describe("a pager following paging.next", function()
  it("keeps no secret in next_url and hands none to on_retry", function()
    local other = "SERVER-ECHOED-TOKEN-xyz"
    local next_url = "https://graph.facebook.com/v24.0/17841405822304914/media?access_token=" .. TOKEN
      .. "&appsecret_proof=PROOF-FROM-SERVER-1&limit=2&x=" .. APP_SECRET .. "&after=QVFIUmd&y=" .. other
      .. "&client_secret=" .. APP_SECRET .. "z"
    local t = recorder(function(req, n)
      if n == 1 then return reply(200, { data = { { id = "1" } }, paging = { next = next_url } }) end
      if n == 2 then return reply(503, "<html>busy</html>", { ["content-type"] = "text/html" }) end
      assert.not_matches("access_token", req.url)
      return reply(200, { data = { { id = "2" } } })
    end)
    local paths = {}
    local c = client(t, { retries = 1, on_retry = function(_, _, _, _, path) paths[#paths + 1] = path end })
    local p = c:edge("/17841405822304914/media", { limit = 2 })
    assert(p:next_page())
    for _, s in ipairs{ TOKEN, APP_SECRET, c:appsecret_proof(), "PROOF-FROM-SERVER-1", "access_token",
                        "appsecret_proof", "client_secret" } do
      assert.is_nil(p.next_url:find(s, 1, true), s)
    end
    assert.matches("after=QVFIUmd", p.next_url, 1, true)
    assert.matches("limit=2", p.next_url, 1, true)
    assert.matches("y=" .. other, p.next_url, 1, true)
    assert(p:next_page())
    assert.equal(1, #paths)
    assert.is_nil(paths[1]:find(TOKEN, 1, true))
    assert.matches("after=QVFIUmd", t.sent[3].url, 1, true)
  end)

  it("on the emulator: next links carry the token, the pager keeps none", function()
    H.reset()
    local c = H.client()
    local p = c:edge("/" .. H.IG_USER_ID .. "/media", { limit = 20 })
    assert(p:next_page())
    assert.matches("after=", p.next_url)
    assert.is_nil(p.next_url:find(H.token, 1, true))
    assert.is_nil(p.next_url:find("access_token", 1, true))
    assert.equal(60, #assert(p:reset():all()))
  end)
end)

describe("answers of the wrong shape", function()
  local function answering(body)
    return recorder(function() return reply(200, body) end)
  end

  it("never make a node wrapper raise, nor return nil without an error", function()
    local calls = {
      function(c) return c:ig_user("17841405822304914"):business_discovery("someone") end,
      function(c) return c:ig_user("17841405822304914"):mentioned_media("17918195224100001") end,
      function(c) return c:ig_user("17841405822304914"):mentioned_comment("17858893269000001") end,
      function(c) return c:ig_media("17918195224100001"):copyright_check() end,
      function(c) return c:ig_container("17889455560051444"):copyright_check_status() end,
      function(c) return c:page("134895793791914"):instagram_business_account() end,
      function(c) return c:hashtag_search("17841405822304914", "coke") end,
      function(c)
        local p = c:ig_user("17841405822304914"):business_discovery_media("someone", nil, { limit = 2 })
        local list, err = p:all()
        if list and #list == 0 then return false end -- nothing to page: an empty walk
        return list, err
      end,
    }
    for _, body in ipairs{ "null", "42", "true", '"x"', "[]", "{}", '{"data":[{"id":{"x":1}}]}' } do
      for i, call in ipairs(calls) do
        local ok, v, err = pcall(call, client(answering(body)))
        assert(ok, ("call %d answered with %s raised: %s"):format(i, body, tostring(v)))
        assert(v ~= nil or err ~= nil, ("call %d answered with %s returned nil without an error"):format(i, body))
        if v == nil then assert.is_true(instagram.is_error(err)) end
      end
    end
  end)

  it("keep the documented answers working", function()
    local c = client(answering('{"instagram_business_account":{"id":"17841405822304914"},"id":"1"}'))
    assert.same({ id = "17841405822304914" }, c:page("134895793791914"):instagram_business_account())
    assert.is_false(client(answering('{"id":"1"}')):page("134895793791914"):instagram_business_account())
    assert.equal("17843853986012965",
      client(answering('{"data":[{"id":"17843853986012965"}]}')):hashtag_search("17841405822304914", "coke"))
    local _, err = client(answering('{"data":[]}')):hashtag_search("17841405822304914", "coke")
    assert.equal(100, err.code)
  end)

  it("a cursor holding the token is not sent back", function()
    local t = recorder(function()
      return reply(200, { data = { { id = "1" } }, paging = { cursors = { after = "x" .. TOKEN .. "y" } } })
    end)
    local c = client(t)
    local p = c:ig_user("17841405822304914"):tags({ limit = 1 })
    local list, err = p:all()
    assert.is_nil(list)
    assert.equal("invalid", err.reason)
    assert.equal(1, #t.sent)
    assert.is_nil(p.next_params.after)
    local bt = recorder(function()
      return reply(200, { business_discovery = { media = { data = { { id = "1" }, { id = "2" } },
        paging = { cursors = { after = TOKEN } } } } })
    end)
    local n = client(bt):ig_user("17841405822304914"):business_discovery_media("someone", nil, { limit = 2 })
    local _, nerr = n:all()
    assert.equal("invalid", nerr.reason)
    assert.equal(1, #bt.sent)
    assert.is_nil(n.after)
  end)

  it("a paging.next longer than 64 KiB ends the walk with nil, err", function()
    local t = recorder(function(req, n)
      assert(#req.url <= 65536, "a URL of " .. #req.url .. " bytes was sent")
      return reply(200, { data = { { id = tostring(n) } }, paging = { next = n == 1
        and "https://graph.facebook.com/v24.0/me/media?pad=" .. ("p"):rep(65536) .. "&access_token=" .. TOKEN or nil } })
    end)
    local c = client(t)
    local ok, list, err = pcall(function() return c:edge("/me/media"):all() end)
    assert(ok, list)
    assert.is_nil(list)
    assert.equal("invalid", err.reason)
    assert.equal(1, #t.sent)
    local _, gerr = c:get("/me", { q = ("b"):rep(70000) })
    assert.equal("invalid", gerr.reason)
  end)

  it("a repeated Content-Type or Retry-After header (a list, as nginx gives it) does not raise", function()
    local t = recorder(function()
      return { status = 503, headers = { ["content-type"] = { "application/json", "text/html" },
        ["retry-after"] = { "7", "9" } }, body = "{oops" }
    end)
    local ok, res, err = pcall(client(t).get, client(t), "/me")
    assert(ok, res)
    assert.equal("decode", err.kind)
    assert.equal(503, err.status)
    local _, herr = client(t):get("/me")
    assert.is_nil(herr.retry_after) -- a decode error carries none; an http one does:
    local h = recorder(function()
      return { status = 429, headers = { ["content-type"] = { "text/html" }, ["retry-after"] = { "7", "9" } },
        body = "<html>slow down</html>" }
    end)
    local _, e2 = client(h):get("/me")
    assert.equal(7, e2.retry_after)
  end)

  it("usage headers echoing a secret keep none of it in client:usage()", function()
    local t = recorder(function()
      return reply(200, { id = "1" }, {
        ["x-app-usage"] = json.encode{ call_count = 5, echo = TOKEN, [TOKEN] = 1 },
        ["x-business-use-case-usage"] = json.encode{ [TOKEN] = { { type = TOKEN, call_count = 9,
          estimated_time_to_regain_access = 0 } } },
        ["x-ad-account-usage"] = json.encode{ acc_id_util_pct = 1, x = APP_SECRET } })
    end)
    local c = client(t)
    assert(c:get("/me"))
    local u = c:usage()
    assert.equal(9, u.max_percent)
    local seen = {}
    local function walk(v, d)
      if type(v) == "table" and d < 6 then for k, x in pairs(v) do walk(k, d + 1) walk(x, d + 1) end
      else seen[#seen + 1] = tostring(v) end
    end
    walk(u, 0)
    local text = table.concat(seen, " ")
    assert.is_nil(text:find(TOKEN, 1, true), text)
    assert.is_nil(text:find(APP_SECRET, 1, true), text)
  end)
end)

describe("list parameters of the insights calls, and oembed's params", function()
  it("joins metric and breakdown lists with commas and refuses anything else, naming it", function()
    local t = recorder(function() return reply(200, { data = {} }) end)
    local c = client(t)
    assert(c:ig_media("1"):insights{ metric = { "reach", "likes" }, breakdown = "action_type" })
    assert.truthy(t.sent[1].url:find("metric=reach%2Clikes", 1, true), t.sent[1].url)
    assert(c:ig_user("1"):insights{ metric = "reach", period = "day", metric_type = "total_value",
      breakdown = { "media_product_type", "follow_type" } })
    assert.truthy(t.sent[2].url:find("breakdown=media_product_type%2Cfollow_type", 1, true), t.sent[2].url)
    assert.has_error(function() c:ig_media("1"):insights{ metric = { "reach", {} } } end,
      "insights: metric item 2 must be a non-empty string, got table")
    assert.has_error(function() c:ig_media("1"):insights{ metric = 5 } end,
      "insights: metric must be a name or a non-empty list of names, got number")
    assert.has_error(function() c:ig_media("1"):insights{ metric = {} } end,
      "insights: metric must be a name or a non-empty list of names, got table")
    assert.has_error(function()
      c:ig_user("1"):insights{ metric = "reach", period = "day", metric_type = "total_value", breakdown = { 7 } }
    end, "insights: breakdown item 1 must be a non-empty string, got number")
    assert.has_error(function() c:oembed("https://www.instagram.com/p/x/", 5) end,
      "oembed: params must be a table or nil, got number")
    assert.equal(2, #t.sent) -- nothing refused was sent
  end)
end)
