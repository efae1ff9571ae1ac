--- The shared shape of node wrappers: a small object over the client with an id, fetch(fields),
-- and one method per edge, declared in a line each by the node modules.
--
-- Users reach the wrappers through a client (`client:ig_user(id)`, `client:ig_media(id)`, ...);
-- this module is for the wrapper modules themselves and for adding a wrapper of your own. Every
-- node object has the fields `client` and `id` and the methods of @{Node}.
-- @module instagram.node
local fields_m = require "instagram.fields"
local errors = require "instagram.error"
local json_null = require("instagram.json").null

local type, setmetatable, error, tostring, format = type, setmetatable, error, tostring, string.format

local _M = {}

-- A parameter that is a name or a list of names (`metric`, `breakdown`) as the API wants it: the
-- names joined with commas. Raises at `level` (default 3) naming `fn` and `name` for anything else.
function _M.names(v, fn, name, level)
  if type(v) == "string" and v ~= "" then return v end
  if type(v) == "table" and #v > 0 then
    for i = 1, #v do
      if type(v[i]) ~= "string" or v[i] == "" then
        error(format("%s: %s item %d must be a non-empty string, got %s", fn, name, i, type(v[i])), level or 3)
      end
    end
    return table.concat(v, ",")
  end
  error(format("%s: %s must be a name or a non-empty list of names, got %s", fn, name, type(v)), level or 3)
end

--- Checks a node id and returns it as a string of digits.
-- Node ids are strings of digits (every IG node id the API documents: users, media, comments,
-- hashtags, containers, Pages, events). A number is accepted when it is exact: a Lua 5.4
-- integer, or a float up to 2^53 (ids above that, as most IG ids are, must be strings on
-- LuaJIT). Anything else raises: an id becomes a path segment, and "..", "/" or "%2e" there
-- would move the call elsewhere.
-- @tparam string|number id the id: a string of digits, or an exact whole number
-- @tparam string what what the id names, for the message (`"IG user"`, `"media"`, ...)
-- @tparam[opt=3] int level the `error` level to raise at
-- @treturn string the id as a string of digits
-- @raise `"<what> id must be a string of digits such as '17841405822304914', got ..."` for any
-- other value (`"../me"`, `"12a"`, `-1`, `1.5`, a float above 2^53, `nil`, ...)
-- @usage
-- local node = require "instagram.node"
-- node.check_id(17841405822304914, "IG user")   --> "17841405822304914" (Lua 5.4)
-- node.check_id("../me", "IG user")             --> raises
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

--- One field of an answer, or a decode error when the answer is not an object or lacks the field.
-- A server's answer never makes a wrapper raise: whatever came back, this returns.
-- @tparam any res a decoded answer
-- @tparam string name the field wanted
-- @treturn[1] any `res[name]` (never `nil` nor `json.null`)
-- @treturn[2] nil when the field is absent, `json.null`, or `res` is not a table
-- @treturn[2] instagram.error.Error `kind = "decode"`, naming the missing field
-- @usage
-- local res, err = client:get("/17841405822304914", { fields = "business_discovery{id}" })
-- local bd
-- if res then bd, err = node.field(res, "business_discovery") end
function _M.field(res, name)
  local v = type(res) == "table" and res[name] or nil
  if v == nil or v == json_null then
    return nil, errors.new{ kind = "decode",
      message = "expected a JSON object with '" .. name .. "', got " .. (type(res) == "table" and "one without it"
        or type(res)) }
  end
  return v
end

--- A `fields` parameter as the API takes it, from a string or a list.
-- @tparam ?string|table f `"a,b"`, or a list such as `{ "a", "b", F.edge("comments", ...) }`
-- (see `instagram.fields.build`); `nil` for none
-- @treturn ?string the comma-separated fields, or `nil` when `f` is `nil`
-- @raise `"fields must be a string or a list"` for any other type
-- @usage node.fields{ "id", "caption" }   --> "id,caption"
function _M.fields(f)
  if f == nil then return nil end
  if type(f) ~= "string" and type(f) ~= "table" then error("fields must be a string or a list", 3) end
  return fields_m.build(f)
