-- Where a request goes: Client:_resolve turns a path (or an absolute URL, a server's paging.next)
-- into a URL on one of the client's own hosts, inside the version prefix, with nothing a server
-- could read as a second request or a different path. Checked with a transport that records what
-- it is asked to send, so the rules hold for every transport (libcurl, cosockets, a caller's own).
local H = require "spec.helper"
local instagram = require "instagram"

local TOKEN = "RESOLVE-SPEC-TOKEN-0123456789"

--- A transport that sends nothing: it records each request and answers with `answer(req, n)`.
local function recorder(answer)
  local t = { sent = {} }
  function t.request(_, req)
    t.sent[#t.sent + 1] = req
    if answer then return answer(req, #t.sent) end
    return { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"id":"1"}' }
  end
  return t
end

local function client(opts)
  local o = { access_token = TOKEN, transport = recorder(), retries = 0, sleep = function() end }
  for k, v in pairs(opts or {}) do o[k] = v end
  return instagram.new(o), o.transport
end

local function refused(c, t, path, reason, opts)
  local before = #t.sent
  local ok, res, err = pcall(c.get, c, path, nil, opts)
  assert(ok, ("c:get(%q) raised: %s"):format(path, tostring(res)))
  assert(res == nil, ("c:get(%q) was sent as %s"):format(path, tostring(t.sent[#t.sent] and t.sent[#t.sent].url)))
  assert.equal("transport", err.kind)
  assert.equal(reason, err.reason, path)
  assert.is_string(err.message)
  assert.equal(before, #t.sent)
  return err
end

describe("Client:_resolve", function()
  local c, t
  before_each(function() c, t = client() end)

  it("sends ordinary paths inside the version prefix of graph_url", function()
    local cases = {
      ["/me"] = "https://graph.facebook.com/v24.0/me",
      ["me/accounts"] = "https://graph.facebook.com/v24.0/me/accounts",
      ["/v19.0/me"] = "https://graph.facebook.com/v19.0/me",
      ["/17841405822304914/media?fields=id,caption"] =
        "https://graph.facebook.com/v24.0/17841405822304914/media?fields=id%2Ccaption",
      ["/me/..foo"] = "https://graph.facebook.com/v24.0/me/..foo", -- not a dot segment
      ["/me#frag"] = "https://graph.facebook.com/v24.0/me",
      ["https://graph.facebook.com/v24.0/me?after=QVFI%3D"] = "https://graph.facebook.com/v24.0/me?after=QVFI%3D",
      ["HTTPS://graph.facebook.com/v24.0/me"] = "https://graph.facebook.com/v24.0/me",
      ["https://graph.facebook.com"] = "https://graph.facebook.com/v24.0/",
      ["/caf\xc3\xa9"] = "https://graph.facebook.com/v24.0/caf\xc3\xa9",
    }
    for path, url in pairs(cases) do
      assert(c:get(path))
      assert.equal(url, t.sent[#t.sent].url)
    end
  end)

  it("refuses control bytes, spaces and DEL in paths and URLs (request splitting)", function()
    for _, b in ipairs{ "\r", "\n", "\r\n", " ", "\0", "\t", "\1", "\31", "\127", "\11", "\12" } do
      refused(c, t, "/me" .. b .. "x", "invalid")
      refused(c, t, "/me?fields=id" .. b, "invalid")
      refused(c, t, "https://graph.facebook.com/v24.0/me" .. b, "invalid")
      refused(c, t, "/me#" .. b, "invalid")
    end
    local err = refused(c, t, "/1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /x/comments HTTP/1.1\r\n", "invalid")
    assert.matches("control", err.message)
  end)

  it("refuses '.' and '..' segments, plain or percent-encoded, and backslashes", function()
    for _, p in ipairs{
      "/me/../../../oauth/access_token", "/me/./x", "/..", "/.", "../oauth/access_token", "./me",
      "/%2e%2e/oauth/access_token", "/%2E%2E/x", "/.%2e/x", "/%2e./x", "/%2E/x", "/me/%2e",
      "/me%2f..%2f..%2foauth", "/me%2F%2E%2E%2Foauth", "/me\\..\\oauth", "/me%5c..%5coauth",
      "/%252e%252e/oauth", "/v24.0/../oauth/access_token",
      "https://graph.facebook.com/v24.0/../oauth/access_token",
      "https://graph.facebook.com/..?x=1", "https://graph.facebook.com/%2e%2e/x",
    } do
      refused(c, t, p, "invalid")
    end
  end)

  it("refuses the same in an unversioned call", function()
    refused(c, t, "/oauth/../me", "invalid", { versioned = false })
    refused(c, t, "/oauth/access_token\r\n", "invalid", { versioned = false })
  end)

  it("refuses hosts other than its own, however the URL is spelled", function()
    for _, u in ipairs{
      "https://evil.example/v24.0/me", "https://graph.facebook.com@evil.example/v24.0/me",
      "https://graph.facebook.com:443@evil.example/", "https://graph.facebook.com.evil.example/me",
      "https://graph.facebook.com\\@evil.example/", "HTTPS://evil.example/me", "hTTp://evil.example/me",
      "https:evil.example/me", "https:/evil.example/me", "ftp://graph.facebook.com/me",
      "javascript:alert(1)", "https://user:pass@graph.facebook.com/me", "https:///me",
      "https://graph.facebook.com:8443/me", "http://graph.facebook.com/me",
    } do
      refused(c, t, u, "foreign_host")
    end
  end)

  it("sends to rupload_url only the /ig-api-upload/ paths", function()
    assert(c:post("https://rupload.facebook.com/ig-api-upload/v24.0/17889455560051444", { x = "1" }))
    assert.equal("https://rupload.facebook.com/ig-api-upload/v24.0/17889455560051444", t.sent[#t.sent].url)
    refused(c, t, "https://rupload.facebook.com/oauth/access_token", "invalid")
    refused(c, t, "https://rupload.facebook.com/v24.0/me", "invalid")
    refused(c, t, "https://rupload.facebook.com/ig-api-upload/../oauth", "invalid")
  end)

  it("never puts a secret of the client into the URL", function()
    local sc, st = client{ app_secret = "RESOLVE-APP-SECRET-42" }
    assert(sc:get("/me?x=" .. TOKEN .. "&fields=id&y=pre" .. TOKEN .. "post&RESOLVE-APP-SECRET-42=1"))
    local url = st.sent[#st.sent].url
    assert.equal("https://graph.facebook.com/v24.0/me?appsecret_proof=" .. sc:appsecret_proof() .. "&fields=id", url)
    refused(sc, st, "/" .. TOKEN .. "/media", "invalid")
    refused(sc, st, "/me/RESOLVE-APP-SECRET-42", "invalid")
  end)

  it("answers nil, err (never raises) for hostile paths in every entry point", function()
    local bad = "/me/../oauth/access_token"
    local res, err = c:post(bad, { message = "x" })
    assert.is_nil(res)
    assert.equal("invalid", err.reason)
    local values, errs = c:get_many{ "/me", bad, "/me\r\nX: y" }
    assert.is_table(values[1])
    assert.equal("invalid", errs[2].reason)
    assert.equal("invalid", errs[3].reason)
    assert.equal(1, #t.sent)
  end)
end)

describe("a pager", function()
  local function page(next_url)
    return { status = 200, headers = { ["content-type"] = "application/json" },
             body = require("instagram.json").encode{ data = { { id = "1" } }, paging = { next = next_url } } }
  end

  it("stops with nil, err at a hostile paging.next and sends nothing more", function()
    for _, next_url in ipairs{
      "https://graph.facebook.com/v24.0/me/../../oauth/access_token?after=x",
      "https://graph.facebook.com/v24.0/me\r\nX-Evil: 1",
      "https://graph.facebook.com/v24.0/%2e%2e/oauth",
      "https://evil.example/v24.0/me?after=x",
      "https://graph.facebook.com@evil.example/v24.0/me",
    } do
      for _, prefetch in ipairs{ false, true } do
        local t = recorder(function(_, n) return page(n == 1 and next_url or nil) end)
        local c = client{ transport = t }
        local p = c:edge("/me/media", nil, { prefetch = prefetch })
        local ok, items, err = pcall(p.all, p)
        assert(ok, items)
        assert.is_nil(items)
        assert.equal("transport", err.kind, next_url)
        assert.is_truthy(err.reason == "invalid" or err.reason == "foreign_host")
        assert.equal(1, #t.sent)
      end
    end
  end)
end)

describe("node ids", function()
  local c
  before_each(function() c = client() end)

  it("are strings of digits or exact whole numbers", function()
    assert.equal("17841405822304914", c:ig_user("17841405822304914").id)
    assert.equal("42", c:ig_media(42).id)
    for _, make in ipairs{ "ig_user", "ig_media", "ig_comment", "ig_hashtag", "page", "ig_container",
                           "upcoming_event" } do
      for _, id in ipairs{ "", "me", "12a", "a-b", "1_2", "../me", "1/../me", "%2e%2e", "12 ", "1\r\n", -1, 1.5,
                           0 / 0, math.huge, true, {} } do
        assert.has_error(function() c[make](c, id) end, nil, make .. " " .. tostring(id))
      end
    end
  end)

  it("are checked by wait_for_container and metadata before any request", function()
    local t = recorder()
    local wc = client{ transport = t }
    for _, id in ipairs{ "../../oauth/access_token", "1/../../me", "%2e%2e", "", "x", 1.5 } do
      local ok, msg = pcall(wc.wait_for_container, wc, id, { interval = 0.01, timeout = 0.01 })
      assert.is_false(ok, tostring(id))
      assert.matches("IG container id", msg)
      assert.has_error(function() wc:metadata(id) end)
    end
    assert.equal(0, #t.sent)
  end)
end)

describe("graph_url and rupload_url", function()
  it("take http:// for loopback only", function()
    for _, u in ipairs{ "http://127.0.0.1:1", "http://127.0.0.1", "http://127.4.5.6:8080", "http://localhost:9",
                        "http://[::1]:8080", "http://LOCALHOST", H.http_url, H.graph_url } do
      assert.equal(u, instagram.new{ graph_url = u, rupload_url = u }.graph_url)
    end
    for _, u in ipairs{ "http://graph.facebook.com", "http://10.0.0.1", "http://127.0.0.1.evil.example",
                        "http://localhost.evil.example", "http://127.0.0.256", "http://0x7f000001",
                        "http://[::2]", "http://user@127.0.0.1", "http://2130706433" } do
      for _, opt in ipairs{ "graph_url", "rupload_url" } do
        local ok, msg = pcall(instagram.new, { [opt] = u })
        assert.is_false(ok, opt .. " " .. u)
        assert.matches(opt, msg, 1, true)
      end
    end
    local ok, msg = pcall(instagram.new, { graph_url = "http://graph.facebook.com" })
    assert.is_false(ok)
    assert.matches("loopback", msg)
  end)

  it("have a plain host: no userinfo, control bytes or backslashes", function()
    for _, u in ipairs{ "https://user@graph.facebook.com", "https://graph.facebook.com\r\n",
                        "https://graph.facebook.com\\x", "https://graph .facebook.com", "https://:443",
                        "https://graph.facebook.com:", "https://graph.facebook.com:99999" } do
      assert.has_error(function() instagram.new{ graph_url = u } end, nil, u)
    end
  end)
end)

describe("a pager keeps no part of a secret", function()
  local SECRET = "resolve-spec-app-secret-0123456789"
  -- any 8-byte run of a secret in s?
  local function holds_run(s, secrets)
    if type(s) ~= "string" then return false end
    for _, sec in ipairs(secrets) do
      for i = 1, #sec - 7 do
        if s:find(sec:sub(i, i + 7), 1, true) then return true end
      end
    end
    return false
  end

  it("drops or refuses next URLs and cursors holding an 8-byte run of the token, secret or proof", function()
    local c = client{ app_secret = SECRET }
    local proof = c:appsecret_proof()
    local all = { TOKEN, SECRET, proof }
    local base = "https://graph.facebook.com"
    local nexts = {
      base .. "/v24.0/1/media?after=" .. TOKEN:sub(1, 20),
      base .. "/v24.0/1/media?after=" .. TOKEN:sub(1, -2),
      base .. "/v24.0/1/" .. TOKEN:sub(3) .. "/media",
      base .. "/v24.0/1/media?x=" .. SECRET:sub(1, 16),
      base .. "/v24.0/1/media?x=" .. proof:sub(1, 40),
    }
    for _, n in ipairs(nexts) do
      local url, err = c:_next_url(n)
      assert.is_false(holds_run(url, all), "kept in a next URL: " .. tostring(url))
      assert.is_false(holds_run(err and tostring(err), all))
    end
    local p = c:edge("/1/media")
    p:_advance{ data = { { id = "1" } }, paging = { next = nexts[1] } }
    assert.is_false(holds_run(p.next_url, all))
    local q = c:edge("/1/media", nil, { cursor_only = true })
    q:_advance{ data = { { id = "1" } }, paging = { cursors = { after = TOKEN:sub(2, 20) } } }
    assert.is_false(holds_run(q.next_params and q.next_params.after, all))
  end)
end)
