require "spec.helper"
local params = require "instagram.params"

describe("instagram.params", function()
  it("encodes sorted, percent-encoded pairs", function()
    assert.equal("a=1&b=x%20y&c=true&d=false", params.encode{ d = false, c = true, b = "x y", a = 1 })
    assert.equal("", params.encode(nil))
    assert.equal("", params.encode{})
  end)

  it("JSON-encodes complex parameters, exactly", function()
    assert.equal("user_tags=%5B%7B%22username%22%3A%22natgeo%22%2C%22x%22%3A0.5%2C%22y%22%3A1%7D%5D",
      params.encode{ user_tags = { { username = "natgeo", x = 0.5, y = 1 } } })
    assert.equal("product_id=3231775643511089", params.encode{ product_id = 3231775643511089 })
    assert.equal("since=1793534400", params.encode{ since = 1793534400.0 })
  end)

  it("raises on values that cannot be parameters, naming the key", function()
    assert.has_error(function() params.encode{ f = print } end,
      "parameter 'f' has a function value; use a string, number, boolean or table")
    assert.has_error(function() params.encode{ n = 0 / 0 } end)
    assert.has_error(function() params.encode{ [1] = "x" } end)
    assert.has_error(function() params.encode("a=b") end)
  end)

  it("decodes query strings", function()
    local t = params.decode("a=1&b=x%20y&c=&d&e=a+b")
    assert.same({ a = "1", b = "x y", c = "", d = "", e = "a b" }, t)
    assert.same({}, params.decode(""))
    assert.same({}, params.decode(nil))
  end)
end)
