--- Handlers of the benchmark backend (bench/server.conf.in).
local ngx = ngx
local _M = {}

local PAGES, PER_PAGE = 4000, 25

local function item(i)
  return ('{"id":"1791819522%07d","caption":"Benchmark media %d with a caption of a realistic length #dinos",'
    .. '"media_type":"IMAGE","timestamp":"2026-11-01T12:00:00+0000","like_count":%d,"comments_count":%d}')
    :format(i, i, i % 997, i % 13)
end

function _M.paged()
  local page = tonumber(ngx.var.arg_after) or 0
  local items = {}
  for k = 1, PER_PAGE do items[k] = item(page * PER_PAGE + k) end
  local next_link = ""
  if page + 1 < PAGES then
    next_link = (',"next":"https://%s/v24.0/bench/paged?after=%d"'):format(ngx.var.http_host, page + 1)
  end
  ngx.print('{"data":[', table.concat(items, ","), '],"paging":{"cursors":{"before":"b","after":"a"}', next_link, "}}")
end

function _M.batch()
  ngx.req.read_body()
  local args = ngx.req.get_post_args(1000)
  local ops = require("cjson.safe").decode(args.batch or "[]") or {}
  ngx.sleep(0.05)
  local out = {}
  for i = 1, #ops do out[i] = '{"code":200,"body":"{\\"id\\":\\"17841405822304914\\"}"}' end
  ngx.print("[", table.concat(out, ","), "]")
end

function _M.upload()
  local sock = assert(ngx.req.socket())
  local left = tonumber(ngx.var.http_content_length) or 0
  while left > 0 do
    local chunk, err, partial = sock:receive(left < 1048576 and left or 1048576)
    chunk = chunk or partial
    if not chunk or #chunk == 0 then break end
    left = left - #chunk
    if err then break end
  end
  ngx.print('{"success":true,"message":"Upload successful."}')
end

return _M
