--- The hostile Graph API server (spec/hostile/run): answers as an attacker who runs, or sits in front
-- of, graph.facebook.com would. It echoes every secret a request carries (the Authorization token,
-- appsecret_proof, every query and body parameter) into every place an answer has, and breaks HTTP
-- and JSON in every way a client must survive. spec/hostile_spec.lua points the whole client at it.
--
-- A behaviour is chosen per request:
--   * by path: /v24.0/<behaviour>/<uid>[/...]?<options>  (the version prefix is optional), options
--     in the query string; <uid> is the test's unique id, found again in the request log;
--   * or, for paths the client builds itself (node wrappers, batch, publishing, uploads, OAuth), by
--     the mode set for the request's tenant: the bearer token (the part before "|" for app tokens),
--     else the access_token or client_id parameter. A mode is { routes = { { m = METHOD, p = lua
--     pattern on the path without version prefix, times = N, <behaviour spec> }, ... },
--     default = <behaviour spec> }, or a behaviour spec alone: { b = "name", <options> }, or
--     { status, headers, body } templates (see subst), or { raw = template } for bytes as they are.
-- Control API (JSON):
--   GET  /__hostile/health          "ok"
--   POST /__hostile/mode            { key, mode }: the mode of a tenant (mode = null clears it)
--   GET  /__hostile/log?key=K       requests of tenant K, oldest first; ?uid=U: those whose path has U
--   GET  /__hostile/foreign         every request the foreign listener received
--   POST /__hostile/reset           forget logs and modes
-- One worker: the log and the modes are module state.
-- luacheck: globals ngx
local cjson = require "cjson.safe"

local type, pairs, ipairs, tostring, tonumber, concat, sort = type, pairs, ipairs, tostring, tonumber,
  table.concat, table.sort
local rep, sub, format, floor, min, max = string.rep, string.sub, string.format, math.floor, math.min, math.max

local _M = {}

local ports
local log, foreign_log = {}, {}
local modes, route_uses = {}, {}
local MAX_LOG = 20000
local LOG_BODY = 16384

function _M.init(p) ports = p end

-- ---- the request ---------------------------------------------------------------------------

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local name = ngx.req.get_body_file()
    if name then
      local f = io.open(name, "rb")
      if f then body = f:read(8 * 1024 * 1024) f:close() end
    end
  end
  return body or ""
end

local function first(v)
  if type(v) == "table" then return v[1] end
  return v
end

