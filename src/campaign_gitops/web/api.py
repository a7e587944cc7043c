"""The JSON API under /api/v1: the same query functions as the pages, one per endpoint.

Read-only except the review queue (POST approve/reject, the functions the CLI's
``review approve|reject`` uses). Lists are paginated: campaigns by ``page``/``per_page``,
the others by keyset (``before`` = the ``next_before`` of the previous page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from campaign_gitops.runs.forecasting import next_send_of_campaign, next_send_of_run
from campaign_gitops.runs.policy import LEASE
from campaign_gitops.runs.sequences import daily_limit
from campaign_gitops.runs.settle import attention
from campaign_gitops.state import listings as q
from campaign_gitops.web.core import Web

MAX_ID = 2**62  # no row id reaches it: a larger one is not looked up (nor overflows BIGINT)
Limit = Annotated[int, Query(ge=1, le=q.MAX_PAGE)]
Before = Annotated[int | None, Query(ge=0, le=MAX_ID)]
Page = Annotated[int, Query(ge=1, le=10**6)]
Text = Annotated[str | None, Query(max_length=200)]
RunId = Annotated[int | None, Query(ge=0, le=MAX_ID)]
REASON_MAX = 500  # characters of a reviewer's reason, from the API and the review page
Reason = Annotated[str, Body(embed=True, max_length=REASON_MAX)]


class Problem(BaseModel):
    """An error's body."""

    detail: str


# FastAPI's type of ``responses=``: status code -> OpenAPI fields of that answer
Responses = dict[int | str, dict[str, Any]]
BAD_REQUEST: Responses = {400: {"model": Problem, "description": "A NUL byte in the path or a "
                     "parameter"}}
NOT_FOUND: Responses = {404: {"model": Problem, "description": "No such campaign, run or message"}}
CONFLICT: Responses = {409: {"model": Problem, "description": "The message is not pending review"}}


T = TypeVar("T")


def is_id(value: int) -> bool:
    """Could ``value`` be a row id (a path parameter, unbounded)?"""
    return 0 <= value < MAX_ID


def run_or_404(session: Session, read: Callable[[Session, int], T | None], run_id: int) -> T:
    """``read(session, run_id)`` (``listings.run_detail``, ``run_config``): 404 if no run."""
    found = read(session, run_id) if is_id(run_id) else None
    if found is None:
        raise HTTPException(404, f"no run {run_id}")
    return found


