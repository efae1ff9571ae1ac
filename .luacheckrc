std = "max"
max_line_length = 130
files["spec"] = { std = "+busted" }
files["emulator"] = { std = "ngx_lua", max_line_length = 165 } -- fixture tables read better whole
files["lua/instagram/transport/ngx.lua"] = { std = "ngx_lua" }
exclude_files = { ".emulator", "build" }
files["spec/ngx"] = { std = "ngx_lua+busted" }
files["examples/openresty"] = { std = "ngx_lua" }
files["examples/fleet"] = { std = "ngx_lua" }
files["spec/coverage.lua"] = { max_line_length = false } -- one operation a line
files["bench/backend.lua"] = { std = "ngx_lua" }
