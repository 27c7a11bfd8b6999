"""/api/events: every run's events to an open page, as server-sent events."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tf_style.web.events import CLOSED

# A comment line on the event stream this often keeps proxies and the browser from closing it.
KEEPALIVE_SECONDS = 15.0


async def events(request: Request) -> Response:
    hub = request.app.state.hub
    queue, last_steps = hub.subscribe()

    async def stream():
        try:
            yield "retry: 2000\n\n"
            for event in last_steps:
                yield _sse(event)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is CLOSED:  # the server is stopping
                    return
                yield _sse(event)
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: dict) -> str:
    return f"data: {json.dumps(event)}\n\n"


ROUTES = [Route("/api/events", events)]
