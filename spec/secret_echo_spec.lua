-- Secrets a server echoes where promise 1 says they never show, found by an outside attack: a failed
-- refresh's error handed to on_refresh (the proof), debug_token's answer (the app token, the token
-- inspected), the pages a pager hands back and any answer's paging links (token and proof as
-- parameters, cursors), an upload URI a server supplies (the token in its query), hex secrets echoed
-- in upper case, a token just replaced, a redirect's error quoting its own code, a webhook's object.
-- A scripted transport answers; nothing goes on the network.
local instagram = require "instagram"
local errors = require "instagram.error"
local json = require "instagram.json"
local webhook = require "instagram.webhook"
local oauth, token_m = instagram.oauth, instagram.token
local core = require "instagram.core"

local TOKEN = "EAAB" .. ("Echo0123456789ab"):rep(8)
local APP_SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
local APP_ID = "990602627938098"

-- A transport whose answer to each request is answer(req) (a table: status, body, headers).
local function scripted(answer)
  local t = { sent = {} }
  local function reply(req)
    t.sent[#t.sent + 1] = req
    local a = answer(req)
    return { status = a.status or 200, headers = a.headers or { ["content-type"] = "application/json" },
             body = type(a.body) == "table" and assert(json.encode(a.body)) or a.body }
  end
  function t.request(_, req) return reply(req) end
  function t.upload(_, req) return reply(req) end
  return t
end

-- s with every byte percent-encoded.
local function pct(s) return (s:gsub(".", function(c) return ("%%%02X"):format(c:byte()) end)) end

-- Every string reachable from v (keys too), for looking secrets up in.
local function strings(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do strings(k, out, seen); strings(x, out, seen) end
  end
  return out
end

-- No run of 8 bytes of a secret, in any case for hex ones.
local function assert_clean(what, v, secrets)
  for _, s in ipairs(strings(v)) do
    for _, secret in ipairs(secrets) do
      local hex = not secret:find("[^%x]")
      local hay, needle = hex and s:lower() or s, hex and secret:lower() or secret
      for i = 1, #needle - 7 do
        local run = needle:sub(i, i + 7)
        assert(not hay:find(run, 1, true), ("%s holds a run of a secret: %s"):format(what, s))
      end
    end
  end
end

local function client(t, extra)
  local o = { access_token = TOKEN, app_secret = APP_SECRET, graph_url = "https://graph.example",
              rupload_url = "https://rupload.example", transport = t, retries = 0, sleep = function() end }
  for k, v in pairs(extra or {}) do o[k] = v end
  return instagram.new(o)
end

describe("secrets a server echoes", function()
  it("on_refresh gets the failed refresh's error scrubbed of the client's proof", function()
    local proof
    local t = scripted(function(req)
      if req.url:find("refresh_access_token", 1, true) then
        return { status = 400, body = { error = { message = "cannot refresh; last proof " .. proof, code = 190,
          type = "OAuthException", fbtrace_id = proof:upper() } } }
      end
      return { body = { id = "1" } }
    end)
    local tok = token_m.new{ access_token = TOKEN, kind = "instagram", long_lived = true,
      issued_at = os.time() - 3 * 86400, expires_at = os.time() + 7 * 86400 }
    local ig = oauth.instagram{ app_id = APP_ID, app_secret = APP_SECRET, graph_url = "https://graph.example",
      api_url = "https://api.example", transport = t }
    local got = {}
    local c = client(t, { access_token = tok, auto_refresh = ig, refresh_margin = 30 * 86400,
      on_refresh = function(new, err) got[#got + 1] = { new = new, err = err } end })
    proof = c:appsecret_proof()
    assert(c:get("/me"))
    assert.equal(1, #got)
    assert.is_nil(got[1].new)
    assert.is_true(errors.is_error(got[1].err))
    assert.matches("cannot refresh", got[1].err.message, 1, true)
    assert_clean("on_refresh's error", { got[1].err, tostring(got[1].err) }, { TOKEN, APP_SECRET, proof })
  end)

  it("errors are scrubbed of the two tokens last replaced (and their proofs)", function()
    local old1, old2, old3 = TOKEN, "EAAB" .. ("Second987654321x"):rep(8), "EAAB" .. ("Third1357913579y"):rep(8)
    local text
    local c = client(scripted(function() return { status = 400, body = { error = { message = text, code = 190 } } } end))
    local proof1 = c:appsecret_proof()
    c:set_access_token(old2)
    local proof2 = c:appsecret_proof()
    c:set_access_token(old3)
    c:set_access_token("EAAB" .. ("Fourth246802468z"):rep(8))
    text = "replaced: " .. old2 .. " " .. proof2 .. " " .. old3
    local _, err = c:get("/me")
    assert_clean("an error after two replacements", { err, tostring(err) }, { old2, proof2, old3 })
    text = "oldest: " .. old1 .. " " .. proof1 -- (three replacements ago: no longer known)
    local _, err2 = c:get("/me")
    assert.matches(old1, err2.message, 1, true)
  end)

  it("hex secrets (app secret, proof) echoed in upper or mixed case are scrubbed", function()
    local c = client(scripted(function(req)
      local proof = req.url:match("appsecret_proof=(%x+)") or ""
      local mixed = proof:sub(1, 20):upper() .. proof:sub(21)
      local alternating = proof:gsub("()(%x)", function(i, ch) return i % 2 == 0 and ch:upper() or ch end)
      return { status = 400, body = { error = { message = "proof " .. proof:upper() .. " secret " .. APP_SECRET:upper()
        .. " mixed " .. mixed .. " alternating " .. alternating, code = 100, fbtrace_id = APP_SECRET:upper(),
        error_user_msg = APP_SECRET:gsub("()(%x)", function(i, ch) return i % 3 == 0 and ch:upper() or ch end) } } }
    end))
    local _, err = c:get("/me")
    assert.matches("[redacted]", err.message, 1, true)
    assert_clean("an error with upper-case hex", { err, tostring(err) }, { APP_SECRET, c:appsecret_proof() })
  end)

  it("debug_token's answer is scrubbed of the app token and the token inspected; exchanges keep their token",
    function()
    local input = "EAAB" .. ("Inspected0123456"):rep(8)
    local new_token = "EAAB" .. ("Returned13579135"):rep(8)
    local t = scripted(function(req)
      if req.url:find("debug_token", 1, true) then
        local auth = req.headers.Authorization or ""
        return { body = { data = { access_token = auth .. " / " .. input, app_id = APP_ID, is_valid = true,
          scopes = { { access_token = auth } }, user_id = "17841400000000000", [input] = true,
          granular_scopes = { { [auth:gsub("^Bearer ", "")] = 1 } } } } }
      end
      return { body = { access_token = new_token, token_type = "bearer", expires_in = 5183944 } }
    end)
    local fb = oauth.facebook{ app_id = APP_ID, app_secret = APP_SECRET, redirect_uri = "https://app.example/cb",
      graph_url = "https://graph.example", transport = t }
    local data = assert(fb:debug_token(input))
    assert.is_true(data.is_valid)
    assert_clean("debug_token's data", data, { APP_SECRET, input })
    local long = assert(fb:exchange_long_lived(input))
    assert.equal(new_token, long.access_token)
    local short = assert(fb:exchange_code("AQDcode0123456789"))
    assert.equal(new_token, short.access_token)
  end)

  it("a pager's pages and every answer's paging links hold none of the client's secrets", function()
    local c
    local t = scripted(function(req)
      local proof = c:appsecret_proof()
      local n = tonumber(req.url:match("[?&]p=(%d+)")) or 1
      local next_url = n < 3 and ("https://graph.example/v24.0/me/media?p=" .. (n + 1) .. "&access_token=" .. TOKEN
        .. "&appsecret_proof=" .. proof .. "&after=c" .. n) or nil
      return { body = { data = { { id = tostring(n) } }, paging = { next = next_url,
        previous = "https://graph.example/v24.0/me/media?access%5Ftoken=" .. TOKEN .. "&before=b",
        cursors = { after = TOKEN, before = proof:upper(), other = "QVFIUm", encoded = pct(TOKEN), [pct(TOKEN)] = "a key",
          deep = { a = { b = { c = { d = { e = TOKEN } } } } }, [TOKEN] = "a key", huge = ("x"):rep(70000) } } } }
    end)
    c = client(t)
    local pages = 0
    for data, page in c:edge("/me/media"):pages() do
      pages = pages + 1
      assert.equal(tostring(pages), data[1].id)
      assert_clean("page " .. pages, page, { TOKEN, APP_SECRET, c:appsecret_proof() })
      assert.equal("QVFIUm", page.paging.cursors.other)
      assert.is_nil(page.paging.cursors.huge) -- (longer than any URL: dropped before it is looked at)
      for k, v in pairs(page.paging.cursors) do -- (percent-encoded ones, keys and values, in no part either)
        for _, text in ipairs{ k, type(v) == "string" and v or "" } do
          assert.is_nil(core.url_decode(text):find(TOKEN:sub(1, 8), 1, true), text)
        end
      end
    end
    assert.equal(3, pages)
    for _, req in ipairs(t.sent) do assert.is_nil(req.url:find("access_token", 1, true)) end
    local v = assert(c:get("/me/media"))
    assert.equal("https://graph.example/v24.0/me/media?p=2&after=c1", v.paging.next)
    assert.is_nil(v.paging.previous:find(TOKEN, 1, true))
  end)

  it("a pager finds a secret of exactly 8 bytes inside a cursor", function()
    local short = "EAAB1234"
    local c = client(scripted(function()
      return { body = { data = { { id = "1" } }, paging = { cursors = { before = "zz" .. short .. "zz" } } } }
    end), { access_token = short })
    local page = assert(c:edge("/me/media"):next_page())
    assert.is_nil(page.paging.cursors.before:find(short, 1, true))
  end)

  it("an answer's paging links lose those parameters however their names are spelled", function()
    local link
    local c = client(scripted(function() return { body = { data = {}, paging = { next = link } } } end))
    local base = "https://graph.example/v24.0/me/media?after=c1&fields=id%2Ccaption"
    for _, name in ipairs{ "access_token", "access_%74oken", "%61ccess_token", "access%5Ftoken", "ACCESS_TOKEN",
                           "Access_Token", "appsecret_pr%6Fof", "APPSECRET_PROOF" } do
      link = base .. "&" .. name .. "=" .. TOKEN .. "&limit=2"
      local v = assert(c:get("/me/media"))
      assert.equal(base .. "&limit=2", v.paging.next, name)
    end
  end)

  it("an upload URI's access_token and appsecret_proof are not sent", function()
    local c
    local t = scripted(function() return { body = { success = true } } end)
    c = client(t)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write(("x"):rep(1000)); f:close()
    local uri = "https://rupload.example/ig-api-upload/v24.0/17900000000000001?access_token=" .. TOKEN
      .. "&appsecret_proof=" .. c:appsecret_proof() .. "&x=1"
    assert(c:raw_upload(uri, { offset = "0", file_size = "1000" }, path, 0))
    assert.equal("https://rupload.example/ig-api-upload/v24.0/17900000000000001?x=1", t.sent[1].url)
    assert.equal("OAuth " .. TOKEN, t.sent[1].headers.Authorization)
    for _, part in ipairs{ c:appsecret_proof():upper(), TOKEN:sub(1, 60), APP_SECRET:upper() } do
      local ok, err = c:raw_upload("https://rupload.example/ig-api-upload/" .. part .. "/17900000000000001", {}, path, 0)
      assert.is_nil(ok)
      assert.equal("invalid", err.reason)
    end
    assert.equal(1, #t.sent)
    os.remove(path)
  end)

  it("a redirect's error does not quote the code or token the same redirect carried", function()
    local fb = oauth.facebook{ app_id = APP_ID, app_secret = APP_SECRET, redirect_uri = "https://app.example/cb",
      transport = scripted(function() return { body = {} } end) }
    local code = "AQDcodeXYZc0d3secret42"
    local _, err = fb:handle_redirect("https://app.example/cb?code=" .. code .. "&state=st4te0123456789ab"
      .. "&error=server_error&error_description=the%20code%20" .. code .. "%20failed", "st4te0123456789ab")
    assert.equal("oauth", err.kind)
    assert_clean("a redirect's error", { err, tostring(err) }, { code })
    local tok = "EAAB" .. ("Fragment24680246"):rep(4)
    local _, err2 = fb:handle_redirect("https://app.example/cb?state=st4te0123456789ab#access_token=" .. tok
      .. "&error=" .. tok .. "&error_reason=" .. tok, "st4te0123456789ab")
    assert_clean("a redirect's error", { err2, tostring(err2) }, { tok })
    local _, err3 = fb:handle_redirect("https://app.example/cb?code=" .. code .. "&code=other123456&state=st4te0123456789ab"
      .. "&error=server_error&error_description=bad%20" .. code, "st4te0123456789ab")
    assert_clean("a redirect's error", { err3, tostring(err3) }, { code })
  end)

  it("a webhook payload's object is not quoted", function()
    local body = json.encode{ object = APP_SECRET .. ("z"):rep(5000), entry = {} }
    local _, err = webhook.parse(body)
    assert.equal("bad_payload", err.reason)
    assert.is_nil(tostring(err):find(APP_SECRET, 1, true))
    assert.is_true(#tostring(err) < 200)
  end)

  it("a batch result's paging links lose their access_token and appsecret_proof", function()
    local c
    local t = scripted(function()
      local page = json.encode{ data = { { id = "1" } }, paging = { next = "https://graph.example/v24.0/x?access_token="
        .. TOKEN .. "&appsecret_proof=" .. c:appsecret_proof() .. "&after=z" } }
      return { body = { { code = 200, headers = {}, body = page } } }
    end)
    c = client(t)
    local results = assert(c:batch{ { method = "GET", relative_url = "me/media" } })
    assert.equal("https://graph.example/v24.0/x?after=z", results[1].body.paging.next)
  end)
end)
