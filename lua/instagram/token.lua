--- Access tokens that know when they lapse.
--   local t = instagram.token.new{ access_token = "...", expires_in = 5184000, kind = "instagram" }
--   t:expires_in()  t:is_expired()  t:age()  t:can_refresh()  t:needs_refresh(margin)
--   t:to_table() / instagram.token.from_table(tbl)     -- for storage; tostring(t) hides the token
local type, tonumber, setmetatable, error, tostring, floor = type, tonumber, setmetatable, error, tostring, math.floor
local date = os.date

local _M = {}
local Token = {}
Token.__index = Token

_M.IG_REFRESH_MIN_AGE = 24 * 3600 -- "at least 24 hours old" (Refresh Access Token)

local function default_now() return os.time() end

local KINDS = { facebook = true, instagram = true, page = true, app = true }

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
  local issued = tonumber(t.issued_at) or now()
  local expires_at = tonumber(t.expires_at)
  if not expires_at and tonumber(t.expires_in) and tonumber(t.expires_in) > 0 then
    expires_at = issued + tonumber(t.expires_in)
  end
  return setmetatable({
    access_token = t.access_token,
    token_type = t.token_type or "bearer",
    kind = kind,
    issued_at = issued,
    expires_at = expires_at,            -- nil: does not expire (or unknown)
    data_access_expires_at = tonumber(t.data_access_expires_at or t.data_access_expiration_time),
    long_lived = t.long_lived == true,
    user_id = t.user_id and tostring(t.user_id) or nil,
    permissions = t.permissions,
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

Token.__tostring = function(t)
  return ("instagram access token (%s%s, %s)"):format(t.kind, t.long_lived and ", long-lived" or "",
    t.expires_at and ("expires " .. date("!%Y-%m-%dT%H:%M:%SZ", t.expires_at)) or "no known expiry")
end

return _M
