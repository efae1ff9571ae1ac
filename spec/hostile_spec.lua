-- The attacker's suite: the whole client against a hostile Graph API server (spec/hostile/run), on
-- every runtime (Lua 5.4, LuaJIT, and inside nginx through the cosocket transport). The server
-- echoes every secret a request carries into every place an answer has, and breaks HTTP and JSON in
-- every way it can. Whatever it does, each call must
--   * return (never raise): a failure is nil, err with an instagram error object;
--   * keep the secrets: no run of 8+ bytes of the token, the app secret, the appsecret_proof, or any
--     secret the call carries (an OAuth code, a token being exchanged) in any field of an error,
--     tostring(err), an on_retry / on_refresh argument, or a pager's fields; none reaches another
--     host or a path outside the version prefix;
--   * never send a POST twice that the server may have acted on.
-- See spec/hostile_helper.lua for the checks and spec/hostile/server.lua for the behaviours.
local S = require "spec.hostile_helper"
local core = require "instagram.core"
local instagram = require "instagram"
local webhook = require "instagram.webhook"
local token_m = require "instagram.token"

local UID = "17841405822304914"
local MEDIA = "17918195224100001"
local COMMENT = "17858893269000001"
local CONTAINER = "17900000000000001"
local HASHTAG = "17843853986012965"
local PUBLISHED = "17920000000000001"

local SCHEMES = { "http", "https" }

-- A small "video" for the upload paths.
local VIDEO = os.tmpname()
do
  local f = assert(io.open(VIDEO, "wb"))
  f:write(string.rep("\0\1\2\3video", 20000))
  f:close()
end

local function new(scheme, o)
  local opts = { scheme = scheme }
  for k, v in pairs(o or {}) do opts[k] = v end
  return S.new(opts)
end

teardown(function() os.remove(VIDEO) end)

--- One hostile scenario: a fresh client (fresh secrets), fn(t, c) making the calls, then every check.
local function scenario(scheme, o, fn, done_opts)
  local t = new(scheme, o)
  fn(t, t.client)
  t:done(done_opts)
end

-- ---- HTTP-level hostility, on both schemes ----------------------------------------------------

