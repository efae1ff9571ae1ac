--- JSON that keeps numbers exact.
-- Decoding uses the C core's decoder (`instagram.core.json_decode`) when the core is loaded:
-- integers exact (beyond what the runtime holds exactly, a string of their digits), empty arrays
-- marked with @{array_mt}. Without the core (the emulator inside nginx) it uses a private lua-cjson
-- instance (cjson.safe) and, on Lua 5.3+, turns every integral float back into an integer (Debian's
-- lua-cjson 2.1.0 decodes `42` as `42.0`). Encoding is our own: integers print as integers and
-- other numbers with the fewest digits that read back the same, so a 16-digit product_id read from
-- one response reaches the API again digit for digit (lua-cjson keeps 14 significant digits).
-- What a hostile peer can send never raises: decode answers nil, message for nesting deeper than
-- MAX_DEPTH (512, the same limit encode keeps), for NaN / Infinity / hex literals and for numbers
-- too large for a double (1e999), so every number it returns is finite.
--
-- On LuaJIT a number is a double: ids above 2^53 must stay strings (the API sends ids as strings).
-- Also `instagram.json`.
-- @module instagram.json
-- @usage local json = require "instagram.json"
-- local v = assert(json.decode('{"id":"17841405822304914","product_id":1234567890123456}'))
-- print(json.encode(v)) --> {"id":"17841405822304914","product_id":1234567890123456}
local cjson = require "cjson.safe"

local type, pairs, tostring, setmetatable, getmetatable = type, pairs, tostring, setmetatable, getmetatable
local format, concat, floor, huge = string.format, table.concat, math.floor, math.huge
local find = string.find
local math_type, tointeger = math.type, math.tointeger -- nil on LuaJIT
local ipairs, pcall = ipairs, pcall
local tonumber, error, rawlen = tonumber, error, rawlen or function(t) return #t end

local _M = {}

-- Arrays and objects nest at most this deep, in both directions (the outermost one is level 1);
-- = IG_JSON_MAX_DEPTH (src/core.h).
local MAX_DEPTH = 512
--- How deep arrays and objects may nest, in @{decode} and @{encode} alike (512; the outermost one
-- is level 1).
_M.MAX_DEPTH = MAX_DEPTH

local codec = cjson.new()
codec.decode_max_depth(MAX_DEPTH)
codec.encode_max_depth(MAX_DEPTH)
codec.decode_invalid_numbers(false) -- NaN, Infinity, inf, nan, 0x10: not JSON, refused

--- JSON `null`: what @{decode} gives for it, and what @{encode} writes as `null` (a light userdata;
-- compare with `==`).
_M.null = codec.null

--- The metatable that marks a table to be encoded as a JSON array even when it is empty.
_M.array_mt = { __jsontype = "array" }
--- The metatable that marks a table to be encoded as a JSON object even when it is empty.
_M.object_mt = { __jsontype = "object" }

--- Marks a table as a JSON array, so that an empty one encodes as `[]` (not `{}`).
-- @tparam[opt] table t the table (a new one when nil)
-- @treturn table `t`, with @{array_mt} as its metatable
-- @raise when `t` is not a table (or already has a protected metatable)
-- @usage print(json.encode{ children = json.array() }) --> {"children":[]}
function _M.array(t) return setmetatable(t or {}, _M.array_mt) end
--- Marks a table as a JSON object, so that an empty one encodes as `{}` and a list-like one as an
-- object.
-- @tparam[opt] table t the table (a new one when nil)
-- @treturn table `t`, with @{object_mt} as its metatable
-- @raise when `t` is not a table (or already has a protected metatable)
-- @usage print(json.encode{ params = json.object() }) --> {"params":{}}
function _M.object(t) return setmetatable(t or {}, _M.object_mt) end

local function integerize(v)
  local tv = type(v)
  if tv == "number" then
    if math_type(v) == "float" then return tointeger(v) or v end
    return v
  elseif tv == "table" then
    for k, x in pairs(v) do
      local tx = type(x)
      if tx == "table" or (tx == "number" and math_type(x) == "float") then v[k] = integerize(x) end
    end
  end
  return v
