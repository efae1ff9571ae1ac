-- Hostile servers against the scrubber (issue #11, finding 5): a server that echoes every secret
-- a request carried into every field of its error answer. No run of 8 or more characters of any
-- secret may reach an error field (nested tables included) or tostring(err).
require "spec.helper"
local instagram = require "instagram"
local errors = require "instagram.error"
local json = require "instagram.json"
local params_m = require "instagram.params"

local APP_ID = "442224939723604"
local APP_SECRET = "hostile-app-secret-q8w7e6r5t4y3u2i1"
local USER_TOKEN = "EAAhostileUSERtokenZZ5Kq9Lm3Np7Rs1Tv4Wx8Yz2Ab6"
local IG_TOKEN = "IGQWhostileIGtokenYYa1B2c3D4e5F6g7H8i9J0kLmN"
local CODE = "AQhostileCODExxPoIuYtReWqLkJhGfDsAzXcVbNm"

-- Every run of 8 characters of every secret, looked for in every string of v (keys too).
local function leaks(v, secrets, where, out, seen)
  out, seen = out or {}, seen or {}
  local tv = type(v)
  if tv == "string" then
    for _, s in ipairs(secrets) do
      for i = 1, #s - 7 do
        if v:find(s:sub(i, i + 7), 1, true) then
          out[#out + 1] = where .. " holds '" .. s:sub(i, i + 7) .. "'"
          break
        end
      end
    end
  elseif tv == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      leaks(k, secrets, where .. " (a key)", out, seen)
      leaks(x, secrets, where .. "." .. tostring(k), out, seen)
    end
  end
  return out
end

local function assert_clean(err, secrets)
  assert.is_true(errors.is_error(err), "expected an error object, got " .. tostring(err))
  local found = leaks(err, secrets, "err")
  local ok, text = pcall(tostring, err)
  assert.is_true(ok, "tostring(err) raised: " .. tostring(text))
  for _, f in ipairs(leaks(text, secrets, "tostring(err)")) do found[#found + 1] = f end
  assert.same({}, found)
end

-- Every value a request carries: query and form parameters, a JSON body's strings, the
-- Authorization header's credentials (and the parts of an app token "id|secret").
local function carried(req)
  local out = {}
  local function add(v)
    if type(v) == "string" and v ~= "" then
      out[#out + 1] = v
      for part in v:gmatch("[^|]+") do out[#out + 1] = part end
    end
  end
  for _, v in pairs(params_m.decode(req.url:match("%?(.*)$") or "")) do add(v) end
  if req.body then
    local decoded = json.decode(req.body)
    if type(decoded) == "table" then for _, v in pairs(decoded) do add(v) end
    else for _, v in pairs(params_m.decode(req.body)) do add(v) end end
  end
  for k, v in pairs(req.headers or {}) do
    if k:lower() == "authorization" then add(v:match("^%S+%s+(.*)$")) end
  end
  return table.concat(out, " ")
end

-- A transport that answers every request with the given shape, echoing what it carried.
local SHAPES = {
  graph = function(echo)
    return 400, "application/json", json.encode{ error = { message = "Invalid token " .. echo, type = echo,
      code = 190, error_subcode = 460, fbtrace_id = echo, error_user_title = echo, error_user_msg = echo,
      is_transient = false, error_data = { blame_field_specs = { { echo } }, detail = echo } } }
  end,
  flat = function(echo) -- graph.instagram.com's shape
    return 400, "application/json", json.encode{ error_type = echo, code = 400, error_message = echo,
      fbtrace_id = echo }
  end,
  debug_info = function(echo)
    return 400, "application/json", json.encode{ debug_info = { retriable = false, type = echo,
      message = json.encode{ success = false, error = { message = echo } } } }
  end,
  -- a non-JSON body whose first secret straddles the 300-byte cut of err.body
  http = function(echo) return 502, "text/html", ("<"):rep(291) .. echo end,
  decode = function(echo) return 500, "application/json", ("{"):rep(291) .. echo end,
}

local function hostile(shape)
  return {
    calls = 0,
    sleep = function() end, -- the clients' retries of a 5xx wait for nothing
    request = function(self, req)
      self.calls = self.calls + 1
      local status, ctype, body = SHAPES[shape](carried(req))
      return { status = status, headers = { ["content-type"] = ctype }, body = body }
    end,
  }
end

local ALL = { APP_SECRET, USER_TOKEN, IG_TOKEN, CODE }

describe("scrubbing (finding 5)", function()
  describe("error objects", function()
    it("scrub type, fbtrace_id and every other string field, nested tables included", function()
      local e = errors.graph(400, { message = "m " .. USER_TOKEN, type = USER_TOKEN, code = 190,
        fbtrace_id = "x" .. USER_TOKEN .. "y", error_user_title = USER_TOKEN, error_user_msg = USER_TOKEN,
        error_data = { USER_TOKEN, nested = { deeper = USER_TOKEN } } }, nil, { USER_TOKEN })
      assert_clean(e, { USER_TOKEN })
      assert.equal("[redacted]", e.type)
      assert.equal("x[redacted]y", e.fbtrace_id)
    end)

    it("scrub before cutting a body to 300 bytes: no part of a straddling secret survives", function()
      for cut = 280, 300 do
        local body = ("a"):rep(cut) .. USER_TOKEN .. ("b"):rep(50)
        assert_clean(errors.http(502, body, nil, { USER_TOKEN }), { USER_TOKEN })
        assert_clean(errors.decode(500, body, "bad", { USER_TOKEN }), { USER_TOKEN })
      end
      local e = errors.http(502, ("a"):rep(1000), nil, { USER_TOKEN })
      assert.is_true(#e.body <= 310)
    end)

    it("scrub a run of 8 or more characters of a secret even when the whole secret is not there", function()
      local half = USER_TOKEN:sub(5, 24)
      local e = errors.graph(400, { message = "token starts " .. half .. " and ends", code = 190 }, nil, { USER_TOKEN })
      assert_clean(e, { USER_TOKEN })
      assert.matches("token starts %[redacted%] and ends", e.message)
      assert.equal("abc" .. USER_TOKEN:sub(1, 7) .. "xyz",
        errors.scrub("abc" .. USER_TOKEN:sub(1, 7) .. "xyz", { USER_TOKEN })) -- 7 characters: not a run
    end)

    it("scrub values named like secrets, even those no list knows (a token a failing answer carried)", function()
      local fresh = "NEWTOKENzz81726354abcdefgh"
      for _, body in ipairs{ '{"access_token":"' .. fresh .. '","expires_in":1e999}',
                             '{"a":1, "long_lived_token" : "' .. fresh .. '"}',
                             'oops access_token=' .. fresh .. '&x=1', "code=" .. fresh,
                             ("x"):rep(280) .. '{"access_token":"' .. fresh .. '"}' } do
        assert_clean(errors.decode(200, body, "bad"), { fresh })
        assert_clean(errors.http(500, body), { fresh })
      end
      assert.equal('{"access_token":"[redacted]","n":"\\"x"}',
        errors.scrub('{"access_token":"a\\"b\\\\c","n":"\\"x"}'))
      assert.equal('{"code":190,"message":"error code 190"}', errors.scrub('{"code":190,"message":"error code 190"}'))
    end)

    it("scrub_error scrubs an error made elsewhere, in place", function()
      local e = errors.new{ kind = "publish", message = USER_TOKEN, status = { text = USER_TOKEN } }
      assert.equal(e, errors.scrub_error(e, { USER_TOKEN }))
      assert_clean(e, { USER_TOKEN })
    end)
  end)

  describe("instagram.oauth against a server that echoes what it was sent", function()
    for shape in pairs(SHAPES) do
      it("Facebook Login's exchanges and debug_token scrub the code, tokens and app secret (" .. shape .. ")", function()
        local t = hostile(shape)
        local fb = instagram.oauth.facebook{ app_id = APP_ID, app_secret = APP_SECRET, transport = t,
          redirect_uri = "https://app.example/cb" }
        local _, e1 = fb:exchange_code(CODE)
        assert_clean(e1, ALL)
        local _, e2 = fb:exchange_long_lived(USER_TOKEN)
        assert_clean(e2, ALL)
        local _, e3 = fb:debug_token(IG_TOKEN)
        assert_clean(e3, ALL)
        local _, e4 = fb:pages(USER_TOKEN)
        assert_clean(e4, ALL)
        assert.is_true(t.calls >= 4)
      end)

      it("Instagram Login's exchanges and refresh scrub the code, tokens and app secret (" .. shape .. ")", function()
        local t = hostile(shape)
        local ig = instagram.oauth.instagram{ app_id = APP_ID, app_secret = APP_SECRET, transport = t,
          redirect_uri = "https://app.example/cb" }
        local _, e1 = ig:exchange_code(CODE)
        assert_clean(e1, ALL)
        local _, e2 = ig:exchange_long_lived(IG_TOKEN)
        assert_clean(e2, ALL)
        local _, e3 = ig:refresh(IG_TOKEN)
        assert_clean(e3, ALL)
        assert.equal(3, t.calls)
      end)
    end
  end)

  describe("publishing", function()
    it("scrubs the container's status text of the client's secrets", function()
      local t = {
        request = function(_, req)
          local body
          if req.method == "POST" then body = '{"id":"17889455560051444"}'
          else
            body = json.encode{ id = "17889455560051444", status_code = "ERROR",
              status = "Error: 2207026 token " .. USER_TOKEN .. " proof " .. carried(req) }
          end
          return { status = 200, headers = { ["content-type"] = "application/json" }, body = body }
        end,
      }
      local c = instagram.new{ access_token = USER_TOKEN, app_secret = APP_SECRET, transport = t, retries = 0 }
      local _, err = c:ig_user("17841405822304914"):publish_image{ image_url = "https://example.com/a.jpg" }
      assert.equal("publish", err.kind)
      assert.equal("container_error", err.reason)
      assert.equal(2207026, err.subcode)
      assert_clean(err, { USER_TOKEN, APP_SECRET, c:appsecret_proof() })
    end)

    -- answers of the wrong type, from a server that wants to steer the flow
    local function scripted(routes)
      local t = { seen = {}, uploads = {} }
      function t.request(_, req)
        local path = req.url:match("^https?://[^/]+/v%d+%.%d+(/[^?]*)") or req.url
        t.seen[#t.seen + 1] = req.method .. " " .. path
        for _, r in ipairs(routes) do
          if (req.method .. " " .. path):find(r[1]) then
            return { status = 200, headers = { ["content-type"] = "application/json" }, body = r[2] }
          end
        end
        return { status = 404, headers = {}, body = '{"error":{"message":"no route","code":100}}' }
      end
      function t.upload(_, req)
        t.uploads[#t.uploads + 1] = req
        if #t.uploads == 1 then return nil, "network", "connection reset" end
        return { status = 200, headers = {}, body = '{"success":true}' }
      end
      return t
    end
    local function user_on(t)
      return instagram.new{ access_token = USER_TOKEN, transport = t, retries = 0, sleep = function() end }
        :ig_user("17841405822304914")
    end

    it("never raises on wrong-typed answers, and never builds a path from a server's id", function()
      local cases = {
        { { "POST /17841405822304914/media$", '{"id":"../../oauth/access_token"}' } },
        { { "POST /17841405822304914/media$", '{"id":{"a":1}}' } },
        { { "POST /17841405822304914/media$", "42" } },
        { { "POST /17841405822304914/media$", '{"id":"1789"}' }, { "GET /1789$", "42" } },
        { { "POST /17841405822304914/media$", '{"id":"1789"}' }, { "GET /1789$", '{"status_code":"ERROR","status":{"a":[1]}}' } },
        { { "POST /17841405822304914/media$", '{"id":"1789"}' }, { "GET /1789$", '{"status_code":"FINISHED"}' },
          { "content_publishing_limit$", '{"data":[{"quota_usage":1.5,"config":{"quota_total":1.25}}]}' } },
        { { "POST /17841405822304914/media$", '{"id":"1789"}' }, { "GET /1789$", '{"status_code":"FINISHED"}' },
          { "content_publishing_limit$", '{"data":[5]}' }, { "media_publish$", '{"id":[1]}' } },
      }
      for i, routes in ipairs(cases) do
        local t = scripted(routes)
        local ok, res, err = pcall(user_on(t).publish_image, user_on(t), { image_url = "https://example.com/a.jpg",
          wait = { interval = 0, timeout = 0 } })
        assert.is_true(ok, "case " .. i .. " raised: " .. tostring(res))
        assert.is_nil(res, "case " .. i)
        assert.is_true(errors.is_error(err), "case " .. i)
        assert.is_true(pcall(tostring, err))
        for _, line in ipairs(t.seen) do assert.not_matches("%.%.", line, 1, true) end
      end
      local _, qerr = user_on(scripted{ { "POST /17841405822304914/media$", '{"id":"1789"}' },
        { "GET /1789$", '{"status_code":"FINISHED"}' },
        { "content_publishing_limit$", '{"data":[{"quota_usage":1.5,"config":{"quota_total":1.25}}]}' } })
        :publish_image{ image_url = "https://example.com/a.jpg" }
      assert.equal("quota", qerr.reason)
      assert.matches("1.5 of its 1.25", qerr.message, 1, true)
      assert.has_error(function() instagram.new{ access_token = "t-123456789", transport = scripted{} }
        :wait_for_container("../me") end)
    end)

    -- A 4 KiB clip for the upload specs below.
    local function clip(path)
      os.execute("mkdir -p build")
      local f = assert(io.open(path, "wb"))
      f:write(("v"):rep(4096))
      f:close()
      return path
    end

    it("refuses (nil, err) an upload uri the server names on another host than rupload_url: nothing sent there", function()
      local path = clip("build/scrub-spec-clip-foreign.mp4")
      local t = scripted{
        { "POST /17841405822304914/media$", '{"id":"1790","uri":"https://evil.example/ig-api-upload/v24.0/1790"}' },
      }
      local ok, res, err = pcall(user_on(t).publish_video, user_on(t), { file = path, wait = { interval = 0 } })
      os.remove(path)
      assert.is_true(ok, tostring(res))
      assert.is_nil(res)
      assert.equal("transport", err.kind)
      assert.equal("foreign_host", err.reason)
      assert.equal("1790", err.container_id)
      assert.matches("refusing to upload to https://evil.example: uploads go to rupload_url only", err.message, 1, true)
      assert.equal(0, #t.uploads)
    end)

    it("uploads to the uri the server names on rupload_url, and resumes only from whole offsets", function()
      local path = clip("build/scrub-spec-clip.mp4")
      local t = scripted{
        { "POST /17841405822304914/media$", '{"id":"1790","uri":"https://rupload.facebook.com/ig-api-upload/v24.0/1790"}' },
        { "GET /1790$", '{"status_code":"FINISHED","video_status":{"uploading_phase":{"status":"in_progress",'
          .. '"bytes_transferred":1.5}}}' },
        { "content_publishing_limit$", '{"data":[{"quota_usage":0,"config":{"quota_total":50}}]}' },
        { "media_publish$", '{"id":"1791"}' },
      }
      local ok, res = pcall(user_on(t).publish_video, user_on(t), { file = path, wait = { interval = 0 } })
      os.remove(path)
      assert.is_true(ok, tostring(res))
      assert.equal("1791", res.id)
      assert.equal(2, #t.uploads)
      for _, u in ipairs(t.uploads) do
        assert.matches("^https://rupload%.facebook%.com/ig%-api%-upload/v%d+%.%d+/1790$", u.url)
        assert.equal(0, u.offset)
      end
    end)
  end)
end)
