require "spec.helper"
local errors = require "instagram.error"

describe("instagram.error", function()
  it("builds a graph error with every documented field", function()
    local e = errors.graph(400, {
      message = "The image size is too large.", type = "OAuthException", code = 36000,
      error_subcode = 2207004, is_transient = false, error_user_title = "Image size too large",
      error_user_msg = "The image is too large to download. It should be less than 8 MiB.",
      fbtrace_id = "A6LJylpZRKw2xKLFsAP-cJh" })
    assert.same({ "graph", 400, 36000, 2207004, "OAuthException", "A6LJylpZRKw2xKLFsAP-cJh", false,
                  "Image size too large" },
      { e.kind, e.status, e.code, e.subcode, e.type, e.fbtrace_id, e.is_transient, e.user_title })
    assert.is_true(errors.is_error(e))
    assert.equal("instagram: Graph API error 36000/2207004 (OAuthException): The image size is too large. "
      .. "- The image is too large to download. It should be less than 8 MiB. [fbtrace_id A6LJylpZRKw2xKLFsAP-cJh]",
      tostring(e))
  end)

  it("scrubs secrets from messages", function()
    local e = errors.graph(400, { message = "Malformed access token EAABsecret123", code = 190 }, nil, { "EAABsecret123" })
    assert.equal("Malformed access token [redacted]", e.message)
    assert.not_matches("EAABsecret123", tostring(e))
    assert.equal("x [redacted] y [redacted]", errors.scrub("x abcd y abcd", { "abcd" }))
    assert.equal("ab", errors.scrub("ab", { "ab" })) -- secrets shorter than 4 are not looked for
  end)

  it("builds transport, timeout, http and decode errors", function()
    local t = errors.transport("connect", "refused")
    assert.equal("transport", t.kind)
    assert.equal("connect", t.reason)
    assert.is_true(t.is_transient)
    assert.equal("timeout", errors.transport("timeout", "slow").kind)
    assert.is_false(errors.transport("tls", "bad cert").is_transient)
    local h = errors.http(502, "<html>bad gateway</html>")
    assert.equal("http", h.kind)
    assert.is_true(h.is_transient)
    assert.matches("HTTP 502", tostring(h))
    local d = errors.decode(200, ("x"):rep(1000), "bad")
    assert.equal("decode", d.kind)
    assert.is_true(#d.body < 400)
    assert.is_false(errors.is_error({}))
  end)
  it("formats any server value without raising (finding 8)", function()
    local weird = { { a = { 1, 2 } }, true, false, 42, 1.5, 0 / 0, math.huge, "", setmetatable({}, {
      __tostring = function() error("boom") end }) }
    for _, v in ipairs(weird) do
      local e = errors.graph(400, { message = v, type = v, code = v, error_subcode = v, fbtrace_id = v,
        error_user_title = v, error_user_msg = v, is_transient = v })
      local ok, text = pcall(tostring, e)
      assert.is_true(ok, text)
      assert.matches("^instagram: Graph API error", text)
      for _, k in ipairs{ "message", "type", "fbtrace_id", "user_title", "user_msg" } do
        assert.is_true(e[k] == nil or type(e[k]) == "string", k .. " is a " .. type(e[k]))
      end
      local f = errors.graph(400, { error_type = v, error_message = v })
      assert.is_true((pcall(tostring, f)))
      local d = errors.debug_info(400, { type = v, message = v, retriable = v })
      assert.is_true((pcall(tostring, d)))
      assert.is_true((pcall(tostring, errors.transport(v, v))))
      assert.is_true((pcall(tostring, errors.http(502, v))))
    end
    assert.equal('instagram: Graph API error (OAuthException): {"a":[1,2]}',
      tostring(errors.graph(400, { message = { a = { 1, 2 } }, type = "OAuthException" })))
    -- an error object made by hand, with fields of any type, prints too
    assert.is_true((pcall(tostring, errors.new{ kind = {}, reason = 1, status = {}, message = false })))
    assert.is_true((pcall(tostring, errors.new{})))
  end)
end)
