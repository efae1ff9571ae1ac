--- IG Comment node: a comment or a reply, `client:ig_comment(id)`.
-- The object is an @{IgComment}.
-- @module instagram.node.ig_comment
local node = require "instagram.node"

local type, error = type, error

local _M = {}
local IgComment = node.class("IG comment")
_M.Comment = IgComment

--- Makes an IG comment object; `client:ig_comment(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the id (digits)
-- @treturn IgComment the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local comment = client:ig_comment("17870913679156914")
function _M.new(client, id) return IgComment.new(client, id) end

--- An IG comment (`client:ig_comment(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type IgComment

--- Reads the node's fields: `GET /{ig-comment-id}`.
-- For example `id`, `text`, `username`, `timestamp`, `like_count`, `hidden`, `media`, `parent_id`, `from`.
-- @function IgComment:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `fields` is neither a string nor a list
-- @usage local c, err = client:ig_comment(COMMENT_ID):fetch{ "text", "username", "hidden" }

--- Lists the replies to the comment.
-- A pager over `GET /{ig-comment-id}/replies`.
-- @function IgComment:replies
-- @tparam[opt] table params query parameters: `fields` (a string or a list)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for r in client:ig_comment(COMMENT_ID):replies{ fields = "id,text,username" }:items() do
--   print(r.username, r.text)
-- end
node.list(IgComment, "replies", "replies")

--- Replies to the comment: `POST /{ig-comment-id}/replies`.
-- @tparam string message the reply's text
-- @treturn[1] table `{ id }` of the reply
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `message` is not a non-empty string
-- @usage local r, err = client:ig_comment(COMMENT_ID):reply("Thank you!")
function IgComment:reply(message)
  if type(message) ~= "string" or message == "" then error("reply: message is required", 2) end
  return self.client:post(self:path("replies"), { message = message })
end

--- Hides or unhides the comment: `POST /{ig-comment-id}` (`hide`).
-- @tparam[opt=true] boolean on `true` (or nothing) to hide, `false` to show it again
-- @treturn[1] table `{ success = true }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `on` is neither `nil` nor a boolean
-- @usage local ok, err = client:ig_comment(COMMENT_ID):hide()
function IgComment:hide(on)
  if on == nil then on = true end
  if type(on) ~= "boolean" then error("hide: expects true or false", 2) end
  return self.client:post(self:path(), { hide = on })
end

--- Shows a hidden comment again: the same as `hide(false)`.
-- @treturn[1] table `{ success = true }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @usage local ok, err = client:ig_comment(COMMENT_ID):unhide()
function IgComment:unhide() return self:hide(false) end

--- Deletes the comment: `DELETE /{ig-comment-id}`.
-- @treturn[1] table `{ success = true }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @usage local ok, err = client:ig_comment(COMMENT_ID):delete()
function IgComment:delete() return self.client:delete(self:path()) end

return _M
