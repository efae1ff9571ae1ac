--- A hostile HTTP server inside the test nginx (spec/ngx/nginx.conf.in, location /hostile/), for
-- spec/ngx/transport_ngxspec.lua: it counts what it receives in the shared dict `hostile`, drops a
-- connection after reading a POST, and writes raw bytes no honest server would (header floods,
-- endless bodies, broken header lines). Every loop is bounded in bytes and in time.
local ngx = ngx
local concat, rep = table.concat, string.rep

local _M = {}

local dict = ngx.shared.hostile
local CAP = 64 * 1024 * 1024 -- no case writes more than this
local TIME = 10              -- or for longer than this, in seconds

-- Writes pieces from next_piece() until it returns nil, the cap or the time is reached, or the
-- client goes away; records in the dict how many bytes went out, then closes the connection.
local function stream(case, head, next_piece)
  local sock = assert(ngx.req.socket(true))
  sock:settimeout(5000)
  local sent, t0 = 0, ngx.now()
  local ok = sock:send(head)
  if ok then sent = #head end
  while ok and sent < CAP and ngx.now() - t0 < TIME do
    local piece = next_piece(sent)
    if not piece then break end
    ok = sock:send(piece)
    if ok then sent = sent + #piece end
  end
  dict:set("sent:" .. case, sent)
  dict:set("done:" .. case, true)
  return ngx.exit(444)
end

local function forever(bytes) return function() return bytes end end

local CASES = {}

-- Header lines, each unique, without end.
CASES.flood = function()
  local filler = rep("a", 1000)
  local i = 0
  return "HTTP/1.1 200 OK\r\n", function()
    local lines = {}
    for k = 1, 100 do lines[k] = "X-Flood-" .. (i + k) .. ": " .. filler .. "\r\n" end
    i = i + 100
    return concat(lines)
  end
end

