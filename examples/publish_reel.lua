--- Publish a reel from a local video file, with a progress bar; the upload resumes by itself
-- after a dropped connection.
--   lua5.4 examples/publish_reel.lua VIDEO.mp4 "caption"
-- Environment: IG_TOKEN, IG_USER_ID; IG_GRAPH_URL, IG_RUPLOAD_URL, IG_CA_FILE for another server:
-- `eval "$(emulator/run env)"` sets them all for the local emulator.
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
local instagram = require "instagram"

local path, caption = arg[1], arg[2] or ""
if not path then
  io.stderr:write("usage: publish_reel.lua VIDEO.mp4 [caption]\n")
  os.exit(2)
end

local client = instagram.new{
  access_token = assert(os.getenv("IG_TOKEN"), "set IG_TOKEN"),
  graph_url = os.getenv("IG_GRAPH_URL"), rupload_url = os.getenv("IG_RUPLOAD_URL"),
  ca_file = os.getenv("IG_CA_FILE"),
}
local user = client:ig_user(assert(os.getenv("IG_USER_ID"), "set IG_USER_ID to the Instagram account's id"))

local width = 40
local function bar(sent, total)
  local done = total > 0 and sent / total or 1
  local fill = math.floor(done * width + 0.5)
  io.stdout:write(("\rupload [%s%s] %5.1f%%  %.1f/%.1f MB"):format(("#"):rep(fill), ("."):rep(width - fill),
    done * 100, sent / 1048576, total / 1048576))
  io.stdout:flush()
end

local media, err = user:publish_reel{
  file = path, caption = caption, share_to_feed = true,
  progress = bar,
  wait = { interval = tonumber(os.getenv("IG_POLL_INTERVAL")) or 5 },  -- processing: polled with backoff
  fields = "id,media_type,media_product_type,permalink",
}
io.stdout:write("\n")
if not media then
  io.stderr:write("publishing failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
print(("published %s %s: %s (container %s)"):format(media.media_product_type, media.id, media.permalink,
  media.container_id))
