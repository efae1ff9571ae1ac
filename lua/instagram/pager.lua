--- Pagers over list edges: `{ data = [...], paging = {...} }` responses.
--   local p = client:edge("/17841405822304914/media", { fields = "id,caption", max_items = 100 })
--   for item in p:items() do ... end
--   for data, page in p:pages() do ... end
--   if p.err then ... end            -- iteration stops at the first error and keeps it here
--   local list, err = p:all()
-- Follows paging.next (cursor and time-based edges alike), or, for edges documented to return
-- cursors without `next` (field-expanded edges, /tags), the `after` cursor. Holds one page.
--
-- A server's `paging.next` is kept without its secrets (the client sends its own token and proof);
-- one the client would not send (another host, a control byte, a dot segment) ends the walk with
-- that error. @{instagram.client.Client:edge} and the node wrappers' list edges make pagers.
-- @module instagram.pager
-- @usage local p = client:edge("/17841405822304914/media", { fields = "id,caption", max_items = 100 })
-- for item in p:items() do print(item.id) end
-- if p.err then print("stopped early: " .. tostring(p.err)) end
local type, setmetatable, error, pairs, tostring, tonumber, pcall = type, setmetatable, error, pairs, tostring, tonumber,
  pcall

local param_value = require("instagram.params").value

local _M = {}
local Pager = {}
Pager.__index = Pager
Pager.__tostring = function(p) return "instagram pager (" .. tostring(p.path) .. ")" end

local CONTROL = { max_items = true, max_pages = true, cursor_only = true, prefetch = true }
local NESTED = { max_items = true, max_pages = true, limit = true } -- the options of a nested edge's pager

-- A cursor that holds a secret of the client is not sent back (it would travel in a URL).
local function secret_cursor()
  return require("instagram.error").new{ kind = "transport", reason = "invalid",
    message = "refusing a paging cursor that holds a secret of the client" }
end

local function positive(name, v)
  if v == nil then return nil end
  if type(v) ~= "number" or v < 1 or v % 1 ~= 0 then
    error(name .. " must be a positive whole number, got " .. tostring(v), 3)
  end
  return v
end

