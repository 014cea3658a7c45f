"""Who may see the dashboard and act through it.

* **Bind**: 127.0.0.1 by default. Any other address needs a token (the
  server refuses to start without one, :func:`check_bind`).
* **Token**: with one, every page and API call needs it, as
  ``Authorization: Bearer TOKEN`` or the HttpOnly, SameSite=Strict cookie the
  login form sets (its value is derived from the token, never the token).
* **Host header**: without a token the dashboard answers only requests
  addressed to a loopback name, so a web page whose DNS name is rebound to
  127.0.0.1 cannot read it.
* **CSRF**: every POST (an action) carries the per-process CSRF token in an
  ``X-CSRF-Token`` header or a ``csrf`` form field, and a browser's
  ``Origin``, when sent, must be the dashboard's own. A request
  authenticated by its ``Authorization`` header needs no CSRF token: a
  cross-site page cannot set that header.
* **Headers**: a Content-Security-Policy that allows only the dashboard's
  own scripts and styles (no inline script), no framing, no sniffing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "taskloom_ui_session"
TOKEN_ENV = "TASKLOOM_UI_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Paths open without a session: the login form and the stylesheet it uses.
OPEN_PATHS = ("/login", "/static/")

HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class BindError(ValueError):
    """The dashboard may not listen where it was asked to (and says why)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if token is not None and len(token) < 8:
        raise BindError("--token: use at least 8 characters (e.g. `openssl rand -hex 16`)")
    if not is_loopback(host) and not token:
        raise BindError(
            f"--host {host}: the dashboard would be reachable from other machines, so it needs "
            f"a token: pass --token TOKEN or set ${TOKEN_ENV} (or keep the default "
            "--host 127.0.0.1)"
        )


class Security:
    """The dashboard's secrets for one process, and the checks that use them."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None
        #: Embedded in every page; POSTs must echo it.
        self.csrf_token = secrets.token_urlsafe(32)
        self.session = (
            hmac.new(self.token.encode(), b"taskloom-ui-session", hashlib.sha256).hexdigest()
            if self.token
            else None
        )

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def bearer(self, headers: Headers) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    def authenticated(self, request: Request) -> bool:
        if self.token is None:
            return True
        if self.bearer(request.headers):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return self.session is not None and hmac.compare_digest(cookie, self.session)

    def csrf_ok(self, request: Request, form_value: str | None) -> bool:
        """An action may go ahead: same origin, and the CSRF token echoed."""
        if self.token is not None and self.bearer(request.headers):
            return True
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            host = request.headers.get("host", "")
            if urlsplit(origin).netloc != host:
                return False
        elif origin == "null":
            return False
        given = request.headers.get("x-csrf-token") or form_value or ""
        return hmac.compare_digest(given.encode(), self.csrf_token.encode())

    def login_cookie(self, response: Response, secure: bool) -> None:
        assert self.session is not None
        response.set_cookie(
            COOKIE, self.session, httponly=True, samesite="strict", secure=secure, path="/"
        )


class Guard:
    """ASGI middleware: host check, authentication, security headers."""

    def __init__(self, app: ASGIApp, security: Security, loopback_only: bool) -> None:
        self.app = app
        self.security = security
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        request = Request(scope)
        path: str = scope["path"]
        if self.loopback_only and self.security.token is None:
            host = request.headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback(name):
                response: Response = PlainTextResponse(
                    f"the dashboard answers only to 127.0.0.1/localhost, not {host!r}", 400
                )
                await response(scope, receive, send_with_headers)
                return
        if not path.startswith(OPEN_PATHS) and not self.security.authenticated(request):
            if path.startswith("/api/"):
                response = JSONResponse(
                    {"error": "unauthorized: send Authorization: Bearer TOKEN"}, 401
                )
            else:
                query = scope["query_string"].decode()
                target = path + (f"?{query}" if query else "")
                response = RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path of this site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