-- N short header lines (N from ?n=, Content-Length included), then a body.
CASES.many = function()
  local n = tonumber(ngx.var.arg_n) or 1001
  local lines = { "HTTP/1.1 200 OK\r\n" }
  for k = 1, n - 1 do lines[#lines + 1] = "X-M" .. k .. ": v\r\n" end
  lines[#lines + 1] = "Content-Length: 2\r\n\r\nok"
  return concat(lines), function() return nil end
end

-- One header line that never ends.
CASES.longline = function()
  return "HTTP/1.1 200 OK\r\nX-Long: ", forever(rep("b", 65536))
end

-- Interim responses without end.
CASES.interim = function()
  return "", forever(rep("HTTP/1.1 100 Continue\r\n\r\n", 1000))
end

-- A body delimited by the connection's close, without end.
CASES.endless = function()
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", forever(rep("c", 65536))
end

-- Chunks of 64 KiB without end.
CASES.chunked = function()
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    forever("10000\r\n" .. rep("d", 65536) .. "\r\n")
end

-- One-byte chunks without end (the bookkeeping of many tiny pieces).
CASES.tiny = function()
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", forever(rep("1\r\ne\r\n", 10000))
end

-- A chunk-size line that never ends.
CASES.chunkline = function()
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", forever(rep("f", 65536))
end

-- Trailers without end after the last chunk.
CASES.trailers = function()
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
    forever(rep("X-Trailer: " .. rep("t", 1000) .. "\r\n", 64))
end

-- Headers and trailers each under the header block's 256 KiB and 1000 lines, together over one
-- of them (?what=bytes: 150 lines of 1 KB each; ?what=lines: 600 short lines each).
CASES.trailers_share = function()
  local bytes = ngx.var.arg_what ~= "lines"
  local line = bytes and ("X-Field: " .. rep("f", 1000) .. "\r\n") or "X-F: 1\r\n"
  local many = rep(line, bytes and 150 or 600)
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" .. many .. "\r\n2\r\nok\r\n0\r\n" .. many .. "\r\n",
    function() return nil end
end

-- An answer one byte every 0.1 s (at most 100 bytes): framed by ?framing=length (the default),
-- close or chunked.
CASES.drip = function()
  local framing = ngx.var.arg_framing or "length"
  local head = {
    length = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
    close = "HTTP/1.1 200 OK\r\n\r\n",
    chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n",
  }
  local n = 0
  return head[framing], function()
    n = n + 1
    if n > 100 then return nil end
    ngx.sleep(0.1)
    return "x"
  end
end

-- Header lines that are broken in every way the C parser copes with.
CASES.odd = function()
  return concat{
    "HTTP/1.1 200 OK\r\n",
    "X-Cr: a\rb\r\n",
    "X-Nul: a\0b\r\n",
    "a line without a colon\r\n",
    ": no name\r\n",
    rep("n", 257), ": too long a name\r\n",
    rep("k", 256), ": longest name\r\n",
    "X-Tabs:\t  v w \t \r\n",
    "X-Dup: 1\r\n",
    "X-Dup: 2\r\n",
    "X-Lf-Only: lf\n",
    "X-Empty:\r\n",
    "Content-Length: 2\r\n",
    "\r\n",
    "ok",
  }, function() return nil end
end

-- A bad Content-Length (hexadecimal, which tonumber alone would take).
CASES.badlength = function()
  return "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok", function() return nil end
end

-- Fixed answers for /hostile/raw?v=NAME: status lines, interim answers and framings that no honest
-- server sends. A string is sent whole; a list is sent piece by piece, a number in it being a pause
-- in seconds; a function gets the request's Authorization value (to echo the token back).
local OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
local RAW = {
  good = OK, -- well framed: the client may pool the connection
  head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", -- for HEAD: the length announced, no body
  four = "HTTP/1.1 1000 X\r\n\r\n" .. OK,                -- four digits: no 100 Continue
  four200 = "HTTP/1.1 2001 OK\r\nContent-Length: 2\r\n\r\nok",
  nosp = "HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nok",
  bare = "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",   -- valid: no reason phrase, no space
  empty = "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", -- valid: an empty reason phrase
  low = "HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok",
  zero = "HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok",
  high = "HTTP/1.1 600 High\r\nContent-Length: 2\r\n\r\nok",
  v20 = "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
  v12 = "HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok",
  v09 = "HTTP/0.9 200 OK\r\nContent-Length: 2\r\n\r\nok",
  switch = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n" .. OK,
  early_hints = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" .. OK,
  echo_bad = function(auth) return "XTTP/1.1 200 " .. auth .. "\r\n\r\n" end,
  echo_code = function(auth) return "HTTP/1.1 2000 " .. auth .. "\r\nContent-Length: 2\r\n\r\nok" end,
  echo_version = function(auth) return "HTTP/" .. auth .. " 200 OK\r\nContent-Length: 2\r\n\r\nok" end,
  -- transfer codings
  gzip_chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  chunked_gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  chunked_twice = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    .. "c\r\n2\r\nok\r\n0\r\n\r\n\r\n0\r\n\r\n", -- chunked twice over: the body once decoded is chunked
  both = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  -- chunk-size lines
  chunk_ext = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;name=\"v\" ; x\r\nok\r\n0;last\r\n\r\n",
  chunk_hex = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
  chunk_junk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2zz\r\nok\r\n0\r\n\r\n",
  chunk_20 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. rep("f", 20) .. "\r\nok\r\n0\r\n\r\n",
  chunk_zeros = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. rep("0", 19) .. "2\r\nok\r\n0\r\n\r\n",
  -- content lengths
  length_twice = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
  length_two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok",
  length_negative = "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
  length_huge = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok",
  length_plus = "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
  -- bodies where none belongs, sent after a pause (not in the same read as the head)
  nocontent = { "HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n", 0.2, "ok" },
  nocontent_chunked = { "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 0.2, "0\r\n\r\n" },
  -- "close" beside "keep-alive": close wins
  close_keep = "HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 2\r\n\r\nok",
  -- a 1.0 answer without keep-alive; one with it, chunked (which HTTP/1.0 does not have)
  v10 = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
  v10_chunked = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
}

-- Sends RAW[v], then holds the connection open for a second: a request that arrives on it in that
-- time (the client put the connection back in its pool and reused it) is recorded as next:<v> and
-- answered "reused". The request's own body is never read before the answer.
local function linger(v)
  local answer = RAW[v]
  local sock = assert(ngx.req.socket(true))
  sock:settimeout(1000)
  if type(answer) == "function" then answer = answer(ngx.var.http_authorization or "") end
  if type(answer) == "string" then answer = { answer } end
  for _, piece in ipairs(answer) do
    if type(piece) == "number" then ngx.sleep(piece) else sock:send(piece) end
  end
  dict:set("done:" .. v, true)
  local line = sock:receive("*l")
  if line then
    dict:set("next:" .. v, line)
    sock:send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nreused")
  end
  return ngx.exit(444)
end

--- Every /hostile/ location.
function _M.serve()
  local what = ngx.var.uri:match("^/hostile/(.*)$")
  if what == "raw" and RAW[ngx.var.arg_v] then return linger(ngx.var.arg_v) end
  if what == "count" then -- counts and answers; keeps the connection
    dict:incr("count", 1, 0)
    dict:set("raw", ngx.req.raw_header())
    ngx.req.read_body()
    dict:set("body", ngx.req.get_body_data() or "")
    ngx.header["Content-Length"] = 2
    ngx.print("ok")
    return ngx.exit(200)
  elseif what == "drop" then -- reads the whole request, counts it, closes without a word
    ngx.req.read_body()
    dict:incr("drop", 1, 0)
    dict:set("drop_requests_on_connection", tonumber(ngx.var.connection_requests))
    return ngx.exit(444)
  elseif CASES[what] then
    local head, next_piece = CASES[what]()
    return stream(what, head, next_piece)
  end
  return ngx.exit(404)
end

return _M