--- Makes a pager over a list edge; nothing is fetched until it is used.
-- The options may be given in `opts` or among `params` (they are never sent). With `max_items`
-- under 25 and no `limit`, `limit` is set to `max_items`.
-- @tparam Client client the client that makes the calls
-- @tparam string path the edge (`"/17841405822304914/media"`)
-- @tparam[opt] table params query parameters of the first page (`since`/`until` are kept by the
--   API's `next` links)
-- @tparam[opt] table opts the pager options:
-- @tparam[opt] integer opts.max_items stop after this many items (a positive whole number)
-- @tparam[opt] integer opts.max_pages stop after this many pages (a positive whole number)
-- @tparam[opt=false] boolean opts.cursor_only follow `paging.cursors.after` for edges that return
--   cursors without `next` (field-expanded edges, `/tags`); a short page ends the walk
-- @tparam[opt=false] boolean opts.prefetch ask for the next page as soon as a page arrives
--   (@{instagram.client.Client:start_get}), so the server works while the caller's loop does
-- @treturn Pager the pager
-- @raise when `path` is not a non-empty string, `params` or `opts` is not a table, a parameter's
--   value cannot be sent, an option in `opts` is unknown, or `max_items`/`max_pages` is not a
--   positive whole number
-- @usage local pager = require("instagram.pager").new(client, "/17841405822304914/tags", { fields = "id" },
--   { cursor_only = true, max_pages = 3 })
function _M.new(client, path, params, opts)
  if type(path) ~= "string" or path == "" then error("edge path must be a non-empty string", 2) end
  if params ~= nil and type(params) ~= "table" then error("edge params must be a table or nil", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("edge opts must be a table or nil", 2) end
  local q, o = {}, {}
  for k, v in pairs(params or {}) do
    if CONTROL[k] then o[k] = v
    else -- a value that cannot be sent raises now, not from an iterator that never raises
      local ok, why = pcall(param_value, v, k)
      if not ok then error("edge params: " .. tostring(why), 2) end
      q[k] = v
    end
  end
  require("instagram.client").check_options("edge", "opts", opts, CONTROL, 2)
  for k, v in pairs(opts or {}) do o[k] = v end
  local p = setmetatable({
    client = client, path = path, params = q,
    max_items = positive("max_items", o.max_items),
    max_pages = positive("max_pages", o.max_pages),
    cursor_only = o.cursor_only and true or false,
    prefetch = o.prefetch and true or false,
  }, Pager)
  -- Ask for no more than we will use when the caller caps the items.
  if p.max_items and q.limit == nil and p.max_items < 25 then q.limit = p.max_items end
  p:reset()
  return p
end

--- An iterator over a list edge, made by @{new}.
-- Iteration (@{Pager:items}, @{Pager:pages}) stops at the end, at a cap or at the first error,
-- which it keeps in `pager.err`. `tostring(pager)` shows its path.
-- @type Pager
-- @tfield ?Error err the error that stopped the walk, or nil
-- @tfield boolean done true once there is nothing more to fetch
-- @tfield integer pages_fetched pages fetched since the start (or @{Pager:reset})
-- @tfield integer items_seen items handed out since the start
-- @tfield string path the edge

--- Starts again from the first page (a prefetched page is dropped; `err` is cleared).
-- @treturn Pager the pager itself
-- @raise never raises
-- @usage pager:reset()
function Pager:reset()
  if self.pending then self.pending.cancel() self.pending = nil end
  self.pages_fetched, self.items_seen = 0, 0
  self.next_url, self.next_params, self.next_err = self.path, self.params, nil
  self.done, self.err = false, nil
  self.seen = {} -- pages and cursors of this walk: a server that loops ends it
  return self
end

-- A page as the walk saw it: where the next one is, how many items, its first and last ids (a
-- hashtag's next URL repeats on every page, its items do not).
local function fingerprint(next_key, data)
  local function id(item) local v = type(item) == "table" and item.id; return type(v) == "string" and v or tostring(v) end
  return next_key .. "\0" .. #data .. "\0" .. id(data[1]) .. "\0" .. id(data[#data])
end

local function looped()
  return require("instagram.error").new{ kind = "decode",
    message = "the server's paging leads back to a page already read: the walk stops there" }
end

-- Where the page after `page` is, or nil at the end. A server's paging.next is kept without
-- its secrets (access_token, appsecret_proof, anything holding the client's secrets: the
-- client sends its own); one the client would not send (another host, a control byte, a dot
-- segment) ends the walk with that error at the next fetch.
function Pager:_advance(page)
  local paging = type(page.paging) == "table" and page.paging or {}
  local data = page.data
  if type(paging.next) == "string" and paging.next ~= "" then
    local url, err = self.client:_next_url(paging.next)
    self.next_url, self.next_params, self.next_err = url, nil, err
    if url and type(data) == "table" then
      local f = fingerprint(url, data)
      if self.seen[f] then self.next_err = looped() end
      self.seen[f] = true
    end
    return
  end
  local cursors = type(paging.cursors) == "table" and paging.cursors or nil
  -- A short page of a cursor-only edge is its last: no request for an empty page after it.
  local limit = tonumber(self.params.limit)
  if self.cursor_only and limit and type(data) == "table" and #data < limit then self.done = true return end
  if self.cursor_only and cursors and type(cursors.after) == "string" and type(data) == "table" and #data > 0 then
    if self.client:_holds_secret(cursors.after) then self.next_err = secret_cursor() return end
    if self.seen[cursors.after] then self.done = true return end -- a cursor read before: the end
    self.seen[cursors.after] = true
    local q = {}
    for k, v in pairs(self.params) do q[k] = v end
    q.after = cursors.after
    self.next_url, self.next_params = self.path, q
    return
  end
  self.done = true
end

function Pager:_fetch()
  local pending = self.pending
  if pending then
    self.pending = nil
    return pending.finish()
  end
  if self.next_err then return nil, self.next_err end
  return self.client:get(self.next_url, self.next_params)
end

-- With prefetch, the next page is asked for right away (unless a cap says it will not be used).
function Pager:_start_next()
  if not self.prefetch or self.done or self.next_err then return end
  if self.max_pages and self.pages_fetched >= self.max_pages then return end
  if self.max_items and self.items_seen >= self.max_items then return end
  self.pending = self.client:start_get(self.next_url, self.next_params)
end

--- Fetches the next page.
-- With `max_items`, the last page's `data` is cut to what is left.
-- @treturn[1] table the page: `{ data = { ... }, paging = { ... } }` as the API sent it
-- @treturn[2] nil at the end (or a cap)
-- @treturn[3] nil
-- @treturn[3] Error err what stopped it (also kept in `pager.err`); a page without a `data` array
--   is `kind = "decode"`
-- @raise never raises
-- @usage local page, err = pager:next_page()
-- while page do print(#page.data); page, err = pager:next_page() end
function Pager:next_page()
  if self.done then return nil end
  if self.max_pages and self.pages_fetched >= self.max_pages then self.done = true return nil end
  if self.max_items and self.items_seen >= self.max_items then self.done = true return nil end
  local page, err = self:_fetch()
  if not page then
    self.err, self.done = err, true
    return nil, err
  end
  if type(page) ~= "table" or type(page.data) ~= "table" then
    local e = require("instagram.error").new{ kind = "decode",
      message = "expected a list edge response with a 'data' array from " .. tostring(self.path) }
    self.err, self.done = e, true
    return nil, e
  end
  self.pages_fetched = self.pages_fetched + 1
  if #page.data == 0 then self.done = true else self:_advance(page) end
  self.client:_clean_page(page) -- (after the walk read its links: the page handed back holds no secret)
  if self.max_items then
    local room = self.max_items - self.items_seen
    if #page.data > room then
      for i = #page.data, room + 1, -1 do page.data[i] = nil end
    end
  end
  self.items_seen = self.items_seen + #page.data
  self:_start_next()
  return page
end

--- Iterates over pages: `for data, page in pager:pages() do ... end`.
-- An empty last page is not yielded. Check `pager.err` after the loop.
-- @treturn function the iterator, yielding `data` (the page's items) and `page` (the whole page)
-- @raise never raises
-- @usage for data, page in pager:pages() do print(#data, page.paging and page.paging.cursors) end
-- if pager.err then print(pager.err) end
function Pager:pages()
  return function()
    local page = self:next_page()
    if page and #page.data > 0 then return page.data, page end
    return nil -- the end (an empty last page is not yielded), a cap, or an error (see .err)
  end
end

--- Iterates over items, across pages: `for item in pager:items() do ... end`.
-- Check `pager.err` after the loop.
-- @treturn function the iterator, yielding each item
-- @raise never raises
-- @usage for media in client:ig_user(IG_USER_ID):media{ fields = "id,caption" }:items() do print(media.id) end
function Pager:items()
  local data, i = nil, 0
  return function()
    while true do
      if data and i < #data then
        i = i + 1
        return data[i]
      end
      local page = self:next_page()
      if not page then return nil end
      data, i = page.data, 0
    end
  end
end

--- Fetches every item (up to the caps) into one list.
-- @treturn[1] table the items, in order
-- @treturn[2] nil
-- @treturn[2] Error err the error that stopped the walk (the items fetched before are dropped)
-- @raise never raises
-- @usage local all, err = client:edge("/17841405822304914/media", { fields = "id", max_items = 500 }):all()
function Pager:all()
  local out = {}
  for item in self:items() do out[#out + 1] = item end
  if self.err then return nil, self.err end
  return out
end

-- ---- nested edges -------------------------------------------------------------------------

local Nested = setmetatable({}, { __index = Pager })
Nested.__index = Nested
Nested.__tostring = Pager.__tostring

--- Nested edges.
-- @section nested

--- A pager over an edge that comes back inside a node (field expansion), paged with an `after`
-- modifier: each page is `GET path?fields=build_fields(after)`, and `pick(response)` finds the edge
-- in the answer. It has the iterators of any @{Pager}. `business_discovery_media` is built on it.
-- @tparam Client client the client
-- @tparam string path the node (`"/17841405822304914"`)
-- @tparam function build_fields `build_fields(after)` returns the `fields` string, with the
--   `after` cursor (nil for the first page)
-- @tparam function pick `pick(response)` returns the edge `{ data, paging }` from an answer (a
--   non-table means an empty page)
-- @tparam[opt] table opts
-- @tparam[opt] integer opts.max_items stop after this many items
-- @tparam[opt] integer opts.max_pages stop after this many pages
-- @tparam[opt] integer opts.limit the page size asked for (a shorter page is the last)
-- @treturn Pager the pager
-- @raise when `path` is not a non-empty string, `build_fields` or `pick` is not a function, `opts`
--   has a key other than `max_items`, `max_pages` and `limit`, or `max_items` or `max_pages` is not
--   a positive whole number
-- @usage local F = require "instagram.fields"
-- local p = require("instagram.pager").nested(client, "/17841405822304914",
--   function(after) return F.build{ F.edge("business_discovery", { username = "bluebottle" },
--     { F.edge("media", { limit = 10, after = after }, { "id" }) }) } end,
--   function(res) return res.business_discovery and res.business_discovery.media end, { limit = 10 })
function _M.nested(client, path, build_fields, pick, opts)
  if type(path) ~= "string" or path == "" then error("pager.nested: path must be a non-empty string", 2) end
  if type(build_fields) ~= "function" then error("pager.nested: build_fields must be a function", 2) end
  if type(pick) ~= "function" then error("pager.nested: pick must be a function", 2) end
  require("instagram.client").check_options("pager.nested", "opts", opts, NESTED, 2)
  opts = opts or {}
  local p = setmetatable({ client = client, path = path, params = { limit = opts.limit }, build_fields = build_fields,
    pick = pick,
    max_items = positive("max_items", opts.max_items), max_pages = positive("max_pages", opts.max_pages) }, Nested)
  p:reset()
  return p
end

function Nested:reset()
  Pager.reset(self)
  self.after = nil
  return self
end

function Nested:_fetch()
  if self.next_err then return nil, self.next_err end
  local ok, fields = pcall(self.build_fields, self.after) -- (a server's cursor goes into it)
  if not ok then
    return nil, require("instagram.error").new{ kind = "decode",
      message = "the server's cursor cannot be used in the edge's field expansion" }
  end
  local res, err = self.client:get(self.path, { fields = fields })
  if not res then return nil, err end
  local edge = self.pick(res)
  if type(edge) ~= "table" then return { data = {} } end
  return edge
end

function Nested:_advance(page)
  local limit = tonumber(self.params.limit)
  if limit and #page.data < limit then self.done = true return end -- a short page is the last
  local cursors = type(page.paging) == "table" and page.paging.cursors
  local after = type(cursors) == "table" and cursors.after
  if type(after) ~= "string" or self.seen[after] then self.done = true return end -- none, or read before
  if self.client:_holds_secret(after) then self.next_err = secret_cursor() return end
  self.seen[after] = true
  self.after = after
end

return _M
