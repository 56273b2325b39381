-- A visit counter in the shared kv store: Python's counter.py bumps the same key.
-- Run: scriptbox run examples/counter.lua --allow kv.*
local visits = host.kv.get("visits", 0) + 1
host.kv.set("visits", visits)
host.kv.set("last", { by = "lua", visits = visits })
print("visit number " .. visits)
return visits
