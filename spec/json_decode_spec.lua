-- The C core's JSON decoder (src/json.c, core.json_decode) and instagram.json.decode on top of it,
-- rule by rule, on every runtime (issue #13). Needs no emulator: the paths are set as in
-- spec/helper.lua.
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path

local core = require "instagram.core"
local json = require "instagram.json"
local cjson = require "cjson"

-- core.json_decode(text, { max_depth =, array_mt = }), called as decode(text, max_depth, array_mt)
local function decode(text, max_depth, array_mt)
  if max_depth == nil and array_mt == nil then return core.json_decode(text) end
  return core.json_decode(text, { max_depth = max_depth, array_mt = array_mt })
end
local INT64 = math.type ~= nil -- Lua 5.3+: integers are int64
local mt = json.array_mt

local function nested(n, open, close) return (open or "["):rep(n) .. (close or "]"):rep(n) end
local function objects(n) return ('{"a":'):rep(n - 1) .. "{}" .. ("}"):rep(n - 1) end

local finalizable = require "support.finalizable"

-- Decodes text three times while finalizers that collect (and decode inner) run in the middle of
-- it; check(value) each time.
local function under_collection(text, inner, check)
  for _ = 1, 3 do
    local function again() collectgarbage(); core.json_decode(inner) end
    for _ = 1, 50 do finalizable(again) end
    check(decode(text))
  end
end

-- decode must answer nil, message (never raise) and the message must be exactly this.
local function refused(text, message)
  local ok, v, err = pcall(decode, text)
  assert.is_true(ok, ("%q raised: %s"):format(text, tostring(v)))
  assert.is_nil(v, ("%q was accepted"):format(text))
  if message then assert.equal(message, err, ("%q"):format(text)) else assert.is_string(err) end
  return err
end

local function kind(v)
  if type(v) == "number" and math.type then return math.type(v) end
  return type(v)
end

describe("core.json_decode: values", function()
  it("decodes objects, arrays and every scalar, at the top level too", function()
    assert.same({ a = 1, b = { 1, 2, 3 }, c = "x", d = true, e = false },
      decode('{"a":1,"b":[1,2,3],"c":"x","d":true,"e":false}'))
    assert.same({ { {} }, { x = { y = {} } } }, decode('[[[]],{"x":{"y":{}}}]'))
    assert.equal(1, decode("1"))
    assert.equal(-1.5, decode("-1.5"))
    assert.equal("s", decode('"s"'))
    assert.equal("", decode('""'))
    assert.is_true(decode("true"))
    assert.is_false(decode("false"))
    assert.equal(cjson.null, decode("null"))
  end)

  it("gives null as the light userdata NULL: cjson.null and json.null", function()
    local v = decode('{"a":null,"b":[null,1]}')
    assert.equal(cjson.null, v.a)
    assert.is_true(v.a == require("cjson").null)
    assert.equal(json.null, v.b[1])
    assert.equal("userdata", type(v.a))
    assert.equal(2, #v.b)
  end)

  it("marks empty arrays with array_mt (so they encode as []), and nothing else", function()
    local v = decode('{"e":[],"n":[1],"o":{},"d":[[],{}]}', nil, mt)
    assert.equal(mt, getmetatable(v.e))
    assert.equal(mt, getmetatable(v.d[1]))
    assert.is_nil(getmetatable(v.n))
    assert.is_nil(getmetatable(v.o))
    assert.is_nil(getmetatable(v.d[2]))
    assert.is_nil(getmetatable(v))
    assert.equal(mt, getmetatable(decode("[ ]", nil, mt)))
    assert.is_nil(getmetatable(decode("[]"))) -- no array_mt given: a plain table
    assert.equal('{"d":[[],{}],"e":[],"n":[1],"o":{}}', json.encode(v))
  end)

  it("keeps the last of duplicate keys (as cjson), in small and large objects", function()
    assert.same({ a = 3, b = 2 }, decode('{"a":1,"b":2,"a":3}'))
    local parts = {}
    for i = 1, 3000 do parts[#parts + 1] = ('"k%d":%d'):format(i % 1000, i) end -- each key 3 times
    local v = decode("{" .. table.concat(parts, ",") .. "}")
    for i = 2001, 3000 do assert.equal(i, v["k" .. (i % 1000)]) end
  end)

  it("takes RFC 8259 whitespace only", function()
    assert.same({ 1, 2 }, decode(" \t\r\n[ 1 ,\n2 ]\r\n\t "))
    assert.same({ a = 1 }, decode('{ "a" : 1 }'))
    refused("\f1", "expected a value at byte 1")
    refused("\v1", "expected a value at byte 1")
    refused("[1,\194\160 2]", "expected a value at byte 4") -- U+00A0
    refused("1\0", "expected the end of the text at byte 2")
  end)

  it("refuses an empty text, trailing content and unknown words", function()
    refused("", "expected a value at byte 1 (the end of the text)")
    refused("   ", "expected a value at byte 4 (the end of the text)")
    refused("1 2", "expected the end of the text at byte 3")
    refused("[1]x", "expected the end of the text at byte 4")
    refused("{} {}", "expected the end of the text at byte 4")
    refused("truex", "expected the end of the text at byte 5")
    refused("nul", "expected a value at byte 1")
    refused("tru", "expected a value at byte 1")
    refused("[True]", "expected a value at byte 2")
    refused("undefined", "expected a value at byte 1")
    refused("'a'", "expected a value at byte 1")
  end)
end)

describe("core.json_decode: objects after objects (sized from the one before)", function()
  it("reads each object whole, whatever the one before it held", function()
    local big = {}
    for i = 1, 300 do big[i] = ('"k%d":%d'):format(i, i) end
    local text = '[{"a":1,"b":2,"c":3},{"x":1},{"a":1,"a":2},{' .. table.concat(big, ",") .. '},{"y":{"z":[]}},{},'
      .. '{"d":{"e":1,"f":2}},{"d":{"g":3}}]'
    local v = decode(text, nil, mt)
    assert.same({ a = 1, b = 2, c = 3 }, v[1])
    assert.same({ x = 1 }, v[2])
    assert.same({ a = 2 }, v[3])
    local n = 0
    for k, x in pairs(v[4]) do n = n + 1; assert.equal(tonumber(k:sub(2)), x) end
    assert.equal(300, n)
    assert.same({ y = { z = setmetatable({}, mt) } }, v[5])
    assert.same({}, v[6])
    assert.same({ d = { e = 1, f = 2 } }, v[7])
    assert.same({ d = { g = 3 } }, v[8])
  end)
end)

describe("core.json_decode: keys kept from object to object (by depth and place)", function()
  -- Every object after the first at a depth takes its keys from the ones kept at the same place
  -- when the bytes match: whatever changes from one object to the next, each reads whole.
  local function same_as_cjson(text)
    local want = cjson.decode(text)
    assert.same(want, decode(text), text)
  end

  it("reads the same keys, other keys, keys in another order, fewer and more keys", function()
    same_as_cjson('[{"a":1,"b":2},{"a":3,"b":4},{"b":5,"a":6},{"a":7},{"a":8,"b":9,"c":10},{"ab":1,"b":2},'
      .. '{"":1,"b":2},{"a":1,"bb":2},{"b":3,"a":4}]')
  end)

  it("reads keys with escapes, long keys, digit keys and keys that only share a prefix", function()
    local long = ("k"):rep(64)
    local longer = ("k"):rep(65)
    local text = ('[{"a\\u0062":1,"%s":2,"%s":3,"12345678901234567890":4,"x\\"y":5},'):format(long, longer)
      .. ('{"ab":1,"%s":2,"%s":3,"12345678901234567890":4,"x\\"y":5},'):format(long, longer)
      .. ('{"a\\u0062":1,"%sk":2,"%s":3,"12345678901234567891":4,"x\\"y":5},'):format(long, longer:sub(2))
      .. ('{"ab":1,"%s":2,"%s":3,"1234567890123456789":4,"x\\"y":5}]'):format(long, longer)
    same_as_cjson(text)
  end)

  it("reads objects with more keys than it keeps, deeper than it keeps, and duplicate keys", function()
    local wide = {}
    for i = 1, 40 do wide[i] = ('"key%d":%d'):format(i, i) end
    local obj = "{" .. table.concat(wide, ",") .. "}"
    same_as_cjson("[" .. obj .. "," .. obj .. "," .. obj .. "]")
    local deep = objects(12)
    same_as_cjson("[" .. deep .. "," .. deep .. "," .. deep .. "]")
    same_as_cjson('[{"a":1,"a":2},{"a":3,"a":4},{"a":5,"b":6,"a":7}]')
  end)

  it("keeps every place of 8 depths x 32 keys (far more than its 64 slots) and changes of each", function()
    local function level(d, tag)
      if d > 9 then return "0" end
      local parts = {}
      for i = 1, 32 do
        local k = ("k%d_%d%s"):format(d, i, (tag and i % 7 == d % 7) and tag or "")
        parts[i] = ('"%s":%s'):format(k, i == 16 and level(d + 1, tag) or tostring(i))
      end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    same_as_cjson("[" .. level(1) .. "," .. level(1) .. "," .. level(1, "x") .. "," .. level(1) .. ","
      .. level(1, "yy") .. "]")
  end)

  it("keeps the kept keys alive through a full collection in the middle of a decode", function()
    -- a __gc that collects (and decodes) runs while keys are kept: no key comes back wrong
    local items = {}
    for i = 1, 200 do items[i] = ('{"id":"%d","name":"n%d","nested":{"id":"%d","name":"m"}}'):format(i, i, i) end
    under_collection("[" .. table.concat(items, ",") .. "]", '{"id":1,"x":[{"id":2},{"id":3}]}', function(v)
      for i = 1, 200 do
        assert.equal(tostring(i), v[i].id)
        assert.equal("n" .. i, v[i].name)
        assert.same({ id = tostring(i), name = "m" }, v[i].nested)
      end
    end)
  end)
end)

describe("core.json_decode: decodes that finalizers run inside decodes", function()
  it("answers each, and refuses one nested more than 8 deep on LuaJIT (whose C stack has no other bound)", function()
    -- every finalizer plants another, lets the collector run again (LuaJIT holds it during a
    -- finalizer) and decodes: finalizers and their decodes nest as the collector goes; each decode
    -- is checked at the level it ran (1: inside no other decode). The outermost decodes a large
    -- document, so that collection cycles end inside it however large the heap the suite left.
    local MSG = "JSON decodes nested more than 8 deep (finalizers that decode during a decode)"
    local function items(n) return "[" .. ('{"a":"x","b":1},'):rep(n - 1) .. '{"a":"x","b":1}]' end
    local doc, big = items(61), items(4000)
    local level, depth, inside, bad, on, runs = 0, 0, 0, {}, true, 0
    local function check(n, ok, v, e)
      if level > 8 and jit then
        if not (ok and v == nil and e == MSG) then bad[#bad + 1] = ("level %d: %s %s"):format(level, tostring(v), tostring(e)) end
      elseif ok and v then
        if #v ~= n or v[n].a ~= "x" then bad[#bad + 1] = "a wrong value at level " .. level end
        if level > 1 then inside = inside + 1 end
      elseif jit or ok then -- (Lua 5.4 may raise "C stack overflow" itself)
        bad[#bad + 1] = ("level %d refused: %s"):format(level, tostring(e or v))
      end
    end
    local function plant()
      finalizable(function()
        runs = runs + 1
        if not on or depth >= 30 or runs > 300 then return end
        plant()
        depth = depth + 1
        collectgarbage("restart")
        level = level + 1
        check(61, pcall(core.json_decode, doc))
        level = level - 1
        depth = depth - 1
      end)
    end
    collectgarbage("restart") -- (whatever an earlier spec left)
    plant()
    if jit then collectgarbage("setpause", 1); collectgarbage("setstepmul", 5000)
    else collectgarbage("incremental", 1, 1000, 10) end -- a cycle every few kilobytes
    for _ = 1, jit and 20 or 3 do -- (Lua 5.4.4 runs no collection inside a finalizer: nothing nests)
      level = 1
      check(4000, pcall(core.json_decode, big))
      level = 0
      if runs > 300 then runs = 0; plant() end -- a new chain of finalizers
    end
    on = false
    if jit then collectgarbage("setpause", 200); collectgarbage("setstepmul", 200)
    else collectgarbage("incremental", 200, 100, 13) end
    collectgarbage()
    assert.same({}, bad)
    if jit then assert.is_true(inside > 0, "no decode ran inside another") end
  end)
end)

describe("core.json_decode: string values kept from object to object (by depth and place)", function()
  -- The short string value at a kept key's place is kept too, until two in a row differ from it:
  -- whatever the values do from one object to the next, each reads whole.
  local function same_as_cjson(text)
    assert.same(cjson.decode(text), decode(text), text)
  end

  it("reads repeated, changing, alternating and unique values at each place", function()
    local items = {}
    local kinds = { "IMAGE", "IMAGE", "VIDEO", "IMAGE", "IMAGE", "CAROUSEL_ALBUM", "VIDEO", "IMAGE" }
    for i = 1, 40 do
      items[i] = ('{"id":"1791819522%07d","media_type":"%s","product":"FEED","flag":"%s","n":%d}')
        :format(i, kinds[i % #kinds + 1], i % 2 == 0 and "a" or "b", i)
    end
    same_as_cjson("[" .. table.concat(items, ",") .. "]")
  end)

  it("reads values that only share a prefix or differ in length, empty ones, escaped and long ones", function()
    local long, longer = ("v"):rep(32), ("v"):rep(33)
    same_as_cjson(('[{"a":"x","b":"%s","c":"","d":"ab"},{"a":"xy","b":"%s","c":"","d":"a"},'
      .. '{"a":"x","b":"%s","c":"\\u0041","d":"ab"},{"a":"x\\\"","b":"%sv","c":"A","d":"ab"},'
      .. '{"a":"x","b":"%s","c":"","d":"ab\\n"},{"a":"x","b":"%s","c":"","d":"ab"}]')
      :format(long, longer, long, long, long, long))
  end)

  it("reads values at more places than it has slots (64: the keys take them first)", function()
    local function obj(tag)
      local parts = {}
      for i = 1, 48 do parts[i] = ('"k%d":"v%d%s"'):format(i, i, (tag and i % 5 == 0) and tag or "") end
      parts[49] = '"in":{' .. table.concat(parts, ",", 1, 30):gsub('"k', '"j') .. "}"
      return "{" .. table.concat(parts, ",") .. "}"
    end
    same_as_cjson("[" .. obj() .. "," .. obj() .. "," .. obj("x") .. "," .. obj() .. "," .. obj() .. "]")
  end)

  it("reads a value of another type at a place that kept a string, and a string after one", function()
    same_as_cjson('[{"a":"s","b":1},{"a":"s","b":2},{"a":1,"b":"s"},{"a":"s","b":"s"},{"a":null,"b":[]},'
      .. '{"a":"s","b":{"c":"s"}},{"a":{"x":"s"},"b":"s"},{"a":true,"b":"s"},{"a":"s","b":"s"}]')
  end)

  it("records digit strings kept at a place as strings for the encoder, each time they are read", function()
    local text = '[{"id":"12345678901234567890"},{"id":"12345678901234567890"},{"id":"12345678901234567890"}]'
    local v = json.decode(text)
    for i = 1, 3 do assert.equal("12345678901234567890", v[i].id) end
    assert.equal('{"id":"12345678901234567890"}', json.encode(v[3]))
  end)

  it("keeps the kept values alive through a full collection in the middle of a decode", function()
    local items = {}
    for i = 1, 200 do items[i] = ('{"t":"%s","u":"user%d","v":"VIDEO"}'):format(i % 3 == 0 and "A" or "B", i % 5) end
    under_collection("[" .. table.concat(items, ",") .. "]", '[{"t":"x"},{"t":"x"},{"t":"y"}]', function(v)
      for i = 1, 200 do
        assert.equal(i % 3 == 0 and "A" or "B", v[i].t)
        assert.equal("user" .. i % 5, v[i].u)
        assert.equal("VIDEO", v[i].v)
      end
    end)
  end)
end)

describe("core.json_decode: numbers", function()
  it("keeps 17- and 19-digit integers exact (5.4: integers; LuaJIT: strings beyond 2^53)", function()
    local v = decode('[9007199254740992,9007199254740993,17841405822304915,1234567890123456789,'
      .. '-9223372036854775808,9223372036854775807,9223372036854775808,-9223372036854775809,'
      .. '-9007199254740992,-9007199254740993,12345678901234567890123]')
    assert.equal(11, #v)
    if INT64 then
      assert.equal(math.tointeger(2 ^ 53), v[1])
      assert.equal(math.tointeger(2 ^ 53) + 1, v[2])
      assert.equal("integer", math.type(v[2]))
      assert.equal("9007199254740993", tostring(v[2]))
      assert.equal("17841405822304915", tostring(v[3]))
      assert.equal("1234567890123456789", tostring(v[4]))
      assert.equal(math.mininteger, v[5])
      assert.equal(math.maxinteger, v[6])
      assert.equal("9223372036854775808", v[7]) -- past int64: the digits
      assert.equal("-9223372036854775809", v[8])
      assert.equal("integer", math.type(v[9]))
      assert.equal("-9007199254740993", tostring(v[10]))
    else
      assert.equal(2 ^ 53, v[1])
      assert.equal("number", type(v[1]))
      assert.equal("9007199254740993", v[2]) -- past 2^53: the digits, never a rounded number
      assert.equal("17841405822304915", v[3])
      assert.equal("1234567890123456789", v[4])
      assert.equal("-9223372036854775808", v[5])
      assert.equal("9223372036854775807", v[6])
      assert.equal("9223372036854775808", v[7])
      assert.equal("-9223372036854775809", v[8])
      assert.equal(-2 ^ 53, v[9])
      assert.equal("-9007199254740993", v[10])
    end
    assert.equal("12345678901234567890123", v[11])
    assert.equal(("7"):rep(5000), decode(("7"):rep(5000)))
  end)

  it("decodes small integers as integers and -0 as the integer 0; -0.0 is the float -0.0", function()
    local v = decode("[0,-0,1,-1,42,1000000]")
    assert.same({ 0, 0, 1, -1, 42, 1000000 }, v)
    for i = 1, #v do assert.equal(INT64 and "integer" or "number", kind(v[i])) end
    assert.equal(math.huge, 1 / v[2]) -- not a negative zero
    local z = decode("-0.0")
    assert.equal(-math.huge, 1 / z)
    assert.equal(-math.huge, 1 / decode("-0e0"))
  end)

  it("decodes a fraction or an exponent as a float, correctly rounded", function()
    assert.equal(INT64 and "float" or "number", kind(decode("1.0")))
    assert.equal(INT64 and "float" or "number", kind(decode("1e2")))
    assert.equal(100, decode("1E+2"))
    assert.equal(0.01, decode("1e-2"))
    for _, lit in ipairs{ "0.1", "0.80000001192093", "1e23", "8.41e21", "2.2250738585072011e-308",
                          "1.7976931348623157e308", "4.9406564584124654e-324", "5e-324", "123456.789e-3",
                          "9007199254740993.0", "3.141592653589793238462643383279", "-2.5e-5" } do
      assert.equal(tonumber(lit), decode(lit), lit)
    end
    assert.equal(2 ^ 53, decode("9007199254740993.0")) -- the tie rounds to even
    -- 1 + 2^-53 exactly is a tie (to 1.0); anything above it rounds up, however far away the
    -- deciding digit is (a long number: copied into a userdata for strtod)
    local half = "1.00000000000000011102230246251565404236316680908203125"
    assert.equal(1.0, decode(half))
    assert.equal(1 + 2 ^ -52, decode(half .. ("0"):rep(200) .. "1"))
    assert.equal(1.0, decode(half .. ("0"):rep(200)))
    assert.equal(0, decode("1e-400")) -- underflow: 0, as strtod
    assert.equal(0.5, decode("0." .. "5" .. ("0"):rep(100000)))
  end)

  it("refuses NaN, Infinity, hex, '+', leading zeros, bare '.' or 'e', and infinities", function()
    refused("NaN", "expected a value at byte 1")
    refused("[Infinity]", "expected a value at byte 2")
    refused("-Infinity", "invalid number at byte 1")
    refused("[-nan]", "invalid number at byte 2")
    refused("+1", "expected a value at byte 1")
    refused("[0x10]", "expected ',' or ']' at byte 3")
    refused("01", "invalid number (leading zero) at byte 1")
    refused("-01", "invalid number (leading zero) at byte 1")
    refused("[00]", "invalid number (leading zero) at byte 2")
    refused("-", "invalid number at byte 1")
    refused("- 1", "invalid number at byte 1")
    refused(".5", "expected a value at byte 1")
    refused("1.", "invalid number (no digit after '.') at byte 1")
    refused("1.e5", "invalid number (no digit after '.') at byte 1")
    refused("1e", "invalid number (no digit in the exponent) at byte 1")
    refused("1e+", "invalid number (no digit in the exponent) at byte 1")
    refused("[1,2,3e]", "invalid number (no digit in the exponent) at byte 6")
    refused("1.5.5", "expected the end of the text at byte 4")
    refused("1e5e5", "expected the end of the text at byte 4")
    refused("[1e999]", "number out of range at byte 2")
    refused('{"a":-1e999}', "number out of range at byte 6")
    refused("1E400", "number out of range at byte 1")
    refused(("9"):rep(400) .. ".0", "number out of range at byte 1")
    refused("[1.8e308]", "number out of range at byte 2")
    assert.equal(1.7976931348623157e308, decode("1.7976931348623157e308"))
  end)

  -- strtod reads the C library's locale, which a host program may have set (LC_NUMERIC=de_DE:
  -- "1,5"). Run in a child process with such a locale: made by localedef when none is installed
  -- (Debian: the locales package).
  -- Two locales: a decimal comma (de_DE), and a decimal point of two bytes (ps_AF: U+066B).
  for _, case in ipairs{ { "de_DE", { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE" }, "1,5" },
                         { "ps_AF", { "ps_AF.UTF-8", "ps_AF.utf8" }, "1\217\1715" } } do
    local source, names, printed = case[1], case[2], case[3]
    it("reads '.' as the decimal point whatever the locale (" .. source .. ")", function()
      local lua = jit and "luajit" or _VERSION == "Lua 5.1" and "lua5.1" or "lua5.4"
      local locpath = ""
      local have = false
      for _, name in ipairs(names) do
        if os.setlocale(name, "numeric") then have = name break end
      end
      os.setlocale("C", "numeric")
      if not have then
        local dir = os.tmpname()
        os.remove(dir)
        if os.execute("command -v localedef >/dev/null 2>&1 && [ -e /usr/share/i18n/locales/" .. source .. " ] && mkdir -p "
                      .. dir .. " && localedef -i " .. source .. " -f UTF-8 " .. dir .. "/" .. source
                      .. ".UTF-8 >/dev/null 2>&1") then
          have, locpath = source .. ".UTF-8", "LOCPATH=" .. dir .. " "
        end
      end
      assert(have, "no " .. source .. " locale and no localedef to make one: install Debian's `locales` (make test-deps)")
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(("package.cpath = %q .. package.cpath\n"):format(build .. "/?.so;"),
        "local core = require 'instagram.core'\n",
        ("assert(os.setlocale(%q, 'numeric'))\n"):format(have),
        ("if _VERSION == 'Lua 5.4' then assert(tostring(1.5) == %q, 'not the locale: ' .. tostring(1.5)) end\n")
          :format(printed),
        "local v = assert(core.json_decode('[1.5,-0.25e1,1e2,' .. ('1'):rep(80) .. '.5e-79,' .. ('2'):rep(90) .. '.25]'))\n",
        "assert(v[1] == 1.5 and v[2] == -2.5 and v[3] == 100 and v[4] > 1.11 and v[4] < 1.12 and v[5] > 2.2e89)\n",
        "print('ok')\n")
      f:close()
      local p = io.popen(locpath .. lua .. " " .. script .. " 2>&1")
      local out = p:read("*a")
      p:close()
      os.remove(script)
      assert.equal("ok\n", out)
    end)
  end
end)

describe("core.json_decode: strings", function()
  it("decodes every escape", function()
    assert.equal('"\\/\b\f\n\r\t', decode([["\"\\\/\b\f\n\r\t"]]))
    assert.equal("A\195\169\226\130\172", decode([["\u0041\u00e9\u20AC"]]))
    assert.equal("\240\159\152\128", decode([["\ud83d\ude00"]])) -- a surrogate pair: one code point
    assert.equal("\244\143\191\191", decode([["\uDBFF\uDFFF"]]))
    assert.equal("x\240\144\128\128y", decode([["x\uD800\uDC00y"]]))
    assert.same({ ["k\n\195\169"] = "v" }, decode([[{"k\n\u00e9":"v"}]]))
  end)

  it("keeps an escaped NUL (\\u0000) inside strings and keys", function()
    local s = decode([["a\u0000b"]])
    assert.equal(3, #s)
    assert.equal("a\0b", s)
    assert.equal(1, decode([[{"\u0000":1}]])["\0"])
  end)

  it("turns a lone surrogate into U+FFFD", function()
    local R = "\239\191\189"
    assert.equal(R, decode([["\ud800"]]))
    assert.equal(R, decode([["\udc00"]]))
    assert.equal("a" .. R .. "b", decode([["a\uD800b"]]))
    assert.equal(R .. "A", decode([["\ud800\u0041"]])) -- a high one, then a non-surrogate
    assert.equal(R .. R, decode([["\ud800\ud800"]]))
    assert.equal(R .. "\240\159\152\128", decode([["\ud800\ud83d\ude00"]]))
    assert.equal(R .. R, decode([["\ude00\ud83d"]])) -- the wrong order
    assert.equal(R .. "\\u", decode([["\ud800\\u"]]))
    refused([["\ud800\u00"]], "invalid \\u escape at byte 8")
  end)

  it("passes bytes that are not UTF-8 through as they are (as cjson)", function()
    assert.equal("\255\254\192\128\237\160\128", decode('"\255\254\192\128\237\160\128"'))
    assert.equal("caf\195", decode('"caf\195"'))
    assert.equal("\127", decode('"\127"'))
  end)

  it("refuses raw control characters, bad escapes and unterminated strings", function()
    refused('"a\1"', "control character in a string at byte 3")
    refused('"a\tb"', "control character in a string at byte 3")
    refused('["x","\n"]', "control character in a string at byte 7")
    refused('"a\0"', "control character in a string at byte 3")
    refused('"\\u00e9\31"', "control character in a string at byte 8")
    refused('"abc', "unterminated string at byte 1")
    refused('["a\\', "unterminated string at byte 2")
    refused('["a\\"]', "unterminated string at byte 2")
    refused('"\\u00e9', "unterminated string at byte 1")
    refused('"a\\qb"', "invalid escape at byte 3")
    refused('"\\x41"', "invalid escape at byte 2")
    refused('"\\U0041"', "invalid escape at byte 2")
    refused('"\\u12"', "invalid \\u escape at byte 2")
    refused('"\\u12g4"', "invalid \\u escape at byte 2")
    refused('"\\u', "invalid \\u escape at byte 2")
    refused("'a'", "expected a value at byte 1")
  end)

  it("finds the end, an escape or a bad byte at every position (the 16- and 8-byte scans)", function()
    for len = 0, 40 do
      for pos = 1, len + 1 do
        local a, b = ("a\195\169x"):rep(14):sub(1, pos - 1), ("b"):rep(len - pos + 1)
        assert.equal(a .. b, decode('"' .. a .. b .. '"'))
        assert.equal(a .. "\n" .. b, decode('"' .. a .. "\\n" .. b .. '"'))
        assert.equal(a .. '"' .. b, decode('"' .. a .. '\\"' .. b .. '"'))
        assert.equal(a .. " \127\128\255" .. b, decode('"' .. a .. " \127\128\255" .. b .. '"'))
        for _, bad in ipairs{ "\0", "\1", "\31" } do
          refused('"' .. a .. bad .. b .. '"', "control character in a string at byte " .. (#a + 2))
        end
        assert.same({ a, b }, decode('["' .. a .. '","' .. b .. '"]'))
      end
    end
  end)

  it("pushes long strings, with and without escapes", function()
    local s = ("abc\195\169"):rep(100000)
    assert.equal(s, decode('"' .. s .. '"'))
    assert.equal(s .. "\n" .. s, decode('"' .. s .. "\\n" .. s .. '"'))
  end)
end)

describe("core.json_decode: structure errors name the problem and the byte", function()
  it("says what it expected and where", function()
    refused('{"a":1 "b":2}', "expected ',' or '}' at byte 8")
    refused("[1 2]", "expected ',' or ']' at byte 4")
    refused('{"a" 1}', "expected ':' at byte 6")
    refused("{1:2}", "expected a string (an object key) at byte 2")
    refused('{"a":1,}', "expected a string (an object key) at byte 8")
    refused("{'a':1}", "expected a string (an object key) at byte 2")
    refused("[1,]", "expected a value at byte 4")
    refused("[,1]", "expected a value at byte 2")
    refused("[", "expected a value at byte 2 (the end of the text)")
    refused("[1", "expected ',' or ']' at byte 3 (the end of the text)")
    refused('{"a":1', "expected ',' or '}' at byte 7 (the end of the text)")
    refused('{"a"', "expected ':' at byte 5 (the end of the text)")
    refused('{"a":', "expected a value at byte 6 (the end of the text)")
    refused("]", "expected a value at byte 1")
    refused('{"a":1}}', "expected the end of the text at byte 8")
  end)

  it("counts the offset in bytes deep inside a long text", function()
    local items = {}
    for i = 1, 200 do items[i] = ('{"id":"%d","caption":"caf\195\169 \\u00e9"}'):format(i) end
    local good = '{"data":[' .. table.concat(items, ",") .. "]}"
    assert.equal(200, #decode(good).data)
    local text = good:sub(1, -3) .. ' "x"]}'
    local at = #good -- where the '"' of "x" stands: after the last object and a space
    refused(text, "expected ',' or ']' at byte " .. at)
  end)

  it("takes nesting up to 512 levels and refuses 513 (arrays and objects)", function()
    assert.is_table(decode(nested(512)))
    assert.is_table(decode(objects(512)))
    refused(nested(513), "JSON nested deeper than 512 levels at byte 513")
    refused(objects(513), "JSON nested deeper than 512 levels at byte 2561")
    refused(nested(100000), "JSON nested deeper than 512 levels at byte 513")
    refused(("["):rep(100000), "JSON nested deeper than 512 levels at byte 513")
    refused(('{"a":['):rep(300), "JSON nested deeper than 512 levels at byte 1537")
    local v = decode(nested(512))
    for _ = 1, 511 do v = v[1] end
    assert.same({}, v)
  end)

  it("takes max_depth, and checks its arguments (misuse raises)", function()
    assert.is_table(decode(nested(3), 3))
    assert.equal("JSON nested deeper than 3 levels at byte 4", select(2, decode(nested(4), 3)))
    assert.equal(7, decode("7", 1))
    assert.is_table(decode(nested(1000), 1000))
    assert.is_nil((decode(nested(1001), 1000)))
    local function raises(message, ...)
      local args, n = { ... }, select("#", ...)
      assert.has_error(function() core.json_decode((table.unpack or unpack)(args, 1, n)) end, message)
    end
    raises("bad argument #1 to 'json_decode' (string expected, got nil)", nil)
    raises("bad argument #1 to 'json_decode' (string expected, got table)", {})
    raises("bad argument #2 to 'json_decode' (table expected, got number)", "[]", 5)
    raises("opts.max_depth must be a whole number from 1 to 1000", "[]", { max_depth = 0 })
    raises("opts.max_depth must be a whole number from 1 to 1000", "[]", { max_depth = 1001 })
    raises("opts.max_depth must be a whole number from 1 to 1000", "[]", { max_depth = "x" })
    raises("opts.max_depth must be a whole number from 1 to 1000", "[]", { max_depth = 1.5 })
    raises("opts.max_depth must be a whole number from 1 to 1000", "[]", { max_depth = 0 / 0 })
    raises("opts.array_mt must be a table", "[]", { array_mt = "mt" })
    raises("opts.numbers must be a table", "[]", { numbers = true })
    -- read raw: an __index on opts is not consulted
    local sneaky = setmetatable({}, { __index = function() error("__index ran") end })
    assert.same({}, core.json_decode("[]", sneaky))
  end)
end)

describe("core.json_decode: size and memory", function()
  it("decodes big arrays and objects, in order (past what waits on the stack)", function()
    local nums, objs, keys = {}, {}, {}
    for i = 1, 100000 do nums[i] = tostring(i) end
    for i = 1, 5000 do objs[i] = ('{"id":"%d","n":%d,"tags":["a","b"]}'):format(i, i) end
    for i = 1, 5000 do keys[i] = ('"k%d":%d'):format(i, i) end
    local a = decode("[" .. table.concat(nums, ",") .. "]")
    assert.equal(100000, #a)
    for i = 1, 100000 do if a[i] ~= i then error("element " .. i .. " is " .. tostring(a[i])) end end
    local o = decode("[" .. table.concat(objs, ",") .. "]")
    assert.equal(5000, #o)
    for i = 1, 5000 do assert(o[i].id == tostring(i) and o[i].n == i and o[i].tags[2] == "b") end
    local k = decode("{" .. table.concat(keys, ",") .. "}")
    local count = 0
    for key, x in pairs(k) do count = count + 1 assert(key == "k" .. x) end
    assert.equal(5000, count)
  end)

  it("nests many wide levels (the stack budget spent part way down)", function()
    -- each of 400 levels: 40 numbers, then the next level, then 3 more numbers
    local head, tail = {}, {}
    for d = 1, 400 do
      local items = {}
      for i = 1, 40 do items[i] = tostring(d * 1000 + i) end
      head[d] = "[" .. table.concat(items, ",") .. ","
      tail[d] = ',{"d":' .. d .. ',"s":"x"},' .. d .. "]"
    end
    local text = table.concat(head) .. '"bottom"'
    for d = 400, 1, -1 do text = text .. tail[d] end
    local v = decode(text)
    for d = 1, 400 do
      assert.equal(43, #v, "level " .. d)
      assert.equal(d * 1000 + 1, v[1])
      assert.equal(d * 1000 + 40, v[40])
      assert.same({ d = d, s = "x" }, v[42])
      assert.equal(d, v[43])
      v = v[41]
    end
    assert.equal("bottom", v)
  end)

  -- In a process of its own (spec/support/json_finalizers.lua), except inside nginx.
  it("survives finalizers that run (and decode) while it decodes", function()
    if rawget(_G, "ngx") then return dofile("spec/support/json_finalizers.lua") end
    local lua = jit and "luajit" or _VERSION == "Lua 5.1" and "lua5.1" or "lua5.4"
    local p = assert(io.popen("IG_BUILD_DIR=" .. build .. " " .. lua .. " spec/support/json_finalizers.lua 2>&1"))
    local out = p:read("*a")
    p:close()
    assert.equal("ok\n", out)
  end)
end)

describe("instagram.json.decode with the C core", function()
  it("is core.json_decode with MAX_DEPTH 512 and array_mt", function()
    assert.equal(512, json.MAX_DEPTH)
    local v = json.decode('{"data":[],"id":17841405822304915}')
    assert.equal(json.array_mt, getmetatable(v.data))
    assert.equal("[]", json.encode(v.data))
    assert.is_table(json.decode(nested(512)))
    local none, err = json.decode(nested(513))
    assert.is_nil(none)
    assert.equal("JSON nested deeper than 512 levels at byte 513", err)
  end)

  it("answers nil, message (never raises) with the byte offset", function()
    for _, case in ipairs{ { "{not json", "expected a string (an object key) at byte 2" }, { "", nil }, { "[1e999]", nil },
                           { "NaN", nil }, { '"\1"', nil } } do
      local ok, v, err = pcall(json.decode, case[1])
      assert.is_true(ok)
      assert.is_nil(v)
      assert.is_string(err)
      assert.matches("at byte %d+", err)
      if case[2] then assert.equal(case[2], err) end
    end
    local v, err = json.decode(42)
    assert.is_nil(v)
    assert.equal("JSON text must be a string, got number", err)
  end)

  it("re-encodes 17- and 19-digit ids digit for digit (a product id round trip)", function()
    local text = '{"merchant_id":1234567890123456789,"product_id":17841405822304915,"small":3231775643511089}'
    local v = json.decode(text)
    assert.equal(text, json.encode(v)) -- numbers again, every digit, on every runtime
    if INT64 then
      assert.equal("1234567890123456789", json.string_of(v.merchant_id))
    else
      -- LuaJIT: past 2^53 the ids come back as their digits, and encode knows they were numbers
      assert.equal("1234567890123456789", v.merchant_id)
      assert.equal("17841405822304915", v.product_id)
      assert.equal(3231775643511089, v.small)
      assert.equal("3231775643511089", json.string_of(v.small))
    end
    assert.equal("17841405822304915", json.string_of(v.product_id))
    -- taken into a request of one's own: the value, not the table it came in, is what counts
    local tags = json.encode{ { product_id = v.product_id, x = 0.5, y = 0.25 } }
    assert.equal('[{"product_id":17841405822304915,"x":0.5,"y":0.25}]', tags)
    local params = require "instagram.params"
    assert.equal("product_id=17841405822304915&product_tags=%5B%7B%22product_id%22%3A1234567890123456789%7D%5D",
      params.encode{ product_id = v.product_id, product_tags = { { product_id = v.merchant_id } } })
    local n = json.decode("[-9223372036854775808,9007199254740993,9223372036854775808,-92233720368547758090]")
    assert.equal("[-9223372036854775808,9007199254740993,9223372036854775808,-92233720368547758090]", json.encode(n))
    assert.equal("-9223372036854775808", json.string_of(n[1]))
    assert.equal("9007199254740993", json.string_of(n[2]))
    assert.equal("9223372036854775808", n[3]) -- beyond int64: digits on 5.4 too
  end)

  it("keeps the ids that were strings strings, and object keys keys", function()
    local v = json.decode('{"id":"17841405822304916","ids":{"17841405822304917":{"id":"17841405822304917"}}}')
    assert.equal('{"id":"17841405822304916","ids":{"17841405822304917":{"id":"17841405822304917"}}}', json.encode(v))
    -- the same digits once as a number and once as a string, in either order: once read they are
    -- one Lua string, and a string the API sent must stay a string, so both are written as strings
    -- (the digits never change)
    for _, text in ipairs{ '{"id":"18446744073709551617","n":18446744073709551617}',
                           '{"n":18446744073709551619,"id":"18446744073709551619"}' } do
      local both = json.decode(text)
      assert.equal(both.id, both.n)
      assert.equal(('{"id":"%s","n":"%s"}'):format(both.id, both.id), json.encode(both))
    end
    local later = json.decode('{"n":18446744073709551621}') -- read as a number first, as a string later
    json.decode('["18446744073709551621"]')
    assert.equal('{"n":"18446744073709551621"}', json.encode(later))
    assert.equal('{"k":"18446744073709551618"}', json.encode{ k = "18446744073709551618" }) -- never read as a number
    -- only the text of an integer is ever written bare, whatever the table holds
    json.core_options().numbers['1,"is_admin":true'] = true
    json.core_options().numbers["18446744073709551623 "] = true
    assert.equal('{"a":"1,\\"is_admin\\":true","b":"18446744073709551623 "}',
      json.encode{ a = '1,"is_admin":true', b = "18446744073709551623 " })
  end)

  it("records digit strings in opts.numbers, counting the new ones in numbers.n", function()
    local numbers = {}
    local v = core.json_decode('[18446744073709551616,18446744073709551616,"18446744073709551617",1e400000]',
                               { numbers = numbers })
    assert.is_nil(v) -- 1e400000 is out of range: refused, but what was read so far is recorded
    -- (the number as true, the digits that came as a string as false)
    assert.same({ ["18446744073709551616"] = true, ["18446744073709551617"] = false, n = 2 }, numbers)
    core.json_decode('[18446744073709551616,99999999999999999999,"123","00000000000000000000001"]',
                     { numbers = numbers })
    assert.same({ ["18446744073709551616"] = true, ["18446744073709551617"] = false,
                  ["99999999999999999999"] = true, n = 3 }, numbers)
    core.json_decode('["99999999999999999999"]', { numbers = numbers }) -- seen as a string too: false
    assert.is_false(numbers["99999999999999999999"])
    assert.equal(3, numbers.n)
    -- a count that is not a whole number from 0 to 2^40 starts again
    for i, junk in ipairs{ "junk", 0 / 0, 1 / 0, -5, 2 ^ 63, 1.5 } do
      numbers.n = junk
      core.json_decode("[-99999999999999999999" .. i .. "]", { numbers = numbers })
      assert.equal(1, numbers.n)
    end
  end)

  it("keeps the numbers it remembers bounded (two generations of 10,000)", function()
    local first = json.decode("[11111111111111111111111]")[1]
    assert.equal("[11111111111111111111111]", json.encode{ first })
    for i = 1, 25 do
      local batch = {}
      for k = 1, 1000 do batch[k] = ("%d%018d"):format(i + 100, k) end
      json.decode("[" .. table.concat(batch, ",") .. "]")
    end
    assert.equal('["11111111111111111111111"]', json.encode{ first }) -- forgotten: a string again
    local opts = json.core_options()
    assert.is_true(opts.numbers.n < 10000)
  end)
end)

describe("instagram.json without the C core (the emulator in nginx)", function()
  local function json_without_core()
    local loaded, preload = package.loaded["instagram.core"], package.preload["instagram.core"]
    package.loaded["instagram.core"] = nil
    package.preload["instagram.core"] = function() error("no C core here") end
    local ok, m = pcall(assert(loadfile("lua/instagram/json.lua")), "instagram.json")
    package.preload["instagram.core"] = preload
    package.loaded["instagram.core"] = loaded
    assert(ok, m)
    return m
  end

  it("decodes with lua-cjson, the same depth limit, and never raises", function()
    local j = json_without_core()
    assert.equal(512, j.MAX_DEPTH)
    local v = j.decode('{"n":42,"f":0.5,"data":[],"x":null}')
    assert.equal(42, v.n)
    if INT64 then assert.equal("integer", math.type(v.n)) end
    assert.equal(0.5, v.f)
    assert.equal(j.null, v.x)
    assert.is_table(j.decode(nested(512)))
    assert.is_table(j.decode(objects(512)))
    local none, err = j.decode(nested(513))
    assert.is_nil(none)
    assert.matches("nest", err)
    for _, text in ipairs{ "", "{x", "[NaN]", "[1e999]", "[" .. ("9"):rep(400) .. "]" } do
      local ok, r, e = pcall(j.decode, text)
      assert.is_true(ok)
      assert.is_nil(r)
      assert.is_string(e)
    end
    assert.is_string(j.encode(v))
  end)
end)
