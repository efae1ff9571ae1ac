-- JSON decoding alone, in instructions (callgrind): the C core's decoder (core.json_decode, as
-- instagram.json.decode calls it) against what instagram.json did before it, lua-cjson
-- (cjson.safe.decode) plus the integerize pass (core.integerize on Lua 5.4; none on LuaJIT), on
-- Lua 5.4 and LuaJIT, for three documents:
--   page     the 25-item media page of bench/run (~11 KB; URLs with plain '/')
--   page\/   the same page as the Graph API and lua-cjson write it, every '/' escaped as '\/'
--   1mb      ~1 MB of the same items (2,300 of them) with paging
-- Method: callgrind's total for a process that decodes the document N1 and N2 times; (b - a) /
-- (N2 - N1) leaves startup and the building of the document out. Every decoded value becomes
-- garbage, so the collector's share of the work is counted as well.
--
--   lua5.4 bench/json_decode.lua                 the table (needs valgrind, lua5.4 and luajit, and
--                                                `make both`); BENCH_MD=file also writes it there
--   lua5.4|luajit bench/json_decode.lua run DECODER DOC N     one measured process
local unpack = table.unpack or unpack
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

-- The documents ------------------------------------------------------------------------------
local function item(i)
  return ('{"id":"1791819522%07d","caption":"Dino fact #%d: sauropods were huge, and this caption is as long as '
    .. 'real ones tend to be, with a few #hashtags #dinos #fossils and an @mention of @dinocafe","media_type":'
    .. '"IMAGE","media_product_type":"FEED","media_url":"https://scontent.cdninstagram.com/v/t51.29350-15/'
    .. '1791819522%07d_n.jpg?stp=dst-jpg&_nc_cat=1&ccb=1-7","permalink":"https://www.instagram.com/p/C%07dAbc/",'
    .. '"timestamp":"2026-11-01T12:00:00+0000","like_count":%d,"comments_count":%d}'):format(i, i, i, i, i * 7, i % 5)
end

local function page(n)
  local items = {}
  for i = 1, n do items[i] = item(i) end
  return '{"data":[' .. table.concat(items, ",") .. '],"paging":{"cursors":{"before":"QVFIUkdGbm5aaVV3",'
    .. '"after":"QVFIUmlwZA0tJM3pw"},"next":"https://graph.facebook.com/v24.0/17841405822304914/media?'
    .. 'after=QVFIUmlwZA0tJM3pw"}}'
end

local DOCS = {
  ["page"] = function() return page(25), 25 end,
  ["page\\/"] = function() return (page(25):gsub("/", "\\/")), 25 end,
  ["1mb"] = function() return page(2300), 2300 end,
}
local DOC_ORDER = { "page", "page\\/", "1mb" }

-- The decoders --------------------------------------------------------------------------------
local function decoders()
  local core = require "instagram.core"
  local json = require "instagram.json"
  local cjson = require("cjson.safe").new()
  cjson.decode_max_depth(512)
  local integerize = math.type and core.integerize -- what instagram.json used on 5.3+
  return {
    core = function(text) return core.json_decode(text, { array_mt = json.array_mt }) end,
    ["json.decode"] = json.decode,
    cjson = function(text) return cjson.decode(text) end,
    ["cjson+integerize"] = function(text)
      local v = cjson.decode(text)
      if integerize then integerize(v) end
      return v
    end,
  }
end
local DECODER_ORDER = { "core", "json.decode", "cjson", "cjson+integerize" }

if arg[1] == "run" then
  local decoder, doc, n = arg[2], arg[3], tonumber(arg[4])
  local decode = assert(decoders()[decoder], "no decoder " .. tostring(decoder))
  local text, count = assert(DOCS[doc], "no document " .. tostring(doc))()
  local v = assert(decode(text))
  assert(#v.data == count and v.data[count].like_count == count * 7 and v.data[1].media_url:find("^https://"))
  for _ = 1, n do decode(text) end
  return
end

-- The driver ----------------------------------------------------------------------------------
local RUNS = { ["page"] = { 20, 220 }, ["page\\/"] = { 20, 220 }, ["1mb"] = { 1, 5 } }

local function instructions(lua, decoder, doc, n)
  local cmd = ("valgrind --tool=callgrind --callgrind-out-file=/dev/null %s bench/json_decode.lua run %q %q %d 2>&1 >/dev/null")
    :format(lua, decoder, doc, n)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local total = out:match("Collected : (%d+)")
  if not total then error("callgrind gave no total for: " .. cmd .. "\n" .. out) end
  return tonumber(total)
end

local function per_decode(lua, decoder, doc)
  local a, b = unpack(RUNS[doc])
  return (instructions(lua, decoder, doc, b) - instructions(lua, decoder, doc, a)) / (b - a)
end

local function version(lua)
  local p = io.popen(lua .. " -v 2>&1")
  local v = p:read("*l")
  p:close()
  return (v or lua):match("^(%S+ %S+)")
end

local lines = {}
local function say(s)
  print(s)
  lines[#lines + 1] = s
end
local sizes = {}
for _, doc in ipairs(DOC_ORDER) do sizes[#sizes + 1] = ("%s %d bytes"):format(doc, #(DOCS[doc]())) end
say(("JSON decode, callgrind instructions per decode (%s; %s). Documents: %s."):format(version("lua5.4"),
  version("luajit"), table.concat(sizes, ", ")))
say("")
say("| runtime | document | core.json_decode | json.decode | cjson alone | cjson + integerize (before) | core / before |")
say("|---|---|---:|---:|---:|---:|---:|")
for _, lua in ipairs{ "lua5.4", "luajit" } do
  for _, doc in ipairs(DOC_ORDER) do
    local r = {}
    for _, decoder in ipairs(DECODER_ORDER) do r[decoder] = per_decode(lua, decoder, doc) end
    say(("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2fx |"):format(lua, doc, r.core, r["json.decode"], r.cjson,
      r["cjson+integerize"], r.core / r["cjson+integerize"]))
  end
end
local md = os.getenv("BENCH_MD")
if md then
  local f = assert(io.open(md, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end
