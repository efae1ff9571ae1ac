--- Command-line Facebook Login: prints the login URL, takes the redirect URL back, stores a
-- long-lived token.
--   lua5.4 examples/login.lua               interactive: paste the redirect URL when asked
--   lua5.4 examples/login.lua url           step 1 alone: print the URL (the state is kept in a file)
--   lua5.4 examples/login.lua finish URL    step 2 alone: check the state, exchange, store
-- Environment: IG_APP_ID, IG_APP_SECRET, IG_REDIRECT_URI, IG_TOKEN_FILE (default ./instagram-token.json);
-- IG_GRAPH_URL, IG_DIALOG_URL, IG_CA_FILE to use the emulator.
local instagram = require "instagram"
local json = require "instagram.json"

local token_file = os.getenv("IG_TOKEN_FILE") or "instagram-token.json"
local state_file = token_file .. ".state"

local fb = instagram.oauth.facebook{
  app_id = assert(os.getenv("IG_APP_ID"), "set IG_APP_ID"),
  app_secret = assert(os.getenv("IG_APP_SECRET"), "set IG_APP_SECRET"),
  redirect_uri = assert(os.getenv("IG_REDIRECT_URI"), "set IG_REDIRECT_URI (one of the app's valid OAuth redirect URIs)"),
  graph_url = os.getenv("IG_GRAPH_URL"), dialog_url = os.getenv("IG_DIALOG_URL"), ca_file = os.getenv("IG_CA_FILE"),
}

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " '" .. path .. "'") end
end

local function start()
  local url, state = fb:login_url{ scope = { "instagram_basic", "pages_show_list", "instagram_content_publish",
    "instagram_manage_comments", "instagram_manage_insights" } }
  write(state_file, state, "600")
  print("Open this URL in a browser and log in:\n\n  " .. url .. "\n")
  return state
end

local function finish(redirect, state)
  state = state or (io.open(state_file) or error("no login in progress: run the url step first")):read("*l")
  local short, err = fb:handle_redirect(redirect, state)
  if not short then
    io.stderr:write("login failed: " .. tostring(err) .. "\n")
    os.exit(1)
  end
  local long = assert(fb:exchange_long_lived(short))
  local pages = assert(fb:pages(long))
  write(token_file, json.encode(long:to_table()), "600")
  os.remove(state_file)
  print(("Stored a long-lived token in %s (%s)."):format(token_file, tostring(long)))
  for _, p in ipairs(pages) do
    local ig = p.instagram_business_account
    print(("  Page %s: Instagram account %s; your tasks let the app have: %s"):format(p.name, ig and ig.id or "none",
      table.concat(p.grantable_permissions, ", ")))
  end
end

local cmd = arg[1]
if cmd == "url" then start()
elseif cmd == "finish" then finish((assert(arg[2], "usage: login.lua finish REDIRECT_URL")))
else
  local state = start()
  io.write("Paste the URL the browser was sent back to: ")
  io.flush()
  finish((assert(io.read("*l"), "no URL given")), state)
end
