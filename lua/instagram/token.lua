--- Access tokens that know when they lapse.
--   local t = instagram.token.new{ access_token = "...", expires_in = 5184000, kind = "instagram" }
--   t:expires_in()  t:is_expired()  t:age()  t:can_refresh()  t:needs_refresh(margin)
--   t:to_table() / instagram.token.from_table(tbl)     -- for storage; tostring(t) hides the token
local type, tonumber, setmetatable, error, tostring, floor = type, tonumber, setmetatable, error, tostring, math.floor
local getmetatable, pcall = getmetatable, pcall
local date = os.date
local json = require "instagram.json"

local _M = {}
local Token = {}
Token.__index = Token

_M.IG_REFRESH_MIN_AGE = 24 * 3600 -- "at least 24 hours old" (Refresh Access Token)

local function default_now() return os.time() end

local KINDS = { facebook = true, instagram = true, page = true, app = true }

-- Times a token endpoint (or a stored table) may send: whole seconds from 1970 to the year 9999.
-- Anything else (a fraction is rounded down; NaN, infinities, negatives, absurd sizes, words)
-- is "not known", so no later arithmetic or formatting can fail on it.
local MAX_TIME = 253402300799

local function seconds(v, allow_zero)
  v = tonumber(v)
  if not v or v ~= v or v < 0 or v > MAX_TIME or (v == 0 and not allow_zero) then return nil end
  return floor(v)
end

local id_string = json.string_of

--- new{ access_token, token_type, expires_in | expires_at, issued_at, data_access_expires_at,
--       long_lived, kind = "facebook" | "instagram" | "page" | "app", user_id, permissions, now }
function _M.new(t)
  if type(t) ~= "table" then error("token.new: expects a table", 2) end
  if type(t.access_token) ~= "string" or t.access_token == "" then
    error("token.new: access_token must be a non-empty string", 2)
  end
  local kind = t.kind or "facebook"
  if not KINDS[kind] then error("token.new: kind must be facebook, instagram, page or app", 2) end
  local now = t.now or default_now
  if type(now) ~= "function" then error("token.new: now must be a function returning the time", 2) end
  local issued = seconds(t.issued_at, true) or seconds(now(), true) or os.time()
  local expires_at = seconds(t.expires_at, true)
  local expires_in = seconds(t.expires_in)
  if not expires_at and expires_in and issued + expires_in <= MAX_TIME then expires_at = issued + expires_in end
  return setmetatable({
    access_token = t.access_token,
    token_type = type(t.token_type) == "string" and t.token_type or "bearer",
    kind = kind,
    issued_at = issued,
    expires_at = expires_at,            -- nil: does not expire (or unknown)
    data_access_expires_at = seconds(t.data_access_expires_at or t.data_access_expiration_time, true),
    long_lived = t.long_lived == true,
    user_id = id_string(t.user_id),
    permissions = type(t.permissions) == "table" and t.permissions or nil,
    _now = now,
  }, Token)
end

function _M.is_token(x) return type(x) == "table" and getmetatable(x) == Token end

--- Seconds until it lapses (negative once lapsed), or nil when it has no known expiry.
function Token:expires_in()
  if not self.expires_at then return nil end
  return self.expires_at - self._now()
end

function Token:is_expired(margin)
  local left = self:expires_in()
  return left ~= nil and left <= (margin or 0)
end

function Token:age() return self._now() - self.issued_at end

--- Refreshable now? Instagram-Login tokens must be at least 24 hours old and not expired.
-- Returns true, or false and the reason.
function Token:can_refresh()
  if self:is_expired() then return false, "the token has expired; the user must log in again" end
  if self.kind == "instagram" and self:age() < _M.IG_REFRESH_MIN_AGE then
    local wait = _M.IG_REFRESH_MIN_AGE - self:age()
    return false, ("an Instagram token can be refreshed only when it is at least 24 hours old "
      .. "(this one can be refreshed in %d s)"):format(floor(wait))
  end
  return true
end

--- Should a client refresh it now: within `margin` seconds (default 7 days) of expiry, and allowed.
function Token:needs_refresh(margin)
  local left = self:expires_in()
  if not left or left > (margin or 7 * 86400) then return false end
  return (self:can_refresh())
end

function Token:to_table()
  return { access_token = self.access_token, token_type = self.token_type, kind = self.kind,
           issued_at = self.issued_at, expires_at = self.expires_at,
           data_access_expires_at = self.data_access_expires_at, long_lived = self.long_lived,
           user_id = self.user_id, permissions = self.permissions }
end

function _M.from_table(t) return _M.new(t) end

-- Never raises, whatever the fields were changed to after new().
Token.__tostring = function(t)
  local when = "no known expiry"
  if t.expires_at ~= nil then
    local ok, d = pcall(date, "!%Y-%m-%dT%H:%M:%SZ", seconds(t.expires_at, true))
    when = (ok and type(d) == "string") and ("expires " .. d) or "unreadable expiry"
  end
  return ("instagram access token (%s%s, %s)"):format(tostring(KINDS[t.kind] and t.kind or "unknown kind"),
    t.long_lived and ", long-lived" or "", when)
end

return _M
