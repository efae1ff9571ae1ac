-- A server that writes bytes after an answer's end on a kept-alive connection (an outside attack):
-- libcurl 7.88 reused such a connection and handed the bytes to the next request as its answer, so
-- every later call got the one before's (another client's, on a shared transport). The C core now
-- looks at the idle connection before each request and never sends on one that holds bytes.
local instagram = require "instagram"
local PORT = 18389

local server
setup(function()
  local lua = jit and "luajit" or "lua5.4"
  server = io.popen(("exec %s spec/support/stale_server.lua %d"):format(lua, PORT), "r")
  assert(server:read("*l") == "ready", "the stale server did not start")
end)
teardown(function()
  os.execute(("pkill -f 'stale_server.lua %d' 2>/dev/null"):format(PORT))
  server:close()
end)

describe("a connection with bytes after its last answer", function()
  local function client(transport)
    return instagram.new{ access_token = "EAATOKENsecret123456789", graph_url = "http://127.0.0.1:" .. PORT,
      retries = 0, timeout = 5, transport = transport }
  end

  it("is never reused: each call gets its own answer (bytes written with the answer)", function()
    local c = client()
    assert.equal("GET /v24.0/extra HTTP/1.1", assert(c:get("/extra"))["for"])
    local posted = assert(c:post("/me/media", { caption = "x" }))
    assert.equal("POST /v24.0/me/media HTTP/1.1", posted["for"])
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
  end)

  it("is never reused when the bytes arrive while it is idle", function()
    local c = client()
    assert.equal("GET /v24.0/late HTTP/1.1", assert(c:get("/late"))["for"])
    require("socket").sleep(0.3)
    assert.equal("GET /v24.0/me HTTP/1.1", assert(c:get("/me"))["for"])
    assert.equal("GET /v24.0/other HTTP/1.1", assert(c:get("/other"))["for"])
  end)

  it("never gives one client the answer meant for another sharing its transport", function()
    local t = require("instagram.transport.curl").new{ timeout = 5 }
    local a, b = client(t), client(t)
    assert.equal("GET /v24.0/extra HTTP/1.1", assert(a:get("/extra"))["for"])
    assert.equal("GET /v24.0/me HTTP/1.1", assert(b:get("/me"))["for"])
  end)
end)
