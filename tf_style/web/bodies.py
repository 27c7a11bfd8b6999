"""Reading a request's body: settings as a small JSON object, any body cut off when it
stalls."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

from starlette.requests import Request

from tf_style.web.errors import Refused, Stalled, TooLarge

MAX_JSON_BYTES = 64 * 1024
# A request body (an upload, settings) that sends nothing for this long is dropped: a
# stalled client holds a connection, and an upload a file.
STALLED_BODY_SECONDS = 60.0


async def read_json(request: Request) -> dict:
    """The request's JSON object; Refused when it is not JSON, nested deeper than Python's
    parser goes, or not an object; TooLarge past MAX_JSON_BYTES; Stalled."""
    body = b""
    async for chunk in chunks(request):
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise TooLarge("the request is too large for settings")
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise Refused("the request body is not JSON") from None
    except RecursionError:
        raise Refused("the request body is JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise Refused("the settings must be a JSON object")
    return value


async def chunks(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks as they come; Stalled when none comes for STALLED_BODY_SECONDS."""
    iterator = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), STALLED_BODY_SECONDS)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise Stalled(f"the request sent nothing for {STALLED_BODY_SECONDS:g} s") from None
        yield chunk
