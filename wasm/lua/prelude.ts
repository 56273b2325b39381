/**
 * The Lua side of the sandbox, run once on a fresh state with every standard library open.
 * It keeps only safe libraries, makes `load` text-only, locks the shared metatables, and
 * returns the builder of the read-only `host` table. Nothing in it is JS: the only bridge
 * is the C function `hostcall`, which sends plain values to the host.
 *
 * The builder keeps its own copy of the names, and everything it and the tables it makes
 * call is a local taken here, before any script ran: a script that replaces `string.find`,
 * `tostring` or `error` changes nothing they do. `build(names)` makes a host table and
 * remembers the names; `build()` makes a new one from the remembered names. A Lua 5.4
 * table cannot refuse `rawset`, so a request starts with `build(false)`: the same table if
 * all its proxies are still empty, else a new one, so what a script set on the last one,
 * or on the tables `pairs` showed it, is gone.
 */
export const PRELUDE = String.raw`
local hostcall, sbprint, bytesmt = ...
local G = _G
local rawload, rawset, setmetatable, select, error, type, next, tostring = load, rawset, setmetatable, select, error, type, next, tostring
local find, sub = string.find, string.sub
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

-- Every proxy of the current host table: the only tables of it a script can hold.
local proxies = {}

local function readonly(real, path)
  local proxy = {}
  proxies[#proxies + 1] = proxy
  return setmetatable(proxy, {
    __index = real,
    __newindex = function(_, k) error("host" .. path .. " is read-only (cannot set '" .. tostring(k) .. "')", 2) end,
    -- The iterator closes over real: pairs never hands the script the table behind the proxy.
    __pairs = function() return function(_, k) return next(real, k) end, proxy, nil end,
    __len = function() return #real end,
    __metatable = false,
  })
end

local function bytes(s)
  if type(s) ~= "string" then error("host.bytes expects a string, got " .. type(s), 2) end
  return setmetatable({ s }, bytesmt)
end

-- The granted names, copied: the table the host passed is the script's to see afterwards.
local granted = {}

local current

-- Builds a new host table from the list of granted function names (dotted), or from the
-- last list when called with none. With false: the current table while no script has
-- rawset anything on it (its proxies are all still empty), else a new one. That check is a
-- few next() calls, so a request need not pay for a rebuild it does not need.
return function(names)
  if names == false then
    if current ~= nil then
      local clean = true
      for i = 1, #proxies do
        if next(proxies[i]) ~= nil then clean = false; break end
      end
      if clean then return current end
    end
    names = nil
  end
  if names ~= nil then
    local copy = {}
    for i = 1, #names do copy[i] = names[i] end
    granted = copy
  end
  local root = { bytes = bytes }
  for i = 1, #granted do
    local name = granted[i]
    local node, start = root, 1
    while true do
      local dot = find(name, ".", start, true)
      if not dot then break end
      local part = sub(name, start, dot - 1)
      local child = node[part]
      if type(child) ~= "table" then child = {}; node[part] = child end
      node, start = child, dot + 1
    end
    node[sub(name, start)] = function(...) return hostcall(name, ...) end
  end
  local function freeze(t, path)
    for k, v in next, t do
      if type(v) == "table" then t[k] = freeze(v, path .. "." .. k) end
    end
    return readonly(t, path)
  end
  proxies = {}
  current = freeze(root, "")
  return current
end
`;
