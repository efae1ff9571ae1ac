-- The fleet example (issue #14): two nginx instances of two workers each (examples/fleet/) sharing
-- one Redis, against a stand-in Graph API (spec/fleet/graph.conf.in) that counts what it is asked.
-- Runs once, on Lua 5.4 (it drives servers; the other runtimes' runs skip it).
if _VERSION ~= "Lua 5.4" or rawget(_G, "ngx") then return end

local json = require "instagram.json"
local core = require "instagram.core"
local R = require "spec.support.redis"

local root = io.popen("pwd"):read("*l")
local dir = root .. "/build/fleet-spec"
local GRAPH_PORT, REDIS_PORT, A, B = 18133, 18132, 18130, 18131
local SECRET = "fleet-app-secret"
local sh = R.sh

local function read(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function stats() return json.decode(read(("curl -s 'http://127.0.0.1:%d/control?op=stats'"):format(GRAPH_PORT))) end
local function control(op) read(("curl -s 'http://127.0.0.1:%d/control?op=%s'"):format(GRAPH_PORT, op)) end

-- n GETs of /media spread over both instances, 64 at a time; the decoded answers.
local function media(n)
  local out = read(("curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 64 "
    .. "'http://127.0.0.1:{%d,%d}/media?i=[1-%d]'"):format(A, B, math.floor(n / 2)))
  local answers = {}
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 1) == "{" then answers[#answers + 1] = assert(json.decode(line), line) end
  end
  return answers
end

local function deliver(port, body)
  local file = os.tmpname()
  local f = io.open(file, "w")
  f:write(body)
  f:close()
  local code = read(("curl -s -o /dev/null -w '%%{http_code}' -X POST -H 'Content-Type: application/json' "
    .. "-H 'X-Hub-Signature-256: sha256=%s' --data-binary @%s 'http://127.0.0.1:%d/webhook'"):format(
      core.hmac_sha256_hex(SECRET, body), file, port))
  os.remove(file)
  return code
end

describe("a fleet: two nginx instances, two workers each, one Redis", function()
  setup(function()
    assert(sh("mkdir -p " .. dir .. "/tmp"))
    local user = read("id -u"):match("^0") and "user root root;" or ""
    local mods = os.getenv("NGINX_MODULES") or "/usr/lib/nginx/modules"
    local conf = io.open("spec/fleet/graph.conf.in"):read("*a")
      :gsub("@DIR@", dir):gsub("@PORT@", tostring(GRAPH_PORT)):gsub("@USER@", user)
      :gsub("@LOAD_MODULES@", ("load_module %s/ndk_http_module.so; load_module %s/ngx_http_lua_module.so;"):format(mods, mods))
    io.open(dir .. "/graph.conf", "w"):write(conf):close()
    assert(sh(R.clean(("nginx -p %s -c %s/graph.conf -e %s/graph-error.log"):format(dir, dir, dir))))
    local now = os.time()
    -- the fleet's first token: long-lived, 30 days old, 3 days left (inside the 7-day refresh margin)
    assert(sh(R.clean(("FLEET_DIR=%s/fleet FLEET_PORTS='%d %d' REDIS_PORT=%d IG_GRAPH_URL=http://127.0.0.1:%d "
      .. "IG_APP_SECRET=%s IG_TOKEN=START%s IG_TOKEN_ISSUED_AT=%d IG_TOKEN_EXPIRES_AT=%d examples/fleet/run start "
      .. ">/dev/null"):format(dir, A, B, REDIS_PORT, GRAPH_PORT, SECRET, ("x"):rep(40), now - 30 * 86400, now + 3 * 86400))))
  end)

  teardown(function()
    sh(("FLEET_DIR=%s/fleet FLEET_PORTS='%d %d' REDIS_PORT=%d examples/fleet/run stop >/dev/null"):format(dir, A, B, REDIS_PORT))
    sh(("kill -QUIT $(cat %s/graph.pid) 2>/dev/null"):format(dir))
  end)

  it("refreshes an expiring token once for 200 concurrent requests, and every worker takes the new one", function()
    local answers = media(200)
    assert.equal(200, #answers)
    for _, a in ipairs(answers) do assert.equal(3, a.count, json.encode(a)) end
    local s = stats()
    assert.equal(1, s.refreshes)
    assert.equal(200, s["token:START"] + (s["token:FRESH1"] or 0))
    sh("sleep 1.1") -- each worker reads the shared token at most once a second
    local before = stats()["token:START"]
    for _, a in ipairs(media(40)) do assert.equal(3, a.count) end
    s = stats()
    assert.equal(before, s["token:START"])
    assert.equal(1, s.refreshes)
  end)

  it("handles a webhook delivered to both instances, and again, once", function()
    local function delivery(comment)
      return ('{"object":"instagram","entry":[{"id":"17841405822304914","time":1700000000,"changes":[{"field":"comments",'
        .. '"value":{"id":"%s","text":"great","media":{"id":"1791819522"},"from":{"id":"2","username":"a"}}}]}]}'):format(comment)
    end
    for _, port in ipairs{ A, B, A, B } do assert.equal("200", deliver(port, delivery("17865799348089039"))) end
    assert.equal("200", deliver(B, delivery("17865799348089040")))
    local s = stats()
    assert.equal(1, s["replies:17865799348089039"])
    assert.equal(1, s["replies:17865799348089040"])
  end)

  it("honours a block reported to one worker in all four, with no further API call", function()
    control("block")
    local first = json.decode(read(("curl -s 'http://127.0.0.1:%d/media'"):format(A)))
    assert.equal(4, first.code) -- the API's answer to one worker of one instance
    control("unblock") -- from now on any call would succeed, and be counted
    local calls = stats().calls
    local workers = {}
    for _, a in ipairs(media(200)) do
      assert.equal("blocked", a.error, json.encode(a))
      workers[a.worker] = true
    end
    local n = 0
    for _ in pairs(workers) do n = n + 1 end
    assert.equal(4, n)
    assert.equal(calls, stats().calls)
    sh("sleep 15") -- the block (Retry-After: 15, long enough for 200 requests on a loaded machine) ends
    for _, a in ipairs(media(8)) do assert.equal(3, a.count) end
  end)

  it("loses no request when Redis stops in the middle of a run", function()
    local out, marks = os.tmpname(), os.tmpname()
    -- 6,000 requests, 4 at a time; Redis is killed once 300 are answered (whatever the machine's
    -- speed), and how many were answered by then is noted
    assert(sh(("(curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 4 "
      .. "'http://127.0.0.1:{%d,%d}/media?i=[1-3000]' > %s) & "
      .. "i=0; while [ \"$(wc -l < %s)\" -lt 300 ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i + 1)); done; "
      .. "wc -l < %s > %s; kill -9 $(cat %s/fleet/redis.pid); wait"):format(A, B, out, out, out, marks, dir)))
    local answers = {}
    for line in io.open(out):read("*a"):gmatch("[^\n]+") do
      if line:sub(1, 1) == "{" then answers[#answers + 1] = json.decode(line) end
    end
    local before = tonumber(io.open(marks):read("*a"):match("%d+"))
    os.remove(out)
    os.remove(marks)
    assert.is_true(before >= 300 and before <= 5000, ("%s answered before Redis was stopped"):format(before))
    assert.equal(6000, #answers)
    for _, a in ipairs(answers) do assert.equal(3, a.count, json.encode(a)) end
    assert.is_false(R.ping{ port = REDIS_PORT })
    local log = read(("cat %s/fleet/%d/error.log %s/fleet/%d/error.log"):format(dir, A, dir, B))
    assert.truthy(log:find("did not answer", 1, true))
  end)
end)
