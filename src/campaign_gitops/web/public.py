"""Public routes: reached by other machines, outside the UI token and the CSRF check.

Every path under ``PUBLIC_PREFIXES`` authenticates itself (a webhook signature, a signed
token in the URL); the security middleware (``web/security.py``) lets them through
without the UI's bearer token or session cookie, and without the CSRF double submit
(a webhook has no cookie).

``POST /hooks/git`` (``reconcile --repo ... --ui-port ...``): a push webhook from GitHub
(``X-Hub-Signature-256``: ``sha256=`` HMAC-SHA256 of the raw body) or GitLab
(``X-Gitlab-Token``: the secret itself, compared in constant time), the secret from
``CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET``. A bad or missing signature: 401. A push to
another ref: 202 with the reason it is ignored. A push to the followed ref: 202, and
the daemon fetches at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

PUBLIC_PREFIXES: tuple[str, ...] = ("/hooks/",)
WEBHOOK_SECRET_ENV = "CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET"
MAX_BODY = 5 * 1024 * 1024  # bytes; a push payload is far smaller


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def github_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_push(secret: str, body: bytes, headers: Any) -> str | None:
    """Which sender's check passed ("github" or "gitlab"), or None."""
    signature = headers.get("x-hub-signature-256")
    if signature is not None:
        return "github" if hmac.compare_digest(signature.strip().encode(),
                                               github_signature(secret, body).encode()) else None
    token = headers.get("x-gitlab-token")
    if token is not None:
        return "gitlab" if hmac.compare_digest(token.encode(), secret.encode()) else None
    return None


def git_hook_router(trigger: Callable[[str], None], matches: Callable[[str], bool],
                    followed: str, secret: str | None) -> APIRouter:
    """``POST /hooks/git``; ``trigger(reason)`` asks the daemon to fetch now."""
    router = APIRouter()

    @router.post("/hooks/git", include_in_schema=False)
    async def git_push(request: Request) -> JSONResponse:
        if not secret:
            return JSONResponse({"detail": f"webhooks are off: set {WEBHOOK_SECRET_ENV}"},
                                status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": "payload too large"}, status_code=413)
        sender = verify_push(secret, body, request.headers)
        if sender is None:
            return JSONResponse({"detail": "bad or missing signature (X-Hub-Signature-256 "
                                 "or X-Gitlab-Token)"}, status_code=401)
        if request.headers.get("x-github-event") == "ping":
            return JSONResponse({"pong": True})
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return JSONResponse({"detail": "the body is not JSON (GitHub: content type "
                                 "application/json)"}, status_code=400)
        ref = payload.get("ref") if isinstance(payload, dict) else None
        if not isinstance(ref, str) or not ref:
            return JSONResponse({"ignored": "not a push event (no ref)"}, status_code=202)
        if not matches(ref):
            return JSONResponse({"ignored": f"push to {ref}; following {followed}"},
                                status_code=202)
        trigger(f"{sender} push to {ref}")
        return JSONResponse({"fetching": True, "ref": ref}, status_code=202)

    return router
