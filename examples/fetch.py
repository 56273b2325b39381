# host.fetch reaches only the engine's allowedHosts; the playground allows its own origin
# and puts that origin in the config. Turn on fetch and config to run it.
# host.aio.fetch does not block, so this works on pages without cross-origin isolation too.
import host

origin = host.config.get("origin", "http://localhost:5173")
page = await host.aio.fetch(origin + "/")
print(page["status"], page["headers"].get("content-type"))
"<title>" in page["body"]
