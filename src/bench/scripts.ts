/**
 * The script side of every workload, once per language: the same functions with the same
 * names, so a workload is written once and runs on every target.
 */
import type { Language } from '../engine/types.js';

const PYTHON = `
import json, host

def noop():
    pass

class Obj:
    def noop(self):
        pass

def same(v):
    return v

def add(a, b):
    return a + b

def hc(n):
    echo = host.echo
    for i in range(n):
        echo(i)

async def ahc(n):
    echo = host.aio.echo
    for i in range(n):
        await echo(i)

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

_doc = json.dumps([{"id": i, "name": "item %d" % i, "tags": ["a", "b", "c"], "score": i * 1.5, "ok": i % 2 == 0} for i in range(1300)], separators=(",", ":"))

def json_roundtrip():
    return len(json.dumps(json.loads(_doc), separators=(",", ":")))

def doc_bytes():
    return len(_doc)
`;

// Lua has no JSON library: a small encoder and decoder for the benchmark's own document
// (ASCII, no escapes), written the way a script author would.
const LUA = `
function noop() end
Obj = {}
Obj.__index = Obj
function Obj.new() return setmetatable({}, Obj) end
function Obj:noop() end
function same(v) return v end
function add(a, b) return a + b end
function hc(n)
  local echo = host.echo
  for i = 1, n do echo(i) end
end
function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end

local function enc(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        enc(v[i], out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      for k, x in pairs(v) do
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = '"' .. k .. '":'
        enc(x, out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then out[#out + 1] = '"' .. v .. '"'
  else out[#out + 1] = tostring(v) end
end

local function dec(s)
  local pos = 1
  local function ws() pos = s:find("[^ \\t\\r\\n]", pos) or #s + 1 end
  local function str()
    local e = s:find('"', pos + 1, true)
    local r = s:sub(pos + 1, e - 1)
    pos = e + 1
    return r
  end
  local val
  function val()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local o = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return o end
      while true do
        ws()
        local k = str()
        ws()
        pos = pos + 1
        o[k] = val()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return o end
      end
    elseif c == "[" then
      local a = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return a end
      while true do
        a[#a + 1] = val()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return a end
      end
    elseif c == '"' then return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4 return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5 return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4 return nil
    else
      local e = s:find("[,%]}%s]", pos) or #s + 1
      local n = tonumber(s:sub(pos, e - 1))
      pos = e
      return n
    end
  end
  return val()
end

local items = {}
for i = 0, 1299 do
  items[#items + 1] = { id = i, name = "item " .. i, tags = { "a", "b", "c" }, score = i * 1.5, ok = i % 2 == 0 }
end
local out = {}
enc(items, out)
local doc = table.concat(out)

function json_roundtrip()
  local o = {}
  enc(dec(doc), o)
  return #table.concat(o)
end
function doc_bytes() return #doc end
`;

export const BENCH_SCRIPT: Record<Language, string> = { python: PYTHON, lua: LUA };

/** An endless loop, per language. */
export const ENDLESS: Record<Language, string> = { python: 'while True:\n    pass', lua: 'while true do end' };

/** The smallest exec with a result, per language. */
export const FIRST: Record<Language, string> = { python: '1 + 1', lua: 'return 1 + 1' };

/** Code stuck in C, where the interrupt is never looked at: only a kill ends it. */
export const STUCK: Record<Language, string> = {
  python: 'sum(range(10**15))',
  lua: 'return string.rep("a", 40000):find(".-.-.-.-.-.-b")',
};
