--- IG Hashtag node: client:ig_hashtag(id); find ids with client:hashtag_search(user_id, q).
local node = require "instagram.node"
local json = require "instagram.json"
local errors = require "instagram.error"

local type, error, pairs, pcall = type, error, pairs, pcall

local _M = {}
local Hashtag = node.class("IG hashtag")
_M.Hashtag = Hashtag
function _M.new(client, id) return Hashtag.new(client, id) end

local function media_edge(edge)
  return function(self, user_id, params, opts)
    local p = { user_id = node.check_id(user_id, "IG user") }
    for k, v in pairs(params or {}) do p[k] = v end
    p.fields = node.fields(p.fields) or "id,media_type,comments_count,like_count,caption,permalink,timestamp"
    -- The after cursor repeats on every page: follow `next`, stop when it is gone or data is empty.
    return self.client:edge(self:path(edge), p, opts)
  end
end

--- top_media(user_id, params) / recent_media(user_id, params) -> pagers (at most 50 per page)
Hashtag.top_media = media_edge("top_media")
Hashtag.recent_media = media_edge("recent_media")

--- hashtag_search(client, user_id, q) -> hashtag id | nil, err (either documented answer shape)
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