-- Every string leaf of a decoded JSON body, as name=value pairs.
local function json_leaves(v, prefix, out, depth)
  if depth > 20 then return end
  if type(v) == "table" then
    for k, x in pairs(v) do json_leaves(x, prefix .. "." .. tostring(k), out, depth + 1) end
  elseif type(v) == "string" then
    out[#out + 1] = { prefix, v }
  end
end

local function add_args(list, args)
  for k, v in pairs(args) do
    if type(v) == "table" then
      for _, x in ipairs(v) do if type(x) == "string" then list[#list + 1] = { k, x } end end
    elseif type(v) == "string" then
      list[#list + 1] = { k, v }
    end
  end
end

local function header_safe(s, limit)
  s = tostring(s or ""):gsub("[%z\1-\31\127]", " ")
  return sub(s, 1, limit or 8000)
end

local function json_escape(s) return sub(cjson.encode(tostring(s or "")), 2, -2) end

--- What the request carries: ctx = { method, path (no version prefix), uri (raw), token, proof,
-- params = { {name, value}, ... }, all (every secret-bearing value in one string), key, uid, self }
local function request_ctx()
  local headers = ngx.req.get_headers(1000)
  local body = read_body()
  local args = ngx.req.get_uri_args(1000)
  local auth = first(headers["authorization"])
  local token = type(auth) == "string" and auth:match("^%s*%a+%s+(.-)%s*$") or nil
  local params = {}
  add_args(params, args)
  local ctype = tostring(first(headers["content-type"]) or "")
  local bargs = {}
  if ctype:find("x-www-form-urlencoded", 1, true) then
    bargs = ngx.decode_args(body, 1000) or {}
    add_args(params, bargs)
  elseif ctype:find("json", 1, true) then
    local v = cjson.decode(body)
    if v ~= nil then json_leaves(v, "json", params, 0) end
  end
  sort(params, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local proof = first(args.appsecret_proof) or first(bargs.appsecret_proof)
  local parts = {}
  if auth then parts[#parts + 1] = "Authorization: " .. tostring(auth) end
  if token then parts[#parts + 1] = "token=" .. token end
  if proof then parts[#parts + 1] = "proof=" .. tostring(proof) end
  for _, p in ipairs(params) do parts[#parts + 1] = p[1] .. "=" .. sub(p[2], 1, 2048) end
  local all = sub(concat(parts, " & "), 1, 16384)

  local key = token and (token:match("^([^|]+)|") or token)
    or first(args.access_token) or first(bargs.access_token) or first(args.client_id) or first(bargs.client_id) or "*"

  local uri = ngx.var.uri
  local path = uri:gsub("^/ig%-api%-upload/v%d+%.%d+", ""):gsub("^/v%d+%.%d+", "")
  if path == "" then path = "/" end
  local seg = {}
  for s in path:gmatch("[^/]+") do seg[#seg + 1] = s end
  local scheme = ngx.var.scheme
  return {
    method = ngx.req.get_method(), uri = ngx.var.request_uri, path = path, seg = seg, scheme = scheme,
    headers = headers, body = body, args = args, bargs = bargs, params = params,
    auth = auth, token = token, proof = proof, all = all, key = tostring(key),
    uid = seg[2] or "-",
    self = scheme .. "://127.0.0.1:" .. ngx.var.server_port,
    other = (scheme == "https" and "http://127.0.0.1:" .. ports.http_port or "https://127.0.0.1:" .. ports.https_port),
    foreign = "http://127.0.0.1:" .. ports.foreign_port,
  }
end

local function remember(list, ctx)
  list[#list + 1] = {
    method = ctx.method, uri = ctx.uri, path = ctx.path, scheme = ctx.scheme, key = ctx.key,
    port = tonumber(ngx.var.server_port), authorization = ctx.auth and tostring(ctx.auth) or nil,
    headers = ctx.headers, body = sub(ctx.body, 1, LOG_BODY), body_length = #ctx.body,
    time = ngx.now(),
  }
  if #list > MAX_LOG then -- forget the older half at once (one move, not one per request)
    local n, keep = #list, floor(MAX_LOG / 2)
    for i = 1, keep do list[i] = list[n - keep + i] end
    for i = n, keep + 1, -1 do list[i] = nil end
  end
end

-- ---- answering -----------------------------------------------------------------------------

--- {{TOKEN}} {{PROOF}} {{ALL}} {{ALLJ}} (JSON-escaped) {{SELF}} {{OTHER}} {{FOREIGN}} {{UID}}
-- {{P:name}} {{PJ:name}} (a parameter, raw or JSON-escaped) in a template.
local function subst(s, ctx)
  if type(s) ~= "string" then return s end
  return (s:gsub("{{([%u]+):?([%w_%.]*)}}", function(name, arg)
    if name == "TOKEN" then return ctx.token or "" end
    if name == "PROOF" then return ctx.proof or "" end
    if name == "ALL" then return ctx.all end
    if name == "ALLJ" then return json_escape(ctx.all) end
    if name == "SELF" then return ctx.self end
    if name == "OTHER" then return ctx.other end
    if name == "FOREIGN" then return ctx.foreign end
    if name == "UID" then return ctx.uid end
    if name == "P" or name == "PJ" then
      local v = first(ctx.args[arg]) or first(ctx.bargs[arg]) or ""
      return name == "PJ" and json_escape(v) or tostring(v)
    end
  end))
end

local function respond(status, headers, body)
  ngx.status = status
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  if body and body ~= "" then ngx.print(body) end
  return ngx.exit(ngx.HTTP_OK)
end

local function json_respond(status, body, headers)
  headers = headers or {}
  if not headers["Content-Type"] then headers["Content-Type"] = "application/json; charset=UTF-8" end
  return respond(status, headers, body)
end

--- Writes the pieces on the raw connection (no status line or headers of nginx's), then lets it close.
local function raw(pieces, opts)
  opts = opts or {}
  local sock, err = ngx.req.socket(true)
  if not sock then
    ngx.log(ngx.ERR, "hostile: no raw socket: ", err)
    return ngx.exit(444)
  end
  sock:settimeout(opts.timeout or 10000)
  if type(pieces) == "string" then pieces = { pieces } end
  for _, p in ipairs(pieces) do
    if type(p) == "number" then ngx.sleep(p) -- a pause between pieces
    else
      local ok = sock:send(p)
      if not ok then return end
    end
  end
  if opts.linger then ngx.sleep(opts.linger) end
end

local function secret_of(ctx, what)
  if what == nil or what == "token" then return ctx.token or "no-token-was-sent" end
  if what == "proof" then return ctx.proof or "no-proof-was-sent" end
  if what == "all" then return ctx.all end
  return tostring(first(ctx.args[what]) or first(ctx.bargs[what]) or ("no-" .. what .. "-was-sent"))
end

-- The headers that echo the secrets (no control bytes: nginx's own header API writes them).
local function echo_headers(ctx, h, opt)
  local t, p = ctx.token or "", ctx.proof or ""
  h["Location"] = ctx.self .. "/v24.0/echo_error/" .. ctx.uid .. "?access_token=" .. t .. "&appsecret_proof=" .. p
  h["WWW-Authenticate"] = 'Bearer realm="' .. t .. '", error="invalid_token", error_description="'
    .. header_safe(ctx.all):gsub('"', "'") .. '"'
  h["X-App-Usage"] = '{"call_count":"' .. t .. '","total_time":5,"total_cputime":"' .. p .. '","echo":'
    .. cjson.encode(header_safe(ctx.all)) .. "}"
  h["X-Business-Use-Case-Usage"] = '{"' .. t .. '":[{"type":"' .. p .. '","call_count":"' .. t
    .. '","total_cputime":1,"total_time":1,"estimated_time_to_regain_access":"' .. t .. '"}]}'
  h["X-Ad-Account-Usage"] = '{"acc_id_util_pct":"' .. t .. '","reset_time_duration":"' .. p .. '"}'
  h["Retry-After"] = opt.retry_after or t
  h["X-FB-Trace-ID"] = t
  h["X-FB-Debug"] = header_safe(ctx.all)
  h["X-FB-Request-ID"] = p
  h["Set-Cookie"] = "token=" .. t .. "; Path=/"
  h["Link"] = "<" .. ctx.self .. "/v24.0/" .. t .. "?access_token=" .. t .. ">; rel=next"
  h["Content-Location"] = ctx.self .. "/" .. t
  return h
end

local B = {}

--- 200 {"id":...,"ok":true} on a keep-alive connection (primes the client's connection pool).
function B.ok(ctx)
  return json_respond(200, '{"id":"17841405822304914","ok":true,"uid":"' .. json_escape(ctx.uid) .. '"}')
end

--- A Graph error envelope with the secrets in every field, and in the headers.
-- status (400), code (190), subcode, transient (is_transient true), retry_after (header value)
function B.echo_error(ctx, opt)
  local all = cjson.encode(ctx.all)
  local tok = cjson.encode(ctx.token or "")
  local proof = cjson.encode(ctx.proof or "")
  local body = '{"error":{"message":' .. all .. ',"type":' .. all .. ',"code":' .. tostring(tonumber(opt.code) or 190)
    .. (opt.subcode and (',"error_subcode":' .. tostring(tonumber(opt.subcode))) or ',"error_subcode":' .. tok)
    .. ',"is_transient":' .. ((opt.transient and opt.transient ~= "0") and "true" or "false")
    .. ',"fbtrace_id":' .. all .. ',"error_user_title":' .. all .. ',"error_user_msg":' .. all
    .. ',"error_data":{"blame_field_specs":[[' .. all .. ']],"echo":' .. all .. ',"nested":{"token":' .. tok
    .. ',"list":[' .. tok .. ',' .. proof .. ',{"deeper":' .. all .. '}]}}'
    .. ',"messaging_product":' .. all .. ',"error_description":' .. all .. ',"error_reason":' .. tok
    .. ',"access_token":' .. tok .. ',"appsecret_proof":' .. proof .. '}}'
  return json_respond(tonumber(opt.status) or 400, body, echo_headers(ctx, {}, opt))
end

--- graph.instagram.com's flat error shape, echoing.
function B.echo_flat(ctx, opt)
  local all = cjson.encode(ctx.all)
  return json_respond(tonumber(opt.status) or 400, '{"error_type":' .. all .. ',"code":' .. tostring(tonumber(opt.code) or 190)
    .. ',"error_message":' .. all .. ',"fbtrace_id":' .. all .. '}', echo_headers(ctx, {}, opt))
end

--- rupload's debug_info envelope, echoing; inner = json (default) | text | object
function B.echo_debug_info(ctx, opt)
  local all = cjson.encode(ctx.all)
  local message
  if opt.inner == "text" then message = all
  elseif opt.inner == "object" then message = '{"error":' .. all .. '}'
  else
    message = cjson.encode('{"success":false,"error":{"message":' .. all .. ',"type":' .. all .. '}}')
  end
  return json_respond(tonumber(opt.status) or 400, '{"debug_info":{"retriable":' .. (opt.retriable and "true" or "false")
    .. ',"type":' .. all .. ',"message":' .. message .. '}}', echo_headers(ctx, {}, opt))
end

--- A non-JSON answer (text/html by default) with a secret placed at the start, in the middle, at the
-- end, or straddling byte `at` (half before it, half after) of a body of `size` bytes.
-- status (502), what (token | proof | all | <param name>), layout (all | straddle | start | middle | end),
-- at (300), size, ctype (text/html)
function B.echo_text(ctx, opt)
  local s = secret_of(ctx, opt.what)
  local layout = opt.layout or "all"
  local body
  if layout == "straddle" then
    local at = tonumber(opt.at) or 300
    local before = max(0, at - floor(#s / 2))
    body = rep("x", before) .. s .. rep("y", max(0, (tonumber(opt.size) or (at + 2000)) - before - #s))
  elseif layout == "start" then
    body = s .. " <html><body>error</body></html>" .. rep(".", 500)
  elseif layout == "middle" then
    body = rep("<p>", 50) .. s .. rep("</p>", 50)
  elseif layout == "end" then
    body = rep("z", tonumber(opt.size) or 5000) .. s
  else -- everywhere at once: start, middle of the first 300, across 300, 512, 1024, 4096, end
    local parts, pos = { s }, #s
    for _, at in ipairs{ 150, 300, 512, 1024, 4096 } do
      local start = at - floor(#s / 2)
      if start > pos then parts[#parts + 1] = rep("-", start - pos) pos = start end
      parts[#parts + 1] = s
      pos = pos + #s
    end
    parts[#parts + 1] = rep("=", 2000)
    parts[#parts + 1] = ctx.all
    parts[#parts + 1] = s
    body = concat(parts)
  end
  local h = { ["Content-Type"] = opt.ctype or "text/html; charset=utf-8" }
  if opt.echo_headers then echo_headers(ctx, h, opt) end
  return respond(tonumber(opt.status) or 502, h, body)
end

--- JSON content type, but not JSON: the decode-error path, with the secrets in the broken text.
-- status (500)
function B.echo_bad_json(ctx, opt)
  local s = secret_of(ctx, opt.what)
  local body = '{"error":{"message":"' .. s .. '","type":"' .. s .. '", ' .. rep(" ", 250) .. s .. ' "oops'
  return json_respond(tonumber(opt.status) or 500, body, echo_headers(ctx, {}, opt))
end

--- The token split in pieces (each well over 8 bytes), so that a scrubber looking for the whole token
-- misses them: halves apart, a character changed, reversed halves, interleaved with NUL.
function B.echo_pieces(ctx, opt)
  local s = secret_of(ctx, opt.what)
  local h = floor(#s / 2)
  local a, b = sub(s, 1, h), sub(s, h + 1)
  local changed = sub(s, 1, h) .. (sub(s, h + 1, h + 1) == "A" and "B" or "A") .. sub(s, h + 2)
  local text = "first half " .. a .. " ... second half " .. b .. " ... one byte changed " .. changed
    .. " ... swapped " .. b .. a .. " ... with NUL " .. a .. "\0" .. b
  local j = cjson.encode(text)
  return json_respond(tonumber(opt.status) or 400, '{"error":{"message":' .. j .. ',"type":' .. j .. ',"code":100'
    .. ',"fbtrace_id":' .. j .. ',"error_user_title":' .. j .. ',"error_user_msg":' .. j .. '}}')
end

--- Pages whose paging.next / previous carry the secrets. Path: /paging/<uid>/<page>.
-- variant: query (access_token and appsecret_proof in the query) | path (the token as a path segment)
--   | userinfo (http://TOKEN:PROOF@host) | foreign (another host) | other (the other scheme of this host)
--   | crlf (CR LF in the URL, smuggling a second request to /smuggled/<uid>) | dotdot (../ out of the version prefix) | fragment
--   | upper (ACCESS_TOKEN=) | cursor (the token as the after cursor) | long (a 64 KiB URL)
-- pages (2): the last page; fail (a page number answered with a transient 500 echo)
function B.paging(ctx, opt)
  local page = tonumber(ctx.seg[3]) or 1
  local pages = tonumber(opt.pages) or 2
  if tonumber(opt.fail) == page then
    return B.echo_error(ctx, { status = 500, code = 2, transient = "1", retry_after = "0" })
  end
  local t, p, uid = ctx.token or "", ctx.proof or "", ctx.uid
  local variant = opt.variant or "query"
  local base = "/v24.0/paging/" .. uid .. "/"
  local function link(n)
    local q = "variant=" .. variant .. "&pages=" .. pages .. (opt.fail and ("&fail=" .. opt.fail) or "")
    local secrets = "&access_token=" .. t .. "&appsecret_proof=" .. p
    if variant == "query" then return ctx.self .. base .. n .. "?" .. q .. secrets .. "&after=c" .. n end
    if variant == "path" then return ctx.self .. base .. n .. "/" .. t .. "?" .. q .. "&after=c" .. n end
    if variant == "userinfo" then
      return ctx.self:gsub("://", "://" .. t .. ":" .. p .. "@") .. base .. n .. "?" .. q
    end
    if variant == "foreign" then return ctx.foreign .. base .. n .. "?" .. q .. secrets end
    if variant == "other" then return ctx.other .. base .. n .. "?" .. q .. "&access_token=" .. t end
    if variant == "crlf" then -- a second request smuggled in: its body would be the rest of the client's
      return ctx.self .. base .. n .. "?" .. q .. " HTTP/1.1\r\nHost: x\r\nX-Injected: " .. t .. "\r\n\r\nPOST /v24.0/smuggled/"
        .. uid .. " HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n"
    end
    if variant == "dotdot" then return ctx.self .. "/v24.0/../../oauth/access_token?" .. q .. "&access_token=" .. t end
    if variant == "fragment" then return ctx.self .. base .. n .. "?" .. q .. "#access_token=" .. t end
    if variant == "upper" then return ctx.self .. base .. n .. "?" .. q .. "&ACCESS_TOKEN=" .. t .. "&Appsecret_Proof=" .. p end
    if variant == "cursor" then return ctx.self .. base .. n .. "?" .. q .. "&after=" .. t end
    if variant == "long" then return ctx.self .. base .. n .. "?" .. q .. "&pad=" .. rep("a", 65536) .. "&access_token=" .. t end
    return ctx.self .. base .. n .. "?" .. q
  end
  local body = { data = { { id = "1790000000000" .. page .. "1" }, { id = "1790000000000" .. page .. "2" } } }
  if page < pages then
    body.paging = { cursors = { before = "b" .. page, after = variant == "cursor" and t or ("c" .. page) },
                    next = link(page + 1), previous = page > 1 and link(page - 1) or nil }
  else
    body.paging = { cursors = { before = "b" .. page }, previous = link(page - 1) }
  end
  return json_respond(200, cjson.encode(body), echo_headers(ctx, {}, { retry_after = "0" }))
end

--- A batch answer whose entries echo the secrets and break every documented type.
-- shape: list (default) | object | scalar | short ; deep (nesting of one entry's body)
function B.batch(ctx, opt)
  local shape = opt.shape or "list"
  if shape == "object" then return json_respond(200, '{"0":{"code":200,"body":' .. cjson.encode(ctx.all) .. '}}') end
  if shape == "scalar" then return json_respond(200, cjson.encode(ctx.all)) end
  local all = ctx.all
  local t = ctx.token or ""
  local function e(v) return cjson.encode(v) end
  local error_body = '{"error":{"message":' .. e(all) .. ',"type":' .. e(all) .. ',"code":190,"fbtrace_id":' .. e(all)
    .. ',"error_user_msg":' .. e(all) .. ',"error_user_title":' .. e(all) .. '}}'
  local n = tonumber(opt.deep) or 300
  local entries = {
    '{"code":400,"headers":[{"name":"WWW-Authenticate","value":' .. e("Bearer " .. t) .. '}],"body":' .. e(error_body) .. '}',
    '{"code":500,"body":' .. e(rep("x", 300 - floor(#t / 2)) .. t .. rep("y", 400) .. all) .. '}',
    '{"code":200,"body":' .. e("not json " .. all) .. '}',
    '{"code":302,"headers":[{"name":"Location","value":' .. e(ctx.foreign .. "/?access_token=" .. t) .. '}],"body":""}',
    '{"code":' .. e(t) .. ',"body":{"error":{"message":' .. e(all) .. '}}}',
    '{"code":400,"body":' .. e('{"error":' .. e(all) .. '}') .. '}',
    '{"code":400,"body":' .. e('{"error":{"message":{"m":' .. e(t) .. '},"type":{"t":' .. e(t) .. '},"error_user_msg":['
      .. e(t) .. '],"fbtrace_id":{"f":' .. e(t) .. '},"code":{"c":1}}}') .. '}',
    '{"code":200,"body":' .. e(rep("[", n) .. rep("]", n)) .. '}',
    '{"code":500,"body":' .. e(rep("[", n) .. rep("]", n)) .. ',"headers":[{"name":"Content-Type","value":"application/json"}]}',
    '{"code":200,"body":"{\\"x\\":NaN,\\"y\\":Infinity,\\"z\\":-1e999,\\"w\\":123456789012345678901234567890}"}',
    'null', e(all), '42', '[]', '{"headers":' .. e(t) .. ',"code":null}',
    '{"code":200,"headers":[{"name":{"n":1},"value":"x"},"str",{"name":"a"},{"name":"b","value":{"v":' .. e(t) .. '}}],'
      .. '"body":"{}"}',
    '{"code":1e999,"body":' .. e(error_body) .. '}',
    '{"code":NaN,"body":' .. e(error_body) .. '}',
  }
  if shape == "short" then entries = { entries[1] } end
  return json_respond(200, "[" .. concat(entries, ",") .. "]")
end

--- An answer of exactly `size` bytes (status line, headers and body; 4096 by default; framing =
-- chunked: chunked) and, in the
-- same write (one TLS record over HTTPS), a second answer nobody asked for: 400 with the API's
-- "code 4", which says the call was not carried out (a client may make it again). The connection
-- stays open: a request that comes next on it is read, logged and answered 200 {"ok":true,...,
-- "on":"the same connection"}, then the connection is closed.
-- With framing=chunked the asked answer is chunked (1000-byte chunks), padded with a header to
-- the size.
local function chunked_answer(size)
  local head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
  local function framed(len) -- the chunks and the last chunk of a len-byte body
    local n, out = 0, 5
    while n < len do
      local k = min(1000, len - n)
      out, n = out + #format("%x", k) + k + 4, n + k
    end
    return out
  end
  for len = size, 8, -1 do
    local pad = size - #head - 2 - framed(len)
    if pad == 0 or pad >= 10 then
      local body, parts = '{"p":"' .. rep("x", len - 8) .. '"}', {}
      for i = 1, len, 1000 do
        local piece = sub(body, i, i + 999)
        parts[#parts + 1] = format("%x", #piece) .. "\r\n" .. piece .. "\r\n"
      end
      return head .. (pad > 0 and "X-Pad: " .. rep("p", pad - 9) .. "\r\n" or "") .. "\r\n"
        .. concat(parts) .. "0\r\n\r\n"
    end
  end
end

function B.surplus(ctx, opt)
  local size = tonumber(opt.size) or 4096
  local head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %05d\r\n\r\n"
  local blen = size - #format(head, 0)
  local asked = opt.framing == "chunked" and chunked_answer(size) or format(head, blen) .. '{"p":"' .. rep("x", blen - 8) .. '"}'
  local extra = '{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}'
  local unasked = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " .. #extra
    .. "\r\n\r\n" .. extra
  local sock = ngx.req.socket(true)
  if not sock then return ngx.exit(444) end
  sock:settimeout(3000)
  if not sock:send(asked .. unasked) then return end
  local line = sock:receive("*l")
  local method, uri = (line or ""):match("^(%u+) (%S+) HTTP/1%.%d$")
  if not method then return end
  local headers = {}
  repeat
    local h = sock:receive("*l")
    if not h then return end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  until h == ""
  local len = tonumber(headers["content-length"]) or 0
  local body = len > 0 and len <= LOG_BODY and sock:receive(len) or ""
  remember(log, { method = method, uri = uri, path = uri:gsub("%?.*$", ""):gsub("^/v%d+%.%d+", ""), scheme = ctx.scheme,
    key = ctx.key, auth = headers.authorization, headers = headers, body = body })
  local answer = '{"id":"17841405822304914","ok":true,"uid":"' .. json_escape(ctx.uid) .. '","on":"the same connection"}'
  sock:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #answer
    .. "\r\nConnection: close\r\n\r\n" .. answer)
end

--- Reads the whole request (its body included), then drops the connection without an answer.
-- how: close (default) | status (half a status line) | headers (headers promising a body, no body)
--   | reset (lingering data: answer with garbage and close at once) ; delay (seconds before dropping)
function B.drop(ctx, opt)
  local how = opt.how or "close"
  local pieces = {}
  if opt.delay then pieces[#pieces + 1] = tonumber(opt.delay) end
  if how == "status" then pieces[#pieces + 1] = "HTTP/1.1 2"
  elseif how == "headers" then
    pieces[#pieces + 1] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":"
  elseif how == "reset" then pieces[#pieces + 1] = "\0\0\0\0garbage " .. (ctx.token or "") end
  return raw(pieces)
end

--- A slow drip: the answer a byte at a time. phase: body (default) | headers | silent (nothing at
-- all); interval (0.2 s); limit (10 s, then the connection is closed)
function B.drip(ctx, opt)
  local interval = tonumber(opt.interval) or 0.2
  local limit = min(tonumber(opt.limit) or 10, 30)
  local sock = ngx.req.socket(true)
  if not sock then return ngx.exit(444) end
  sock:settimeout(2000)
  local t0 = ngx.now()
  local phase = opt.phase or "body"
  local head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
  local text = '{"error":{"message":"' .. (ctx.token or "") .. '",' .. rep(" ", 99000)
  if phase == "body" then
    if not sock:send(head) then return end
  elseif phase == "headers" then
    text = head .. text
  end
  local i = 1
  while ngx.now() - t0 < limit do
    if phase ~= "silent" then
      if not sock:send(sub(text, i, i)) then return end
      i = i + 1
    end
    ngx.sleep(interval)
  end
end

--- Chunked bodies, broken. variant: trunc (default: a chunk cut short, then close) | bad_size
-- | huge_size | negative | no_final | ext (extensions and trailers echoing the token) | both (chunked
-- and Content-Length) | tiny (20000 one-byte chunks)
function B.chunked(ctx, opt)
  local t = ctx.token or ""
  local variant = opt.variant or "trunc"
  local head = "HTTP/1.1 " .. (opt.status or "200") .. " OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
  local body = '{"error":{"message":"' .. t .. '"}}'
  local out
  if variant == "trunc" then out = head .. "\r\n" .. format("%x", #body + 100) .. "\r\n" .. body
  elseif variant == "bad_size" then out = head .. "\r\nzz" .. t .. "\r\n" .. body .. "\r\n0\r\n\r\n"
  elseif variant == "huge_size" then out = head .. "\r\nffffffffffffffffffffffff\r\n" .. body
  elseif variant == "negative" then out = head .. "\r\n-10\r\n" .. body .. "\r\n0\r\n\r\n"
  elseif variant == "no_final" then out = head .. "\r\n" .. format("%x", #body) .. "\r\n" .. body .. "\r\n"
  elseif variant == "ext" then
    out = head .. "\r\n" .. format("%x", #body) .. ";token=" .. t .. "\r\n" .. body .. "\r\n0;x=" .. t
      .. "\r\nX-Trailer: " .. t .. "\r\n\r\n"
  elseif variant == "both" then
    out = head .. "Content-Length: 5\r\n\r\n" .. format("%x", #body) .. "\r\n" .. body .. "\r\n0\r\n\r\n"
  elseif variant == "tiny" then
    local parts = { head, "\r\n" }
    local text = '{"data":[' .. rep('"' .. t .. '",', 500) .. '"x"]}'
    for i = 1, #text do parts[#parts + 1] = "1\r\n" .. sub(text, i, i) .. "\r\n" end
    parts[#parts + 1] = "0\r\n\r\n"
    out = concat(parts)
  end
  return raw({ out }, { linger = opt.linger and tonumber(opt.linger) })
end

--- Content-Length that lies. variant: short (promises more than it sends, then closes) | long (sends
-- more: a second, smuggled answer follows) | negative | nan | multi (two different values) | huge
-- | max (a size over any max_body, never sent)
function B.length(ctx, opt)
  local t = ctx.token or ""
  local variant = opt.variant or "short"
  local body = '{"error":{"message":"' .. t .. '","type":"' .. t .. '"}}'
  local function head(cl) return "HTTP/1.1 " .. (opt.status or "400") .. " Bad\r\nContent-Type: application/json\r\n" .. cl end
  local out
  if variant == "short" then out = head("Content-Length: " .. (#body + 500) .. "\r\n\r\n") .. body
  elseif variant == "long" then
    local smuggled = '{"smuggled":"' .. t .. '"}'
    out = head("Content-Length: 5\r\n\r\n") .. body .. "HTTP/1.1 200 OK\r\nContent-Length: " .. #smuggled .. "\r\n\r\n"
      .. smuggled
  elseif variant == "negative" then out = head("Content-Length: -1\r\n\r\n") .. body
  elseif variant == "nan" then out = head("Content-Length: " .. t .. "\r\n\r\n") .. body
  elseif variant == "multi" then out = head("Content-Length: 5\r\nContent-Length: " .. #body .. "\r\n\r\n") .. body
  elseif variant == "huge" then out = head("Content-Length: 99999999999999999999999\r\n\r\n") .. body
  elseif variant == "max" then out = head("Content-Length: 68719476736\r\n\r\n") .. body
  end
  return raw({ out }, { linger = tonumber(opt.linger) or 0.2 })
end

--- Header floods. n (5000 headers), size (bytes of each value), big (one header line of this many
-- bytes), usage (the flood is X-App-Usage lines), status (200)
function B.flood(ctx, opt)
  local t = ctx.token or ""
  local n = min(tonumber(opt.n) or 5000, 200000)
  local parts = { "HTTP/1.1 " .. (opt.status or "200") .. " OK\r\nContent-Type: application/json\r\nConnection: close\r\n" }
  if opt.big then
    local size = min(tonumber(opt.big) or 1048576, 16 * 1048576)
    parts[#parts + 1] = "X-Big: " .. sub(rep(t .. ";", floor(size / (#t + 1)) + 1), 1, size) .. "\r\n"
  else
    local value = opt.size and sub(rep(t .. ",", floor(tonumber(opt.size) / (#t + 1)) + 1), 1, tonumber(opt.size)) or t
    for i = 1, n do
      if opt.usage then parts[#parts + 1] = 'X-App-Usage: {"call_count":' .. i .. ',"echo":"' .. t .. '"}\r\n'
      else parts[#parts + 1] = "X-Flood-" .. i .. ": " .. value .. "\r\n" end
    end
  end
  local body = (opt.status and opt.status ~= "200") and ('{"error":{"message":"flooded ' .. t .. '","code":1}}')
    or '{"id":"17841405822304914"}'
  parts[#parts + 1] = "Content-Length: " .. #body .. "\r\n\r\n" .. body
  return raw({ concat(parts) })
end

--- Redirects with the secrets in Location. status (302), to: foreign | self | relative | userinfo | other
function B.redirect(ctx, opt)
  local t, p = ctx.token or "", ctx.proof or ""
  local to = opt.to or "foreign"
  local q = "?access_token=" .. t .. "&appsecret_proof=" .. p .. "&to=" .. to .. "&status=" .. (opt.status or "302")
  local loc
  if to == "foreign" then loc = ctx.foreign .. "/v24.0/steal/" .. ctx.uid .. q
  elseif to == "self" then loc = ctx.self .. "/v24.0/redirect/" .. ctx.uid .. q
  elseif to == "relative" then loc = "/v24.0/redirect/" .. ctx.uid .. q
  elseif to == "userinfo" then
    loc = "http://" .. t .. ":" .. p .. "@127.0.0.1:" .. ports.foreign_port .. "/v24.0/steal/" .. ctx.uid
  else loc = ctx.other .. "/v24.0/redirect/" .. ctx.uid .. q end
  local h = echo_headers(ctx, {}, opt)
  h["Location"] = loc
  h["Content-Type"] = "text/html"
  return respond(tonumber(opt.status) or 302, h, '<html><a href="' .. loc .. '">moved: ' .. t .. "</a></html>")
end

--- CR, LF and NUL where they do not belong. variant: headers (default) | status (a status line
-- echoing the token) | nul (NUL between the token's halves in the error JSON) | lf (bare LF line ends)
function B.crlf(ctx, opt)
  local t = ctx.token or ""
  local variant = opt.variant or "headers"
  local body = '{"error":{"message":"bad\\u0000' .. t .. '\\r\\nX-Injected: ' .. t .. '","type":"OAuthException","code":190}}'
  if variant == "nul" then
    local h = floor(#t / 2)
    body = '{"error":{"message":"' .. sub(t, 1, h) .. '\\u0000' .. sub(t, h + 1) .. '","type":"x\\u0000' .. t
      .. '","fbtrace_id":"\\r\\n' .. t .. '","code":190}}'
  end
  local out
  if variant == "status" then
    out = "HTTP/1.1 400 " .. t .. "\0" .. t .. "\r\nContent-Type: application/json\r\nContent-Length: " .. #body
      .. "\r\n\r\n" .. body
  elseif variant == "lf" then
    out = "HTTP/1.1 400 Bad\nContent-Type: application/json\nX-Token: " .. t .. "\nContent-Length: " .. #body .. "\n\n" .. body
  else
    out = concat{
      "HTTP/1.1 400 Bad Request\r\n",
      "Content-Type: application/json\r\n",
      "X-Crlf: a\rX-Injected: ", t, "\r\n",
      "X-Lf: b\nX-Injected2: ", t, "\r\n",
      "X-Nul: c\0", t, "\r\n",
      "Retry-After: 1\0", t, "\r\n",
      "WWW-Authenticate: Bearer\0 error=\"", t, "\"\r\n",
      " folded continuation ", t, "\r\n",
      "NoColonHeader", t, "\r\n",
      "Bad Name: x\r\n",
      "\0: y\r\n",
      ": empty name\r\n",
      "X-App-Usage: {\"call_count\":\"\0", t, "\"}\r\n",
      "Content-Length: ", tostring(#body), "\r\n\r\n", body,
    }
  end
  return raw({ out })
end

local SPECIAL_NUMBERS = "NaN,Infinity,-Infinity,1e999,-1e999,1e400,123456789012345678901234567890,"
  .. "9223372036854775808,-9223372036854775809,18446744073709551616,4.9e-324,1e-400,-0,0x7fffffffffffffff"

--- NaN, infinities and numbers past every integer type. where: data (default) | error | paging
-- | usage (in the usage headers, with the throttle's regain time) | retry (code 4 with Retry-After 1e999)
function B.json_special(_, opt)
  local where = opt.where or "data"
  if where == "error" then
    return json_respond(400, '{"error":{"message":"m","code":NaN,"error_subcode":Infinity,"is_transient":NaN,'
      .. '"type":"OAuthException","fbtrace_id":"f"}}')
  elseif where == "error_huge" then
    return json_respond(400, '{"error":{"message":"m","code":1e999,"error_subcode":123456789012345678901234567890,'
      .. '"type":"OAuthException"}}', { ["Retry-After"] = "1e999" })
  elseif where == "retry" then
    return json_respond(400, '{"error":{"message":"(#4) Application request limit reached","code":4,'
      .. '"type":"OAuthException","is_transient":true}}', { ["Retry-After"] = opt.value or "1e999",
      ["X-Business-Use-Case-Usage"] = '{"1":[{"type":"instagram","call_count":100,"total_cputime":1,"total_time":1,'
        .. '"estimated_time_to_regain_access":' .. (opt.value or "1e999") .. '}]}' })
  elseif where == "paging" then
    return json_respond(200, '{"data":[{"id":1e999},{"id":NaN}],"paging":{"next":NaN,"cursors":{"after":Infinity}}}')
  elseif where == "usage" then
    return json_respond(200, '{"id":"1"}', {
      ["X-App-Usage"] = '{"call_count":NaN,"total_time":1e999,"total_cputime":-Infinity}',
      ["X-Ad-Account-Usage"] = '{"acc_id_util_pct":1e999}',
      ["X-Business-Use-Case-Usage"] = '{"1":[{"call_count":Infinity,"total_time":NaN,"estimated_time_to_regain_access":1e999}]}',
    })
  end
  return json_respond(200, '{"data":[' .. SPECIAL_NUMBERS .. '],"id":1e999,"n":NaN,"big":123456789012345678901234567890}')
end

--- Nesting n (100000) deep. where: data (a 200 body) | error500 (a JSON 500) | error_data (inside a
-- Graph error) | object ({"a": ... ) | usage (the usage headers) | text (a text/html 500)
function B.deep(_, opt)
  local n = min(tonumber(opt.n) or 100000, 1000000)
  local where = opt.where or "data"
  local arr = rep("[", n) .. rep("]", n)
  if where == "data" then return json_respond(200, arr) end
  if where == "error500" then return json_respond(500, arr) end
  if where == "error_data" then
    return json_respond(400, '{"error":{"message":"m","code":100,"type":"x","error_data":' .. arr .. '}}')
  end
  if where == "object" then return json_respond(200, rep('{"a":', n) .. "1" .. rep("}", n)) end
  if where == "text" then return respond(500, { ["Content-Type"] = "text/html" }, arr) end
  if where == "usage" then
    local obj = rep('{"a":', n) .. "1" .. rep("}", n)
    return raw({ "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-App-Usage: " .. arr
      .. "\r\nX-Business-Use-Case-Usage: " .. obj .. "\r\nX-Ad-Account-Usage: " .. arr
      .. "\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{\"id\":\"1\"}" })
  end
  return json_respond(200, arr)
end

--- Status lines that are not. variant: none (no status line: the body straight away, the token
-- straddling byte 80) | json (no status line, a JSON error) | short (HTTP/1.1 20) | version (HTTP/9.9)
-- | huge (HTTP/1.1 999 <token>) | zero (HTTP/1.1 000) | interim (n 100 Continue answers first)
-- | endless (100 Continue until the client gives up)
function B.status(ctx, opt)
  local t = ctx.token or ""
  local variant = opt.variant or "none"
  local body = '{"error":{"message":"' .. t .. '"}}'
  local function ok(status) return "HTTP/1.1 " .. status .. "\r\nContent-Type: application/json\r\nContent-Length: "
    .. #body .. "\r\n\r\n" .. body end
  if variant == "none" then return raw({ rep("x", 80 - floor(#t / 2)) .. t .. " and more " .. ctx.all .. "\r\n\r\n" }) end
  if variant == "json" then return raw({ body }) end
  if variant == "short" then return raw({ "HTTP/1.1 20\r\n\r\n" .. body }) end
  if variant == "version" then return raw({ "HTTP/9.9 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body }) end
  if variant == "huge" then return raw({ ok("999 " .. t) }) end
  if variant == "zero" then return raw({ ok("000 Zero") }) end
  if variant == "interim" then
    return raw({ rep("HTTP/1.1 100 Continue\r\nX-Echo: " .. t .. "\r\n\r\n", tonumber(opt.n) or 1000) .. ok("400 Bad") })
  end
  if variant == "endless" then
    local pieces = {}
    for _ = 1, 200 do pieces[#pieces + 1] = "HTTP/1.1 100 Continue\r\n\r\n" pieces[#pieces + 1] = 0.05 end
    return raw(pieces)
  end
  return raw({ ok("200 OK") })
end

--- The template answer of a mode: status, headers, body (see subst), or raw bytes.
function B.reply(ctx, opt)
  if opt.raw then return raw({ subst(opt.raw, ctx) }) end
  local h = {}
  for k, v in pairs(opt.headers or {}) do h[k] = subst(v, ctx) end
  if opt.echo_headers then echo_headers(ctx, h, opt) end
  if not h["Content-Type"] then h["Content-Type"] = "application/json; charset=UTF-8" end
  return respond(tonumber(opt.status) or 200, h, subst(opt.body or "", ctx))
end

-- ---- control and dispatch ------------------------------------------------------------------

local function control(ctx)
  local what = ctx.seg[2]
  if what == "health" then return respond(200, { ["Content-Type"] = "text/plain" }, "ok") end
  if what == "reset" then
    log, foreign_log, modes, route_uses = {}, {}, {}, {}
    return json_respond(200, '{"ok":true}')
  end
  if what == "mode" then
    local v = cjson.decode(ctx.body)
    if type(v) ~= "table" or type(v.key) ~= "string" then return json_respond(400, '{"error":"give { key, mode }"}') end
    modes[v.key] = type(v.mode) == "table" and v.mode or nil
    route_uses[v.key] = {}
    return json_respond(200, '{"ok":true}')
  end
  if what == "log" then
    local key, uid = first(ctx.args.key), first(ctx.args.uid)
    local out = {}
    for _, r in ipairs(log) do
      if (key and r.key == key) or (uid and r.uri:find(uid, 1, true)) then out[#out + 1] = r end
    end
    return json_respond(200, #out == 0 and "[]" or cjson.encode(out))
  end
  if what == "foreign" then return json_respond(200, #foreign_log == 0 and "[]" or cjson.encode(foreign_log)) end
  return json_respond(404, '{"error":"unknown control call"}')
end

local function run(ctx, spec)
  local name = spec.b or "reply"
  local f = B[name]
  if not f then return json_respond(500, '{"error":"unknown hostile behaviour ' .. json_escape(name) .. '"}') end
  return f(ctx, spec)
end

-- The behaviour the tenant's mode gives this request, or nil.
local function from_mode(ctx)
  local mode = modes[ctx.key] or modes["*"]
  if not mode then return nil end
  if not mode.routes then return mode.default or mode end
  local uses = route_uses[ctx.key] or {}
  route_uses[ctx.key] = uses
  for i, r in ipairs(mode.routes) do
    if (not r.m or r.m == ctx.method) and (not r.p or ctx.path:find(r.p)) and (not r.times or (uses[i] or 0) < r.times) then
      uses[i] = (uses[i] or 0) + 1
      return r
    end
  end
  return mode.default
end

function _M.handle()
  local ctx = request_ctx()
  if ctx.seg[1] == "__hostile" then return control(ctx) end
  remember(log, ctx)
  local name = ctx.seg[1]
  if name and B[name] and name ~= "reply" then
    local opt = {} -- the options: the query's, and a form body's (a POST carries its params there)
    for k, v in pairs(ctx.bargs) do opt[k] = first(v) end
    for k, v in pairs(ctx.args) do opt[k] = first(v) end
    return B[name](ctx, opt)
  end
  local spec = from_mode(ctx)
  if spec then return run(ctx, spec) end
  return json_respond(404, '{"error":{"message":"no hostile behaviour for this path","type":"GraphMethodException","code":100}}')
end

--- The foreign host: logs what reached it (the specs search it for secrets) and answers 200.
function _M.foreign()
  local ctx = request_ctx()
  remember(foreign_log, ctx)
  return json_respond(200, '{"data":[],"stolen":true}')
end

return _M
