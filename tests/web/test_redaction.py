"""No URL leaves the process with its secrets: ``campaign_gitops.redact`` and every path
through it (config, the ``ui`` start line, /api/v1/status, the page footer, the daemon's
log, a malformed database URL, a webhook transport's error stored as ``status_reason``)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from campaign_gitops.cli.main import cli
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.redact import redact_text, redact_url
from campaign_gitops.state.db import open_database
from campaign_gitops.web.app import create_app

CLI = str(Path(sys.executable).parent / "campaign-gitops")
SECRETS = ("hunter2", "hunter3", "t0ps3cret")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://u:hunter2@h/db?password=hunter3&sslmode=require",
     "postgresql+psycopg://u:***@h/db?password=***&sslmode=require"),
    ("postgresql://u:pa/ss@word@h:5432/db", "postgresql://u:***@h:5432/db"),  # unencoded
    ("postgresql+psycopg://u:hunter2@h:notaport/db", "postgresql+psycopg://u:***@h:notaport/db"),
    ("https://hooks.example/send?api_key=k&X-Amz-Signature=s&sig=x&token=t&page=2#top",
     "https://hooks.example/send?api_key=***&X-Amz-Signature=***&sig=***&token=***&page=2#top"),
    ("https://ghp_0123456789abcdefghijKLMNOP@github.com/o/r.git",
     "https://***@github.com/o/r.git"),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/test",
     "postgresql+psycopg://postgres@127.0.0.1:5432/test"),  # a plain user name stays
    ("sqlite:////srv/state.db", "sqlite:////srv/state.db"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_in_a_message() -> None:
    text = "webhook http://bob:hunter2@127.0.0.1:9/send?token=t0ps3cret failed to connect"
    assert redact_text(text) == ("webhook http://bob:***@127.0.0.1:9/send?token=*** "
                                 "failed to connect")


def _secret_pg(pg_url: str) -> str:
    """The test database's URL with a password in the userinfo and in the query (the
    server trusts local connections, so both are accepted and ignored)."""
    head, rest = pg_url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{head}://{user}:hunter2@{host}?password=hunter3&application_name=redaction"


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_config_status_footer_and_ui_line_hide_the_password(pg_url: str,
                                                            tmp_path: Path) -> None:
    url = _secret_pg(pg_url)
    shown = redact_url(url)
    assert "***" in shown
    result = CliRunner().invoke(cli, ["--db", url, "--dir", str(tmp_path), "config",
                                      "--format", "json"], catch_exceptions=False)
    _clean(result.output)
    assert shown in result.output

    db = open_database(url)
    try:
        client = TestClient(create_app(db))
        status = client.get("/api/v1/status").json()
        assert status["database"] == shown
        page = client.get("/plan").text
        _clean(page)
        assert "application_name=redaction" in page  # the footer names the database
    finally:
        db.dispose()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([CLI, "--db", url, "ui", "--port", str(port)], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "campaign-gitops ui on" in line and shown in line
    _clean(line)


def test_daemon_log_hides_the_password(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    done = subprocess.run([CLI, "--db", _secret_pg(pg_url), "reconcile", "--once",
                           "--tick-interval", "0", "--log-format", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    starting = [json.loads(line) for line in done.stderr.splitlines()
                if '"starting"' in line]
    assert starting and "***" in starting[0]["msg"]
    _clean(done.stderr)

    stream = io.StringIO()  # every field of every event goes through the redaction
    EventLog(stream=stream)("remote", "fetching", repo="https://bob:hunter2@git.example/r")
    assert "bob:***@git.example" in stream.getvalue()
    _clean(stream.getvalue())


def test_malformed_database_url_is_not_echoed(tmp_path: Path) -> None:
    for command in (["status"], ["apply", "--auto-approve"]):
        result = CliRunner().invoke(cli, ["--db", "postgresql+psycopg://u:hunter2@h:port/db",
                                          "--dir", str(tmp_path), *command])
        assert result.exit_code != 0
        assert "invalid database URL" in result.output, result.output
        assert "internal error" not in result.output
        _clean(result.output)


def test_webhook_credentials_stay_out_of_status_reason(db_url: str, tmp_path: Path) -> None:
    import datetime as dt

    from sqlalchemy import select

    from campaign_gitops.config.project import ProjectConfig
    from campaign_gitops.runs.leads import import_csv
    from campaign_gitops.runs.tick import tick
    from campaign_gitops.state.tables import Message
    from tests.runs.runs_helpers import (
        base_resources,
        lead_row,
        start_runs,
        write_leads,
        write_repo,
    )

    with socket.socket() as probe:  # nobody listens there: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = f"http://bob:hunter2@127.0.0.1:{port}/send?token=t0ps3cret"
    monday = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    db = open_database(db_url)
    try:
        with db.session() as session:
            assert not import_csv(session, write_leads(tmp_path / "leads.csv",
                                                       [lead_row(0)])).errors
        root = write_repo(tmp_path / "repo", base_resources(
            sequence=[{"channel": "email", "delayDays": 0, "template": "intro"}]))
        settings = {"transports": {"email": {"type": "webhook", "url": hook}}}
        (root / "campaign-gitops.yaml").write_text(yaml.safe_dump(settings))
        start_runs(db, root, now=monday - dt.timedelta(hours=1), credits=10)
        tick(db, now=monday, config=ProjectConfig.model_validate(settings))
        with db.session() as session:
            reasons = [r for (r,) in session.execute(select(Message.status_reason))]
        assert reasons and all(r and "failed to connect" in r for r in reasons), reasons
        assert all("bob:***@127.0.0.1" in r for r in reasons)
        for r in reasons:
            _clean(r)
        api = TestClient(create_app(db)).get("/api/v1/communications").json()
        _clean(json.dumps(api))
    finally:
        db.dispose()
