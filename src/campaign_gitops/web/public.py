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

``/u/{token}`` (every email's unsubscribe link, ``recipients_router``): ``GET`` shows a
page naming the sender with a confirm button and changes nothing (mail scanners
prefetch links); ``POST`` (the button, or RFC 8058's ``List-Unsubscribe=One-Click`` with
no cookie) suppresses the contact for the client, commits, then answers 200; again: 200,
nothing new. A token no key verifies: 404, nothing changed. A test run's token: 200,
nobody suppressed.

``POST /hooks/inbound``: SMS/voice provider events (inbound/webhook.py), signed with the
secret ``inbound.webhook.secretEnv`` names; a bad signature is 401 and changes nothing.

Both are rate limited per client (``inbound.rateLimitPerMinute``, default 60):
429 with ``Retry-After`` beyond it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from campaign_gitops.web.ratelimit import TokenBucket, retry_after

if TYPE_CHECKING:
    from campaign_gitops.config.project import ProjectConfig
    from campaign_gitops.inbound.tokens import Signer
    from campaign_gitops.state.db import Database

PUBLIC_PREFIXES: tuple[str, ...] = ("/hooks/", "/u/")
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


# ---------------------------------------------------------------- recipients


def sender_name(client: str) -> str:
    return client.replace("-", " ").title()


def recipients_router(db: Database, config: ProjectConfig | None, templates: Any,
                      signer: Signer | None = None,
                      environ: Mapping[str, str] | None = None,
                      clock: Callable[[], dt.datetime] | None = None,
                      monotonic: Callable[[], float] = time.monotonic) -> APIRouter:
    """``/u/{token}`` and ``POST /hooks/inbound``; ``clock`` stamps what they record,
    ``monotonic`` (seconds) drives the rate limit."""
    from campaign_gitops.inbound import webhook
    from campaign_gitops.inbound.suppressions import suppress
    from campaign_gitops.inbound.tokens import Signer as _Signer, Unsubscribe
    from campaign_gitops.runs.inbound import handle_event
    from campaign_gitops.runs.replies import ReplyInput, add_reply, already_recorded

    env = os.environ if environ is None else environ
    signer = signer if signer is not None else _Signer.from_env(env)
    inbound = config.inbound if config is not None else None
    limit = TokenBucket.per_minute(inbound.rate_limit_per_minute if inbound else 60,
                                   monotonic)
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    router = APIRouter()

    def page(request: Request, status: int, **context: Any) -> Any:
        return templates.TemplateResponse(request, "unsubscribe.html", context,
                                          status_code=status)

    def not_found(request: Request) -> Any:
        return page(request, 404, state="invalid")

    def too_many(wait: float) -> JSONResponse:
        return JSONResponse({"detail": "too many requests for this sender; try again "
                             "later"}, status_code=429,
                            headers={"Retry-After": retry_after(wait)})

    def verified(request: Request, token: str) -> Any:
        """The token's content, or the answer refusing it (404, 429)."""
        what = signer.verify(token) if signer is not None else None
        if what is None:
            return not_found(request)
        wait = limit.take(what.client)
        if wait:
            return too_many(wait)
        return what

    @router.get("/u/{token}", include_in_schema=False)
    def unsubscribe_page(request: Request, token: str) -> Any:
        what = verified(request, token)
        if not isinstance(what, Unsubscribe):
            return what
        return page(request, 200, state="confirm", sender=sender_name(what.client),
                    test=what.test, action=f"/u/{token}")

    @router.post("/u/{token}", include_in_schema=False)
    def unsubscribe(request: Request, token: str) -> Any:
        what = verified(request, token)
        if not isinstance(what, Unsubscribe):
            return what
        if not what.test:
            at = now()
            external = f"u:{what.client}:{what.message}"
            try:
                with db.session() as session:  # committed before the answer
                    suppress(session, what.client, what.contact, reason="unsubscribe",
                             source="link", actor="link", now=at)
                    if not already_recorded(session, external):
                        add_reply(session, ReplyInput(
                            contact=what.contact, kind="unsubscribe", external_id=external,
                            source="link", actor="link", message_key=what.message,
                            client=what.client, channel="email"), now=at)
            except IntegrityError:  # the same link POSTed twice at once: the other
                pass                # request committed both (one transaction)
        return page(request, 200, state="done", sender=sender_name(what.client),
                    test=what.test)

    @router.post("/hooks/inbound", include_in_schema=False)
    async def inbound_hook(request: Request) -> JSONResponse:
        secret_env = inbound.webhook.secret_env if inbound and inbound.webhook else None
        secret = env.get(secret_env) if secret_env else None
        if not secret:
            return JSONResponse({"detail": "the inbound webhook is off: set "
                                 "inbound.webhook.secretEnv in campaign-gitops.yaml and that "
                                 "variable"}, status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": "payload too large"}, status_code=413)
        if not webhook.verify(secret, body, request.headers.get(webhook.SIGNATURE_HEADER)):
            return JSONResponse({"detail": f"bad or missing {webhook.SIGNATURE_HEADER}"},
                                status_code=401)
        try:
            event = webhook.parse(body)
        except webhook.BadEvent as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return await run_in_threadpool(_apply_event, event)

    def _apply_event(event: Any) -> JSONResponse:
        from campaign_gitops.inbound.suppressions import normalize_contact

        key = _event_client(db, normalize_contact(event.sender))
        wait = limit.take(key)
        if wait:
            return too_many(wait)
        with db.session() as session:
            answer = handle_event(session, event, now=now())
        return JSONResponse(answer)

    return router


def _event_client(db: Database, number: str) -> str:
    """The rate limit's key for an event: the client the number's lead belongs to."""
    from sqlalchemy import select

    from campaign_gitops.state.tables import Lead

    with db.reading() as session:
        client = session.execute(select(Lead.client).where(
            Lead.phone == number).limit(1)).scalar()
    return client or "(unknown)"
