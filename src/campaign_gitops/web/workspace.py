"""What the files say now, computed once and shared by every page: plan, sync states, findings.

Loading a repo of 10,000 campaigns costs seconds, so the web keeps the last result
and recomputes it only when the files or the database moved on (a fingerprint of the
resource files' sizes and mtimes plus the apply log's last serial), and checks that
fingerprint at most every ``ttl`` seconds. Only the first computation makes a request
wait; later ones run in a background thread while pages show the previous result. The
plan comes from ``reconcile.service`` (the same code as ``campaign-gitops plan``) and the
sync states from ``reconcile.plan.sync_states`` (the same as ``campaign-gitops status``;
the words are ``reconcile/sync.py``'s).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.findings import CampaignGitopsError, Finding
from campaign_gitops.reconcile.plan import sync_states
from campaign_gitops.reconcile.render import plan_dict
from campaign_gitops.reconcile.sync import SYNCED, UNKNOWN
from campaign_gitops.state.db import Database
from campaign_gitops.state.snapshot import max_serial

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class View:
    """One computation: the plan as JSON, sync state and findings per resource."""

    plan: dict[str, Any] | None
    sync: Mapping[str, str]  # "client/Kind/name" -> state; absent: Synced
    findings: Mapping[str, tuple[dict[str, Any], ...]]  # "client/Kind/name" -> findings
    error: str = ""  # why there is no plan (no resources folder, broken config)
    computed_at: str = ""

    def sync_of(self, client: str, kind: str, name: str) -> str:
        if self.plan is None:
            return UNKNOWN
        return self.sync.get(f"{client}/{kind}/{name}", SYNCED)


def _findings_by_resource(findings: list[Finding]) -> dict[str, tuple[dict[str, Any], ...]]:
    from campaign_gitops.reconcile.blockers import findings_by_resource  # as preflight: lazily

    return {k: tuple(f.to_dict() for f in v) for k, v in findings_by_resource(findings).items()}


def _fingerprint_files(directory: Path) -> tuple[int, int, int]:
    count = size = newest = 0
    for base, _dirs, files in os.walk(directory):
        for name in files:
            if name.endswith((".yaml", ".yml")):
                st = os.stat(os.path.join(base, name))
                count, size = count + 1, size + st.st_size
                newest = max(newest, st.st_mtime_ns)
    return count, size, newest


@dataclass
class Workspace:
    """The project and database the web reads, with the cached View."""

    db: Database
    project: Project | None
    config: ProjectConfig | None = None
    ttl: float = 5.0
    background: bool = True
    refreshing: threading.Thread | None = field(default=None, init=False)
    _view: View | None = field(default=None, init=False)
    _key: tuple[Any, ...] | None = field(default=None, init=False)
    _checked: float = field(default=0.0, init=False)
    _busy: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def view(self) -> View:
        """The current View. Only the first computation blocks; later ones run in the
        background while the pages keep showing the previous result."""
        with self._lock:
            now = time.monotonic()
            if self._view is not None and (now - self._checked < self.ttl or self._busy):
                return self._view
            self._checked = now
            key = self._fingerprint()
            if self._view is not None and key == self._key:
                return self._view
            if self._view is None or not self.background:
                self._view, self._key = self._compute(), key
                return self._view
            self._busy = True
            self.refreshing = threading.Thread(target=self._refresh, args=(key,),
                                               daemon=True, name="campaign-gitops-ui-plan")
            self.refreshing.start()
            return self._view

    def _refresh(self, key: tuple[Any, ...]) -> None:
        try:
            view = self._compute()
        finally:
            with self._lock:
                self._busy = False
        with self._lock:
            self._view, self._key = view, key

    def invalidate(self) -> None:
        with self._lock:
            self._view, self._key = None, None

    def _fingerprint(self) -> tuple[Any, ...]:
        with self.db.reading() as session:
            serial = max_serial(session)
        files: Any = None
        if self.project is not None and self.project.resources_dir.is_dir():
            files = _fingerprint_files(self.project.resources_dir)
        return (serial, files)

    def _compute(self) -> View:
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if self.project is None:
            return View(None, {}, {}, "no project: the UI was started without a repo",
                        at)
        from campaign_gitops.preflight.engine import run_preflight
        from campaign_gitops.reconcile.service import plan_repo

        try:
            bundle, plan = plan_repo(self.project, self.db, config=self.config,
                                     forecast=True)
            findings = list(run_preflight(bundle, config=self.config or ProjectConfig()))
        except CampaignGitopsError as exc:
            return View(None, {}, {}, exc.message, at)
        except Exception as exc:  # an operational failure: shown, the pages still work
            log.warning("planning for the UI failed: %s", exc, exc_info=True)
            return View(None, {}, {}, f"planning failed: {type(exc).__name__}: {exc}", at)
        return View(plan_dict(plan), sync_states(plan), _findings_by_resource(findings),
                    "", at)