def with_sync(web: Web, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    view = web.workspace.view()
    return [{**i, "sync": view.sync_of(i["client"], "Campaign", i["name"])} for i in items]


def campaign_overview(web: Web, client: str, name: str) -> dict[str, Any] | None:
    """A campaign's detail plus what the files say about it (sync, findings, lead count)."""
    from campaign_gitops.runs.allocation import count_matching
    from campaign_gitops.runs.sender_use import sender_usage

    with web.db.reading() as session:
        detail = q.campaign_detail(session, client, name)
        if detail is None:
            return None
        segment = detail["refs"].get("segment")
        if segment is not None:
            segment["lead_count"] = count_matching(session, segment["spec"], client)
        detail["next_send"] = next_send_of_campaign(session, client, name, web.now())
        detail["daily_limit"] = daily_limit(detail.get("spec") or {},
                                            (detail["refs"].get("schedule") or {}).get("spec"))
        narrow = (detail.get("spec") or {}).get("senders")
        detail["senders"] = [u.as_json() for u in sender_usage(
            session, web.now(), client=client, only=narrow)]
    view = web.workspace.view()
    detail["sync"] = view.sync_of(client, "Campaign", name)
    detail["findings"] = list(view.findings.get(f"{client}/Campaign/{name}", ()))
    detail["pending"] = [c for c in (view.plan or {}).get("changes", [])
                         if c["resource"] == f"{client}/Campaign/{name}"
                         and c["action"] != "noop"]
    return detail


def decide(web: Web, message_id: int, approve: bool, reason: str = "") -> dict[str, Any]:
    """A reviewer's decision, from the API or the review page: the reason is checked here."""
    from campaign_gitops.runs.review import decide as review_decide

    if len(reason) > REASON_MAX or "\x00" in reason:
        raise HTTPException(422, f"the reason must be at most {REASON_MAX} characters, "
                                 "without NUL bytes")

    with web.db.session() as session:
        result = review_decide(session, [message_id], approve=approve, now=web.now(),
                               reason=reason)[0]
    return result.as_json()


def router(web: Web) -> APIRouter:
    api = APIRouter(tags=["api"], responses=BAD_REQUEST)

    @api.get("/status", summary="Header: delivery halted, last reconcile, database")
    def status() -> dict[str, Any]:
        data = web.header()
        view = web.workspace.view()
        data["plan_error"] = view.error or None
        return data

    @api.get("/campaigns", summary="Campaigns, filtered and paginated")
    def campaigns(client: Text = None, status: Text = None, channel: Text = None,
                  q_: Annotated[str | None, Query(alias="q", max_length=200)] = None,
                  page: Page = 1, per_page: Annotated[int, Query(ge=1, le=q.MAX_PAGE)] = 50
                  ) -> dict[str, Any]:
        with web.db.reading() as session:
            data = q.campaigns_page(session, client=client, status=status, channel=channel,
                                    q=q_, page=page, per_page=per_page)
        data["items"] = with_sync(web, data["items"])
        return data

    @api.get("/campaigns/{client}/{name}", summary="One campaign with its references and runs",
             responses=NOT_FOUND)
    def campaign(client: str, name: str) -> dict[str, Any]:
        detail = campaign_overview(web, client, name)
        if detail is None:
            raise HTTPException(404, f"no campaign {client}/{name}")
        return detail

    @api.get("/runs", summary="Runs, newest first")
    def runs(client: Text = None, status: Text = None, series: Text = None,
             before: Before = None, limit: Limit = 50) -> dict[str, Any]:
        with web.db.reading() as session:
            return q.runs_page(session, client=client, status=status, series=series,
                               before=before, limit=limit)

    @api.get("/runs/{run_id}", summary="One run: revision, enrollments, messages by day",
             responses=NOT_FOUND)
    def run(run_id: int) -> dict[str, Any]:
        with web.db.reading() as session:
            detail = run_or_404(session, q.run_detail, run_id)
            detail["next_send"] = next_send_of_run(session, run_id, web.now())
            detail["attention"] = attention(session, web.now(), lease=LEASE, run_ids=[run_id])
        return detail

    @api.get("/runs/{run_id}/config", summary="The configuration a run is pinned to",
             responses=NOT_FOUND)
    def run_config(run_id: int) -> dict[str, Any]:
        with web.db.reading() as session:
            return run_or_404(session, q.run_config, run_id)

    @api.get("/communications", summary="Messages, newest first, with their text")
    def communications(client: Text = None, campaign: Text = None, run: RunId = None,
                       status: Text = None, channel: Text = None, before: Before = None,
                       limit: Limit = 50) -> dict[str, Any]:
        with web.db.reading() as session:
            return q.communications_page(session, client=client, campaign=campaign, run=run,
                                         status=status, channel=channel, before=before,
                                         limit=limit)

    @api.get("/replies", summary="Replies, newest first")
    def replies(client: Text = None, campaign: Text = None, run: RunId = None,
                kind: Text = None, before: Before = None, limit: Limit = 50
                ) -> dict[str, Any]:
        with web.db.reading() as session:
            return q.replies_page(session, client=client, campaign=campaign, run=run,
                                  kind=kind, before=before, limit=limit)

    @api.get("/plan", summary="What `campaign-gitops plan` would do now")
    def plan() -> dict[str, Any]:
        view = web.workspace.view()
        return {"plan": view.plan, "error": view.error or None,
                "computed_at": view.computed_at}

    @api.get("/review", summary="Messages waiting for a human reviewer")
    def review(after: Before = None, limit: Limit = 50) -> dict[str, Any]:
        with web.db.reading() as session:
            return q.review_page(session, before=after, limit=limit)

    @api.post("/review/{message_id}/approve", summary="Approve a pending message",
              responses={**NOT_FOUND, **CONFLICT})
    def approve(message_id: int, reason: Reason = "") -> dict[str, Any]:
        return _decided(decide(web, message_id, True, reason) if is_id(message_id)
                        else None, message_id)

    @api.post("/review/{message_id}/reject", summary="Reject a pending message",
              responses={**NOT_FOUND, **CONFLICT})
    def reject(message_id: int, reason: Reason = "") -> dict[str, Any]:
        return _decided(decide(web, message_id, False, reason) if is_id(message_id)
                        else None, message_id)

    return api


def _decided(result: dict[str, Any] | None, message_id: int) -> dict[str, Any]:
    if result is None or result["reason"] == "no such message":
        raise HTTPException(404, f"no message {message_id}")
    if result["status"] == "unchanged":
        raise HTTPException(409, result["reason"])
    return result
