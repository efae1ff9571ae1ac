-- The OpenResty example site (examples/openresty), driven over HTTP as a browser and as Meta's
-- webhook sender would. spec/run starts it beside the emulator (examples/openresty/run start).
local H = require "spec.helper"
local core = require "instagram.core"
local json = require "instagram.json"

local SITE = os.getenv("IG_EXAMPLE_URL") or "http://127.0.0.1:18100"
local http = core.session{ ca_file = H.ca_file, timeout = 20 }

local function get(url, cookies)
  local headers = cookies and { Cookie = cookies } or nil
  local status, h, body = http:request("GET", url, headers)
  assert(status, "is the example site running? examples/openresty/run start (" .. tostring(h) .. ")")
  return status, h, body
end

local function cookie_value(set_cookie, name)
  return set_cookie and set_cookie:match(name .. "=([^;]*)")
end

-- Log in through the dialog; which = "continue" or "cancel". Returns the callback's answer.
local function login(which, tamper_state)
  local status, h = get(SITE .. "/login")
  assert.equal(302, status)
  local state = cookie_value(h["set-cookie"], "ig_state")
  assert.is_string(state)
  local st, _, html = get(h.location)
  assert.equal(200, st)
  local href = html:match('id="' .. which .. '" href="([^"]+)"'):gsub("&amp;", "&")
  local st2, h2 = get(h.location:match("^(https?://[^/]+)") .. href)
  assert.equal(302, st2)
  assert.matches("^" .. SITE .. "/auth/callback", h2.location)
  return get(h2.location, "ig_state=" .. (tamper_state or state))
end

describe("OpenResty example: Log in with Facebook", function()
  before_each(function() H.reset() end)

  it("ends on the profile page with the latest media as a grid", function()
    local status, h = login("continue")
    assert.equal(302, status)
    assert.equal("/profile", h.location)
    local sid = cookie_value(h["set-cookie"], "ig_sid")
    assert.matches("^%x+$", sid)
    local st, _, html = get(SITE .. "/profile", "ig_sid=" .. sid)
    assert.equal(200, st)
    assert.matches('<h1 id="username">@metricsaurus</h1>', html, 1, true)
    local tiles = 0
    for _ in html:gmatch('<figure class="media"') do tiles = tiles + 1 end
    assert.equal(12, tiles)
    -- the exchange, the long-lived token and the Pages call all happened server-side, signed
    assert.equal(2, #H.requests("/oauth/access_token$"))
    for _, r in ipairs(H.requests("/me/accounts$")) do assert.matches("appsecret_proof=", r.query) end
  end)

  it("shows a cancelled login gracefully", function()
    local status, _, html = login("cancel")
    assert.equal(200, status)
    assert.matches("Login cancelled", html)
  end)

  it("refuses a callback whose state is not the one it set", function()
    local status, _, html = login("continue", "0000")
    assert.equal(400, status)
    assert.matches("does not match", html)
    assert.equal(0, #H.requests("/oauth/access_token$"))
  end)

  it("sends a visitor without a session back to the start", function()
    local status, h = get(SITE .. "/profile")
    assert.equal(302, status)
    assert.equal("/", h.location)
  end)
end)

describe("OpenResty example: cached media JSON", function()
  before_each(function() H.reset() end)

  it("proxies paginated media and serves repeats from lua_shared_dict", function()
    local ig = "/api/media?ig=" .. H.IG_USER_ID .. "&after=" .. core.url_encode("ZW11OjEw") -- after item 10
    local st, h, body = get(SITE .. ig)
    assert.equal(200, st)
    local page = json.decode(body)
    assert.equal(10, #page.data)
    assert.equal("17918195224100011", page.data[1].id)
    assert.is_string(page.next)
    local first = h["x-cache"]
    local _, h2, body2 = get(SITE .. ig)
    assert.equal("HIT", h2["x-cache"])
    assert.equal(body, body2)
    assert.is_true(first == "MISS" or first == "HIT") -- HIT when an earlier run cached it
    local st3 = get(SITE .. "/api/media?ig=abc")
    assert.equal(400, st3)
  end)
end)

describe("OpenResty example: webhook receiver", function()
  before_each(function() H.reset() end)

  local function emulator(path, body)
    local status, _, text = http:request("POST", H.graph_url .. "/__emulator/" .. path,
      { ["Content-Type"] = "application/json" }, json.encode(body))
    assert.equal(200, status, text)
    return json.decode(text)
  end

  it("answers the verification handshake and refuses a wrong verify token", function()
    local ok = emulator("webhook_verify", { url = SITE .. "/webhook", verify_token = "example-verify-token" })
    assert.is_true(ok.ok)
    assert.equal(ok.challenge, ok.body)
    local bad = emulator("webhook_verify", { url = SITE .. "/webhook", verify_token = "wrong" })
    assert.is_false(bad.ok)
    assert.equal(403, bad.status)
  end)

  it("accepts signed events (both signatures, or SHA-256 alone), refuses SHA-1 alone, and stores them", function()
    local text = "webhook test " .. core.random_token(4)
    local r = emulator("webhook", { url = SITE .. "/webhook", field = "comments", value = {
      from = { id = "232323232", username = "fan" }, comment_id = "17865799348089039", text = text,
      media = { id = "17918195224100001", media_product_type = "FEED" } } })
    assert.equal(200, r.status)
    assert.equal("EVENT_RECEIVED", r.body)
    assert.matches("^sha256=%x+$", r.signature_256)
    local r2 = emulator("webhook", { url = SITE .. "/webhook", field = "mentions", signature = "sha256",
      value = { media_id = "17918195224100002" } })
    assert.equal(200, r2.status)
    -- only the legacy X-Hub-Signature: refused, as handle() requires SHA-256 by default
    local r3 = emulator("webhook", { url = SITE .. "/webhook", field = "mentions", signature = "sha1",
      value = { media_id = "17918195224100003" } })
    assert.equal(403, r3.status)
    assert.matches("sha256_required", r3.body)
    local _, _, body = get(SITE .. "/webhook/events")
    local events = json.decode(body)
    local found
    for _, e in ipairs(events) do if e.text == text then found = e end end
    assert.is_table(found)
    assert.equal("comments", found.field)
    assert.equal("17865799348089039", found.comment_id)
    assert.equal("17918195224100001", found.media_id)
    assert.equal("mentions", events[#events].field)
  end)

  it("refuses forged, unsigned and malformed deliveries", function()
    local bad = emulator("webhook", { url = SITE .. "/webhook", field = "comments", signature = "bad",
      value = { comment_id = "1" } })
    assert.equal(403, bad.status)
    local unsigned = emulator("webhook", { url = SITE .. "/webhook", field = "comments", signature = "none",
      value = { comment_id = "1" } })
    assert.equal(403, unsigned.status)
    local junk = emulator("webhook", { url = SITE .. "/webhook", payload = "{not json" })
    assert.equal(400, junk.status)
  end)
end)
