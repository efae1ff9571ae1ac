--- Error objects: every expected failure comes back as `nil, err` with one of these.
-- Fields: kind ("graph" | "http" | "transport" | "decode" | "timeout"), message, code, subcode,
-- type, fbtrace_id, status, is_transient, retry_after, user_title, user_msg, and for transport
-- failures `reason` (connect | tls | network | size | invalid | foreign_host).
-- What a server sent is made safe here, once: text fields are strings (a number, boolean or
-- object the server put there is printed), codes are whole numbers or nil, every string (nested
-- ones too) is scrubbed of the secrets the call carried and then cut to a bounded length, so
-- tostring(err) never raises and never shows a secret.
local json = require "instagram.json"

local setmetatable, getmetatable, tostring, type, tonumber = setmetatable, getmetatable, tostring, type, tonumber
local pairs, next, floor = pairs, next, math.floor
local concat, find, sub, byte, gsub = table.concat, string.find, string.sub, string.byte, string.gsub
local tointeger = math.tointeger or function(n) return n end

local _M = {}

--- How many bytes of a server's text an error keeps: any one field, and a non-JSON body.
_M.MAX_FIELD = 1000
_M.MAX_BODY = 300

--- Runs of a secret at least this long are scrubbed even where the whole secret is not present
-- (a secret cut in two, or half of one echoed back).
local RUN = 8

local REDACTED = "[redacted]"

-- ---- any value -> text, never raising ------------------------------------------------------

--- text(v) -> a string for any value (nil and JSON null stay nil); never raises.
local function text(v)
  local tv = type(v)
  if tv == "string" then return v end
  if v == nil or v == json.null then return nil end
  if tv == "number" then
    if v ~= v then return "nan" end
    local ok, s = pcall(json.number, v)
    return ok and s or tostring(v)
  end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "table" then return json.encode(v) or "(table)" end
  return "(" .. tv .. ")"
end
_M.text = text

--- A whole, finite number (or nil) from whatever the server sent as a code.
local function whole(v)
  v = tonumber(v)
  if not v or v ~= v or v ~= floor(v) or v <= -2 ^ 53 or v >= 2 ^ 53 then return nil end
  return tointeger(v) or v
end

-- ---- scrubbing -----------------------------------------------------------------------------

