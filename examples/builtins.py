# Built-in host functions from Python. Run:
#   scriptbox run examples/builtins.py --allow log,kv.*,channel.*
import host

host.log("starting")
host.kv.set("visits", host.kv.get("visits", 0) + 1)
host.channel.send("events", {"kind": "visit"})
[host.kv.get("visits"), host.channel.receive("events", 0.1), host.kv.keys("")]
