--- IG Hashtag node: `client:ig_hashtag(id)`; find ids with `client:hashtag_search(user_id, q)`.
-- The object is an @{IgHashtag}. A user can query at most 30 unique hashtags per 7 days.
-- @module instagram.node.ig_hashtag
local node = require "instagram.node"
local json = require "instagram.json"
local errors = require "instagram.error"

local type, error, pairs, pcall = type, error, pairs, pcall

local _M = {}
local IgHashtag = node.class("IG hashtag")
_M.Hashtag = IgHashtag

--- Makes an IG hashtag object; `client:ig_hashtag(id)` calls this.
-- @tparam Client client the client to call through
-- @tparam string|number id the id (digits)
-- @treturn IgHashtag the object (no request is made)
-- @raise when `id` is not a string of digits or an exact whole number
-- @usage local tag = client:ig_hashtag(assert(client:hashtag_search(IG_USER_ID, "dinosaurs")))
function _M.new(client, id) return IgHashtag.new(client, id) end

--- An IG hashtag (`client:ig_hashtag(id)`).
-- Has the fields `client` and `id`, and the methods of @{instagram.node.Node} (`fetch`, `path`).
-- @type IgHashtag

--- Reads the node's fields: `GET /{ig-hashtag-id}`.
-- Its fields are `id` and `name`.
-- @function IgHashtag:fetch
-- @tparam[opt] string|table fields `"a,b"` or `{ "a", "b" }`; the API's defaults when `nil`
-- @treturn[1] table the fields
-- @treturn[2] nil on failure
-- @treturn[2] Error err, for anything the network or the API can do
-- @raise when `fields` is neither a string nor a list
-- @usage local tag, err = client:ig_hashtag(HASHTAG_ID):fetch("id,name")

local function media_edge(edge)
  return function(self, user_id, params, opts)
    local p = { user_id = node.check_id(user_id, "IG user") }
    for k, v in pairs(params or {}) do p[k] = v end
    p.fields = node.fields(p.fields) or "id,media_type,comments_count,like_count,caption,permalink,timestamp"
    -- The after cursor repeats on every page: follow `next`, stop when it is gone or data is empty.
    return self.client:edge(self:path(edge), p, opts)
  end
end

--- Lists the most popular media tagged with the hashtag.
-- A pager over `GET /{ig-hashtag-id}/top_media?user_id=...`. The API repeats the same `after`
-- cursor on every page: the pager follows `paging.next` and stops when it is gone or a page is
-- empty.
-- @function IgHashtag:top_media
-- @tparam string|number user_id the IG user making the query (digits; required by the API)
-- @tparam[opt] table params query parameters: `fields` (a string or a list; default
-- `id,media_type,comments_count,like_count,caption,permalink,timestamp`), `limit` (at most 50)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `user_id` is not digits, `params` or `opts` is not a table, `fields` is neither a string nor a
-- list, or `opts`
-- has an unknown key
-- @usage
-- for m in client:ig_hashtag(HASHTAG_ID):top_media(IG_USER_ID, { limit = 50 }, { max_items = 200 }):items() do
--   print(m.permalink, m.like_count)
-- end
IgHashtag.top_media = media_edge("top_media")

--- Lists the media tagged with the hashtag in the last 24 hours, newest first.
-- A pager over `GET /{ig-hashtag-id}/recent_media?user_id=...`, paged as @{IgHashtag:top_media}.
-- @function IgHashtag:recent_media
-- @tparam string|number user_id the IG user making the query (digits; required by the API)
-- @tparam[opt] table params query parameters: `fields` (a string or a list; default
-- `id,media_type,comments_count,like_count,caption,permalink,timestamp`), `limit` (at most 50)
-- @tparam[opt] table opts the pager's options: `max_items`, `max_pages` (stop fetching once met),
-- `prefetch` (ask for the next page while the loop works), `cursor_only`
-- @treturn Pager a pager; nothing is sent until it is iterated, and an error ends the iteration
-- (`pager.err`, or `nil, err` from `pager:next_page()` / `pager:all()`)
-- @raise when `user_id` is not digits, `params` or `opts` is not a table, `fields` is neither a string nor a
-- list, or `opts`
-- has an unknown key
-- @usage
-- local recent, err = client:ig_hashtag(HASHTAG_ID):recent_media(IG_USER_ID, { fields = "id,caption" }):all()
IgHashtag.recent_media = media_edge("recent_media")

--- @section end

--- Finds a hashtag's id: `GET /ig_hashtag_search?user_id=...&q=...`; `client:hashtag_search` calls this.
-- Accepts either documented answer shape (`{ data = { { id } } }` or `{ id }`). Each new hashtag
-- counts towards the user's 30 unique hashtags per 7 days.
-- @tparam Client client the client to call through
-- @tparam string|number user_id the IG user making the query (digits)
-- @tparam string q the hashtag, without `#`
-- @treturn[1] string the hashtag's id
-- @treturn[2] nil on failure
-- @treturn[2] Error err: the API's error; `kind = "graph"`, `code = 100` when no hashtag matched;
-- `kind = "decode"` when the id in the answer is not digits
-- @raise when `q` is not a non-empty string, or `user_id` is not digits
-- @usage local id, err = client:hashtag_search(IG_USER_ID, "dinosaurs")
function _M.search(client, user_id, q)
  if type(q) ~= "string" or q == "" then error("hashtag_search: q (the hashtag, without #) is required", 3) end
  local res, err = client:get("/ig_hashtag_search", { user_id = node.check_id(user_id, "IG user"), q = q })
  if not res then return nil, err end
  if type(res) ~= "table" then return node.field(res, "data") end
  local first = type(res.data) == "table" and res.data[1] or nil
  local id = type(first) == "table" and first.id or res.id
  if type(id) == "number" then
    local ok, s = pcall(json.number, id)
    id = ok and s or nil
  end
  if type(id) == "string" and id:match("^%d+$") then return id end
  if id ~= nil and id ~= json.null then
    return nil, errors.new{ kind = "decode", message = "the hashtag id in the answer is not a string of digits" }
  end
  return nil, errors.new{ kind = "graph", code = 100, message = "no hashtag found for " .. q }
end

return _M