end

-- The C core's decoder when the core is loaded (and has it); lua-cjson and the walk above otherwise.
local ok_core, core = pcall(require, "instagram.core")
local core_decode = ok_core and type(core) == "table" and core.json_decode or nil
local array_mt = _M.array_mt

-- The integers the core's decoder gave as strings of digits (beyond what the runtime holds
-- exactly: on LuaJIT above 2^53, on Lua 5.4 beyond int64), so that encode writes them back as the
-- numbers they were: numbers[digits] = true. The same digits read as a JSON string are false (the
-- decoder records those too): an id the API sends as a string stays one. Two generations of
-- NUMBERS_KEPT each: the newest are always known, memory stays bounded in a long-running process.
local NUMBERS_KEPT = 10000
local numbers, older_numbers = { n = 0 }, {}
local core_opts = { max_depth = MAX_DEPTH, array_mt = array_mt, numbers = numbers }

--- The decoder's options for `instagram.core` (max_depth, array_mt, numbers), as the libcurl
-- transport hands them to its session so that answers are decoded as @{decode} does.
-- @local
function _M.core_options()
  local n = numbers.n
  if type(n) ~= "number" or not (n >= 0 and n < NUMBERS_KEPT) then -- (NaN: not a count either)
    older_numbers, numbers = numbers, { n = 0 }
    core_opts.numbers = numbers
  end
  return core_opts
end

-- Is s a string the decoder made of a JSON integer (and never read as a JSON string)? Only the
-- text of an integer can be written bare, whatever the tables hold.
local function was_number(s)
  local seen = numbers[s]
  if seen == nil then seen = older_numbers[s] end
  return seen == true and find(s, "^%-?[1-9]%d*$") ~= nil
end

local function finite(v)
  local tv = type(v)
  if tv == "number" then return v == v and v ~= huge and v ~= -huge end
  if tv == "table" then
    for _, x in pairs(v) do
      if not finite(x) then return false end
    end
  end
  return true
end

-- Only a text with a 3-digit exponent or a long run of digits can hold a number beyond a double
-- (which strtod makes an infinity); the walk that looks for one runs only then.
local LONG_DIGITS = ("%d"):rep(32)

--- Decodes JSON text, keeping numbers exact.
-- A number written as an integer comes back exact: a Lua integer on Lua 5.3+, a number on LuaJIT
-- up to 2^53, and beyond what the runtime holds exactly a string of its digits
-- (`"9223372036854775808"`; on LuaJIT `"17841405822304915"`); other numbers are floats. Objects and
-- arrays are tables (arrays from 1; an empty one has @{array_mt}, so it encodes back as `[]`),
-- `null` is @{null}. Strings: a lone surrogate escape becomes U+FFFD, other bytes are kept as they
-- are. The rules are `instagram.core.json_decode`'s; without the C core, lua-cjson decodes (every
-- integral number an integer on 5.3+ but only 15 digits exact, lone surrogates refused).
-- @tparam string text the JSON text
-- @treturn[1] any the value
-- @treturn[2] nil
-- @treturn[2] string message what is wrong and where ("expected ',' or '}' at byte 1234"): not a
--   string, not JSON, nested deeper than @{MAX_DEPTH}, NaN, Infinity or hex literals, a number
--   beyond a double's range
-- @raise never raises
-- @usage local v, err = json.decode('{"data":[{"id":"1"}],"paging":{}}')
-- print(v.data[1].id)
function _M.decode(text)
  if type(text) ~= "string" then return nil, "JSON text must be a string, got " .. type(text) end
  if core_decode then
    local ok, v, err = pcall(core_decode, text, _M.core_options())
    if ok then
      if v == nil then return nil, err end
      return v
    end
    return nil, tostring(v) -- an error of Lua itself: out of memory (or a __gc raising, on LuaJIT)
  end
  local v, err = codec.decode(text)
  if v == nil and err then
    if find(err, "too many nested", 1, true) then
      return nil, "JSON nested deeper than " .. MAX_DEPTH .. " levels (" .. err .. ")"
    end
    return nil, err
  end
  if (find(text, "[eE][+]?0*[1-9]%d%d") or find(text, LONG_DIGITS)) and not finite(v) then
    return nil, "a number is too large to be represented (out of a double's range)"
  end
  if tointeger then v = integerize(v) end
  return v
