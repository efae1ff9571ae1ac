--- Building `fields` strings with nested edges and modifiers.
--   fields.build{ "id", "caption", fields.edge("media", { limit = 5 }, { "id", "caption" }) }
--     --> "id,caption,media.limit(5){id,caption}"
--   fields.edge("business_discovery", { username = "bluebottle" }, { "followers_count",
--     fields.edge("media", { after = cursor }, { "id", "like_count" }) })
--     --> "business_discovery.username(bluebottle){followers_count,media.after(...){id,like_count}}"
-- Modifiers given as a map come out in sorted order; give a list of { name, value } pairs to
-- choose the order (insights.metrics(creator_reach).breakdown(follow_type)).
-- Also `instagram.fields`.
-- @module instagram.fields
-- @usage local F = require("instagram").fields
-- local f = F.build{ "id", "caption", F.edge("comments", { limit = 5 }, { "id", "text" }) }
-- --> "id,caption,comments.limit(5){id,text}"
-- local m = client:get("/17895695668004550", { fields = f })
local type, ipairs, pairs, tostring, error, sort, concat = type, ipairs, pairs, tostring, error, table.sort,
  table.concat

local _M = {}

local function name_ok(s) return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil end

-- A modifier's value as written, or nil: a string without ( ) { } or commas, or a finite number
-- written exactly (integers by their digits on every runtime; LuaJIT's tostring keeps 14 digits).
local function value_text(v)
  if type(v) == "string" then return not v:find("[(){},]") and v or nil end
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then return nil end
  if v == math.floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then return ("%d"):format(v) end
  return ("%.17g"):format(v)
end

--- Joins field names (and edges made by @{edge}) into a `fields` string.
-- @tparam {string,...}|string list the names, in order; a string is returned as it is
-- @treturn string the names joined with commas
-- @raise when `list` is neither a table nor a string, has a key other than 1..n (`{ id = true }`),
--   or an item is not a non-empty string (see @{join} for the same check without raising)
-- @usage print(F.build{ "id", "username", F.edge("media", { limit = 3 }, { "id" }) })
-- --> id,username,media.limit(3){id}
function _M.build(list)
  local s, why = _M.join(list)
  if not s then error("fields: " .. why, 2) end
  return s
end

--- What @{build} does, without raising: @{instagram.params} (and so every call's `fields`
-- parameter) uses it. A table must be a list: a key that is not 1..n is a mistake
-- (`fields = { id = true }`), not a list of names.
-- @param list the names (a list of non-empty strings), or a string (returned as it is)
-- @treturn[1] string the names joined with commas
-- @treturn[2] nil
-- @treturn[2] string why the list is not one of field names
-- @raise never raises
-- @usage local s, why = F.join{ "id", "caption" } --> "id,caption"
-- print(F.join{ id = true }) --> nil  expects a list of field names such as { "id", "caption" }, ...
function _M.join(list)
  if type(list) == "string" then return list end
  if type(list) ~= "table" then return nil, "expects a list of field names" end
  local n = #list
  for k in pairs(list) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
      return nil, "expects a list of field names such as { \"id\", \"caption\" }, got a table with the key "
        .. (type(k) == "string" and ("'" .. k .. "'") or tostring(k))
    end
  end
  local out = {}
  for i = 1, n do
    local f = list[i]
    if type(f) ~= "string" or f == "" then
      return nil, "item " .. i .. " must be a non-empty string (a field name or fields.edge(...))"
    end
    out[i] = f
  end
  return concat(out, ",")
end

--- One field with modifiers and subfields: `name.mod(v).mod2(v2){sub}`.
-- @tparam string name the field or edge name (letters, digits, `_`; not starting with a digit)
-- @tparam[opt] table modifiers `{ limit = 5, after = cursor }` (written in sorted order), or a list
--   of `{ name, value }` pairs to keep their order; values are strings or numbers without `( ) { }`
--   or commas
-- @tparam[opt] {string,...}|string subfields the subfields (see @{build})
-- @treturn string the field expression
-- @raise for a bad name, modifier name or value, `modifiers` that is not a table, or bad subfields
-- @usage print(F.edge("insights", { { "metrics", "creator_reach" }, { "breakdown", "follow_type" } }))
-- --> insights.metrics(creator_reach).breakdown(follow_type)
function _M.edge(name, modifiers, subfields)
  if not name_ok(name) then error("fields.edge: bad field name " .. tostring(name), 2) end
  local parts = { name }
  if modifiers ~= nil then
    if type(modifiers) ~= "table" then error("fields.edge: modifiers must be a table", 2) end
    local pairs_list, listed = {}, modifiers[1] ~= nil
    for k, v in pairs(modifiers) do -- a list of { name, value } pairs, or a table by name: not both
      if listed then
        if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > #modifiers then
          error("fields.edge: modifiers are a list of { name, value } pairs or a table by name, not both", 2)
        end
        if type(v) ~= "table" then error("fields.edge: modifier " .. k .. " must be a { name, value } pair", 2) end
      elseif type(k) ~= "string" then
        error("fields.edge: bad modifier name " .. tostring(k), 2)
      end
    end
    if listed then
      for i = 1, #modifiers do pairs_list[i] = modifiers[i] end
    else
      for k, v in pairs(modifiers) do pairs_list[#pairs_list + 1] = { k, v } end
      sort(pairs_list, function(a, b) return a[1] < b[1] end)
    end
    for _, p in ipairs(pairs_list) do
      if not name_ok(p[1]) then error("fields.edge: bad modifier name " .. tostring(p[1]), 2) end
      local text = value_text(p[2])
      if not text then
        error("fields.edge: modifier " .. p[1] .. " needs a string without ( ) { } or commas, or a finite number", 2)
      end
      parts[#parts + 1] = "." .. p[1] .. "(" .. text .. ")"
    end
  end
  if subfields ~= nil then
    local sub, why = _M.join(subfields)
    if not sub then error("fields: " .. why, 2) end
    parts[#parts + 1] = "{" .. sub .. "}"
  end
  return concat(parts)
end

return _M
