--- Graph batch requests: POST / with batch=[{method, relative_url, body, name, depends_on,
-- omit_response_on_success}], at most 50, run in order as subrequests of this same server, with
-- JSONPath references ({result=name:$.data.0.id}) resolved from earlier results.
local cjson = require "cjson.safe"
local json = require "instagram.json"
local transport = require "instagram.transport.ngx"

local ngx = ngx
local type, tostring, ipairs, tonumber = type, tostring, ipairs, tonumber

local _M = {}

-- Operations run as real requests to this emulator's plain-HTTP port (ngx.location.capture does
-- not work under HTTP/2 in this nginx), so each is handled and logged like any other call.

--- $.a.b.0.c and $.data.*.id (the values joined with commas)
local function jsonpath(value, path)
  local parts = {}
  for p in path:gsub("^%$%.?", ""):gmatch("[^%.]+") do parts[#parts + 1] = p end
  local function walk(v, i)
    if i > #parts then
      if type(v) == "table" then return nil end
      return tostring(v)
    end
    if type(v) ~= "table" then return nil end
    local p = parts[i]
    if p == "*" then
      local out = {}
      for _, x in ipairs(v) do
        local r = walk(x, i + 1)
        if r then out[#out + 1] = r end
      end
      return table.concat(out, ",")
    end
    local key = tonumber(p)
    return walk(key and v[key + 1] or v[p], i + 1)
  end
  return walk(value, 1)
end

local function substitute(s, results)
  if type(s) ~= "string" then return s end
  return (s:gsub("{result=([%w_]+):([^}]+)}", function(name, path)
    local r = results[name]
    return r and jsonpath(r, path) or ""
  end))
end

function _M.run(ctx, args, token)
  local ops = type(args.batch) == "string" and cjson.decode(args.batch) or args.batch
  if type(ops) ~= "table" or #ops == 0 then return ctx.fail(100, "(#100) The parameter batch is required") end
  if #ops > 50 then return ctx.fail(1, "(#1) Batch requests are limited to 50 operations") end
  local auth = ngx.var.http_authorization or (token and ("Bearer " .. token))
  local base = "http://127.0.0.1:" .. (ngx.var.emu_http_port or ngx.var.server_port)
  local http = transport.new{ timeout = 30 }
  local include_headers = args.include_headers ~= "false" and args.include_headers ~= false
  local named, failed, depended = {}, {}, {}
  for _, op in ipairs(ops) do if type(op) == "table" and op.depends_on then depended[op.depends_on] = true end end
  local out = {}
  for i, op in ipairs(ops) do
    if type(op) ~= "table" or type(op.relative_url) ~= "string" then
      out[i] = { code = 400, body = json.encode{ error = { message = "(#100) relative_url is required",
        type = "OAuthException", code = 100 } } }
    elseif op.depends_on and (failed[op.depends_on] or not named[op.depends_on]) then
      out[i] = json.null -- its dependency failed: not run
      if op.name then failed[op.name] = true end
    else
      local method = (op.method or "GET"):upper()
      local url = substitute(op.relative_url, named)
      if url:sub(1, 1) ~= "/" then url = "/" .. url end
      if not url:match("^/v%d+%.%d+/") then url = "/" .. ctx.version .. url end
      local body = op.body
      if type(body) == "table" then body = ngx.encode_args(body) end
      body = substitute(body, named)
      local res = http:request{ method = method, url = base .. url, body = body,
        headers = { Authorization = auth, ["Content-Type"] = body and "application/x-www-form-urlencoded" or nil } }
      res = res or { status = 502, body = '{"error":{"message":"batch operation failed","code":2}}', headers = {} }
      local entry = { code = res.status, body = res.body }
      if include_headers then
        entry.headers = { { name = "Content-Type", value = res.headers["content-type"] or "application/json" } }
      end
      local ok = res.status >= 200 and res.status < 300
      if op.name then
        if ok then named[op.name] = cjson.decode(res.body) or {} else failed[op.name] = true end
      end
      local omit = op.name and ok and depended[op.name] and op.omit_response_on_success ~= false
      out[i] = omit and json.null or entry
    end
  end
  return ctx.send(200, json.array(out))
end

return _M
