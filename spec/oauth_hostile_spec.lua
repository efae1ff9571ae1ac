-- Logins, tokens and webhooks against a hostile server or sender (stub transports, no network):
-- what an outside attack found, each as it must be now.
local instagram = require "instagram"
local oauth, token_m, webhook = instagram.oauth, instagram.token, instagram.webhook

local SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
local APP_ID = "442224939723604"
local TOKEN = "EAAGm0PX4ZCpsBAK1ZBzr8jQ9"

local function stub(body, status)
  local t = { sent = 0 }
  function t.request(self, req)
    self.sent, self.last = self.sent + 1, req
    return { status = status or 200, headers = {}, body = type(body) == "function" and body(req) or body }
  end
  return t
end

local function fb(t)
  return oauth.facebook{ app_id = APP_ID, app_secret = SECRET, redirect_uri = "https://a.example/cb", transport = t }
end
local function ig(t)
  return oauth.instagram{ app_id = APP_ID, app_secret = SECRET, redirect_uri = "https://a.example/cb", transport = t }
end

describe("token endpoints that answer something that is not a token", function()
  it("refuse an access_token with a line break (it would end in a header): nil, decode", function()
    local t = stub('{"access_token":"EAAnew\\r\\nX-Injected: 1","token_type":"bearer","expires_in":5183944}')
    local tok, err = fb(t):exchange_long_lived("EAAold-token-0123")
    assert.is_nil(tok)
    assert.equal("decode", err.kind)
    local tok2, err2 = ig(t):exchange_code("AQcode-0123456789")
    assert.is_nil(tok2)
    assert.equal("decode", err2.kind)
    assert.is_false(token_m.is_sendable("a\r\nb"))
    assert.is_false(token_m.is_sendable(("a"):rep(4097)))
    assert.is_true(token_m.is_sendable(TOKEN))
  end)

  it("scrub the server's words in a token answer of the call's secrets, never the token itself", function()
    local t = stub('{"data":[{"access_token":"IGQVJnewTOKEN0123456789","user_id":"AQBx-' .. SECRET .. '",'
      .. '"permissions":"instagram_business_basic,' .. SECRET .. '"}]}')
    local tok = assert(ig(t):exchange_code("AQcode-0123456789"))
    assert.equal("IGQVJnewTOKEN0123456789", tok.access_token)
    assert.falsy(tostring(tok.user_id):find(SECRET, 1, true))
    for _, p in ipairs(tok.permissions) do assert.falsy(p:find(SECRET, 1, true)) end
  end)

  it("debug_token: the data scrubbed of the token it inspects and the app token; not an object: nil, decode", function()
    local t = stub('{"data":{"is_valid":false,"app_id":"' .. APP_ID .. '","error":{"code":190,"message":"Malformed access token '
      .. TOKEN .. ' (app token ' .. APP_ID .. '|' .. SECRET .. ')"}}}')
    local info = assert(fb(t):debug_token(TOKEN))
    assert.is_false(info.is_valid)
    assert.equal(APP_ID, info.app_id) -- the app id is no secret: kept
    assert.falsy(info.error.message:find(TOKEN, 1, true))
    assert.falsy(info.error.message:find(SECRET, 1, true))
    for _, body in ipairs{ '{"data":null}', '{"data":42}', '{"data":"oops"}', '{"data":false}', '7' } do
      local v, err = fb(stub(body)):debug_token(TOKEN)
      assert.is_nil(v, body)
      assert.equal("decode", err.kind)
    end
  end)
end)

describe("redirects a user agent brings back", function()
  it("take an empty code for none (no_code, nothing sent) and refuse a token with a line break", function()
    for _, q in ipairs{ "code=&state=st-0123456789abcdef", "state=st-0123456789abcdef&code",
                        "code=%23_&state=st-0123456789abcdef" } do
      for _, login in ipairs{ fb, ig } do
        local t = stub("{}")
        local v, err = login(t):handle_redirect("https://a.example/cb?" .. q, "st-0123456789abcdef")
        assert.is_nil(v)
        assert.equal("no_code", err.reason, q)
        assert.equal(0, t.sent)
      end
    end
    local _, err = fb(stub("{}")):handle_redirect("https://a.example/cb?state=st-0123456789abcdef#access_token=a%0D%0Ab",
      "st-0123456789abcdef")
    assert.equal("bad_token", err.reason)
  end)

  it("redact a code or token an error redirect quotes", function()
    local _, err = fb(stub("{}")):handle_redirect("https://a.example/cb?state=st-0123456789abcdef&error=server_error"
      .. "&error_description=exchange+failed+for+code%3DAQBsecretCODE123456+access_token%3DEAAleaked123456789",
      "st-0123456789abcdef")
    local shown = tostring(err)
    assert.falsy(shown:find("AQBsecretCODE123456", 1, true), shown)
    assert.falsy(shown:find("EAAleaked123456789", 1, true), shown)
  end)

  it("raise for misuse of login_url with the caller's line", function()
    local f = fb(stub("{}"))
    assert.has_error(function() f:login_url{ scope = { "a", {} } } end, "scope item 2 must be a permission name, got table")
    assert.has_error(function() f:login_url{ extras = print } end, "login_url: extras must be a string or a table, got function")
  end)
end)

