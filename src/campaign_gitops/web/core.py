"""What every route of the web app shares: ``Web`` (workspace, security, templates,
error pages) and ``now``, the clock the routes read at the edge.

``app.py`` builds a ``Web`` and hands it to the routers in ``api.py`` and ``pages.py``;
all three import it from here, so none of them imports another to reach it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from campaign_gitops import __version__
from campaign_gitops.reconcile import sync
from campaign_gitops.redact import redact_url
from campaign_gitops.runs.metrics import percent
from campaign_gitops.state import listings as q
from campaign_gitops.state.db import Database
from campaign_gitops.web.security import Security, wants_json
from campaign_gitops.web.workspace import Workspace

HERE = Path(__file__).parent


class Web:
    """What every route needs: the workspace (db + project) and the templates."""

    def __init__(self, workspace: Workspace, security: Security,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.workspace = workspace
        self.security = security
        self.now: Callable[[], dt.datetime] = clock or now  # the routes' clock (tests inject)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                 autoescape=True, undefined=jinja2.ChainableUndefined)
        self.templates = Jinja2Templates(env=env)
        self.templates.env.globals.update(sync=sync, version=__version__)  # sync.OUT_OF_SYNC, ...
        self.templates.env.filters["pct"] = percent  # None (nobody contacted): "-"
        self.templates.env.filters["short"] = lambda v: (v or "")[:10]

    @property
    def db(self) -> Database:
        return self.workspace.db

    def header(self) -> dict[str, Any]:
        with self.db.reading() as session:
            data = q.header(session)
        data["database"] = redact_url(self.db.url)
        return data

    def render(self, request: Request, name: str, context: dict[str, Any],
               status_code: int = 200, headers: Mapping[str, str] | None = None) -> Any:
        bare = name in ("login.html", "error.html")  # may be seen before signing in
        full = {"header": None if bare else self.header(),
                "csrf": request.state.csrf,
                "auth": self.security.token is not None, **context}
        return self.templates.TemplateResponse(request, name, full, status_code=status_code,
                                               headers=headers)

    def error_page(self, request: Request, status_code: int, detail: str,
                   headers: Mapping[str, str] | None = None) -> Any:
        return self.render(request, "error.html",
                           {"status_code": status_code, "detail": detail},
                           status_code=status_code, headers=headers)

    async def http_error(self, request: Request, exc: Exception) -> Any:
        """JSON for /api/ and /hooks/ (and JSON clients), an HTML page for pages."""
        assert isinstance(exc, StarletteHTTPException)
        if wants_json(request):
            return await http_exception_handler(request, exc)
        return await run_in_threadpool(self.error_page, request, exc.status_code,
                                       str(exc.detail), exc.headers)

    async def validation_error(self, request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        if wants_json(request):
            return await request_validation_exception_handler(request, exc)
        where = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}"
                          for e in exc.errors())
        return await run_in_threadpool(self.error_page, request, 422,
                                       f"bad parameter: {where}")


def now() -> dt.datetime:
    """The real clock, read at the edge: the default of ``Web.now``."""
    return dt.datetime.now(dt.UTC)
