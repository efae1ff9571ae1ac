--- Building `fields` strings with nested edges and modifiers:
--   fields.build{ "id", "caption", fields.edge("media", { limit = 5 }, { "id", "caption" }) }
--     --> "id,caption,media.limit(5){id,caption}"
--   fields.edge("business_discovery", { username = "bluebottle" }, { "followers_count",
--     fields.edge("media", { after = cursor }, { "id", "like_count" }) })
--     --> "business_discovery.username(bluebottle){followers_count,media.after(...){id,like_count}}"
-- Modifiers given as a map come out in sorted order; give a list of { name, value } pairs to
-- choose the order (insights.metrics(creator_reach).breakdown(follow_type)).
local type, ipairs, pairs, tostring, error, sort, concat = type, ipairs, pairs, tostring, error, table.sort,
  table.concat

local _M = {}

local function name_ok(s) return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil end

local function value_ok(v)
  local s = tostring(v)
  return (type(v) == "string" or type(v) == "number") and not s:find("[(){},]")
end

--- build(list) -> "a,b,c{...}" ; items are names or strings made by edge()
function _M.build(list)
  if type(list) == "string" then return list end
  if type(list) ~= "table" then error("fields: expects a list of field names", 2) end
  local out = {}
  for i, f in ipairs(list) do
    if type(f) ~= "string" or f == "" then error("fields: item " .. i .. " must be a non-empty string", 2) end
    out[i] = f
  end
  return concat(out, ",")
end

--- edge(name, modifiers, subfields) -> "name.mod(v).mod2(v2){sub}" (modifiers and subfields optional)
function _M.edge(name, modifiers, subfields)
  if not name_ok(name) then error("fields.edge: bad field name " .. tostring(name), 2) end
  local parts = { name }
  if modifiers ~= nil then
    if type(modifiers) ~= "table" then error("fields.edge: modifiers must be a table", 2) end
    local pairs_list = {}
    if modifiers[1] ~= nil then
      for _, p in ipairs(modifiers) do pairs_list[#pairs_list + 1] = p end
    else
      for k, v in pairs(modifiers) do pairs_list[#pairs_list + 1] = { k, v } end
      sort(pairs_list, function(a, b) return a[1] < b[1] end)
    end
    for _, p in ipairs(pairs_list) do
      if not name_ok(p[1]) then error("fields.edge: bad modifier name " .. tostring(p[1]), 2) end
      if not value_ok(p[2]) then
        error("fields.edge: modifier " .. p[1] .. " needs a value without ( ) { } or commas", 2)
      end
      parts[#parts + 1] = "." .. p[1] .. "(" .. tostring(p[2]) .. ")"
    end
  end
  if subfields ~= nil then parts[#parts + 1] = "{" .. _M.build(subfields) .. "}" end
  return concat(parts)
end

return _M
