require "spec.helper"
local json = require "instagram.json"

describe("instagram.json", function()
  it("decodes integral numbers as integers on Lua 5.4 (cjson gives floats)", function()
    local v = json.decode('{"n":42,"big":3231775643511089,"f":0.80000001192093,"neg":-7,"list":[1,2.5]}')
    assert.equal(42, v.n)
    if math.type then
      assert.equal("integer", math.type(v.n))
      assert.equal("integer", math.type(v.big))
      assert.equal("integer", math.type(v.list[1]))
      assert.equal("float", math.type(v.list[2]))
      assert.equal("3231775643511089", tostring(v.big))
    end
    assert.equal(3231775643511089, v.big)
    assert.equal(0.80000001192093, v.f)
  end)

  it("encodes a 16-digit id read from a response digit for digit", function()
    local v = json.decode('{"product_id":3231775643511089,"merchant_id":7478222675582505}')
    assert.equal('{"merchant_id":7478222675582505,"product_id":3231775643511089}', json.encode(v))
  end)

  it("encodes floats with the fewest digits that read back the same", function()
    assert.equal("0.5", json.encode(0.5))
    assert.equal("0.80000001192093", json.encode(0.80000001192093))
    assert.equal("0.1", json.encode(0.1))
    assert.equal("1e+300", json.encode(1e300))
    assert.equal(2 / 3, json.decode(json.encode(2 / 3)))
    assert.equal("-3", json.encode(-3.0))
    if math.type then -- 5.4 integers beyond 2^53 stay exact
      assert.equal("9007199254740993", json.encode(math.tointeger(9007199254740992) + 1))
    end
  end)

  it("encodes lists as arrays and maps as objects with sorted keys", function()
    assert.equal('[1,"two",true,null]', json.encode{ 1, "two", true, json.null })
    assert.equal('{"a":{"b":[{"username":"natgeo","x":0.5,"y":1}]},"z":false}',
      json.encode{ z = false, a = { b = { { username = "natgeo", x = 0.5, y = 1.0 } } } })
    assert.equal("{}", json.encode{})
    assert.equal("[]", json.encode(json.array()))
    assert.equal("{}", json.encode(json.object()))
    assert.equal('{"1":"a","3":"c"}', json.encode{ [1] = "a", [3] = "c" })
    assert.equal('"caf\195\169 \\"q\\" \\n"', json.encode('caf\195\169 "q" \n'))
  end)

  it("fails cleanly on what JSON cannot carry", function()
    assert.is_nil((json.encode(0 / 0)))
    assert.is_nil((json.encode(math.huge)))
    assert.is_nil((json.encode{ f = print }))
    assert.is_nil((json.encode{ [true] = 1 }))
    local cyc = {}
    cyc.self = cyc
    local ok, err = json.encode(cyc)
    assert.is_nil(ok)
    assert.matches("deeper", err)
  end)

  it("returns nil and a message for bad JSON text", function()
    local v, err = json.decode("{not json")
    assert.is_nil(v)
    assert.is_string(err)
    assert.is_nil((json.decode(42)))
    assert.equal(json.null, json.decode("null"))
  end)
end)
