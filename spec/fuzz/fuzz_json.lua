-- Differential fuzzer of the C core's JSON decoder (core.json_decode, src/json.c) against lua-cjson
-- (cjson.safe, depth 512, invalid numbers refused): random JSON documents and mutations of the seed
-- corpus (spec/fuzz/corpus/json: Graph API answers, webhooks, batch bodies), decoded by both.
-- Every difference must be one the decoder documents, else it is a failure:
--   both accept, values differ:
--     int      an integer literal: exact in the core (a Lua integer on 5.4), cjson's double is its
--              rounding (equal once the integer is made a float)
--     digits   an integer the runtime cannot hold exactly: the core's string of its digits, cjson's
--              double of the same digits (or both beyond a double: the digits and cjson's inf)
--   the core accepts, cjson refuses:
--     surrogate  a lone surrogate escape: U+FFFD in the core, refused by cjson
--   the core refuses, cjson accepts:
--     control    a raw control character in a string (JSON forbids it; cjson takes it)
--     range      a number beyond a double (1e999): refused by the core, inf in cjson
--     number     what RFC 8259 refuses but strtod reads ("1.", "-.5", "1.e5"): cjson takes it
--     nul        a NUL byte where the core wants the end of the text (cjson stops reading at a NUL)
-- It also checks, for every input: the core never raises; each message is "<what> at byte <n>" with
-- n within the text (#text + 1 and "(the end of the text)" for its end); empty arrays, and only they,
-- carry array_mt; a decoded value encodes (instagram.json.encode) and decodes back to the same.
--
--   lua5.4 spec/fuzz/fuzz_json.lua      (from the checkout; FUZZ_SECONDS=20, FUZZ_SEED=1)
--   luajit spec/fuzz/fuzz_json.lua
-- Prints the number of inputs and of each documented difference; on a failure prints the input
-- (%q) and exits 1.
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local core = require "instagram.core"
local json = require "instagram.json"
local cjson = require("cjson.safe").new()
cjson.decode_max_depth(512)
cjson.decode_invalid_numbers(false)

local seconds = tonumber(os.getenv("FUZZ_SECONDS") or "20") or 20
local seed = tonumber(os.getenv("FUZZ_SEED") or "1") or 1
local max_iter = tonumber(os.getenv("FUZZ_ITERATIONS") or "") -- optional cap, for quick runs
local corpus_dir = os.getenv("FUZZ_CORPUS") or "spec/fuzz/corpus/json"

local decode, mt, null = core.json_decode, json.array_mt, cjson.null
local math_type = math.type
local char, concat, format = string.char, table.concat, string.format

-- ---- a PRNG that gives the same sequence on Lua 5.4 (integers) and LuaJIT (doubles) ------------
local state = seed % 2147483646 + 1
local function rand(n) -- 1..n
  state = (state * 16807) % 2147483647
  return state % n + 1
end
local function pick(t) return t[rand(#t)] end

-- ---- the corpus ------------------------------------------------------------------------------
local corpus = {}
do
  local ls = io.popen("ls " .. corpus_dir .. " 2>/dev/null")
  for name in ls:lines() do
    local f = io.open(corpus_dir .. "/" .. name, "rb")
    if f then
      corpus[#corpus + 1] = f:read("*a")
      f:close()
    end
  end
  ls:close()
  if #corpus == 0 then
    io.stderr:write("fuzz_json: no seed in " .. corpus_dir .. "\n")
    os.exit(1)
  end
end

local dict = {
  "{", "}", "[", "]", ",", ":", '"', "\\", "\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u0000", "\\n",
  "\\/", "\\x", "-", "0", "00", "1", ".", "e", "E+", "e-", "1e999", "-1e999", "1e-400", "1.", "9007199254740993",
  "17841405822304915", "1234567890123456789", "-9223372036854775808", "9223372036854775808",
  "123456789012345678901234567890", "null", "true", "false", "NaN", "Infinity", "-Infinity", "0x10", "+1",
  "\0", "\1", "\t", "\n", "\r", "\31", "\127", "\255", "\194\160", "\f", " ", "[]", "{}", '""', '"a":',
  '{"id":"1"}', "\239\187\191",
}

-- ---- random documents ------------------------------------------------------------------------
local function ws()
  local r = rand(20)
  if r <= 14 then return "" end
  if r == 20 then return pick{ "\f", "\v", "\194\160" } end -- not JSON whitespace
  return pick{ " ", "\n", "\t", "\r", "  \n  " }
end

local function digits(n, first_nonzero)
  local t = {}
  for i = 1, n do t[i] = tostring(rand(10) - 1) end
  if first_nonzero then t[1] = tostring(rand(9)) end
  return concat(t)
end

local function number()
  local r = rand(14)
  if r == 1 then return pick{ "0", "-0", "-0.0", "0e0", "1e308", "1e309", "2.2250738585072011e-308", "5e-324",
                              "9007199254740992", "9007199254740993", "-9007199254740993", "9223372036854775807",
                              "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                              "18446744073709551616", "1.7976931348623157e308", "1.8e308", "01", "1.", ".5", "+1" } end
  local s = (rand(3) == 1 and "-" or "") .. (rand(6) == 1 and "0" or digits(rand(r <= 8 and 6 or 25), true))
  if rand(3) == 1 then s = s .. "." .. digits(rand(rand(4) == 1 and 80 or 8)) end
  if rand(4) == 1 then s = s .. pick{ "e", "E", "e+", "e-", "E-" } .. digits(rand(3)) end
  return s
end

local function string_body()
  local parts = {}
  for i = 1, rand(8) - 1 do
    local r = rand(30)
    if r <= 12 then parts[i] = pick{ "a", "id", "caption", "Hello world", "17841405822304914", "https:\\/\\/x.y\\/z?a=1&b=2" }
    elseif r <= 15 then parts[i] = pick{ "caf\195\169", "\240\159\152\128", "\226\130\172", "\230\151\165\230\156\172" }
    elseif r <= 21 then parts[i] = pick{ '\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t" }
    elseif r <= 24 then parts[i] = format("\\u%04x", rand(0xD7FF))
    elseif r == 25 then parts[i] = format("\\u%04X", 0xD800 + rand(0x400) - 1) .. format("\\u%04x", 0xDC00 + rand(0x400) - 1)
    elseif r == 26 then parts[i] = format("\\u%04x", 0xD800 + rand(0x800) - 1) -- lone (or the wrong order)
    elseif r == 27 then parts[i] = "\\u0000"
    elseif r == 28 then parts[i] = char(rand(255)) -- any byte: a control character, '"', '\\', not UTF-8 ...
    elseif r == 29 then parts[i] = format("\\u%04x", 0xE000 + rand(0x1FFF) - 1)
    else parts[i] = ("x"):rep(rand(200)) end
  end
  return concat(parts)
end

local gen
gen = function(depth)
  local r = rand(depth > 6 and 6 or 10)
  if r == 1 then return '"' .. string_body() .. '"'
  elseif r == 2 or r == 3 then return number()
  elseif r == 4 then return pick{ "true", "false", "null" }
  elseif r == 5 then return '"' .. pick{ "id", "media_type", "IMAGE", "" } .. '"'
  elseif r == 6 then return pick{ "[]", "{}", "[ ]", "{ }" }
  elseif r <= 8 then
    local t = {}
    for i = 1, rand(6) - 1 do t[i] = ws() .. gen(depth + 1) .. ws() end
    return "[" .. concat(t, ",") .. "]"
  else
    local t = {}
    for i = 1, rand(6) - 1 do
      local key = rand(4) == 1 and string_body() or pick{ "id", "data", "paging", "id", "a", "" }
      t[i] = ws() .. '"' .. key .. '"' .. ws() .. ":" .. ws() .. gen(depth + 1) .. ws()
    end
    return "{" .. concat(t, ",") .. "}"
  end
end

local function deep()
  local n = 505 + rand(12)
  local open, close = {}, {}
  for i = 1, n do
    if rand(2) == 1 then open[i], close[n + 1 - i] = "[", "]" else open[i], close[n + 1 - i] = '{"k":', "}" end
  end
  return concat(open) .. gen(0) .. concat(close)
end

local function mutate(s)
  for _ = 1, rand(4) do
    local n = #s
    local i = n > 0 and rand(n) or 1
    local r = rand(7)
    if r == 1 then s = s:sub(1, i - 1) .. s:sub(i + rand(8)) -- delete
    elseif r == 2 then s = s:sub(1, i - 1) .. pick(dict) .. s:sub(i) -- insert a token
    elseif r == 3 then s = s:sub(1, i - 1) .. char(rand(256) - 1) .. s:sub(i + 1) -- replace a byte
    elseif r == 4 then local j = i + rand(40) s = s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1) -- duplicate a slice
    elseif r == 5 then s = s:sub(1, i) -- truncate
    elseif r == 6 then s = s:sub(1, i - 1) .. number() .. s:sub(i) -- a number
    else s = s:sub(1, i - 1) .. gen(3) .. s:sub(i) end -- a value
  end
  return s
end

-- ---- the comparison --------------------------------------------------------------------------
local counts = { int = 0, digits = 0, surrogate = 0, control = 0, range = 0, number = 0, nul = 0 }
local noted -- the documented differences of the current input (each counted once per input)

local function note(rule) noted[rule] = true end

-- nil when core value a and cjson value b agree (within the documented rules), else the reason.
local same
same = function(a, b, path)
  local ta, tb = type(a), type(b)
  if ta == "number" and tb == "number" then
    if a == b then return nil end -- 42 and cjson's 42.0 on 5.4 are the same number
    if math_type and math_type(a) == "integer" and a + 0.0 == b then note("int") return nil end
    return format("%s: core %s, cjson %s", path, format("%.17g", a), format("%.17g", b))
  end
  if ta == "string" and tb == "number" then
    if a:find("^%-?%d+$") and tonumber(a) == b then note("digits") return nil end
    return format("%s: core string %q, cjson %.17g", path, a, b)
  end
  if ta ~= tb then return format("%s: core %s, cjson %s", path, ta, tb) end
  if ta == "table" then
    local n = 0
    for k, x in pairs(a) do
      n = n + 1
      local why = same(x, b[k], path .. "." .. tostring(k))
      if why then return why end
    end
    for _ in pairs(b) do n = n - 1 end
    if n ~= 0 then return path .. ": not the same keys" end
    return nil
  end
  if a ~= b then return format("%s: core %q, cjson %q", path, tostring(a), tostring(b)) end
  return nil
end

-- Exact equality, for the round trip: numbers by value (1.0 encodes as 1); an integral float the
-- encoder prints as an integer may come back as its digits (past 2^53 on LuaJIT, 2^63 on 5.4).
local equal
equal = function(a, b)
  if type(a) == "number" and type(b) == "string" then return b:find("^%-?%d+$") ~= nil and tonumber(b) == a end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  local n = 0
  for k, x in pairs(a) do
    n = n + 1
    if not equal(x, b[k]) then return false end
  end
  for _ in pairs(b) do n = n - 1 end
  return n == 0
end

-- Only empty tables carry a metatable, and only array_mt.
local function marks_ok(v)
  if type(v) ~= "table" then return true end
  local m = getmetatable(v)
  if m ~= nil and (m ~= mt or next(v) ~= nil) then return false end
  for _, x in pairs(v) do
    if not marks_ok(x) then return false end
  end
  return true
end

-- Does cjson's value hold an infinity (its strtod's answer to 1e999)?
local function has_inf(v)
  if v == math.huge or v == -math.huge then return true end
  if type(v) == "table" then
    for _, x in pairs(v) do
      if has_inf(x) then return true end
    end
  end
  return false
end

-- Is s a number by RFC 8259's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
local function json_number(s)
  local i = s:match("^%-?0()") or s:match("^%-?[1-9]%d*()")
  if not i then return false end
  i = s:match("^%.%d+()", i) or i
  i = s:match("^[eE][+-]?%d+()", i) or i
  return i == #s + 1
end

local function has_lone_surrogate(text)
  -- a \u escape of D800-DFFF anywhere (the core makes each lone one U+FFFD; cjson refuses)
  return text:find("\\[uU][dD][89abcdefABCDEF]%x%x") ~= nil
end

-- nil when all is as documented, else the reason. Sets decoded.
local decoded
local function check(text)
  noted = {}
  local ok, v, err = pcall(decode, text, { array_mt = mt })
  if not ok then return "core raised: " .. tostring(v) end
  decoded = v ~= nil
  local cv, cerr = cjson.decode(text)
  if v == nil then
    if type(err) ~= "string" then return "core refused without a message" end
    local what, at = err:match("^(.-) at byte (%d+)")
    at = tonumber(at)
    if not at or at < 1 or at > #text + 1 then return "bad message: " .. err end
    if (at == #text + 1) ~= (err:find("(the end of the text)", 1, true) ~= nil) then return "bad end mark: " .. err end
    if cv == nil then return nil end -- both refuse
    local byte = text:sub(at, at)
    if what == "control character in a string" and byte:byte() < 0x20 then note("control") return nil end
    if what == "number out of range" and has_inf(cjson.decode(text:match("^[-%d.eE+]*", at))) then
      note("range") -- the number alone: a duplicate key may have dropped it from cv
      return nil
    end
    if what:find("^invalid number") and not json_number(text:match("^[-+%d.eE]*", at)) then
      note("number") -- cjson reads numbers with strtod, whose grammar is wider ("1.", "-.5")
      return nil
    end
    if byte == "\0" then -- cjson read up to the NUL: the core agrees on what comes before it
      local before = decode(text:sub(1, at - 1), { array_mt = mt })
      if before ~= nil and not same(before, cv, "$") then note("nul") return nil end
    end
    return "the core refused (" .. err .. "), cjson accepted"
  end
  if not marks_ok(v) then return "array_mt on a non-empty table, or another metatable" end
  local enc, eerr = json.encode(v)
  if not enc then return "the decoded value does not encode: " .. tostring(eerr) end
  local back = decode(enc, { array_mt = mt })
  if back == nil or not equal(v, back) then return "no round trip through json.encode: " .. enc end
  if cv == nil then
    if has_lone_surrogate(text) and cerr and cerr:find("unicode escape", 1, true) then note("surrogate") return nil end
    return "the core accepted, cjson refused (" .. tostring(cerr) .. ")"
  end
  if cv == null and v == null then return nil end
  return same(v, cv, "$")
end

-- ---- the loop -------------------------------------------------------------------------------
local started = os.clock()
local n, accepted, refused, differed = 0, 0, 0, 0
while os.clock() - started < seconds and (not max_iter or n < max_iter) do
  n = n + 1
  local r = rand(20)
  local input
  if r <= 8 then input = mutate(pick(corpus))
  elseif r <= 16 then input = ws() .. gen(0) .. ws()
  elseif r <= 19 then input = mutate(gen(0))
  else input = rand(2) == 1 and deep() or mutate(deep()) end
  local why = check(input)
  if why then
    io.stderr:write(("fuzz_json: FAILURE after %d inputs (seed %d): %s\n  input (%d bytes): %q\n"):format(
      n, seed, why, #input, #input > 2000 and input:sub(1, 2000) .. "..." or input))
    os.exit(1)
  end
  if decoded then accepted = accepted + 1 else refused = refused + 1 end
  if next(noted) then differed = differed + 1 end
  for rule in pairs(noted) do counts[rule] = counts[rule] + 1 end
end
local rules = {}
for _, rule in ipairs{ "int", "digits", "surrogate", "control", "range", "number", "nul" } do
  rules[#rules + 1] = rule .. " " .. counts[rule]
end
print(("fuzz_json (%s): %d inputs in %.1fs, seed %d: %d decoded, %d refused; %d differ from cjson as documented (%s)"
  .. ", no other difference"):format(jit and jit.version or _VERSION, n, os.clock() - started, seed, accepted, refused,
  differed, concat(rules, ", ")))