for _, scheme in ipairs(SCHEMES) do
  describe("hostile server (" .. scheme .. ", " .. S.runtime .. "):", function()
    setup(function() S.require_server() end)

    if S.runtime:find("nginx", 1, true) then
      it("runs through the cosocket transport", function()
        local t = new(scheme)
        assert.equal("ngx", t.client.transport:pick().name)
      end)
    end

    describe("a caller's path or header that would split the request", function()
      -- A raise is a fair answer here (the caller's own mistake); sending it is not.
      local function refused(t, label, ok, res, err)
        if not ok then return end
        if res ~= nil then t:problem("%s: %s was sent, and answered", S.runtime, label) return end
        t:check_err(label, err)
        if type(err) == "table" and (err.kind == "http" or err.kind == "graph" or err.kind == "decode" or err.status) then
          t:problem("%s: %s was sent (the server answered HTTP %s)", S.runtime, label, tostring(err.status))
        end
      end
      for _, p in ipairs{
        { "CR LF and a second request in the path", function(u)
          return "/ok/" .. u .. " HTTP/1.1\r\nHost: x\r\n\r\nPOST /v24.0/smuggled/" .. u
            .. " HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n" end },
        { "a bare LF in the path", function(u) return "/ok/" .. u .. "\nX-Injected: 1" end },
        { "a bare CR in the path", function(u) return "/ok/" .. u .. "\rX-Injected: 1" end },
        { "a NUL in the path", function(u) return "/ok/" .. u .. "\0/smuggled/" .. u end },
        { "a space in the path", function(u) return "/ok/" .. u .. " HTTP/1.0" end },
        { "DEL in the path", function(u) return "/ok/" .. u .. "\127" end },
        { "CR LF in an absolute URL", function(u, t)
          return t.base .. "/v24.0/ok/" .. u .. "\r\nX-Injected: 1" end },
      } do
        it(p[1] .. ": not sent", function()
          local t = new(scheme)
          local path = p[2](t.uid, t)
          for _, method in ipairs{ "GET", "POST", "DELETE" } do
            refused(t, method .. " " .. p[1], pcall(t.client.request, t.client, method, path, { x = "1" }))
          end
          refused(t, "an edge over " .. p[1], pcall(function()
            local pager = t.client:edge(path)
            local page, err = pager:next_page()
            t:check_pager(p[1], pager)
            return page, err
          end))
          t:done()
        end)
      end
      for _, h in ipairs{
        { "CR LF in a header value", { ["X-A"] = "v\r\nX-Injected: 1" } },
        { "a bare LF in a header value", { ["X-A"] = "v\nX-Injected: 1" } },
        { "NUL in a header value", { ["X-A"] = "v\0X-Injected: 1" } },
        { "CR LF in a header name", { ["X-A: 1\r\nX-Injected"] = "1" } },
        { "NUL in a header name", { ["X-A\0X-Injected"] = "1" } },
        { "a space in a header name", { ["X-A X-Injected"] = "1" } },
        { "a colon in a header name", { ["X-Injected: 1\r\nX-B"] = "2" } },
        { "an empty header name", { [""] = "1" } },
      } do
        it(h[1] .. ": not sent", function()
          local t = new(scheme)
          for _, method in ipairs{ "GET", "POST" } do
            refused(t, method .. " with " .. h[1], pcall(t.client.request, t.client, method, "/ok/" .. t.uid, nil,
              { headers = h[2] }))
          end
          t:done()
        end)
      end
    end)

    describe("errors that echo every secret", function()
      for _, method in ipairs{ "GET", "POST", "DELETE" } do
        it("a 400 Graph error with the secrets in every field and header (" .. method .. ")", function()
          scenario(scheme, nil, function(t)
            t:call(method .. " echo_error", function(c)
              return c:request(method, "/echo_error/" .. t.uid, { q = "x" })
            end)
          end)
        end)
      end

      it("a transient 500 echo: the GET is retried, and each on_retry argument is clean", function()
        scenario(scheme, nil, function(t)
          t:call("GET transient echo", function(c)
            return c:get("/echo_error/" .. t.uid, { status = 500, code = 2, transient = 1, retry_after = "0" })
          end)
          if #t.retry_calls == 0 then t:problem("%s: the transient GET was not retried", S.runtime) end
        end)
      end)

      it("a transient 500 echo to a POST: not sent again", function()
        scenario(scheme, nil, function(t)
          t:call("POST transient echo", function(c)
            return c:post("/echo_error/" .. t.uid, { status = 500, code = 2, transient = 1, retry_after = "0" })
          end)
        end)
      end)

      it("a rate-limit refusal echo (code 4): retried as documented, every error and on_retry argument clean", function()
        scenario(scheme, nil, function(t)
          t:call("GET code 4 echo", function(c) return c:get("/echo_error/" .. t.uid, { code = 4, retry_after = "0" }) end)
          t:call("POST code 4 echo", function(c) return c:post("/echo_error/" .. t.uid, { code = 4, retry_after = "0" }) end)
        end, { post_retry_ok = true })
      end)

      for _, status in ipairs{ 400, 401, 500, 503 } do
        it("graph.instagram.com's flat error shape, echoing (HTTP " .. status .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("echo_flat", function(c) return c:get("/echo_flat/" .. t.uid, { status = status }) end)
          end)
        end)
      end

      for _, inner in ipairs{ "json", "text", "object" } do
        it("rupload's debug_info envelope, echoing (inner message: " .. inner .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("echo_debug_info", function(c) return c:get("/echo_debug_info/" .. t.uid, { inner = inner }) end)
            t:call("echo_debug_info POST", function(c) return c:post("/echo_debug_info/" .. t.uid, { inner = inner }) end)
          end)
        end)
      end

      for _, layout in ipairs{ "all", "start", "middle", "end" } do
        for _, status in ipairs{ 200, 400, 404, 500, 502 } do
          it("a non-JSON HTTP " .. status .. " body with the secrets at the " .. layout, function()
            scenario(scheme, nil, function(t)
              for _, what in ipairs{ "token", "proof", "all" } do
                t:call("echo_text " .. what, function(c)
                  return c:get("/echo_text/" .. t.uid, { layout = layout, status = status, what = what })
                end)
              end
            end)
          end)
        end
      end

      for _, at in ipairs{ 64, 80, 100, 128, 200, 255, 256, 299, 300, 301, 302, 400, 500, 512, 1000, 1024, 2048, 4096, 8192 } do
        it("a non-JSON body with a secret straddling byte " .. at, function()
          scenario(scheme, nil, function(t)
            for _, what in ipairs{ "token", "proof" } do
              t:call("echo_text 502 " .. what, function(c)
                return c:get("/echo_text/" .. t.uid, { layout = "straddle", at = at, what = what })
              end)
              t:call("echo_text 404 " .. what, function(c)
                return c:get("/echo_text/" .. t.uid, { layout = "straddle", at = at, what = what, status = 404,
                  ctype = "text/plain" })
              end)
              t:call("echo_text 200 " .. what, function(c)
                return c:get("/echo_text/" .. t.uid, { layout = "straddle", at = at, what = what, status = 200,
                  ctype = "application/json" })
              end)
            end
          end)
        end)
      end

      for _, status in ipairs{ 200, 500 } do
        it("a JSON content type with broken JSON echoing the secrets (HTTP " .. status .. ")", function()
          scenario(scheme, nil, function(t)
            for _, what in ipairs{ "token", "proof" } do
              t:call("echo_bad_json", function(c) return c:get("/echo_bad_json/" .. t.uid, { status = status, what = what }) end)
            end
          end)
        end)
      end

      it("the token in pieces (halves apart, a byte changed, swapped, around a NUL)", function()
        scenario(scheme, nil, function(t)
          for _, what in ipairs{ "token", "proof" } do
            t:call("echo_pieces " .. what, function(c) return c:get("/echo_pieces/" .. t.uid, { what = what }) end)
          end
        end)
      end)

      it("a 401 with no body, the secrets only in its headers", function()
        scenario(scheme, nil, function(t)
          t:mode{ status = 401, body = "", echo_headers = true }
          t:call("401 headers only", function(c) return c:get("/me") end)
          t:call("401 headers only, POST", function(c) return c:post("/me/feed", { message = "x" }) end)
        end)
      end)
    end)

    describe("broken HTTP", function()
      for _, variant in ipairs{ "headers", "status", "nul", "lf" } do
        it("CR, LF and NUL where they do not belong (" .. variant .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("crlf GET", function(c) return c:get("/crlf/" .. t.uid, { variant = variant }) end)
            t:call("crlf POST", function(c) return c:post("/crlf/" .. t.uid, { variant = variant }) end)
            t:call("usage()", function(c) return c:usage() or true end)
          end)
        end)
      end

      for _, variant in ipairs{ "none", "json", "short", "version", "huge", "zero", "interim" } do
        it("a status line that is not one (" .. variant .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("status GET", function(c) return c:get("/status/" .. t.uid, { variant = variant }) end)
            t:call("status POST", function(c) return c:post("/status/" .. t.uid, { variant = variant }) end)
          end)
        end)
      end

      it("100 Continue without end: the call gives up at its timeout", function()
        scenario(scheme, { timeout = 2, retries = 0 }, function(t)
          local t0 = core.now()
          t:call("endless 100 Continue", function(c) return c:get("/status/" .. t.uid, { variant = "endless" }) end)
          if core.now() - t0 > 7 then t:problem("%s: the call took %.1f s with a 2 s timeout", S.runtime, core.now() - t0) end
        end)
      end)

      for _, variant in ipairs{ "short", "long", "negative", "nan", "multi", "huge", "max" } do
        it("a Content-Length that lies (" .. variant .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("length GET", function(c) return c:get("/length/" .. t.uid, { variant = variant }) end)
            t:call("length POST", function(c) return c:post("/length/" .. t.uid, { variant = variant }) end)
            t:call("the next call on the same client", function(c) return c:get("/ok/" .. t.uid) end)
          end)
        end)
      end

      for _, variant in ipairs{ "trunc", "bad_size", "huge_size", "negative", "no_final", "ext", "both", "tiny" } do
        it("chunked encoding, broken (" .. variant .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("chunked GET", function(c) return c:get("/chunked/" .. t.uid, { variant = variant }) end)
            t:call("chunked POST", function(c) return c:post("/chunked/" .. t.uid, { variant = variant, status = 400 }) end)
          end)
        end)
      end

      for _, f in ipairs{
        { "5000 headers", { n = 5000 } },
        { "20000 headers of 100 bytes", { n = 20000, size = 100 } },
        { "one header line of 1 MiB", { big = 1048576 } },
        { "one header line of 8 MiB", { big = 8388608 } },
        { "2000 X-App-Usage headers", { n = 2000, usage = 1 } },
        { "5000 headers on a 400", { n = 5000, status = 400 } },
      } do
        it("a header flood: " .. f[1], function()
          scenario(scheme, nil, function(t)
            t:call("flood GET", function(c) return c:get("/flood/" .. t.uid, f[2]) end)
            t:call("flood POST", function(c) return c:post("/flood/" .. t.uid, f[2]) end)
            t:call("usage()", function(c) return c:usage() or true end)
          end)
        end)
      end

      for _, d in ipairs{
        { "data", 100000 }, { "data", 300 }, { "data", 199 }, { "data", 200 }, { "data", 201 }, { "data", 511 },
        { "data", 512 }, { "data", 513 }, { "object", 100000 }, { "object", 300 }, { "error500", 100000 },
        { "error500", 300 }, { "error_data", 100000 }, { "error_data", 300 }, { "usage", 100000 }, { "usage", 300 },
        { "text", 100000 },
      } do
        it("JSON nested " .. d[2] .. " deep (" .. d[1] .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("deep GET", function(c) return c:get("/deep/" .. t.uid, { where = d[1], n = d[2] }) end)
            t:call("usage()", function(c) return c:usage() or true end)
            t:call("the next call", function(c) return c:get("/ok/" .. t.uid) end)
          end)
        end)
      end

      for _, where in ipairs{ "data", "error", "error_huge", "usage" } do
        it("NaN, infinities and numbers past every integer type (" .. where .. ")", function()
          scenario(scheme, nil, function(t)
            t:call("json_special GET", function(c) return c:get("/json_special/" .. t.uid, { where = where }) end)
            t:call("usage()", function(c) return c:usage() or true end)
            t:call("the next call", function(c) return c:get("/ok/" .. t.uid) end)
          end)
        end)
      end

      for _, to in ipairs{ "foreign", "self", "relative", "userinfo", "other" } do
        for _, status in ipairs{ 301, 302, 303, 307, 308 } do
          it("a " .. status .. " redirect to " .. to .. " with the secrets in Location: not followed", function()
            scenario(scheme, nil, function(t)
              t:call("redirect GET", function(c) return c:get("/redirect/" .. t.uid, { status = status, to = to }) end)
              t:call("redirect POST", function(c) return c:post("/redirect/" .. t.uid, { status = status, to = to }) end)
              local n = #S.log_uid(t.uid)
              if n > 2 then t:problem("%s: the redirect was followed (%d requests for 2 calls)", S.runtime, n) end
            end)
          end)
        end
      end
    end)

    describe("dropped connections and slow answers", function()
      for _, how in ipairs{ "close", "status", "headers", "reset" } do
        it("a POST read whole, then the connection dropped (" .. how .. "): sent once", function()
          scenario(scheme, nil, function(t)
            t:call("POST dropped", function(c) return c:post("/drop/" .. t.uid, { message = "once", how = how }) end)
            local n = #S.log_uid(t.uid)
            if n ~= 1 then t:problem("%s: the server received the POST %d times", S.runtime, n) end
          end)
        end)

        it("a POST on a reused keep-alive connection, read whole, then dropped (" .. how .. "): sent once", function()
          scenario(scheme, nil, function(t)
            t:call("GET ok", function(c) return c:get("/ok/" .. t.uid) end)
            t:call("GET ok again", function(c) return c:get("/ok/" .. t.uid) end)
            t:call("POST dropped", function(c) return c:post("/drop/" .. t.uid, { message = "once", how = how }) end)
            local posts = 0
            for _, r in ipairs(S.log_uid(t.uid)) do if r.method == "POST" then posts = posts + 1 end end
            if posts ~= 1 then t:problem("%s: the server received the POST %d times", S.runtime, posts) end
          end)
        end)

        it("a GET dropped (" .. how .. "): nil, err, nothing leaks", function()
          scenario(scheme, nil, function(t)
            t:call("GET dropped", function(c) return c:get("/drop/" .. t.uid, { how = how }) end)
            t:call("DELETE dropped", function(c) return c:delete("/drop/" .. t.uid, { how = how }) end)
          end)
        end)
      end

      -- Over HTTPS the unasked answer comes in the asked one's TLS record: when the asked one ends
      -- where a read filled the cosocket's buffer (4096 bytes in the specs' nginx), the rest waits
      -- inside OpenSSL, where no check at the socket sees it.
      for _, case in ipairs{ { 1000 }, { 4095 }, { 4096 }, { 8192 }, { 9000 }, { 4096, "chunked" },
                             { 8192, "chunked" }, { 12288, "chunked" } } do
        local size, framing = case[1], case[2]
        it(("an answer nobody asked for behind a %d-byte %s one, then a POST: sent once, its own answer")
          :format(size, framing or "Content-Length"), function()
            scenario(scheme, nil, function(t)
              t:call("GET surplus", function(c) return c:get("/surplus/" .. t.uid, { size = size, framing = framing }) end)
              local v = t:call("POST after it", function(c) return c:post("/ok/" .. t.uid, { message = "once" }) end)
              local g = t:call("GET after it", function(c) return c:get("/ok/" .. t.uid) end)
              local posts = 0
              for _, r in ipairs(S.log_uid(t.uid)) do if r.method == "POST" then posts = posts + 1 end end
              if posts ~= 1 then t:problem("%s: the server received the POST %d times", S.runtime, posts) end
              for what, x in pairs{ POST = v, GET = g } do
                if not (type(x) == "table" and x.ok == true) then
                  t:problem("%s: the %s after it was answered %s", S.runtime, what,
                    type(x) == "table" and require("cjson").encode(x) or tostring(x))
                end
              end
            end)
          end)
      end

      it("a many-request batch of dropped POSTs on one client: each sent once", function()
        scenario(scheme, nil, function(t)
          for i = 1, 5 do
            t:call("GET ok " .. i, function(c) return c:get("/ok/" .. t.uid) end)
            t:call("POST dropped " .. i, function(c) return c:post("/drop/" .. t.uid, { n = i, delay = 0.05 }) end)
          end
        end)
      end)

      for _, phase in ipairs{ "body", "headers", "silent" } do
        for _, method in ipairs{ "GET", "POST" } do
          it("a slow drip (" .. phase .. ", " .. method .. "): the call gives up at its timeout", function()
            scenario(scheme, { timeout = 1, retries = 0 }, function(t)
              local t0 = core.now()
              t:call("drip", function(c) return c:request(method, "/drip/" .. t.uid, { phase = phase, limit = 8 }) end)
              local took = core.now() - t0
              if took > 6 then t:problem("%s: a 1 s timeout took %.1f s", S.runtime, took) end
            end)
          end)
        end
      end
    end)

    describe("pagers", function()
      for _, variant in ipairs{ "query", "path", "userinfo", "foreign", "other", "crlf", "dotdot", "fragment", "upper",
                                "cursor", "long" } do
        for _, how in ipairs{ "items", "pages", "all" } do
          for _, prefetch in ipairs{ false, true } do
            it(("paging.next with the secrets (%s), walked with %s()%s"):format(variant, how,
                prefetch and ", prefetching" or ""), function()
              scenario(scheme, nil, function(t)
                t:walk_pager("edge " .. variant, function(c)
                  return c:edge("/paging/" .. t.uid .. "/1", { variant = variant, pages = 3 },
                    { max_pages = 5, prefetch = prefetch })
                end, how)
              end)
            end)
          end
        end
      end

      for _, variant in ipairs{ "query", "path", "upper" } do
        it("a transient failure on page 2 (" .. variant .. "): on_retry's arguments hold no secret", function()
          scenario(scheme, nil, function(t)
            t:walk_pager("edge failing on page 2", function(c)
              return c:edge("/paging/" .. t.uid .. "/1", { variant = variant, pages = 3, fail = 2 }, { max_pages = 5 })
            end)
            -- (a client may refuse a next link with the token in its path or under another name: no retry then)
            if variant == "query" and #t.retry_calls == 0 then t:problem("%s: the failed page was not retried", S.runtime) end
          end)
        end)
      end

      it("NaN and infinities in paging", function()
        scenario(scheme, nil, function(t)
          t:walk_pager("edge json_special", function(c)
            return c:edge("/json_special/" .. t.uid, { where = "paging" }, { max_pages = 5 })
          end)
        end)
      end)
    end)

    describe("get_many", function()
      it("every hostile answer at once, in parallel", function()
        scenario(scheme, nil, function(t)
          local u = t.uid
          local values, errs = t:call("get_many", function(c)
            return c:get_many({
              "/echo_error/" .. u, { "/echo_text/" .. u, { layout = "straddle", at = 300 } }, "/drop/" .. u,
              "/redirect/" .. u, "/flood/" .. u, { "/deep/" .. u, { n = 300 } }, "/status/" .. u, "/chunked/" .. u,
              "/length/" .. u, "/crlf/" .. u, "/json_special/" .. u, "/echo_pieces/" .. u,
              { "/echo_error/" .. u, { status = 500, code = 2, transient = 1, retry_after = "0" } },
              { "/paging/" .. u .. "/1", { variant = "foreign" } }, "/echo_bad_json/" .. u, "/echo_flat/" .. u,
            }, { concurrency = 4 })
          end)
          if type(values) ~= "table" or type(errs) ~= "table" then
            t:problem("%s: get_many did not return two lists", S.runtime)
          else
            for i, e in ipairs(errs) do
              if e then t:check_err("get_many request " .. i, e) end
            end
          end
        end)
      end)
    end)
  end)