end

-- Number -> JSON text (raises for NaN and infinities, which JSON cannot carry).
local function number(n)
  if math_type and math_type(n) == "integer" then return format("%d", n) end
  if n ~= n or n == huge or n == -huge then error("cannot encode NaN or infinity as JSON", 0) end
  if n == floor(n) and n > -9.2e18 and n < 9.2e18 then return format("%d", n) end
  for p = 14, 17 do
    local s = format("%." .. p .. "g", n)
    if tonumber(s) == n then return s end
  end
  return format("%.17g", n)
end
_M.number = number

--- A number as JSON writes it: integers (and integral floats up to 9.2e18) as integers, others with
-- the fewest significant digits (14 to 17) that read back the same.
-- @function number
-- @tparam number n the number
-- @treturn string the text
-- @raise for NaN and infinities (JSON cannot carry them); a non-number raises too
-- @usage print(json.number(1234567890123456), json.number(0.1)) --> 1234567890123456 0.1

--- A value as a string: a string as it is, a number exactly as JSON prints it (see @{number}).
-- For ids and other values taken from answers a server may send with the wrong type.
-- @param v any value
-- @treturn ?string the string; nil for any other type, NaN or an infinity
-- @raise never raises
-- @usage print(json.string_of(17841405822304914), json.string_of({})) --> 17841405822304914 nil
function _M.string_of(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then
    local ok, s = pcall(number, v)
    return ok and s or nil
  end
  return nil
end

local encode_value

local function is_array(t)
  local mt = getmetatable(t)
  local kind = mt and mt.__jsontype
  if kind then return kind == "array" end
  local n = rawlen(t)
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then return false end
    count = count + 1
  end
  return count == n
end

encode_value = function(v, out, depth)
  local tv = type(v)
  if tv == "string" then out[#out + 1] = was_number(v) and v or codec.encode(v)
  elseif tv == "number" then out[#out + 1] = number(v)
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == codec.null then out[#out + 1] = "null"
  elseif tv == "table" then
    if depth >= MAX_DEPTH then
      error("cannot encode JSON nested deeper than " .. MAX_DEPTH .. " levels (a cycle?)", 0)
    end
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, rawlen(v) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      -- Sorted keys: deterministic output, easy to compare and to cache.
      local keys = {}
      for k in pairs(v) do
        local tk = type(k)
        if tk ~= "string" and tk ~= "number" then
          error("cannot encode a table key of type " .. tk .. " as JSON", 0)
        end
        keys[#keys + 1] = k
      end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(keys) do
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = codec.encode(type(k) == "number" and number(k) or k)
        out[#out + 1] = ":"
        encode_value(v[k], out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("cannot encode a " .. tv .. " as JSON", 0)
  end
end

--- Encodes a value as JSON text.
-- Integers print as integers and other numbers exactly (see @{number}); object keys are sorted
-- (deterministic output); a table is an array when its keys are exactly 1..n (or it has
-- @{array_mt}), an object otherwise (an empty table is `{}` unless marked with @{array}).
-- `nil` and @{null} are `null`.
-- @param v the value: nil, boolean, number, string, @{null} or a table of those
-- @treturn[1] string the JSON text
-- @treturn[2] nil
-- @treturn[2] string message why it cannot be encoded: NaN or an infinity, a function or userdata,
--   a key that is not a string or number, nesting deeper than @{MAX_DEPTH} (a cycle)
-- @raise never raises
-- @usage print(json.encode{ caption = "hi", product_id = 1234567890123456 })
-- --> {"caption":"hi","product_id":1234567890123456}
function _M.encode(v)
  local out = {}
  local ok, err = pcall(encode_value, v, out, 0)
  if not ok then return nil, err end
  return concat(out)
end

return _M
