-- One coherent guide for a stranger (issue 12, part 5): what the README's emulator section promises,
-- run as a stranger would run it. The emulator is the one the suite runs against (IG_EMULATOR_DIR).
local H = require "spec.helper"
local core = require "instagram.core"
local json = require "instagram.json"
local instagram = require "instagram"
local F = instagram.fields

local runtime = jit and "luajit" or "lua5.4"
local EMU_DIR = os.getenv("IG_EMULATOR_DIR") or ".emulator"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- Runs a shell command; returns its output (stdout and stderr) and exit code.
local function sh(cmd)
  -- (inside nginx, spec/ngx/run, the environment has no PATH)
  local p = io.popen("export PATH=\"${PATH:-/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin}\"; (" .. cmd
    .. ") 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), code
end

--- A clean environment: nothing of the caller's IG_* or LUA_* settings leaks into what is checked.
local function clean(cmd, extra)
  return "env -i PATH=\"$PATH\" HOME=\"$HOME\" IG_EMULATOR_DIR=" .. q(EMU_DIR) .. " " .. (extra or "")
    .. " bash -c " .. q(cmd)
end

local made = {} -- temporary folders, removed after each test that made one

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/ig-guide-XXXXXX")
  local d = p:read("*l")
  p:close()
  made[#made + 1] = d
  return d
end

local function remove_tmpdirs()
  for i = #made, 1, -1 do
    os.execute("rm -rf " .. q(made[i]))
    made[i] = nil
  end
end

local function make_file(path, bytes)
  os.execute(("mkdir -p build && head -c %d /dev/urandom > %s"):format(bytes, path))
  return path
end

describe("guide: publishing a file against the emulator", function()
  local clip
  setup(function() clip = make_file("build/guide-clip.mp4", 200000) end)
  teardown(function() os.remove(clip) end)
  before_each(function() H.reset() end)

  -- Without rupload_url the container's upload uri (on the emulator) is not on the client's upload
  -- host: a runtime condition on a server, so nil, err, at once, and nothing sent anywhere else.
  for _, flow in ipairs{
    { "publish_reel", function(u, file) return u:publish_reel{ file = file, wait = { interval = 0.01 } } end },
    { "publish_story", function(u, file) return u:publish_story{ file = file, wait = { interval = 0.01 } } end },
    { "publish_carousel", function(u, file) return u:publish_carousel{ wait = { interval = 0.01 },
        children = { { image_url = "https://cdn.example/a.jpg" }, { file = file } } } end },
  } do
    it(flow[1] .. "{ file } without rupload_url returns nil, err (foreign_host), never raises", function()
      local user = H.client():ig_user(H.IG_USER_ID)
      local started = core.now()
      local ok, res, err = pcall(flow[2], user, clip)
      assert.is_true(ok, "raised: " .. tostring(res))
      assert.is_nil(res)
      assert.equal("transport", err.kind)
      assert.equal("foreign_host", err.reason)
      assert.matches("^%d+$", err.container_id)
      assert.matches("refusing to upload to " .. H.graph_url .. ": uploads go to rupload_url only", err.message, 1, true)
      assert.matches("set rupload_url", tostring(err), 1, true)
      assert.is_true(core.now() - started < 5, "no retries against another host")
      assert.equal(0, #H.requests("^/ig%-api%-upload/"))
    end)
  end

  it("publish_reel{ file } with rupload_url = the emulator's URL publishes", function()
    local user = H.client{ rupload_url = H.graph_url, sleep = function() end }:ig_user(H.IG_USER_ID)
    local media, err = user:publish_reel{ file = clip, wait = { interval = 0.01 } }
    assert.is_nil(err)
    assert.matches("^%d+$", media.id)
  end)

  it("upload_video with a uri on another host or without a container id: nil, err, never a raise", function()
    local c = H.client()
    local ok, res, err = pcall(c.upload_video, c, H.graph_url .. "/ig-api-upload/v24.0/17890001", clip)
    assert.is_true(ok, tostring(res))
    assert.is_nil(res)
    assert.equal("foreign_host", err.reason)
    local ok2, res2, err2 = pcall(c.upload_video_url, c, "https://evil.example/ig-api-upload/v24.0/1",
      "https://cdn.example/v.mp4")
    assert.is_true(ok2, tostring(res2))
    assert.equal("foreign_host", err2.reason)
    local up = H.client{ rupload_url = H.graph_url }
    local ok3, res3, err3 = pcall(up.upload_video, up, H.graph_url .. "/ig-api-upload/v24.0/not-an-id", clip)
    assert.is_true(ok3, tostring(res3))
    assert.equal("transport", err3.kind)
    assert.equal("invalid", err3.reason)
    local ok4, res4, err4 = pcall(up.raw_upload, up, "https://evil.example/ig-api-upload/v24.0/1", nil, clip, 0)
    assert.is_true(ok4, tostring(res4))
    assert.equal("foreign_host", err4.reason)
    assert.equal(0, #H.log())
  end)
end)

describe("guide: eval \"$(emulator/run env)\" and the examples", function()
  before_each(function() H.reset() end)

  it("prints the names the examples read, every value absolute", function()
    local out, code = sh(clean("IG_EMULATOR_DIR=$(realpath --relative-to=. \"$IG_EMULATOR_DIR\") emulator/run env"))
    assert.equal(0, code, out)
    local vars = {}
    for k, v in out:gmatch("export ([%w_]+)=(%S+)") do vars[k] = v end
    assert.equal(H.graph_url, vars.IG_GRAPH_URL)
    assert.equal(H.graph_url, vars.IG_RUPLOAD_URL)
    assert.equal(H.token, vars.IG_TOKEN)
    assert.equal(H.app_secret, vars.IG_APP_SECRET)
    assert.equal("17841405822304914", vars.IG_USER_ID)
    assert.equal("442224939723604", vars.IG_APP_ID)
    assert.matches("^http://127%.0%.0%.1:%d+$", vars.IG_DIALOG_URL)
    assert.matches("^https?://", vars.IG_REDIRECT_URI)
    assert.is_string(vars.IG_VERIFY_TOKEN)
    assert.matches("^/.+/ca%.crt$", vars.IG_CA_FILE)
    assert.truthy(io.open(vars.IG_CA_FILE), vars.IG_CA_FILE)
    assert.is_nil(out:match("IG_EMULATOR_"), "the user-facing set only")
  end)

  local function with_env(script, args, extra)
    return sh(clean("eval \"$(emulator/run env)\" && " .. runtime .. " " .. script .. " " .. (args or ""), extra))
  end

  it("demo.lua just works", function()
    local out, code = with_env("examples/demo.lua")
    assert.equal(0, code, out)
    assert.matches("60 media on 3 pages", out)
    assert.matches("Graph API error 190", out)
  end)

  it("publish_reel.lua uploads and publishes a file", function()
    make_file("build/guide-reel.mp4", 300000)
    local out, code = with_env("examples/publish_reel.lua", "build/guide-reel.mp4 'From the guide'", "IG_POLL_INTERVAL=0.01")
    os.remove("build/guide-reel.mp4")
    assert.equal(0, code, out)
    assert.matches("published REELS %d+", out)
  end)

  it("carousel.lua, insights_report.lua, moderate_comments.lua and login.lua run too", function()
    local out, code = with_env("examples/carousel.lua", nil, "IG_POLL_INTERVAL=0.01")
    assert.equal(0, code, out)
    assert.matches("published CAROUSEL_ALBUM", out)
    out, code = with_env("examples/insights_report.lua", "build/guide-insights.csv", "IG_NOW=1793534400")
    os.remove("build/guide-insights.csv")
    assert.equal(0, code, out)
    assert.matches("accounts_engaged", out)
    out, code = with_env("examples/moderate_comments.lua", "--dry-run 1")
    assert.equal(0, code, out)
    out, code = with_env("examples/login.lua", "url", "IG_TOKEN_FILE=build/guide-token.json")
    os.remove("build/guide-token.json.state")
    assert.equal(0, code, out)
    assert.matches("/dialog/oauth%?", out)
  end)
end)

describe("guide: emulator/run status, env and usage", function()
  local fresh
  before_each(function() fresh = tmpdir() .. "/never-started" end)
  after_each(remove_tmpdirs)

  it("env for a folder where no emulator runs says so, how to start it, and exits non-zero", function()
    local out, code = sh("IG_EMULATOR_DIR=" .. q(fresh) .. " emulator/run env")
    assert.equal(1, code, out)
    assert.matches("the emulator is not running from " .. fresh, out, 1, true)
    assert.matches("emulator/run start", out, 1, true)
    assert.is_nil(out:match("export "), "nothing for eval")
    assert.is_nil(io.open(fresh .. "/env"), "nothing written there")
  end)

  it("status for another folder says stopped, and names the emulator that runs elsewhere", function()
    local abs = sh("realpath " .. q(EMU_DIR)):gsub("%s+$", "")
    local out, code = sh("IG_EMULATOR_DIR=" .. q(fresh) .. " emulator/run status")
    assert.equal(1, code, out)
    assert.matches("stopped: no emulator runs from " .. fresh, out, 1, true)
    assert.matches("an emulator runs from " .. abs .. " (" .. H.graph_url .. ")", out, 1, true)
  end)

  it("status probes its port when it cannot tell which folder an emulator runs from", function()
    local bin = tmpdir()
    os.execute("printf '#!/bin/sh\\nexit 0\\n' > " .. bin .. "/ps && chmod +x " .. bin .. "/ps")
    local port = H.graph_url:match(":(%d+)$")
    local out, code = sh("PATH=" .. bin .. ":$PATH IG_EMULATOR_DIR=" .. q(fresh) .. " IG_EMULATOR_HTTPS_PORT=" .. port
      .. " emulator/run status")
    assert.equal(1, code, out)
    assert.matches("something answers on https://127.0.0.1:" .. port
      .. ": an emulator started with another IG_EMULATOR_DIR?", out, 1, true)
  end)

  it("an unknown command prints the usage and exits 2", function()
    local out, code = sh("emulator/run frobnicate")
    assert.equal(2, code, out)
    assert.matches("unknown command 'frobnicate'", out, 1, true)
    assert.matches("usage: emulator/run start|stop|status|env", out, 1, true)
    assert.matches("eval \"$(emulator/run env)\"", out, 1, true)
  end)
end)

describe("guide: the OpenResty example builds its LuaJIT core", function()
  it("examples/openresty/run start builds it when missing or older than its sources, and says so", function()
    local d = tmpdir()
    local port = (tonumber(os.getenv("IG_EXAMPLE_PORT")) or 18100) + 7
    local env = "IG_EMULATOR_DIR=" .. q(EMU_DIR) .. " IG_EXAMPLE_DIR=" .. d .. "/site IG_EXAMPLE_BUILD=" .. d
      .. "/core IG_EXAMPLE_PORT=" .. port .. " "
    local ok, err = pcall(function()
      local out, code = sh(env .. "examples/openresty/run start")
      assert.equal(0, code, out)
      assert.matches("building it: make LUA=luajit BUILD=" .. d .. "/core", out, 1, true)
      assert.truthy(io.open(d .. "/core/instagram/core.so"))
      local status = core.session{ timeout = 10 }:request("GET", "http://127.0.0.1:" .. port .. "/")
      assert.equal(200, status)
      -- Up to date: no build. Older than its sources: built again.
      out, code = sh(env .. "examples/openresty/run start")
      assert.equal(0, code, out)
      assert.is_nil(out:match("building"), out)
      os.execute("touch -d '2000-01-01' " .. d .. "/core/instagram/core.so")
      out, code = sh(env .. "examples/openresty/run start")
      assert.equal(0, code, out)
      assert.matches("older than its sources", out, 1, true)
    end)
    sh(env .. "examples/openresty/run stop")
    remove_tmpdirs()
    assert(ok, err)
  end)
end)

describe("guide: fields as a list everywhere", function()
  local c
  before_each(function()
    H.reset()
    c = H.client()
  end)

  local function last_query(pattern)
    local r = H.requests(pattern)
    return r[#r] and core.url_decode(r[#r].query) or nil
  end

  it("get, post, delete and request join a list of fields with commas", function()
    local me = assert(c:get("/me", { fields = { "id", "name" } }))
    assert.equal("Emu Lator", me.name)
    assert.matches("fields=id,name", last_query("/me$"), 1, true)
    c:request("GET", "/" .. H.IG_USER_ID, { fields = { "id", "username" } })
    assert.matches("fields=id,username", last_query("/" .. H.IG_USER_ID .. "$"), 1, true)
    c:post("/" .. H.IG_USER_ID .. "/media", { fields = { "id" }, image_url = "https://cdn.example/x.jpg" })
    local posted = H.requests("/media$")
    assert.matches("fields=id&", posted[#posted].body .. "&", 1, true)
    c:post("/" .. H.IG_USER_ID .. "/media", { fields = { "id", "uri" } }, { json = true })
    posted = H.requests("/media$")
    assert.equal("id,uri", json.decode(posted[#posted].body).fields)
    c:delete("/17918195224100001", { fields = { "id" } })
    assert.matches("fields=id", last_query("/17918195224100001$"), 1, true)
  end)

  it("edge pagers, get_many, start_get and batch bodies too, with fields.edge(...) items", function()
    local p = c:edge("/" .. H.IG_USER_ID .. "/media", { fields = { "id", F.edge("comments", { limit = 1 }, { "id" }) },
      limit = 2, max_pages = 2 })
    local list = assert(p:all())
    assert.equal(4, #list)
    assert.matches("fields=id,comments.limit(1){id}", last_query("/media$"), 1, true)
    local values = c:get_many({ { "/me", { fields = { "id", "name" } } } })
    assert.equal("Emu Lator", values[1].name)
    local h = c:start_get("/me", { fields = { "name" } })
    if h then assert.equal("Emu Lator", h.finish().name) end
    local res = assert(c:batch{ { method = "POST", relative_url = H.IG_USER_ID .. "/media",
      body = { image_url = "https://cdn.example/x.jpg", fields = { "id", "uri" } } } })
    assert.is_table(res[1])
    local sent = H.requests("^/v%d+%.%d+/?$")
    local ops = json.decode(core.url_decode(sent[#sent].body:match("batch=([^&]*)"), true))
    assert.matches("fields=id%2Curi", ops[1].body, 1, true)
  end)

  it("a table that is not a list raises, naming the parameter, before any request", function()
    local ok, msg = pcall(c.get, c, "/me", { fields = { id = true } })
    assert.is_false(ok)
    assert.matches("parameter 'fields' expects a list of field names", msg, 1, true)
    assert.matches("the key 'id'", msg, 1, true)
    ok, msg = pcall(c.edge, c, "/me/accounts", { fields = { "id", 5 } }) -- when the pager is made
    assert.is_false(ok)
    assert.matches("parameter 'fields' item 2 must be a non-empty string", msg, 1, true)
    assert.has_error(function() F.build{ a = 1 } end)
    assert.equal(0, #H.log())
  end)
end)

describe("guide: typos in nested option tables raise, naming the key, its table and the keys allowed", function()
  local c, user, clip
  setup(function() clip = make_file("build/guide-typo.mp4", 1000) end)
  teardown(function() os.remove(clip) end)
  before_each(function()
    H.reset()
    c = H.client{ rupload_url = H.graph_url }
    user = c:ig_user(H.IG_USER_ID)
  end)

  local img = "https://cdn.example/x.jpg"
  local cases = {
    { function() instagram.new{ throttle = { treshold = 75 } } end,
      "instagram.new: unknown option 'throttle.treshold' (known: max_delay, on_throttle, threshold)" },
    { function() instagram.new{ acess_token = "x" } end, "instagram.new: unknown option 'acess_token' (known: access_token," },
    { function() c:get("/me", nil, { timout = 5 }) end,
      "client:get: unknown option 'opts.timout' (known: auth, headers, json, scrub, timeout, versioned)" },
    { function() c:post("/me", nil, { jsn = true }) end, "client:post: unknown option 'opts.jsn'" },
    { function() c:delete("/17918195224100001", nil, { header = {} }) end, "client:delete: unknown option 'opts.header'" },
    { function() c:request("GET", "/me", nil, { versoned = false }) end, "unknown option 'opts.versoned'" },
    { function() c:get("/me", nil, { json = "yes" }) end, "client:get: option 'opts.json' must be a boolean, got string" },
    { function() c:edge("/me/accounts", nil, { max_item = 3 }) end,
      "edge: unknown option 'opts.max_item' (known: cursor_only, max_items, max_pages, prefetch)" },
    { function() user:media(nil, { prefetsh = true }) end, "edge: unknown option 'opts.prefetsh'" },
    { function() user:tags(nil, { max_page = 1 }) end, "edge: unknown option 'opts.max_page'" },
    { function() user:business_discovery_media("bluebottle", nil, { max_item = 1 }) end,
      "business_discovery_media: unknown option 'opts.max_item' (known: limit, max_items, max_pages)" },
    { function() c:get_many({ "/me" }, { concurency = 2 }) end,
      "get_many: unknown option 'opts.concurency' (known: concurrency)" },
    { function() c:batch({ { relative_url = "me" } }, { include_header = false }) end,
      "batch: unknown option 'opts.include_header' (known: include_headers)" },
    { function() c:upload_video("17890001", clip, { max_attempt = 2 }) end,
      "upload_video: unknown option 'opts.max_attempt' (known: max_attempts, offset, progress, retry_base, retry_cap)" },
    { function() user:publish_image{ image_url = img, wait = { intervall = 3 } } end,
      "publish_image: unknown option 'wait.intervall' (known: interval, max_interval, timeout)" },
    { function() user:publish_reel{ file = clip, wait = { timout = 3 } } end, "publish_video: unknown option 'wait.timout'" },
    { function() user:publish_story{ image_url = img, wait = { interval = "3" } } end,
      "publish_story: option 'wait.interval' must be a number, got string" },
    { function() user:publish_carousel{ children = { { image_url = img }, { image_url = img } }, wait = { max = 1 } } end,
      "publish_carousel: unknown option 'wait.max'" },
    { function() c:wait_for_container("17890001", { intervall = 3 }) end,
      "wait_for_container: unknown option 'opts.intervall' (known: interval, max_interval, timeout)" },
    { function() c:ig_container("17890001"):wait{ intervall = 3 } end, "wait_for_container: unknown option 'opts.intervall'" },
    { function() user:content_publishing_limit{ field = "quota_usage" } end,
      "content_publishing_limit: unknown option 'opts.field' (known: fields, since)" },
    { function()
        instagram.oauth.facebook{ app_id = "1", app_secret = "s", redirect_uri = "https://app.example/cb" }
          :login_url{ scopes = { "instagram_basic" } }
      end, "login_url: unknown option 'scopes' (known: auth_type, config_id," },
    { function()
        instagram.oauth.instagram{ app_id = "1", app_secret = "s", redirect_uri = "https://app.example/cb" }
          :authorize_url{ force_reuath = true }
      end, "authorize_url: unknown option 'force_reuath' (known: enable_fb_login, force_reauth," },
    { function() instagram.webhook.handle{ app_secret = "s", body = "{}", signature = "sha256=00", require_sha265 = false } end,
      "webhook.handle: unknown option 'require_sha265' (known: app_secret, body, dedupe, dedupe_ttl, max_body, require_sha256," },
  }
  for i, case in ipairs(cases) do
    it("case " .. i .. ": " .. case[2]:match("^[^:]+"), function()
      local ok, msg = pcall(case[1])
      assert.is_false(ok, "no error")
      assert.matches(case[2], msg, 1, true)
      assert.equal(0, #H.log(), "a request was made")
    end)
  end
end)

describe("guide: words a user understands", function()
  it("no message or comment in lua/, examples/ or emulator/ speaks of 'seeds'", function()
    local out = sh("grep -rniI 'seed' lua examples emulator | grep -vi 'randomseed' || true")
    assert.equal("", out)
  end)
end)
