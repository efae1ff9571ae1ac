-- An object whose finalizer is fn: a table on Lua 5.2+; a userdata on LuaJIT and Lua 5.1, which run
-- __gc for userdata only.
return function(fn)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
    return p
  end
  return setmetatable({}, { __gc = fn })
end