end

-- ---- the library's own flows, over HTTPS ------------------------------------------------------

local WRONG_TYPES = '{"id":{"x":"{{TOKEN}}"},"uri":["{{TOKEN}}"],"status_code":{"s":1},"status":{"s":"{{TOKEN}}"},'
  .. '"video_status":"{{TOKEN}}","data":{"a":"{{TOKEN}}"},"paging":5,"business_discovery":"{{TOKEN}}",'
  .. '"mentioned_media":5,"mentioned_comment":[],"copyright_check_information":[],"copyright_check_status":1e999,'
  .. '"instagram_business_account":"{{TOKEN}}","quota_usage":"{{TOKEN}}","config":5,"success":"yes",'
  .. '"access_token":{"t":1},"expires_in":"soon","user_id":{"u":1},"permissions":5,"media":"x","recipient_id":[],'
  .. '"message_id":{},"error":"{{TOKEN}}"}'

local WRONG_ERRORS = {
  '{"error":{"message":{"text":"{{TOKEN}}"},"type":{"t":"{{TOKEN}}"},"code":{"c":1},"error_subcode":[1],'
    .. '"fbtrace_id":{"id":"{{TOKEN}}"},"error_user_title":["{{TOKEN}}"],"error_user_msg":{"m":"{{TOKEN}}"},'
    .. '"is_transient":"yes","error_data":"{{TOKEN}}"}}',
  '{"error":"{{TOKEN}}"}',
  '{"error":["{{TOKEN}}","{{PROOF}}"]}',
  '{"error":{"message":123,"type":true,"code":"190","error_subcode":"{{TOKEN}}","fbtrace_id":1e999,"error_user_msg":false}}',
  '{"error":{"code":"4","message":"{{ALLJ}}","type":["{{TOKEN}}"]}}',
  '{"error":{}}',
  '{"error":null,"message":"{{TOKEN}}"}',
  '{"error_type":{"x":"{{TOKEN}}"},"error_message":["{{TOKEN}}"],"code":"x","fbtrace_id":{"f":1}}',
  '{"error_type":"{{ALLJ}}","error_message":"{{ALLJ}}","code":{"c":1}}',
  '{"debug_info":{"message":{"a":"{{TOKEN}}"},"type":["{{TOKEN}}"],"retriable":"{{TOKEN}}"}}',
  '{"debug_info":{"message":"{\\"error\\":{\\"message\\":{\\"m\\":\\"{{TOKEN}}\\"}}}","type":{"t":"{{TOKEN}}"}}}',
  '{"debug_info":{"message":"{\\"message\\":[\\"{{TOKEN}}\\"]}","type":"x"}}',
  '{"debug_info":"{{TOKEN}}"}',
  '{"debug_info":{"message":"' .. string.rep('{\\"error\\":', 300) .. '1' .. string.rep("}", 300) .. '","type":"x"}}',
}

