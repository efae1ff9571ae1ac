--- The emulator's request handling: a stateful stand-in for graph.facebook.com that answers
-- as the Graph API reference documents (response shapes, cursor and time paging, error envelopes, usage
-- headers), plus a control API under /__emulator/ for tests:
--   GET  /__emulator/health            200 "ok"
--   POST /__emulator/reset             fresh world, empty log, default config
--   GET  /__emulator/log               JSON array of the requests received (DELETE clears it)
--   POST /__emulator/config            JSON object merged into the config (see DEFAULTS)
-- One nginx worker holds the state in this module.
local cjson = require "cjson.safe"
local json = require "instagram.json" -- exact numbers out (16-digit product ids)
local data = require "emulator.data"
local hmac = require "emulator.hmac"
local oauth = require "emulator.oauth"
local webhooks = require "emulator.webhooks"
local publish = require "emulator.publish"
local batch = require "emulator.batch"

local ngx = ngx
local type, pairs, ipairs, tonumber, tostring = type, pairs, ipairs, tonumber, tostring
local format, concat, sort, floor, min = string.format, table.concat, table.sort, math.floor, math.min

local _M = {}

local DEFAULTS = {
  rate_limit = { limit = 200, window = 3600, code = 4 }, -- calls per token per window
  require_proof = false,
  clock_offset = 0,       -- seconds added to the emulator's clock (token and code lifetimes)
  faults = {},            -- { path = lua pattern, method = "GET", times = N, delay = s,
                          --   status = N, body = "...", content_type = "...", action = "reset"|"truncate",
                          --   headers = N (extra response headers), header_size = bytes each }
}

local state, config, log, calls

--- The emulator's clock: real time plus config.clock_offset.
local function now() return ngx.time() + (config.clock_offset or 0) end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = deep_copy(x) end
  return t
end

for k, v in pairs(publish.DEFAULTS) do DEFAULTS[k] = v end

function _M.init()
  -- trace ids, codes and minted tokens differ from one emulator run to the next
  math.randomseed(math.floor(ngx.now() * 1000) + ngx.worker.pid())
  state = data.reset()
  config = deep_copy(DEFAULTS)
  os.execute("rm -rf " .. ngx.config.prefix() .. "uploads")
  log, calls = {}, {}
end

-- ---- responses ----------------------------------------------------------------------------

