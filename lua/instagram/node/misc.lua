--- Smaller nodes: the token's own user (client:me()), IG containers, upcoming events.
local node = require "instagram.node"

local _M = {}

local Me = node.class("user")
_M.Me = Me
node.list(Me, "accounts", "accounts")    -- Pages with their tokens, tasks, IG accounts
function _M.me(client) return setmetatable({ client = client, id = "me" }, Me) end

local Container = node.class("IG container")
_M.Container = Container
function _M.container(client, id) return Container.new(client, id) end
--- status() -> { status_code, status, video_status } | nil, err
function Container:status() return self:fetch("id,status,status_code,video_status") end
--- wait(opts) -> container | nil, err (see instagram.publish.wait)
function Container:wait(opts) return require("instagram.publish").wait(self.client, self.id, opts) end
--- copyright_check_status() -> { status, matches_found } | nil, err
function Container:copyright_check_status()
  local res, err = self:fetch("copyright_check_status")
  if not res then return nil, err end
  return node.field(res, "copyright_check_status")
end

local Event = node.class("upcoming event")
_M.Event = Event
function _M.event(client, id) return Event.new(client, id) end
--- update{ title, start_time, end_time, notification_subtypes, notification_target_time } -> { success }
node.call(Event, "update", "POST", nil)

return _M