-- What a node wrapper may be answered with.
local MODES = {
  { "Graph errors echoing every secret", { b = "echo_error" } },
  { "transient Graph errors echoing every secret", { b = "echo_error", status = 500, code = 2, transient = true,
    retry_after = "0" } },
  { "rate-limit refusals echoing every secret", { b = "echo_error", code = 4, retry_after = "0" }, { post_retry_ok = true } },
  { "flat Instagram errors echoing", { b = "echo_flat" } },
  { "non-JSON 502 pages echoing", { b = "echo_text" } },
  { "non-JSON pages with the token across byte 300", { b = "echo_text", layout = "straddle", at = 300 } },
  { "the token in pieces", { b = "echo_pieces" } },
  { "dropped connections", { b = "drop" } },
  { "redirects to a foreign host", { b = "redirect" } },
  { "CR, LF and NUL in headers", { b = "crlf" } },
  { "JSON null", { body = "null" } },
  { "a number", { body = "42" } },
  { "a string echoing the token", { body = '"{{TOKEN}}"' } },
  { "true", { body = "true" } },
  { "an empty list", { body = "[]" } },
  { "an empty object", { body = "{}" } },
  { "every documented field with the wrong type", { body = WRONG_TYPES } },
  { "NaN, infinities and huge numbers", { b = "json_special" } },
  { "NaN in a Graph error", { b = "json_special", where = "error" } },
  { "JSON nested 100000 deep", { b = "deep" } },
  { "JSON nested 300 deep", { b = "deep", n = 300 } },
}
-- Error envelopes of the wrong shape go through one path (the client's answer parsing): a few calls
-- of each kind (GET, POST, DELETE, a pager, a flow, batch) are enough for them.
local ERROR_SHAPE_CALLS = { ["ig_user:fetch"] = true, ["ig_media:comment"] = true, ["ig_comment:delete"] = true,
  ["publish_image"] = true, ["upload_video"] = true, ["batch"] = true, ["get_many"] = true, ["ig_user:media"] = true,
  ["ig_container:wait"] = true }
for i, body in ipairs(WRONG_ERRORS) do
  -- (5) says code "4": a refusal the API documents as not carried out, so a POST may go again
  MODES[#MODES + 1] = { "an error envelope of the wrong shape (" .. i .. ")", { status = 400, body = body },
    body:find('"code":"4"', 1, true) and { post_retry_ok = true } or nil, ERROR_SHAPE_CALLS }
end

local function image() return "https://example.com/a.jpg" end

-- Every call of the node wrappers that makes a request.
local CALLS = {
  { "ig_user:fetch", function(c) return c:ig_user(UID):fetch("id,username") end },
  { "ig_user:insights", function(c) return c:ig_user(UID):insights{ metric = "reach", period = "day" } end },
  { "ig_user:business_discovery", function(c) return c:ig_user(UID):business_discovery("someone") end },
  { "ig_user:mentioned_media", function(c) return c:ig_user(UID):mentioned_media(MEDIA) end },
  { "ig_user:mentioned_comment", function(c) return c:ig_user(UID):mentioned_comment(COMMENT) end },
  { "ig_user:private_reply", function(c) return c:ig_user(UID):private_reply(COMMENT, "thanks") end },
  { "ig_user:creator_insights", function(c) return c:ig_user(UID):creator_insights("someone") end },
  { "ig_user:content_publishing_limit", function(c) return c:ig_user(UID):content_publishing_limit() end },
  { "ig_user:available_catalogs", function(c) return c:ig_user(UID):available_catalogs() end },
  { "ig_user:reply_to_mention", function(c) return c:ig_user(UID):reply_to_mention{ media_id = MEDIA, message = "hi" } end },
  { "ig_user:media_publish", function(c) return c:ig_user(UID):media_publish(CONTAINER) end },
  { "ig_user:create_container", function(c) return c:ig_user(UID):create_container{ image_url = image() } end },
  { "ig_media:fetch", function(c) return c:ig_media(MEDIA):fetch{ "id", "caption" } end },
  { "ig_media:comment", function(c) return c:ig_media(MEDIA):comment("nice") end },
  { "ig_media:insights", function(c) return c:ig_media(MEDIA):insights{ metric = { "reach", "likes" } } end },
  { "ig_media:copyright_check", function(c) return c:ig_media(MEDIA):copyright_check() end },
  { "ig_media:set_comment_enabled", function(c) return c:ig_media(MEDIA):set_comment_enabled(false) end },
  { "ig_media:update_product_tags", function(c)
    return c:ig_media(MEDIA):update_product_tags{ { product_id = "3231775643511089", x = 0.5, y = 0.5 } } end },
  { "ig_comment:reply", function(c) return c:ig_comment(COMMENT):reply("thanks") end },
  { "ig_comment:hide", function(c) return c:ig_comment(COMMENT):hide() end },
  { "ig_comment:delete", function(c) return c:ig_comment(COMMENT):delete() end },
  { "page:fetch", function(c) return c:page("134895793791914"):fetch("id,name") end },
  { "page:instagram_business_account", function(c) return c:page("134895793791914"):instagram_business_account() end },
  { "ig_container:status", function(c) return c:ig_container(CONTAINER):status() end },
  { "ig_container:copyright_check_status", function(c) return c:ig_container(CONTAINER):copyright_check_status() end },
  { "ig_container:wait", function(c) return c:ig_container(CONTAINER):wait{ timeout = 20 } end },
  { "upcoming_event:update", function(c) return c:upcoming_event("17900000000000002"):update{ title = "x" } end },
  { "hashtag_search", function(c) return c:hashtag_search(UID, "coke") end },
  { "oembed", function(c) return c:oembed("https://www.instagram.com/p/abc/") end },
  { "metadata", function(c) return c:metadata(MEDIA) end },
  { "wait_for_container", function(c) return c:wait_for_container(CONTAINER, { timeout = 20 }) end },
  { "publish_image", function(c) return c:ig_user(UID):publish_image{ image_url = image(), caption = "hi" } end },
  { "publish_image with fields", function(c)
    return c:ig_user(UID):publish_image{ image_url = image(), fields = "id,permalink", check_quota = false } end },
  { "publish_story", function(c) return c:ig_user(UID):publish_story{ image_url = image() } end },
  { "publish_video (video_url)", function(c) return c:ig_user(UID):publish_video{ video_url = "https://example.com/v.mp4" } end },
  { "publish_video (file)", function(c) return c:ig_user(UID):publish_video{ file = VIDEO } end },
  { "publish_carousel", function(c)
    return c:ig_user(UID):publish_carousel{ children = { { image_url = image() }, { image_url = image() .. "?2" } } } end },
  { "upload_video", function(c) return c:upload_video(CONTAINER, VIDEO) end },
  { "upload_video_url", function(c) return c:upload_video_url(CONTAINER, "https://example.com/v.mp4") end },
  { "batch", function(c)
    return c:batch{ { relative_url = "me?fields=id" }, { method = "POST", relative_url = MEDIA .. "/comments",
      body = { message = "hi" } } } end },
  { "get_many", function(c, t)
    local values, errs = c:get_many{ "/" .. MEDIA, { "/" .. UID, { fields = "id" } } }
    for i, e in ipairs(type(errs) == "table" and errs or {}) do if e then t:check_err("get_many " .. i, e) end end
    return values, nil
  end },
}

local PAGERS = {
  { "ig_user:media", function(c) return c:ig_user(UID):media({ fields = "id" }, { max_pages = 5 }) end },
  { "ig_user:stories", function(c) return c:ig_user(UID):stories(nil, { max_pages = 5, prefetch = true }) end },
  { "ig_user:tags (cursor only)", function(c) return c:ig_user(UID):tags({ fields = "id" }, { max_pages = 5 }) end },
  { "ig_user:business_discovery_media (nested)", function(c)
    return c:ig_user(UID):business_discovery_media("someone", nil, { limit = 2, max_pages = 5 }) end },
  { "ig_hashtag:recent_media", function(c) return c:ig_hashtag(HASHTAG):recent_media(UID, nil, { max_pages = 5 }) end },
  { "ig_media:comments", function(c) return c:ig_media(MEDIA):comments(nil, { max_pages = 5 }) end },
  { "ig_comment:replies", function(c) return c:ig_comment(COMMENT):replies(nil, { max_pages = 5 }) end },
  { "me:accounts", function(c) return c:me():accounts(nil, { max_pages = 5 }) end },
}

describe("hostile server, the library's flows (https, " .. S.runtime .. "):", function()
  setup(function() S.require_server() end)

  for _, m in ipairs(MODES) do
    describe("node wrappers answered with " .. m[1], function()
      for _, call in ipairs(CALLS) do
        if m[4] == nil or m[4][call[1]] then it(call[1], function()
          scenario("https", nil, function(t)
            t:mode(m[2])
            t:call(call[1], call[2])
          end, m[3])
        end) end
      end
      for _, p in ipairs(PAGERS) do
        if m[4] == nil or m[4][p[1]] then it(p[1] .. " (a pager)", function()
          scenario("https", nil, function(t)
            t:mode(m[2])
            t:walk_pager(p[1], p[2], "items", 60)
          end, m[3])
        end) end
      end
    end)
  end

  describe("pagers answered with paging of the wrong shape", function()
    for i, body in ipairs{
      '{"data":{"a":1},"paging":{"next":"{{SELF}}/v24.0/x"}}',
      '{"data":"{{TOKEN}}"}',
      '{"data":[1,"x",null,[]],"paging":5}',
      '{"data":[{"id":1}],"paging":{"next":{"u":"{{TOKEN}}"}}}',
      '{"data":[{"id":1}],"paging":{"next":42,"cursors":"x"}}',
      '{"data":[{"id":1}],"paging":{"cursors":{"after":{"a":"{{TOKEN}}"}}}}',
      '{"data":[{"id":1}],"paging":{"cursors":{"after":"{{TOKEN}}"}}}',
      '{"data":[{"id":1}],"paging":{"next":""}}',
      '{"data":[{"id":1}],"paging":{"next":"{{SELF}}/v24.0/loop?access_token={{TOKEN}}&appsecret_proof={{PROOF}}"}}',
      '{"data":[{"id":1}],"paging":{"next":"{{SELF}}/v24.0/{{TOKEN}}/media"}}',
      '{"data":[{"id":1}],"paging":{"next":"{{FOREIGN}}/v24.0/x?access_token={{TOKEN}}"}}',
      '{"data":[{"id":1}],"paging":{"next":"//127.0.0.1/v24.0/x?access_token={{TOKEN}}"}}',
      '{"data":[{"id":1}],"paging":{"next":"javascript:{{TOKEN}}"}}',
      '{"data":[{"id":1}],"paging":{"next":"{{SELF}}/v24.0/x?a=1\\u0000{{TOKEN}}"}}',
      '{"data":[{"id":1}],"paging":{"next":"{{SELF}}/v24.0/%2e%2e/%2e%2e/oauth/access_token?access_token={{TOKEN}}"}}',
      '{"data":[{"id":1}],"business_discovery":{"media":{"data":[{"id":1}],"paging":{"cursors":{"after":{"x":1}}}}}}',
    } do
      for _, p in ipairs(PAGERS) do
        it(p[1] .. " with paging shape " .. i, function()
          scenario("https", nil, function(t)
            t:mode{ body = body }
            t:walk_pager(p[1], p[2], "items", 60)
            t:walk_pager(p[1] .. " pages()", p[2], "pages", 20)
          end)
        end)
      end
    end
  end)

  describe("batch", function()
    local ops = {}
    for i = 1, 18 do
      ops[i] = i % 3 == 0 and { method = "POST", relative_url = MEDIA .. "/comments", body = { message = "m" .. i } }
        or { relative_url = MEDIA .. "?fields=id,caption&n=" .. i }
    end
    for _, mode in ipairs{
      { "every entry hostile", { b = "batch" } },
      { "an object instead of a list", { b = "batch", shape = "object" } },
      { "a string echoing the secrets", { b = "batch", shape = "scalar" } },
      { "fewer entries than operations", { b = "batch", shape = "short" } },
      { "entries nested 100000 deep", { b = "batch", deep = 100000 } },
      { "a Graph error echoing", { b = "echo_error" } },
      { "a transient Graph error echoing", { b = "echo_error", status = 500, code = 2, transient = true } },
      { "a non-JSON 502", { b = "echo_text" } },
      { "a dropped connection", { b = "drop" } },
      { "NaN and huge numbers", { b = "json_special" } },
      { "JSON null", { body = "null" } },
      { "an error of the wrong shape", { status = 400, body = WRONG_ERRORS[1] } },
    } do
      it("answered with " .. mode[1], function()
        scenario("https", nil, function(t)
          t:mode(mode[2])
          local results = t:call("batch", function(c) return c:batch(ops) end)
          if type(results) == "table" then
            for i, r in pairs(results) do
              if require("instagram.error").is_error(r) then t:check_err("batch result " .. tostring(i), r) end
            end
          end
        end)
      end)
    end
  end)

  describe("publishing", function()
    local function publish_routes(status_route, over)
      local routes = {
        { m = "POST", p = "/media$", body = '{"id":"' .. CONTAINER .. '"}' },
        { m = "GET", p = "^/" .. CONTAINER .. "$", body = '{"id":"' .. CONTAINER .. '","status_code":"FINISHED"}' },
        { m = "GET", p = "/content_publishing_limit$", body = '{"data":[{"quota_usage":1,"config":{"quota_total":100}}]}' },
        { m = "POST", p = "/media_publish$", body = '{"id":"' .. PUBLISHED .. '"}' },
        { m = "GET", p = "^/" .. PUBLISHED .. "$", body = '{"id":"' .. PUBLISHED .. '","permalink":"x"}' },
        { m = "POST", p = "^/" .. CONTAINER .. "$", body = '{"success":true}' }, -- rupload
      }
      if status_route then routes[2] = status_route end
      for k, v in pairs(over or {}) do routes[k] = v end
      return { routes = routes, default = { b = "echo_error" } }
    end
    local function st(body) return { m = "GET", p = "^/" .. CONTAINER .. "$", body = body } end
    local straddle = string.rep("x", 280)
    local scenarios = {
      { "a container ERROR whose status echoes every secret", publish_routes(st(
        '{"id":"' .. CONTAINER .. '","status_code":"ERROR","status":"Error: {{ALLJ}} (2207026)"}')) },
      { "a container ERROR whose status has the token across byte 300", publish_routes(st(
        '{"id":"' .. CONTAINER .. '","status_code":"ERROR","status":"' .. straddle .. '{{TOKEN}} {{PROOF}}"}')) },
      { "an EXPIRED container whose status echoes", publish_routes(st(
        '{"id":"' .. CONTAINER .. '","status_code":"EXPIRED","status":"{{ALLJ}}"}')) },
      { "a container IN_PROGRESS for ever, its status echoing", publish_routes(st(
        '{"id":"' .. CONTAINER .. '","status_code":"IN_PROGRESS","status":"{{ALLJ}}"}')) },
      { "a container status of the wrong types", publish_routes(st(
        '{"id":{"i":"{{TOKEN}}"},"status_code":{"s":"{{TOKEN}}"},"status":["{{TOKEN}}"]}')) },
      { "a container status with NaN", publish_routes(st('{"id":NaN,"status_code":NaN,"status":Infinity}')) },
      { "a container status that is a number", publish_routes(st("42")) },
      { "a container status that is null", publish_routes(st("null")) },
      { "a container status that is a string", publish_routes(st('"{{TOKEN}}"')) },
      { "a container status that echoes in an error",
        publish_routes({ m = "GET", p = "^/" .. CONTAINER .. "$", b = "echo_error" }) },
    }
    for _, id in ipairs{ '"{{TOKEN}}"', '{"i":"{{TOKEN}}"}', "1e999", "NaN", "12.5", '"1/../../../oauth/access_token"',
                         '"1\\r\\nX-Injected: {{TOKEN}}"', '""', '"{{SELF}}/v24.0/x?access_token={{TOKEN}}"', "null",
                         '"17900000000000001?access_token={{TOKEN}}#"', '"%2e%2e"', '"1 HTTP/1.1\\r\\nHost: x"' } do
      scenarios[#scenarios + 1] = { "a container id of " .. id, publish_routes(nil, {
        { m = "POST", p = "/media$", body = '{"id":' .. id .. ',"uri":' .. id .. '}' } }) }
    end
    for _, lim in ipairs{
      '{"data":[{"quota_usage":"{{TOKEN}}","config":5}]}',
      '{"data":[{"quota_usage":1e999,"config":{"quota_total":1}}]}',
      '{"data":[{"quota_usage":1.5,"config":{"quota_total":1}}]}',
      '{"data":[{"quota_usage":NaN,"config":{"quota_total":NaN}}]}',
      '{"data":5}', '42', '{"data":[{"quota_usage":100,"config":{"quota_total":"{{TOKEN}}"}}]}',
      '{"data":[{"quota_usage":12345678901234567890123,"config":{"quota_total":1}}]}',
    } do
      scenarios[#scenarios + 1] = { "a publishing limit of " .. lim, publish_routes(nil, {
        [3] = { m = "GET", p = "/content_publishing_limit$", body = lim } }) }
    end
    for _, pub in ipairs{
      { "a transient error echoing", { b = "echo_error", status = 500, code = 2, transient = true } },
      { "a dropped connection", { b = "drop" } }, { "a slow drip", { b = "drip", limit = 4 } },
      { "a number", { body = "42" } }, { "an id of the wrong type", { body = '{"id":{"x":"{{TOKEN}}"}}' } },
    } do
      local r = pub[2]
      r.m, r.p = "POST", "/media_publish$"
      scenarios[#scenarios + 1] = { "media_publish answered with " .. pub[1], publish_routes(nil, { [4] = r }),
        r.b == "drip" and { timeout = 1 } or nil }
    end
    for _, s in ipairs(scenarios) do
      for _, flow in ipairs{
        { "publish_image", function(c) return c:ig_user(UID):publish_image{ image_url = image(), fields = "id,permalink",
          wait = { timeout = 30, interval = 1 } } end },
        { "publish_carousel", function(c) return c:ig_user(UID):publish_carousel{ children = { { image_url = image() },
          { video_url = "https://example.com/v.mp4" } }, wait = { timeout = 30 } } end },
        { "publish_video (file)", function(c) return c:ig_user(UID):publish_video{ file = VIDEO, wait = { timeout = 30 } } end },
      } do
        it(flow[1] .. " with " .. s[1], function()
          scenario("https", s[3] or { timeout = 3 }, function(t)
            t:mode(s[2])
            t:call(flow[1], flow[2])
          end)
        end)
      end
    end

    for _, where in ipairs{ "{{FOREIGN}}", "{{OTHER}}", "http://{{TOKEN}}@127.0.0.1:1" } do
      it("a container uri on another host (" .. where .. "): no raise, no upload there", function()
        scenario("https", nil, function(t)
          t:mode(publish_routes(nil, { { m = "POST", p = "/media$",
            body = '{"id":"' .. CONTAINER .. '","uri":"' .. where .. '/ig-api-upload/v24.0/' .. CONTAINER .. '"}' } }))
          t:call("publish_video (file)", function(c) return c:ig_user(UID):publish_video{ file = VIDEO } end)
        end)
      end)
    end
  end)

  describe("uploads", function()
    local function upload_mode(upload, status)
      return { routes = {
        { m = "POST", p = "^/" .. CONTAINER .. "$", times = 1, b = upload.b, body = upload.body, status = upload.status,
          inner = upload.inner, retriable = upload.retriable },
        { m = "POST", p = "^/" .. CONTAINER .. "$", body = '{"success":true}' },
        { m = "GET", p = "^/" .. CONTAINER .. "$", body = status },
      }, default = { b = "echo_error" } }
    end
    local uploads = {
      { "a debug_info echo", { b = "echo_debug_info" } },
      { "a retriable debug_info echo", { b = "echo_debug_info", retriable = true, status = 500 } },
      { "a text debug_info echo", { b = "echo_debug_info", inner = "text" } },
      { "a non-JSON 502 echo", { b = "echo_text" } },
      { "a dropped connection", { b = "drop" } },
      { "a redirect to a foreign host", { b = "redirect" } },
      { "a Graph error echo", { b = "echo_error", status = 500, code = 2, transient = true } },
    }
    local statuses = {
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":1e999}}}',
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":NaN}}}',
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":-5}}}',
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":"{{TOKEN}}"}}}',
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":{"b":1}}}}',
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":100000000000000000000}}}',
      '{"video_status":{"uploading_phase":{"status":"in_progress","bytes_transferred":1.5}}}',
      '{"video_status":{"uploading_phase":"{{TOKEN}}"}}',
      '{"video_status":5}',
      '42',
      'null',
      '{"error":{"message":"{{ALLJ}}","code":1,"type":"{{ALLJ}}","is_transient":true}}',
    }
    for _, u in ipairs(uploads) do
      for i, status in ipairs(statuses) do
        it("upload_video: the upload answered with " .. u[1] .. ", the container status " .. i, function()
          scenario("https", nil, function(t)
            t:mode(upload_mode(u[2], status))
            t:call("upload_video", function(c) return c:upload_video(CONTAINER, VIDEO, { max_attempts = 3 }) end)
          end)
        end)
      end
    end
  end)

  describe("usage headers and the throttle", function()
    for _, ra in ipairs{ "1e999", "1e308", "-1", "nan", "0x10", "99999999999999999999", "Infinity", "-1e999" } do
      it("a rate-limit answer with Retry-After / regain time " .. ra .. ", then more calls", function()
        scenario("https", { throttle = { threshold = 75, max_delay = 5 } }, function(t)
          t:call("rate limited", function(c) return c:get("/json_special/" .. t.uid, { where = "retry", value = ra }) end)
          t:call("usage()", function(c) return c:usage() or true end)
          t:call("the next call", function(c) return c:get("/ok/" .. t.uid) end)
          t:call("and the next", function(c) return c:post("/ok/" .. t.uid) end)
          t:call("get_many", function(c) return c:get_many{ "/ok/" .. t.uid } end)
        end, { post_retry_ok = true })
      end)
    end

    for _, h in ipairs{
      { "NaN and infinities", { b = "json_special", where = "usage" } },
      { "nesting 300 deep", { b = "deep", where = "usage", n = 300 } },
      { "nesting 100000 deep", { b = "deep", where = "usage", n = 100000 } },
      { "2000 X-App-Usage headers", { b = "flood", n = 2000, usage = 1 } },
      { "the secrets as values", { b = "echo_error" } },
      { "garbage", { body = "{}", headers = { ["X-App-Usage"] = "{{TOKEN}}",
        ["X-Business-Use-Case-Usage"] = '{"1":"x","2":[1,"s",[]]}', ["X-Ad-Account-Usage"] = "[1,2,3]" } } },
      { "wrong types", { body = "{}", headers = {
        ["X-App-Usage"] = '{"call_count":{"a":1},"total_time":[1],"total_cputime":"99"}',
        ["X-Business-Use-Case-Usage"] = '{"1":[{"call_count":"100","estimated_time_to_regain_access":{"t":1}}]}' } } },
    } do
      it("usage headers with " .. h[1] .. ", with the throttle on", function()
        scenario("https", { throttle = { threshold = 75, max_delay = 5 } }, function(t)
          t:mode(h[2])
          for i = 1, 3 do t:call("call " .. i, function(c) return c:get("/me") end) end
          local u = t:call("usage()", function(c) return c:usage() or true end)
          if type(u) == "table" and u.max_percent ~= nil and type(u.max_percent) ~= "number" then
            t:problem("%s: usage().max_percent is a %s", S.runtime, type(u.max_percent))
          end
        end)
      end)
    end
  end)

  describe("OAuth against the hostile host", function()
    local function logins(t)
      local app_id = "1" .. tostring(math.random(10 ^ 9, 10 ^ 10 - 1))
      local fb = instagram.oauth.facebook{ app_id = app_id, app_secret = t.app_secret, redirect_uri = "https://example.com/cb",
        graph_url = t.base, ca_file = S.ca_file, timeout = 3 }
      local ig = instagram.oauth.instagram{ app_id = app_id, app_secret = t.app_secret, redirect_uri = "https://example.com/cb",
        graph_url = t.base, api_url = t.base, ca_file = S.ca_file, timeout = 3 }
      return fb, ig, app_id
    end
    local CALLS_OAUTH = {
      { "facebook exchange_code", function(fb, _, t) return fb:exchange_code(t.code) end },
      { "facebook exchange_long_lived", function(fb, _, t) return fb:exchange_long_lived(t.token) end },
      { "facebook debug_token", function(fb, _, t) return fb:debug_token(t.token) end },
      { "facebook pages", function(fb, _, t) return fb:pages(t.token) end },
      { "facebook handle_redirect", function(fb, _, t)
        return fb:handle_redirect("https://example.com/cb?code=" .. t.code .. "&state=s1", "s1") end },
      { "instagram exchange_code", function(_, ig, t) return ig:exchange_code(t.code) end },
      { "instagram exchange_long_lived", function(_, ig, t) return ig:exchange_long_lived(t.token) end },
      { "instagram refresh", function(_, ig, t) return ig:refresh(t.token) end },
      { "instagram handle_redirect", function(_, ig, t)
        return ig:handle_redirect("https://example.com/cb?code=" .. t.code .. "&state=s1#_", "s1") end },
    }
    local OAUTH_MODES = {
      { "Graph errors echoing every secret", { b = "echo_error" } },
      { "flat errors echoing", { b = "echo_flat" } },
      { "non-JSON pages echoing the client secret across byte 300", { b = "echo_text", layout = "straddle", at = 300,
        what = "client_secret" } },
      { "non-JSON pages echoing the code across byte 300", { b = "echo_text", layout = "straddle", at = 300, what = "code" } },
      { "non-JSON pages echoing the exchanged token", { b = "echo_text", layout = "straddle", at = 300,
        what = "fb_exchange_token" } },
      { "non-JSON pages echoing the inspected token", { b = "echo_text", layout = "straddle", at = 300, what = "input_token" } },
      { "non-JSON pages echoing access_token", { b = "echo_text", layout = "straddle", at = 300, what = "access_token" } },
      { "broken JSON echoing the client secret", { b = "echo_bad_json", what = "client_secret" } },
      { "the client secret in pieces", { b = "echo_pieces", what = "client_secret" } },
      { "the code in pieces", { b = "echo_pieces", what = "code" } },
      { "dropped connections", { b = "drop" } },
      { "redirects to a foreign host", { b = "redirect" } },
      { "error fields of the wrong types", { status = 400, body = WRONG_ERRORS[1] } },
    }
    for _, body in ipairs{
      '{"access_token":"NEWTOKEN","expires_in":1e999}',
      '{"access_token":"NEWTOKEN","expires_in":NaN}',
      '{"access_token":"NEWTOKEN","expires_in":-1e999}',
      '{"access_token":"NEWTOKEN","expires_in":1.5}',
      '{"access_token":"NEWTOKEN","expires_in":123456789012345678901234567890}',
      '{"access_token":"NEWTOKEN","expires_in":"soon","user_id":1e999,"permissions":5}',
      '{"access_token":"NEWTOKEN","user_id":NaN}',
      '{"access_token":"NEWTOKEN","user_id":{"u":1},"permissions":{"p":1},"token_type":{"t":1}}',
      '{"data":[{"access_token":"NEWTOKEN","user_id":123456789012345678901234567890,"permissions":"a,b"}]}',
      '{"data":[{"access_token":{"t":"{{TOKEN}}"}}]}', '{"data":[]}', '{"data":5}',
      '{"access_token":42}', '{"access_token":{"t":"{{TOKEN}}"}}', '{"access_token":""}', "null", "42", '"{{TOKEN}}"',
      '{"data":{"is_valid":"{{TOKEN}}","expires_at":1e999}}', '{"data":[{"id":"1","access_token":{"x":1},"tasks":5}],"paging":7}',
    } do
      OAUTH_MODES[#OAUTH_MODES + 1] = { "the answer " .. body, { body = body } }
    end

    for _, m in ipairs(OAUTH_MODES) do
      for _, call in ipairs(CALLS_OAUTH) do
        it(call[1] .. " answered with " .. m[1], function()
          scenario("https", nil, function(t)
            local fb, ig, app_id = logins(t)
            t.code = t:secret("code", "AQ" .. S.random(60))
            -- The token a hostile answer issues: not a secret of this call, but tostring(token) hides it too.
            local new_token = "IGQV" .. S.random(40)
            local mode = {}
            for k, v in pairs(m[2]) do mode[k] = type(v) == "string" and v:gsub("NEWTOKEN", new_token) or v end
            t:mode(mode, app_id)
            t:mode(mode, t.token)
            local tok = t:call(call[1], function() return call[2](fb, ig, t) end)
            if token_m.is_token(tok) then
              local ok, s = pcall(tostring, tok)
              if not ok then t:problem("%s: tostring(token) raised: %s", S.runtime, tostring(s))
              else
                local c = S.checker{ new_token = new_token, token = t.token, app_secret = t.app_secret, code = t.code }
                c:check("tostring(token)", s)
                for _, p in ipairs(c.problems) do t.problems[#t.problems + 1] = p end
              end
              t:call("token:expires_in() and needs_refresh()", function() tok:expires_in() return tok:needs_refresh() end)
            end
          end, { paths = { "^/oauth/access_token", "^/access_token", "^/refresh_access_token" } })
        end)
      end
    end

    for _, m in ipairs{ OAUTH_MODES[1], OAUTH_MODES[3], OAUTH_MODES[7], OAUTH_MODES[11] } do
      it("auto_refresh through a hostile host (" .. m[1] .. "): on_refresh's arguments hold no secret", function()
        S.require_server()
        local refreshed = {}
        local t
        t = S.new{ scheme = "https", client = {
          access_token = token_m.new{ access_token = "EAAG" .. S.random(60), expires_at = os.time() + 3600,
            kind = "instagram", issued_at = os.time() - 3 * 86400, long_lived = true },
          on_refresh = function(...) refreshed[#refreshed + 1] = { n = select("#", ...), ... } end,
        } }
        -- S.new made the client with its own random token: name the one the client really holds
        t.token = t.client:token().access_token
        t.secrets.token = t.token
        t.secrets.proof = t.client:appsecret_proof()
        local _, ig = logins(t)
        t.client.auto_refresh = ig
        t:mode({ routes = { { p = "^/refresh_access_token$", b = m[2].b, body = m[2].body, layout = m[2].layout, at = m[2].at,
          what = m[2].what } }, default = { b = "ok" } }, t.token)
        t:call("a call that refreshes first", function(c) return c:get("/me") end)
        if #refreshed == 0 then t:problem("%s: on_refresh was not called", S.runtime) end
        for i, args in ipairs(refreshed) do
          for k = 1, args.n do t:check("on_refresh call " .. i .. " argument " .. k, args[k]) end
        end
        t:done{ paths = { "^/refresh_access_token" } }
      end)
    end
  end)
end)

-- ---- webhooks: hostile bodies, no server needed ------------------------------------------------

describe("webhook.parse and handle with hostile bodies (" .. S.runtime .. ")", function()
  local secret = S.random(40)
  local deep = string.rep("[", 100000) .. string.rep("]", 100000)
  local function payload(entry) return '{"object":"instagram","entry":[' .. entry .. ']}' end
  local bodies = {
    { "NaN at the top", "NaN" }, { "Infinity", "Infinity" }, { "-Infinity", "-Infinity" }, { "1e999", "1e999" },
    { "nested 100000 deep", deep }, { "nested 300 deep", string.rep("[", 300) .. string.rep("]", 300) },
    { "objects nested 513 deep", string.rep('{"a":', 513) .. "1" .. string.rep("}", 513) },
    { "entry nested 300 deep", payload(string.rep("[", 300) .. string.rep("]", 300)) },
    { "an id of NaN", payload('{"id":NaN,"time":1,"changes":[{"field":"comments","value":{"id":NaN,"media":{"id":NaN}}}]}') },
    { "an id of 1e999", payload('{"id":1e999,"time":1e999,"changes":[{"field":"comments","value":{"id":1e999,"text":"x"}}]}') },
    { "an id of -Infinity", payload('{"id":-Infinity,"messaging":[{"sender":{"id":-Infinity},"recipient":{"id":NaN},'
      .. '"timestamp":1e999,"message":{"mid":NaN,"text":1e999}}]}') },
    { "huge numbers", payload('{"id":123456789012345678901234567890,"time":1,"changes":[{"field":"mentions","value":'
      .. '{"media_id":18446744073709551616,"comment_id":-9223372036854775809}}]}') },
    { "wrong types", payload('{"id":{"x":1},"time":"t","changes":"x","messaging":{"a":1},"field":{"f":1},"value":5}') },
    { "wrong types inside", payload('{"id":"1","changes":[5,"x",{"field":{"f":1},"value":"v"},{"field":"comments",'
      .. '"value":{"media":"m","from":5,"comment_id":{"c":1}}}],"messaging":[5,{"sender":"s","message":"m"}]}') },
    { "entry as a string", '{"object":"instagram","entry":"x"}' }, { "entry entries as strings", payload('"a","b"') },
    { "a list of junk", '[1,"x",null,{"object":"instagram"}]' }, { "object of the wrong type", '{"object":{"o":1},"entry":[]}' },
    { "an empty body", "" }, { "whitespace", "   " }, { "NUL bytes", "\0\0\0" }, { "a lone surrogate",
      payload('{"id":"1","changes":[{"field":"comments","value":{"text":"\\ud800"}}]}') },
    { "2 MiB", payload('{"id":"1","changes":[{"field":"comments","value":{"text":"' .. string.rep("a", 2 * 1048576) .. '"}}]}') },
  }
  for _, b in ipairs(bodies) do
    it("parse: " .. b[1], function()
      local t = S.checker{ app_secret = secret }
      t:call("webhook.parse", function() return webhook.parse(b[2]) end)
      t:call("webhook.handle (signed)", function()
        return webhook.handle{ app_secret = secret, body = b[2], signature = "sha256=" .. core.hmac_sha256_hex(secret, b[2]) }
      end)
      t:verdict()
    end)
  end

  for _, h in ipairs{
    { "two X-Hub-Signature-256 headers (a table)", function(body)
      local s = "sha256=" .. core.hmac_sha256_hex(secret, body)
      return { s, s } end },
    { "a 100 KiB signature header", function() return "sha256=" .. string.rep("a", 102400) end },
    { "a signature with NUL", function(body) return "sha256=" .. core.hmac_sha256_hex(secret, body) .. "\0" end },
    { "a signature echoing the app secret", function() return "sha256=" .. secret end },
  } do
    it("handle / verify_signature with " .. h[1], function()
      local body = payload('{"id":"1","time":1,"changes":[{"field":"comments","value":{"id":"2","text":"x"}}]}')
      local t = S.checker{ app_secret = secret }
      t:call("verify_signature", function() return webhook.verify_signature(secret, body, h[2](body)) end)
      t:call("handle", function() return webhook.handle{ app_secret = secret, body = body, signature = h[2](body) } end)
      t:verdict()
    end)
  end
end)
