local H = require "spec.helper"
local core = require "instagram.core"
local json = require "instagram.json"

describe("instagram.core session", function()
  local s
  before_each(function()
    H.reset()
    s = core.session{ ca_file = H.ca_file, timeout = 10 }
  end)
  after_each(function() s:close() end)

  it("performs an HTTPS GET with verification on and returns status, headers and body", function()
    local status, headers, body = s:request("GET", H.graph_url .. "/v24.0/me",
      { Authorization = "Bearer " .. H.token })
    assert.equal(200, status)
    assert.is_table(headers)
    assert.matches("application/json", headers["content-type"])
    local me = json.decode(body)
    assert.equal("10158000000000001", me.id)
    assert.equal("Emu Lator", me.name)
  end)

  it("speaks plain HTTP too", function()
    local status, _, body = s:request("GET", H.http_url .. "/__emulator/health")
    assert.equal(200, status)
    assert.equal("ok\n", body)
  end)

  it("sends method, headers and body as given", function()
    local status = s:request("POST", H.graph_url .. "/v24.0/" .. "17918195224100001" .. "/comments",
      { Authorization = "OAuth " .. H.token, ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Custom_Header"] = "with underscore", ["X-Empty"] = "" }, "message=hello%20there")
    assert.equal(200, status)
    local r = H.requests("/comments$")[1]
    assert.equal("POST", r.method)
    assert.equal("message=hello%20there", r.body)
    assert.equal("with underscore", r.headers["x-custom_header"])
    assert.equal("", r.headers["x-empty"])
    assert.is_nil(r.headers["expect"])
  end)

  it("sends DELETE and other methods, with and without a body", function()
    local status, _, body = s:request("DELETE", H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token })
    assert.equal(400, status) -- the emulator refuses DELETE on a user, with a Graph error
    assert.equal(100, json.decode(body).error.code)
    s:request("PUT", H.graph_url .. "/v24.0/me", nil, "a=1")
    local log = H.log()
    assert.equal("DELETE", log[1].method)
    assert.equal("PUT", log[2].method)
    assert.equal("a=1", log[2].body)
  end)

  it("switches methods cleanly from one request to the next on the same handle", function()
    local auth = { Authorization = "Bearer " .. H.token }
    s:request("POST", H.graph_url .. "/v24.0/me", auth, "a=1")
    s:request("GET", H.graph_url .. "/v24.0/me", auth)
    s:request("HEAD", H.graph_url .. "/v24.0/me", auth)
    local st, _, body = s:request("GET", H.graph_url .. "/v24.0/me", auth)
    assert.equal(200, st)
    assert.matches("Emu Lator", body)
    s:request("DELETE", H.graph_url .. "/v24.0/me", auth)
    s:request("PUT", H.graph_url .. "/v24.0/me", auth, "b=2")
    s:request("GET", H.graph_url .. "/v24.0/me", auth)
    local methods, bodies = {}, {}
    for i, r in ipairs(H.log()) do methods[i], bodies[i] = r.method, r.body end
    assert.same({ "POST", "GET", "HEAD", "GET", "DELETE", "PUT", "GET" }, methods)
    assert.same({ "a=1", "", "", "", "", "b=2", "" }, bodies)
  end)

  it("names the library in the User-Agent and allows overriding it", function()
    s:request("GET", H.graph_url .. "/__emulator/health")
    s:request("GET", H.graph_url .. "/v24.0/me")
    assert.matches("^instagram%-graph%-lua/%d+%.%d+%.%d+", H.log()[1].headers["user-agent"])
    local s2 = core.session{ ca_file = H.ca_file, user_agent = "my-app/1.0" }
    s2:request("GET", H.graph_url .. "/v24.0/me")
    s2:close()
    assert.equal("my-app/1.0", H.log()[2].headers["user-agent"])
  end)

  it("reuses one connection across requests", function()
    for _ = 1, 5 do assert.equal(400, (s:request("GET", H.graph_url .. "/v24.0/me"))) end
    local log = H.log()
    assert.equal(5, #log)
    for i = 2, 5 do assert.equal(log[1].connection, log[i].connection) end
  end)

  it("uses HTTP/2 for requests at once, HTTP/1.1 one at a time; 'always' and false as asked", function()
    local want2 = core.http2 and 2 or 1.1
    local url = H.graph_url .. "/v24.0/me"
    s:request("GET", url)                                                  -- 1: one at a time
    s:many({ { method = "GET", url = url }, { method = "GET", url = url } }, 2) -- 2, 3: at once
    local always = core.session{ ca_file = H.ca_file, http2 = "always" }
    always:request("GET", url)                                             -- 4
    always:close()
    local never = core.session{ ca_file = H.ca_file, http2 = false }
    never:request("GET", url)                                              -- 5
    never:many({ { method = "GET", url = url }, { method = "GET", url = url } }, 2) -- 6, 7
    never:close()
    local log = H.log()
    assert.same({ 1.1, want2, want2, want2, 1.1, 1.1, 1.1 }, {
      log[1].http_version, log[2].http_version, log[3].http_version, log[4].http_version,
      log[5].http_version, log[6].http_version, log[7].http_version })
    assert.has_error(function() core.session{ http2 = "sometimes" } end, 'option \'http2\' must be true, false or "always"')
  end)

  it("joins repeated response headers and lower-cases names", function()
    local _, headers = s:request("GET", H.graph_url .. "/v24.0/me", { Authorization = "Bearer bad" })
    assert.matches("invalid_token", headers["www-authenticate"])
    assert.is_string(headers["x-fb-trace-id"])
  end)

  it("reports a refused connection as kind 'connect'", function()
    local ok, kind, msg = s:request("GET", "http://127.0.0.1:1/")
    assert.is_nil(ok)
    assert.equal("connect", kind)
    assert.is_string(msg)
  end)

  it("reports an untrusted certificate as kind 'tls' (verification is on by default)", function()
    local plain = core.session{ timeout = 5 }
    local ok, kind, msg = plain:request("GET", H.graph_url .. "/v24.0/me")
    plain:close()
    assert.is_nil(ok)
    assert.equal("tls", kind)
    assert.matches("certificate", msg)
  end)

  it("reports a host name mismatch as kind 'tls'", function()
    local url = H.graph_url:gsub("127%.0%.0%.1", "127.0.0.2")
    local ok, kind = s:request("GET", url .. "/v24.0/me")
    assert.is_nil(ok)
    assert.is_truthy(kind == "tls" or kind == "connect")
  end)

  it("times out as kind 'timeout' with a per-request timeout", function()
    H.config{ faults = { { path = "/slow", delay = 2 } } }
    local ok, kind = s:request("GET", H.graph_url .. "/v24.0/slow", nil, nil, 0.3)
    assert.is_nil(ok)
    assert.equal("timeout", kind)
    -- the session stays usable afterwards
    assert.equal(200, (s:request("GET", H.graph_url .. "/__emulator/health")))
  end)

  it("reports a dropped connection as kind 'network'", function()
    H.config{ faults = { { path = "/drop", action = "reset" } } }
    local ok, kind = s:request("GET", H.graph_url .. "/v24.0/drop")
    assert.is_nil(ok)
    assert.equal("network", kind)
  end)

  it("reports a truncated body as kind 'network'", function()
    H.config{ faults = { { path = "/cut", action = "truncate" } } }
    local ok, kind = s:request("GET", H.http_url .. "/v24.0/cut")
    assert.is_nil(ok)
    assert.equal("network", kind)
  end)

  it("refuses a body larger than max_body with kind 'size'", function()
    local small = core.session{ ca_file = H.ca_file, max_body = 100 }
    local ok, kind, msg = small:request("GET", H.graph_url .. "/v24.0/17841405822304914/media?limit=50",
      { Authorization = "Bearer " .. H.token })
    small:close()
    assert.is_nil(ok)
    assert.equal("size", kind)
    assert.matches("max_body", msg)
  end)

  it("starts a request now and finishes it later", function()
    local p = s:start("GET", H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token })
    local st, headers, body = p:finish()
    assert.equal(200, st)
    assert.is_table(headers)
    assert.matches("Emu Lator", body)
    assert.has_error(function() p:finish() end, "this request was already finished")
    -- a failure comes back like request()'s
    local q = s:start("GET", "http://127.0.0.1:1/")
    local ok, kind = q:finish()
    assert.is_nil(ok)
    assert.equal("connect", kind)
  end)

  it("allows one started request per session, and cancels cleanly", function()
    local p = s:start("GET", H.graph_url .. "/v24.0/me")
    assert.has_error(function() s:start("GET", H.graph_url .. "/v24.0/me") end)
    p:cancel()
    p:cancel()
    assert.has_error(function() p:finish() end)
    local q = s:start("POST", H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token }, "x=1")
    -- the session's own requests go on beside it
    assert.equal(200, (s:request("GET", H.graph_url .. "/__emulator/health")))
    assert.equal(400, (q:finish()))
    s:start("GET", H.graph_url .. "/v24.0/me") -- left to the garbage collector
    collectgarbage()
    local r = s:start("GET", H.graph_url .. "/v24.0/me")
    s:close()
    assert.has_error(function() r:finish() end)
    assert.has_error(function() s:start("GET", "http://x") end, "session is closed")
  end)

  it("a started POST keeps its own copy of the body: its anchors pulled away (debug library) change nothing", function()
    H.reset()
    local body = "message=" .. ("kept"):rep(1000)
    local q = s:start("POST", H.graph_url .. "/v24.0/me", { Authorization = "Bearer " .. H.token }, body)
    if debug.setuservalue then debug.setuservalue(q, {}) else debug.setfenv(q, {}) end
    body = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    q:finish()
    local sent = H.requests("^/v24%.0/me$")
    assert.equal("message=" .. ("kept"):rep(1000), sent[#sent].body)
  end)

  describe("misuse raises and never crashes", function()
    it("checks the method, URL, headers, body and timeout", function()
      assert.has_error(function() s:request() end)
      assert.has_error(function() s:request(42, "http://x") end)
      assert.has_error(function() s:request("get", "http://x") end, nil)
      assert.has_error(function() s:request("GET", "") end)
      assert.has_error(function() s:request("GET", "ftp://example.com/") end)
      assert.has_error(function() s:request("GET", "http://x/\0y") end)
      assert.has_error(function() s:request("GET", "http://x/" .. ("a"):rep(70000)) end)
      assert.has_error(function() s:request("GET", "http://x", "headers") end)
      assert.has_error(function() s:request("GET", "http://x", { [1] = "x" }) end)
      assert.has_error(function() s:request("GET", "http://x", { A = {} }) end)
      assert.has_error(function() s:request("GET", "http://x", { ["Bad Name"] = "v" }) end)
      assert.has_error(function() s:request("GET", "http://x", { X = "a\r\nInjected: 1" }) end)
      assert.has_error(function() s:request("GET", "http://x", nil, {}) end)
      assert.has_error(function() s:request("GET", "http://x", nil, nil, -1) end)
      assert.has_error(function() s:request("GET", "http://x", nil, nil, "soon") end)
      -- and the session still works
      assert.equal(200, (s:request("GET", H.graph_url .. "/__emulator/health")))
    end)

    it("refuses request splitting: control bytes in URLs, framing headers of the caller's", function()
      for _, u in ipairs{ "http://127.0.0.1/a b", "http://127.0.0.1/a\r\nHost: x", "http://127.0.0.1/\0x",
                          "http://127.0.0.1/\t", "http://127.0.0.1/\127" } do
        assert.has_error(function() s:request("GET", u) end,
          "bad url: an http:// or https:// URL of at most 64 KiB, without spaces or control bytes")
        assert.has_error(function() s:start("GET", u) end)
        assert.has_error(function() s:many{ { method = "GET", url = u } } end)
      end
      for _, name in ipairs{ "Content-Length", "transfer-encoding" } do
        local ok, err = pcall(s.request, s, "POST", H.graph_url .. "/v24.0/me", { [name] = "5" }, "a=b")
        assert.is_false(ok)
        assert.matches("transport's to set", err)
      end
      assert.equal(0, #H.log())
    end)

    it("never lets libcurl send a POST again on its own when a reused connection drops it", function()
      for _, h2 in ipairs{ false, "always" } do
        H.reset()
        local c = core.session{ ca_file = H.ca_file, timeout = 10, http2 = h2 }
        local auth = { Authorization = "Bearer " .. H.token, ["Content-Type"] = "application/x-www-form-urlencoded" }
        assert.equal(200, (c:request("GET", H.graph_url .. "/v24.0/me", auth))) -- a connection to reuse
        H.config{ faults = { { path = "/comments$", method = "POST", action = "reset", times = 1 } } }
        local ok, kind, message = c:request("POST", H.graph_url .. "/v24.0/17918195224100001/comments", auth,
          "message=once")
        assert.is_nil(ok)
        assert.equal("network", kind)
        assert.is_string(message)
        assert.equal(1, #H.requests("/comments$"), "the POST reached the server once")
        if not h2 then -- (over HTTP/2 the server resets the stream, which libcurl never retries)
          -- a GET dropped the same way on a reused connection may be sent again: it cannot act twice
          assert.equal(200, (c:request("GET", H.graph_url .. "/v24.0/me", auth)))
          H.config{ faults = { { path = "/me$", action = "reset", times = 1 } } }
          assert.equal(200, (c:request("GET", H.graph_url .. "/v24.0/me", auth)))
        end
        c:close()
      end
    end)

    it("a POST whose connection is reset after the server read it, then cannot reconnect: network, sent once", function()
      -- libcurl's own re-send fails to connect (the server is restarting): that failure must not
      -- read as "connect" (nothing sent), which the client's retry policy would replay.
      for _, layer in ipairs{ "core", "client" } do
        local srv = assert(io.popen("lua5.4 spec/support/restart_server.lua"))
        local port = assert(tonumber(srv:read("*l"):match("^port (%d+)")))
        local base = "http://127.0.0.1:" .. port
        if layer == "core" then
          local c = core.session{ timeout = 5, http2 = false }
          assert.equal(200, (c:request("GET", base .. "/v24.0/me")))
          local ok, kind = c:request("POST", base .. "/v24.0/1/comments", nil, "message=once")
          assert.is_nil(ok)
          assert.equal("network", kind)
          c:close()
        else
          local retried = 0
          local c = H.client{ graph_url = base, retries = 2, http2 = false,
            on_retry = function() retried = retried + 1 end,
            sleep = function() local ngx_ = rawget(_G, "ngx"); (ngx_ and ngx_.sleep or core.sleep)(0.8) end }
          assert.is_table((c:get("/me")))
          local ok, err = c:post("/1/comments", { message = "once" })
          assert.is_nil(ok)
          assert.equal(0, retried, tostring(err))
          c:close()
        end
        local out = srv:read("*a")
        srv:close()
        local _, posts = out:gsub("READ POST", "")
        assert.equal(1, posts, layer .. ": the server read the POST " .. posts .. " times")
        assert.matches("done", out)
      end
    end)

    it("checks session options", function()
      assert.has_error(function() core.session("x") end)
      assert.has_error(function() core.session{ nope = 1 } end,
        "unknown session option 'nope' (known: timeout, connect_timeout, ca_file, user_agent, http2, max_body)")
      assert.has_error(function() core.session{ timeout = "30" } end)
      assert.has_error(function() core.session{ timeout = 0 } end)
      assert.has_error(function() core.session{ ca_file = "/nonexistent/ca.pem" } end)
      assert.has_error(function() core.session{ ca_file = "" } end)
      assert.has_error(function() core.session{ http2 = 1 } end)
      assert.has_error(function() core.session{ user_agent = "a\nb" } end)
      assert.has_error(function() core.session{ max_body = 0 } end)
      assert.has_error(function() core.session{ [1] = true } end)
    end)

    it("refuses calls on a closed session; close is idempotent", function()
      s:close()
      s:close()
      assert.is_false(s:is_open())
      assert.has_error(function() s:request("GET", "http://x") end, "session is closed")
      assert.matches("closed", tostring(s))
    end)

    it("refuses methods called on something that is not a session", function()
      local request, close = s.request, s.close
      assert.is_function(request)
      assert.has_error(function() request({}, "GET", "http://x") end, nil)
      local ok, err = pcall(request, {}, "GET", "http://x")
      assert.is_false(ok)
      assert.matches("instagram.core.session expected", err)
      assert.has_error(function() request(nil) end)
      assert.has_error(function() close("not a session") end)
      -- the metatable is protected: Lua code cannot swap a session's methods
      assert.equal("session metatable is protected", getmetatable(s))
    end)

    it("is collected without leaks when dropped open", function()
      for _ = 1, 50 do
        local x = core.session{ ca_file = H.ca_file }
        x:request("GET", H.graph_url .. "/__emulator/health")
      end
      collectgarbage()
      collectgarbage()
    end)

    if _VERSION >= "Lua 5.4" and not jit then
      it("closes on leaving a to-be-closed scope (Lua 5.4)", function()
        local escaped = assert(load([[
          local core, ca = ...
          local t <close> = core.session{ ca_file = ca }
          return t
        ]]))(core, H.ca_file)
        assert.is_false(escaped:is_open())
      end)
    end
  end)
end)

describe("instagram.core crypto", function()
  it("computes HMAC-SHA256 as RFC 4231 test case 2", function()
    assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      core.hmac_sha256_hex("Jefe", "what do ya want for nothing?"))
  end)

  it("computes HMAC-SHA256 as RFC 4231 test case 1 (binary key)", function()
    assert.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      core.hmac_sha256_hex(("\11"):rep(20), "Hi There"))
  end)

  it("computes appsecret_proof of token foo_token with secret foo_secret", function()
    -- HMAC-SHA256(key = app secret, message = access token), hex
    assert.equal("df4256903ba4e23636cc142117aa632133d75c642bd2a68955be1443bd14deb9",
      core.hmac_sha256_hex("foo_secret", "foo_token"))
  end)

  it("computes HMAC-SHA1 as RFC 2202 test case 2", function()
    assert.equal("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
      core.hmac_sha1_hex("Jefe", "what do ya want for nothing?"))
  end)

  it("handles empty and large messages, refuses an empty key and wrong types", function()
    assert.equal(64, #core.hmac_sha256_hex("k", ""))
    assert.equal(64, #core.hmac_sha256_hex("k", ("x"):rep(5 * 1024 * 1024)))
    assert.has_error(function() core.hmac_sha256_hex("", "data") end)
    assert.has_error(function() core.hmac_sha256_hex(nil, "data") end)
    assert.has_error(function() core.hmac_sha256_hex("k", {}) end)
  end)

  it("compares in constant time and by content", function()
    assert.is_true(core.constant_time_equal("abc", "abc"))
    assert.is_false(core.constant_time_equal("abc", "abd"))
    assert.is_false(core.constant_time_equal("abc", "ab"))
    assert.is_true(core.constant_time_equal("", ""))
    assert.is_true(core.constant_time_equal("a\0b", "a\0b"))
    assert.is_false(core.constant_time_equal("a\0b", "a\0c"))
    assert.has_error(function() core.constant_time_equal("a") end)
  end)

  it("makes random hex tokens of the asked size, different each time", function()
    local a, b = core.random_token(), core.random_token()
    assert.equal(64, #a)
    assert.matches("^%x+$", a)
    assert.not_equal(a, b)
    assert.equal(2, #core.random_token(1))
    assert.has_error(function() core.random_token(0) end)
    assert.has_error(function() core.random_token(5000) end)
    assert.has_error(function() core.random_token("x") end)
  end)
end)

describe("instagram.core encoding and helpers", function()
  it("percent-encodes all but the unreserved characters", function()
    assert.equal("abcXYZ019-._~", core.url_encode("abcXYZ019-._~"))
    assert.equal("%5B%7Busername%3A%27ig%27%7D%5D", core.url_encode("[{username:'ig'}]"))
    assert.equal("a%20b%2Bc%26d%3De%2F%C3%A9%00", core.url_encode("a b+c&d=e/é\0"))
    assert.equal("", core.url_encode(""))
    assert.has_error(function() core.url_encode({}) end)
  end)

  it("decodes percent-encoding, '+' as space unless told not to, and keeps bad escapes", function()
    assert.equal("a b+c&d", core.url_decode("a%20b%2Bc%26d"))
    assert.equal("a b", core.url_decode("a+b"))
    assert.equal("a+b", core.url_decode("a+b", false))
    assert.equal("100%", core.url_decode("100%"))
    assert.equal("%zz%4", core.url_decode("%zz%4"))
    assert.equal("\0", core.url_decode("%00"))
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    assert.equal(all, core.url_decode(core.url_encode(all)))
  end)

  it("sleeps and tells the time", function()
    local t0 = core.now()
    core.sleep(0.05)
    assert.is_true(core.now() - t0 >= 0.04)
    assert.has_error(function() core.sleep(-1) end)
    assert.has_error(function() core.sleep("x") end)
  end)

  it("turns integral floats of a decoded tree into integers (Lua 5.3+)", function()
    local t = { 1.0, 2.5, { x = 3.0, y = { 4.0 } }, n = -0.0, big = 3231775643511089.0, s = "5" }
    assert.equal(t, core.integerize(t))
    if math.type then
      assert.equal("integer", math.type(t[1]))
      assert.equal("float", math.type(t[2]))
      assert.equal("integer", math.type(t[3].x))
      assert.equal("integer", math.type(t[3].y[1]))
      assert.equal("integer", math.type(t.big))
      assert.equal("integer", math.type(core.integerize(7.0)))
    end
    assert.equal("5", t.s)
    assert.equal(2.5, core.integerize(2.5))
    if math.type then -- LuaJIT has no integer type: the call returns its argument as it is
      local cyc = {}
      cyc.self = cyc
      assert.has_error(function() core.integerize(cyc) end)
    end
    assert.has_error(function() core.integerize() end)
  end)

  it("says its version and libcurl's", function()
    assert.matches("^%d+%.%d+%.%d+$", core._VERSION)
    assert.matches("libcurl", core.curl_version)
    assert.is_boolean(core.http2)
  end)
end)
