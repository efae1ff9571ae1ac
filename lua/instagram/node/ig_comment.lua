--- IG Comment node: client:ig_comment(id)
local node = require "instagram.node"

local type, error = type, error

local _M = {}
local Comment = node.class("IG comment")
_M.Comment = Comment
function _M.new(client, id) return Comment.new(client, id) end

node.list(Comment, "replies", "replies")

--- reply(message) -> { id } | nil, err
function Comment:reply(message)
  if type(message) ~= "string" or message == "" then error("reply: message is required", 2) end
  return self.client:post(self:path("replies"), { message = message })
end

--- hide(true | false) -> { success } | nil, err
function Comment:hide(on)
  if on == nil then on = true end
  if type(on) ~= "boolean" then error("hide: expects true or false", 2) end
  return self.client:post(self:path(), { hide = on })
end

function Comment:unhide() return self:hide(false) end

--- delete() -> { success } | nil, err
function Comment:delete() return self.client:delete(self:path()) end

return _M
