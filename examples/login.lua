--- Command-line Facebook Login: prints the login URL, takes the redirect URL back, stores a
-- long-lived token.
--   lua5.4 examples/login.lua               interactive: paste the redirect URL when asked
--   lua5.4 examples/login.lua url           step 1 alone: print the URL (the state is kept in a file)
--   lua5.4 examples/login.lua finish URL    step 2 alone: check the state, exchange, store
-- Environment: IG_APP_ID, IG_APP_SECRET, IG_REDIRECT_URI, IG_TOKEN_FILE (default ./instagram-token.json);
-- IG_GRAPH_URL, IG_DIALOG_URL, IG_CA_FILE for another server (`eval "$(emulator/run env)"` sets them all for the local emulator).
dofile((arg[0]:match("^(.*)/") or ".") .. "/checkout.lua") -- from a checkout: its lua/ and build/ (no install)
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

--- Writes a file only its owner can read or write, from its first byte: the shell creates it
-- empty under a temporary name with umask 077 (and noclobber, so nothing already there is
-- reused), Lua fills it, and a rename puts it in place. No chmod afterwards: there is no moment
-- when the token sits in a file others can read.
local function write_private(path, text)
  local tmp = path .. ".tmp"
  os.remove(tmp)
  local created = os.execute("umask 077 && set -C && : > '" .. tmp:gsub("'", "'\\''") .. "'")
  if created ~= true and created ~= 0 then error("cannot create " .. tmp .. " (is its folder writable?)") end
  local f = assert(io.open(tmp, "wb"))
  local ok, err = f:write(text)
  f:close()
  if not ok then os.remove(tmp) error("cannot write " .. tmp .. ": " .. tostring(err)) end
  assert(os.rename(tmp, path))
end

local function start()
  local url, state = fb:login_url{ scope = { "instagram_basic", "pages_show_list", "instagram_content_publish",
    "instagram_manage_comments", "instagram_manage_insights" } }
  write_private(state_file, state)
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
  write_private(token_file, json.encode(long:to_table()))
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
