"""Who may read and who may change: the token, the session cookie and the CSRF check.

- No token configured (the default, loopback only): anyone who can reach the port reads;
  the ``Host`` header must be a loopback name (defeats DNS rebinding).
- Token configured (``CAMPAIGN_GITOPS_UI_TOKEN``; required to listen on anything but
  loopback): every request but ``/login`` and ``/static`` needs ``Authorization: Bearer
  <token>`` or the session cookie the login form sets (HttpOnly, SameSite=Strict; its
  value is an HMAC of the token, never the token itself).
- Every state-changing request (POST) also passes a CSRF check, *double submit*: the
  ``cg_csrf`` cookie (random, HttpOnly, SameSite=Strict, set on the first response) must
  equal the ``X-CSRF-Token`` header or the ``csrf_token`` form field, which the pages
  embed. A request that authenticates with the bearer header is exempt (browsers never
  attach that header cross-site, and the app enables no CORS). An ``Origin`` header, when
  sent, must name this host.
- Public routes (``web/public.py``: webhooks, unsubscribe links) skip both, and the
  Host check (a reverse proxy serves them under ``publicUrl``): they check their own
  signature.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from campaign_gitops.web.public import is_public

TOKEN_ENV = "CAMPAIGN_GITOPS_UI_TOKEN"
SESSION_COOKIE = "cg_session"
CSRF_COOKIE = "cg_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
OPEN_PATHS = ("/login", "/static/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass(frozen=True, slots=True)
class Security:
    token: str | None = None
    allowed_hosts: tuple[str, ...] | None = None  # None: any Host header
    secure_cookies: bool = False

    def session_value(self) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), b"campaign-gitops-ui-session",
                        hashlib.sha256).hexdigest()

    def bearer_ok(self, request: Request) -> bool:
        if self.token is None:
            return False
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode())

    def authenticated(self, request: Request) -> bool:
        if self.token is None or self.bearer_ok(request):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.session_value().encode())

    def check_token(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(),
                                                              self.token.encode())


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body as a dict (first value of each field)."""
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def csrf_ok(request: Request, security: Security) -> bool:
    if security.bearer_ok(request):
        return True
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER) or (await form_fields(request)).get(CSRF_FIELD, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), given.encode())


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", "")


def middleware(security: Security) -> Callable[[Request, Callable[[Request],
                                                Awaitable[Response]]], Awaitable[Response]]:
    async def guard(request: Request,
                    call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if security.allowed_hosts is not None and not is_public(request.url.path) and \
                _host_name(request) not in security.allowed_hosts:
            return JSONResponse({"detail": "host not allowed"}, status_code=400)
        new_csrf = None
        request.state.csrf = request.cookies.get(CSRF_COOKIE) or ""
        if not request.state.csrf:
            new_csrf = request.state.csrf = secrets.token_urlsafe(24)
        path = request.url.path
        open_path = path == "/login" or path.startswith("/static/")
        response: Response
        if is_public(path):  # authenticates itself (signature, signed token): web/public.py
            response = await call_next(request)
        elif not open_path and not security.authenticated(request):
            if _wants_json(request):
                response = JSONResponse({"detail": "authentication required"},
                                        status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
            else:
                response = RedirectResponse("/login", status_code=303)
        elif request.method in UNSAFE_METHODS and not await csrf_ok(request, security):
            response = JSONResponse({"detail": "CSRF check failed: send the cg_csrf cookie's "
                                     "value as X-CSRF-Token (or the csrf_token field)"},
                                    status_code=403)
        else:
            response = await call_next(request)
        if new_csrf:
            response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, samesite="strict",
                                secure=security.secure_cookies, path="/")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'")
        return response

    return guard
