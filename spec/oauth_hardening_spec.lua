-- OAuth details an attacker can lean on (issue #11, finding 14) and token values a hostile token
-- endpoint can send (finding 8): states, redirect_uri, what a redirect may smuggle into an error,
-- query against fragment, and expires_in of every shape.
local H = require "spec.helper"
local instagram = require "instagram"
local core = require "instagram.core"
local oauth, token_m = instagram.oauth, instagram.token
local errors = require "instagram.error"

local APP_ID = "442224939723604"
local REDIRECT = "https://app.example/auth/callback"
local OTHER_REDIRECT = "https://app.example/auth/other-callback"

local browser = core.session{ ca_file = H.ca_file }
local function click(dialog_url, which)
  local status, _, html = browser:request("GET", dialog_url)
  assert.equal(200, status, html)
  local href = assert(html:match('id="' .. (which or "continue") .. '" href="([^"]+)"'))
  local st, headers = browser:request("GET", H.graph_url .. href:gsub("&amp;", "&"))
  assert.equal(302, st)
  return assert(headers.location)
end

local function fb(extra)
  local o = { app_id = APP_ID, app_secret = H.app_secret, redirect_uri = REDIRECT, graph_url = H.graph_url,
              dialog_url = H.graph_url, ca_file = H.ca_file }
  for k, v in pairs(extra or {}) do o[k] = v end
  return oauth.facebook(o)
end

local function ig(extra)
  local o = { app_id = APP_ID, app_secret = H.app_secret, redirect_uri = REDIRECT, graph_url = H.graph_url,
              api_url = H.graph_url, ca_file = H.ca_file }
  for k, v in pairs(extra or {}) do o[k] = v end
  return oauth.instagram(o)
end

describe("OAuth state (finding 14)", function()
  it("refuses an empty or non-string state given to login_url / authorize_url", function()
    for _, bad in ipairs{ "", 42, true, {} } do
      assert.has_error(function() fb():login_url{ state = bad } end)
      assert.has_error(function() ig():authorize_url{ state = bad } end)
    end
    local _, s = fb():login_url{ state = "my-own-state-1234" }
    assert.equal("my-own-state-1234", s)
  end)

  it("refuses an empty or non-string state coming back", function()
    for _, got in ipairs{ "", 42, false, { "abc" } } do
      local ok, err = oauth.check_state("expected-state", got)
      assert.is_nil(ok)
      assert.equal("state_mismatch", err.reason)
    end
    assert.has_error(function() oauth.check_state("", "") end)
    assert.has_error(function() oauth.check_state(42, "42") end)
  end)
end)

describe("OAuth redirect_uri (finding 14)", function()
  before_each(function() H.reset() end)

  it("Facebook Login exchanges the code with the redirect_uri its login_url used", function()
    local f = fb()
    local url, state = f:login_url{ redirect_uri = OTHER_REDIRECT }
    local location = click(url)
    assert.matches("^" .. OTHER_REDIRECT:gsub("%p", "%%%0"), location)
    local tok, err = f:handle_redirect(location, state)
    assert.is_nil(err)
    assert.is_true(token_m.is_token(tok))
    assert.matches("redirect_uri=" .. core.url_encode(OTHER_REDIRECT):gsub("%p", "%%%0"),
      H.requests("/oauth/access_token$")[1].query)
  end)

  it("Instagram Login exchanges the code with the redirect_uri its authorize_url used", function()
    local i = ig()
    local url, state = i:authorize_url{ redirect_uri = OTHER_REDIRECT }
    local tok, err = i:handle_redirect(click(url), state)
    assert.is_nil(err)
    assert.equal("instagram", tok.kind)
  end)

  it("a login object rebuilt per request takes the redirect_uri as handle_redirect's third argument", function()
    local url, state = fb():login_url{ redirect_uri = OTHER_REDIRECT }
    local location = click(url)
    local tok = assert(fb():handle_redirect(location, state, OTHER_REDIRECT))
    assert.equal("facebook", tok.kind)
    local url2, state2 = ig():authorize_url{ redirect_uri = OTHER_REDIRECT }
    assert(ig():handle_redirect(click(url2), state2, OTHER_REDIRECT))
  end)

  it("keeps the remembered redirect_uris bounded and off the login object", function()
    local f = fb()
    for i = 1, 300 do f:login_url{ redirect_uri = OTHER_REDIRECT .. "?n=" .. i } end
    local n = 0
    for _ in pairs(f) do n = n + 1 end
    assert.is_true(n < 10)
  end)
end)

describe("OAuth redirect parameters (finding 14)", function()
  it("strips control characters from what a redirect puts in an error", function()
    local url = REDIRECT .. "?state=s1234567&error=access_denied%0D%0AX-Injected:%201&error_reason=user_denied"
      .. "&error_description=Permissions%20error%0D%0A2025-01-01%20ERROR%20forged%20log%20line%00%1B[31m"
    local _, err = oauth.facebook{ app_id = APP_ID, redirect_uri = REDIRECT }:handle_redirect(url, "s1234567")
    assert.equal("oauth", err.kind)
    for k, v in pairs(err) do
      if type(v) == "string" then assert.not_matches("[%c\127]", v, "control character in err." .. k) end
    end
    assert.not_matches("[%c\127]", tostring(err))
    assert.matches("Permissions error", err.message)
    local long = REDIRECT .. "?state=s1234567&error=x&error_description=" .. ("A"):rep(100000)
    local _, lerr = oauth.facebook{ app_id = APP_ID, redirect_uri = REDIRECT }:handle_redirect(long, "s1234567")
    assert.is_true(#lerr.message <= 1100)
  end)

  it("never lets the fragment override the query", function()
    local p = oauth.parse_redirect(REDIRECT .. "?code=from-query&state=s1#code=from-fragment&state=s2&access_token=t")
    assert.equal("from-query", p.code)
    assert.equal("s1", p.state)
    assert.equal("t", p.access_token) -- only in the fragment (response_type=token): kept
  end)

  it("refuses a redirect whose query and fragment disagree, before any exchange", function()
    local t = { calls = 0, request = function(self) self.calls = self.calls + 1 end }
    local f = oauth.facebook{ app_id = APP_ID, app_secret = "s3cr3t-s3cr3t", redirect_uri = REDIRECT, transport = t }
    local tok, err = f:handle_redirect(REDIRECT .. "?code=c1&state=good-state#code=c2", "good-state")
    assert.is_nil(tok)
    assert.equal("oauth", err.kind)
    assert.equal("ambiguous_redirect", err.reason)
    local _, err2 = f:handle_redirect(REDIRECT .. "?code=c1&state=bad#state=good-state", "good-state")
    assert.equal("state_mismatch", err2.reason)
    local _, err3 = f:handle_redirect(REDIRECT .. "?state=good-state&x%0D%0Ay=1#x%0D%0Ay=2", "good-state")
    assert.equal("ambiguous_redirect", err3.reason)
    assert.not_matches("[%c]", err3.message)
    assert.equal(0, t.calls)
    -- the same value in both is not a disagreement; Instagram's "#_" is no fragment at all
    assert.equal("c1", oauth.parse_redirect(REDIRECT .. "?code=c1#code=c1").code)
    assert.equal("c1", oauth.parse_redirect(REDIRECT .. "?code=c1#_").code)
  end)
end)

describe("tokens with hostile expiry values (finding 8)", function()
  local NOW = 1800000000
  local function now() return NOW end

  it("tostring never raises, whatever expires_in / expires_at the server sent", function()
    local values = { 3600.5, 1e300, 1e15, -5, 0 / 0, math.huge, -math.huge, "5184000", "soon", "1e999", true, {},
                     -1e300, 2 ^ 63, 0.25 }
    for _, v in ipairs(values) do
      for _, key in ipairs{ "expires_in", "expires_at", "issued_at", "data_access_expires_at" } do
        local ok, t = pcall(token_m.new, { access_token = "tok-123456789", [key] = v, now = now })
        assert.is_true(ok, not ok and (key .. " = " .. tostring(v) .. " raised in new: " .. tostring(t)) or nil)
        local ok2, s = pcall(tostring, t)
        assert.is_true(ok2, key .. " = " .. tostring(v) .. " raised in tostring: " .. tostring(s))
        assert.not_matches("tok%-123456789", s)
        local ok3, e = pcall(t.expires_in, t)
        assert.is_true(ok3, tostring(e))
        assert.is_true(e == nil or (e == e and e > -math.huge and e < math.huge))
        assert.is_true(pcall(t.is_expired, t))
        assert.is_true(pcall(t.needs_refresh, t))
        assert.is_true(pcall(t.can_refresh, t))
      end
    end
  end)

  it("reads what it can: a numeric string, a fractional number (whole seconds)", function()
    local t = token_m.new{ access_token = "x", expires_in = "5184000", now = now }
    assert.equal(5184000, t:expires_in())
    local f = token_m.new{ access_token = "x", expires_in = 3600.7, now = now }
    assert.equal(3600, f:expires_in())
    assert.matches("expires 2027", tostring(f))
    assert.is_nil(token_m.new{ access_token = "x", expires_in = 0 / 0, now = now }:expires_in())
    assert.is_nil(token_m.new{ access_token = "x", expires_in = 1e300, now = now }:expires_in())
  end)

  it("a token endpoint answering a fractional or absurd expires_in gives a usable token", function()
    for _, v in ipairs{ "3600.5", "1e300", "-7", '"never"', "[]" } do
      local body = '{"access_token":"EAAnew-token-0123","token_type":"bearer","expires_in":' .. v .. "}"
      local t = { request = function() return { status = 200, headers = {}, body = body } end }
      local f = oauth.facebook{ app_id = APP_ID, app_secret = "s3cr3t-s3cr3t", transport = t }
      local tok, err = f:exchange_long_lived("EAAold-token-0123")
      assert.is_nil(err)
      assert.is_true(pcall(tostring, tok))
    end
  end)

  it("a token endpoint answering an empty, absurd or unreadable token gives nil, err, never a raise", function()
    for _, body in ipairs{ '{"access_token":""}', '{"access_token":42}', '{"data":[{"access_token":""}]}',
                           '{"access_token":"NEWTOKENzz81726354abcdefgh","expires_in":1e999}',
                           '{"access_token":"NEWTOKENzz81726354abcdefgh","user_id":NaN}', "null", '"x"' } do
      local t = { request = function() return { status = 200, headers = {}, body = body } end }
      local f = oauth.facebook{ app_id = APP_ID, app_secret = "s3cr3t-s3cr3t", transport = t,
        redirect_uri = REDIRECT }
      local i = oauth.instagram{ app_id = APP_ID, app_secret = "s3cr3t-s3cr3t", transport = t,
        redirect_uri = REDIRECT }
      for _, call in ipairs{ function() return f:exchange_long_lived("EAAold-token-0123") end,
                             function() return f:exchange_code("AQcode-0123456789") end,
                             function() return i:exchange_code("AQcode-0123456789") end,
                             function() return i:refresh("IGold-token-0123") end,
                             function() return f:handle_redirect(REDIRECT .. "?state=s1234567#access_token=",
                               "s1234567") end } do
        local ok, tok, err = pcall(call)
        assert.is_true(ok, body .. " raised: " .. tostring(tok))
        assert.is_nil(tok, body)
        assert.is_true(errors.is_error(err), body)
        assert.not_matches("NEWTOKENz", tostring(err), 1, true)
        assert.not_matches("NEWTOKENz", tostring(err.body), 1, true)
      end
    end
  end)
end)
