--- Error objects: every expected failure comes back as `nil, err` with one of these.
--
-- An @{Error} is a plain table with a metatable: read its fields (`err.kind`, `err.code`, ...) and
-- print it with `tostring(err)`. Its `kind` says where it came from, `reason` refines the kinds that
-- have one; the full list of fields, kinds and reasons is at @{Error}.
--
-- What a server sent is made safe here, once: text fields are strings (a number, boolean or
-- object the server put there is printed), codes are whole numbers or nil, every string (nested
-- ones too) is scrubbed of the secrets the call carried and then cut to a bounded length, so
-- `tostring(err)` never raises and never shows a secret.
--
-- The constructors (@{new}, @{graph}, @{http}, ...) are what the client and the transports use;
-- programs mostly need @{is_error}, @{scrub} and @{scrub_error}.
-- @module instagram.error
-- @usage local instagram = require "instagram"
-- local client = instagram.new{ access_token = os.getenv("IG_TOKEN") }
-- local media, err = client:get("/17841405822304914/media")
-- if not media then
--   if err.kind == "graph" and err.code == 190 then print("the token expired or was revoked") end
--   print(tostring(err)) --> instagram: Graph API error 190 (OAuthException): ...
-- end
local json = require "instagram.json"

local setmetatable, getmetatable, tostring, type, tonumber = setmetatable, getmetatable, tostring, type, tonumber
local pairs, next, floor = pairs, next, math.floor
local concat, find, sub, byte, gsub = table.concat, string.find, string.sub, string.byte, string.gsub
local lower = string.lower
local tointeger = math.tointeger or function(n) return n end

local _M = {}

--- How many bytes of a server's text any one field of an error keeps (1000); longer text is cut
-- and ends with `...`.
_M.MAX_FIELD = 1000
--- How many bytes of a body that was not a Graph error object an error keeps in `body` (300).
_M.MAX_BODY = 300

-- Runs of a secret at least this long are scrubbed even where the whole secret is not present
-- (a secret cut in two, or half of one echoed back).
local RUN = 8

local REDACTED = "[redacted]"

-- ---- any value -> text, never raising ------------------------------------------------------

--- text(v) -> a string for any value (nil and JSON null stay nil); never raises.
local function text(v)
  local tv = type(v)
  if tv == "string" then return v end
  if v == nil or v == json.null then return nil end
  if tv == "number" then
    if v ~= v then return "nan" end
    local ok, s = pcall(json.number, v)
    return ok and s or tostring(v)
  end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "table" then return json.encode(v) or "(table)" end
  return "(" .. tv .. ")"
end
_M.text = text

--- A string for any value, for messages: strings as they are, numbers as JSON writes them (`nan`
-- for NaN), booleans as `true`/`false`, tables as JSON, other types as `(function)` etc.
-- @function text
-- @param v any value
-- @treturn ?string the text; nil for nil and @{instagram.json.null}
-- @raise never raises
-- @usage local errors = require "instagram.error"
-- print(errors.text(17841405822304914), errors.text({ a = 1 }), errors.text(nil)) --> 17841405822304914 {"a":1} nil

--- A whole, finite number (or nil) from whatever the server sent as a code.
local function whole(v)
  v = tonumber(v)
  if not v or v ~= v or v ~= floor(v) or v <= -2 ^ 53 or v >= 2 ^ 53 then return nil end
  return tointeger(v) or v
end

-- ---- scrubbing -----------------------------------------------------------------------------

