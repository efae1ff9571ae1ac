-- JSON a hostile server (or webhook sender) can send (issue #11, finding 7): deep nesting and
-- the non-numbers NaN / Infinity come back as nil, err, on every runtime, from every door
-- (json.decode, a client call, the usage headers, webhook.parse); never as a raised error.
require "spec.helper"
local instagram = require "instagram"
local json = require "instagram.json"

local function nested(n, open, close) return (open or "["):rep(n) .. (close or "]"):rep(n) end

local function objects(n)
  return ('{"a":'):rep(n - 1) .. "{}" .. ("}"):rep(n - 1)
end

-- A transport answering every request with this status, headers and body.
local function answering(status, body, headers)
  headers = headers or {}
  headers["content-type"] = headers["content-type"] or "application/json"
  return { request = function() return { status = status, headers = headers, body = body } end }
end

describe("json.decode never raises", function()
  it("takes nesting up to json.MAX_DEPTH (512) and refuses deeper with nil, err", function()
    assert.equal(512, json.MAX_DEPTH)
    for _, n in ipairs{ 1, 200, 511, 512 } do
      local ok, v, err = pcall(json.decode, nested(n))
      assert.is_true(ok, v)
      assert.is_table(v, err)
      local okk, o = pcall(json.decode, objects(n))
      assert.is_true(okk, o)
      assert.is_table(o)
    end
    for _, n in ipairs{ 513, 514, 1000, 100000 } do
      local ok, v, err = pcall(json.decode, nested(n))
      assert.is_true(ok, "decode raised at depth " .. n .. ": " .. tostring(v))
      assert.is_nil(v)
      assert.matches("nest", err)
      local okk, o, oerr = pcall(json.decode, objects(n))
      assert.is_true(okk, "decode raised at depth " .. n .. ": " .. tostring(o))
      assert.is_nil(o)
      assert.is_string(oerr)
    end
  end)

  it("refuses NaN, Infinity and numbers too large for a double", function()
    for _, text in ipairs{ "NaN", "[NaN]", "[Infinity]", "[-Infinity]", "[nan]", "[-nan]", "[inf]", "[-inf]",
                           '{"a":NaN}', '{"a":1e999}', "[-1e999]", "[1E400]", "[" .. ("9"):rep(400) .. "e0]",
                           '{"n":[1,{"x":' .. ("1"):rep(310) .. ".5}]}", "[0x10]" } do
      local ok, v, err = pcall(json.decode, text)
      assert.is_true(ok, text .. " raised: " .. tostring(v))
      assert.is_nil(v, text .. " was accepted")
      assert.is_string(err)
    end
    -- numbers that merely look big, and strings that spell the words, are fine; an integer past
    -- every integer type comes back as the string of its digits (the C core's decoder)
    local v = assert(json.decode('{"a":1e308,"b":"NaN","c":"Infinity","d":"x1e999","e":-0.5,"f":123456789012345678901234567890}'))
    assert.equal(1e308, v.a)
    assert.equal("NaN", v.b)
    assert.equal("x1e999", v.d)
    assert.equal("123456789012345678901234567890", v.f)
    assert.equal(("9"):rep(400), json.decode("[" .. ("9"):rep(400) .. "]")[1])
  end)

  it("encodes with the same depth limit", function()
    local function deep(n)
      local t = {}
      for _ = 2, n do t = { t } end
      return t
    end
    assert.is_string((json.encode(deep(512))))
    local s, err = json.encode(deep(513))
    assert.is_nil(s)
    assert.matches("512", err)
    assert.is_table(json.decode(assert(json.encode(deep(512)))))
  end)
end)

describe("hostile JSON through the client", function()
  it("a deeply nested or NaN answer is a decode error, not a raise", function()
    for _, body in ipairs{ nested(600), nested(1000, "[", "]"), '{"id":NaN}', '{"id":1e999}', objects(600) } do
      local c = instagram.new{ access_token = "tok-abcdefgh", transport = answering(200, body), retries = 0 }
      local ok, v, err = pcall(c.get, c, "/me")
      assert.is_true(ok, "c:get raised: " .. tostring(v))
      assert.is_nil(v)
      assert.equal("decode", err.kind)
    end
  end)

  it("deep or NaN usage headers are ignored, not raised", function()
    for _, h in ipairs{ nested(600), '{"call_count":NaN}', '{"x":[' .. nested(600) .. "]}" } do
      local headers = { ["x-app-usage"] = h, ["x-business-use-case-usage"] = h, ["x-ad-account-usage"] = h }
      local c = instagram.new{ access_token = "tok-abcdefgh", transport = answering(200, '{"id":"1"}', headers),
        retries = 0 }
      local ok, v = pcall(c.get, c, "/me")
      assert.is_true(ok, "c:get raised: " .. tostring(v))
      assert.same({ id = "1" }, v)
    end
  end)

  it("webhook.parse answers bad_json for deep nesting and NaN", function()
    for _, body in ipairs{ '{"object":"instagram","entry":' .. nested(600) .. "}",
                           '{"object":"instagram","entry":[{"id":NaN,"time":1,"changes":[]}]}',
                           '{"object":"instagram","entry":[{"id":Infinity,"time":1,"field":"comments","value":{}}]}',
                           '{"object":"instagram","entry":[{"id":1e999,"time":1,"field":"comments","value":{}}]}' } do
      local ok, events, err = pcall(instagram.webhook.parse, body)
      assert.is_true(ok, "webhook.parse raised: " .. tostring(events))
      assert.is_nil(events)
      assert.equal("bad_json", err.reason)
    end
  end)
end)
