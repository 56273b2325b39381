/**
 * The Lua side of the LuaJIT sandbox, run once on a fresh state with every standard library
 * open. It mirrors wasm/lua/prelude.ts, adapted to Lua 5.1 / LuaJIT 2.1.
 *
 * Removed, and why:
 * - `io`, `os` (but clock/time/date/difftime), `debug`, `package`, `require`, `dofile`,
 *   `loadfile`: files, processes, environment and the debug library's re-typing powers.
 *   With `package`/`require` gone, `ffi` (only reachable through require) and
 *   `string.buffer` are unreachable too.
 * - `jit`: `jit.attach` runs Lua callbacks on VM events and `jit.off/flush` change the
 *   state's compiler for every later request; scripts get the JIT, not its controls.
 * - `module`: it writes into package.loaded and globals of other chunks (5.1 legacy).
 * - `newproxy`: the only way left to make a userdata with a metatable, hence with `__gc`:
 *   a finalizer runs during any allocation, including ones the host makes outside a
 *   protected call, where an error in it would take the process down.
 * - `setfenv` / `getfenv`: they reach and replace the environments of functions the
 *   script did not write (the host stubs, the prelude's own helpers).
 * - `gcinfo`: a 5.0 leftover; `collectgarbage("count")` says the same.
 * - `string.dump` (bytecode out) and binary chunks in `load` / `loadstring` (bytecode in:
 *   LuaJIT has no bytecode verifier).
 * - `collectgarbage` keeps collect / count / step only (no stop / tuning).
 * Added for scripts written for the wasm (Lua 5.4) backend: `table.unpack` (= unpack) and
 * `table.pack`.
 *
 * The C functions it gets never raise (a Lua error must not unwind through a koffi
 * callback): they answer status values and the wrappers here call `error`.
 *
 * `host` and its namespaces are userdata (newproxy, taken here before it is removed) with
 * a locked metatable: `rawset` refuses a userdata, and nothing reaches the table behind
 * one, so no script changes what `host.name` is. Everything the builder and the stubs call
 * is a local taken here, before any script ran. `build(names)` makes a host and remembers
 * the names; `build()` makes a new one from them.
 */
export const PRELUDE = String.raw`
local hostcall, sbprint, bytesmt = ...
local G = _G
local rawload, setmetatable, getmetatable, select, error, type, next, tostring, pcall, newproxy =
  load, setmetatable, getmetatable, select, error, type, next, tostring, pcall, newproxy
local concat, traceback = table.concat, debug.traceback
local find, sub = string.find, string.sub
local loaded = package.loaded
for _, name in ipairs({ "io", "os", "debug", "package", "_G", "jit", "jit.opt", "ffi", "string.buffer" }) do loaded[name] = nil end
local oslib = os
G.os = { clock = oslib.clock, time = oslib.time, date = oslib.date, difftime = oslib.difftime }
G.io, G.debug, G.package, G.require, G.dofile, G.loadfile, G.module = nil, nil, nil, nil, nil, nil, nil
G.jit, G.newproxy, G.setfenv, G.getfenv, G.gcinfo = nil, nil, nil, nil, nil
string.dump = nil
table.unpack = unpack
table.pack = function(...) return { n = select("#", ...), ... } end

G.print = function(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  sbprint(concat(parts, "\t"))
end
-- Binary chunks are refused: LuaJIT has no bytecode verifier.
G.load = function(chunk, name, mode, ...)
  if select("#", ...) > 0 then return rawload(chunk, name, "t", (...)) end
  return rawload(chunk, name, "t")
end
G.loadstring = function(s, name) return rawload(s, name, "t") end
local collect = collectgarbage
local allowed = { collect = true, count = true, step = true }
G.collectgarbage = function(opt, ...)
  opt = opt or "collect"
  if not allowed[opt] then error("collectgarbage('" .. tostring(opt) .. "') is not allowed in the sandbox", 2) end
  return collect(opt, ...)
end
-- Shared metatables: a script must not change what the next one sees.
getmetatable("").__metatable = false
setmetatable(G, { __metatable = false })

local function readonly(real, path)
  local proxy = newproxy(true)
  local mt = getmetatable(proxy)
  mt.__index = real
  mt.__newindex = function(_, k) error("host" .. path .. " is read-only (cannot set '" .. tostring(k) .. "')", 2) end
  mt.__len = function() return #real end
  mt.__tostring = function() return "host" .. path end
  mt.__metatable = false
  return proxy
end

local function bytes(s)
  if type(s) ~= "string" then error("host.bytes expects a string, got " .. type(s), 2) end
  return setmetatable({ s }, bytesmt)
end

-- The message handler of every request: the error, its text and where it happened, boxed.
local function msgh(e)
  local msg
  if type(e) == "string" or type(e) == "number" then msg = tostring(e)
  else
    local ok, s = pcall(tostring, e)
    msg = ok and type(s) == "string" and s or ("(error object is a " .. type(e) .. " value)")
  end
  return { err = e, msg = msg, tb = sub(traceback("", 2), 2) }
end

-- The granted names, copied: the table the host passed is the script's to see afterwards.
local granted = {}

-- Builds a new host from the list of granted function names (dotted), or from the last
-- list when called with none.
local function build(names)
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
    -- hostcall answers (true, value) or (false, "Type: message"): raise here, never in C.
    node[sub(name, start)] = function(...)
      local ok, v = hostcall(name, ...)
      if ok then return v end
      error(v or ("HostError: host." .. name .. " failed in the bridge"), 0)
    end
  end
  local function freeze(t, path)
    for k, v in next, t do
      if type(v) == "table" then t[k] = freeze(v, path .. "." .. k) end
    end
    return readonly(t, path)
  end
  return freeze(root, "")
end

return build, msgh, function(v) return tostring(v) end, function(o, k) return o[k] end
`;
