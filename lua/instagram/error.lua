--- Error objects: every expected failure comes back as `nil, err` with one of these.
-- Fields: kind ("graph" | "http" | "transport" | "decode" | "timeout"), message, code, subcode,
-- type, fbtrace_id, status, is_transient, retry_after, user_title, user_msg, and for transport
-- failures `reason` (connect | tls | network | size | invalid | foreign_host).
local setmetatable, getmetatable, tostring, type, tonumber = setmetatable, getmetatable, tostring, type, tonumber
local concat, find, sub = table.concat, string.find, string.sub

local _M = {}

local Error = {}
Error.__index = Error

Error.__tostring = function(e)
  local parts = { "instagram: " }
  if e.kind == "graph" then
    parts[#parts + 1] = "Graph API error"
    if e.code then parts[#parts + 1] = " " .. tostring(e.code) end
    if e.subcode then parts[#parts + 1] = "/" .. tostring(e.subcode) end
    if e.type then parts[#parts + 1] = " (" .. e.type .. ")" end
    parts[#parts + 1] = ": " .. tostring(e.message)
    if e.user_msg then parts[#parts + 1] = " - " .. e.user_msg end
    if e.fbtrace_id then parts[#parts + 1] = " [fbtrace_id " .. e.fbtrace_id .. "]" end
  else
    parts[#parts + 1] = e.kind .. " error"
    if e.reason then parts[#parts + 1] = " (" .. e.reason .. ")" end
    if e.status then parts[#parts + 1] = ", HTTP " .. tostring(e.status) end
    parts[#parts + 1] = ": " .. tostring(e.message)
  end
  return concat(parts)
end

--- Is x an error object made here?
function _M.is_error(x) return type(x) == "table" and getmetatable(x) == Error end

function _M.new(fields)
  if fields.is_transient == nil then fields.is_transient = false end
  return setmetatable(fields, Error)
end

--- Replaces every occurrence of each secret in s (plain match) with "[redacted]".
local function scrub(s, secrets)
  if type(s) ~= "string" or not secrets then return s end
  for i = 1, #secrets do
    local secret = secrets[i]
    if secret and #secret >= 4 then
      local out, init = {}, 1
      while true do
        local a, b = find(s, secret, init, true)
        if not a then break end
        out[#out + 1] = sub(s, init, a - 1)
        out[#out + 1] = "[redacted]"
        init = b + 1
      end
      if init > 1 then
        out[#out + 1] = sub(s, init)
        s = concat(out)
      end
    end
  end
  return s
end
_M.scrub = scrub

local function snippet(body)
  if type(body) ~= "string" then return nil end
  if #body > 300 then return sub(body, 1, 300) .. "..." end
  return body
end

--- From a decoded Graph `{"error": {...}}` envelope.
function _M.graph(status, e, retry_after, secrets)
  return _M.new{
    kind = "graph",
    status = status,
    message = scrub(tostring(e.message or e.error_message or "Graph API error"), secrets),
    code = tonumber(e.code),
    subcode = tonumber(e.error_subcode),
    type = e.type,
    fbtrace_id = e.fbtrace_id,
    is_transient = e.is_transient == true,
    user_title = scrub(e.error_user_title, secrets),
    user_msg = scrub(e.error_user_msg, secrets),
    retry_after = retry_after,
  }
end

--- From rupload's failure envelope: {"debug_info":{"retriable":false,"type":"ProcessingFailedError",
-- "message":"{\"success\":false,\"error\":{\"message\":\"unauthorized user request\"}}"}}
-- The inner JSON message is unwrapped; retriable becomes is_transient.
function _M.debug_info(status, d, retry_after, secrets)
  local message = d.message
  if type(message) == "string" and message:sub(1, 1) == "{" then
    local inner = require("instagram.json").decode(message)
    if type(inner) == "table" and type(inner.error) == "table" and inner.error.message then
      message = inner.error.message
    elseif type(inner) == "table" and inner.message then
      message = inner.message
    end
  end
  return _M.new{
    kind = "graph",
    status = status,
    type = d.type,
    message = scrub(tostring(message or "upload failed"), secrets),
    is_transient = d.retriable == true,
    retry_after = retry_after,
  }
end

function _M.http(status, body, retry_after, secrets)
  return _M.new{
    kind = "http",
    status = status,
    message = "unexpected HTTP " .. tostring(status) .. " response without a Graph error object",
    body = scrub(snippet(body), secrets),
    is_transient = status >= 500 or status == 429,
    retry_after = retry_after,
  }
end

function _M.decode(status, body, why, secrets)
  return _M.new{
    kind = "decode",
    status = status,
    message = "response is not valid JSON (" .. tostring(why) .. ")",
    body = scrub(snippet(body), secrets),
    is_transient = status >= 500,
  }
end

--- From a transport failure: reason is the transport's kind (timeout, connect, tls, ...).
function _M.transport(reason, message, secrets)
  local timeout = reason == "timeout"
  return _M.new{
    kind = timeout and "timeout" or "transport",
    reason = reason,
    message = scrub(tostring(message), secrets),
    is_transient = timeout or reason == "connect" or reason == "network",
  }
end

return _M
