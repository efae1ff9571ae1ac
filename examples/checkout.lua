--- Lets the examples run from a checkout of instagram-graph without installing it: puts the
-- checkout's lua/ and build/<runtime>/ (made by `make`, or `make LUA=luajit` for luajit) first on
-- the module paths. An installed library is used as usual when there is no checkout around.
-- Your own programs do not need this: after `make install` (or `luarocks make`), require "instagram".
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/.."
local probe = io.open(root .. "/lua/instagram/init.lua", "r")
if probe then
  probe:close()
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
  -- build/<runtime>: luajit, or lua5.4 / lua5.3 / lua5.1 after _VERSION (make LUA=lua5.1 ...)
  package.cpath = root .. "/build/" .. (jit and "luajit" or ("lua" .. (_VERSION:match("%d+%.%d+") or "5.4")))
    .. "/?.so;" .. package.cpath
end
