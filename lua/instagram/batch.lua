--- Batch requests: many Graph operations in one HTTP call (50 per call; longer lists are split).
--
--     local results, err = client:batch{
--       { method = "GET", relative_url = "me/accounts?fields=id", name = "pages" },
--       { method = "GET", relative_url = "{result=pages:$.data.0.id}?fields=name", depends_on = "pages" },
--       { method = "POST", relative_url = "17918195224100001/comments", body = { message = "hi" } },
--     }
--
-- `results[i]` is `{ code, headers, body = decoded }` for a success, an error object for a failure,
-- or `false` when the API sent nothing for it (`omit_response_on_success`, or its dependency failed).
-- `err` is set only when a whole batch call failed.
-- @module instagram.batch
local json = require "instagram.json"
local params_m = require "instagram.params"
local errors = require "instagram.error"

local type, ipairs, pairs, next, tostring, tonumber, error, pcall, min, floor, lower = type, ipairs, pairs, next,
  tostring, tonumber, error, pcall, math.min, math.floor, string.lower

local _M = { MAX = 50 }

-- (attached_files is not taken: it names files of a multipart batch, which this call does not send)
local KEYS = { method = true, relative_url = true, body = true, name = true, depends_on = true,
               omit_response_on_success = true }

local OPTS = { include_headers = "boolean" }

local function encode_op(op)
  local out = { method = (op.method or "GET"):upper(), relative_url = op.relative_url, name = op.name,
                depends_on = op.depends_on, omit_response_on_success = op.omit_response_on_success }
  if type(op.body) == "table" then out.body = params_m.encode(op.body) else out.body = op.body end
  return out
end

-- Checks every operation and encodes it, before anything is sent: a mistake in operation 51 must
-- not surface after the first 50 were carried out. The encoded operations, in order.
local function check(ops)
  if type(ops) ~= "table" or #ops == 0 then error("batch: expects a non-empty list of operations", 3) end
  local chunk_of, encoded = {}, {}
  for i = 1, #ops do
    local op = ops[i]
    if type(op) ~= "table" then error("batch: operation " .. i .. " must be a table", 3) end
    for k in pairs(op) do
      if not KEYS[k] then error("batch: operation " .. i .. " has an unknown key '" .. tostring(k) .. "'", 3) end
    end
    if type(op.relative_url) ~= "string" or op.relative_url == "" then
      error("batch: operation " .. i .. " needs relative_url (such as 'me?fields=id')", 3)
    end
    if op.method ~= nil and (type(op.method) ~= "string" or not op.method:upper():match("^[A-Z]+$")) then
      error("batch: operation " .. i .. " has a bad method", 3)
    end
    if op.body ~= nil and type(op.body) ~= "table" and type(op.body) ~= "string" then
      error("batch: operation " .. i .. ": body must be a table of params or a form-encoded string", 3)
    end
    local chunk = floor((i - 1) / _M.MAX)
    if op.name then chunk_of[op.name] = chunk end
    if op.depends_on ~= nil then
      local c = chunk_of[op.depends_on]
      if c == nil then error("batch: operation " .. i .. " depends on '" .. tostring(op.depends_on)
        .. "', which no earlier operation is named", 3) end
      if c ~= chunk then error(("batch: operation %d depends on '%s' across the %d-operation boundary of one "
        .. "call; reorder so that they fall in the same %d"):format(i, op.depends_on, _M.MAX, _M.MAX), 3) end
    end
    local ok, out = pcall(encode_op, op)
    if not ok then error("batch: operation " .. i .. ": " .. tostring(out), 3) end
    encoded[i] = out
  end
  return encoded
end

