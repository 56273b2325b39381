# Host calls from asyncio: host.aio.* does not block, so gather() runs them together.
# This form also works on pages without cross-origin isolation (postMessage only).
# Run: scriptbox run examples/async-host.py --allow kv.*
import asyncio
import host

await host.aio.kv.set("greeting", "hello")
await host.aio.kv.set("target", "world")
greeting, target = await asyncio.gather(host.aio.kv.get("greeting"), host.aio.kv.get("target"))
print(greeting, target)
f"{greeting}, {target}!"