--- The secrets of a list (holes allowed), ready to look for: whole ones of 4 bytes or more, and
-- every RUN-byte piece of those of RUN bytes or more.
local function prepare(secrets)
  if type(secrets) ~= "table" then return nil end
  local whole_list, runs = {}, nil
  for _, s in pairs(secrets) do
    if type(s) == "string" and #s >= 4 then
      whole_list[#whole_list + 1] = s
      if #s >= RUN then
        runs = runs or {}
        for i = 1, #s - RUN + 1 do runs[sub(s, i, i + RUN - 1)] = true end
      end
    end
  end
  if #whole_list == 0 then return nil end
  -- longest first, so that a secret containing another is replaced whole
  table.sort(whole_list, function(a, b) return #a > #b end)
  return { list = whole_list, runs = runs }
end

local function replace_whole(s, list)
  for i = 1, #list do
    local secret = list[i]
    local a, b = find(s, secret, 1, true)
    if a then
      local out, init = {}, 1
      while a do
        out[#out + 1] = sub(s, init, a - 1)
        out[#out + 1] = REDACTED
        init = b + 1
        a, b = find(s, secret, init, true)
      end
      out[#out + 1] = sub(s, init)
      s = concat(out)
    end
  end
  return s
end

-- Every stretch of s covered by RUN-byte pieces of a secret becomes one REDACTED.
local function replace_runs(s, runs)
  if not runs or #s < RUN then return s end
  local out, from, i, n = nil, 1, 1, #s
  while i <= n - RUN + 1 do
    if runs[sub(s, i, i + RUN - 1)] then
      local last = i + RUN - 1
      local j = i + 1
      while j <= last + 1 and j <= n - RUN + 1 do -- extend while pieces keep overlapping
        if runs[sub(s, j, j + RUN - 1)] then last = j + RUN - 1 end
        j = j + 1
      end
      out = out or {}
      out[#out + 1] = sub(s, from, i - 1)
      out[#out + 1] = REDACTED
      from, i = last + 1, last + 1
    else
      i = i + 1
    end
  end
  if not out then return s end
  out[#out + 1] = sub(s, from)
  return concat(out)
end

-- Values that are secrets by their name, whoever they belong to (a token a failing answer still
-- carried, a code echoed back): in JSON ("name": "value") and in forms and queries (name=value).
local NAMED = { "access_token", "long_lived_token", "refresh_token", "client_secret", "code", "appsecret_proof",
                "input_token", "fb_exchange_token" }

local function redact_named(s)
  if not (find(s, "token", 1, true) or find(s, "secret", 1, true) or find(s, "code", 1, true)
          or find(s, "proof", 1, true)) then
    return s
  end
  for i = 1, #NAMED do
    local name = NAMED[i]
    if find(s, name, 1, true) then
      local init = 1
      while true do
        local _, b = find(s, '"' .. name .. '"%s*:%s*"', init)
        if not b then break end
        local j, n = b + 1, #s -- to the closing quote (escapes skipped), or the end of a cut text
        while j <= n do
          local c = byte(s, j)
          if c == 92 then j = j + 2 elseif c == 34 then break else j = j + 1 end
        end
        if j > b + 1 then s = sub(s, 1, b) .. REDACTED .. sub(s, j) end
        init = b + 1
      end
      s = gsub(s, "([%?&;,%s])(" .. name .. ")=[^&%s\"'#,;]+", "%1%2=" .. REDACTED)
      s = gsub(s, "^(" .. name .. ")=[^&%s\"'#,;]+", "%1=" .. REDACTED)
    end
  end
  return s
end
_M.redact_named = redact_named

local function clip(s, limit)
  if limit and #s > limit then return sub(s, 1, limit) .. "..." end
  return s
end

-- Scrub (secrets named in the list, and values named like secrets), then cut, then scrub what is
-- left of any secret a cut or an echo left in pieces.
local function apply(p, s, limit)
  s = redact_named(s)
  if p then s = replace_whole(s, p.list) end
  s = clip(s, limit)
  if p then s = replace_runs(s, p.runs) end
  return s
end

--- scrub(s, secrets) -> s with every secret (plain match, 4 bytes or more), every run of 8 or
-- more bytes of one, and the value of every parameter or JSON member named like a secret
-- (access_token, client_secret, code, ...) replaced by "[redacted]". Non-strings pass through.
function _M.scrub(s, secrets)
  if type(s) ~= "string" then return s end
  return apply(prepare(secrets), s)
end

local function scrub_table(t, p, limit, depth, seen)
  if seen[t] or depth > json.MAX_DEPTH then return end
  seen[t] = true
  local moves
  for k, v in next, t do
    if type(v) == "string" then
      local nv = apply(p, v, limit)
      if nv ~= v then t[k] = nv end -- an existing key: allowed while traversing
    elseif type(v) == "table" then
      scrub_table(v, p, limit, depth + 1, seen)
    end
    if type(k) == "string" then
      local nk = apply(p, k, limit)
      if nk ~= k then
        moves = moves or {}
        moves[#moves + 1] = { k, nk }
      end
    end
  end
  for _, m in pairs(moves or {}) do
    t[m[2]], t[m[1]] = t[m[1]], nil
  end
end

--- scrub_error(err, secrets [, limits]) -> err, scrubbed in place: every string in it (nested
-- tables and their keys too) is scrubbed of the secrets and cut to MAX_FIELD bytes (limits =
-- { field = bytes } overrides per top-level field).
function _M.scrub_error(e, secrets, limits)
  if type(e) ~= "table" then return e end
  local p = prepare(secrets)
  local seen = { [e] = true }
  for k, v in next, e do
    local limit = limits and limits[k] or _M.MAX_FIELD
    if type(v) == "string" then
      local nv = apply(p, v, limit)
      if nv ~= v then e[k] = nv end
    elseif type(v) == "table" then
      scrub_table(v, p, limit, 1, seen)
    end
  end
  return e
end

-- ---- the objects ---------------------------------------------------------------------------

local Error = {}
Error.__index = Error

Error.__tostring = function(e)
  local parts = { "instagram: " }
  local function add(...)
    for i = 1, select("#", ...) do parts[#parts + 1] = (select(i, ...)) end
  end
  if e.kind == "graph" then
    add("Graph API error")
    if e.code ~= nil then add(" ", text(e.code)) end
    if e.subcode ~= nil then add("/", text(e.subcode)) end
    if e.type ~= nil then add(" (", text(e.type), ")") end
    add(": ", text(e.message) or "nil")
    if e.user_msg ~= nil then add(" - ", text(e.user_msg)) end
    if e.fbtrace_id ~= nil then add(" [fbtrace_id ", text(e.fbtrace_id), "]") end
  else
    add(text(e.kind) or "unknown", " error")
    if e.reason ~= nil then add(" (", text(e.reason), ")") end
    if e.status ~= nil then add(", HTTP ", text(e.status)) end
    add(": ", text(e.message) or "nil")
  end
  return concat(parts)
end

--- Is x an error object made here?
function _M.is_error(x) return type(x) == "table" and getmetatable(x) == Error end

function _M.new(fields)
  if fields.is_transient == nil then fields.is_transient = false end
  return setmetatable(fields, Error)
end

--- From a decoded Graph `{"error": {...}}` envelope.
function _M.graph(status, e, retry_after, secrets)
  local message = e.message
  if message == nil then message = e.error_message end
  return _M.scrub_error(_M.new{
    kind = "graph",
    status = status,
    message = text(message) or "Graph API error",
    code = whole(e.code),
    subcode = whole(e.error_subcode),
    type = text(e.type),
    fbtrace_id = text(e.fbtrace_id),
    is_transient = e.is_transient == true,
    user_title = text(e.error_user_title),
    user_msg = text(e.error_user_msg),
    retry_after = retry_after,
  }, secrets)
end

--- From rupload's failure envelope: {"debug_info":{"retriable":false,"type":"ProcessingFailedError",
-- "message":"{\"success\":false,\"error\":{\"message\":\"unauthorized user request\"}}"}}
-- The inner JSON message is unwrapped; retriable becomes is_transient.
function _M.debug_info(status, d, retry_after, secrets)
  local message = d.message
  if type(message) == "string" and sub(message, 1, 1) == "{" then
    local inner = json.decode(message)
    if type(inner) == "table" and type(inner.error) == "table" and inner.error.message ~= nil then
      message = inner.error.message
    elseif type(inner) == "table" and inner.message ~= nil then
      message = inner.message
    end
  end
  return _M.scrub_error(_M.new{
    kind = "graph",
    status = status,
    type = text(d.type),
    message = text(message) or "upload failed",
    is_transient = d.retriable == true,
    retry_after = retry_after,
  }, secrets)
end

local BODY_LIMIT = { body = _M.MAX_BODY }

function _M.http(status, body, retry_after, secrets)
  return _M.scrub_error(_M.new{
    kind = "http",
    status = status,
    message = "unexpected HTTP " .. text(status) .. " response without a Graph error object",
    body = type(body) == "string" and body or nil,
    is_transient = type(status) == "number" and (status >= 500 or status == 429),
    retry_after = retry_after,
  }, secrets, BODY_LIMIT)
end

function _M.decode(status, body, why, secrets)
  return _M.scrub_error(_M.new{
    kind = "decode",
    status = status,
    message = "response is not valid JSON (" .. (text(why) or "nil") .. ")",
    body = type(body) == "string" and body or nil,
    is_transient = type(status) == "number" and status >= 500,
  }, secrets, BODY_LIMIT)
end

--- From a transport failure: reason is the transport's kind (timeout, connect, tls, ...).
function _M.transport(reason, message, secrets)
  local timeout = reason == "timeout"
  return _M.scrub_error(_M.new{
    kind = timeout and "timeout" or "transport",
    reason = text(reason),
    message = text(message) or "nil",
    is_transient = timeout or reason == "connect" or reason == "network",
  }, secrets)
end

return _M