end

--- A new wrapper class: a metatable whose objects are @{Node}s.
-- The class has `new(client, id)` (which checks the id with @{check_id}), `fetch(fields)`,
-- `path(edge)` and `__tostring` (`"instagram <label> <id>"`); add edges with @{list} and @{call}.
-- @tparam string label what the node is, for messages and `tostring` (`"IG media"`)
-- @treturn table the class
-- @usage
-- local Thing = node.class("IG thing")
-- node.list(Thing, "children", "children")
-- local t = Thing.new(client, "17890000000000001")
-- local res, err = t:fetch{ "id", "name" }
function _M.class(label)
  local C = {}
  C.__index = C
  C.__tostring = function(n) return "instagram " .. label .. " " .. n.id end
  C.new = function(client, id)
    return setmetatable({ client = client, id = _M.check_id(id, label, 4) }, C)
  end
  function C:path(edge) return edge and ("/" .. self.id .. "/" .. edge) or ("/" .. self.id) end
  -- fetch([fields]) -> node | nil, err ; fields: "a,b" or { "a", "b" } (documented as Node:fetch)
  function C:fetch(f)
    local s = _M.fields(f)
    return self.client:get(self:path(), s and { fields = s } or nil)
  end
  return C
end

--- Adds a list edge to a class: a method returning a pager.
-- The method is called as `obj:name(params, opts)` and pages over `GET /{id}/{edge}` (an
-- `instagram.pager` pager; `opts` are the pager's options). `params` are merged over `defaults`;
-- `params.fields` may be a string or a list.
-- @tparam table C the class (from @{class})
-- @tparam string name the method's name
-- @tparam string edge the Graph API edge
-- @tparam[opt] table defaults parameters sent unless the caller gives them
-- @usage node.list(IgUser, "media", "media")   -- user:media{ fields = { "id" }, limit = 50 }
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

--- Adds a single call to a class: a method making one request.
-- The method is called as `obj:name(params)`, makes one request on `/{id}/{edge}` (or `/{id}`
-- when `edge` is `nil`) and returns the decoded answer or `nil, err`.
-- The method raises when `params` is not a table or lacks a `required` key.
-- @tparam table C the class (from @{class})
-- @tparam string name the method's name
-- @tparam string method `"GET"`, `"POST"` or `"DELETE"`
-- @tparam ?string edge the Graph API edge; `nil` for the node itself
-- @tparam[opt] {string,...} required the keys `params` must have
-- @usage node.call(IgUser, "product_appeal", "GET", "product_appeal", { "product_id" })
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

--- Node objects.
-- Every wrapper object (`client:ig_user(id)`, `client:ig_media(id)`, ...) has these fields and
-- methods; the wrapper modules add their edges.
-- @type Node

--- The client the node calls through.
-- @tfield Client client

--- The node's id, a string of digits (`"me"` for `client:me()`).
-- @tfield string id

--- Makes a node object of a class (made by @{class}).
-- @function Node.new
-- @tparam Client client the client to call through
-- @tparam string|number id the node's id (see @{check_id})
-- @treturn Node the object
-- @raise when `id` is not digits (see @{check_id})
-- @usage local user = require("instagram.node.ig_user").User.new(client, "17841405822304914")

--- Reads the node: `GET /{id}` with the fields asked for.
-- @function Node:fetch
-- @tparam ?string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the node's fields as the API answered them
-- @treturn[2] nil
-- @treturn[2] instagram.error.Error err, for anything the network or the API can do
-- @raise `"fields must be a string or a list"` for a `fields` of another type
-- @usage local me, err = client:ig_user(IG_USER_ID):fetch{ "id", "username", "followers_count" }

--- The node's path, or one of its edges' paths.
-- @function Node:path
-- @tparam ?string edge an edge name
-- @treturn string `"/{id}"`, or `"/{id}/{edge}"`
-- @usage client:ig_media("17895695668004550"):path("comments")   --> "/17895695668004550/comments"

return _M
