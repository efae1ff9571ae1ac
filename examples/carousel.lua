--- Publish a carousel of hosted images and a video (each child a container with
-- is_carousel_item), then print the album's children.
--   lua5.4 examples/carousel.lua
-- Environment: IG_TOKEN, IG_USER_ID; IG_GRAPH_URL, IG_RUPLOAD_URL, IG_CA_FILE for another server:
-- `eval "$(emulator/run env)"` sets them all for the local emulator.
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
local instagram = require "instagram"

local client = instagram.new{
  access_token = assert(os.getenv("IG_TOKEN"), "set IG_TOKEN"),
  graph_url = os.getenv("IG_GRAPH_URL"), rupload_url = os.getenv("IG_RUPLOAD_URL"), ca_file = os.getenv("IG_CA_FILE"),
}
local user = client:ig_user(assert(os.getenv("IG_USER_ID"), "set IG_USER_ID"))

local album, err = user:publish_carousel{
  caption = "Three dinosaurs in one post #dinos",
  children = {
    { image_url = "https://cdn.example/trex.jpg", alt_text = "A T. rex",
      user_tags = { { username = "dinocafe", x = 0.4, y = 0.6 } } },
    { image_url = "https://cdn.example/stego.jpg", alt_text = "A stegosaurus" },
    { video_url = "https://cdn.example/raptor.mp4" },
  },
  wait = { interval = tonumber(os.getenv("IG_POLL_INTERVAL")) or 5 },
  fields = "id,media_type,caption,permalink",
}
if not album then
  io.stderr:write("publishing failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
print(("published %s %s: %s"):format(album.media_type, album.id, album.caption))
