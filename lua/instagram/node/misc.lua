--- Smaller nodes: the token's own user (`client:me()`), IG containers, upcoming events.
-- The objects are @{Me}, @{IgContainer} and @{UpcomingEvent}.
-- @module instagram.node.misc
local node = require "instagram.node"

local _M = {}

local Me = node.class("user")
_M.Me = Me

--- The token's own user (`client:me()`, the node `/me`).
-- Has the fields `client` and `id` (`"me"`), and the methods of @{instagram.node.Node}.
-- @type Me

--- Reads the node's fields: `GET /me`.
-- For a Facebook user token: `id`, `name`, ...; for an Instagram Login token on graph.instagram.com:
-- `user_id`, `username`, `account_type`, ...
-- @function Me:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `fields` is neither a string nor a list
-- @usage local me, err = client:me():fetch("id,name")

--- Lists the Facebook Pages the user manages, with their tokens, tasks and IG accounts.
-- A pager over `GET /me/accounts`.
-- @function Me:accounts
-- @tparam[opt] table params query parameters: `fields` (a string or a list: `id`, `name`,
-- `access_token`, `tasks`, `instagram_business_account`, ...)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `params` or `opts` is not a table, `fields` is neither a string nor a list, or `opts`
-- has an unknown key
-- @usage
-- for page in client:me():accounts{ fields = { "id", "name", "instagram_business_account" } }:items() do
--   print(page.name, page.instagram_business_account and page.instagram_business_account.id)
-- end
node.list(Me, "accounts", "accounts")    -- Pages with their tokens, tasks, IG accounts

--- @section end

--- Makes the `/me` object; `client:me()` calls this.
-- @tparam Client client the client to call through
-- @treturn Me the object (no request is made)
-- @usage local me = client:me()
function _M.me(client) return setmetatable({ client = client, id = "me" }, Me) end

local IgContainer = node.class("IG container")
_M.Container = IgContainer

--- Makes an IG container object; `client:ig_container(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the id (digits)
-- @treturn IgContainer the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local container = client:ig_container(CONTAINER_ID)
function _M.container(client, id) return IgContainer.new(client, id) end

--- A media container waiting to be published (`client:ig_container(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type IgContainer

--- Reads the container's status: `GET /{ig-container-id}?fields=id,status,status_code,video_status`.
-- `status_code` is `IN_PROGRESS`, `FINISHED`, `PUBLISHED`, `ERROR` or `EXPIRED` (24 hours after
-- creation, unpublished).
-- @treturn[1] table `{ id, status_code, status, video_status }` (`video_status` for uploads:
-- `uploading_phase = { status, bytes_transferred }`, `processing_phase`)
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @usage
-- local c = assert(client:ig_container(CONTAINER_ID):status())
-- print(c.status_code)
function IgContainer:status() return self:fetch("id,status,status_code,video_status") end

--- Waits until the container is ready to publish, polling `status_code` with backoff.
-- Returns once it is `FINISHED` (or `PUBLISHED`); see `instagram.publish.wait`.
-- `client:wait_for_container(id, opts)` does the same.
-- @tparam[opt] table opts
-- @tparam[opt=300] number opts.timeout seconds to wait in all (the documented five minutes)
-- @tparam[opt=3] number opts.interval the first wait between polls, in seconds (then 1.5 times longer each
-- time)
-- @tparam[opt=60] number opts.max_interval the longest wait between polls (the documented once a minute)
-- @treturn[1] table the container's last status, `{ id, status_code, status }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error, or `kind = "publish"` with `container_id`, `container_status` and
-- `reason` `"container_error"` (with `subcode` when the status text has one),
-- `"container_expired"`, `"timeout"` (still in progress: wait again later) or `"deadline"` (the
-- client's `deadline` came first: wait again after `retry_after`)
-- @raise when `opts` is not a table, or has an unknown option or a value that is not a number
-- @usage local done, err = client:ig_container(CONTAINER_ID):wait{ timeout = 600 }
function IgContainer:wait(opts) return require("instagram.publish").wait(self.client, self.id, opts) end

--- Reads a video container's copyright check: `GET /{ig-container-id}?fields=copyright_check_status`.
-- @treturn[1] table `{ status = "in_progress" | "complete" | "error" | "not_started", matches_found }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do (`kind = "decode"` when the answer lacks
-- the field)
-- @usage local check, err = client:ig_container(CONTAINER_ID):copyright_check_status()
function IgContainer:copyright_check_status()
  local res, err = self:fetch("copyright_check_status")
  if not res then return nil, err end
  return node.field(res, "copyright_check_status")
end

local UpcomingEvent = node.class("upcoming event")
_M.Event = UpcomingEvent

--- @section end

--- Makes an upcoming event object; `client:upcoming_event(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the id (digits)
-- @treturn UpcomingEvent the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local event = client:upcoming_event(EVENT_ID)
function _M.event(client, id) return UpcomingEvent.new(client, id) end

--- An upcoming event (`client:upcoming_event(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type UpcomingEvent

--- Reads the node's fields: `GET /{event-id}`.
-- For example `id`, `title`, `start_time`, `end_time`, `notification_subtypes`, `notification_target_time`.
-- @function UpcomingEvent:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `fields` is neither a string nor a list
-- @usage local ev, err = client:upcoming_event(EVENT_ID):fetch{ "title", "start_time" }

--- Updates the event: `POST /{event-id}`.
-- @function UpcomingEvent:update
-- @tparam[opt] table params what to change: `title`, `start_time`, `end_time` (ISO 8601),
-- `notification_subtypes` (a list of three, sent as JSON), `notification_target_time`
-- (`"EVENT_START"` or `"EVENT_END"`; with `EVENT_END`, no `end_time`)
-- @treturn[1] table `{ success = true }`
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `params` is not a table
-- @usage
-- local ok, err = client:upcoming_event(EVENT_ID):update{ title = "Launch, moved",
--   start_time = "2025-07-02T18:00:00+0000" }
node.call(UpcomingEvent, "update", "POST", nil)

return _M
