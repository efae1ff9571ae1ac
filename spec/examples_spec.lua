-- The command-line examples run as a user would run them, against the emulator.
local H = require "spec.helper"

local core = require "instagram.core"
local json = require "instagram.json"

local runtime = jit and "luajit" or "lua5.4"
local ENV = ("IG_TOKEN=%s IG_GRAPH_URL=%s IG_RUPLOAD_URL=%s IG_CA_FILE=%s IG_APP_SECRET=%s IG_USER_ID=%s "
  .. "IG_APP_ID=442224939723604 IG_DIALOG_URL=%s IG_REDIRECT_URI=https://app.example/cb IG_VERIFY_TOKEN=vt "
  .. "IG_TOKEN_FILE=build/example-token.json IG_POLL_INTERVAL=0.01 "
  .. "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/%s/?.so;;' ")
  :format(H.token, H.graph_url, H.graph_url, H.ca_file, H.app_secret, H.IG_USER_ID, H.graph_url, runtime)

-- The webhook receiver's port (IG_RECEIVER_PORT lets parallel runs keep apart).
local RECEIVER = tonumber(os.getenv("IG_RECEIVER_PORT")) or 18210 -- 18200-18202: spec/hostile/run
local RECEIVER_URL = "http://127.0.0.1:" .. RECEIVER .. "/webhook"

local function run(script, args, extra_env)
  local p = io.popen(ENV .. (extra_env or "") .. " " .. runtime .. " " .. script .. " " .. (args or "")
    .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("exit=(%d+)%s*$"))
end

