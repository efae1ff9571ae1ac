--- Facebook Page node: client:page(id)
local node = require "instagram.node"

local _M = {}
local Page = node.class("Page")
_M.Page = Page
function _M.new(client, id) return Page.new(client, id) end

node.list(Page, "page_backed_instagram_accounts", "page_backed_instagram_accounts")

--- instagram_business_account() -> { id } of the connected IG user | nil, err (false: none)
function Page:instagram_business_account()
  local res, err = self:fetch("instagram_business_account")
  if not res then return nil, err end
  return res.instagram_business_account or false
end

return _M
