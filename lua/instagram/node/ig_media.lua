--- IG Media node: client:ig_media(id)
local node = require "instagram.node"

local type, error, pairs = type, error, pairs

local _M = {}
local Media = node.class("IG media")
_M.Media = Media
function _M.new(client, id) return Media.new(client, id) end

node.list(Media, "children", "children")
node.list(Media, "collaborators", "collaborators")
node.list(Media, "comments", "comments")
node.call(Media, "product_tags", "GET", "product_tags")

--- comment(message) -> { id } | nil, err
function Media:comment(message)
  if type(message) ~= "string" or message == "" then error("comment: message is required", 2) end
  return self.client:post(self:path("comments"), { message = message })
end

--- insights{ metric, period, breakdown } -> { data } | nil, err
function Media:insights(p)
  if type(p) ~= "table" or p.metric == nil then error("insights: metric is required", 2) end
  local q = {}
  for k, v in pairs(p) do q[k] = type(v) == "table" and table.concat(v, ",") or v end
  return self.client:get(self:path("insights"), q)
end

--- update_product_tags(tags) -> { success } | nil, err ; tags: { { product_id, x, y }, ... } (x/y for images)
function Media:update_product_tags(tags)
  if type(tags) ~= "table" or #tags == 0 then error("update_product_tags: a list of { product_id, x, y }", 2) end
  if #tags > 5 then error("update_product_tags: at most 5 tags per media", 2) end
  return self.client:post(self:path("product_tags"), { updated_tags = tags })
end

--- set_comment_enabled(bool) -> { success } | nil, err
function Media:set_comment_enabled(on)
  if type(on) ~= "boolean" then error("set_comment_enabled: expects true or false", 2) end
  return self.client:post(self:path(), { comment_enabled = on })
end

--- copyright_check() -> copyright_check_information | nil, err
function Media:copyright_check()
  local res, err = self:fetch("copyright_check_information")
  if not res then return nil, err end
  return node.field(res, "copyright_check_information")
end

return _M
