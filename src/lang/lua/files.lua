-- Mounts as files for Lua: `io.open` and `io.lines` on mounted paths (the core loads this
-- after the prelude, only when the engine has mounts). Nothing here touches a file system:
-- every lookup, read and write is a host call to the fs built-ins (src/node/mounts.ts), so
-- the host checks each one (capability fs.read / fs.write, read-only mounts, no escape by
-- `..`, symlinks or absolute paths, only regular files). Data moves in positioned chunks of
-- at most `chunk` bytes; a file keeps one read chunk, and writes go through at once.
-- It gets:
--   hostcall  the prelude's C function: hostcall(name, ...) answers (true, value) or
--             (false, "Type: message"), never raises
--   chunk     the most one host call moves
-- Like the prelude, it takes every library function it calls as a local before any script
-- runs: a script that replaces `string.find` changes nothing here.
local hostcall, chunk = ...
local G = _G
local type, error, tostring, tonumber, select = type, error, tostring, tonumber, select
local setmetatable, getmetatable = setmetatable, getmetatable
local sub, find, match, gsub = string.sub, string.find, string.match, string.gsub
local concat, unpack = table.concat, table.unpack

local REASONS = {
  ENOENT = "No such file or directory",
  ENOTDIR = "Not a directory",
  EISDIR = "Is a directory",
  EEXIST = "File exists",
  ENOTEMPTY = "Directory not empty",
}

