--- IG User node: client:ig_user(id)
local type, setmetatable, error, tostring, format = type, setmetatable, error, tostring, string.format

local _M = {}
local User = {}
User.__index = User
User.__tostring = function(u) return "instagram IG user " .. u.id end

--- Node ids are numeric strings. A number is accepted when it is exact: a Lua 5.4 integer, or a
-- float up to 2^53 (ids above that, as most IG ids are, must be strings on LuaJIT).
function _M.check_id(id, what)
  if type(id) == "number" and id >= 0 and id % 1 == 0
     and ((math.type and math.type(id) == "integer") or id <= 2 ^ 53) then
    id = format("%d", id)
  end
  if type(id) ~= "string" or not id:match("^[%w_%-]+$") then
    error(what .. " id must be a string of digits such as '17841405822304914', got " .. tostring(id), 3)
  end
  return id
end

function _M.new(client, id)
  return setmetatable({ client = client, id = _M.check_id(id, "IG user") }, User)
end

--- fetch([fields]) -> node table | nil, err ; fields: "a,b" or { "a", "b" }
function User:fetch(fields)
  if type(fields) == "table" then fields = table.concat(fields, ",") end
  if fields ~= nil and type(fields) ~= "string" then error("fields must be a string or a list", 2) end
  return self.client:get("/" .. self.id, fields and { fields = fields } or nil)
end

--- media(params) -> pager over /{ig-user-id}/media (cursor paging; since/until for time ranges)
function User:media(params, opts)
  return self.client:edge("/" .. self.id .. "/media", params, opts)
end

--- Publishing (instagram.publish): one call per flow; see that module for the options.
function User:publish_image(o) return require("instagram.publish").image(self.client, self.id, o) end
function User:publish_video(o) return require("instagram.publish").video(self.client, self.id, o) end
User.publish_reel = User.publish_video
function User:publish_story(o) return require("instagram.publish").story(self.client, self.id, o) end
function User:publish_carousel(o) return require("instagram.publish").carousel(self.client, self.id, o) end

--- create_container(params) -> { id [, uri] } | nil, err : POST /{ig-user-id}/media with params as given.
function User:create_container(params) return require("instagram.publish").create(self.client, self.id, params) end

--- media_publish(container_id) -> { id } | nil, err
function User:media_publish(container_id)
  return self.client:post("/" .. self.id .. "/media_publish", { creation_id = container_id })
end

--- content_publishing_limit{ fields, since } -> { quota_usage, config = { quota_total, quota_duration } } | nil, err
function User:content_publishing_limit(opts)
  return require("instagram.publish").limit(self.client, self.id, opts)
end

return _M
