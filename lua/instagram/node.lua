--- The shared shape of node wrappers: a small object over the client with an id, fetch(fields),
-- and one method per edge, declared in a line each by the node modules.
local fields_m = require "instagram.fields"
local errors = require "instagram.error"
local json_null = require("instagram.json").null

local type, setmetatable, error, tostring, format = type, setmetatable, error, tostring, string.format

local _M = {}

--- Node ids are strings of digits (every IG node id the API documents: users, media, comments,
-- hashtags, containers, Pages, events). A number is accepted when it is exact: a Lua 5.4
-- integer, or a float up to 2^53 (ids above that, as most IG ids are, must be strings on
-- LuaJIT). Anything else raises: an id becomes a path segment, and "..", "/" or "%2e" there
-- would move the call elsewhere.
function _M.check_id(id, what, level)
  if type(id) == "number" and id >= 0 and id % 1 == 0
     and ((math.type and math.type(id) == "integer") or id <= 2 ^ 53) then
    id = format("%d", id)
  end
  if type(id) ~= "string" or not id:match("^%d+$") then
    local shown = type(id) == "string" and format("%q", id) or tostring(id)
    error(what .. " id must be a string of digits such as '17841405822304914', got " .. shown, level or 3)
  end
  return id
end

--- field(res, name) -> res[name] | nil, err : one field of an answer, or a decode error when the
-- answer is not an object or lacks the field (a server's answer never makes a wrapper raise).
function _M.field(res, name)
  local v = type(res) == "table" and res[name] or nil
  if v == nil or v == json_null then
    return nil, errors.new{ kind = "decode",
      message = "expected a JSON object with '" .. name .. "', got " .. (type(res) == "table" and "one without it"
        or type(res)) }
  end
  return v
end

function _M.fields(f)
  if f == nil then return nil end
  if type(f) ~= "string" and type(f) ~= "table" then error("fields must be a string or a list", 3) end
  return fields_m.build(f)
end

--- class(label) -> Class with new(client, id), fetch(fields), path(edge)
function _M.class(label)
  local C = {}
  C.__index = C
  C.__tostring = function(n) return "instagram " .. label .. " " .. n.id end
  C.new = function(client, id)
    return setmetatable({ client = client, id = _M.check_id(id, label, 4) }, C)
  end
  function C:path(edge) return edge and ("/" .. self.id .. "/" .. edge) or ("/" .. self.id) end
  --- fetch([fields]) -> node | nil, err ; fields: "a,b" or { "a", "b" }
  function C:fetch(f)
    local s = _M.fields(f)
    return self.client:get(self:path(), s and { fields = s } or nil)
  end
  return C
end

--- C[name](self, params, opts) -> pager over /{id}/{edge}
function _M.list(C, name, edge, defaults)
  C[name] = function(self, params, opts)
    if params ~= nil and type(params) ~= "table" then error(name .. ": params must be a table", 2) end
    local p = {}
    for k, v in pairs(defaults or {}) do p[k] = v end
    for k, v in pairs(params or {}) do p[k] = v end
    if p.fields then p.fields = _M.fields(p.fields) end
    return self.client:edge(self:path(edge), p, opts)
  end
end

--- C[name](self, params) -> value | nil, err : a GET (or POST, DELETE) on /{id}/{edge}
function _M.call(C, name, method, edge, required)
  C[name] = function(self, params)
    if params ~= nil and type(params) ~= "table" then error(name .. ": params must be a table", 2) end
    for _, r in ipairs(required or {}) do
      if params == nil or params[r] == nil then error(name .. ": '" .. r .. "' is required", 2) end
    end
    if params and params.fields then params.fields = _M.fields(params.fields) end
    return self.client:request(method, self:path(edge), params)
  end
end

return _M
