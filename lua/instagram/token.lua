--- Access tokens that know when they lapse.
-- The login objects of `instagram.oauth` answer with @{Token}s; make one yourself for a token
-- you stored:
--
--     local t = instagram.token.new{ access_token = "...", expires_in = 5184000, kind = "instagram" }
--     t:expires_in()  t:is_expired()  t:age()  t:can_refresh()  t:needs_refresh(margin)
--     t:to_table() / instagram.token.from_table(tbl)     -- for storage; tostring(t) hides the token
--     t:save(store, key) / instagram.token.load(store, key)  -- shared through an instagram.store
--
-- Times are whole seconds since 1970 (Unix time); a time that is not whole seconds between 1970
-- and the year 9999 (NaN, an infinity, a negative, a word) counts as unknown.
-- @module instagram.token
local type, tonumber, setmetatable, error, tostring, floor = type, tonumber, setmetatable, error, tostring, math.floor
local getmetatable, pcall = getmetatable, pcall
local date, find = os.date, string.find
local json = require "instagram.json"

local _M = {}
local Token = {}
Token.__index = Token

--- How old an Instagram Login token must be before it can be refreshed: 86400 seconds (24 hours).
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

-- The token's clock: `now` given to new must return a number of seconds (a string or NaN would
-- make every later comparison raise somewhere inside, or be false).
local function clock(self)
  local v = self._now()
  if type(v) ~= "number" or not (v >= 0 and v <= MAX_TIME) then -- (NaN, a negative, milliseconds)
    error(("token: now() must return the time in seconds since 1970, got %s"):format(
      type(v) == "number" and tostring(v) or type(v)), 3)
  end
  return v
end

-- The fields new takes (to_table gives a subset); any other key is a mistake (expire_in = ...
-- would make a token that never expires, so never refreshed): it raises, naming the key.
local FIELDS = { access_token = true, token_type = true, kind = true, issued_at = true, expires_at = true,
                 expires_in = true, data_access_expires_at = true, data_access_expiration_time = true,
                 long_lived = true, user_id = true, permissions = true, now = true }

