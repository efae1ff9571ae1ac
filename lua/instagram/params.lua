--- Graph API parameters -> query strings and form bodies.
-- Strings pass as they are; numbers print exactly (integers as integers); booleans as
-- true/false; tables (lists, objects) are JSON-encoded, as the Graph API's "complex parameters".
local core = require "instagram.core"
local json = require "instagram.json"

local type, pairs, tostring, error, sort, concat = type, pairs, tostring, error, table.sort, table.concat
local url_encode = core.url_encode

local _M = {}

--- value(v, key) -> string; raises on a value that cannot be a parameter.
local function value(v, key)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" then
    local ok, s = pcall(json.number, v)
    if not ok then error("parameter '" .. tostring(key) .. "': " .. s, 0) end
    return s
  end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "table" then
    local s, err = json.encode(v)
    if not s then error("parameter '" .. tostring(key) .. "': " .. err, 0) end
    return s
  end
  error("parameter '" .. tostring(key) .. "' has a " .. tv .. " value; use a string, number, boolean or table", 0)
end
_M.value = value

--- encode(params) -> "a=1&b=2" with keys sorted; "" for nil or an empty table.
function _M.encode(params)
  if params == nil then return "" end
  if type(params) ~= "table" then error("params must be a table, got " .. type(params), 0) end
  local keys = {}
  for k in pairs(params) do
    if type(k) ~= "string" then error("parameter names must be strings, got " .. type(k), 0) end
    keys[#keys + 1] = k
  end
  sort(keys)
  local out = {}
  for i = 1, #keys do
    local k = keys[i]
    out[i] = url_encode(k) .. "=" .. url_encode(value(params[k], k))
  end
  return concat(out, "&")
end

--- decode("a=1&b=x%20y") -> { a = "1", b = "x y" } (later duplicates win).
function _M.decode(query)
  local t = {}
  if type(query) ~= "string" or query == "" then return t end
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k and k ~= "" then t[core.url_decode(k)] = core.url_decode(v) end
  end
  return t
end

return _M
