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
  if type(res) ~= "table" then return node.field(res, "instagram_business_account") end
  local account = res.instagram_business_account
  if type(account) ~= "table" then return false end -- absent (or null): no IG account connected
  return account
end

return _M
