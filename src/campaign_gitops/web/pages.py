"""The HTML pages: server-rendered Jinja2 (autoescaped), htmx for the pane and the filters.

A request with the ``HX-Request`` header gets only the fragment it swaps in (the table
body or the overview pane); a plain request gets the whole page, so every view has a
URL and works without JavaScript.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from campaign_gitops.reconcile.forecast import forecast_line
from campaign_gitops.runs.forecasting import next_send_of_run
from campaign_gitops.runs.policy import LEASE
from campaign_gitops.runs.replies import KINDS as REPLY_KINDS
from campaign_gitops.runs.sender_use import run_sender_usage
from campaign_gitops.runs.settle import attention
from campaign_gitops.state import listings as q
from campaign_gitops.state.queries import MESSAGE_STATUSES, RUN_STATUSES
from campaign_gitops.web import charts
from campaign_gitops.web.api import (
    Before,
    Page,
    Text,
    campaign_overview,
    decide,
    is_id,
    run_or_404,
    with_sync,
)
from campaign_gitops.web.core import Web
from campaign_gitops.web.ratelimit import retry_after
from campaign_gitops.web.security import SESSION_COOKIE, form_fields

SUPPRESSIONS_SHOWN = 500


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v not in (None, "")}


def _query(params: dict[str, Any], **extra: Any) -> str:
    return urlencode(_clean({**params, **extra}))


def _unapplied(web: Web) -> list[str]:
    """Campaigns the files define that the database does not have yet."""
    changes = (web.workspace.view().plan or {}).get("changes", [])
    return [c["resource"] for c in changes
            if c["action"] == "create" and "/Campaign/" in c["resource"]]


def router(web: Web) -> APIRouter:
    pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    @pages.get("/")
    def home() -> Response:
        return RedirectResponse("/campaigns", status_code=307)

    @pages.get("/campaigns")
    def campaigns(request: Request, client: Text = None, status: Text = None,
                  channel: Text = None, q_: Annotated[str | None,
                                                      Query(alias="q", max_length=200)] = None,
                  page: Page = 1, selected: Text = None) -> Response:
        filters = _clean({"client": client, "status": status, "channel": channel, "q": q_})
        with web.db.reading() as session:
            data = q.campaigns_page(session, page=page, per_page=50, client=client,
                                    status=status, channel=channel, q=q_)
            choices = q.campaign_choices(session)
        data["items"] = with_sync(web, data["items"])
        context = {"data": data, "filters": filters, "choices": choices,
                   "unapplied": _unapplied(web),
                   "selected": selected,
                   "page_query": lambda p: _query(filters, page=p), "active": "campaigns"}
        if request.headers.get("hx-request") and request.headers.get("hx-target") == "rows":
            return web.render(request, "_campaign_rows.html", context)
        pane = None
        if selected and "/" in selected:
            pane = campaign_overview(web, *selected.split("/", 1))
        return web.render(request, "campaigns.html", {**context, "c": pane})

    @pages.get("/campaigns/{client}/{name}")
    def campaign(request: Request, client: str, name: str) -> Response:
        detail = campaign_overview(web, client, name)
        if detail is None:
            raise HTTPException(404, f"no campaign {client}/{name}")
        if request.headers.get("hx-request"):
            return web.render(request, "_overview.html", {"c": detail})
        return RedirectResponse(f"/campaigns?{urlencode({'selected': f'{client}/{name}'})}",
                                status_code=303)

    @pages.get("/runs/{run_id}")
    def run(request: Request, run_id: int) -> Response:
        with web.db.reading() as session:
            detail = run_or_404(session, q.run_detail, run_id)
            detail["next_send"] = next_send_of_run(session, run_id, web.now())
            detail["attention"] = attention(session, web.now(), lease=LEASE, run_ids=[run_id])
            detail["senders"] = [u.as_json() for u in run_sender_usage(session, run_id, web.now())]
            comms = q.communications_page(session, run=run_id, limit=20)
            reps = q.replies_page(session, run=run_id, limit=20)
        by_day = detail["messages_by_day"]
        return web.render(request, "run.html", {
            "r": detail, "comms": comms, "replies": reps, "active": "runs",
            "chart": charts.messages_per_day(by_day), "legend": charts.legend(by_day)})

    @pages.get("/runs/{run_id}/config")
    def run_config(request: Request, run_id: int) -> Response:
        with web.db.reading() as session:
            detail = run_or_404(session, q.run_config, run_id)
        return web.render(request, "run_config.html", {
            "run_id": run_id, "d": detail, "active": "runs",
            "config_json": json.dumps(detail["config"], indent=2, ensure_ascii=False),
            "spec_json": json.dumps(detail["revision_spec"], indent=2, ensure_ascii=False)})

    @pages.get("/runs")
    def runs(request: Request, client: Text = None, status: Text = None,
             before: Before = None) -> Response:
        filters = _clean({"client": client, "status": status})
        with web.db.reading() as session:
            data = q.runs_page(session, client=client, status=status, before=before)
        return web.render(request, "runs.html", {
            "data": data, "filters": filters, "active": "runs", "statuses": RUN_STATUSES,
            "next_query": _query(filters, before=data["next_before"])})

    @pages.get("/communications")
    def communications(request: Request, client: Text = None, campaign: Text = None,
                       run: Before = None, status: Text = None, channel: Text = None,
                       before: Before = None) -> Response:
        filters = _clean({"client": client, "campaign": campaign, "run": run,
                          "status": status, "channel": channel})
        with web.db.reading() as session:
            data = q.communications_page(session, before=before, limit=50, **filters)
        return web.render(request, "communications.html", {
            "data": data, "filters": filters, "active": "communications",
            "statuses": MESSAGE_STATUSES,
            "next_query": _query(filters, before=data["next_before"])})

    @pages.get("/replies")
    def replies(request: Request, client: Text = None, campaign: Text = None,
                run: Before = None, kind: Text = None, before: Before = None) -> Response:
        filters = _clean({"client": client, "campaign": campaign, "run": run, "kind": kind})
        with web.db.reading() as session:
            data = q.replies_page(session, before=before, limit=50, **filters)
        return web.render(request, "replies.html", {
            "data": data, "filters": filters, "active": "replies", "kinds": REPLY_KINDS,
            "next_query": _query(filters, before=data["next_before"])})

    @pages.get("/suppressions")
    def suppressions(request: Request, client: Text = None) -> Response:
        """A client's (or every client's) suppressions, newest first."""
        from campaign_gitops.inbound.suppressions import list_suppressions

        with web.db.reading() as session:
            rows = [r.as_json() for r in list_suppressions(session, client or None,
                                                          limit=SUPPRESSIONS_SHOWN + 1)]
        return web.render(request, "suppressions.html", {
            "rows": rows[:SUPPRESSIONS_SHOWN], "more": len(rows) > SUPPRESSIONS_SHOWN,
            "filters": {"client": client}, "active": "suppressions",
            "shown": SUPPRESSIONS_SHOWN})

    @pages.get("/plan")
    def plan(request: Request) -> Response:
        view = web.workspace.view()
        changes = [c for c in (view.plan or {}).get("changes", []) if c["action"] != "noop"]
        noops = [c for c in (view.plan or {}).get("changes", []) if c["action"] == "noop"
                 and c.get("tag")]
        forecasts = {i: (forecast_line(c["forecast"]), *charts.forecast_per_day(c["forecast"]))
                     for i, c in enumerate(changes) if c.get("forecast")}
        return web.render(request, "plan.html", {"view": view, "changes": changes,
                                                 "noops": noops, "forecasts": forecasts,
                                                 "active": "plan"})

    @pages.get("/review")
    def review(request: Request, after: Before = None) -> Response:
        with web.db.reading() as session:
            data = q.review_page(session, before=after, limit=50)
        return web.render(request, "review.html", {"data": data, "active": "review"})

    @pages.post("/review/{message_id}/{decision}")
    async def review_decide(request: Request, message_id: int, decision: str) -> Response:
        if decision not in ("approve", "reject") or not is_id(message_id):
            raise HTTPException(404, "no such decision")
        form = await form_fields(request)
        result = decide(web, message_id, decision == "approve", form.get("reason", ""))
        if request.headers.get("hx-request"):
            return web.render(request, "_decided.html", {"d": result})
        return RedirectResponse("/review", status_code=303)

    @pages.get("/login")
    def login_form(request: Request) -> Response:
        return web.render(request, "login.html", {"error": ""})

    @pages.post("/login")
    async def login(request: Request) -> Response:
        security = web.security
        assert security.login_limit is not None
        wait = security.login_limit.take(request.client.host if request.client else "")
        if wait:
            return web.render(request, "login.html",
                              {"error": "too many attempts from your address; try again "
                                        f"in {retry_after(wait)} s"},
                              status_code=429, headers={"Retry-After": retry_after(wait)})
        form = await form_fields(request)
        if not security.check_token(form.get("token", "")) or security.sessions is None:
            return web.render(request, "login.html", {"error": "wrong token"},
                              status_code=401)
        cookie = await run_in_threadpool(security.sessions.create)
        response = RedirectResponse("/campaigns", status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict",
                            secure=security.secure_cookies, path="/",
                            max_age=int(security.sessions.ttl.total_seconds()))
        return response

    @pages.post("/logout")
    def logout(request: Request) -> Response:
        if web.security.sessions is not None:
            web.security.sessions.revoke(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return pages
