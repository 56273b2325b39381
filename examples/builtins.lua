-- Built-in host functions from Lua. Run:
--   scriptbox run examples/builtins.lua --allow log,kv.*,channel.*
host.log("starting")
host.kv.set("visits", host.kv.get("visits", 0) + 1)
host.channel.send("events", { kind = "visit" })
return { host.kv.get("visits"), host.channel.receive("events", 0.1), host.kv.keys("") }
