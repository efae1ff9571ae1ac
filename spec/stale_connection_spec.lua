-- A server that writes bytes after an answer's end on a kept-alive connection (an outside attack):
-- libcurl 7.88 reused such a connection and handed the bytes to the next request as its answer, so
-- every later call got the one before's (another client's, on a shared transport). The C core now
-- looks at the idle connection before each request and never sends on one that holds bytes. Also
-- the answers libcurl would guess at (a 101, odd Content-Lengths, trailers).
local instagram = require "instagram"
local PORT, OTHER, TLS = 18389, 18388, 18387 -- (OTHER: a second host, as rupload_url is beside graph_url)
-- the emulator's certificate (its CA is H.ca_file), for the TLS server
local H = require "spec.helper"
local CERT_DIR = H.ca_file:match("^(.*)/[^/]*$")

local servers = {}
setup(function()
  local lua = jit and "luajit" or "lua5.4"
  for _, port in ipairs{ PORT, OTHER, TLS } do
    local tls = port == TLS and (" %s/server.crt %s/server.key"):format(CERT_DIR, CERT_DIR) or ""
    -- (without the descriptors of the process starting it: inside nginx, its sockets)
    local cmd = ("exec %s spec/support/stale_server.lua %d%s"):format(lua, port, tls)
    local server = io.popen(require("spec.support.redis").clean(cmd), "r")
    assert(server:read("*l") == "ready", "the stale server did not start")
    servers[#servers + 1] = server
  end
end)
teardown(function()
  for _, port in ipairs{ PORT, OTHER, TLS } do
    os.execute(("pkill -f 'stale_server.lua %d' 2>/dev/null"):format(port))
  end
  for _, server in ipairs(servers) do server:close() end
end)

-- The libcurl transport, also inside nginx (the cosocket transport's own case is in spec/ngx).
local function curl() return require("instagram.transport.curl").new{ timeout = 5 } end

-- A client of the server at graph_url (default: the plain one on PORT) through transport (default:
-- a libcurl transport of its own).
local function client(transport, graph_url)
  return instagram.new{ access_token = "EAATOKENsecret123456789", graph_url = graph_url or "http://127.0.0.1:" .. PORT,
    retries = 0, timeout = 5, transport = transport or curl() }
end

-- A client of the TLS server (or of url) through a libcurl transport that trusts its CA.
local function tls_client(url)
  return client(require("instagram.transport.curl").new{ timeout = 5, ca_file = H.ca_file },
    url or "https://127.0.0.1:" .. TLS)
end

describe("a connection with bytes after its last answer", function()

  it("is never reused: each call gets its own answer (bytes written with the answer)", function()
    local c = client()
    assert.equal("GET /v24.0/extra HTTP/1.1", assert(c:get("/extra"))["for"])
    local posted = assert(c:post("/me/media", { caption = "x" }))
    assert.equal("POST /v24.0/me/media HTTP/1.1", posted["for"])
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
  end)

  it("is never reused when the bytes arrive while it is idle", function()
    local c = client()
    assert.equal("GET /v24.0/late HTTP/1.1", assert(c:get("/late"))["for"])
    require("socket").sleep(0.3)
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
    assert.equal("GET /v24.0/other HTTP/1.1", assert(c:get("/other"))["for"])
  end)

  it("is never reused by get_many or start_get either", function()
    local c = client()
    assert.equal("GET /v24.0/late HTTP/1.1", assert(c:get_many({ "/late" }, { concurrency = 1 })[1])["for"])
    require("socket").sleep(0.3)
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get_many({ "/me" }, { concurrency = 1 })[1])["for"])
    assert.equal("GET /v24.0/late HTTP/1.1", assert(c:start_get("/late").finish())["for"])
    require("socket").sleep(0.3)
    assert.equal("GET /v24.0/other HTTP/1.1", assert(c:start_get("/other").finish())["for"])
  end)

  -- (an outside attack: the look before a batch cannot see what its own first transfers leave)
  it("is never reused between the requests of one get_many", function()
    -- (an answer of 20000 bytes: libcurl reads no further than its length, so the bytes written
    -- after it stay on the socket, where only a look before the next request sees them)
    local tls = require("instagram.transport.curl").new{ timeout = 5, ca_file = H.ca_file }
    for _, case in ipairs{ { 1 }, { 2 }, { 1, tls, "https://127.0.0.1:" .. TLS }, { 3, tls, "https://127.0.0.1:" .. TLS } } do
      local concurrency = case[1]
      local c = client(case[2], case[3])
      local paths = { "/big/20000", "/me", "/extra", "/other", "/big/20000", "/media", "/big/30000", "/x" }
      local values, errs = c:get_many(paths, { concurrency = concurrency })
      for i, path in ipairs(paths) do
        assert.is_table(values[i], tostring(errs[i]))
        local n = tonumber(path:match("^/big/(%d+)$"))
        if n then assert.equal(n - 8, #values[i].n)
        else assert.equal("GET /v24.0" .. path .. " HTTP/1.1", values[i]["for"]) end
      end
    end
  end)

  -- (answers the helper's attacks found: a plain request first left the TLS look switched off for the
  -- session's later requests; a transfer added while a large one ran took up, inside libcurl, the
  -- connection that one freed with bytes on it)
  it("is never reused over TLS after a plain request, nor in a batch while a large answer is read", function()
    local s = require("instagram.core").session{ timeout = 10, ca_file = H.ca_file }
    local plain, tls = "http://127.0.0.1:" .. PORT, "https://127.0.0.1:" .. TLS
    assert.equal(200, (s:request("GET", plain .. "/v24.0/warm")))
    for _, method in ipairs{ "GET", "POST" } do
      local status, _, body = s:request("GET", tls .. "/big/20000")
      assert.equal(200, status)
      assert.equal(20000, #body)
      status, _, body = s:request(method, tls .. "/v24.0/me", nil, method == "POST" and "a=1" or nil)
      assert.equal(200, status)
      assert.truthy(body:find(method .. " /v24.0/me HTTP/1.1", 1, true), body)
    end
    for _ = 1, 3 do
      local reqs = { { method = "GET", url = plain .. "/big/2000000" } }
      for i = 1, 40 do reqs[#reqs + 1] = { method = "GET", url = plain .. "/v24.0/s" .. i } end
      for i, r in ipairs(s:many(reqs, 2)) do
        assert.equal(200, r.status)
        if i > 1 then assert.truthy(r.body:find("GET /v24.0/s" .. (i - 1) .. " HTTP/1.1", 1, true), r.body) end
      end
    end
    s:close()
  end)

  it("is never reused after a started request that had its answer was cancelled or collected", function()
    local base = "http://127.0.0.1:" .. PORT
    for i = 1, 10 do
      local s = require("instagram.core").session{ timeout = 5 }
      local p = s:start("GET", base .. "/big/20000")
      require("socket").sleep(0.02) -- (other work while the answer comes)
      if i % 2 == 0 then p:cancel() else p = nil; collectgarbage(); collectgarbage() end -- luacheck: ignore p
      local status, _, body = s:start("GET", base .. "/v24.0/me"):finish()
      assert.equal(200, status)
      assert.truthy(body:find("GET /v24.0/me HTTP/1.1", 1, true), body)
      s:close()
    end
  end)

  -- libcurl sends a request again by itself when a reused connection closes before answering; a
  -- POST's second sending is refused, also when that second try first met a connection holding
  -- bytes (whose refusal must not start the count again), and is never said to be unsent.
  it("never sends a get_many POST twice, whatever the kept connections hold", function()
    local s = require("instagram.core").session{ timeout = 5, ca_file = H.ca_file, http2 = false }
    local base = "https://127.0.0.1:" .. TLS
    local warm = { { method = "GET", url = base .. "/warm" } }
    for _ = 1, 3 do warm[#warm + 1] = { method = "GET", url = base .. "/big/40000" } end
    for _, r in ipairs(s:many(warm, 4)) do assert.equal(200, r.status) end
    local tag = "pay" .. math.random(1e9)
    local r = s:many({ { method = "POST", url = base .. "/dropfirst/" .. tag, body = "amount=100" } }, 1)[1]
    assert.is_nil(r.status)
    assert.equal("network", r.error) -- (it may have been carried out)
    local status, _, body = s:request("GET", base .. "/count/" .. tag)
    assert.equal(200, status)
    assert.equal('{"n":1}', body)
    s:close()
  end)

  it("is never reused while another host's connection was used since (every kept connection is looked at)", function()
    local t = curl()
    local a = client(t)
    local b = client(t, "http://127.0.0.1:" .. OTHER)
    assert.equal("GET /v24.0/late HTTP/1.1", assert(a:get("/late"))["for"])
    assert.equal("GET /v24.0/me HTTP/1.1", assert(b:get("/me"))["for"])
    require("socket").sleep(0.3)
    assert.equal("GET /v24.0/media HTTP/1.1", assert(a:get("/media"))["for"])
    for _, many in ipairs{ false, true } do
      local function get(c, path)
        if many then return assert(c:get_many({ path }, { concurrency = 1 })[1]) end
        return assert(c:start_get(path).finish())
      end
      assert.equal("GET /v24.0/late HTTP/1.1", get(a, "/late")["for"])
      assert.equal("GET /v24.0/me HTTP/1.1", get(b, "/me")["for"])
      require("socket").sleep(0.3)
      assert.equal("GET /v24.0/media HTTP/1.1", get(a, "/media")["for"])
    end
  end)

  it("is never reused by an upload", function()
    local c = client()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(("v"):rep(1000))
    f:close()
    assert.equal("GET /v24.0/late HTTP/1.1", assert(c:get("/late"))["for"])
    require("socket").sleep(0.3)
    local status, _, body = c.transport.session:upload("http://127.0.0.1:" .. PORT .. "/ig-api-upload/v24.0/1",
      { Authorization = "OAuth x", offset = "0", file_size = "1000" }, path)
    os.remove(path)
    assert.equal(200, status)
    assert.truthy(body:find("POST /ig-api-upload/v24.0/1 HTTP/1.1", 1, true), body)
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
  end)

  it("is never reused over TLS when OpenSSL already holds bytes past the answer (the socket shows none)", function()
    local c = tls_client()
    for _, n in ipairs{ 20000, 40000 } do
      assert.equal(n, #require("instagram.json").encode(assert(c:get("/big/" .. n))))
      assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
    end
    local first = assert(c:get_many({ "/big/20000" }, { concurrency = 1 })[1])
    assert.equal(20000 - 8, #first.n)
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get_many({ "/me" }, { concurrency = 1 })[1])["for"])
    assert.equal(20000 - 8, #assert(c:start_get("/big/20000").finish()).n)
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:start_get("/me").finish())["for"])
  end)

  it("is never reused over TLS when the bytes arrive while it is idle (no socket set looks at it: the look at sending does)",
    function()
    local c = tls_client()
    for _ = 1, 3 do
      assert.equal("GET /v24.0/late HTTP/1.1", assert(c:get("/late"))["for"])
      require("socket").sleep(0.3)
      assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
    end
  end)

  it("is replaced without an error when the server closed it while idle (TLS and plain)", function()
    for _, url in ipairs{ "https://127.0.0.1:" .. TLS, "http://127.0.0.1:" .. PORT } do
      local c = tls_client(url)
      for _ = 1, 3 do
        assert.equal("GET /v24.0/closeidle HTTP/1.1", assert(c:get("/closeidle"))["for"])
        require("socket").sleep(0.3)
        local posted = assert(c:post("/me/media", { caption = "x" })) -- (a POST: never sent twice)
        assert.equal("POST /v24.0/me/media HTTP/1.1", posted["for"])
      end
    end
  end)

  it("is never reused between the requests of one get_many over TLS when the bytes come in a record of their own",
    function()
    -- (a body of exactly 16384 bytes fills one TLS record: the forged answer in the same write is
    -- a record of its own, left on the socket, where libcurl 7.88 lets OpenSSL see nothing)
    local c = tls_client()
    for _ = 1, 10 do
      local r = c:get_many({ "/split/16384", "/me", "/me" }, { concurrency = 1 })
      assert.equal(16384 - 8, #assert(r[1]).n)
      assert.equal("GET /v24.0/me HTTP/1.1", assert(r[2])["for"])
      assert.equal("GET /v24.0/me HTTP/1.1", assert(r[3])["for"])
    end
  end)

  it("finds a batch connection's own socket when another connection of the session has its local port", function()
    -- (a shim binds the first connection to each server to one local port; the process: a request
    -- to the plain server leaves its connection idle, then the batch of the case above over TLS)
    -- (inside nginx the environment has no PATH: the commands get one)
    local env = "PATH=/usr/local/bin:/usr/bin:/bin:${PATH:-} "
    local dir = os.tmpname()
    os.remove(dir)
    os.execute(env .. "mkdir -p " .. dir)
    finally(function() os.execute(env .. "rm -rf " .. dir) end)
    local cc = io.popen(("%scc -shared -fPIC -o %s/forceport.so spec/support/forceport.c -ldl 2>&1"):format(env, dir))
    local cc_out = cc:read("*a")
    cc:close()
    assert(io.open(dir .. "/forceport.so"), "the shim did not build: " .. cc_out):close()
    local f = assert(io.open(dir .. "/case.lua", "w"))
    f:write(([[
      package.cpath = (os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")) .. "/?.so;" .. package.cpath
      local core = require "instagram.core"
      local s = core.session{ timeout = 5, http2 = false, ca_file = %q }
      assert(s:request("GET", "http://127.0.0.1:%d/v24.0/other") == 200)
      local tls = "https://127.0.0.1:%d/v24.0"
      local r = s:many({ { method = "GET", url = tls .. "/split/16384" }, { method = "GET", url = tls .. "/me" } }, 1)
      print(r[1].status, r[2].body)
    ]]):format(H.ca_file, PORT, TLS))
    f:close()
    local lua = jit and "luajit" or "lua5.4"
    local p = assert(io.popen(("%sIG_FORCE_PORT=18384 LD_PRELOAD=\"${LD_PRELOAD:-} %s/forceport.so\" %s %s/case.lua 2>&1")
      :format(env, dir, lua, dir)))
    local out = p:read("*a")
    p:close()
    assert.matches('^200\t{"for":"GET /v24.0/me HTTP/1.1"', out) -- (nothing before it: the shim was loaded)
  end)

  it("never gives one client the answer meant for another sharing its transport", function()
    local t = curl()
    local a, b = client(t), client(t)
    assert.equal("GET /v24.0/extra HTTP/1.1", assert(a:get("/extra"))["for"])
    assert.equal("GET /v24.0/me HTTP/1.1", assert(b:get("/me"))["for"])
  end)
end)

-- Inside nginx, the cosocket transport: nginx closes a pooled connection when its event loop sees
-- bytes on it, but a blocking call (or any Lua work) between two calls leaves no turn of the loop.
local ngx = rawget(_G, "ngx")
if type(ngx) == "table" and ngx.socket then
  describe("a pooled cosocket connection with bytes after its last answer", function()
    it("is never reused, even with no turn of the event loop between the calls", function()
      local c = client(require("instagram.transport.ngx").new{ timeout = 5 })
      assert.equal("GET /v24.0/late HTTP/1.1", assert(c:get("/late"))["for"])
      require("socket").sleep(0.3) -- (blocking: nginx's event loop does not run)
      assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
      assert.equal("GET /v24.0/extra HTTP/1.1", assert(c:get("/extra"))["for"])
      assert.equal("GET /v24.0/other HTTP/1.1", assert(c:get("/other"))["for"])
    end)
  end)
end

describe("the libcurl transport, against answers libcurl would guess at (RFC 9112)", function()
  local c
  before_each(function() c = client() end)

  local function refused(name, why)
    local v, err = c:get("/raw/" .. name)
    assert.is_nil(v, name)
    assert.equal("transport", err.kind)
    assert.equal("network", err.reason)
    assert.truthy(err.message:find(why, 1, true), err.message)
    -- and the connection is not used again: the next call gets its own answer
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
  end

  it("refuses a 101 Switching Protocols (it waited for a timeout, or took it as an answer)", function()
    refused("upgrade", "101 Switching Protocols to a request that asked for no upgrade")
  end)

  it("refuses a Content-Length that is not one decimal number, or two that differ", function()
    for _, name in ipairs{ "hexlength", "twolengths", "junklength" } do
      refused(name, "Content-Length that is not one decimal number")
    end
    assert.same({ n = -1 }, assert(c:get("/raw/samelengths"))) -- the same twice is one length
  end)

  it("never takes chunked trailers for headers", function()
    local v, err = c:get("/raw/trailers")
    assert.is_nil(v)
    assert.equal("http", err.kind) -- a text/plain 503 (the trailer's Content-Type is not the answer's)
    assert.equal(503, err.status)
    assert.is_nil(err.retry_after)
  end)

  it("reads status lines and block ends as libcurl does (blanks before the code, a line that starts with CR)",
    function()
      refused("spaced101", "101 Switching Protocols to a request that asked for no upgrade")
      refused("crblock", "Content-Length that is not one decimal number")
    end)

  it("keeps nothing after the final block (a trailer named like a status line included)", function()
    assert.same({ n = -1 }, assert(c:get("/raw/trailerstatus")))
    assert.equal(5, c:usage().app.call_count)
  end)

  it("takes a list of the same length and leading zeros; refuses a folded line", function()
    assert.same({ n = -1 }, assert(c:get("/raw/lengthlist")))
    refused("folded", "a folded header line (obs-fold)")
  end)

  it("keeps the headers before a field named like a status line", function()
    local v, err = c:get("/raw/httpfield")
    assert.is_nil(v)
    assert.equal(429, err.status)
    assert.equal(45, err.retry_after)
  end)
end)