-- One entry of a batch answer as a result. The headers' names and values are the server's words:
-- scrubbed of the call's secrets, as errors are.
local function result(entry, secrets_scrub, k)
  if entry == nil or entry == json.null then return false end
  if type(entry) ~= "table" then
    return errors.new{ kind = "decode", message = ("batch answer item %d is a %s, not an object"):format(k, type(entry)) }
  end
  local code = tonumber(entry.code) or 0
  local body = entry.body
  local decoded, why = nil, nil
  if type(body) == "string" and body ~= "" then decoded, why = json.decode(body) end
  local headers = {}
  if type(entry.headers) == "table" then
    for _, h in ipairs(entry.headers) do
      local name, value = type(h) == "table" and h.name, type(h) == "table" and h.value
      if (type(name) == "string" or type(name) == "number") and (type(value) == "string" or type(value) == "number") then
        headers[lower(errors.scrub(tostring(name), secrets_scrub))] = errors.scrub(tostring(value), secrets_scrub)
      end
    end
  end
  if type(decoded) == "table" and type(decoded.error) == "table" then
    return errors.graph(code, decoded.error, nil, secrets_scrub)
  end
  if code < 200 or code >= 300 then return errors.http(code, body, nil, secrets_scrub) end
  if decoded == nil and body ~= nil and body ~= "" then return errors.decode(code, body, why, secrets_scrub) end
  return { code = code, headers = headers, body = decoded }
end

-- The secrets one operation carries (see Client:request): the client's, and the values of its
-- secret-bearing parameters, in relative_url's query or in body.
local function op_secrets(client, op)
  local body = op.body
  if type(body) == "string" then body = params_m.decode(body) end
  return client:_call_secrets("/" .. op.relative_url, body, nil)
end

--- Runs a list of operations as Graph batch requests; `client:batch(ops, opts)` calls this.
-- `POST /` with `batch` (a JSON array), 50 operations a call; longer lists are split into
-- several calls, made in order. Every operation is checked and encoded before the first call. An
-- operation's error and its headers are scrubbed of every secret that its call of 50 carries (they
-- travelled in one body); a failed call's error likewise.
-- @tparam Client client the client to call through
-- @tparam table ops a non-empty list of operations, each a table with:
-- `relative_url` (required: a path and query without the version, such as `"me?fields=id"`, or
-- a JSONPath reference such as `"{result=pages:$.data.0.id}"`), `method` (default `"GET"`),
-- `body` (a table of parameters, or a form-encoded string), `name`, `depends_on` (the `name`
-- of an earlier operation in the same call of 50), `omit_response_on_success`
-- @tparam[opt] table opts
-- @tparam[opt=true] boolean opts.include_headers `false` leaves each result's headers out
-- @treturn[1] table results, one per operation in order: `{ code, headers, body }` (`headers` by
-- lower-case name, `body` decoded), an Error for a failed operation (`kind = "graph"`, `"http"`
-- or `"decode"`), or `false` when the API sent nothing for it
-- @treturn[2] nil when a whole batch call failed (results of earlier calls are dropped, though
-- their operations were carried out)
-- @treturn[2] Error err
-- @raise when `ops` is not a non-empty list, an operation is not a table, has an unknown key, no
-- `relative_url`, a bad `method` or `body` (also a parameter in `body` that cannot be sent), or
-- `depends_on` names no earlier operation or one across a 50-operation boundary; or when `opts`
-- has another option than `include_headers`, or it is not a boolean
-- @usage
-- local results, err = client:batch{
--   { relative_url = "me/accounts?fields=id", name = "pages" },
--   { relative_url = "{result=pages:$.data.0.id}?fields=name", depends_on = "pages" },
-- }
-- for i, r in ipairs(results or {}) do print(i, r and r.code, r and r.body) end
function _M.run(client, ops, opts)
  local encoded = check(ops)
  require("instagram.client").check_options("batch", "opts", opts, OPTS, 2)
  opts = opts or {}
  local results = {}
  for first = 1, #ops, _M.MAX do
    local chunk, all = {}, {}
    for i = first, min(#ops, first + _M.MAX - 1) do
      chunk[#chunk + 1] = encoded[i]
      local list = op_secrets(client, ops[i])
      for j = 1, #list do all[#all + 1] = list[j] end
    end
    local res, err = client:post("/", { batch = json.array(chunk),
      include_headers = opts.include_headers == false and "false" or nil }, { scrub = all })
    if not res then return nil, err end
    if type(res) ~= "table" or (res[1] == nil and next(res) ~= nil) then
      return nil, errors.new{ kind = "decode", message = "a batch answer must be a JSON array" }
    end
    -- every result is scrubbed of every secret the call carried: they all travelled in one body
    for k = 1, #chunk do
      local r = result(res[k], all, k)
      if errors.is_error(r) then client:_scrub_error(r, all) elseif r then client:_strip_paging_links(r.body) end
      results[first + k - 1] = r
    end
  end
  return results
end

return _M
