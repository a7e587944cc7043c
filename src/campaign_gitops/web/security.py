"""Who may read and who may change: the token, the session cookie and the CSRF check.

- No token configured (the default, loopback only): anyone who can reach the port reads;
  the ``Host`` header must be a loopback name (defeats DNS rebinding).
- Token configured (``CAMPAIGN_GITOPS_UI_TOKEN``; required to listen on anything but
  loopback, and then it must be strong: ``token_weakness``): every request but ``/login``
  and ``/static`` needs ``Authorization: Bearer <token>`` or the session cookie the login
  form sets (HttpOnly, SameSite=Strict; a signed, expiring session id whose session is
  kept in the database, ``web/sessions.py``: logout and a new token revoke it). ``POST
  /login`` is rate limited per client address (a token bucket).
- Every state-changing request (POST) also passes a CSRF check, *double submit*: the
  ``cg_csrf`` cookie (random, HttpOnly, SameSite=Strict, set on the first response) must
  equal the ``X-CSRF-Token`` header or the ``csrf_token`` form field, which the pages
  embed. A method no route takes is left to the router (405 with ``Allow``). A request
  that authenticates with the bearer header is exempt (browsers never
  attach that header cross-site, and the app enables no CORS). An ``Origin`` header, when
  sent, must name this host.
- Public routes (``web/public.py``: webhooks, unsubscribe links) skip both, and the
  Host check (a reverse proxy serves them under ``publicUrl``): they check their own
  signature.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match

from campaign_gitops.web.public import is_public
from campaign_gitops.web.ratelimit import TokenBucket
from campaign_gitops.web.sessions import Sessions

TOKEN_ENV = "CAMPAIGN_GITOPS_UI_TOKEN"
SESSION_COOKIE = "cg_session"
CSRF_COOKIE = "cg_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/login", "/static/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MIN_TOKEN_LENGTH = 32
MIN_TOKEN_BITS = 128
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
LOGIN_ATTEMPTS_PER_MINUTE = 10  # per client address; as many at once


def token_weakness(token: str) -> str | None:
    """Why ``token`` is too weak to guard a server beyond loopback, or None.

    At least 32 characters, at least 128 bits by the size of the character classes it
    uses (digits 10, lower 26, upper 26, other 32 per character), and not repetitive
    (at least 3 bits per character by its own letter frequencies, no repeated pattern).
    """
    if len(token) < MIN_TOKEN_LENGTH:
        return f"it has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are needed"
    pool = sum(size for chars, size in ((str.isdigit, 10), (str.islower, 26),
                                        (str.isupper, 26)) if any(map(chars, token)))
    pool += 32 if any(not (c.isascii() and c.isalnum()) for c in token) else 0
    if len(token) * math.log2(pool) < MIN_TOKEN_BITS:
        return (f"it has about {len(token) * math.log2(pool):.0f} bits of entropy; at "
                f"least {MIN_TOKEN_BITS} are needed (use more kinds of characters)")
    counts = Counter(token).values()
    per_char = -sum(n / len(token) * math.log2(n / len(token)) for n in counts)
    periodic = any(token == (token[:p] * (len(token) // p + 1))[:len(token)]
                   for p in range(1, len(token) // 2 + 1))
    if per_char < 3.0 or periodic:
        return "it is repetitive (a few characters or a repeated pattern)"
    return None


@dataclass(frozen=True, slots=True)
class Security:
    token: str | None = None
    allowed_hosts: tuple[str, ...] | None = None  # None: any Host header
    secure_cookies: bool = False
    sessions: Sessions | None = None  # set whenever token is
    login_limit: TokenBucket | None = None  # POST /login per client address

    def bearer_ok(self, request: Request) -> bool:
        if self.token is None:
            return False
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode())

    def authenticated(self, request: Request) -> bool:
        """No token, the bearer header, or a live session cookie (reads the database)."""
        if self.token is None or self.bearer_ok(request):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and self.sessions is not None and self.sessions.valid(cookie)

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


def wants_json(request: Request) -> bool:
    """API and webhook paths, and clients asking for JSON, get JSON errors; pages HTML."""
    return request.url.path.startswith(("/api/", "/hooks/")) or \
        "application/json" in request.headers.get("accept", "")


def _routed(request: Request) -> bool:
    """Some route takes this path *and* method (else the router answers 404 or 405)."""
    return any(route.matches(request.scope)[0] == Match.FULL
               for route in request.app.router.routes)


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
        elif not open_path and not await run_in_threadpool(security.authenticated, request):
            if wants_json(request):
                response = JSONResponse({"detail": "authentication required"},
                                        status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
            else:
                response = RedirectResponse("/login", status_code=303)
        elif request.method in UNSAFE_METHODS and _routed(request) and \
                not await csrf_ok(request, security):
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
