--- Graph API parameters -> query strings and form bodies.
-- Strings pass as they are; numbers print exactly (integers as integers); booleans as
-- true/false; tables (lists, objects) are JSON-encoded, as the Graph API's "complex parameters".
-- A `fields` parameter given as a list is joined with commas (@{instagram.fields.join}), never
-- JSON-encoded. The client encodes every call's `params` with this module.
-- @module instagram.params
-- @usage local params = require "instagram.params"
-- print(params.encode{ fields = "id,caption", limit = 25, user_tags = { { username = "a", x = 0.5, y = 0.5 } } })
-- --> fields=id%2Ccaption&limit=25&user_tags=%5B%7B%22username%22%3A%22a%22%2C%22x%22%3A0.5%2C%22y%22%3A0.5%7D%5D
local core = require "instagram.core"
local json = require "instagram.json"
local fields_m = require "instagram.fields"

local type, pairs, next, tostring, error, sort, concat = type, pairs, next, tostring, error, table.sort, table.concat
local url_encode = core.url_encode

local _M = {}

-- value(v, key) -> string; raises on a value that cannot be a parameter.
local function value(v, key)
  local tv = type(v)
  if tv == "string" then return v end
  if key == "fields" and tv == "table" then -- { "id", F.edge(...) } -> "id,...", never JSON
    local s, why = fields_m.join(v)
    if not s then error("parameter 'fields' " .. why, 0) end
    return s
  end
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

--- One parameter's value as the text that is sent (before percent-encoding).
-- @function value
-- @param v the value: a string, number, boolean or table
-- @param[opt] key the parameter's name, for the error message; for `"fields"` a list is joined
-- @treturn string the text: the string itself, the number as JSON prints it, `true`/`false`, the
--   table as JSON (for `key == "fields"`: the names joined with commas)
-- @raise for another type, NaN or an infinity, a table JSON cannot carry, or a `fields` table that
--   is not a list of non-empty strings (the message names `key`)
-- @usage print(params.value({ "a", "b" }, "children")) --> ["a","b"]

--- Encodes parameters as a query string or form body, keys sorted.
-- Each name and value (see @{value}) is percent-encoded (RFC 3986 unreserved characters kept).
-- @tparam ?table params `{ name = value }`
-- @treturn string `"a=1&b=2"`; `""` for nil or an empty table
-- @raise when `params` is not a table or nil, a name is not a string, or a value cannot be a
--   parameter
-- @usage print(params.encode{ q = "blue bottle", limit = 5 }) --> limit=5&q=blue%20bottle
function _M.encode(params)
  if params == nil then return "" end
  if type(params) ~= "table" then error("params must be a table, got " .. type(params), 0) end
  if next(params) == nil then return "" end
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

--- Decodes a query string into a table of strings.
-- Names and values are percent-decoded (`+` is a space, as in forms); a later duplicate wins; a
-- pair with an empty name is skipped.
-- @param query the query (without `?`); anything but a non-empty string gives `{}`
-- @treturn table `{ name = value }`
-- @raise never raises
-- @usage local t = params.decode("a=1&b=x%20y") --> { a = "1", b = "x y" }
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
