--- Rate-limit usage headers of a Graph response, as numbers.
--   X-App-Usage:               {"call_count":28,"total_time":25,"total_cputime":25}
--   X-Business-Use-Case-Usage: {"<object-id>":[{"type":"instagram","call_count":1,...,
--                                "estimated_time_to_regain_access":0}]}
--   X-Ad-Account-Usage:        {"acc_id_util_pct":9.67,"reset_time_duration":0,...}
-- The client parses every answer's headers with this module and keeps the last result
-- (@{instagram.client.Client:usage}); its `throttle` option reads `max_percent` and
-- `regain_access_seconds`.
-- @module instagram.usage
-- @usage local u = client:usage()
-- if u then print(u.max_percent, u.regain_access_seconds, u.app and u.app.call_count) end
local json = require "instagram.json"

local type, pairs, ipairs, tonumber, pcall, max, min = type, pairs, ipairs, tonumber, pcall, math.max, math.min

local _M = {}

-- A header that does not decode (or raises while decoding) counts as absent.
local function decode(h)
  local ok, v = pcall(json.decode, h)
  if ok then return v end
  return nil
end

local function numbers(t)
  local out = {}
  if type(t) ~= "table" then return out end
  for k, v in pairs(t) do
    out[k] = tonumber(v) or v
  end
  return out
end

-- A server's number made sane: NaN is dropped, the rest clamped to lo..hi (infinities too).
local function clamp(v, lo, hi)
  if v == nil or v ~= v then return nil end
  return min(hi, max(lo, v))
end

local function percent(t, keys)
  local m = 0
  for _, k in ipairs(keys) do
    local v = clamp(tonumber(t[k]), 0, 1000) -- beyond 100% is possible; far beyond means the same
    if v then m = max(m, v) end
  end
  return m
end

-- graph.facebook.com's names, and graph.instagram.com's (call_volume, cpu_time)
local APP_KEYS = { "call_count", "total_time", "total_cputime", "call_volume", "cpu_time" }
local AD_KEYS = { "acc_id_util_pct" }


--- The (lower-case) names of the headers @{parse} reads: the app's, the business use cases' and the
-- ad accounts' usage.
-- @table HEADERS
-- @usage for _, name in ipairs(require("instagram.usage").HEADERS) do print(name) end
_M.HEADERS = { "x-app-usage", "x-business-use-case-usage", "x-ad-account-usage" }
local HEADERS = _M.HEADERS

--- Reads the usage headers of an answer.
-- Values that are numbers (or numeric strings) become numbers; a header that is not JSON counts as
-- empty. Never raises, whatever a server sent.
-- @tparam table headers the answer's headers, names in lower case (`x-app-usage`,
--   `x-business-use-case-usage`, `x-ad-account-usage`)
-- @treturn[1] table `{ app = {...}, business = { [object_id] = { { type, call_count, total_time,
--   total_cputime, estimated_time_to_regain_access, ... }, ... } }, ad_account = {...},
--   max_percent = N, regain_access_seconds = N }`: `max_percent` is the highest of the percentages
--   (`call_count`, `total_time`, `total_cputime`, the Instagram host's `call_volume` and
--   `cpu_time`, `acc_id_util_pct`; each clamped to 0..1000),
--   `regain_access_seconds` the longest `estimated_time_to_regain_access` (minutes in the header,
--   at most a day) in seconds; the parts whose header is absent are nil
-- @treturn[2] nil when the answer carried no usage header (or `headers` is not a table)
-- @raise never raises
-- @usage local usage = require "instagram.usage"
-- local u = usage.parse{ ["x-app-usage"] = '{"call_count":28,"total_time":25,"total_cputime":25}' }
-- print(u.max_percent) --> 28
function _M.parse(headers)
  if type(headers) ~= "table" then return nil end
  local app_h = headers[HEADERS[1]]
  local buc_h = headers[HEADERS[2]]
  local ad_h = headers[HEADERS[3]]
  if not (app_h or buc_h or ad_h) then return nil end
  local u = { max_percent = 0, regain_access_seconds = 0 }
  if app_h then
    u.app = numbers(decode(app_h))
    u.max_percent = max(u.max_percent, percent(u.app, APP_KEYS))
  end
  if ad_h then
    u.ad_account = numbers(decode(ad_h))
    u.max_percent = max(u.max_percent, percent(u.ad_account, AD_KEYS))
  end
  if buc_h then
    u.business = {}
    local decoded = decode(buc_h)
    if type(decoded) == "table" then
      for id, list in pairs(decoded) do
        local entries = {}
        if type(list) == "table" then
          for i, entry in ipairs(list) do
            local e = numbers(entry)
            entries[i] = e
            u.max_percent = max(u.max_percent, percent(e, APP_KEYS))
            -- the header gives minutes; kept to a day, as any wait the client takes from a server
            local regain = clamp(tonumber(e.estimated_time_to_regain_access), 0, 1440)
            if regain and regain * 60 > u.regain_access_seconds then
              u.regain_access_seconds = regain * 60
            end
          end
        end
        u.business[id] = entries
      end
    end
  end
  return u
end

return _M