describe("token objects", function()
  it("say 'unreadable expiry' for an expiry changed into nonsense (not the current time)", function()
    local t = token_m.new{ access_token = TOKEN, expires_in = 3600 }
    for _, bad in ipairs{ "soon", 1e300, -5, 0 / 0, {} } do
      t.expires_at = bad
      assert.truthy(tostring(t):find("unreadable expiry", 1, true), tostring(bad))
    end
  end)

  it("raise when a margin is not a number", function()
    local t = token_m.new{ access_token = TOKEN, expires_in = 3600 }
    assert.has_error(function() t:is_expired("300") end, "is_expired: margin must be a number of seconds, got string")
    assert.has_error(function() t:needs_refresh("1d") end, "needs_refresh: margin must be a number of seconds, got string")
    assert.is_false(t:is_expired(300))
  end)

  it("raise naming now() when the clock given to new returns something that is not a number", function()
    for _, bad in ipairs{ "x", 0 / 0, math.huge, false, -1e300, os.time() * 1000 } do
      local t = token_m.new{ access_token = TOKEN, issued_at = 1000, expires_in = 3600, now = function() return bad end }
      local want = "token: now() must return the time in seconds since 1970, got "
        .. (type(bad) == "number" and tostring(bad) or type(bad))
      for _, call in ipairs{ "expires_in", "age", "is_expired", "needs_refresh", "can_refresh" } do
        local ok, err = pcall(t[call], t)
        assert.is_false(ok, call)
        assert.truthy(tostring(err):find(want, 1, true), call .. ": " .. tostring(err))
      end
    end
    local t = token_m.new{ access_token = TOKEN, issued_at = 1000, expires_in = 3600, now = function() return 2000 end }
    assert.equal(2600, t:expires_in())
    assert.equal(1000, t:age())
  end)
end)

describe("webhook payloads", function()
  it("takes one payload object with or without 'object' and refuses junk", function()
    local entry = '"entry":[{"id":"17841405822304914","time":1,"changes":[{"field":"comments","value":{"id":"1","text":"x"}}]}]'
    assert.equal(1, #assert(webhook.parse("{" .. entry .. "}")))
    assert.equal(1, #assert(webhook.parse('{"object":"instagram",' .. entry .. "}")))
    for _, junk in ipairs{ '{"foo":1}', '{"object":false,' .. entry .. "}", '{"entry":{"a":1}}', "{}", "[]" } do
      local v, err = webhook.parse(junk)
      assert.is_nil(v, junk)
      assert.equal("bad_payload", err.reason, junk)
    end
  end)

  it("gives distinct events distinct ids (keys keep their type, no cut at 64, digits before a mid's colon)", function()
    local function ev(value) return { account_id = "1", time = 1, field = "tags", value = value } end
    assert.are_not.equal(webhook.event_id(ev{ tags = { ["1"] = "x" } }), webhook.event_id(ev{ tags = { "x" } }))
    local function deep(n, leaf) local v = leaf; for _ = 1, n do v = { v } end return v end
    assert.are_not.equal(webhook.event_id(ev(deep(100, "a"))), webhook.event_id(ev(deep(100, "b"))))
    local function msg(account, mid)
      return { account_id = account, field = "messages", message_id = mid, value = { message = { mid = mid } } }
    end
    assert.are_not.equal(webhook.event_id(msg("1:2", "3")), webhook.event_id(msg("1", "2:3")))
    assert.equal("mid:17841405822304914:aWdfZAG1:message", webhook.event_id(msg("17841405822304914", "aWdfZAG1")))
  end)

  it("raise for misuse naming the function", function()
    assert.has_error(function() webhook.handle{ body = "{}" } end, "handle: app_secret is required")
    assert.has_error(function() webhook.dedupe({ "x" }, instagram.store.memory()) end,
      "dedupe: event 1 must be an event (a table), got string")
  end)
end)
