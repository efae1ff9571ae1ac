--- instagram-graph: a Lua client for the Instagram Graph API.
--
-- The entry point: `require "instagram"` gives @{new} (a @{instagram.client.Client}) and the
-- modules most programs need. Every call of a client returns the decoded JSON answer, or `nil, err`
-- with an @{instagram.error.Error} for anything the network or the API can do; misuse (a wrong
-- argument type, an unknown option) raises a Lua error. Runs on Lua 5.4 and LuaJIT, and inside
-- nginx (OpenResty), where calls go through non-blocking cosockets by themselves.
--
-- Modules: @{instagram.client} (the client and its options), @{instagram.error}, @{instagram.json},
-- @{instagram.pager}, @{instagram.params}, @{instagram.fields}, @{instagram.usage}, the node wrappers
-- (@{instagram.node}), publishing and uploads, @{instagram.token}, @{instagram.oauth},
-- @{instagram.webhook}, @{instagram.batch}, the transports (@{instagram.transport.auto},
-- @{instagram.transport.curl}, @{instagram.transport.ngx}) and the C core @{instagram.core}.
-- @module instagram
-- @usage local instagram = require "instagram"
-- local client = instagram.new{ access_token = os.getenv("IG_TOKEN"), app_secret = os.getenv("IG_APP_SECRET") }
-- local me, err = client:get("/me", { fields = "id,username" })
-- if not me then error(tostring(err)) end
-- print(me.id, me.username)
local client = require "instagram.client"

local _M = {
  --- The library's version (the C core's `_VERSION`), e.g. `"0.1.0"`.
  _VERSION = client._VERSION,
  --- The Graph API version a client uses unless told otherwise (`"v24.0"`).
  DEFAULT_VERSION = client.DEFAULT_VERSION,
  -- instagram.new: see the @function block below.
  new = client.new,
  --- @{instagram.json}: JSON that keeps numbers exact.
  json = require "instagram.json",
  --- @{instagram.error}: the error objects, `scrub` and `scrub_error`.
  error = require "instagram.error",
  -- instagram.is_error: see the @function block below.
  is_error = require("instagram.error").is_error,
  --- @{instagram.token}: access tokens that know their expiry.
  token = require "instagram.token",
  --- @{instagram.fields}: builds `fields` strings with nested edges and modifiers.
  fields = require "instagram.fields",
  --- @{instagram.oauth}: logins and token exchanges.
  oauth = require "instagram.oauth",
  --- @{instagram.webhook}: verifies webhook handshakes and signed events.
  webhook = require "instagram.webhook",
  --- @{instagram.store}: shared state (process memory, an nginx lua_shared_dict, Redis).
  store = require "instagram.store",
}

--- Makes a client (@{instagram.client.new}); no request is sent.
-- @function new
-- @tparam[opt] table opts the options, every one optional: `access_token`, `app_secret`, `version`,
--   `graph_url`, `rupload_url`, `timeout`, `connect_timeout`, `max_body`, `ca_file`, `retries`,
--   `retry_base`, `retry_cap`, `retry_max_wait`, `user_agent`, `http2`, `transport`, `sleep`,
--   `on_retry`, `throttle`, `auto_refresh`, `refresh_margin`, `on_refresh`; each with its type,
--   default and range at @{instagram.client.new_options}
-- @treturn Client the client
-- @raise for options that are not a table, an unknown option, a wrong type or a value out of range
--   (the message names the option and its range)
-- @usage local client = require("instagram").new{ access_token = os.getenv("IG_TOKEN"), timeout = 10 }

--- Is a value an error object of this library (@{instagram.error.is_error})?
-- @function is_error
-- @param x any value
-- @treturn boolean
-- @raise never raises
-- @usage local v, err = client:get("/me")
-- if not v and instagram.is_error(err) then print(err.kind, err.message) end

return _M
