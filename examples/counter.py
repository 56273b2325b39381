# A visit counter in the shared kv store: Lua's counter.lua bumps the same key.
# Run: scriptbox run examples/counter.py --allow kv.*
import host

visits = host.kv.get("visits", 0) + 1
host.kv.set("visits", visits)
host.kv.set("last", {"by": "python", "visits": visits})
print(f"visit number {visits}")
visits