-- A host op: its value, or nil and why (an ordinary condition, or the host's refusal text).
local function op(name, ...)
  local ok, v = hostcall(name, ...)
  if not ok then return nil, v end
  if type(v) == "table" and type(v.errno) == "string" then return nil, REASONS[v.errno] or v.errno end
  return v
end

local methods = {}
local filemt = { __index = methods, __name = "FILE*" }
filemt.__tostring = function(f)
  if f.closed then return "file (closed)" end
  return "file (" .. f.path .. ")"
end

local function new(path, readable, writable, append, pos)
  return setmetatable({ path = path, readable = readable, writable = writable, append = append,
                        pos = pos, buf = "", bufat = 0 }, filemt)
end

local function live(f)
  if getmetatable(f) ~= filemt then error("bad argument #1 (file expected)", 3) end
  if f.closed then error("attempt to use a closed file", 3) end
  return f
end

-- The bytes from f.pos on that the buffer holds, fetching a chunk when it holds none;
-- "" at the end of the file, or nil and why.
local function ahead(f)
  local from = f.pos - f.bufat
  if from >= 0 and from < #f.buf then return sub(f.buf, from + 1) end
  local data, why = op("fs.pread", f.path, f.pos, chunk)
  if data == nil then return nil, why end
  f.buf, f.bufat = data, f.pos
  return data
end

local function readbytes(f, n)
  local parts, got = {}, 0
  while got < n do
    local data, why = ahead(f)
    if data == nil then return nil, why end
    if data == "" then break end
    local take = sub(data, 1, n - got)
    parts[#parts + 1] = take
    got = got + #take
    f.pos = f.pos + #take
  end
  if got == 0 and n > 0 then return nil end
  return concat(parts)
end

local function readline(f, keep)
  local parts = {}
  while true do
    local data, why = ahead(f)
    if data == nil then return nil, why end
    if data == "" then
      if #parts == 0 then return nil end
      return concat(parts)
    end
    local nl = find(data, "\n", 1, true)
    if nl then
      parts[#parts + 1] = sub(data, 1, keep and nl or nl - 1)
      f.pos = f.pos + nl
      return concat(parts)
    end
    parts[#parts + 1] = data
    f.pos = f.pos + #data
  end
end

local function readall(f)
  local parts = {}
  while true do
    local data, why = ahead(f)
    if data == nil then return nil, why end
    if data == "" then return concat(parts) end
    parts[#parts + 1] = data
    f.pos = f.pos + #data
  end
end

-- A number: leading space skipped, then the longest run of numeral characters (at most 200).
local function readnumber(f)
  local text = ""
  while true do
    local c = readbytes(f, 1)
    if c == nil then break end
    if text == "" and find(c, "^%s$") then
      text = ""
    elseif find(c, "^[%w%.%+%-]$") and #text < 200 then
      text = text .. c
    else
      f.pos = f.pos - 1
      break
    end
  end
  return tonumber(text)
end

local function readone(f, fmt)
  if type(fmt) == "number" then
    if fmt <= 0 then
      local data = ahead(f)
      return (data ~= nil and data ~= "") and "" or nil
    end
    return readbytes(f, fmt)
  end
  if type(fmt) ~= "string" then error("bad argument to 'read' (invalid format)", 3) end
  local c = sub(gsub(fmt, "^%*", ""), 1, 1)
  if c == "a" then return readall(f) end
  if c == "l" then return readline(f, false) end
  if c == "L" then return readline(f, true) end
  if c == "n" then return readnumber(f) end
  error("bad argument to 'read' (invalid format '" .. fmt .. "')", 3)
end

local function reads(f, ...)
  if not f.readable then return nil, f.path .. ": Bad file descriptor" end
  local n = select("#", ...)
  if n == 0 then return readone(f, "l") end
  local out = {}
  for i = 1, n do
    local v, why = readone(f, (select(i, ...)))
    if v == nil then
      if why then return nil, f.path .. ": " .. why end
      out[i] = nil
      return unpack(out, 1, i)
    end
    out[i] = v
  end
  return unpack(out, 1, n)
end

function methods.read(f, ...)
  return reads(live(f), ...)
end

function methods.write(f, ...)
  live(f)
  if not f.writable then return nil, f.path .. ": Bad file descriptor" end
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    if type(s) == "number" then s = tostring(s)
    elseif type(s) ~= "string" then error("bad argument #" .. i .. " to 'write' (string expected, got " .. type(s) .. ")", 2) end
    if f.append then
      local st, why = op("fs.stat", f.path)
      if st == nil then return nil, f.path .. ": " .. why end
      f.pos = st.size
    end
    local at = 1
    while at <= #s do
      local part = sub(s, at, at + chunk - 1)
      local n, why = op("fs.pwrite", f.path, f.pos, part)
      if n == nil then return nil, f.path .. ": " .. why end
      f.pos = f.pos + #part
      at = at + #part
    end
    f.buf = "" -- what was read ahead may be stale now
  end
  return f
end

function methods.seek(f, whence, offset)
  live(f)
  whence, offset = whence or "cur", offset or 0
  local base
  if whence == "set" then base = 0
  elseif whence == "cur" then base = f.pos
  elseif whence == "end" then
    local st, why = op("fs.stat", f.path)
    if st == nil then return nil, f.path .. ": " .. why end
    base = st.size
  else error("bad argument #1 to 'seek' (invalid option '" .. tostring(whence) .. "')", 2) end
  if type(offset) ~= "number" or base + offset < 0 then return nil, "Invalid argument" end
  f.pos = base + offset
  return f.pos
end

function methods.lines(f, ...)
  live(f)
  local n, fmts = select("#", ...), { ... }
  return function()
    if n == 0 then return reads(f, "l") end
    return reads(f, unpack(fmts, 1, n))
  end
end

function methods.close(f)
  live(f).closed = true
  f.buf = ""
  return true
end

function methods.flush(f)
  return live(f)
end

function methods.setvbuf(f)
  live(f)
  return true
end

local function open(path, mode)
  if type(path) ~= "string" then error("bad argument #1 to 'open' (string expected, got " .. type(path) .. ")", 2) end
  mode = mode or "r"
  local m, plus = match(type(mode) == "string" and mode or "", "^([rwa])(%+?)b?$")
  if not m then error("bad argument #2 to 'open' (invalid mode '" .. tostring(mode) .. "')", 2) end
  local ok, why
  if m == "r" then
    local st
    st, why = op("fs.stat", path)
    ok = st ~= nil and st.type == "file"
    why = why or (st.type == "dir" and "Is a directory" or "PermissionError: not a regular file; only regular files can be read")
  else
    ok, why = op("fs.create", path)
    ok = ok ~= nil or why == nil
    if ok and m == "w" then
      ok, why = op("fs.truncate", path, 0)
      ok = ok ~= nil or why == nil
    end
  end
  if not ok then return nil, path .. ": " .. tostring(why) end
  return new(path, m == "r" or plus == "+", m ~= "r" or plus == "+", m == "a", 0)
end

local function lines(path, ...)
  if path == nil then error("io.lines() reads standard input, which this engine does not have; give a mounted path", 2) end
  local f, why = open(path, "r")
  if not f then error(why, 2) end
  local n, fmts = select("#", ...), { ... }
  return function()
    if f.closed then return nil end
    local v, err
    if n == 0 then v, err = reads(f, "l")
    else v, err = reads(f, unpack(fmts, 1, n)) end
    if err then error(err, 2) end
    if v == nil then methods.close(f) end
    return v
  end
end

local io = G.io
if type(io) ~= "table" then io = {}; G.io = io end
io.open, io.lines = open, lines
io.type = function(obj)
  if getmetatable(obj) ~= filemt then return nil end
  return obj.closed and "closed file" or "file"
end
