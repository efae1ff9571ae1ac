local H = require "spec.helper"
local instagram = require "instagram"
local core = require "instagram.core"
local oauth, token_m = instagram.oauth, instagram.token

local APP_ID = "442224939723604"
local REDIRECT = "https://app.example/auth/callback"

-- A browser's part: fetch the dialog page, click Continue or Cancel, return the redirect Location.
local browser = core.session{ ca_file = H.ca_file }
local function click(dialog_url, which)
  local status, _, html = browser:request("GET", dialog_url)
  assert.equal(200, status, html)
  local href = assert(html:match('id="' .. which .. '" href="([^"]+)"'), "no " .. which .. " link on the dialog")
  href = href:gsub("&amp;", "&")
  local st, headers = browser:request("GET", H.graph_url .. href)
  assert.equal(302, st)
  return assert(headers.location), html
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

describe("Facebook Login", function()
  before_each(function() H.reset() end)

  it("builds the dialog URL with every documented parameter and a random state", function()
    local url, state = fb():login_url{ scope = { "instagram_basic", "pages_show_list" }, display = "page",
      extras = { setup = { channel = "IG_API_ONBOARDING" } }, response_type = "token", config_id = "123" }
    assert.matches("^" .. H.graph_url:gsub("%p", "%%%0") .. "/v24%.0/dialog/oauth%?", url)
    local q = oauth.parse_redirect(url)
    assert.same({ client_id = APP_ID, redirect_uri = REDIRECT, response_type = "token", display = "page",
      scope = "instagram_basic,pages_show_list", extras = '{"setup":{"channel":"IG_API_ONBOARDING"}}',
      config_id = "123", state = state }, q)
    assert.matches("^%x+$", state)
    assert.equal(32, #state)
    local _, state2 = fb():login_url{}
    assert.not_equal(state, state2)
  end)

  it("walks the code flow end to end: dialog, redirect, exchange, a working token", function()
    local f = fb()
    local url, state = f:login_url{ scope = { "instagram_basic", "pages_show_list", "instagram_manage_comments" } }
    local location, html = click(url, "continue")
    assert.matches("instagram_manage_comments", html)
    assert.matches("^https://app%.example/auth/callback%?", location)
    local tok, err = f:handle_redirect(location, state)
    assert.is_nil(err)
    assert.is_true(token_m.is_token(tok))
    assert.equal("facebook", tok.kind)
    assert.is_true(tok:expires_in() > 3000)
    assert.not_matches(tok.access_token, tostring(tok), 1, true)
    local me = assert(H.client{ access_token = tok }:get("/me"))
    assert.equal("10158000000000001", me.id)
    local ex = H.requests("/oauth/access_token$")[1]
    assert.matches("client_id=" .. APP_ID, ex.query)
    assert.matches("redirect_uri=", ex.query)
  end)

  it("reports a cancelled login", function()
    local f = fb()
    local url, state = f:login_url{}
    local location = click(url, "cancel")
    local tok, err = f:handle_redirect(location, state)
    assert.is_nil(tok)
    assert.equal("oauth", err.kind)
    assert.equal("cancelled", err.reason)
    assert.equal("user_denied", err.error_reason)
    assert.equal("access_denied", err.error)
  end)

  it("refuses a redirect whose state does not match, before any exchange", function()
    local f = fb()
    local url = f:login_url{}
    local location = click(url, "continue")
    local tok, err = f:handle_redirect(location, "a-different-state")
    assert.is_nil(tok)
    assert.equal("state_mismatch", err.reason)
    assert.equal(0, #H.requests("/oauth/access_token$"))
    assert.has_error(function() f:handle_redirect(location, nil) end)
  end)

  it("refuses a reused code (100/36009) and an expired one (100/36007)", function()
    local f = fb()
    local url, state = f:login_url{}
    local location = click(url, "continue")
    assert(f:handle_redirect(location, state))
    local again, err = f:handle_redirect(location, state)
    assert.is_nil(again)
    assert.equal("graph", err.kind)
    assert.equal(100, err.code)
    assert.equal(36009, err.subcode)
    local url2, state2 = f:login_url{}
    local location2 = click(url2, "continue")
    H.config{ clock_offset = 601 }
    local _, err2 = f:handle_redirect(location2, state2)
    assert.equal(36007, err2.subcode)
  end)

  it("refuses a code exchanged with another redirect_uri and a wrong app secret, hiding the secret", function()
    local f = fb()
    local url, state = f:login_url{}
    local p = oauth.parse_redirect(click(url, "continue"))
    assert.equal(state, p.state)
    local _, err = f:exchange_code(p.code, "https://elsewhere.example/cb")
    assert.equal(36008, err.subcode)
    local bad = fb{ app_secret = "not-the-secret-xyz" }
    local _, err2 = bad:exchange_code("AQxyz")
    assert.equal(1, err2.code)
    assert.not_matches("not%-the%-secret%-xyz", tostring(err2))
  end)

  it("reads the token fragment of response_type=token, preferring the long-lived token", function()
    local f = fb()
    local url, state = f:login_url{ response_type = "token" }
    local location = click(url, "continue")
    local p = oauth.parse_redirect(location)
    assert.equal("4815", p.expires_in)
    assert.is_string(p.long_lived_token)
    assert.is_string(p.data_access_expiration_time)
    local tok = assert(f:handle_redirect(location, state))
    assert.is_true(tok.long_lived)
    assert.equal(p.long_lived_token, tok.access_token)
    assert.is_number(tok.data_access_expires_at)
    assert(H.client{ access_token = tok }:get("/me"))
  end)

  it("exchanges a short-lived token for a long-lived one", function()
    local f = fb()
    local url, state = f:login_url{}
    local short = assert(f:handle_redirect(click(url, "continue"), state))
    local long = assert(f:exchange_long_lived(short))
    assert.is_true(long.long_lived)
    assert.is_true(long:expires_in() > 59 * 86400)
    assert.not_equal(short.access_token, long.access_token)
    assert(H.client{ access_token = long }:get("/me"))
  end)

  it("inspects tokens with debug_token", function()
    local f = fb()
    local url, state = f:login_url{ scope = "instagram_basic,pages_show_list" }
    local tok = assert(f:handle_redirect(click(url, "continue"), state))
    local info = assert(f:debug_token(tok))
    assert.is_true(info.is_valid)
    assert.equal(APP_ID, info.app_id)
    assert.equal("10158000000000001", info.user_id)
    assert.same({ "instagram_basic", "pages_show_list" }, info.scopes)
    assert.is_number(info.expires_at)
    local bad = assert(f:debug_token("garbage-token"))
    assert.is_false(bad.is_valid)
    assert.equal("Bearer " .. APP_ID .. "|" .. H.app_secret, H.log()[#H.log()].headers.authorization)
  end)

  it("lists Pages with Page tokens, IG accounts and the permissions their tasks can grant", function()
    local pages = assert(fb():pages(H.token))
    assert.equal(3, #pages)
    assert.equal("Metricsaurus", pages[1].name)
    assert.equal(H.IG_USER_ID, pages[1].instagram_business_account.id)
    assert.matches("^EMU%-PAGE%-TOKEN", pages[1].access_token)
    assert.same({ "instagram_basic", "instagram_content_publish", "instagram_manage_comments",
                  "instagram_manage_insights" }, pages[1].grantable_permissions)
  end)

  it("raises on misuse", function()
    assert.has_error(function() oauth.facebook{} end)
    assert.has_error(function() oauth.facebook{ app_id = APP_ID, bogus = 1 } end)
    assert.has_error(function() oauth.facebook("x") end)
    local nos = oauth.facebook{ app_id = APP_ID }
    assert.has_error(function() nos:exchange_code("c") end)
    assert.has_error(function() nos:login_url{} end) -- no redirect_uri
    assert.has_error(function() fb():exchange_code("") end)
    assert.has_error(function() fb():exchange_long_lived(nil) end)
    assert.not_matches(H.app_secret, tostring(fb()), 1, true)
    -- nor anywhere in the login objects' tables
    local function walk(t, seen)
      seen = seen or {}
      if seen[t] then return end
      seen[t] = true
      for k, v in pairs(t) do
        assert.not_equal(H.app_secret, v, "app secret found under key " .. tostring(k))
        if type(v) == "table" then walk(v, seen) end
      end
    end
    walk(fb())
    walk(ig())
  end)
end)

describe("Page tasks and permissions (seed 002)", function()
  it("tells which permissions each task set can grant", function()
    assert.same({ "instagram_basic", "instagram_manage_insights" }, oauth.grantable_permissions{ "ANALYZE" })
    assert.same({ "instagram_basic", "instagram_manage_comments", "instagram_manage_insights" },
      oauth.grantable_permissions{ "MODERATE" })
    assert.same({ "instagram_basic", "instagram_content_publish", "instagram_manage_comments",
                  "instagram_manage_insights" }, oauth.grantable_permissions{ "CREATE_CONTENT" })
    assert.same({}, oauth.grantable_permissions{})
  end)

  it("tells what is missing for what an app wants", function()
    assert.same({ "instagram_content_publish", "instagram_manage_comments" },
      oauth.missing_permissions({ "ADVERTISE" }, { "instagram_basic", "instagram_content_publish",
        "instagram_manage_comments", "pages_show_list" }))
    assert.same({}, oauth.missing_permissions({ "MANAGE" }, { "instagram_content_publish" }))
    assert.has_error(function() oauth.missing_permissions({}, "x") end)
  end)
end)

describe("Instagram Login", function()
  before_each(function() H.reset() end)

  it("builds the authorization window URL", function()
    local url, state = ig():authorize_url{ scope = { "instagram_business_basic", "instagram_business_manage_comments" } }
    assert.matches("/oauth/authorize%?", url)
    local q = oauth.parse_redirect(url)
    assert.same({ client_id = APP_ID, redirect_uri = REDIRECT, response_type = "code", state = state,
      scope = "instagram_business_basic,instagram_business_manage_comments" }, q)
  end)

  it("walks the code flow end to end, stripping the #_ suffix", function()
    local i = ig()
    local url, state = i:authorize_url{}
    local location = click(url, "continue")
    assert.matches("#_$", location)
    local tok = assert(i:handle_redirect(location, state))
    assert.equal("instagram", tok.kind)
    assert.equal(H.IG_USER_ID, tok.user_id)
    assert.same({ "instagram_business_basic" }, tok.permissions)
    assert.is_true(tok:expires_in() <= 3600 and tok:expires_in() > 3500)
    local ex = H.requests("^/oauth/access_token$")[1]
    assert.equal("POST", ex.method)
    assert.not_matches("#", ex.body)
    assert.matches("grant_type=authorization_code", ex.body)
    -- the token works against the Instagram host; /me is the IG user
    local me = assert(H.client{ access_token = tok }:get("/me", { fields = "id,username" }))
    assert.equal("metricsaurus", me.username)
  end)

  it("strips #_ from a code given directly", function()
    local i = ig()
    local url = i:authorize_url{}
    local code = oauth.parse_redirect(click(url, "continue")).code
    assert.not_matches("#", code)
    assert(i:exchange_code(code .. "#_"))
  end)

  it("reports a cancelled login and a reused code in the host's flat error shape", function()
    local i = ig()
    local url, state = i:authorize_url{}
    local _, err = i:handle_redirect(click(url, "cancel"), state)
    assert.equal("cancelled", err.reason)
    assert.equal("The user denied your request", err.message)
    local url2, state2 = i:authorize_url{}
    local location = click(url2, "continue")
    assert(i:handle_redirect(location, state2))
    local _, err2 = i:handle_redirect(location, state2)
    assert.equal("graph", err2.kind)
    assert.equal("OAuthException", err2.type)
    assert.equal(400, err2.code)
    assert.equal("This authorization code has been used", err2.message)
  end)

  it("exchanges for a long-lived token and refreshes it once it is 24 hours old", function()
    local i = ig()
    local url, state = i:authorize_url{}
    local short = assert(i:handle_redirect(click(url, "continue"), state))
    local long = assert(i:exchange_long_lived(short))
    assert.is_true(long.long_lived)
    assert.equal(5184000, long.expires_at - long.issued_at)
    assert.equal(H.IG_USER_ID, long.user_id)
    local q = H.requests("^/access_token$")[1].query
    assert.matches("grant_type=ig_exchange_token", q)

    -- too young: refused before any request, with the reason
    local before = #H.log()
    local _, err = i:refresh(long)
    assert.equal("oauth", err.kind)
    assert.equal("too_early", err.reason)
    assert.matches("24 hours", err.message)
    assert.equal(before, #H.log())
    -- an expired token object cannot be refreshed at all: said so, no call made
    local old = require("instagram.token").new{ access_token = "IGAA-old", kind = "instagram", issued_at = 1,
      expires_in = 60 }
    local _, eerr = i:refresh(old)
    assert.equal("expired", eerr.reason)
    assert.matches("log in again", eerr.message)
    assert.equal(before, #H.log())
    -- as a bare string the server decides, and says no as well
    local _, err2 = i:refresh(long.access_token)
    assert.equal("graph", err2.kind)
    assert.matches("24 hours", err2.message)

    -- a day later (both clocks), it refreshes
    H.config{ clock_offset = 86400 + 60 }
    long._now = function() return os.time() + 86400 + 60 end
    local fresh = assert(i:refresh(long))
    assert.not_equal(long.access_token, fresh.access_token)
    assert.is_true(fresh.long_lived)
    assert.matches("grant_type=ig_refresh_token", H.requests("^/refresh_access_token$")[1].query)
  end)
end)

describe("instagram.token", function()
  it("knows its expiry, age and whether it may be refreshed", function()
    local t0 = 1800000000
    local clock = t0
    local t = token_m.new{ access_token = "TOKEN-VALUE-123", expires_in = 5184000, kind = "instagram",
      long_lived = true, now = function() return clock end }
    assert.equal(5184000, t:expires_in())
    assert.is_false(t:is_expired())
    local ok, why = t:can_refresh()
    assert.is_false(ok)
    assert.matches("24 hours", why)
    clock = t0 + 86400
    assert.is_true((t:can_refresh()))
    assert.is_false(t:needs_refresh()) -- 59 days left
    clock = t0 + 55 * 86400
    assert.is_true(t:needs_refresh())
    clock = t0 + 5184000
    assert.is_true(t:is_expired())
    assert.is_false((t:can_refresh()))
  end)

  it("round-trips through a table for storage and never prints the token", function()
    local t = token_m.new{ access_token = "TOKEN-VALUE-123", expires_at = 1800000000, issued_at = 1790000000,
      kind = "facebook", user_id = 42 }
    local copy = token_m.from_table(t:to_table())
    assert.equal("TOKEN-VALUE-123", copy.access_token)
    assert.equal(1800000000, copy.expires_at)
    assert.equal("42", copy.user_id)
    assert.not_matches("TOKEN%-VALUE", tostring(t))
    assert.matches("expires 2027", tostring(t))
    assert.is_nil(token_m.new{ access_token = "x" }:expires_in())
  end)

  it("refuses a field it does not know (a typo would make a token that never expires)", function()
    assert.has_error(function() token_m.new{ access_token = "x", expire_in = 60 } end,
      "token.new: unknown field 'expire_in' (known: access_token, data_access_expiration_time, "
      .. "data_access_expires_at, expires_at, expires_in, issued_at, kind, long_lived, now, permissions, "
      .. "token_type, user_id)")
    local stored = token_m.new{ access_token = "x", expires_in = 60 }:to_table()
    stored.note = "mine"
    assert.has_error(function() token_m.from_table(stored) end)
    local ok, err = pcall(function() local t = token_m.from_table(stored) return t end)
    assert.is_false(ok)
    assert.matches("^spec/oauth_spec.lua:%d+: token.from_table: unknown field 'note'", err)
  end)

  it("raises on misuse", function()
    assert.has_error(function() token_m.new{} end)
    assert.has_error(function() token_m.new{ access_token = "x", kind = "martian" } end)
    assert.has_error(function() token_m.new("x") end)
  end)
end)

describe("client auto_refresh", function()
  before_each(function() H.reset() end)

  it("refreshes a token near expiry before a call and uses the new one", function()
    local i = ig()
    local url, state = i:authorize_url{}
    local long = assert(i:exchange_long_lived(assert(i:handle_redirect(click(url, "continue"), state))))
    H.config{ clock_offset = 55 * 86400 }
    long._now = function() return os.time() + 55 * 86400 end
    local seen
    local c = H.client{ access_token = long, auto_refresh = i, on_refresh = function(new, err) seen = { new, err } end }
    assert(c:get("/me"))
    assert.is_true(token_m.is_token(seen[1]))
    assert.is_nil(seen[2])
    assert.equal(seen[1], c:token())
    local log = H.log()
    assert.equal("/refresh_access_token", log[#log - 1].path)
    assert.equal("Bearer " .. seen[1].access_token, log[#log].headers.authorization)
    -- a fresh token is not refreshed again
    local n = #H.log()
    assert(c:get("/me"))
    assert.equal(n + 1, #H.log())
  end)

  it("needs a token object and an oauth object", function()
    assert.has_error(function() instagram.new{ access_token = "plain", auto_refresh = ig() } end)
    assert.has_error(function() instagram.new{ access_token = token_m.new{ access_token = "x" }, auto_refresh = {} } end)
  end)
end)
