"""Mounting /metrics in an ASGI application (FastAPI/Starlette style).

With FastAPI::

    app = FastAPI()
    app.mount("/metrics", make_asgi_app())

then run with ``uvicorn examples.asgi_app:app``. The scheduler starts with the app's event loop.
"""

from __future__ import annotations

from typing import Any

from obssched.observability import make_asgi_app
from obssched.schedulers.asyncio import AsyncIOScheduler

metrics = make_asgi_app()
scheduler = AsyncIOScheduler()
scheduler.add_job(print, "interval", seconds=5, args=["tick"], name="tick")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve /metrics and /healthz from obssched; start the scheduler with the server."""
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            scheduler.start()
            await send({"type": "lifespan.startup.complete"})
        message = await receive()
        scheduler.shutdown()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await metrics(scope, receive, send)
