local H = require "spec.helper"
local core = require "instagram.core"
local json = require "instagram.json"

local function make_file(path, bytes)
  os.execute(("head -c %d /dev/urandom > %s"):format(bytes, path))
  return path
end

local function same_file(a, b)
  local r = os.execute(("cmp -s %s %s"):format(a, b))
  return r == true or r == 0 -- Lua 5.4 / LuaJIT return conventions
end

local function stored(id) return (os.getenv("IG_EMULATOR_DIR") or ".emulator") .. "/uploads/" .. id .. ".bin" end

describe("resumable upload", function()
  local c, user, file
  local slept
  setup(function()
    os.execute("mkdir -p build")
    file = make_file("build/upload-small.bin", 300000)
  end)
  before_each(function()
    H.reset()
    slept = {}
    c = H.client{ rupload_url = H.graph_url, sleep = function(d) slept[#slept + 1] = d end }
    user = c:ig_user(H.IG_USER_ID)
  end)

  local function container()
    return assert(user:create_container{ media_type = "REELS", upload_type = "resumable" })
  end

  it("creates a resumable container with an upload uri", function()
    local ct = container()
    assert.matches("^%d+$", ct.id)
    assert.equal(H.graph_url .. "/ig-api-upload/v24.0/" .. ct.id, ct.uri)
    assert.matches("upload_type=resumable", H.log()[1].body)
  end)

  it("streams a file with the documented headers and reports progress", function()
    local ct = container()
    local seen = {}
    local ok, info = c:upload_video(ct.uri, file, { progress = function(sent, total) seen[#seen + 1] = { sent, total } end })
    assert.is_true(ok)
    assert.equal(1, info.attempts)
    assert.is_true(same_file(file, stored(ct.id)))
    local r = H.requests("ig%-api%-upload")[1]
    assert.equal("OAuth " .. H.token, r.headers.authorization)
    assert.equal("0", r.headers.offset)
    assert.equal("300000", r.headers.file_size)
    assert.not_matches("appsecret_proof", r.uri)
    assert.same({ 300000, 300000 }, seen[#seen])
    for i = 2, #seen do assert.is_true(seen[i][1] >= seen[i - 1][1]) end
    local st = assert(c:get("/" .. ct.id, { fields = "video_status" })).video_status.uploading_phase
    assert.same({ status = "complete", bytes_transferred = 300000 }, st)
  end)

  it("accepts a container id instead of the uri", function()
    local ct = container()
    assert.is_true((c:upload_video(ct.id, file)))
    assert.equal("/ig-api-upload/v24.0/" .. ct.id, H.requests("ig%-api%-upload")[1].path)
  end)

  it("resumes from bytes_transferred after the connection drops", function()
    local ct = container()
    H.config{ upload_faults = { { drop_after = 120000, times = 1 } } }
    local ok, info = c:upload_video(ct.uri, file)
    assert.is_true(ok)
    assert.same({ 0, 120000 }, info.offsets)
    assert.equal(1, #slept)
    assert.is_true(same_file(file, stored(ct.id)))
    local ups = H.requests("ig%-api%-upload")
    assert.equal("120000", ups[2].headers.offset)
    assert.equal(1, #H.requests("^/v24%.0/" .. ct.id .. "$")) -- it asked the container where to go on
  end)

  it("after a drop, a failed status lookup is not taken for a finished upload: it sends again", function()
    local ct = container()
    H.config{ upload_faults = { { drop_after = 120000, times = 1 } },
              faults = { { path = "^/v24%.0/" .. ct.id .. "$", method = "GET", status = 503, times = 10 } } }
    local ok, info = c:upload_video(ct.uri, file)
    assert.is_true(ok)
    assert.same({ 0, 0 }, info.offsets) -- where the server is was unknown: from the last known offset
    assert.equal(2, #H.requests("ig%-api%-upload"))
    assert.is_true(same_file(file, stored(ct.id)))
  end)

  it("retries a retriable debug_info failure, from where the server is", function()
    local ct = container()
    H.config{ upload_faults = { { status = 503, times = 2 } } }
    local ok, info = c:upload_video(ct.uri, file)
    assert.is_true(ok)
    assert.equal(3, info.attempts)
    assert.same({ 0, 0, 0 }, info.offsets)
  end)

  it("unwraps a non-retriable debug_info failure and does not retry it", function()
    local ct = container()
    local bad = H.client{ rupload_url = H.graph_url, access_token = "EMU-PAGE-TOKEN-0", sleep = function() end }
    local ok, err = bad:upload_video(ct.uri, file)
    assert.is_nil(ok)
    assert.equal("graph", err.kind)
    assert.equal("ProcessingFailedError", err.type)
    assert.equal("unauthorized user request", err.message)
    assert.is_false(err.is_transient)
    assert.equal(1, #H.requests("ig%-api%-upload"))
  end)

  it("resumes after the server stalls longer than the client's timeout", function()
    local ct = container()
    local quick = H.client{ rupload_url = H.graph_url, timeout = 1, sleep = function() end }
    H.config{ upload_faults = { { stall = 2.5, times = 1 } } }
    local ok, info = quick:upload_video(ct.uri, file)
    assert.is_true(ok)
    assert.is_true(info.attempts >= 2)
    assert.is_true(same_file(file, stored(ct.id)))
  end)

  it("gives up after max_attempts when the connection keeps dropping", function()
    local ct = container()
    H.config{ upload_faults = { { drop_after = 1000 } } }
    local ok, err = c:upload_video(ct.uri, file, { max_attempts = 3 })
    assert.is_nil(ok)
    assert.equal("transport", err.kind)
    assert.equal(3, #H.requests("ig%-api%-upload"))
  end)

  it("stops when progress returns false, and a later call resumes where the server is", function()
    local ct = container()
    local ok, err = c:upload_video(ct.uri, file, { progress = function(sent) return sent < 100000 end })
    assert.is_nil(ok)
    assert.equal("aborted", err.reason)
    local st = assert(c:get("/" .. ct.id, { fields = "video_status" })).video_status.uploading_phase
    assert.is_true(st.bytes_transferred < 300000)
    assert.is_true((c:upload_video(ct.uri, file, { offset = st.bytes_transferred })))
    assert.is_true(same_file(file, stored(ct.id)))
  end)

  it("raises an error thrown by the progress callback, after cleaning up", function()
    local ct = container()
    assert.has_error(function()
      c:upload_video(ct.uri, file, { progress = function(sent) if sent > 0 then error("boom in progress") end end })
    end)
    assert.is_true((c:upload_video(ct.uri, file))) -- the session is fine afterwards
  end)

  it("reports a missing file and refuses misuse", function()
    local ct = container()
    local ok, err = c:upload_video(ct.uri, "build/no-such-file.bin")
    assert.is_nil(ok)
    assert.equal("file", err.reason)
    assert.has_error(function() c:upload_video(ct.uri, file, { progress = 5 }) end)
    assert.has_error(function() c:upload_video("not a container", file) end)
    assert.has_error(function() c:upload_video({}, file) end)
    assert.has_error(function() c:upload_video_url(ct.id, "ftp://x") end)
  end)

  it("uploads a hosted file with the file_url header", function()
    local ct = container()
    assert.is_true(c:upload_video_url(ct.uri, "https://cdn.example/video.mp4"))
    local r = H.requests("ig%-api%-upload")[1]
    assert.equal("https://cdn.example/video.mp4", r.headers.file_url)
    assert.equal("OAuth " .. H.token, r.headers.authorization)
    assert.truthy(assert(c:wait_for_container(ct.id, { interval = 0.01 })))
  end)

  it("uploads 50 MB through two dropped connections with identical bytes and flat memory", function()
    local big = make_file("build/upload-50mb.bin", 50 * 1024 * 1024)
    local ct = container()
    H.config{ upload_faults = { { drop_after = 17 * 1024 * 1024, times = 1 }, { drop_after = 11 * 1024 * 1024, times = 1 } } }
    local runtime = jit and "luajit" or "lua5.4"
    -- The child measures the regular build (not a sanitizer build this run may have loaded).
    local p = io.popen("env -u LD_PRELOAD -u IG_BUILD_DIR " .. runtime .. " spec/support/upload_child.lua " .. big
      .. " " .. ct.uri)
    local out = p:read("*a")
    p:close()
    local res = assert(json.decode(out:match("([^\n]+)%s*$") or ""), "child said: " .. out)
    assert.is_true(res.ok, res.err)
    assert.equal(3, res.attempts)
    assert.same({ 0, 17 * 1024 * 1024, 28 * 1024 * 1024 }, res.offsets) -- resumed, never started over
    assert.equal(50 * 1024 * 1024, res.last_progress)
    assert.is_true(same_file(big, stored(ct.id)))
    io.stdout:write(("\n    50 MB upload: peak RSS of the uploading process %.1f MB\n"):format(res.vm_hwm_kb / 1024))
    assert.is_true(res.vm_hwm_kb < 32 * 1024, "peak RSS " .. res.vm_hwm_kb .. " kB")
    os.remove(big)
  end)
end)

describe("core session:upload", function()
  local s
  before_each(function() s = core.session{ ca_file = H.ca_file } end)
  after_each(function() s:close() end)

  it("refuses bad arguments", function()
    assert.has_error(function() s:upload() end)
    assert.has_error(function() s:upload(H.graph_url .. "/x", nil, "") end)
    assert.has_error(function() s:upload(H.graph_url .. "/x", nil, "build/upload-small.bin", -1) end)
    assert.has_error(function() s:upload(H.graph_url .. "/x", nil, "build/upload-small.bin", 1.5) end)
    assert.has_error(function() s:upload(H.graph_url .. "/x", nil, "build/upload-small.bin", 0, "cb") end)
    assert.has_error(function() s:upload(H.graph_url .. "/x", { ["Bad Header"] = "v" }, "build/upload-small.bin") end)
  end)

  it("reports unreadable files, directories and offsets past the end as kind 'file'", function()
    local ok, kind = s:upload(H.graph_url .. "/x", nil, "build/does-not-exist")
    assert.is_nil(ok)
    assert.equal("file", kind)
    local _, kind2 = s:upload(H.graph_url .. "/x", nil, "build")
    assert.equal("file", kind2)
    local _, kind3, msg3 = s:upload(H.graph_url .. "/x", nil, "build/upload-small.bin", 300001)
    assert.equal("file", kind3)
    assert.matches("past the end", msg3)
  end)

  it("refuses to upload on a closed session", function()
    s:close()
    assert.has_error(function() s:upload(H.graph_url .. "/x", nil, "build/upload-small.bin") end, "session is closed")
  end)
end)
