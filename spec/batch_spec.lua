-- client:batch against a hostile server (stub transports): answers of the wrong shape give nil, err
-- or error results, never a raise; every result's error and headers are scrubbed of every secret
-- the call carried; every operation is checked before anything is sent.
local instagram = require "instagram"
local json = require "instagram.json"
local errors = require "instagram.error"

local TOKEN = "EAABbatchTOKEN0123456789abcdef"
local SECRET = "batchAPPsecret9876543210fedcba"

local function stub(answer)
  local t = { sent = {} }
  function t.request(_, req)
    t.sent[#t.sent + 1] = req
    local status, body = answer(req, #t.sent)
    return { status = status, headers = { ["content-type"] = "application/json" }, body = body }
  end
  return t
end

local function client(t)
  return instagram.new{ access_token = TOKEN, app_secret = SECRET, transport = t, retries = 0, sleep = function() end }
end

describe("client:batch against a hostile server", function()
  it("answers a non-object entry with an error result and an object answer with nil, err", function()
    for _, entry in ipairs{ "42", "true", '"text"' } do
      local c = client(stub(function() return 200, "[" .. entry .. "]" end))
      local results = assert(c:batch{ { relative_url = "me" } })
      assert.is_true(errors.is_error(results[1]), entry)
      assert.equal("decode", results[1].kind)
    end
    local c = client(stub(function() return 200, '{"1":{"code":200,"body":"{}"}}' end))
    local results, err = c:batch{ { relative_url = "me" } }
    assert.is_nil(results)
    assert.equal("a batch answer must be a JSON array", err.message)
  end)

  it("scrubs result headers (names and values) and every error of every secret the call carried", function()
    local other = "EAAGotherUSERtokenBEINGinspected42"
    local proof = require("instagram.core").hmac_sha256_hex(SECRET, TOKEN)
    local c = client(stub(function()
      return 200, json.encode{
        { code = 200, body = "{}", headers = { { name = "WWW-Authenticate", value = "Bearer " .. TOKEN },
          { name = "X-Proof", value = proof }, { name = "X-" .. TOKEN, value = "k" }, { name = {}, value = "skip" } } },
        { code = 400, body = json.encode{ error = { message = "cannot inspect " .. other, code = 100 } } },
      }
    end))
    local results = assert(c:batch{ { relative_url = "debug_token?input_token=" .. other }, { relative_url = "me" } })
    local shown = json.encode(results[1].headers) .. tostring(results[2]) .. json.encode(results[2])
    for _, secret in ipairs{ TOKEN, proof, other, SECRET } do
      assert.falsy(shown:find(secret, 1, true), shown)
    end
    assert.equal("Bearer [redacted]", results[1].headers["www-authenticate"])
  end)

  it("checks and encodes every operation before the first call: nothing is sent for a mistake in the 51st", function()
    local t = stub(function() return 200, "[]" end)
    local c = client(t)
    local ops = {}
    for i = 1, 51 do ops[i] = { method = "POST", relative_url = "1/comments", body = { message = "m" .. i } } end
    ops[51].body.message = function() end
    local ok, err = pcall(function() c:batch(ops) end)
    assert.is_false(ok)
    assert.truthy(err:find("batch_spec.lua:%d+: batch: operation 51: parameter 'message' has a function value"), err)
    assert.equal(0, #t.sent)
    assert.has_error(function() c:batch{ { relative_url = "me" }, false } end, "batch: operation 2 must be a table")
    assert.has_error(function() c:batch{ { relative_url = "me", attached_files = "f" } } end,
      "batch: operation 1 has an unknown key 'attached_files'")
    assert.has_error(function() c:batch({ { relative_url = "me" } }, { include_headers = "false" } ) end,
      "batch: option 'opts.include_headers' must be a boolean, got string")
  end)
end)
