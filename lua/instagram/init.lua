--- instagram-graph: a Lua client for the Instagram Graph API.
--   local instagram = require "instagram"
--   local client = instagram.new{ access_token = TOKEN }
local client = require "instagram.client"

local _M = {
  _VERSION = client._VERSION,
  DEFAULT_VERSION = client.DEFAULT_VERSION,
  new = client.new,
  json = require "instagram.json",
  error = require "instagram.error",
  is_error = require("instagram.error").is_error,
  token = require "instagram.token",
  fields = require "instagram.fields",
  oauth = require "instagram.oauth",
  webhook = require "instagram.webhook",
}

return _M
