-- The command-line examples run as a user would run them, against the emulator.
local H = require "spec.helper"

local function run(script, args, extra_env)
  local runtime = jit and "luajit" or "lua5.4"
  local env = ("IG_TOKEN=%s IG_GRAPH_URL=%s IG_RUPLOAD_URL=%s IG_CA_FILE=%s IG_APP_SECRET=%s IG_USER_ID=%s "
    .. "IG_POLL_INTERVAL=0.01 LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/%s/?.so;;' %s")
    :format(H.token, H.graph_url, H.graph_url, H.ca_file, H.app_secret, H.IG_USER_ID, runtime, extra_env or "")
  local p = io.popen(env .. runtime .. " " .. script .. " " .. (args or "") .. " 2>&1; echo \"exit=$?\"")
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

  it("publish_reel.lua explains a failure and exits non-zero", function()
    local out, code = run("examples/publish_reel.lua", "build/no-such-video.mp4")
    assert.equal(1, code)
    assert.matches("cannot read", out)
  end)
end)
