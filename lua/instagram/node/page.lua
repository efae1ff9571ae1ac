--- Facebook Page node: `client:page(id)`, the Page an IG professional account is connected to.
-- The object is a @{Page}.
-- @module instagram.node.page
local node = require "instagram.node"

local _M = {}
local Page = node.class("Page")
_M.Page = Page

--- Makes a Page object; `client:page(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the id (digits)
-- @treturn Page the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local page = client:page("134895793791914")
function _M.new(client, id) return Page.new(client, id) end

--- A Facebook Page (`client:page(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type Page

--- Reads the node's fields: `GET /{page-id}`.
-- For example `id`, `name`, `instagram_business_account`.
-- @function Page:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `fields` is neither a string nor a list
-- @usage local page, err = client:page(PAGE_ID):fetch{ "name", "instagram_business_account" }

--- Lists the Page-backed Instagram accounts of the Page.
-- A pager over `GET /{page-id}/page_backed_instagram_accounts`.
-- @function Page:page_backed_instagram_accounts
-- @tparam[opt] table params query parameters: `fields` (a string or a list: `id`, `username`, ...)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage local accounts, err = client:page(PAGE_ID):page_backed_instagram_accounts{ fields = "id,username" }:all()
node.list(Page, "page_backed_instagram_accounts", "page_backed_instagram_accounts")

--- Reads the IG professional account connected to the Page.
-- `GET /{page-id}?fields=instagram_business_account`.
-- @treturn[1] table `{ id }` of the connected IG user
-- @treturn[2] boolean `false` when no IG account is connected
-- @treturn[3] nil on failure
-- @treturn[3] Error err, for anything the network or the API can do
-- @usage
-- local account, err = client:page(PAGE_ID):instagram_business_account()
-- if account then print(client:ig_user(account.id)) elseif account == false then print("none") end
function Page:instagram_business_account()
  local res, err = self:fetch("instagram_business_account")
  if not res then return nil, err end
  if type(res) ~= "table" then return node.field(res, "instagram_business_account") end
  local account = res.instagram_business_account
  if type(account) ~= "table" then return false end -- absent (or null): no IG account connected
  return account
end

return _M
