--- Shared by every spec: puts the right build of the C core on the path, and talks to the
-- emulator (started by spec/run or `make emulator-start`).
-- IG_BUILD_DIR picks another build of the C core (the sanitizer build: `make sanitize`).
local build = os.getenv("IG_BUILD_DIR") or (jit and "build/luajit" or "build/lua5.4")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path

local core = require "instagram.core"
local json = require "instagram.json"

local H = {}

local function read_env()
  local env = {}
  local dir = os.getenv("IG_EMULATOR_DIR") or ".emulator"
  local f = io.open(dir .. "/env", "r")
  if f then
    for line in f:lines() do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then env[k] = v end
    end
    f:close()
  end
  for _, k in ipairs{ "IG_EMULATOR_GRAPH_URL", "IG_EMULATOR_HTTP_URL", "IG_EMULATOR_CA_FILE",
                      "IG_EMULATOR_TOKEN", "IG_EMULATOR_APP_SECRET" } do
    env[k] = os.getenv(k) or env[k]
  end
  assert(env.IG_EMULATOR_GRAPH_URL, "the emulator is not running: start it with `emulator/run start`")
  return env
end

H.env = read_env()
H.graph_url = H.env.IG_EMULATOR_GRAPH_URL
H.http_url = H.env.IG_EMULATOR_HTTP_URL
H.ca_file = H.env.IG_EMULATOR_CA_FILE
H.token = H.env.IG_EMULATOR_TOKEN
H.app_secret = H.env.IG_EMULATOR_APP_SECRET
H.IG_USER_ID = "17841405822304914"
H.PAGE_ID = "134895793791914"
H.runtime = jit and "luajit" or _VERSION

local control = core.session{ ca_file = H.ca_file, timeout = 10 }

local function call(method, path, body)
  local status, _, text = control:request(method, H.graph_url .. "/__emulator/" .. path,
    body and { ["Content-Type"] = "application/json" } or nil, body and assert(json.encode(body)) or nil)
  assert(status == 200, "emulator control call " .. path .. " failed: " .. tostring(text))
  return json.decode(text)
end

--- Fresh emulator state: world, log and config.
function H.reset() return call("POST", "reset") end
--- The requests the emulator received since the last reset, oldest first.
function H.log() return call("GET", "log") end
--- Merges into the emulator's config (rate_limit, require_proof, faults).
function H.config(patch) return call("POST", "config", patch) end

--- A client on the emulator; opts override the defaults.
function H.client(opts)
  local o = { access_token = H.token, graph_url = H.graph_url, ca_file = H.ca_file, retries = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("instagram").new(o)
end

--- Requests in the log whose path matches the Lua pattern.
function H.requests(pattern)
  local out = {}
  for _, r in ipairs(H.log()) do
    if r.path:find(pattern) then out[#out + 1] = r end
  end
  return out
end

return H