local function make(t, fn)
  if type(t) ~= "table" then error(fn .. ": expects a table", 3) end
  for k in pairs(t) do
    if not FIELDS[k] then
      local names = {}
      for name in pairs(FIELDS) do names[#names + 1] = name end
      table.sort(names)
      error(("%s: unknown field '%s' (known: %s)"):format(fn, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  if type(t.access_token) ~= "string" or t.access_token == "" then
    error(fn .. ": access_token must be a non-empty string", 3)
  end
  local kind = t.kind or "facebook"
  if not KINDS[kind] then error(fn .. ": kind must be facebook, instagram, page or app", 3) end
  local now = t.now or default_now
  if type(now) ~= "function" then error(fn .. ": now must be a function returning the time", 3) end
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

--- Makes a token object.
-- The expiry is `expires_at` when given, else `issued_at + expires_in`; with neither the token has
-- no known expiry (as Page tokens from a long-lived user token).
-- @tparam table t the token's data
-- @tparam string t.access_token the token (a non-empty string)
-- @tparam[opt="facebook"] string t.kind `"facebook"` (a Facebook Login user token), `"instagram"`
-- (Instagram Login: refreshable only when 24 hours old), `"page"` or `"app"`
-- @tparam[opt] number t.expires_in seconds from `issued_at` until it lapses (as a token endpoint
-- answers); ignored when `expires_at` is given, and 0 counts as unknown
-- @tparam[opt] number t.expires_at when it lapses (Unix time)
-- @tparam[opt] number t.issued_at when it was issued (Unix time); default `now()`
-- @tparam[opt] number t.data_access_expires_at when its data access lapses (Unix time); the
-- redirect's name `data_access_expiration_time` is accepted too
-- @tparam[opt=false] boolean t.long_lived whether it is a long-lived token (only `true` counts)
-- @tparam[opt="bearer"] string t.token_type the token endpoint's `token_type`
-- @tparam[opt] string|number t.user_id the user's id (a number is kept as its exact digits)
-- @tparam[opt] table t.permissions a list of the permissions granted
-- @tparam[opt=os.time] function t.now returns the current Unix time (for tests and clocks of your own)
-- @treturn Token the token
-- @raise when `t` is not a table, has a key not listed here, `access_token` is not a non-empty
-- string, `kind` is not one of the four, or `now` is not a function
-- @usage
-- local t = instagram.token.new{ access_token = stored.token, kind = "instagram", long_lived = true,
--   issued_at = stored.issued_at, expires_in = 5184000 }
-- print(t, t:expires_in())
function _M.new(t)
  local token = make(t, "token.new") -- (not a tail call: errors name the caller's line)
  return token
end

--- Tells a token object from anything else.
-- @param x any value
-- @treturn boolean `true` for an object made by @{new} (or @{from_table})
-- @usage if instagram.token.is_token(t) then print(t:expires_in()) end
function _M.is_token(x) return type(x) == "table" and getmetatable(x) == Token end

--- An access token (from @{new}, @{from_table}, or a login object).
-- `tostring(t)` shows its kind and expiry, never the token, and never raises.
-- @type Token

--- The token itself: send it as `access_token` to `instagram.new`.
-- @tfield string access_token

--- `"facebook"`, `"instagram"`, `"page"` or `"app"`.
-- @tfield string kind

--- The token endpoint's `token_type` (`"bearer"` unless it said otherwise).
-- @tfield string token_type

--- When it was issued (Unix time).
-- @tfield number issued_at

--- When it lapses (Unix time); `nil` when not known (or never).
-- @tfield ?number expires_at

--- When its data access lapses (Unix time), or `nil`.
-- @tfield ?number data_access_expires_at

--- Whether it is a long-lived token.
-- @tfield boolean long_lived

--- The user's id (Instagram Login), a string of digits, or `nil`.
-- @tfield ?string user_id

--- The permissions granted (Instagram Login), a list, or `nil`.
-- @tfield ?table permissions

--- Seconds until it lapses (negative once lapsed), or nil when it has no known expiry.
-- @treturn ?number the seconds left, or `nil` when the expiry is not known
-- @usage
-- local left = t:expires_in()
-- if left then print(("%d days left"):format(math.floor(left / 86400))) end
function Token:expires_in()
  if not self.expires_at then return nil end
  return self.expires_at - clock(self)
end

-- A margin of seconds given to is_expired/needs_refresh: a number ("300" would compare as a string).
local function check_margin(fn, margin)
  if margin ~= nil and (type(margin) ~= "number" or margin ~= margin) then
    error(fn .. ": margin must be a number of seconds, got " .. (type(margin) == "number" and "nan" or type(margin)), 3)
  end
end

--- Whether it has lapsed, or will within `margin` seconds.
-- A token with no known expiry is never expired.
-- @tparam[opt=0] number margin seconds before the expiry that count as expired
-- @treturn boolean
-- @raise when `margin` is given and is not a number
-- @usage if t:is_expired(300) then --[[ log in again ]] end
function Token:is_expired(margin)
  check_margin("is_expired", margin)
  local left = self:expires_in()
  return left ~= nil and left <= (margin or 0)
end

--- Seconds since it was issued.
-- @treturn number
-- @usage print(t:age())
function Token:age() return clock(self) - self.issued_at end

--- Whether it can be refreshed now: not expired and, for an Instagram Login token, at least 24 hours old.
-- @treturn[1] boolean `true`
-- @treturn[2] boolean `false`
-- @treturn[2] string why not (expired; or too young, with the seconds left to wait)
-- @usage
-- local ok, why = t:can_refresh()
-- if not ok then print(why) end
function Token:can_refresh()
  if self:is_expired() then return false, "the token has expired; the user must log in again" end
  if self.kind == "instagram" and self:age() < _M.IG_REFRESH_MIN_AGE then
    local wait = _M.IG_REFRESH_MIN_AGE - self:age()
    return false, ("an Instagram token can be refreshed only when it is at least 24 hours old "
      .. "(this one can be refreshed in %d s)"):format(floor(wait))
  end
  return true
end

--- Whether to refresh it now: within `margin` seconds of its expiry, and refreshable (@{Token:can_refresh}).
-- A token with no known expiry never needs a refresh.
-- @tparam[opt=604800] number margin seconds before the expiry (default 7 days)
-- @treturn boolean
-- @raise when `margin` is given and is not a number
-- @usage if t:needs_refresh() then t = assert(ig:refresh(t)) end
function Token:needs_refresh(margin)
  check_margin("needs_refresh", margin)
  local left = self:expires_in()
  if not left or left > (margin or 7 * 86400) then return false end
  return (self:can_refresh())
end

--- The token's data as a plain table, for storage; @{from_table} makes the token again.
-- @treturn table `{ access_token, token_type, kind, issued_at, expires_at, data_access_expires_at,
-- long_lived, user_id, permissions }`
-- @usage store:set("token", instagram.json.encode(t:to_table()))
function Token:to_table()
  return { access_token = self.access_token, token_type = self.token_type, kind = self.kind,
           issued_at = self.issued_at, expires_at = self.expires_at,
           data_access_expires_at = self.data_access_expires_at, long_lived = self.long_lived,
           user_id = self.user_id, permissions = self.permissions }
end

--- Saves the token in an @{instagram.store} under `key` (JSON of @{Token:to_table}), for every
-- worker or machine sharing the store (@{load}). **The store then holds the token**: a Redis
-- shared this way needs a password and a private network. The entry expires with the token (a
-- token without a known expiry is kept without one).
-- @tparam Store store the store
-- @tparam string key the key (under the store's prefix)
-- @tparam[opt] boolean if_absent only when no token is saved under `key` yet (the store's `add`):
--   a token another worker saved meanwhile is then never overwritten
-- @treturn[1] boolean true (with `if_absent`: false when a token was already there)
-- @treturn[2] nil
-- @treturn[2] string err why the store failed
-- @raise when `store` is not a store, or for a bad key (as the store's `set`)
-- @usage token:save(store, "token:main")
function Token:save(store, key, if_absent)
  local put = if_absent and "add" or "set"
  if type(store) ~= "table" or type(store[put]) ~= "function" then
    error("token:save: store must be an instagram.store", 2)
  end
  local ttl
  local left = self:expires_in()
  if left then ttl = math.min(math.max(left, 1), 365 * 86400) end
  return store[put](store, key, json.encode(self:to_table()), ttl)
end

--- @section end

--- Loads a token saved with @{Token:save}.
-- @tparam Store store the store
-- @tparam string key the key
-- @return[1] Token the token, or nil when none is saved (or it expired)
-- @treturn[2] nil
-- @treturn[2] string err why the store failed, or `"unreadable token"` for an entry that is not
--   a saved token (never naming its content)
-- @raise when `store` is not a store, or for a bad key
-- @usage local t = instagram.token.load(store, "token:main")
function _M.load(store, key)
  if type(store) ~= "table" or type(store.get) ~= "function" then
    error("token.load: store must be an instagram.store", 2)
  end
  local text, err = store:get(key)
  if text == nil then return nil, err end
  if type(text) ~= "string" then return nil, "unreadable token" end
  local t = json.decode(text)
  if type(t) ~= "table" then return nil, "unreadable token" end
  local ok, token = pcall(make, t, "token.load")
  if not ok then return nil, "unreadable token" end
  return token
end

--- Whether a string can be sent as a token: 1 to 4096 bytes of letters, digits and `-._~+/=|:%`
-- (what tokens are made of), so no space, line break or control byte can reach a header or a URL.
-- The library refuses any other token a server or a store hands it.
-- @param s the value
-- @treturn boolean
-- @usage if not require("instagram.token").is_sendable(t) then error("not a token") end
function _M.is_sendable(s)
  return type(s) == "string" and #s > 0 and #s <= 4096 and not find(s, "[^%w%-%._~+/=|:%%]")
end

--- Makes a token from a table made by @{Token:to_table} (the same as @{new}).
-- @tparam table t the stored data
-- @treturn Token the token
-- @raise as @{new}
-- @usage local t = instagram.token.from_table(instagram.json.decode(store:get("token")))
function _M.from_table(t)
  local token = make(t, "token.from_table")
  return token
end

-- Never raises, whatever the fields were changed to after new().
Token.__tostring = function(t)
  local when = "no known expiry"
  if t.expires_at ~= nil then
    local at = seconds(t.expires_at, true) -- (nil for an unreadable one: os.date would then say now)
    local ok, d = pcall(date, "!%Y-%m-%dT%H:%M:%SZ", at)
    when = (at and ok and type(d) == "string") and ("expires " .. d) or "unreadable expiry"
  end
  return ("instagram access token (%s%s, %s)"):format(tostring(KINDS[t.kind] and t.kind or "unknown kind"),
    t.long_lived and ", long-lived" or "", when)
end

return _M
