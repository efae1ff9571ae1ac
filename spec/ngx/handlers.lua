--- Handlers of the test nginx: the library used as an OpenResty user would.
local instagram = require "instagram"
local json = require "instagram.json"

local _M = {}

local function env()
  local dir = os.getenv("IG_EMULATOR_DIR") or ".emulator"
  local t = {}
  for line in io.lines(dir .. "/env") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then t[k] = v end
  end
  return t
end

local E
local function client(token)
  E = E or env()
  return instagram.new{ access_token = token or E.IG_EMULATOR_TOKEN, graph_url = E.IG_EMULATOR_GRAPH_URL,
                        retries = 0 }
end

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(value))
  return ngx.exit(status)
end

function _M.profile()
  local c = client()
  local u, err = c:ig_user(ngx.var.arg_ig):fetch("username,followers_count")
  if not u then return reply(502, { error = tostring(err) }) end
  return reply(200, { user = u, transport = c.transport:pick().name, usage = c:usage() })
end

function _M.server_rewrite()
  local c = client()
  local me, err = c:get("/me")
  return reply(200, { phase = ngx.get_phase(), transport = c.transport:pick().name, id = me and me.id,
                      err = err and tostring(err), deadline = c:_deadline() ~= nil })
end

function _M.media()
  local c = client()
  local pager = c:ig_user(ngx.var.arg_ig):media{ fields = "id,caption", limit = 10,
                                                  max_items = tonumber(ngx.var.arg_max) }
  local ids = {}
  for m in pager:items() do ids[#ids + 1] = m.id end
  if pager.err then return reply(502, { error = tostring(pager.err) }) end
  return reply(200, { ids = ids, pages = pager.pages_fetched })
end

function _M.slow()
  local c = client()
  local t0 = ngx.now()
  local res, err = c:get("/slow-graph-call", nil, { timeout = 10 })
  return reply(200, { waited = ngx.now() - t0, ok = res ~= nil, err = err and err.kind })
end

function _M.make_client() return client() end

function _M.early()
  local c = package.loaded["spec.ngx.early"]
  local me, err = c:get("/me")
  return reply(200, { transport = c.transport:pick().name, ok = me ~= nil, err = err and tostring(err) })
end

-- A started request kept between requests of the worker (spec/ngx/handlers_ngxspec.lua).
function _M.handle()
  if ngx.var.arg_start then
    _M.saved = client():start_get(ngx.var.arg_start)
    if ngx.var.arg_exit then return ngx.exit(204) end -- (the request's light threads end with it)
    return reply(200, { started = _M.saved ~= nil })
  end
  local v, err = _M.saved.finish()
  return reply(200, { id = v and v.id, reason = err and err.reason })
end

function _M.error()
  local _, err = client("NOT-A-TOKEN"):get("/me")
  return reply(200, { kind = err.kind, code = err.code, type = err.type, fbtrace_id = err.fbtrace_id,
                      text = tostring(err) })
end

return _M
