-- The Lua side of the sandbox, shared by the wasm (Lua 5.4) and LuaJIT (5.1) backends. It
-- runs once on a fresh state with every standard library open, after the version's shim
-- (shim-5.4.lua or shim-jit.lua), and gets:
--   hostcall  the C function behind every host stub: hostcall(name, ...) answers
--             (true, value) or (false, "Type: message"); it never raises (a Lua error must
--             not unwind through a LuaJIT callback frame), the stubs here do
--   sbprint   the C function that writes its string arguments to stdout, tab-separated
--   bytesmt   the metatable host.bytes() marks strings with
--   shim      what the shim returned: the parts that differ between 5.1 and 5.4
--   hasinput  true when the host gave onInput: only then is there an `io` (with `read`)
-- It keeps only safe libraries, makes `load` text-only, locks the shared metatables, and
-- returns the builder of the read-only `host` table, the message handler of every request,
-- an unreplaceable `tostring`, and `o[k]` (indexing runs __index: the host calls it
-- protected).
--
-- Removed, and why:
-- - `io` (but `io.read` when the host gave onInput, see below), `os` (but
--   clock/time/date/difftime), `debug`, `package`, `require`, `dofile`, `loadfile`:
--   files, processes, environment and the debug library's re-typing powers.
--   With `package`/`require` gone, LuaJIT's `ffi` and `string.buffer` are unreachable too.
-- - LuaJIT only: `jit` (`jit.attach` runs callbacks on VM events, `jit.off/flush` change
--   the compiler for every later request), `module` (writes into other chunks' globals),
--   `newproxy` (the only way left to make a userdata with a `__gc`), `setfenv` / `getfenv`
--   (they replace the environments of functions the script did not write), `gcinfo`.
-- - Lua 5.4 only: `warn`.
-- - `string.dump` (bytecode out) and binary chunks in `load` (bytecode in: neither Lua has
--   a bytecode verifier).
-- - `collectgarbage` keeps the options the shim lists (no stop / tuning).
--
-- Everything the builder, the stubs and the handler call is a local taken here, before any
-- script ran: a script that replaces `string.find`, `tostring` or `error` changes nothing
-- they do.
local hostcall, sbprint, bytesmt, shim, hasinput = ...
local G = _G
local rawload, select, error, type, next, tostring, pcall = load, select, error, type, next, tostring, pcall
local setmetatable = setmetatable
local concat, unpack, traceback = table.concat, table.unpack, debug.traceback
local find, sub = string.find, string.sub
local loaded = package.loaded
for _, name in ipairs({ "io", "os", "debug", "package", "_G", "jit", "jit.opt", "ffi", "string.buffer" }) do loaded[name] = nil end
local oslib = os
G.os = { clock = oslib.clock, time = oslib.time, date = oslib.date, difftime = oslib.difftime }
G.io, G.debug, G.package, G.require, G.dofile, G.loadfile, G.module = nil, nil, nil, nil, nil, nil, nil
G.jit, G.newproxy, G.setfenv, G.getfenv, G.gcinfo, G.warn = nil, nil, nil, nil, nil, nil
string.dump = nil

-- io.read: lines from the host's onInput (a host call under a name no host function has,
-- src/capabilities/input.ts), buffered here. Formats as Lua's: "l" (default), "L", "n",
-- "a", a byte count, and 5.1's "*l" forms. At end of input (onInput answered null, or the
-- host gave no onInput) a read returns nil and a message, as reading a closed file does:
-- Lua code checks for nil (`while line do`). A stop or another failure raises.
local inbuf = ""
local tonumber, match = tonumber, string.match
local function fill()
  local ok, v = hostcall("@input", "")
  if ok then
    if type(v) ~= "string" then return false end
    inbuf = inbuf .. v
    if sub(inbuf, -1) ~= "\n" then inbuf = inbuf .. "\n" end
    return true
  end
  if type(v) == "string" and find(v, "EOFError: ", 1, true) == 1 then return false, sub(v, 11) end
  error(v or "HostError: io.read failed in the bridge", 0)
end
local function take(n)
  local s = sub(inbuf, 1, n)
  inbuf = sub(inbuf, n + 1)
  return s
