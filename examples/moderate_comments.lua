--- Comment moderation: walk the comments on recent media, hide the ones with blocked words,
-- answer questions, and say what was done.
--   lua5.4 examples/moderate_comments.lua [--dry-run] [media_count]
-- Environment: IG_TOKEN, IG_USER_ID; IG_GRAPH_URL, IG_CA_FILE for another server:
-- `eval "$(emulator/run env)"` sets them all for the local emulator.
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
local instagram = require "instagram"

local dry = arg[1] == "--dry-run"
local media_count = tonumber(dry and arg[2] or arg[1]) or 5
local BLOCKED = { "spam", "scam", "buy followers" }
local ANSWER = "Thanks for asking! Our dino facts come out every day."

local client = instagram.new{ access_token = assert(os.getenv("IG_TOKEN"), "set IG_TOKEN"),
  graph_url = os.getenv("IG_GRAPH_URL"), ca_file = os.getenv("IG_CA_FILE") }
local user = client:ig_user(assert(os.getenv("IG_USER_ID"), "set IG_USER_ID"))

local function blocked(text)
  local t = (text or ""):lower()
  for _, word in ipairs(BLOCKED) do if t:find(word, 1, true) then return word end end
end

local seen, hidden, answered = 0, 0, 0
local media = user:media{ fields = "id,caption,comments_count", max_items = media_count }
for m in media:items() do
  print(("media %s (%d comments): %s"):format(m.id, m.comments_count or 0, (m.caption or ""):sub(1, 40)))
  local comments = client:ig_media(m.id):comments{ fields = "id,text,username,hidden" }
  for c in comments:items() do
    seen = seen + 1
    local word = blocked(c.text)
    if word and not c.hidden then
      print(("  hide   %s by @%s (\"%s\")"):format(c.id, c.username or "?", word))
      if not dry then assert(client:ig_comment(c.id):hide(true)) end
      hidden = hidden + 1
    elseif (c.text or ""):find("?", 1, true) then
      print(("  reply  %s by @%s: %s"):format(c.id, c.username or "?", c.text))
      if not dry then assert(client:ig_comment(c.id):reply(ANSWER)) end
      answered = answered + 1
    end
  end
  if comments.err then print("  could not read comments: " .. tostring(comments.err)) end
end
if media.err then
  io.stderr:write("could not list media: " .. tostring(media.err) .. "\n")
  os.exit(1)
end
print(("%d comments read, %d hidden, %d answered%s"):format(seen, hidden, answered, dry and " (dry run)" or ""))
