-- Runs only inside the test nginx (spec/ngx/run): the cosocket transport called directly, against
-- the hostile locations of that same nginx (spec/ngx/hostile_server.lua). What each server saw is
-- counted in the shared dict `hostile`.
local ngx_transport = require "instagram.transport.ngx"

local base = assert(os.getenv("IG_NGX_TEST_URL"), "run through spec/ngx/run")
local dict = ngx.shared.hostile
local rep = string.rep

local function count(key) return dict:get(key or "count") or 0 end

-- Waits (at most 15 s) until the hostile case has recorded how many bytes it wrote.
local function sent_by(case)
  local t0 = ngx.now()
  while not dict:get("done:" .. case) and ngx.now() - t0 < 15 do ngx.sleep(0.02) end
  assert(dict:get("done:" .. case), "the hostile case '" .. case .. "' did not finish")
  return dict:get("sent:" .. case)
end

local MiB = 1024 * 1024

describe("the ngx transport against a hostile server", function()
  local t
  before_each(function()
    dict:flush_all()
    t = ngx_transport.new{ timeout = 20 }
  end)

  describe("never lets a caller's bytes split the request", function()
    it("refuses a path with CR LF, so the server never sees a second request", function()
      local url = base .. "/hostile/count HTTP/1.1\r\nHost: x\r\n\r\nPOST /hostile/count"
      local res, reason, message = t:request{ method = "GET", url = url, headers = { Authorization = "Bearer S" } }
      ngx.sleep(0.1) -- time for a pipelined second request to arrive, were one sent
      assert.equal(0, count())
      assert.is_nil(res)
      assert.equal("invalid", reason)
      assert.matches("bad url", message)
    end)

    it("refuses every byte up to 0x20 and 0x7F in a URL, as libcurl does (nil, 'invalid')", function()
      for _, b in ipairs{ 1, 9, 10, 13, 32, 127 } do
        local res, reason = t:request{ method = "GET", url = base .. "/hostile/count" .. string.char(b) .. "x" }
        assert.is_nil(res, "byte " .. b)
        assert.equal("invalid", reason, "byte " .. b)
      end
      assert.equal(0, count())
    end)

    it("raises on what the C core raises on: NUL, an empty or non-http(s) URL, a bad method", function()
      assert.has_error(function() t:request{ method = "GET", url = base .. "/hostile/count\0x" } end,
        "bad url: a non-empty http(s) URL without NUL bytes, at most 64 KiB")
      assert.has_error(function() t:request{ method = "GET", url = "" } end,
        "bad url: a non-empty http(s) URL without NUL bytes, at most 64 KiB")
      assert.has_error(function() t:request{ method = "GET", url = "ftp://127.0.0.1/" } end,
        "bad url: only http:// and https:// URLs are supported")
      assert.has_error(function() t:request{ method = "GET", url = base .. "/" .. rep("a", 65536) } end,
        "bad url: a non-empty http(s) URL without NUL bytes, at most 64 KiB")
      assert.has_error(function() t:request{ method = "GET / HTTP/1.1\r\n", url = base .. "/hostile/count" } end)
      assert.has_error(function() t:request{ method = rep("G", 17), url = base .. "/hostile/count" } end)
      assert.equal(0, count())
    end)

    it("raises on header names that are not HTTP tokens and values with CR, LF or NUL; sends nothing", function()
      local bad = {
        { ["a b"] = "x" }, { ["a\0b"] = "x" }, { ["a:b"] = "x" }, { [""] = "x" }, { ["a\r\nX-Injected"] = "1" },
        { [rep("a", 257)] = "x" }, { ["X-A"] = "v\0w" }, { ["X-A"] = "v\r\nX-Injected: 1" }, { ["X-A"] = "v\nw" },
        { ["X-A"] = rep("v", 16385) },
      }
      for i, h in ipairs(bad) do
        local ok, err = pcall(t.request, t, { method = "GET", url = base .. "/hostile/count", headers = h })
        assert.is_false(ok, "case " .. i)
        assert.matches("invalid header '.*': names are HTTP tokens, values have no CR, LF or NUL", err)
      end
      assert.has_error(function() t:request{ method = "GET", url = base .. "/hostile/count", headers = { "x" } } end,
        "header names must be strings")
      assert.has_error(function()
        t:request{ method = "GET", url = base .. "/hostile/count", headers = { X = true } }
      end, "header values must be strings or numbers")
      ngx.sleep(0.05)
      assert.equal(0, count())
    end)

    it("sends the longest name (256) and value (16384) the C core accepts, and numbers", function()
      local name, value = rep("n", 256), rep("v", 16384)
      local res = assert(t:request{ method = "GET", url = base .. "/hostile/count",
                                    headers = { [name] = value, ["X-Num"] = 42, ["!#$%&'*+-.^_`|~"] = "" } })
      assert.equal(200, res.status)
      local raw = dict:get("raw")
      assert.truthy(raw:find(name .. ": " .. value .. "\r\n", 1, true))
      assert.truthy(raw:find("X-Num: 42\r\n", 1, true))
      assert.truthy(raw:find("!#$%&'*+-.^_`|~: \r\n", 1, true))
    end)

    it("lets a Host or User-Agent header replace its own, as libcurl does, and never sends two", function()
      assert(t:request{ method = "GET", url = base .. "/hostile/count",
                        headers = { host = "example.test", ["User-Agent"] = "mine/1" } })
      local raw = dict:get("raw")
      local _, hosts = raw:lower():gsub("\nhost:", "")
      local _, agents = raw:lower():gsub("\nuser%-agent:", "")
      assert.equal(1, hosts)
      assert.equal(1, agents)
      assert.truthy(raw:find("Host: example.test\r\n", 1, true))
      assert.truthy(raw:find("User-Agent: mine/1\r\n", 1, true))
    end)

    it("raises on a Content-Length or Transfer-Encoding header: it frames the body itself", function()
      for _, name in ipairs{ "Content-Length", "transfer-encoding" } do
        assert.has_error(function()
          t:request{ method = "POST", url = base .. "/hostile/count", headers = { [name] = "0" },
                     body = "x\r\n\r\nGET /hostile/count HTTP/1.1\r\nHost: x\r\n\r\n" }
        end)
      end
      ngx.sleep(0.05)
      assert.equal(0, count())
    end)

    it("checks every request of many() before sending any, and start() before it starts", function()
      local ok_req = { method = "GET", url = base .. "/hostile/count" }
      assert.has_error(function()
        t:many({ ok_req, { method = "GET", url = base .. "/hostile/count", headers = { ["a b"] = "x" } } }, 2)
      end, "invalid header '?': names are HTTP tokens, values have no CR, LF or NUL")
      assert.has_error(function()
        t:start{ method = "GET", url = base .. "/hostile/count", headers = { ["X-A"] = "a\r\nb" } }
      end, "invalid header 'X-A': names are HTTP tokens, values have no CR, LF or NUL")
      ngx.sleep(0.05)
      assert.equal(0, count())
      local results = t:many({ ok_req, { method = "GET", url = base .. "/hostile/count\r\nX: y" } }, 2)
      assert.equal(200, results[1].status)
      assert.equal("invalid", results[2].error)
      local res, reason = t:start{ method = "GET", url = base .. "/hostile/count x" }.finish()
      assert.is_nil(res)
      assert.equal("invalid", reason)
      assert.equal(1, count())
    end)

    it("checks its options and a request's timeout as the C core does", function()
      assert.has_error(function() ngx_transport.new{ timeout = -5 } end,
        "option 'timeout' must be between 0 and 86400 seconds (exclusive of 0)")
      assert.has_error(function() ngx_transport.new{ connect_timeout = "10" } end,
        "option 'connect_timeout' must be a number of seconds, got string")
      assert.has_error(function() ngx_transport.new{ max_body = 1e12 } end,
        "option 'max_body' must be between 1 byte and 4 GiB")
      assert.has_error(function() ngx_transport.new{ http2 = "yes" } end, 'option \'http2\' must be true, false or "always"')
      assert.has_error(function() ngx_transport.new{ pool_size = 0.5 } end)
      assert.has_error(function() t:request{ method = "GET", url = base .. "/hostile/count", timeout = 0 } end,
        "option 'timeout' must be between 0 and 86400 seconds (exclusive of 0)")
      assert.equal(0, count())
    end)

    it("raises on a user_agent option with control characters", function()
      assert.has_error(function() ngx_transport.new{ user_agent = "ua\r\nX-Injected: 1" } end,
        "option 'user_agent' must not contain control characters")
    end)
  end)

  describe("never replays a POST the server may have read", function()
    it("returns a network error when a reused connection is closed after the server read the POST", function()
      local first = assert(t:request{ method = "GET", url = base .. "/hostile/count" }) -- leaves a pooled connection
      assert.equal(200, first.status)
      local res, reason = t:request{ method = "POST", url = base .. "/hostile/drop", body = "message=hello",
                                     headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } }
      assert.is_nil(res)
      assert.equal("network", reason)
      assert.equal(1, count("drop"))
      assert.is_true(dict:get("drop_requests_on_connection") >= 2, "the POST did not reuse a connection")
    end)

    it("does re-send a GET on a fresh connection when a reused one closes without answering", function()
      assert(t:request{ method = "GET", url = base .. "/hostile/count" })
      local res, reason = t:request{ method = "GET", url = base .. "/hostile/drop" }
      assert.is_nil(res)
      assert.equal("network", reason)
      -- once on the pooled connection, then again on another (pooled or fresh: up to 3 attempts)
      assert.is_true(count("drop") >= 2, "sent " .. count("drop") .. " time(s)")
    end)

    -- A stand-in for a pooled connection the peer has closed: `sends` says what each send does.
    local function with_stale_socket(sends, fn)
      local real_tcp = ngx.socket.tcp
      local made, sent = 0, {}
      ngx.socket.tcp = function() -- luacheck: ignore 122 (a stand-in, put back below)
        made = made + 1
        if made > 1 then return real_tcp() end
        local n = 0
        local fake = {}
        function fake.connect() return 1 end
        function fake.getreusedtimes() return 1 end
        function fake.settimeout() end
        function fake.close() return 1 end
        function fake.setkeepalive() return 1 end
        function fake.send(_, data)
          n = n + 1
          if sends[n] then sent[#sent + 1] = data; return #data end
          return nil, "broken pipe"
        end
        function fake.receive() return nil, "closed" end
        function fake.receiveany() return nil, "closed" end
        return fake
      end
      local ok, err = pcall(fn)
      ngx.socket.tcp = real_tcp -- luacheck: ignore 122
      assert(ok, err)
      return made, sent
    end

    it("re-sends a POST when the reused connection took none of it", function()
      local res
      local made, sent = with_stale_socket({}, function()
        res = t:request{ method = "POST", url = base .. "/hostile/count", body = "a=1" }
      end)
      assert.equal(2, made)
      assert.equal(0, #sent)
      assert.equal(200, res.status)
      assert.equal(1, count())
      assert.equal("a=1", dict:get("body"))
    end)

    it("does not re-send a POST once any byte went out on the reused connection", function()
      local res, reason
      local made, sent = with_stale_socket({ true }, function()
        res, reason = t:request{ method = "POST", url = base .. "/hostile/count", body = "a=1" }
      end)
      assert.is_nil(res)
      assert.equal("network", reason)
      assert.equal(1, made)
      assert.equal(1, #sent)
      assert.equal(0, count())
    end)

    it("does not re-send a POST whose send succeeded and whose answer never came", function()
      local res, reason
      local made = with_stale_socket({ true, true, true }, function()
        res, reason = t:request{ method = "POST", url = base .. "/hostile/count", body = "a=1" }
      end)
      assert.is_nil(res)
      assert.equal("network", reason)
      assert.equal(1, made)
      assert.equal(0, count())
    end)

    it("re-sends a GET whose answer never came on a reused connection", function()
      local res
      local made = with_stale_socket({ true, true, true }, function()
        res = t:request{ method = "GET", url = base .. "/hostile/count" }
      end)
      assert.equal(2, made)
      assert.equal(200, res.status)
      assert.equal(1, count())
    end)
  end)

  describe("bounds what it reads", function()
    local function size_error(path, transport)
      local t0 = ngx.now()
      local res, reason, message = (transport or t):request{ method = "GET", url = base .. path }
      assert.is_nil(res)
      assert.equal("size", reason)
      assert.is_true(ngx.now() - t0 < 5, "took " .. (ngx.now() - t0) .. " s")
      return message
    end

    it("stops reading a flood of header lines at 256 KiB", function()
      assert.equal("response headers larger than 256 KiB", size_error("/hostile/flood"))
      assert.is_true(sent_by("flood") < 32 * MiB)
    end)

    it("stops at one header line that never ends", function()
      assert.equal("response headers larger than 256 KiB", size_error("/hostile/longline"))
      assert.is_true(sent_by("longline") < 32 * MiB)
    end)

    it("stops at interim (1xx) answers without end: they count toward the same 256 KiB", function()
      assert.equal("response headers larger than 256 KiB", size_error("/hostile/interim"))
    end)

    it("takes at most 1000 header lines", function()
      local res = assert(t:request{ method = "GET", url = base .. "/hostile/many?n=1000" })
      assert.equal(200, res.status)
      assert.equal("v", res.headers["x-m999"])
      assert.equal("response headers: more than 1000 lines", size_error("/hostile/many?n=1001"))
    end)

    it("stops a close-delimited body as soon as it passes max_body", function()
      local small = ngx_transport.new{ timeout = 20, max_body = MiB }
      assert.equal("response body larger than max_body (1048576 bytes)", size_error("/hostile/endless", small))
      assert.is_true(sent_by("endless") < 32 * MiB, "the server wrote " .. sent_by("endless") .. " bytes")
    end)

    it("stops a chunked body as soon as it passes max_body", function()
      local small = ngx_transport.new{ timeout = 20, max_body = MiB }
      assert.equal("response body larger than max_body (1048576 bytes)", size_error("/hostile/chunked", small))
      assert.is_true(sent_by("chunked") < 32 * MiB)
    end)

    it("stops a body of one-byte chunks at max_body too", function()
      local small = ngx_transport.new{ timeout = 20, max_body = 100000 }
      size_error("/hostile/tiny", small)
    end)

    it("stops at a chunk-size line that never ends", function()
      local t0 = ngx.now()
      local res, reason = t:request{ method = "GET", url = base .. "/hostile/chunkline" }
      assert.is_nil(res)
      assert.equal("network", reason)
      assert.is_true(ngx.now() - t0 < 5)
      assert.is_true(sent_by("chunkline") < 32 * MiB)
    end)

    it("stops at trailers without end", function()
      assert.equal("response headers larger than 256 KiB", size_error("/hostile/trailers"))
    end)

    it("counts trailers within the headers' 256 KiB and 1000 lines, not beside them", function()
      assert.equal("response headers larger than 256 KiB", size_error("/hostile/trailers_share?what=bytes"))
      assert.equal("response headers: more than 1000 lines", size_error("/hostile/trailers_share?what=lines"))
    end)

    it("gives up at its timeout when the body drips a byte at a time, whatever its framing", function()
      for _, framing in ipairs{ "length", "close", "chunked" } do
        local t0 = ngx.now()
        local res, reason = ngx_transport.new{ timeout = 0.5 }:request{ method = "GET",
          url = base .. "/hostile/drip?framing=" .. framing }
        assert.is_nil(res, framing)
        assert.equal("timeout", reason, framing)
        assert.is_true(ngx.now() - t0 < 1.5, framing .. ": a 0.5 s timeout took " .. (ngx.now() - t0) .. " s")
      end
    end)

    it("refuses a Content-Length that is not a decimal number", function()
      local res, reason, message = t:request{ method = "GET", url = base .. "/hostile/badlength" }
      assert.is_nil(res)
      assert.equal("network", reason)
      assert.matches("Content%-Length", message)
    end)
  end)

  describe("reads status lines, interim answers and framing as RFC 9112 says", function()
    -- Empties the transport's pool for this origin (named as ngx.lua's pool_key names it), so that no
    -- connection a case left there is reused by the next.
    local function drain()
      local host, port = base:match("^http://([^:/]+):(%d+)")
      port = tonumber(port)
      for _ = 1, 1000 do
        local s = ngx.socket.tcp()
        assert(s:connect(host, port, { pool = ("instagram-graph http://%s:%d"):format(host, port) }))
        local reused = s:getreusedtimes() > 0
        s:close()
        if not reused then return end
      end
    end
    -- One request to /hostile/raw?v=NAME (spec/ngx/hostile_server.lua's RAW) on a fresh connection.
    local function raw(v, req)
      req = req or {}
      drain()
      return t:request{ method = req.method or "GET", url = base .. "/hostile/raw?v=" .. v, headers = req.headers,
                        body = req.body }
    end
    -- Whether the connection of the last answer of /hostile/raw?v=NAME went back to the pool: the
    -- next request, sent at once, takes the newest pooled connection, which the case holds open.
    local function pooled(v)
      local res = t:request{ method = "GET", url = base .. "/hostile/count" }
      return dict:get("next:" .. v) ~= nil or (res and res.body == "reused") or false
    end
    local function refused(v, pattern)
      local res, reason, message = raw(v)
      assert.is_nil(res, v .. ": answered " .. tostring(res and res.status))
      assert.equal("network", reason, v)
      assert.matches(pattern, message)
      assert.is_false(pooled(v), v)
      return message
    end

    it("pools a well-framed answer and a HEAD answer with a length (so pooled() can see reuse)", function()
      local res = assert(raw("good"))
      assert.equal("ok", res.body)
      assert.is_true(pooled("good"))
      dict:flush_all()
      res = assert(raw("head", { method = "HEAD" }))
      assert.equal(200, res.status)
      assert.equal("", res.body)
      assert.is_true(pooled("head"))
    end)

    it("takes a status code of exactly three digits: 1000 is no 100 Continue, 2001 no 200", function()
      refused("four", "bad status line")
      refused("four200", "bad status line")
      refused("nosp", "bad status line")
    end)

    it("takes a status line without a reason phrase, with or without the space", function()
      for _, v in ipairs{ "bare", "empty" } do
        local res = assert(raw(v))
        assert.equal(200, res.status, v)
        assert.equal("ok", res.body, v)
      end
    end)

    it("refuses a status code under 100; returns 600 as it is (as libcurl does)", function()
      refused("low", "bad status line")
      refused("zero", "bad status line")
      local res = assert(raw("high"))
      assert.equal(600, res.status)
    end)

    it("refuses an HTTP version other than 1.0 and 1.1", function()
      for _, v in ipairs{ "v20", "v12", "v09" } do refused(v, "bad status line") end
      local res = assert(raw("v10"))
      assert.equal(200, res.status)
      assert.is_false(pooled("v10"))
    end)

    it("ends the attempt at a 101 Switching Protocols it never asked for, and never pools it", function()
      local message = refused("switch", "101")
      assert.matches("Switching Protocols", message)
      -- other interim answers are skipped
      local res = assert(raw("early_hints"))
      assert.equal(200, res.status)
      assert.equal("ok", res.body)
    end)

    it("never puts the token a bad status line echoes into its message", function()
      local secret = "tok-SECRET0123456789abcdefghij"
      for _, v in ipairs{ "echo_bad", "echo_code", "echo_version" } do
        local res, reason, message = raw(v, { headers = { Authorization = "Bearer " .. secret } })
        assert.is_nil(res, v)
        assert.equal("network", reason, v)
        assert.matches("bad status line", message, 1, false, v)
        for i = 1, #secret - 7 do
          assert.is_nil(message:find(secret:sub(i, i + 7), 1, true), v .. ": " .. message)
        end
      end
    end)

    it("reads chunked only when it is the one transfer coding; never pools an answer framed twice", function()
      for _, v in ipairs{ "gzip_chunked", "chunked_gzip", "chunked_twice" } do
        refused(v, "Transfer%-Encoding")
      end
      -- chunked beside a Content-Length: chunked wins, and the connection is not pooled
      local res = assert(raw("both"))
      assert.equal("ok", res.body)
      assert.is_false(pooled("both"))
      -- chunked in an HTTP/1.0 answer (RFC 9112 6.1: faulty framing), keep-alive or not
      res = assert(raw("v10_chunked"))
      assert.equal("ok", res.body)
      assert.is_false(pooled("v10_chunked"))
    end)

    it("takes chunk extensions and leading zeros; refuses junk after a chunk size", function()
      local res = assert(raw("chunk_ext"))
      assert.equal("ok", res.body)
      res = assert(raw("chunk_zeros"))
      assert.equal("ok", res.body)
      refused("chunk_hex", "bad chunk size line")
      refused("chunk_junk", "bad chunk size line")
      local res2, reason = raw("chunk_20")
      assert.is_nil(res2)
      assert.equal("size", reason)
    end)

    it("refuses a repeated, negative, signed or huge Content-Length", function()
      for _, v in ipairs{ "length_twice", "length_two", "length_negative", "length_plus" } do
        refused(v, "Content%-Length")
      end
      local res, reason = raw("length_huge")
      assert.is_nil(res)
      assert.equal("size", reason)
    end)

    it("never pools the connection of a 204 that announces a body", function()
      for _, v in ipairs{ "nocontent", "nocontent_chunked" } do
        local res = assert(raw(v))
        assert.equal(204, res.status, v)
        assert.equal("", res.body, v)
        assert.is_false(pooled(v), v)
      end
    end)

    it("never pools a connection whose answer says close, whatever else Connection says", function()
      local res = assert(raw("close_keep"))
      assert.equal("ok", res.body)
      assert.is_false(pooled("close_keep"))
    end)
  end)

  it("refuses a FIFO as upload file or ca_file at once instead of blocking the worker", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert.truthy(os.execute("mkfifo " .. fifo))
    local t0 = ngx.now()
    local res, kind, message = t:upload{ url = base .. "/hostile/count", file = fifo, headers = {} }
    assert.is_nil(res)
    assert.equal("file", kind)
    assert.matches("not a regular file", message)
    local ok, err = pcall(ngx_transport.new, { ca_file = fifo })
    assert.is_false(ok)
    assert.matches("not a regular file", err)
    assert.is_true(ngx.now() - t0 < 2)
    os.remove(fifo)
  end)

  it("parses broken header lines as the C core does, without raising", function()
    local res = assert(t:request{ method = "GET", url = base .. "/hostile/odd" })
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    local h = res.headers
    assert.equal("a\rb", h["x-cr"])
    assert.equal("a\0b", h["x-nul"])
    assert.equal("v w", h["x-tabs"])
    assert.equal("1, 2", h["x-dup"])
    assert.equal("lf", h["x-lf-only"])
    assert.equal("", h["x-empty"])
    assert.equal("longest name", h[rep("k", 256)])
    assert.is_nil(h[rep("n", 257)])
    assert.is_nil(h[""])
    for k in pairs(h) do assert.not_matches("colon", k) end
  end)
end)

describe("the ngx transport and TLS", function()
  local H = require "spec.helper"

  it("answers an untrusted certificate with nil, 'tls' and a message naming lua_ssl_trusted_certificate", function()
    -- a server with a certificate of its own making, trusted by nobody
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. " && cd " .. dir .. " && openssl req -x509 -newkey rsa:2048 -nodes "
      .. "-keyout k.pem -out c.pem -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"))
    os.execute(require("spec.support.redis").clean("cd " .. dir .. " && (openssl s_server -accept 18397 -cert c.pem "
      .. "-key k.pem -www -quiet > /dev/null 2>&1 & echo $! > pid)"))
    for _ = 1, 100 do -- (up to 10 s: openssl takes longer on a loaded machine, then the answer was 'connect')
      local sock = ngx.socket.tcp()
      sock:settimeout(200)
      local up = sock:connect("127.0.0.1", 18397)
      sock:close()
      if up then break end
      ngx.sleep(0.1)
    end
    local res, reason, message = ngx_transport.new{ timeout = 5 }:request{ method = "GET", url = "https://127.0.0.1:18397/" }
    os.execute("kill $(cat " .. dir .. "/pid) 2>/dev/null; rm -rf " .. dir)
    assert.is_nil(res)
    assert.equal("tls", reason)
    assert.truthy(message:find("lua_ssl_trusted_certificate", 1, true), message)
  end)

  it("never reuses a connection another module pooled under the origin's name", function()
    -- other code puts a connection to another server (the hostile one, no TLS) into a pool named as
    -- the origin alone: a transport keyed by that name would send the next request there
    local graph = H.graph_url
    local scheme, host, port = graph:match("^(https?)://([^:/]+):(%d+)")
    local hb = base:match("^http://([^/]+)")
    local hhost, hport = hb:match("^([^:]+):(%d+)$")
    for _ = 1, 4 do
      local s = ngx.socket.tcp()
      assert(s:connect(hhost, tonumber(hport), { pool = ("%s://%s:%d"):format(scheme, host, tonumber(port)) }))
      assert(s:setkeepalive(10000, 8))
    end
    local res, reason, message = ngx_transport.new{ timeout = 5 }:request{ method = "GET",
      url = graph .. "/v24.0/" .. H.IG_USER_ID .. "?fields=username", headers = { Authorization = "Bearer " .. H.token } }
    assert(res, tostring(reason) .. ": " .. tostring(message))
    assert.equal(200, res.status)
    assert.truthy(res.body:find("metricsaurus", 1, true))
  end)
end)
