/**
 * The Lua side of the sandbox, run once on a fresh state with every standard library open.
 * It keeps only safe libraries, makes `load` text-only, locks the shared metatables, and
 * returns the builder of the read-only `host` table. Nothing in it is JS: the only bridge
 * is the C function `hostcall`, which sends plain values to the host.
 */
export const PRELUDE = String.raw`
local hostcall, sbprint, bytesmt = ...
local G = _G
local rawload, rawset, setmetatable, select, error, type, next = load, rawset, setmetatable, select, error, type, next
local loaded = package.loaded
for _, name in ipairs({ "io", "os", "debug", "package", "_G" }) do loaded[name] = nil end
local oslib = os
G.os = { clock = oslib.clock, time = oslib.time, date = oslib.date, difftime = oslib.difftime }
G.io, G.debug, G.package, G.require, G.dofile, G.loadfile, G.warn = nil, nil, nil, nil, nil, nil, nil
string.dump = nil
G.print = sbprint
-- Binary chunks are refused: Lua has no bytecode verifier.
G.load = function(chunk, name, mode, ...)
  if select("#", ...) > 0 then return rawload(chunk, name, "t", (...)) end
  return rawload(chunk, name, "t")
end
local collect = collectgarbage
local allowed = { collect = true, count = true, step = true, isrunning = true, incremental = true, generational = true }
G.collectgarbage = function(opt, ...)
  opt = opt or "collect"
  if not allowed[opt] then error("collectgarbage('" .. tostring(opt) .. "') is not allowed in the sandbox", 2) end
  return collect(opt, ...)
end
-- Shared metatables: a script must not change what the next one sees.
getmetatable("").__metatable = false
setmetatable(G, { __metatable = false })

local function readonly(real, path)
  return setmetatable({}, {
    __index = real,
    __newindex = function(_, k) error("host" .. path .. " is read-only (cannot set '" .. tostring(k) .. "')", 2) end,
    __pairs = function() return next, real, nil end,
    __len = function() return #real end,
    __metatable = false,
  })
end

local function bytes(s)
  if type(s) ~= "string" then error("host.bytes expects a string, got " .. type(s), 2) end
  return setmetatable({ s }, bytesmt)
end

-- Builds the host table from the list of granted function names (dotted).
return function(names)
  local root = { bytes = bytes }
  for i = 1, #names do
    local name = names[i]
    local node, start = root, 1
    while true do
      local dot = name:find(".", start, true)
      if not dot then break end
      local part = name:sub(start, dot - 1)
      local child = node[part]
      if type(child) ~= "table" then child = {}; node[part] = child end
      node, start = child, dot + 1
    end
    node[name:sub(start)] = function(...) return hostcall(name, ...) end
  end
  local function freeze(t, path)
    for k, v in next, t do
      if type(v) == "table" then t[k] = freeze(v, path .. "." .. k) end
    end
    return readonly(t, path)
  end
  return freeze(root, "")
end
`;
