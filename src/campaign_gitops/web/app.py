"""The FastAPI application: HTML pages, the JSON API under /api/v1, static assets.

    app = create_app(db, project=project, config=config, token=os.environ.get(TOKEN_ENV))
    serve(app, "127.0.0.1", 8080)

``campaign-gitops ui`` builds the app this way; ``reconcile --ui-port`` serves the same
app from a thread beside the daemon::

    token = os.environ.get(TOKEN_ENV) or None
    check_bind(host, token)             # refuses non-loopback without a strong token
    ui = start_in_thread(create_app(db, project=project, config=config, token=token,
                                    allowed_hosts=loopback_hosts(host, token)), host, port)
    ...
    ui.stop()                                    # on shutdown

Nothing here imports ``cli``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from campaign_gitops import __version__
from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.netloc import is_loopback
from campaign_gitops.state.db import Database
from campaign_gitops.web import api, pages
from campaign_gitops.web.core import HERE, Web, now
from campaign_gitops.web.public import recipients_router
from campaign_gitops.web.ratelimit import TokenBucket
from campaign_gitops.web.security import (
    LOGIN_ATTEMPTS_PER_MINUTE,
    MAKE_TOKEN,
    TOKEN_ENV,
    Security,
    middleware,
    token_weakness,
)
from campaign_gitops.web.sessions import DEFAULT_TTL, Clock, Sessions
from campaign_gitops.web.workspace import Workspace

API_PREFIX = "/api/v1"


def create_app(db: Database | str, *, project: Project | None = None,
               config: ProjectConfig | None = None, token: str | None = None,
               allowed_hosts: tuple[str, ...] | None = None, plan_ttl: float = 5.0,
               plan_in_background: bool = True, secure_cookies: bool = False,
               session_ttl: dt.timedelta = DEFAULT_TTL, clock: Clock | None = None,
               monotonic: Callable[[], float] = time.monotonic) -> FastAPI:
    """The web app over ``db`` (a Database or a URL) and the repo in ``project``.

    ``clock`` (aware datetimes) is what every route reads as now (next sends, today's
    sender use, review decisions, unsubscribes) and dates and expires login sessions;
    ``monotonic`` (seconds)
    drives the rate limits (``/login``, the public paths). Both default to the real
    clocks; tests pass their own.
    """
    from campaign_gitops.state.db import open_database

    database = open_database(db) if isinstance(db, str) else db
    token = token or None
    sessions = Sessions(database, token, ttl=session_ttl, clock=clock or now) \
        if token else None
    web = Web(Workspace(database, project, config, ttl=plan_ttl,
                        background=plan_in_background),
              Security(token=token, allowed_hosts=allowed_hosts,
                       secure_cookies=secure_cookies, sessions=sessions,
                       login_limit=TokenBucket.per_minute(LOGIN_ATTEMPTS_PER_MINUTE,
                                                          monotonic)),
              clock=clock)
    app = FastAPI(title="campaign-gitops", version=__version__,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None,
                  redoc_url=None, dependencies=[Depends(no_nul_bytes)],
                  description="Read-only view of campaigns, runs, communications, replies "
                              "and the plan; only the review queue changes state.")
    app.state.web = web
    app.middleware("http")(middleware(web.security))
    app.add_exception_handler(StarletteHTTPException, web.http_error)
    app.add_exception_handler(RequestValidationError, web.validation_error)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router(web), prefix=API_PREFIX)
    app.include_router(pages.router(web))
    app.include_router(recipients_router(database, config, web.templates,
                                         monotonic=monotonic, clock=clock))
    return app


def no_nul_bytes(request: Request) -> None:
    """Every route's first check: a NUL byte in the path or a query parameter is a 400
    (PostgreSQL cannot store or compare text holding one)."""
    if "\x00" in request.url.path or any(
            "\x00" in k or "\x00" in v
            for k, v in parse_qsl(request.url.query, keep_blank_values=True)):
        raise HTTPException(400, "a NUL byte (%00) is not allowed in a path or parameter")


def check_bind(host: str, token: str | None) -> None:
    """Listening anywhere but loopback needs a strong token."""
    if is_loopback(host):
        return
    if not token:
        raise CampaignGitopsError(
            f"refusing to listen on {host} without a token",
            f"set {TOKEN_ENV} (clients send it as 'Authorization: Bearer ...' or sign in "
            f"with it; make one with: {MAKE_TOKEN}), or bind 127.0.0.1")
    weakness = token_weakness(token)
    if weakness:
        raise CampaignGitopsError(
            f"refusing to listen on {host} with a weak {TOKEN_ENV}: {weakness}",
            f"make one with: {MAKE_TOKEN}")


def loopback_hosts(host: str, token: str | None) -> tuple[str, ...] | None:
    """The Host names a tokenless loopback server answers (None: any, with a token)."""
    return None if token else ("127.0.0.1", "localhost", "[::1]", host)


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8080, *,
          log_level: str = "warning") -> Any:
    """Run ``app`` with uvicorn until interrupted (blocking). Returns the uvicorn Server."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           access_log=False, server_header=False))
    server.run()
    return server


@dataclass
class Running:
    """A server started by ``start_in_thread``: its port, and ``stop()``."""

    server: Any
    thread: threading.Thread
    port: int

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0, *,
                    log_level: str = "warning", timeout: float = 30.0) -> Running:
    """Serve ``app`` from a daemon thread (``reconcile --ui-port``, tests); port 0 picks one.

    Returns once the socket listens; raises CampaignGitopsError if it could not.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           access_log=False, server_header=False))
    thread = threading.Thread(target=server.run, name="campaign-gitops-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise CampaignGitopsError(f"the UI could not listen on {host}:{port}",
                                      "is the port in use?")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return Running(server, thread, int(bound))