describe("examples", function()
  before_each(function() H.reset() end)

  it("demo.lua lists accounts, finds the IG user and pages through three pages of media", function()
    local out, code = run("examples/demo.lua")
    assert.equal(0, code, out)
    assert.matches("Page Metricsaurus", out)
    assert.matches("@metricsaurus", out)
    assert.matches("page 3: 20 media", out)
    assert.matches("60 media on 3 pages", out)
    assert.matches("Graph API error 190", out)
  end)

  it("publish_reel.lua uploads a file with a progress bar and publishes it", function()
    os.execute("mkdir -p build && head -c 3000000 /dev/urandom > build/example-reel.mp4")
    local out, code = run("examples/publish_reel.lua", "build/example-reel.mp4 'My reel'")
    assert.equal(0, code, out)
    assert.matches("100%.0%%", out)
    assert.matches("published REELS %d+", out)
  end)

  it("carousel.lua publishes an album of three", function()
    local out, code = run("examples/carousel.lua")
    assert.equal(0, code, out)
    assert.matches("published CAROUSEL_ALBUM %d+", out)
    assert.equal(4, #H.requests("/media$"))
  end)

  it("login.lua prints the login URL, takes the redirect back and stores a long-lived token", function()
    os.remove("build/example-token.json")
    local out, code = run("examples/login.lua", "url")
    assert.equal(0, code, out)
    local url = assert(out:match("(https?://%S+/dialog/oauth%?%S+)"), out)
    local browser = core.session{ ca_file = H.ca_file }
    local _, _, html = browser:request("GET", url)
    local href = html:match('id="continue" href="([^"]+)"'):gsub("&amp;", "&")
    local _, headers = browser:request("GET", H.graph_url .. href)
    local out2, code2 = run("examples/login.lua", "finish '" .. headers.location .. "'")
    assert.equal(0, code2, out2)
    assert.matches("Stored a long%-lived token", out2)
    assert.matches("Page Metricsaurus: Instagram account 17841405822304914", out2)
    assert.not_matches("EMU%-FB%-", out2) -- the token itself is never printed
    local stored = json.decode(io.open("build/example-token.json"):read("*a"))
    assert.is_true(stored.long_lived)
    assert(H.client{ access_token = require("instagram.token").from_table(stored) }:get("/me"))
    -- a second finish with the same redirect has no state left
    local out3, code3 = run("examples/login.lua", "finish '" .. headers.location .. "'")
    assert.not_equal(0, code3)
    assert.matches("no login in progress", out3)
  end)

  it("login.lua creates the token and state files readable by the owner only, from the start", function()
    -- Without a chmod on the PATH, nothing can repair a file created world-readable afterwards.
    os.remove("build/example-token.json")
    local lua = io.popen("command -v " .. runtime):read("*l")
    local function run_nopath(args)
      local p = io.popen(ENV .. " PATH=/nonexistent " .. lua .. " examples/login.lua " .. args .. " 2>&1; echo \"exit=$?\"")
      local out = p:read("*a")
      p:close()
      return out, tonumber(out:match("exit=(%d+)%s*$"))
    end
    local function mode(path)
      local p = io.popen("stat -c %a '" .. path .. "'")
      local m = p:read("*l")
      p:close()
      return m
    end
    local out, code = run_nopath("url")
    assert.equal(0, code, out)
    assert.equal("600", mode("build/example-token.json.state"))
    local url = assert(out:match("(https?://%S+/dialog/oauth%?%S+)"), out)
    local browser = core.session{ ca_file = H.ca_file }
    local _, _, html = browser:request("GET", url)
    local href = html:match('id="continue" href="([^"]+)"'):gsub("&amp;", "&")
    local _, headers = browser:request("GET", H.graph_url .. href)
    local out2, code2 = run_nopath("finish '" .. headers.location .. "'")
    assert.equal(0, code2, out2)
    assert.equal("600", mode("build/example-token.json"))
    assert.is_true(json.decode(io.open("build/example-token.json"):read("*a")).long_lived)
  end)

  it("the OpenResty site builds its redirect_uri from its configured base URL, not the Host header", function()
    local site = os.getenv("IG_EXAMPLE_URL") or "http://127.0.0.1:18100"
    local http = core.session{ timeout = 10 }
    local status, h = http:request("GET", site .. "/login", { Host = "evil.example" })
    assert(status, "is the example site running? examples/openresty/run start")
    assert.equal(302, status)
    local p = require("instagram.oauth").parse_redirect(h.location)
    assert.equal(site .. "/auth/callback", p.redirect_uri)
  end)

  it("webhook_receiver.lua answers the handshake and verifies signed events", function()
    local log = "build/webhook-receiver.log"
    os.execute(ENV .. "IG_MAX_REQUESTS=4 " .. runtime .. " examples/webhook_receiver.lua " .. RECEIVER .. " > " .. log
      .. " 2>&1 &")
    local probe = core.session{ timeout = 1 }
    for _ = 1, 50 do
      if probe:request("GET", RECEIVER_URL .. "?hub.mode=x") then break end
      core.sleep(0.1)
    end
    local function emu(path, body)
      local _, _, text = probe:request("POST", H.http_url .. "/__emulator/" .. path,
        { ["Content-Type"] = "application/json" }, json.encode(body))
      return json.decode(text)
    end
    assert.is_true(emu("webhook_verify", { url = RECEIVER_URL, verify_token = "vt" }).ok)
    local ok = emu("webhook", { url = RECEIVER_URL, field = "comments",
      value = { comment_id = "178", text = "hello from the emulator", media = { id = "179" } } })
    assert.equal(200, ok.status)
    local bad = emu("webhook", { url = RECEIVER_URL, field = "comments", signature = "bad",
      value = { comment_id = "1" } })
    assert.equal(403, bad.status)
    core.sleep(0.2)
    local out = io.open(log):read("*a")
    assert.matches('event comments on 17841405822304914: comment 178 media 179 "hello from the emulator"', out, 1, true)
    assert.matches("refused: bad_signature", out)
  end)

  it("insights_report.lua prints 30 days and writes a CSV", function()
    os.remove("build/insights.csv")
    local out, code = run("examples/insights_report.lua", "build/insights.csv", "IG_NOW=1793534400")
    assert.equal(0, code, out)
    assert.matches("date%s+reach%s+profile_views%s+website_clicks%s+follower_count", out)
    assert.matches("2026%-10%-31", out)
    assert.matches("accounts_engaged%s+%d+", out)
    local csv = io.open("build/insights.csv"):read("*a")
    local lines = 0
    for _ in csv:gmatch("[^\n]+") do lines = lines + 1 end
    assert.equal(31, lines) -- header + 30 days
    assert.matches("^date,reach,profile_views,website_clicks,follower_count\n2026%-10%-03,%d+,%d+,%d+,%d+\n", csv)
  end)

  it("moderate_comments.lua hides blocked words and answers questions", function()
    local c = H.client()
    local m = c:ig_media("17918195224100001")
    local spam = assert(m:comment("Buy followers now!! spam link"))
    local question = assert(m:comment("When is the next fact?"))
    local dry, dcode = run("examples/moderate_comments.lua", "--dry-run 2")
    assert.equal(0, dcode, dry)
    assert.matches("%(dry run%)", dry)
    assert.is_false(assert(c:ig_comment(spam.id):fetch("hidden")).hidden)
    local out, code = run("examples/moderate_comments.lua", "2")
    assert.equal(0, code, out)
    assert.matches("hide   " .. spam.id, out, 1, true)
    assert.matches("reply  " .. question.id, out, 1, true)
    assert.matches("1 hidden, 1 answered", out)
    assert.is_true(assert(c:ig_comment(spam.id):fetch("hidden")).hidden)
    assert.equal(1, #assert(c:ig_comment(question.id):replies():all()))
  end)

  it("publish_reel.lua explains a failure and exits non-zero", function()
    local out, code = run("examples/publish_reel.lua", "build/no-such-video.mp4")
    assert.equal(1, code)
    assert.matches("cannot read", out)
  end)
end)
