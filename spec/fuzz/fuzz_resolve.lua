-- Fuzzes the Lua-level path resolution (Client:_build, through Client:_resolve): the function
-- that turns a caller's path, or a server's paging.next, into the request a transport sends.
-- For every input that yields a request, it checks the promise "the token never leaves":
--   * the URL's origin is exactly graph_url or rupload_url (no userinfo, port or host trick);
--   * the path after the origin starts with /<version>/ on graph_url (unless the call is
--     explicitly unversioned), with /ig-api-upload/ on rupload_url;
--   * the URL holds no byte <= 0x20 or 0x7F, no backslash, no fragment, and no '.' or '..'
--     segment, read as sent or percent-decoded (once or twice);
--   * the access token appears only in the Authorization header, the app secret nowhere;
--   * what a pager keeps of the input as a paging.next (Client:_next_url) holds no secret.
-- An input that yields no request must come back as nil, err (a transport error): a non-empty
-- string path never raises (a server's paging.next goes through here).
--
--   lua5.4 spec/fuzz/fuzz_resolve.lua      (from the checkout; FUZZ_SECONDS=20, FUZZ_SEED=1)
--   luajit spec/fuzz/fuzz_resolve.lua
-- Prints the number of inputs tried; on a violation prints the input (%q) and exits 1.
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local instagram = require "instagram"

local seconds = tonumber(os.getenv("FUZZ_SECONDS") or "20") or 20
local seed = tonumber(os.getenv("FUZZ_SEED") or "1") or 1
local max_iter = tonumber(os.getenv("FUZZ_ITERATIONS") or "") -- optional cap, for quick runs

local TOKEN = "FUZZTOKENq7Zx3Kp9Lm2"
local APP_SECRET = "FUZZSECRETw4Yt8Rn6Bv1"

-- ---- a PRNG that gives the same sequence on Lua 5.4 (integers) and LuaJIT (doubles) ------------
-- Park-Miller "minimal standard": every product stays below 2^53.
local state = seed % 2147483646 + 1
local function rand(n) -- 1..n
  state = (state * 16807) % 2147483647
  return state % n + 1
end

-- ---- the clients under test -----------------------------------------------------------------
local function sink() return { request = function() error("the fuzzer never sends") end } end

local clients = {
  { graph = "https://graph.facebook.com", rupload = "https://rupload.facebook.com" },
  { graph = "http://127.0.0.1:20080", rupload = "http://127.0.0.1:20080" }, -- one host for both, as the emulator
  { graph = "https://graph.instagram.com", rupload = "https://rupload.facebook.com", version = "v19.0" },
}
for _, k in ipairs(clients) do
  k.c = instagram.new{ access_token = TOKEN, app_secret = APP_SECRET, graph_url = k.graph, rupload_url = k.rupload,
    version = k.version, transport = sink(), retries = 0 }
  k.version = k.c.version
  k.proof = k.c:appsecret_proof()
end

-- ---- corpus and dictionary ------------------------------------------------------------------
local corpus = {
  "/me", "me", "me/accounts", "/17841405822304914/media?fields=id,caption&limit=25",
  "/v19.0/me", "/v24.0/17841405822304914", "/", "?fields=id", "#x",
  "https://graph.facebook.com/v24.0/17841405822304914/media?access_token=" .. TOKEN .. "&after=QVFIUmd",
  "https://graph.facebook.com@evil.example/v24.0/me", "https://evil.example/v24.0/me",
  "https://graph.facebook.com.evil.example/", "https://graph.facebook.com:443/me",
  "HTTPS://graph.facebook.com/v24.0/me", "https://GRAPH.facebook.com/me", "//evil.example/me",
  "https://graph.facebook.com\\@evil.example/", "https:\\\\evil.example/", "https:/graph.facebook.com/me",
  "/me/../../../oauth/access_token", "/me/./x", "/%2e%2e/oauth", "/.%2e/x", "/%2E./x", "/me%2f..%2fx",
  "/me\\..\\x", "/%252e%252e/x", "https://rupload.facebook.com/ig-api-upload/v24.0/17889455560051444",
  "https://rupload.facebook.com/oauth/access_token", "/ig-api-upload/v24.0/1", "http://127.0.0.1:20080/v24.0/me",
  "http://127.0.0.1:20080@127.0.0.1:20081/me", "https://[::1]/me", "https://graph.facebook.com:8443/me",
  "/oauth/access_token?client_id=1&code=abc", "/me?access_token=x&appsecret_proof=y&fields=id",
  "/caf\xc3\xa9", "/me%0d%0aX:%20y", "/me\r\nX: y", "/me?x=" .. TOKEN, "/" .. TOKEN,
  "https://graph.instagram.com/v19.0/me", "https://graph.instagram.com/refresh_access_token",
  "javascript:alert(1)", "file:///etc/passwd", "mailto:x@y", "/me?#?#", "/me;/../x", "/me/..;/x",
}

local dict = {
  "..", ".", "%2e", "%2E", "%2e%2e", ".%2e", "%2e.", "%252e", "%2f", "%2F", "%5c", "%5C", "%25", "\\", "/", "//",
  "?", "#", "@", ":", ";", "&", "=", "%", "\r", "\n", "\r\n", " ", "\0", "\t", "\127", "\1", "\31", "%00",
  "%0d%0a", "%20", "https://", "HTTPS://", "http://", "HtTp://", "graph.facebook.com", "rupload.facebook.com",
  "graph.instagram.com", "127.0.0.1:20080", "evil.example", "[::1]", ":443", ":20080", "access_token=",
  "appsecret_proof=", "client_secret=", TOKEN, APP_SECRET, TOKEN:sub(3, 14), APP_SECRET:sub(5, 20),
  "\xc3\xa9", "\xef\xbc\x8e", "\xff", "v24.0", "/v1.0/",
  "/v24.0/", "ig-api-upload/", "/ig-api-upload/", "oauth/access_token", "me", "17841405822304914", "?after=",
  "user:pass@", "%40", "%3f", "%23",
}

-- ---- mutations ------------------------------------------------------------------------------
local function insert(s, piece)
  local at = rand(#s + 1) - 1
  return s:sub(1, at) .. piece .. s:sub(at + 1)
end

local mutations = {
  function(s) return insert(s, dict[rand(#dict)]) end,
  function(s) return insert(s, dict[rand(#dict)]) end,
  function(s) return insert(s, string.char(rand(256) - 1)) end,
  function(s) -- delete a run
    if #s == 0 then return s end
    local a = rand(#s)
    local b = math.min(#s, a + rand(8) - 1)
    return s:sub(1, a - 1) .. s:sub(b + 1)
  end,
  function(s) -- replace a byte
    if #s == 0 then return s end
    local a = rand(#s)
    return s:sub(1, a - 1) .. string.char(rand(256) - 1) .. s:sub(a + 1)
  end,
  function(s) -- flip the case of a byte
    if #s == 0 then return s end
    local a = rand(#s)
    local ch = s:sub(a, a)
    local flipped = ch:lower() == ch and ch:upper() or ch:lower()
    return s:sub(1, a - 1) .. flipped .. s:sub(a + 1)
  end,
  function(s) -- splice with another corpus entry
    local o = corpus[rand(#corpus)]
    return s:sub(1, rand(#s + 1) - 1) .. o:sub(rand(#o + 1))
  end,
  function(s) -- duplicate a run
    if #s == 0 then return s end
    local a = rand(#s)
    local b = math.min(#s, a + rand(12) - 1)
    return s:sub(1, b) .. s:sub(a, b) .. s:sub(b + 1)
  end,
}

local function mutate(s)
  for _ = 1, rand(4) do s = mutations[rand(#mutations)](s) end
  if #s > 512 then s = s:sub(1, 512) end
  return s
end

-- ---- the invariant --------------------------------------------------------------------------
local function decode(s) return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end

local function dot_segment(p)
  for _, v in ipairs{ p, decode(p), decode(decode(p)) } do
    for seg in (v .. "/"):gmatch("([^/\\]*)[/\\]") do
      if seg == "." or seg == ".." then return true end
    end
  end
  return false
end

local function contains(hay, needle)
  return type(hay) == "string" and (hay:find(needle, 1, true) ~= nil or decode(hay):find(needle, 1, true) ~= nil)
end

local function check(k, method, input, opts)
  local ok, req, err = pcall(k.c._build, k.c, method, input, nil, opts)
  if not ok then return "raised: " .. tostring(req) end
  if not req then
    if type(err) ~= "table" or err.kind ~= "transport" or type(err.message) ~= "string" then
      return "no request and no transport error"
    end
    if contains(err.message, TOKEN) or contains(err.message, APP_SECRET) then return "a secret in the error" end
    return nil
  end
  local url = req.url
  if url:find("[%z\1-\32\127]") then return "a control byte or space in the URL" end
  if url:find("\\", 1, true) then return "a backslash in the URL" end
  if url:find("#", 1, true) then return "a fragment in the URL" end
  local rest, host
  if url:sub(1, #k.graph + 1) == k.graph .. "/" then rest, host = url:sub(#k.graph + 1), "graph"
  elseif url:sub(1, #k.rupload + 1) == k.rupload .. "/" then rest, host = url:sub(#k.rupload + 1), "rupload"
  else return "sent to a foreign origin" end
  local p = rest:match("^[^?]*")
  local upload = p:find("^/ig%-api%-upload/") ~= nil
  if host == "rupload" and k.rupload ~= k.graph and not upload then return "outside /ig-api-upload/ on rupload_url" end
  if host == "graph" and not (opts and opts.versioned == false) and not p:find("^/v%d+%.%d+/")
     and not (upload and k.graph == k.rupload) then
    return "outside the version prefix"
  end
  if dot_segment(p) then return "a '.' or '..' segment" end
  if contains(url, TOKEN) then return "the token in the URL" end
  if contains(url, APP_SECRET) or contains(req.body, APP_SECRET) then return "the app secret in the request" end
  if contains(req.body, TOKEN) then return "the token in the body" end
  for name, value in pairs(req.headers) do
    if contains(name, TOKEN) or contains(name, APP_SECRET) or contains(value, APP_SECRET) then
      return "a secret in header " .. name
    end
    if name ~= "Authorization" and contains(value, TOKEN) then return "the token in header " .. name end
  end
  if req.headers.Authorization ~= "Bearer " .. TOKEN then return "the Authorization header changed" end
  -- What a pager keeps of the same string as a paging.next: no secret of the client.
  local ok2, next_url = pcall(k.c._next_url, k.c, input)
  if not ok2 then return "_next_url raised: " .. tostring(next_url) end
  if next_url then
    for _, secret in ipairs{ TOKEN, APP_SECRET, k.proof } do
      for i = 1, #secret - 7 do -- any 8-byte run: part of a token is as bad as the token
        if contains(next_url, secret:sub(i, i + 7)) then return "part of a secret kept in a pager's next_url" end
      end
    end
    for pair in (next_url:match("%?([^#]*)") or ""):gmatch("[^&]+") do
      local name = decode(pair:match("^[^=]*"))
      if name == "access_token" or name == "appsecret_proof" then return name .. " kept in a pager's next_url" end
    end
  end
  return nil
end

-- ---- the loop -------------------------------------------------------------------------------
local METHODS = { "GET", "POST", "DELETE" }
local started = os.clock()
local n, sent, refused = 0, 0, 0
while os.clock() - started < seconds and (not max_iter or n < max_iter) do
  n = n + 1
  local input = corpus[rand(#corpus)]
  if rand(8) > 1 then input = mutate(input) end
  if input == "" then input = "/" end
  local k = clients[rand(#clients)]
  local method = METHODS[rand(#METHODS)]
  local opts = rand(6) == 1 and { versioned = false } or nil
  local why = check(k, method, input, opts)
  if why then
    io.stderr:write(("fuzz_resolve: VIOLATION after %d inputs (seed %d): %s\n  client: graph_url=%s rupload_url=%s\n"
      .. "  call:   c:_build(%q, %q, nil, %s)\n"):format(n, seed, why, k.graph, k.rupload, method, input,
      opts and "{ versioned = false }" or "nil"))
    io.stderr:write("  bytes:  " .. input:gsub(".", function(ch) return ("%02x "):format(ch:byte()) end) .. "\n")
    local ok, req = pcall(k.c._build, k.c, method, input, nil, opts)
    if ok and req then io.stderr:write(("  url:    %q\n"):format(req.url)) end
    os.exit(1)
  end
  local req = k.c:_build(method, input, nil, opts)
  if req then sent = sent + 1 else refused = refused + 1 end
end
print(("fuzz_resolve (%s): %d inputs in %.1fs, seed %d: %d built, %d refused, no violation"):format(
  jit and jit.version or _VERSION, n, os.clock() - started, seed, sent, refused))
