"""The daemon's health endpoints and Prometheus metrics.

``/healthz``: the process is alive. ``/readyz``: 200 when this daemon is leader or
follower, the database answered its probe within the last ``max_age`` seconds (the
resync interval; the loop probes about once a second, so a refused connection shows at
once and a hung one within the interval: ``database`` in the body, with the redacted
error), its last reconcile succeeded and no file is failing; else 503, with the
failing files as ``file:line:rule`` in the JSON body; following a remote repository
(``--repo``), also 503 while its last fetch failed (``fetch`` in the body: the error
and the last good commit, which is still applied); also 503 while an inbound mailbox
fails (``mailboxes`` in the body). ``/metrics``: Prometheus text
from the daemon's own CollectorRegistry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from campaign_gitops.reconcile.sync import DAEMON_STATES


class Metrics:
    """Every metric the daemon exports, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.duration = Histogram(
            "campaign_gitops_reconcile_duration_seconds", "Time of one reconcile pass.",
            ["mode"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.changes = Counter("campaign_gitops_changes_applied_total",
                               "Changes applied to the database, by action.", ["action"],
                               registry=r)
        self.resources = Gauge("campaign_gitops_resources",
                               "Resources in the files, by sync state.", ["state"], registry=r)
        self.files_failing = Gauge("campaign_gitops_files_failing",
                                   "Files that fail to load or lint (held).", registry=r)
        self.leader = Gauge("campaign_gitops_leader", "1 while this daemon is the leader.",
                            registry=r)
        self.messages = Gauge("campaign_gitops_messages",
                              "Messages in the database by channel and status "
                              "(sent = delivered).", ["channel", "status"], registry=r)
        self.messages_attention = Gauge(
            "campaign_gitops_messages_attention",
            "Messages that need a person: unknown (may have gone out: settle them) and "
            "stuck (queued or sending past the lease).", ["kind"], registry=r)
        self.last_success = Gauge("campaign_gitops_last_success_timestamp_seconds",
                                  "Unix time of the last successful reconcile.", registry=r)
        self.reconciles = Counter("campaign_gitops_reconciles_total",
                                  "Reconcile passes, by result.", ["result"], registry=r)
        self.fetches = Counter("campaign_gitops_fetches_total",
                               "Fetches of the followed repository (--repo), by result.",
                               ["result"], registry=r)
        self.fetch_failures = Gauge("campaign_gitops_fetch_failures",
                                    "Consecutive failed fetches of the followed repository.",
                                    registry=r)
        self.last_fetch = Gauge("campaign_gitops_last_fetch_success_timestamp_seconds",
                                "Unix time of the last successful fetch (--repo).", registry=r)
        self.mailbox_failures = Gauge("campaign_gitops_mailbox_failures",
                                      "Consecutive failed reads of an inbound mailbox.",
                                      ["mailbox"], registry=r)
        self.inbound_mails = Counter("campaign_gitops_inbound_mails_total",
                                     "Inbound mails recorded, by mailbox and kind.",
                                     ["mailbox", "kind"], registry=r)
        self.inbound_unmatched = Gauge("campaign_gitops_inbound_unmatched",
                                       "Mails left in a mailbox that match nothing.",
                                       ["mailbox"], registry=r)
        for state in DAEMON_STATES:
            self.resources.labels(state).set(0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class Health:
    """What /readyz reports; updated by the daemon loop, read by the HTTP threads."""

    role: str = "starting"  # starting, leader, follower
    last_ok: bool | None = None
    last_at: str | None = None
    commit: str | None = None
    failing: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    fetch: dict[str, Any] | None = None  # --repo: the last fetch (ok, commit, error, ...)
    mailboxes: dict[str, dict[str, Any]] | None = None  # inbound: name -> ok, error, ...
    # The database probe: the last answer (monotonic seconds) and the last error.
    db_answered: float | None = None
    db_error: str | None = None
    max_age: float = 60.0  # ready only if the database answered within this many seconds
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **values: Any) -> None:
        with self.lock:
            for name, value in values.items():
                setattr(self, name, value)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        with self.lock:
            role_ok = self.role in ("leader", "follower")
            reconciled = self.role == "follower" or bool(self.last_ok)
            fetched = self.fetch is None or bool(self.fetch.get("ok"))
            mail_ok = all(m.get("ok") for m in (self.mailboxes or {}).values())
            database = self._database()
            ok = (role_ok and reconciled and not self.failing and fetched and mail_ok
                  and database["ok"])
            body = {
                "ready": ok,
                "role": self.role,
                "database": database,
                "last_reconcile": {"ok": self.last_ok, "at": self.last_at, "commit": self.commit},
                "failing_files": [f"{f['file']}:{f['line']}:{f['rule']}" for f in self.failing],
                "findings": list(self.failing),
                "errors": list(self.errors),
            }
            if self.fetch is not None:
                body["fetch"] = dict(self.fetch)
            if self.mailboxes is not None:
                body["mailboxes"] = {k: dict(v) for k, v in self.mailboxes.items()}
        return ok, body

    def _database(self) -> dict[str, Any]:
        """The probe as /readyz shows it (called under the lock)."""
        if self.db_answered is None:
            return {"ok": False, "answered_s_ago": None,
                    "error": self.db_error or "not probed yet"}
        age = max(0.0, self.clock() - self.db_answered)
        if self.db_error is not None:
            return {"ok": False, "answered_s_ago": round(age, 1), "error": self.db_error}
        if age > self.max_age:
            return {"ok": False, "answered_s_ago": round(age, 1),
                    "error": f"no answer from the database for {age:.0f}s "
                             f"(more than {self.max_age:g}s)"}
        return {"ok": True, "answered_s_ago": round(age, 1), "error": None}


def _handler(health: Health, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b'{"status": "ok"}\n', "application/json")
            elif path == "/readyz":
                ok, body = health.ready()
                self._send(200 if ok else 503, (json.dumps(body, indent=2) + "\n").encode(),
                           "application/json")
            elif path == "/metrics":
                self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"error": "not found"}\n', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not events worth a log line

    return Handler


class HealthServer:
    """The endpoints on ``host:port`` in a daemon thread; ``port=0`` picks a free one."""

    def __init__(self, health: Health, metrics: Metrics, port: int,
                 host: str = "127.0.0.1") -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(health, metrics))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="health",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
