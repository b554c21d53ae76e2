"""The least a gateway can do: an ASGI app that forwards the body to the upstream and returns its answer.

The gateway benchmark runs it as the floor Switchyard is measured against (same ASGI server, same client
library, same upstream): no auth, no translation, no accounting. Upstream: $BARE_FORWARDER_UPSTREAM.
"""

import os

import aiohttp

UPSTREAM = os.environ.get("BARE_FORWARDER_UPSTREAM", "http://127.0.0.1:9100/v1/chat/completions")
_session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global _session
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    headers = {"content-type": "application/json", "authorization": "Bearer mock-key"}
    async with _session.post(UPSTREAM, data=b"".join(chunks), headers=headers) as upstream:
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": [(b"content-type", upstream.headers.get("content-type", "application/json").encode())],
            }
        )
        async for data in upstream.content.iter_any():
            await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
