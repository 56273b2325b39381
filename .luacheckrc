-- luacheck for the guest Lua (test/lint/guest-lua.test.ts): the shared prelude and the
-- per-version shims under src/lang/lua/, and any Lua a backend keeps beside its code.
-- Same width as Prettier's.
max_line_length = 140

-- The globals a script finds in the sandbox once the prelude ran (src/lang/lua/prelude.lua),
-- for linting scripts written for ScriptBox (`luacheck --std scriptbox`). The wasm backend
-- (Lua 5.4) has all of them; LuaJIT lacks `rawlen` and `utf8` and adds `loadstring` and `unpack`.
stds.scriptbox = {
  read_globals = {
    "host", "print", "load", "collectgarbage", "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
    "rawget", "rawlen", "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type", "xpcall",
    "coroutine", "math", "string", "table", "utf8", "_VERSION",
    os = { fields = { "clock", "time", "date", "difftime" } },
    -- Only where the host gives it something: onInput (io.read) or mounts (io.open, io.lines, io.type).
    io = { fields = { "read", "open", "lines", "type" } },
  },
}

-- The shared prelude runs on both versions: only what Lua 5.1 and 5.4 both have, plus the
-- globals it removes (it sets them to nil) and the library fields it changes.
files["src/lang/lua/prelude.lua"] = {
  std = "min",
  globals = { "module", "jit", "newproxy", "setfenv", "getfenv", "gcinfo", "warn", "string.dump" },
  read_globals = { "table.unpack" },
}
files["src/lang/lua/shim-5.4.lua"] = { std = "lua54" }
-- The LuaJIT shim adds 5.4's table.pack / table.unpack and a text-only loadstring.
files["src/lang/lua/shim-jit.lua"] = { std = "luajit", globals = { "table.unpack", "table.pack", "loadstring" } }
-- RedisStore's scripts (src/state/redis/) run inside Redis: Lua 5.1 with its `redis`, KEYS and ARGV.
files["src/state/redis/*.lua"] = { std = "lua51", read_globals = { "redis", "KEYS", "ARGV" } }
