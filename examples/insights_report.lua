--- An account's last 30 days: a daily table on the terminal and a CSV file.
--   lua5.4 examples/insights_report.lua [out.csv]
-- Environment: IG_TOKEN, IG_USER_ID; IG_GRAPH_URL, IG_CA_FILE for another server:
-- `eval "$(emulator/run env)"` sets them all for the local emulator; IG_NOW (a Unix time) to fix
-- "today" for reproducible reports.
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
local instagram = require "instagram"
local unpack = table.unpack or unpack -- luacheck: ignore 143

local out_path = arg[1] or "insights.csv"
local client = instagram.new{ access_token = assert(os.getenv("IG_TOKEN"), "set IG_TOKEN"),
  graph_url = os.getenv("IG_GRAPH_URL"), ca_file = os.getenv("IG_CA_FILE") }
local user = client:ig_user(assert(os.getenv("IG_USER_ID"), "set IG_USER_ID"))

local DAY = 86400
local now = tonumber(os.getenv("IG_NOW")) or os.time()
local untl = now - now % DAY
local since = untl - 30 * DAY
local SERIES = { "reach", "profile_views", "website_clicks", "follower_count" }
local TOTALS = { "accounts_engaged", "total_interactions", "likes", "comments", "shares", "saved" }

-- Daily values: { ["2026-11-01"] = { reach = 12, ... } }
local res, err = user:insights{ metric = SERIES, period = "day", since = since, ["until"] = untl }
if not res then
  io.stderr:write("insights failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
local days, by_day = {}, {}
for _, m in ipairs(res.data) do
  for _, v in ipairs(m.values or {}) do
    local day = v.end_time:sub(1, 10)
    if not by_day[day] then by_day[day] = {} days[#days + 1] = day end
    by_day[day][m.name] = v.value
  end
end
table.sort(days)

local present = {} -- metrics the API returned (some need 100+ followers and are left out)
for _, m in ipairs(res.data) do present[#present + 1] = m.name end

local header = ("%-10s" .. (" %14s"):rep(#present)):format("date", unpack(present))
print(header)
print(("-"):rep(#header))
local csv = { "date," .. table.concat(present, ",") }
for _, day in ipairs(days) do
  local row, cells = { day }, {}
  for i, name in ipairs(present) do
    cells[i] = by_day[day][name] or ""
    row[#row + 1] = tostring(cells[i])
  end
  print(("%-10s" .. (" %14s"):rep(#present)):format(day, unpack(cells)))
  csv[#csv + 1] = table.concat(row, ",")
end

-- Totals over the same range.
local totals = assert(user:insights{ metric = TOTALS, period = "day", metric_type = "total_value",
  since = since, ["until"] = untl })
print()
for _, m in ipairs(totals.data) do print(("%-20s %8d"):format(m.name, m.total_value.value)) end

local f = assert(io.open(out_path, "w"))
f:write(table.concat(csv, "\n"), "\n")
f:close()
print(("\n%d days written to %s"):format(#days, out_path))