end
local function readone(fmt)
  if type(fmt) == "number" then
    while #inbuf < fmt do
      local ok, why = fill()
      if not ok then
        if inbuf == "" and fmt > 0 then return nil, why end
        break
      end
    end
    if fmt == 0 and inbuf == "" then
      local ok, why = fill()
      if not ok then return nil, why end
    end
    return take(fmt)
  end
  if type(fmt) ~= "string" then error("bad argument to 'read' (invalid format)", 3) end
  local f = sub(fmt, 1, 1) == "*" and sub(fmt, 2, 2) or sub(fmt, 1, 1)
  if f == "a" then
    while fill() do end
    return take(#inbuf)
  elseif f == "l" or f == "L" then
    while not find(inbuf, "\n", 1, true) do
      local ok, why = fill()
      if not ok then
        if inbuf == "" then return nil, why end
        return take(#inbuf)
      end
    end
    local line = take((find(inbuf, "\n", 1, true)))
    return f == "L" and line or sub(line, 1, -2)
  elseif f == "n" then
    while not find(inbuf, "%S") do
      local ok, why = fill()
      if not ok then inbuf = ""; return nil, why end
    end
    local num = match(inbuf, "^%s*([%+%-]?%d*%.?%d+[eE][%+%-]?%d+)") or match(inbuf, "^%s*([%+%-]?%d*%.?%d+)")
      or match(inbuf, "^%s*([%+%-]?%d+%.?)")
    if not num then return nil end
    local _, e = find(inbuf, num, 1, true)
    inbuf = sub(inbuf, e + 1)
    return tonumber(num)
  end
  error("bad argument to 'read' (invalid format)", 3)
end
local function ioread(...)
  local n = select("#", ...)
  if n == 0 then return readone("l") end
  local results = {}
  for i = 1, n do
    local v, why = readone((select(i, ...)))
    if v == nil then
      results[i], results[i + 1] = nil, why
      return unpack(results, 1, i + 1)
    end
    results[i] = v
  end
  return unpack(results, 1, n)
end
-- Without onInput there is no `io` at all, as before issue 21: nothing to read.
if hasinput then G.io = { read = ioread } end

local joinprint = shim.joinprint
G.print = function(...)
  local n = select("#", ...)
  local parts = { ... }
  for i = 1, n do parts[i] = tostring(parts[i]) end
  if joinprint then return sbprint(concat(parts, "\t", 1, n)) end
  return sbprint(unpack(parts, 1, n))
end
-- Binary chunks are refused: there is no bytecode verifier.
G.load = function(chunk, name, mode, ...) -- luacheck: no unused args
  if select("#", ...) > 0 then return rawload(chunk, name, "t", (...)) end
  return rawload(chunk, name, "t")
end
local collect = collectgarbage
local allowed = shim.gcoptions
G.collectgarbage = function(opt, ...)
  opt = opt or "collect"
  if not allowed[opt] then error("collectgarbage('" .. tostring(opt) .. "') is not allowed in the sandbox", 2) end
  return collect(opt, ...)
end
-- Shared metatables: a script must not change what the next one sees.
getmetatable("").__metatable = false
setmetatable(G, { __metatable = false })

-- Every proxy of the current host table: the only parts of it a script can hold.
local proxies = {}
local proxy, pristine = shim.proxy, shim.pristine

local function readonly(real, path)
  local p = proxy(real, path, {
    __index = real,
    __newindex = function(_, k) error("host" .. path .. " is read-only (cannot set '" .. tostring(k) .. "')", 2) end,
    __len = function() return #real end,
  })
  proxies[#proxies + 1] = p
  return p
end

local function bytes(s)
  if type(s) ~= "string" then error("host.bytes expects a string, got " .. type(s), 2) end
  return setmetatable({ s }, bytesmt)
end

-- host.display(data, mime): data (a string: Lua strings hold bytes, or host.bytes(s)) kept
-- as a rich output of that media type, in order with print (src/lang/output.ts). The core
-- keeps it: no host function runs, so no capability is needed (like print).
local function display(data, mime)
  if type(mime) ~= "string" then error("host.display(data, mime): mime must be a string such as 'image/png' or 'text/html'", 2) end
  local ok, err = hostcall("@display", data, mime)
  if not ok then error(err, 2) end
end

-- The message handler of every request: the error, its text and where it happened, boxed.
-- It runs inside the request's protected call, so a __tostring here is stopped like any
-- script code.
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

local current

-- Builds a new host table from the list of granted function names (dotted), or from the
-- last list when called with none. With false: the current table while the shim says no
-- script changed it (a Lua 5.4 table cannot refuse rawset), else a new one, so what a
-- script set on the last one is gone.
local function build(names)
  if names == false then
    if current ~= nil and pristine(proxies) then return current end
    names = nil
  end
  if names ~= nil then
    local copy = {}
    for i = 1, #names do copy[i] = names[i] end
    granted = copy
  end
  local root = { bytes = bytes, display = display }
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
  proxies = {}
  current = freeze(root, "")
  return current
end

return build, msgh, function(v) return tostring(v) end, function(o, k) return o[k] end