--- The secrets of a list (holes allowed), ready to look for: whole ones of 4 bytes or more, and
-- every RUN-byte piece of those of RUN bytes or more.
local function make_prepared(secrets)
  local whole_list, runs, hex_list, hex_runs = {}, nil, {}, nil
  local function add(_, s)
    if type(s) == "string" and #s >= 4 then
      -- hex (an app secret, a proof) is the same value in either case: looked for in lower case
      -- in the text in lower case
      local hex = not find(s, "[^%x]") and find(s, "%a") ~= nil -- (digits alone: as written)
      if hex then s = lower(s) end
      local list = hex and hex_list or whole_list
      list[#list + 1] = s
      if #s >= RUN then
        local set = hex and (hex_runs or {}) or (runs or {})
        if hex then hex_runs = set else runs = set end
        for i = 1, #s - RUN + 1 do set[sub(s, i, i + RUN - 1)] = true end
      end
    end
  end
  -- a list's __pairs is honoured (a proxy of secrets); one that raises is not: its raw content
  local ok = pcall(function() for k, s in pairs(secrets) do add(k, s) end end)
  if not ok then
    whole_list, runs, hex_list, hex_runs = {}, nil, {}, nil
    for k, s in next, secrets do add(k, s) end
  end
  if #whole_list == 0 and #hex_list == 0 then return false end
  -- longest first, so that a secret containing another is replaced whole
  table.sort(whole_list, function(a, b) return #a > #b end)
  table.sort(hex_list, function(a, b) return #a > #b end)
  return { list = whole_list, runs = runs, hex_list = hex_list[1] and hex_list, hex_runs = hex_runs }
end

-- A client scrubs with the same list call after call (its token, app secret and proof): what
-- make_prepared makes of a list is kept with a copy of the list, and used again while the list
-- still holds the same values (a list changed in place is prepared again).
local prepared = setmetatable({}, { __mode = "k" })

local function same(copy, secrets)
  local n = 0
  for k, v in next, secrets do
    if copy[k] ~= v then return false end
    n = n + 1
  end
  return n == copy.n
end

local function prepare(secrets)
  if type(secrets) ~= "table" then return nil end
  if getmetatable(secrets) ~= nil then return make_prepared(secrets) or nil end -- (__pairs: never kept)
  local memo = prepared[secrets]
  if memo and same(memo.copy, secrets) then return memo.p or nil end
  local copy, n = {}, 0
  for k, v in next, secrets do copy[k] = v; n = n + 1 end
  if copy.n ~= nil then return make_prepared(secrets) or nil end -- a key "n": not kept (rare)
  copy.n = n
  local p = make_prepared(secrets)
  prepared[secrets] = { copy = copy, p = p }
  return p or nil
end

-- With `ci`, the secrets are in lower case and looked for in s in lower case (hex ones).
local function replace_whole(s, list, ci)
  for i = 1, #list do
    local secret = list[i]
    local hay = ci and lower(s) or s
    local a, b = find(hay, secret, 1, true)
    if a then
      local out, init = {}, 1
      while a do
        out[#out + 1] = sub(s, init, a - 1)
        out[#out + 1] = REDACTED
        init = b + 1
        a, b = find(hay, secret, init, true)
      end
      out[#out + 1] = sub(s, init)
      s = concat(out)
    end
  end
  return s
end

-- Every stretch of s covered by RUN-byte pieces of a secret becomes one REDACTED (hex_runs: pieces
-- of hex secrets in lower case, looked for in s in lower case).
local function replace_runs(s, runs, hex_runs)
  if not (runs or hex_runs) or #s < RUN then return s end
  local ls = hex_runs and lower(s)
  local function piece(i)
    return (runs and runs[sub(s, i, i + RUN - 1)]) or (hex_runs and hex_runs[sub(ls, i, i + RUN - 1)])
  end
  local out, from, i, n = nil, 1, 1, #s
  while i <= n - RUN + 1 do
    if piece(i) then
      local last = i + RUN - 1
      local j = i + 1
      while j <= last + 1 and j <= n - RUN + 1 do -- extend while pieces keep overlapping
        if piece(j) then last = j + RUN - 1 end
        j = j + 1
      end
      out = out or {}
      out[#out + 1] = sub(s, from, i - 1)
      out[#out + 1] = REDACTED
      from, i = last + 1, last + 1
    else
      i = i + 1
    end
  end
  if not out then return s end
  out[#out + 1] = sub(s, from)
  return concat(out)
end

-- Values that are secrets by their name, whoever they belong to (a token a failing answer still
-- carried, a code echoed back): in JSON ("name": "value") and in forms and queries (name=value).
local NAMED = { "access_token", "long_lived_token", "refresh_token", "client_secret", "code", "appsecret_proof",
                "input_token", "fb_exchange_token" }

local function redact_named(s)
  if not (find(s, "token", 1, true) or find(s, "secret", 1, true) or find(s, "code", 1, true)
          or find(s, "proof", 1, true)) then
    return s
  end
  for i = 1, #NAMED do
    local name = NAMED[i]
    if find(s, name, 1, true) then
      local init, from, out = 1, 1, nil -- (pieces joined once: one pass, however many matches)
      while true do
        local _, b = find(s, '"' .. name .. '"%s*:%s*"', init)
        if not b then break end
        local j, n = b + 1, #s -- to the closing quote (escapes skipped), or the end of a cut text
        while j <= n do
          local c = byte(s, j)
          if c == 92 then j = j + 2 elseif c == 34 then break else j = j + 1 end
        end
        if j > b + 1 then
          out = out or {}
          out[#out + 1] = sub(s, from, b)
          out[#out + 1] = REDACTED
          from = j
        end
        init = j > b + 1 and j or b + 1
      end
      if out then
        out[#out + 1] = sub(s, from)
        s = concat(out)
      end
      s = gsub(s, "([%?&;,%s])(" .. name .. ")=[^&%s\"'#,;]+", "%1%2=" .. REDACTED)
      s = gsub(s, "^(" .. name .. ")=[^&%s\"'#,;]+", "%1=" .. REDACTED)
    end
  end
  return s
end
_M.redact_named = redact_named

--- Redacts the values of parameters and JSON members named like secrets, whoever they belong to:
-- `access_token`, `long_lived_token`, `refresh_token`, `client_secret`, `code`, `appsecret_proof`,
-- `input_token`, `fb_exchange_token` (as `name=value` in queries and forms, and `"name": "value"`
-- in JSON). @{scrub} does this too, with a list of known secrets.
-- @function redact_named
-- @tparam string s the text
-- @treturn string s with each such value replaced by `[redacted]`
-- @raise when `s` is not a string
-- @usage print(require("instagram.error").redact_named("GET /me?access_token=EAAB123&fields=id"))
-- --> GET /me?access_token=[redacted]&fields=id

local function clip(s, limit)
  if limit and #s > limit then return sub(s, 1, limit) .. "..." end
  return s
end

-- Scrub (secrets named in the list, and values named like secrets), then cut, then scrub what is
-- left of any secret a cut or an echo left in pieces.
-- A text longer than its limit is cut first to the limit and a margin longer than any secret (a
-- token is at most 4 KiB), so a whole secret across the limit is still found, and the work is
-- bounded by the limit, not by what a server sent (megabytes of body).
local MARGIN = 8192

local function apply(p, s, limit)
  if limit and #s > limit + MARGIN then s = sub(s, 1, limit + MARGIN) end
  s = redact_named(s)
  if p then
    s = replace_whole(s, p.list)
    if p.hex_list then s = replace_whole(s, p.hex_list, true) end
  end
  s = clip(s, limit)
  if p then s = replace_runs(s, p.runs, p.hex_runs) end
  return s
end

--- Scrubs secrets out of a string.
-- Every secret of the list (matched as written, when it is 4 bytes or more), every run of 8 or more
-- bytes of one (a secret cut in two, or half of one echoed back), and the value of every parameter
-- or JSON member named like a secret (see @{redact_named}) become `[redacted]`. A longer secret is
-- replaced before a shorter one it contains. For your own log lines, @{instagram.client.Client:redact}
-- does this with the client's secrets.
-- @param s the text; a value that is not a string is returned as it is
-- @tparam[opt] {string,...} secrets the secrets to look for (holes and non-strings are skipped)
-- @return s, scrubbed (or `s` itself when it is not a string)
-- @raise never raises
-- @usage local errors = require "instagram.error"
-- print(errors.scrub("token EAABwzLixnjYBO and more", { "EAABwzLixnjYBO" })) --> token [redacted] and more
function _M.scrub(s, secrets)
  if type(s) ~= "string" then return s end
  return apply(prepare(secrets), s)
end

local function scrub_table(t, p, limit, depth, seen)
  if seen[t] or depth > json.MAX_DEPTH then return end
  seen[t] = true
  local moves
  for k, v in next, t do
    if type(v) == "string" then
      local nv = apply(p, v, limit)
      if nv ~= v then t[k] = nv end -- an existing key: allowed while traversing
    elseif type(v) == "table" then
      scrub_table(v, p, limit, depth + 1, seen)
    end
    if type(k) == "string" then
      local nk = apply(p, k, limit)
      if nk ~= k then
        moves = moves or {}
        moves[#moves + 1] = { k, nk }
      end
    end
  end
  for _, m in pairs(moves or {}) do
    t[m[2]], t[m[1]] = t[m[1]], nil
  end
end

--- Scrubs an error object (or any table) in place, for errors of your own.
-- Every string in it, nested tables and their keys included, is scrubbed as @{scrub} does and cut
-- to @{MAX_FIELD} bytes (`...` marks a cut); what is left of a secret the cut split is scrubbed too.
-- @param e the error object or table; anything else is returned as it is
-- @tparam[opt] {string,...} secrets the secrets to look for
-- @tparam[opt] table limits `{ [field] = bytes }`: another cut for some top-level fields (the
--   constructors use `{ body = MAX_BODY }`)
-- @return `e`, scrubbed in place
-- @raise never raises
-- @usage local errors = require "instagram.error"
-- local err = errors.new{ kind = "transport", reason = "network", message = "reset while sending access_token=" .. token }
-- errors.scrub_error(err, { token })
function _M.scrub_error(e, secrets, limits)
  if type(e) ~= "table" then return e end
  local p = prepare(secrets)
  local seen = { [e] = true }
  for k, v in next, e do
    local limit = type(limits) == "table" and tonumber(rawget(limits, k)) or _M.MAX_FIELD
    if type(v) == "string" then
      local nv = apply(p, v, limit)
      if nv ~= v then e[k] = nv end
    elseif type(v) == "table" then
      scrub_table(v, p, limit, 1, seen)
    end
  end
  return e
end

-- ---- the objects ---------------------------------------------------------------------------

local Error = {}
Error.__index = Error

Error.__tostring = function(e)
  local parts = { "instagram: " }
  local function add(...)
    for i = 1, select("#", ...) do parts[#parts + 1] = (select(i, ...)) end
  end
  if e.kind == "graph" then
    add("Graph API error")
    if e.code ~= nil then add(" ", text(e.code)) end
    if e.subcode ~= nil then add("/", text(e.subcode)) end
    if e.type ~= nil then add(" (", text(e.type), ")") end
    add(": ", text(e.message) or "nil")
    if e.user_msg ~= nil then add(" - ", text(e.user_msg)) end
    if e.fbtrace_id ~= nil then add(" [fbtrace_id ", text(e.fbtrace_id), "]") end
  else
    add(text(e.kind) or "unknown", " error")
    if e.reason ~= nil then add(" (", text(e.reason), ")") end
    if e.status ~= nil then add(", HTTP ", text(e.status)) end
    add(": ", text(e.message) or "nil")
  end
  return concat(parts)
end

--- Is a value an error object of this library? Also `instagram.is_error`.
-- @param x any value
-- @treturn boolean true for an @{Error} (any kind), false for anything else
-- @raise never raises
-- @usage local value, err = client:get("/me")
-- assert(value or instagram.is_error(err))
function _M.is_error(x) return type(x) == "table" and getmetatable(x) == Error end

--- Makes an error object of a table (the table itself becomes the @{Error}).
-- Nothing is scrubbed or cut here: use @{scrub_error} when the fields may hold a secret.
-- @tparam table fields the fields (see @{Error}): at least `kind` and `message`; `is_transient`
--   is set to false when absent
-- @treturn Error `fields`, now an error object
-- @raise when `fields` is not a table
-- @usage local errors = require "instagram.error"
-- return nil, errors.new{ kind = "decode", message = "the answer has no id" }
function _M.new(fields)
  if fields.is_transient == nil then fields.is_transient = false end
  return setmetatable(fields, Error)
end

--- Makes a `kind = "graph"` error of the Graph API's error object.
-- Takes `message` (or `error_message`), `code`, `error_subcode`, `type`, `fbtrace_id`,
-- `is_transient`, `error_user_title` and `error_user_msg` from it; scrubs and cuts every string.
-- @tparam ?integer status the HTTP status
-- @tparam table e the `error` member of the decoded answer
-- @tparam[opt] number retry_after seconds to wait before calling again
-- @tparam[opt] {string,...} secrets what to scrub
-- @treturn Error the error
-- @raise when `e` is not a table
-- @usage local err = errors.graph(400, { message = "Invalid parameter", code = 100, type = "OAuthException" })
function _M.graph(status, e, retry_after, secrets)
  local message = e.message
  if message == nil then message = e.error_message end
  return _M.scrub_error(_M.new{
    kind = "graph",
    status = status,
    message = text(message) or "Graph API error",
    code = whole(e.code),
    subcode = whole(e.error_subcode),
    type = text(e.type),
    fbtrace_id = text(e.fbtrace_id),
    is_transient = e.is_transient == true,
    user_title = text(e.error_user_title),
    user_msg = text(e.error_user_msg),
    retry_after = retry_after,
  }, secrets)
end

--- Makes a `kind = "graph"` error of the upload host's (rupload) failure envelope:
-- `{"debug_info":{"retriable":false,"type":"ProcessingFailedError","message":"{\"success\":false,
-- \"error\":{\"message\":\"unauthorized user request\"}}"}}`. The inner JSON message is
-- unwrapped; `retriable` becomes `is_transient`.
-- @tparam ?integer status the HTTP status
-- @tparam table d the `debug_info` member of the decoded answer
-- @tparam[opt] number retry_after seconds to wait before calling again
-- @tparam[opt] {string,...} secrets what to scrub
-- @treturn Error the error
-- @raise when `d` is not a table
-- @usage local err = errors.debug_info(400, { retriable = false, type = "ProcessingFailedError", message = "bad" })
function _M.debug_info(status, d, retry_after, secrets)
  local message = d.message
  if type(message) == "string" and sub(message, 1, 1) == "{" then
    local inner = json.decode(message)
    if type(inner) == "table" and type(inner.error) == "table" and inner.error.message ~= nil then
      message = inner.error.message
    elseif type(inner) == "table" and inner.message ~= nil then
      message = inner.message
    end
  end
  return _M.scrub_error(_M.new{
    kind = "graph",
    status = status,
    type = text(d.type),
    message = text(message) or "upload failed",
    is_transient = d.retriable == true,
    retry_after = retry_after,
  }, secrets)
end

local BODY_LIMIT = { body = _M.MAX_BODY }

--- Makes a `kind = "http"` error: a status outside 2xx without a Graph error object.
-- `is_transient` is true for 5xx and 429; `body` keeps the first @{MAX_BODY} bytes, scrubbed.
-- @tparam integer status the HTTP status
-- @tparam ?string body the answer's body
-- @tparam[opt] number retry_after seconds to wait before calling again
-- @tparam[opt] {string,...} secrets what to scrub
-- @treturn Error the error
-- @raise never raises
-- @usage local err = errors.http(502, "<html>Bad gateway</html>")
function _M.http(status, body, retry_after, secrets)
  return _M.scrub_error(_M.new{
    kind = "http",
    status = status,
    message = "unexpected HTTP " .. text(status) .. " response without a Graph error object",
    body = type(body) == "string" and body or nil,
    is_transient = type(status) == "number" and (status >= 500 or status == 429),
    retry_after = retry_after,
  }, secrets, BODY_LIMIT)
end

--- Makes a `kind = "decode"` error: an answer that is not valid JSON.
-- `is_transient` is true for 5xx; `body` keeps the first @{MAX_BODY} bytes, scrubbed.
-- @tparam ?integer status the HTTP status
-- @tparam ?string body the answer's body
-- @param why what the JSON decoder said (any value; printed with @{text})
-- @tparam[opt] {string,...} secrets what to scrub
-- @treturn Error the error
-- @raise never raises
-- @usage local err = errors.decode(200, "{oops", "expected a value")
function _M.decode(status, body, why, secrets)
  return _M.scrub_error(_M.new{
    kind = "decode",
    status = status,
    message = "response is not valid JSON (" .. (text(why) or "nil") .. ")",
    body = type(body) == "string" and body or nil,
    is_transient = type(status) == "number" and status >= 500,
  }, secrets, BODY_LIMIT)
end

--- Makes an error of a transport failure (`nil, reason, message` from a transport).
-- `reason = "timeout"` gives `kind = "timeout"`, any other reason `kind = "transport"` with that
-- `reason`; `is_transient` is true for timeout, connect and network.
-- @tparam string reason the transport's reason: timeout, connect, tls, network, size, invalid, file,
--   aborted
-- @tparam ?string message what went wrong
-- @tparam[opt] {string,...} secrets what to scrub
-- @treturn Error the error
-- @raise never raises
-- @usage local res, reason, message = transport:request(req)
-- if not res then return nil, errors.transport(reason, message) end
function _M.transport(reason, message, secrets)
  local timeout = reason == "timeout"
  return _M.scrub_error(_M.new{
    kind = timeout and "timeout" or "transport",
    reason = text(reason),
    message = text(message) or "nil",
    is_transient = timeout or reason == "connect" or reason == "network",
  }, secrets)
end

--- An error object: what every call returns as `err` in `nil, err`.
--
-- `tostring(err)` reads `instagram: Graph API error CODE/SUBCODE (TYPE): MESSAGE - USER_MSG
-- [fbtrace_id ID]` for `kind = "graph"`, and `instagram: KIND error (REASON), HTTP STATUS: MESSAGE`
-- for the others (the parts that are nil are left out). It never raises, whatever types a server
-- sent, and shows no secret: every string was scrubbed and cut when the error was made.
--
-- Kinds (`err.kind`) and their reasons (`err.reason`):
--
-- * `"graph"`: the API's error object (`code`, `subcode`, `type`, `fbtrace_id`, `user_title`,
--   `user_msg`, `is_transient` come from it), also the upload host's `debug_info` failures.
-- * `"http"`: a status outside 2xx with no Graph error object; `body` holds the start of the body.
-- * `"decode"`: an answer that is not valid JSON, or JSON without what the call needs (an id, an
--   object); `body` may hold the start of the body.
-- * `"timeout"`: the request did not finish within its timeout (`reason = "timeout"`).
-- * `"transport"`: nothing usable came back; `reason` is one of `connect` (no connection was made:
--   nothing was sent), `tls` (TLS handshake or certificate), `network` (the connection failed after
--   the request may have left), `size` (an answer over `max_body`, or headers over 256 KiB or 1000
--   lines), `invalid` (a URL, path, cursor or next URL the client refuses to send, or a malformed
--   URL), `foreign_host` (an absolute URL on a host other than `graph_url` and `rupload_url`: the
--   token is never sent there), `file` (an upload file that cannot be read), `aborted` (an upload
--   stopped by its progress callback).
-- * `"blocked"`: with the client's `throttle` or `store` option, a call refused without being made
--   while the API has said the app is rate limited (to this client, or to one sharing its store);
--   `retry_after` says for how long.
-- * `"publish"` (@{instagram.publish}): `reason` is `container_error` (also `subcode` when the
--   status names one), `container_expired`, `timeout` (still not ready after waiting), `quota`
--   (also `quota_usage`, `quota_total`); with `container_id` and `status`.
-- * `"oauth"` (@{instagram.oauth}): `reason` is `state_mismatch`, `ambiguous_redirect`, `no_code`,
--   `too_early`, `expired` (a token object past its expiry), `cancelled` (the user declined),
--   `raised` (the client's `auto_refresh` object raised instead of answering), or
--   the redirect's own `error` (`error`, `error_reason` and `error_code` are kept too).
-- * `"webhook"` (@{instagram.webhook}): `reason` is `bad_mode`, `bad_verify_token`, `no_challenge`,
--   `missing_signature`, `malformed_signature`, `bad_signature`, `sha256_required`, `too_large`,
--   `bad_json` or `bad_payload`.
--
-- Calls that publish may add `container_id` and `child` (the carousel item that failed).
-- @type Error
-- @tfield string kind where the error came from (see above)
-- @tfield string message what went wrong, in words (never nil)
-- @tfield ?string reason the refinement of `kind` (see above)
-- @tfield ?integer code the Graph API error code (190: bad token, 4/17/32/613: rate limits, 100: bad
--   parameter ...)
-- @tfield ?integer subcode the Graph API `error_subcode`
-- @tfield ?string type the Graph API error type (`OAuthException`, `GraphMethodException` ...)
-- @tfield ?string fbtrace_id Meta's trace id of the failed call (quote it to Meta's support)
-- @tfield ?string user_title the API's `error_user_title`
-- @tfield ?string user_msg the API's `error_user_msg`, for end users
-- @tfield ?integer status the HTTP status, when an answer came
-- @tfield boolean is_transient true when the same call may succeed later (the API's flag; 5xx;
--   timeouts, connect and network failures; `blocked`)
-- @tfield ?number retry_after seconds to wait before calling again: from `Retry-After` or the usage
--   headers' time to regain access, 0 to 86400
-- @tfield ?integer attempts how many times the client made the call (retries included)
-- @tfield ?string body the start of an answer that was not a Graph error object (`http`, `decode`:
--   at most @{MAX_BODY} bytes)
-- @usage local ok, err = client:post("/17841405822304914/media", { image_url = url })
-- if not ok then
--   if err.kind == "graph" and err.code == 4 then sleep(err.retry_after or 60) end
--   log(tostring(err))
-- end

return _M
