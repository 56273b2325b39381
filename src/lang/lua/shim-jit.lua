-- What the shared prelude (prelude.lua) needs done the LuaJIT 2.1 (Lua 5.1) way. It runs
-- first, on a fresh state, and returns the parts that differ; the prelude gets them as its
-- fourth argument. Lua 5.1 tables have no `__gc`, and `newproxy` (the only way to make a
-- userdata with one) is captured here and then removed by the prelude.
local G = _G
local rawload, select, next, getmetatable, newproxy, unpack = load, select, next, getmetatable, newproxy, unpack

-- For scripts written for the wasm (Lua 5.4) backend.
table.unpack = unpack
table.pack = function(...) return { n = select("#", ...), ... } end
G.loadstring = function(s, name) return rawload(s, name, "t") end

return {
  gcoptions = { collect = true, count = true, step = true },
  -- print joins its arguments in Lua, under the memory cap, and the host reads one string.
  joinprint = true,
  -- A host table is a userdata with a locked metatable: `rawset` refuses a userdata, and
  -- nothing reaches the table behind one, so no script changes what `host.name` is.
  proxy = function(_, path, mt)
    local p = newproxy(true)
    local pmt = getmetatable(p)
    for k, v in next, mt do pmt[k] = v end
    pmt.__tostring = function() return "host" .. path end
    pmt.__metatable = false
    return p
  end,
  pristine = function() return true end,
}
