local H = require "spec.helper"
local instagram = require "instagram"
local core = require "instagram.core"

describe("instagram.new", function()
  it("makes a client with the documented defaults", function()
    local c = instagram.new{ access_token = "t0ken-value" }
    assert.equal("v24.0", c.version)
    assert.equal("https://graph.facebook.com", c.graph_url)
    assert.equal("https://rupload.facebook.com", c.rupload_url)
    assert.equal(30, c.timeout)
    assert.equal(3, c.retries)
    assert.equal("instagram client (https://graph.facebook.com, v24.0)", tostring(c))
  end)

  it("raises on misuse, naming the option", function()
    assert.has_error(function() instagram.new("token") end, "instagram.new: options must be a table, got string")
    local ok, msg = pcall(instagram.new, { acess_token = "x" })
    assert.is_false(ok)
    assert.matches("instagram.new: unknown option 'acess_token' (known: access_token, allow_blocking, app_secret, ", msg, 1, true)
    assert.has_error(function() instagram.new{ access_token = 42 } end,
      "instagram.new: option 'access_token' must be a string or an instagram.token, got number")
    assert.has_error(function() instagram.new{ access_token = "" } end)
    assert.has_error(function() instagram.new{ app_secret = "" } end)
    assert.has_error(function() instagram.new{ version = "24" } end)
    assert.has_error(function() instagram.new{ graph_url = "https://graph.facebook.com/" } end)
    assert.has_error(function() instagram.new{ graph_url = "graph.facebook.com" } end)
    assert.has_error(function() instagram.new{ retries = -1 } end)
    assert.has_error(function() instagram.new{ retries = 1.5 } end)
    assert.has_error(function() instagram.new{ ca_file = "/nonexistent.pem" } end)
  end)

  it("refuses a ca_file that is a FIFO at once, instead of waiting for a writer", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    -- In a child with a time limit: the old check (io.open) blocked forever here.
    local p = io.popen(("timeout 5 %s -e \"package.path='lua/?.lua;lua/?/init.lua;'..package.path "
      .. "package.cpath='build/%s/?.so;'..package.cpath "
      .. "print(pcall(require('instagram').new, { ca_file = '%s' }))\" 2>&1; echo \"exit=$?\""):format(
      jit and "luajit" or "lua5.4", jit and "luajit" or "lua5.4", fifo))
    local out = p:read("*a")
    p:close()
    os.remove(fifo)
    assert.matches("exit=0", out)
    assert.matches("^false\t.*option 'ca_file': .*regular file", out)
  end)

  it("picks the cosocket transport inside nginx and libcurl elsewhere", function()
    local expected = rawget(_G, "ngx") and "ngx" or "curl"
    assert.equal(expected, instagram.new{}.transport:pick().name)
  end)

  it("never shows the token, secret or proof in tostring or the client table", function()
    local c = instagram.new{ access_token = "SECRET-TOKEN-1", app_secret = "SECRET-APP-2" }
    local seen = {}
    local function walk(t, depth)
      if depth > 3 then return end
      for k, v in pairs(t) do
        seen[#seen + 1] = tostring(k) .. "=" .. tostring(v)
        if type(v) == "table" then walk(v, depth + 1) end
      end
    end
    walk(c, 0)
    local all = table.concat(seen, " ") .. tostring(c)
    assert.not_matches("SECRET%-TOKEN%-1", all)
    assert.not_matches("SECRET%-APP%-2", all)
    assert.not_matches(c:appsecret_proof(), all, 1, true)
  end)
end)

describe("client requests", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  it("gets /me with the version prefix and the token in the Authorization header only", function()
    local me, err = c:get("/me", { fields = "id,name" })
    assert.is_nil(err)
    assert.same({ id = "10158000000000001", name = "Emu Lator" }, me)
    local r = H.log()[1]
    assert.equal("/v24.0/me", r.path)
    assert.equal("fields=id%2Cname", r.query)
    assert.equal("Bearer " .. H.token, r.headers.authorization)
    assert.not_matches("access_token", r.uri)
    assert.not_matches(H.token, r.uri, 1, true)
  end)

  it("talks to an emulator that takes the token as the Graph API does: header, query or body", function()
    local s = core.session{ ca_file = H.ca_file }
    local function status(method, url, headers, body)
      return (s:request(method, H.graph_url .. url, headers, body))
    end
    assert.equal(200, status("GET", "/v24.0/me", { Authorization = "Bearer " .. H.token }))
    assert.equal(200, status("GET", "/v24.0/me", { Authorization = "OAuth " .. H.token }))
    assert.equal(200, status("GET", "/v24.0/me?access_token=" .. H.token))
    assert.equal(200, status("POST", "/v24.0/17918195224100001/comments",
      { ["Content-Type"] = "application/x-www-form-urlencoded" }, "message=hi&access_token=" .. H.token))
    assert.equal(200, status("POST", "/v24.0/17918195224100001/comments",
      { ["Content-Type"] = "application/json" }, '{"message":"hi","access_token":"' .. H.token .. '"}'))
    assert.equal(400, status("GET", "/v24.0/me?access_token=nope"))
    s:close()
  end)

  it("accepts paths without a leading slash, with a version, or with a query", function()
    assert.is_table(c:get("me"))
    assert.is_table(c:get("/v19.0/me"))
    assert.is_table(c:get("/me?fields=name"))
    local log = H.log()
    assert.equal("/v24.0/me", log[1].path)
    assert.equal("/v19.0/me", log[2].path)
    assert.equal("fields=name", log[3].query)
  end)

  it("lists /me/accounts with Page tokens and IG accounts", function()
    local res = assert(c:get("/me/accounts", { fields = "id,name,access_token,instagram_business_account" }))
    assert.equal(3, #res.data)
    assert.equal("Metricsaurus", res.data[1].name)
    assert.equal(H.IG_USER_ID, res.data[1].instagram_business_account.id)
    assert.matches("^EMU%-PAGE%-TOKEN", res.data[1].access_token)
  end)

  it("reads a Page's instagram_business_account and page_backed_instagram_accounts", function()
    local page = assert(c:get("/" .. H.PAGE_ID, { fields = "instagram_business_account" }))
    assert.same({ id = H.PAGE_ID, instagram_business_account = { id = H.IG_USER_ID } }, page)
    local pc = H.client{ access_token = "EMU-PAGE-TOKEN-" .. H.PAGE_ID }
    local backed = assert(pc:get("/" .. H.PAGE_ID .. "/page_backed_instagram_accounts"))
    assert.equal("17841400000000099", backed.data[1].id)
    assert.is_false(backed.data[1].is_published)
  end)

  it("sends POST params as a form body and DELETE params in the query", function()
    local res = assert(c:post("/17918195224100001/comments", { message = "Nice dino!" }))
    assert.matches("^%d+$", res.id)
    c:delete("/me", { reason = "x" })
    local log = H.log()
    assert.equal("POST", log[1].method)
    assert.equal("message=Nice%20dino%21", log[1].body)
    assert.equal("application/x-www-form-urlencoded", log[1].headers["content-type"])
    assert.equal("", log[1].query)
    assert.equal("DELETE", log[2].method)
    assert.equal("reason=x", log[2].query)
  end)

  it("sends POST params as JSON when asked", function()
    assert(c:post("/17918195224100001/comments", { message = "json body" }, { json = true }))
    local r = H.log()[1]
    assert.equal('{"message":"json body"}', r.body)
    assert.equal("application/json", r.headers["content-type"])
  end)

  it("JSON-encodes complex params", function()
    c:get("/me", { fields = "id", ids = { "1", "2" }, obj = { a = 1 } })
    assert.equal("fields=id&ids=%5B%221%22%2C%222%22%5D&obj=%7B%22a%22%3A1%7D", H.log()[1].query)
  end)

  it("adds appsecret_proof when app_secret is given, and the emulator accepts it", function()
    local pc = H.client{ app_secret = H.app_secret }
    local me, err = pc:get("/me")
    assert.is_nil(err)
    assert.equal("10158000000000001", me.id)
    local proof = core.hmac_sha256_hex(H.app_secret, H.token)
    assert.equal(proof, pc:appsecret_proof())
    assert.equal("appsecret_proof=" .. proof, H.log()[1].query)
    pc:post("/17918195224100001/comments", { message = "m" })
    assert.matches("appsecret_proof=" .. proof, H.log()[2].body, 1, true)
  end)

  it("reports a wrong appsecret_proof as a graph error without leaking the secret", function()
    local pc = H.client{ app_secret = "wrong-secret-value" }
    local res, err = pc:get("/me")
    assert.is_nil(res)
    assert.equal("graph", err.kind)
    assert.equal(100, err.code)
    assert.matches("appsecret_proof", err.message)
    assert.not_matches("wrong%-secret%-value", tostring(err))
  end)

  it("reports a bad token as code 190 with type, trace id and status, never the token", function()
    local bc = H.client{ access_token = "BAD-TOKEN-XYZ" }
    local res, err = bc:get("/me")
    assert.is_nil(res)
    assert.equal("graph", err.kind)
    assert.equal(190, err.code)
    assert.equal("OAuthException", err.type)
    assert.equal(400, err.status)
    assert.is_string(err.fbtrace_id)
    assert.is_false(err.is_transient)
    local text = tostring(err)
    assert.matches("190", text)
    assert.matches("OAuthException", text)
    assert.matches(err.fbtrace_id, text, 1, true)
    assert.not_matches("BAD%-TOKEN%-XYZ", text)
    for _, v in pairs(err) do assert.not_matches("BAD%-TOKEN%-XYZ", tostring(v)) end
  end)

  it("reports an expired token with its subcode", function()
    local _, err = H.client{ access_token = "EMU-EXPIRED-TOKEN" }:get("/me")
    assert.equal(190, err.code)
    assert.equal(463, err.subcode)
  end)

  it("reports an unknown field and an unknown node as code 100", function()
    local _, err = c:get("/me", { fields = "id,shoe_size" })
    assert.equal(100, err.code)
    assert.matches("shoe_size", err.message)
    local _, err2 = c:get("/99999999")
    assert.equal(100, err2.code)
    assert.equal(33, err2.subcode)
    assert.equal("GraphMethodException", err2.type)
  end)

  it("reports a missing token as code 104 (or 2500 on /me)", function()
    local nc = instagram.new{ graph_url = H.graph_url, ca_file = H.ca_file, retries = 0 }
    local _, err = nc:get("/" .. H.IG_USER_ID)
    assert.equal(104, err.code)
    local _, err2 = nc:get("/me")
    assert.equal(2500, err2.code)
    assert.is_nil(H.log()[1].headers.authorization)
  end)

  it("exposes the usage headers of the last response as numbers", function()
    assert.is_nil(c:usage())
    H.config{ rate_limit = { limit = 10 } }
    for _ = 1, 3 do assert(c:get("/" .. H.IG_USER_ID)) end
    local u = c:usage()
    assert.equal(30, u.app.call_count)
    assert.equal(30, u.business[H.IG_USER_ID][1].call_count)
    assert.equal("instagram", u.business[H.IG_USER_ID][1].type)
    assert.equal(30, u.max_percent)
  end)

  it("reports rate limiting (code 4) as transient with usage and the time to regain access", function()
    H.config{ rate_limit = { limit = 2, window = 600, code = 4 } }
    assert(c:get("/" .. H.IG_USER_ID))
    assert(c:get("/" .. H.IG_USER_ID))
    local res, err = c:get("/" .. H.IG_USER_ID)
    assert.is_nil(res)
    assert.equal(4, err.code)
    assert.is_true(err.is_transient)
    assert.equal(100, c:usage().app.call_count)
    assert.is_true(err.retry_after > 0 and err.retry_after <= 600)
  end)

  it("reports Instagram account throttling (code 80002)", function()
    H.config{ rate_limit = { limit = 1, window = 60, code = 80002 } }
    assert(c:get("/" .. H.IG_USER_ID))
    local _, err = c:get("/" .. H.IG_USER_ID)
    assert.equal(80002, err.code)
    assert.equal(60, c:usage().regain_access_seconds)
  end)

  it("reports HTML 5xx as an http error and bad JSON as a decode error", function()
    H.config{ faults = {
      { path = "/html", status = 502 },
      { path = "/badjson", status = 200, body = "{oops", content_type = "application/json" },
    } }
    local _, err = c:get("/html")
    assert.equal("http", err.kind)
    assert.equal(502, err.status)
    assert.is_true(err.is_transient)
    assert.matches("502", err.body)
    local _, err2 = c:get("/badjson")
    assert.equal("decode", err2.kind)
    assert.equal(200, err2.status)
  end)

  it("reports timeouts as kind 'timeout' and refused connections as 'transport'", function()
    H.config{ faults = { { path = "/slow", delay = 1 } } }
    local _, err = c:get("/slow", nil, { timeout = 0.2 })
    assert.equal("timeout", err.kind)
    local dead = H.client{ graph_url = "http://127.0.0.1:1" }
    local _, err2 = dead:get("/me")
    assert.equal("transport", err2.kind)
    assert.equal("connect", err2.reason)
  end)

  it("refuses to send the token to a foreign host", function()
    local res, err = c:get("https://evil.example.com/v24.0/me")
    assert.is_nil(res)
    assert.equal("transport", err.kind)
    assert.equal("foreign_host", err.reason)
    assert.equal(0, #H.log())
  end)

  it("strips access_token and appsecret_proof from absolute URLs on its own host", function()
    local url = H.graph_url .. "/v24.0/me?access_token=LEAKED&appsecret_proof=zzz&fields=id"
    assert(c:get(url))
    local r = H.log()[1]
    assert.equal("fields=id", r.query)
    assert.equal("Bearer " .. H.token, r.headers.authorization)
  end)

  it("raises on programmer mistakes", function()
    assert.has_error(function() c:get() end)
    assert.has_error(function() c:get("") end)
    assert.has_error(function() c:get("/me", "fields=id") end)
    assert.has_error(function() c:get("/me", { f = print }) end)
    assert.has_error(function() c:request(1, "/me") end)
    assert.has_error(function() c:get("/me", nil, 5) end)
  end)

  it("closes its connections; a closed client refuses further calls", function()
    local cc = H.client()
    assert(cc:get("/me"))
    cc:close()
    cc:close()
    if not rawget(_G, "ngx") then -- nginx's cosocket pool is nginx's own: nothing to close there
      assert.has_error(function() cc:get("/me") end, "session is closed")
    end
  end)

  it("starts a GET now and collects it later", function()
    local h = assert(c:start_get("/me", { fields = "id,name" }))
    local me = assert(h.finish())
    assert.equal("Emu Lator", me.name)
    local bad = assert(c:start_get("/me", { fields = "nope" }))
    local v, err = bad.finish()
    assert.is_nil(v)
    assert.equal(100, err.code)
    local dropped = assert(c:start_get("/me"))
    dropped.cancel()
    assert(c:get("/me")) -- the client goes on
  end)

  it("replaces the token and recomputes the proof", function()
    local pc = H.client{ app_secret = H.app_secret, access_token = "BAD-TOKEN-XYZ" }
    assert.is_nil((pc:get("/me")))
    pc:set_access_token(H.token)
    assert.is_table(pc:get("/me"))
    assert.equal(core.hmac_sha256_hex(H.app_secret, H.token), pc:appsecret_proof())
    assert.has_error(function() pc:set_access_token("") end)
    assert.equal("a [redacted] b", pc:redact("a " .. H.token .. " b"))
  end)
end)

describe("client retries", function()
  local slept, c
  before_each(function()
    H.reset()
    slept = {}
    c = H.client{ retries = 3, sleep = function(d) slept[#slept + 1] = d end }
  end)

  it("retries a GET after a transient 5xx and succeeds", function()
    H.config{ faults = { { path = "/me$", status = 503, times = 2 } } }
    local me, err = c:get("/me")
    assert.is_nil(err)
    assert.equal("10158000000000001", me.id)
    assert.equal(2, #slept)
    assert.equal(3, #H.log())
  end)

  it("backs off exponentially with jitter, within the cap", function()
    H.config{ faults = { { path = "/me$", status = 500, times = 3 } } }
    assert(c:get("/me"))
    assert.equal(3, #slept)
    assert.is_true(slept[1] >= 0.25 and slept[1] <= 0.5)
    assert.is_true(slept[2] >= 0.5 and slept[2] <= 1)
    assert.is_true(slept[3] >= 1 and slept[3] <= 2)
  end)

  it("does not retry a permanent error", function()
    local _, err = c:get("/me", { fields = "nope" })
    assert.equal(100, err.code)
    assert.equal(0, #slept)
    assert.equal(1, err.attempts)
  end)

  it("does not replay a POST that may have reached the server", function()
    H.config{ faults = { { path = "/comments$", status = 502, times = 1 } } }
    local _, err = c:post("/17918195224100001/comments", { message = "once" })
    assert.equal("http", err.kind)
    assert.equal(0, #slept)
    assert.equal(1, #H.log())
  end)

  it("retries a POST refused before it ran (connection refused)", function()
    local dead = H.client{ graph_url = "http://127.0.0.1:1", retries = 2, sleep = function(d) slept[#slept + 1] = d end }
    local _, err = dead:post("/me/feed", { message = "x" })
    assert.equal("connect", err.reason)
    assert.equal(3, err.attempts)
    assert.equal(2, #slept)
  end)

  it("calls on_retry for each retry and gives up after `retries`", function()
    local seen = {}
    local rc = H.client{ retries = 2, sleep = function() end,
      on_retry = function(err, attempt, delay) seen[#seen + 1] = { err.status, attempt, delay > 0 } end }
    H.config{ faults = { { path = "/me$", status = 500 } } }
    local _, err = rc:get("/me")
    assert.equal(500, err.status)
    assert.equal(3, err.attempts)
    assert.same({ { 500, 1, true }, { 500, 2, true } }, seen)
  end)
end)
