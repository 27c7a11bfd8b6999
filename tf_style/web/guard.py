"""The middleware every request passes: the token, loopback Host names, same-origin
changes, and the security headers on every response."""

from __future__ import annotations

import hmac
from typing import Optional

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tf_style.web import addresses

TOKEN_COOKIE = "tf_style_token"
# On every response: no page of another site may frame this one (Start, Stop and Delete
# could be clickjacked), scripts and styles come only from our own files (the page has no
# inline ones), and the token in the address never leaves in a Referer.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def error_response(message: str, status: int) -> JSONResponse:
    """The one shape of every error: {"error": "<one line>"}."""
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: the token on every request when one is set; (bound to a loopback
    address) only loopback Host names, so another site cannot reach the server through DNS
    rebinding; no request that changes anything from a page of another origin, which a
    browser would otherwise send with the user's access (cross-site request forgery); and
    SECURITY_HEADERS on every response."""

    def __init__(self, app, token: Optional[str], loopback_only: bool):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        set_cookie = request.query_params.get("token") is not None and self.token is not None

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if set_cookie:
                    cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        refusal = self.refusal(request)
        if refusal is not None:
            set_cookie = False
            return await refusal(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)

    def refusal(self, request: Request) -> Optional[Response]:
        """The error response for a request refused here; None when it may go on."""
        host = addresses.host_name(request.headers.get("host", ""))
        if self.loopback_only and not addresses.is_loopback(host):
            return error_response(f"this server answers only to loopback names (localhost, "
                                  f"127.0.0.1, [::1]); got Host {host[:100] or 'none'}", 400)
        origin = request.headers.get("origin")
        if (request.method not in ("GET", "HEAD") and origin is not None
                and origin.split("://", 1)[-1] != request.headers.get("host", "")):
            return error_response(f"a request from another site ({origin[:100]}) is refused", 403)
        if self.token is not None:
            given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                     or request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token"))
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return error_response("missing or wrong token: open the address "
                                      "`tf-style serve` printed (it ends in ?token=...)", 401)
        return None
