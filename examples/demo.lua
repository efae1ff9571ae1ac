--- The demo: from a user token to an Instagram account's media, page by page.
--   lua5.4 examples/demo.lua        (with IG_TOKEN, and IG_GRAPH_URL, IG_CA_FILE for another server:
--                                    `eval "$(emulator/run env)"` sets them all for the local emulator;
--                                    `make demo` starts it, runs this and stops it)
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
local instagram = require "instagram"

local client = instagram.new{
  access_token = assert(os.getenv("IG_TOKEN"), "set IG_TOKEN to a user access token"),
  graph_url = os.getenv("IG_GRAPH_URL"),   -- nil: the real https://graph.facebook.com
  ca_file = os.getenv("IG_CA_FILE"),       -- the emulator's throw-away CA
  app_secret = os.getenv("IG_APP_SECRET"), -- optional: sign every call with appsecret_proof
}
print(("client: %s"):format(tostring(client)))

-- 1. Who am I, and which Pages can I manage?
local me = assert(client:get("/me", { fields = "id,name" }))
print(("1. GET /me -> %s (%s)"):format(me.name, me.id))

local ig_user_id
print("2. GET /me/accounts (Pages with their Instagram professional accounts):")
for page in client:edge("/me/accounts", { fields = "id,name,instagram_business_account" }):items() do
  local ig = page.instagram_business_account
  print(("   - Page %-18s %s  Instagram account: %s"):format(page.name, page.id, ig and ig.id or "(none)"))
  ig_user_id = ig_user_id or (ig and ig.id)
end
assert(ig_user_id, "no Page of this user has an Instagram professional account")

-- 3. The Instagram account itself.
local user = client:ig_user(ig_user_id)
local profile = assert(user:fetch("username,name,followers_count,media_count"))
print(("3. GET /%s -> @%s, %d followers, %d media"):format(ig_user_id, profile.username,
  profile.followers_count, profile.media_count))

-- 4. Its media, one page at a time (the pager follows paging.next and keeps one page).
print("4. GET /" .. ig_user_id .. "/media, 20 per page:")
local pager = user:media{ fields = "id,caption,media_type,timestamp", limit = 20 }
local pages, items = 0, 0
for data in pager:pages() do
  pages = pages + 1
  items = items + #data
  print(("   page %d: %d media, first %s %s \"%s\""):format(pages, #data, data[1].media_type,
    data[1].timestamp, data[1].caption))
end
if pager.err then
  print("   stopped: " .. tostring(pager.err))
  os.exit(1)
end
print(("   %d media on %d pages"):format(items, pages))

-- 5. What an error looks like (never with the token in it).
local bad = instagram.new{ access_token = "not-a-valid-token", graph_url = os.getenv("IG_GRAPH_URL"),
                           ca_file = os.getenv("IG_CA_FILE"), retries = 0 }
local _, err = bad:get("/me")
print("5. a bad token -> " .. tostring(err))

-- 6. Rate-limit usage reported by the last response.
local usage = client:usage()
if usage and usage.app then
  print(("6. app usage: %d%% of calls, %d%% of time"):format(usage.app.call_count, usage.app.total_time))
end
