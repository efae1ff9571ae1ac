-- The per-call path (issue #13): answers decoded by the C core straight from its buffer
-- (session:request's `decode` argument, the libcurl transport's `req.decode`), and what a client
-- keeps between calls so that it does not redo them (resolved paths, prepared scrub lists, parsed
-- usage headers) — each shown to be dropped as soon as what it depends on changes.
local HS = require "spec.hostile_helper"
local core = require "instagram.core"
local json = require "instagram.json"
local errors = require "instagram.error"
local instagram = require "instagram"

local function session() return core.session{ ca_file = HS.ca_file, timeout = 10 } end

describe("session:request with decode (the C core decodes from its buffer)", function()
  local s, key
  before_each(function()
    HS.require_server()
    s = session()
    key = "percall-" .. HS.random(12)
  end)
  after_each(function()
    s:close()
    HS.set_mode(key, nil)
  end)

  local function answer(status, body, headers)
    HS.set_mode(key, { status = status, headers = headers or { ["Content-Type"] = "application/json" }, body = body })
    return s:request("GET", HS.https_url .. "/v24.0/me", { Authorization = "Bearer " .. key }, nil, nil,
      json.core_options())
  end

  it("gives a 2xx JSON answer as a value, with no body string", function()
    local status, headers, body, value, why = answer(200, '{"id":17841405822304915,"data":[],"n":null}')
    assert.equal(200, status)
    assert.equal("application/json", headers["content-type"])
    assert.is_nil(body)
    assert.is_nil(why)
    assert.equal(json.array_mt, getmetatable(value.data))
    assert.equal(json.null, value.n)
    assert.equal('{"data":[],"id":17841405822304915,"n":null}', json.encode(value))
  end)

  it("keeps the body of an answer that is not JSON, and says why", function()
    local status, _, body, value, why = answer(200, "<html>oops</html>")
    assert.equal(200, status)
    assert.equal("<html>oops</html>", body)
    assert.is_nil(value)
    assert.equal("expected a value at byte 1", why)
  end)

  it("keeps the body of an answer that is not 2xx, decoded too", function()
    local text = '{"error":{"message":"Invalid OAuth access token.","code":190}}'
    local status, _, body, value, why = answer(400, text)
    assert.equal(400, status)
    assert.equal(text, body)
    assert.equal(190, value.error.code)
    assert.is_nil(why)
  end)

  it("answers an empty body as the empty string", function()
    local status, _, body, value, why = answer(204, "", {})
    assert.equal(204, status)
    assert.equal("", body)
    assert.is_nil(value)
    assert.is_nil(why)
  end)

  it("checks the options before anything is sent, and does not read them again", function()
    local url = HS.https_url .. "/v24.0/me"
    assert.has_error(function() s:request("GET", url, nil, nil, nil, "yes") end)
    assert.has_error(function() s:request("GET", url, nil, nil, nil, { max_depth = 0 }) end,
      "decode.max_depth must be a whole number from 1 to 1000")
    assert.has_error(function() s:request("GET", url, nil, nil, nil, { array_mt = 1 }) end,
      "decode.array_mt must be a table")
    -- read raw, before the request: an __index on the options is never consulted
    local opts = setmetatable({ max_depth = 2 }, { __index = function() error("__index ran") end })
    HS.set_mode(key, { status = 200, headers = { ["Content-Type"] = "application/json" }, body = '{"a":[[1]],"e":[]}' })
    local _, _, _, value, why = s:request("GET", url, { Authorization = "Bearer " .. key }, nil, nil, opts)
    assert.is_nil(value)
    assert.equal("JSON nested deeper than 2 levels at byte 7", why)
  end)

  it("puts in the headers table only the names `want` lists, and checks the list before anything is sent", function()
    HS.set_mode(key, { status = 200, body = '{"id":"1"}', headers = { ["Content-Type"] = "application/json",
      ["X-App-Usage"] = '{"call_count":5}', ["X-Other"] = "a", ["Retry-After"] = "7" } })
    local url, auth = HS.https_url .. "/v24.0/me", { Authorization = "Bearer " .. key }
    local want = { "x-app-usage", "retry-after", "x-absent" }
    local status, headers, _, value = s:request("GET", url, auth, nil, nil, json.core_options(), want)
    assert.equal(200, status)
    assert.same({ ["x-app-usage"] = '{"call_count":5}', ["retry-after"] = "7" }, headers)
    assert.same({ id = "1" }, value)
    local _, plain_headers, body = s:request("GET", url, auth, nil, nil, nil, { "content-type" }) -- (no decode)
    assert.same({ ["content-type"] = "application/json" }, plain_headers)
    assert.equal('{"id":"1"}', body)
    assert.same({}, select(2, s:request("GET", url, auth, nil, nil, nil, {})))
    assert.equal("a", select(2, s:request("GET", url, auth))["x-other"]) -- (nil: every header)
    for bad, message in pairs{
      [1] = "want must be a list of header names",
      [{ 1 }] = "want[1] must be a string",
      [{ "" }] = "want[1] must be a header name of 1 to 256 bytes",
      [{ ("a"):rep(257) }] = "want[1] must be a header name of 1 to 256 bytes",
      [{ "x", "Retry-After" }] = "want[2] must be lower-case",
      [{ "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q" }] =
        "want must be a list of at most 16 header names",
    } do
      HS.set_mode(key, nil)
      assert.has_error(function() s:request("GET", url, auth, nil, nil, nil, bad) end, message)
    end
    -- read raw: an __index on the list is never consulted
    HS.set_mode(key, { status = 200, body = "{}", headers = { ["X-A"] = "1", ["X-B"] = "2" } })
    local raw = setmetatable({ "x-a" }, { __index = function() error("__index ran") end })
    assert.same({ ["x-a"] = "1" }, select(2, s:request("GET", url, auth, nil, nil, nil, raw)))
  end)

  it("is what the libcurl transport answers for req.decode", function()
    local t = require("instagram.transport.curl").new{ ca_file = HS.ca_file }
    HS.set_mode(key, { status = 200, headers = { ["Content-Type"] = "application/json" }, body = '{"id":"1"}' })
    local req = { method = "GET", url = HS.https_url .. "/v24.0/me", headers = { Authorization = "Bearer " .. key } }
    local plain = assert(t:request(req))
    assert.equal('{"id":"1"}', plain.body)
    assert.is_nil(plain.value)
    req.decode = true
    local decoded = assert(t:request(req))
    assert.is_nil(decoded.body)
    assert.same({ id = "1" }, decoded.value)
    t:close()
  end)
end)

describe("what a client keeps between calls", function()
  local seen
  local function fake_client(opts)
    seen = {}
    local t = { name = "fake", sleep = function() end, now = core.now, headers = {}, body = "{}" }
    function t:request(req)
      seen[#seen + 1] = req
      return { status = 200, headers = self.headers, body = self.body }
    end
    opts = opts or {}
    opts.transport = t
    opts.graph_url = opts.graph_url or "https://127.0.0.1:1"
    opts.retries = 0
    return instagram.new(opts), t
  end

  it("resolves a path again when the token, graph_url or version change", function()
    local c = fake_client{ access_token = "TOKEN-AAAAAAAAAAAA" }
    assert(c:get("/me", { fields = "id" }))
    assert(c:get("/me", { fields = "name" })) -- from the cache: its own copy of the parameters
    assert.equal("https://127.0.0.1:1/v24.0/me?fields=id", seen[1].url)
    assert.equal("https://127.0.0.1:1/v24.0/me?fields=name", seen[2].url)
    assert(c:get("/x?a=1"))
    assert(c:get("/x?a=1", { b = 2 }))
    assert(c:get("/x?a=1"))
    assert.equal("https://127.0.0.1:1/v24.0/x?a=1", seen[5].url)
    c.version = "v19.0"
    assert(c:get("/me"))
    assert.equal("https://127.0.0.1:1/v19.0/me", seen[6].url)
    c.graph_url = "https://127.0.0.1:2"
    assert(c:get("/me"))
    assert.equal("https://127.0.0.1:2/v19.0/me", seen[7].url)
    -- the new token is a secret from now on: a path that holds it is refused, cache or not
    assert(c:get("/NEWTOKEN-BBBBBBBBBBB"))
    c:set_access_token("NEWTOKEN-BBBBBBBBBBB")
    local none, err = c:get("/NEWTOKEN-BBBBBBBBBBB")
    assert.is_nil(none)
    assert.equal("invalid", err.reason)
    assert.equal(8, #seen)
  end)

  it("keeps at most 256 resolved paths", function()
    local c = fake_client{ access_token = "TOKEN-AAAAAAAAAAAA" }
    for i = 1, 600 do assert(c:get("/p" .. i)) end
    assert.equal("https://127.0.0.1:1/v24.0/p600", seen[600].url)
    for _, v in pairs(debug.getregistry()) do -- the side table of secrets: find the cache in it
      if type(v) == "table" and getmetatable(v) and getmetatable(v).__mode == "k" and rawget(v, c) then
        local cache = rawget(v, c).resolved
        if cache then
          local n = 0
          for _ in pairs(cache[false]) do n = n + 1 end
          assert.is_true(n <= 256)
        end
      end
    end
  end)

  it("tells its transport the only answer headers it reads; with the libcurl transport they still count", function()
    local c = fake_client{ access_token = "TOKEN-AAAAAAAAAAAA" }
    assert(c:get("/me"))
    local names = {}
    for i, n in ipairs(seen[1].want_headers) do names[i] = n end
    table.sort(names)
    assert.same({ "content-type", "retry-after", "x-ad-account-usage", "x-app-usage", "x-business-use-case-usage" },
      names)
    -- each client's own list: a transport that changes one changes nothing for another client
    local mine = seen[1].want_headers
    local other = fake_client{ access_token = "TOKEN-BBBBBBBBBBBB" }
    for i = 1, 20 do mine[#mine + 1] = "x-more-" .. i end
    assert(other:get("/me"))
    assert.equal(5, #seen[1].want_headers)
    -- over libcurl, among a crowd of other headers: usage and Retry-After are read, an error answer too
    HS.require_server()
    local key = "percall-want-" .. HS.random(12)
    finally(function() HS.set_mode(key, nil) end)
    local crowd = { ["Content-Type"] = "application/json", ["X-App-Usage"] = '{"call_count":42}' }
    for i = 1, 30 do crowd["X-FB-Noise-" .. i] = ("n"):rep(40) end
    HS.set_mode(key, { status = 200, headers = crowd, body = '{"id":"1"}' })
    local real = instagram.new{ access_token = key, graph_url = HS.https_url, ca_file = HS.ca_file, retries = 0 }
    assert.same({ id = "1" }, assert(real:get("/me")))
    assert.equal(42, real:usage().max_percent)
    crowd["Retry-After"] = "9"
    HS.set_mode(key, { status = 503, headers = crowd, body = '{"error":{"message":"busy","code":2}}' })
    local _, err = real:get("/me")
    assert.equal(2, err.code)
    assert.equal(9, err.retry_after)
  end)

  it("parses the usage headers once while their text stays the same, and scrubs them", function()
    local usage_m = require "instagram.usage"
    local parse, parsed = usage_m.parse, 0
    usage_m.parse = function(...) parsed = parsed + 1 return parse(...) end
    finally(function() usage_m.parse = parse end)
    local c, t = fake_client{ access_token = "TOKEN-AAAAAAAAAAAA" }
    t.headers = { ["x-app-usage"] = '{"call_count":30,"total_time":5,"total_cputime":7}' }
    assert(c:get("/me"))
    local u1 = c:usage()
    assert.equal(30, u1.max_percent)
    u1.max_percent, u1.app.call_count = -1, -1 -- the caller's copy: the client's own is untouched
    assert(c:get("/me"))
    assert.equal(1, parsed) -- not parsed again
    assert.same({ max_percent = 30, call_count = 30 }, { max_percent = c:usage().max_percent,
      call_count = c:usage().app.call_count })
    assert.are_not.equal(c:usage(), c:usage())
    t.headers = { ["x-app-usage"] = '{"call_count":31,"total_time":5,"total_cputime":7}' }
    assert(c:get("/me"))
    assert.equal(31, c:usage().max_percent)
    t.headers = { ["x-app-usage"] = '{"call_count":1,"TOKEN-AAAAAAAAAAAA":"TOKEN-AAAAAAAAAAAA"}' }
    assert(c:get("/me"))
    assert(c:get("/me"))
    assert.equal("[redacted]", c:usage().app["[redacted]"])
    -- a call with a secret of its own scrubs that one too, although the header text is the same
    t.headers = { ["x-app-usage"] = '{"call_count":1,"echo":"CALL-SECRET-CCCCCCCC"}' }
    assert(c:get("/me"))
    assert.equal("CALL-SECRET-CCCCCCCC", c:usage().app.echo)
    assert(c:get("/me", nil, { scrub = { "CALL-SECRET-CCCCCCCC" } }))
    assert.equal("[redacted]", c:usage().app.echo)
  end)

  it("takes a transport's decode_error as a failure, with or without the body", function()
    local c, t = fake_client{ access_token = "TOKEN-AAAAAAAAAAAA" }
    function t.request() return { status = 200, headers = {}, decode_error = "expected a value at byte 1" } end
    local none, err = c:get("/me")
    assert.is_nil(none)
    assert.equal("decode", err.kind)
    assert.matches("expected a value at byte 1", err.message)
    function t.request() return { status = 200, headers = {}, body = "<html>", decode_error = "expected a value at byte 1" } end
    none, err = c:get("/me")
    assert.is_nil(none)
    assert.equal("decode", err.kind)
  end)

  it("prepares a scrub list once, and again when it changed in place", function()
    local list = { "SECRET-ONE-111111" }
    assert.equal("a [redacted] b", errors.scrub("a SECRET-ONE-111111 b", list))
    list[1] = "SECRET-TWO-222222"
    assert.equal("a SECRET-ONE-111111 b", errors.scrub("a SECRET-ONE-111111 b", list))
    assert.equal("a [redacted] b", errors.scrub("a SECRET-TWO-222222 b", list))
    list[2] = "OTHER-THREE-3333"
    assert.equal("[redacted] [redacted]", errors.scrub("SECRET-TWO-222222 OTHER-THREE-3333", list))
    list[2] = nil
    assert.equal("[redacted] OTHER-THREE-3333", errors.scrub("SECRET-TWO-222222 OTHER-THREE-3333", list))
    list.n = "NAMED-N-SECRET-44" -- a key named n holds a secret too
    assert.equal("[redacted]", errors.scrub("NAMED-N-SECRET-44", list))
    local proxied = setmetatable({}, { __pairs = function() return next, { "PAIRS-SECRET-5555" }, nil end })
    if _VERSION >= "Lua 5.2" then assert.equal("[redacted]", errors.scrub("PAIRS-SECRET-5555", proxied)) end
  end)
end)

describe("instagram.transport.auto.new", function()
  it("refuses an option neither transport knows, at once; the values wait for the first call", function()
    local auto = require "instagram.transport.auto"
    assert.has_error(function() auto.new{ timeuot = 5 } end,
      "transport.auto.new: unknown option 'timeuot' (known: allow_blocking, ca_file, connect_timeout, http2, keepalive_timeout, "
      .. "max_body, pool_size, timeout, user_agent)")
    assert.has_error(function() auto.new(5) end, "transport.auto.new: options must be a table, got number")
    assert.equal("auto", auto.new{ timeout = 5, pool_size = 8, keepalive_timeout = 30 }.name)
    assert.equal("auto", auto.new().name)
  end)
end)