local function trace_id()
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, 23 do
    local r = math.random(1, #chars)
    out[i] = chars:sub(r, r)
  end
  return concat(out)
end

local function send(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json; charset=UTF-8"
  ngx.header["x-fb-trace-id"] = trace_id()
  local body = type(value) == "string" and value or assert(json.encode(value))
  ngx.header["Content-Length"] = #body
  ngx.print(body)
  return ngx.exit(status)
end

--- A Graph error envelope; HTTP 400 as in the Graph API reference's error table unless told otherwise.
local function fail(code, message, etype, extra, status)
  local e = { message = message, type = etype or "OAuthException", code = code, fbtrace_id = trace_id() }
  for k, v in pairs(extra or {}) do e[k] = v end
  if code == 190 then
    ngx.header["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "' .. message .. '"'
  end
  return send(status or 400, { error = e })
end
_M.fail = fail

local function html(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "text/html; charset=utf-8"
  ngx.print(body)
  return ngx.exit(status)
end

local function unsupported(method, id)
  return fail(100, format("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded "
    .. "due to missing permissions, or does not support this operation. Please read the Graph API "
    .. "documentation at https://developers.facebook.com/docs/graph-api", method:lower(), id),
    "GraphMethodException", { error_subcode = 33 })
end

-- ---- request parsing -----------------------------------------------------------------------

local function read_request()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local file = ngx.req.get_body_file()
    if file then
      local f = io.open(file, "rb")
      if f then body = f:read("*a") f:close() end
    end
  end
  local args = ngx.req.get_uri_args(1000)
  local ctype = ngx.var.content_type or ""
  if body and body ~= "" then
    if ctype:find("application/json", 1, true) then
      local j = cjson.decode(body)
      if type(j) == "table" then for k, v in pairs(j) do if args[k] == nil then args[k] = v end end end
    elseif ctype:find("application/x-www-form-urlencoded", 1, true) or ctype == "" then
      for k, v in pairs(ngx.decode_args(body, 1000)) do args[k] = v end
    end
  end
  return args, body
end

local function record(body)
  if #log >= 2000 then table.remove(log, 1) end
  log[#log + 1] = {
    method = ngx.req.get_method(), uri = ngx.var.request_uri, path = ngx.var.uri,
    query = ngx.var.args or "", headers = ngx.req.get_headers(200), body = body or "",
    scheme = ngx.var.scheme, http_version = ngx.req.http_version(),
    connection = tonumber(ngx.var.connection), time = ngx.now(),
  }
end

--- The token as the Graph API accepts it: Authorization (Bearer or OAuth), query, or body.
local function token_of(args)
  local auth = ngx.var.http_authorization
  if auth then
    local t = auth:match("^%s*[Bb]earer%s+(%S+)") or auth:match("^%s*OAuth%s+(%S+)")
    if t then return t end
  end
  local t = args.access_token
  if type(t) == "table" then t = t[1] end
  return t
end

-- ---- fields --------------------------------------------------------------------------------

local FIELDS = {
  user = { list = { "id", "name" }, default = { "id", "name" }, label = "User" },
  page = { list = { "id", "name", "access_token", "instagram_business_account", "category",
                    "category_list", "tasks", "has_transitioned_to_new_page_experience" },
           default = { "id", "name" }, label = "Page" },
  ig_user = { list = { "id", "username", "name", "biography", "website", "followers_count",
                       "follows_count", "media_count", "profile_picture_url", "has_profile_pic",
                       "shopping_product_tag_eligibility", "is_published", "legacy_instagram_user_id",
                       "alt_text" },
              default = { "id" }, label = "IGUser" },
  ig_media = { list = { "id", "caption", "media_type", "media_product_type", "media_url", "permalink",
                        "shortcode", "thumbnail_url", "timestamp", "username", "like_count",
                        "comments_count", "is_comment_enabled", "owner", "is_shared_to_feed",
                        "legacy_instagram_media_id", "alt_text" },
               default = { "id" }, label = "IGMedia" },
  ig_comment = { list = { "id", "text", "timestamp", "username", "like_count", "hidden", "from",
                          "media", "parent_id" },
                 default = { "timestamp", "text", "id" }, label = "IGComment" },
  ig_container = { list = { "id", "status", "status_code", "video_status", "copyright_check_status" },
                   default = { "id" }, label = "IGContainer" },
}
for _, spec in pairs(FIELDS) do
  spec.set = {}
  for _, f in ipairs(spec.list) do spec.set[f] = true end
end

--- "a,b{c,d},e.limit(3).after(x){f}" -> { {name="a"}, {name="b", sub="c,d"},
-- {name="e", mods={limit="3", after="x"}, sub="f"} } (top-level tokens; sub is parsed when used)
local function parse_fields(s)
  local tokens, depth, start = {}, 0, 1
  local function push(piece)
    piece = piece:match("^%s*(.-)%s*$")
    if piece == "" then return end
    local name, rest = piece:match("^([%w_]+)(.*)$")
    if not name then tokens[#tokens + 1] = { name = piece } return end
    local tok = { name = name, mods = {} }
    while true do
      local k, v, r = rest:match("^%.([%w_]+)%(([^)]*)%)(.*)$")
      if not k then break end
      tok.mods[k] = v
      rest = r
    end
    local sub = rest:match("^{(.*)}$")
    if sub then tok.sub = sub elseif rest ~= "" then tok.name = piece end
    tokens[#tokens + 1] = tok
  end
  for i = 1, #s do
    local ch = s:sub(i, i)
    if ch == "{" or ch == "(" then depth = depth + 1
    elseif ch == "}" or ch == ")" then depth = depth - 1
    elseif ch == "," and depth == 0 then
      push(s:sub(start, i - 1))
      start = i + 1
    end
  end
  push(s:sub(start))
  return tokens
end
_M.parse_fields = parse_fields

--- "/__emulator/img/x.jpg" -> an absolute http URL on this emulator (browsers trust plain http here).
local function asset_url(v)
  if type(v) == "string" and v:sub(1, 15) == "/__emulator/img" then
    return "http://127.0.0.1:" .. (ngx.var.emu_http_port or ngx.var.server_port) .. v
  end
  return v
end

local control_ctx

local function field_value(node, f, view)
  if view then return view[f] end
  if f == "media_url" or f == "thumbnail_url" or f == "profile_picture_url" then return asset_url(node[f]) end
  if node.type == "ig_media" then
    if f == "owner" then return { id = node.owner_id } end
    if f == "comments_count" then return #(state.comments_of[node.id] or {}) end
  elseif node.type == "ig_comment" then
    if f == "media" then return { id = node.media_id } end
  end
  return node[f]
end

-- Field expansions by node type: EXPAND[type][name](node, token) -> value | nil, error text
local EXPAND = {}

--- Node -> the object the API returns for `fields` (or the type's default fields).
local function render(node, fields_arg)
  local spec = FIELDS[node.type]
  local tokens
  if type(fields_arg) == "string" and fields_arg ~= "" then tokens = parse_fields(fields_arg)
  else
    tokens = {}
    for i, f in ipairs(spec.default) do tokens[i] = { name = f } end
  end
  local out = { id = node.id }
  local view = node.type == "ig_container" and publish.snapshot(control_ctx(), node) or nil
  for _, tok in ipairs(tokens) do
    local f = tok.name
    local expand = EXPAND[node.type] and EXPAND[node.type][f]
    if expand then
      local v, err = expand(node, tok)
      if err then return nil, err end
      if v ~= nil then out[f] = v end
    elseif spec.set[f] then
      local v = field_value(node, f, view)
      if v ~= nil then out[f] = v end
    else
      return nil, format("(#100) Tried accessing nonexisting field (%s) on node type (%s)", f, spec.label)
    end
  end
  return out
end

local function render_or_fail(node, args)
  local out, err = render(node, args.fields)
  if not out then
    if type(err) == "table" then return fail(err.code, err.message, err.type, err.extra) end
    return fail(100, err)
  end
  return out
end

-- ---- paging --------------------------------------------------------------------------------

local function cursor(i) return ngx.encode_base64("emu:" .. i) end
local function uncursor(c)
  local s = type(c) == "string" and ngx.decode_base64(c)
  return s and tonumber(s:match("^emu:(%d+)$"))
end

local function page_url(args, token, key, value)
  local q = {}
  for k, v in pairs(args) do
    if k ~= "after" and k ~= "before" and k ~= "access_token" and type(v) ~= "table" then q[k] = v end
  end
  q[key] = value
  if token then q.access_token = token end -- as the Graph API does: the client must strip it
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = k end
  sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = ngx.escape_uri(k) .. "=" .. ngx.escape_uri(tostring(q[k])) end
  return format("%s://%s%s?%s", ngx.var.scheme, ngx.var.http_host or ngx.var.host, ngx.var.uri, concat(parts, "&"))
end

--- ids -> { data = [...], paging = {...} } with cursors, next and previous.
local function paginate(ids, args, token, opts)
  local limit = tonumber(args.limit) or opts.default_limit or 25
  if limit < 1 then return nil, "(#100) The parameter limit must be a positive number" end
  limit = min(floor(limit), opts.max_limit or 100)
  local first = 1
  local after, before = uncursor(args.after), uncursor(args.before)
  if args.after and not after then return nil, "(#100) Invalid after cursor" end
  if args.before and not before then return nil, "(#100) Invalid before cursor" end
  if after then first = after + 1
  elseif before then first = math.max(1, before - limit) end
  local last = min(#ids, first + limit - 1)
  if before then last = min(last, before - 1) end
  local items = {}
  for i = first, last do
    local out, err = render(state.nodes[ids[i]], args.fields or opts.fields)
    if not out then return nil, err end
    items[#items + 1] = out
  end
  local paging = json.object()
  if #items > 0 then
    paging.cursors = { before = cursor(first), after = cursor(last) }
    if last < #ids and not opts.no_next then paging.next = page_url(args, token, "after", cursor(last)) end
    if first > 1 and not opts.no_next then paging.previous = page_url(args, token, "before", cursor(first)) end
  end
  return { data = json.array(items), paging = paging }
end

-- ---- rate limiting and usage headers -------------------------------------------------------

local function count_call(token, buc_id)
  local rl = config.rate_limit
  local t = ngx.now()
  local entry = calls[token]
  if not entry or t - entry.start >= rl.window then
    entry = { start = t, n = 0 }
    calls[token] = entry
  end
  entry.n = entry.n + 1
  local pct = floor(entry.n * 100 / rl.limit)
  local regain = entry.n > rl.limit and math.ceil((entry.start + rl.window - t) / 60) or 0
  ngx.header["X-App-Usage"] = json.encode{
    call_count = min(pct, 100), total_time = floor(pct / 2), total_cputime = floor(pct / 3) }
  if buc_id then
    ngx.header["X-Business-Use-Case-Usage"] = json.encode{ [buc_id] = { {
      type = "instagram", call_count = min(pct, 100), total_time = floor(pct / 2),
      total_cputime = floor(pct / 3), estimated_time_to_regain_access = regain } } }
  end
  if entry.n > rl.limit then
    if rl.code == 80002 then
      return fail(80002, "There have been too many calls to this Instagram account. Wait a bit and try again. "
        .. "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        "OAuthException", { is_transient = true })
    end
    return fail(4, "(#4) Application request limit reached", "OAuthException", { is_transient = true })
  end
end

-- ---- faults --------------------------------------------------------------------------------

local function apply_faults(method, path)
  for _, f in ipairs(config.faults) do
    if (not f.method or f.method == method) and path:find(f.path or "") and (f.times == nil or f.times > 0) then
      if f.times then f.times = f.times - 1 end
      if f.delay then ngx.sleep(f.delay) end
      if f.headers then -- a flood of response headers; the answer itself goes on as usual
        for i = 1, f.headers do ngx.header["X-Flood-" .. i] = string.rep("v", f.header_size or 8) end
      end
      if f.action == "reset" then return ngx.exit(444) end
      if f.action == "truncate" then
        local body = f.body or '{"data":[{"id":"1791819522'
        ngx.header["Content-Type"] = "application/json"
        ngx.header["Content-Length"] = #body + 100
        ngx.print(body)
        ngx.flush(true)
        return ngx.exit(444)
      end
      if f.status or f.body then
        ngx.status = f.status or 200
        ngx.header["Content-Type"] = f.content_type or "text/html"
        ngx.print(f.body or "<html><body><h1>" .. tostring(f.status) .. " Server Error</h1></body></html>")
        return ngx.exit(ngx.status)
      end
    end
  end
end

-- ---- the Graph routes ----------------------------------------------------------------------

-- Instagram-Login permissions grant what their Facebook-Login counterparts do.
local SCOPE_ALIASES = {
  instagram_business_basic = "instagram_basic",
  instagram_business_manage_comments = "instagram_manage_comments",
  instagram_business_content_publish = "instagram_content_publish",
  instagram_business_manage_insights = "instagram_manage_insights",
}

local function has_scope(tok, scope)
  for _, s in ipairs(tok.scopes) do
    if s == scope or SCOPE_ALIASES[s] == scope then return true end
  end
  return false
end

local function need_scope(tok, scope)
  if not has_scope(tok, scope) then
    return fail(10, "(#10) Application does not have permission for this action", "OAuthException")
  end
end

local function ig_owner_of(node)
  if node.type == "ig_user" then return node.id end
  if node.type == "ig_media" then return node.owner_id end
  if node.type == "ig_comment" then return state.nodes[node.media_id].owner_id end
end

local handlers = {}

-- GET /me, GET /{id}
-- Writes on nodes: NODE_WRITE[type][method](node, args, tok) answers the request.
local NODE_WRITE = {}

function handlers.node(method, node, args, tok)
  if method ~= "GET" then
    local write = NODE_WRITE[node.type] and NODE_WRITE[node.type][method]
    if write then return write(node, args, tok) end
    return unsupported(method, node.id)
  end
  if args.metadata == "1" then
    local spec = FIELDS[node.type]
    local list = {}
    for i, f in ipairs(spec.list) do list[i] = { name = f, description = "The " .. f:gsub("_", " ") .. ".", type = "string" } end
    local out = render_or_fail(node, args)
    out.metadata = { type = spec.label, fields = json.array(list) }
    return send(200, out)
  end
  -- The Page reference lists `fields` as required; without it the defaults come back.
  return send(200, render_or_fail(node, args))
end

local EDGES = {}

EDGES.user = {
  accounts = function(method, node, args, token)
    if method ~= "GET" then return unsupported(method, node.id .. "/accounts") end
    local page, err = paginate(state.accounts, args, token, { default_limit = 25 })
    if not page then return fail(100, err) end
    return send(200, page)
  end,
}

EDGES.page = {
  page_backed_instagram_accounts = function(method, node, args, token)
    if method ~= "GET" then return unsupported(method, node.id .. "/page_backed_instagram_accounts") end
    local page, err = paginate(node.backed, args, token, { fields = "id,is_published,legacy_instagram_user_id" })
    if not page then return fail(100, err) end
    return send(200, page)
  end,
}

local function parse_time(v)
  if v == nil then return nil end
  local n = tonumber(v)
  if n then return n end
  local y, m, d = tostring(v):match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
  if y then return os.time{ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 0 } end
  return false
end

EDGES.ig_user = {
  media = function(method, node, args, token, tok, version)
    if method == "POST" then
      return need_scope(tok, "instagram_content_publish") or publish.create(control_ctx(version), node, args)
    end
    if method ~= "GET" then return unsupported(method, node.id .. "/media") end
    local err = need_scope(tok, "instagram_basic")
    if err then return err end
    local since, untl = parse_time(args.since), parse_time(args["until"])
    if since == false or untl == false then
      return fail(100, "(#100) The parameters since and until must be a Unix timestamp or a date (YYYY-MM-DD)")
    end
    local ids = {}
    for _, id in ipairs(state.media_of[node.id] or {}) do
      local t = state.nodes[id].created
      if (not since or t >= since) and (not untl or t <= untl) then ids[#ids + 1] = id end
    end
    local page, perr = paginate(ids, args, token, { default_limit = 25, max_limit = 100 })
    if not page then return fail(100, perr) end
    return send(200, page)
  end,
}

EDGES.ig_user.media_publish = function(method, node, args, _, tok, version)
  if method ~= "POST" then return unsupported(method, node.id .. "/media_publish") end
  return need_scope(tok, "instagram_content_publish") or publish.publish(control_ctx(version), node, args)
end

EDGES.ig_user.content_publishing_limit = function(method, node, args, _, tok, version)
  if method ~= "GET" then return unsupported(method, node.id .. "/content_publishing_limit") end
  return need_scope(tok, "instagram_content_publish") or publish.limit(control_ctx(version), node, args)
end

EDGES.ig_media = {
  comments = function(method, node, args, token, tok)
    local err = need_scope(tok, "instagram_manage_comments")
    if err then return err end
    if method == "POST" then
      local msg = args.message
      if type(msg) ~= "string" or msg == "" then
        return fail(100, "(#100) The parameter message is required")
      end
      local list = state.comments_of[node.id]
      local cid = format("178709%011d", #list + 1 + 1000 * (#log % 997))
      state.nodes[cid] = { type = "ig_comment", id = cid, media_id = node.id, text = msg,
        timestamp = data.iso(ngx.time()), username = state.nodes[node.owner_id].username,
        like_count = 0, hidden = false, from = { id = node.owner_id, username = state.nodes[node.owner_id].username } }
      table.insert(list, 1, cid)
      return send(200, { id = cid })
    end
    if method ~= "GET" then return unsupported(method, node.id .. "/comments") end
    local page, perr = paginate(state.comments_of[node.id], args, token, { default_limit = 25, max_limit = 50 })
    if not page then return fail(100, perr) end
    return send(200, page)
  end,
  product_tags = function(method, node, args)
    if method == "POST" then
      local raw = args.updated_tags
      local tags = type(raw) == "string" and cjson.decode(raw) or raw
      if type(tags) ~= "table" then return fail(100, "(#100) The parameter updated_tags is required") end
      node.product_tags = tags
      return send(200, { success = true })
    end
    if method ~= "GET" then return unsupported(method, node.id .. "/product_tags") end
    return send(200, { data = json.array(node.product_tags or {}) })
  end,
}

-- Root edges: /ig_hashtag_search, /instagram_oembed (ROOT[name](method, args, tok, token)).
local ROOT = {}

-- The rest of the documented surface lives in emulator/surface.lua, on the same tables.
require("emulator.surface").install{
  EDGES = EDGES, FIELDS = FIELDS, EXPAND = EXPAND, NODE_WRITE = NODE_WRITE, ROOT = ROOT,
  render = render, paginate = paginate, page_url = page_url, fail = fail, send = send, need_scope = need_scope,
  unsupported = unsupported, asset_url = asset_url,
  state = function() return state end, config = function() return config end, now = function() return now() end,
}

-- ---- control API ---------------------------------------------------------------------------

--- A placeholder picture for media_url and friends: an SVG tile with the media's number.
local function placeholder(name)
  local n = tonumber(name:match("(%d%d%d)%D*$")) or 0
  local hue = (n * 47) % 360
  ngx.header["Content-Type"] = "image/svg+xml"
  ngx.header["Cache-Control"] = "max-age=3600"
  ngx.print(format([[<svg xmlns="http://www.w3.org/2000/svg" width="320" height="320" viewBox="0 0 320 320">]]
    .. [[<rect width="320" height="320" fill="hsl(%d,55%%,62%%)"/><text x="160" y="175" font-size="56" ]]
    .. [[text-anchor="middle" fill="#fff" font-family="sans-serif">%s</text></svg>]], hue,
    n > 0 and ("#" .. n) or "IG"))
  return ngx.exit(200)
end

control_ctx = function(version)
  return { state = state, config = config, send = send, fail = fail, html = html, now = now,
           version = version or "v24.0" }
end

local function control(method, path)
  if path == "/__emulator/health" then ngx.say("ok") return ngx.exit(200) end
  if path:sub(1, 16) == "/__emulator/img/" then return placeholder(path:sub(17)) end
  if path == "/__emulator/reset" and method == "POST" then
    _M.init()
    return send(200, { success = true })
  end
  if path == "/__emulator/log" then
    if method == "DELETE" then log = {} return send(200, { success = true }) end
    return send(200, json.array(log))
  end
  if path == "/__emulator/webhook" and method == "POST" then return webhooks.deliver(control_ctx()) end
  if path == "/__emulator/webhook_verify" and method == "POST" then return webhooks.verify(control_ctx()) end
  if path == "/__emulator/config" then
    if method == "POST" then
      ngx.req.read_body()
      local body = ngx.req.get_body_data() or "{}"
      local patch = cjson.decode(body)
      if type(patch) ~= "table" then return send(400, { error = "config must be a JSON object" }) end
      for k, v in pairs(patch) do
        if DEFAULTS[k] == nil then return send(400, { error = "unknown config key " .. k }) end
        if type(v) == "table" and type(config[k]) == "table" and k ~= "faults" then
          for kk, vv in pairs(v) do config[k][kk] = vv end
        else
          config[k] = v
        end
      end
      calls = {}
    end
    return send(200, config)
  end
  return send(404, { error = "unknown control path " .. path })
end

-- ---- entry point ---------------------------------------------------------------------------

function _M.handle()
  local method = ngx.req.get_method()
  local path = ngx.var.uri
  if path:sub(1, 12) == "/__emulator/" then return control(method, path) end

  -- The resumable upload host: /ig-api-upload/{version}/{container-id} (or without the version).
  -- Its body is streamed to disk as it arrives, so it is neither read here nor kept in the log.
  local up_version, up_id = path:match("^/ig%-api%-upload/(v%d+%.%d+)/(%d+)$")
  up_id = up_id or path:match("^/ig%-api%-upload/(%d+)$")
  if up_id and method == "POST" then
    record("<" .. tostring(ngx.var.http_content_length or 0) .. " bytes streamed to disk>")
    return publish.rupload(control_ctx(up_version), up_id)
  end

  local args, body = read_request()
  record(body)
  local fault = apply_faults(method, path)
  if fault then return fault end

  -- Version prefix: /v24.0/... (any vN.N); a call without one gets the default version.
  local version = path:match("^/(v%d+%.%d+)/")
  local rest = path:match("^/v%d+%.%d+(/.*)$") or path
  local segs = {}
  for seg in rest:gmatch("[^/]+") do segs[#segs + 1] = seg end

  local token = token_of(args)
  if oauth.route(control_ctx(), method, path, args, token) then return end
  if not token or token == "" then
    if segs[1] == "me" then
      return fail(2500, "An active access token must be used to query information about the current user.")
    end
    return fail(104, "An access token is required to request this resource.")
  end
  local tok = state.tokens[token]
  if not tok then
    return fail(190, "Invalid OAuth access token - Cannot parse access token")
  end
  if tok.expired or (tok.expires_at and now() > tok.expires_at) then
    return fail(190, "Error validating access token: Session has expired on Friday, 01-Nov-26 12:00:00 PST.",
      "OAuthException", { error_subcode = 463 })
  end
  local proof = args.appsecret_proof
  if proof then
    if proof ~= hmac.sha256_hex(data.APP_SECRET, token) then
      return fail(100, "Invalid appsecret_proof provided in the API argument", "GraphMethodException")
    end
  elseif config.require_proof then
    return fail(100, "API calls from the server require an appsecret_proof argument", "GraphMethodException")
  end

  if #segs == 0 and method == "POST" and args.batch then
    return batch.run(control_ctx(version or "v24.0"), args, token)
  end
  if #segs == 0 then return unsupported(method, "") end
  if #segs == 1 and ROOT[segs[1]] then
    local limited = count_call(token, nil)
    if limited then return limited end
    return ROOT[segs[1]](method, args, tok, token)
  end
  local id = segs[1] == "me" and tok.id or segs[1]
  local node = state.nodes[id]
  if not node then return unsupported(method, id) end
  local limited = count_call(token, ig_owner_of(node))
  if limited then return limited end

  if #segs == 1 then return handlers.node(method, node, args, tok) end
  if #segs == 2 then
    local edge = EDGES[node.type] and EDGES[node.type][segs[2]]
    if edge then return edge(method, node, args, token, tok, version) end
    return fail(100, format("(#100) Tried accessing nonexisting field (%s) on node type (%s)",
      segs[2], FIELDS[node.type].label))
  end
  return unsupported(method, rest)
end

return _M
