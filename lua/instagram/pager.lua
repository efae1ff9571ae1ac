--- Pagers over list edges: `{ data = [...], paging = {...} }` responses.
--   local p = client:edge("/17841405822304914/media", { fields = "id,caption", max_items = 100 })
--   for item in p:items() do ... end
--   for data, page in p:pages() do ... end
--   if p.err then ... end            -- iteration stops at the first error and keeps it here
--   local list, err = p:all()
-- Follows paging.next (cursor and time-based edges alike), or, for edges documented to return
-- cursors without `next` (field-expanded edges, /tags), the `after` cursor. Holds one page.
local type, setmetatable, error, pairs, tostring, tonumber = type, setmetatable, error, pairs, tostring, tonumber

local _M = {}
local Pager = {}
Pager.__index = Pager
Pager.__tostring = function(p) return "instagram pager (" .. tostring(p.path) .. ")" end

local CONTROL = { max_items = true, max_pages = true, cursor_only = true, prefetch = true }

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

--- new(client, path, params, opts) ; opts (or the same keys in params): max_items, max_pages,
-- cursor_only (follow paging.cursors.after when the edge gives no `next`), prefetch (ask for the
-- next page as soon as this one arrives, so the server works while the caller does).
function _M.new(client, path, params, opts)
  if type(path) ~= "string" or path == "" then error("edge path must be a non-empty string", 2) end
  if params ~= nil and type(params) ~= "table" then error("edge params must be a table or nil", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("edge opts must be a table or nil", 2) end
  local q, o = {}, {}
  for k, v in pairs(params or {}) do
    if CONTROL[k] then o[k] = v else q[k] = v end
  end
  for k, v in pairs(opts or {}) do
    if not CONTROL[k] then error("unknown pager option '" .. tostring(k) .. "'", 2) end
    o[k] = v
  end
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

--- Starts again from the first page.
function Pager:reset()
  if self.pending then self.pending.cancel() self.pending = nil end
  self.pages_fetched, self.items_seen = 0, 0
  self.next_url, self.next_params, self.next_err = self.path, self.params, nil
  self.done, self.err = false, nil
  return self
end

--- Where the page after `page` is, or nil at the end. A server's paging.next is kept without
-- its secrets (access_token, appsecret_proof, anything holding the client's secrets: the
-- client sends its own); one the client would not send (another host, a control byte, a dot
-- segment) ends the walk with that error at the next fetch.
function Pager:_advance(page)
  local paging = type(page.paging) == "table" and page.paging or {}
  local data = page.data
  if type(paging.next) == "string" and paging.next ~= "" then
    local url, err = self.client:_next_url(paging.next)
    self.next_url, self.next_params, self.next_err = url, nil, err
    return
  end
  local cursors = type(paging.cursors) == "table" and paging.cursors or nil
  -- A short page of a cursor-only edge is its last: no request for an empty page after it.
  local limit = tonumber(self.params.limit)
  if self.cursor_only and limit and type(data) == "table" and #data < limit then self.done = true return end
  if self.cursor_only and cursors and type(cursors.after) == "string" and type(data) == "table" and #data > 0 then
    if self.client:_holds_secret(cursors.after) then self.next_err = secret_cursor() return end
    local q = {}
    for k, v in pairs(self.params) do q[k] = v end
    q.after = cursors.after
    if q.after == (self.next_params and self.next_params.after) then self.done = true return end
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

--- With prefetch, the next page is asked for right away (unless a cap says it will not be used).
function Pager:_start_next()
  if not self.prefetch or self.done or self.next_err then return end
  if self.max_pages and self.pages_fetched >= self.max_pages then return end
  if self.max_items and self.items_seen >= self.max_items then return end
  self.pending = self.client:start_get(self.next_url, self.next_params)
end

--- next_page() -> page table | nil when done | nil, err
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

--- for data, page in pager:pages() do ... end  (stops at the end, a cap, or an error: see .err)
function Pager:pages()
  return function()
    local page = self:next_page()
    if page and #page.data > 0 then return page.data, page end
    return nil -- the end (an empty last page is not yielded), a cap, or an error (see .err)
  end
end

--- for item in pager:items() do ... end
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

--- all() -> array of every item | nil, err
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

--- nested(client, path, build_fields, pick, opts) -> a pager over an edge that comes back inside
-- a node (field expansion), paged with an `after` modifier: build_fields(after_or_nil) returns the
-- fields string, pick(response) the edge ({ data, paging }). Same iterators as any pager.
-- opts: max_items, max_pages, limit (the page size asked for, so a short page ends it).
function _M.nested(client, path, build_fields, pick, opts)
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
  local res, err = self.client:get(self.path, { fields = self.build_fields(self.after) })
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
  if type(after) ~= "string" or after == self.after then self.done = true return end
  if self.client:_holds_secret(after) then self.next_err = secret_cursor() return end
  self.after = after
end

return _M
