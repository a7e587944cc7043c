"""The real ``campaign-gitops ui`` as a subprocess: it serves, checks Host and tokens,
and stops cleanly on SIGTERM. Waits poll with a deadline; nothing sleeps to pass."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.web_world import build_world

CLI = str(Path(sys.executable).parent / "campaign-gitops")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until_up(url: str, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ui exited early: {proc.communicate()}")
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"ui did not answer on {url} within {timeout} s")


@pytest.fixture
def ui(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", ticks=1)
    world.db.dispose()
    port = free_port()
    token = getattr(request, "param", None)
    env = {k: v for k, v in os.environ.items() if k != "CAMPAIGN_GITOPS_UI_TOKEN"}
    if token:
        env["CAMPAIGN_GITOPS_UI_TOKEN"] = token
    proc = subprocess.Popen(
        [CLI, "--db", f"sqlite:///{tmp_path / 'state.db'}", "ui", "--port", str(port)],
        cwd=world.project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/static/app.css", proc)
        yield base, {"token": token or ""}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"campaign-gitops ui on http://127.0.0.1:{port}" in err


def test_ui_serves_the_example_repo(ui: tuple[str, dict[str, str]]) -> None:
    base, _ = ui
    status, body = get(f"{base}/api/v1/campaigns?client=acme")
    assert status == 200
    assert "cto-au-q1" in {c["name"] for c in json.loads(body)["items"]}
    status, page = get(f"{base}/campaigns")
    assert status == 200 and "cto-au-q1" in page
    assert get(f"{base}/campaigns", {"Host": "attacker.example"})[0] == 400


@pytest.mark.parametrize("ui", ["tok-123"], indirect=True)
def test_ui_with_a_token_requires_it(ui: tuple[str, dict[str, str]]) -> None:
    base, info = ui
    assert get(f"{base}/api/v1/status")[0] == 401
    status, body = get(f"{base}/api/v1/status", {"Authorization": f"Bearer {info['token']}"})
    assert status == 200 and json.loads(body)["halted"] is False
    # With a token the Host is not pinned: a reverse proxy may use any name.
    assert get(f"{base}/api/v1/status", {"Host": "ui.example",
                                         "Authorization": f"Bearer {info['token']}"})[0] == 200


def test_reconcile_serves_the_ui_beside_the_daemon(tmp_path: Path) -> None:
    import shutil

    from tests.web.web_world import REPO

    shutil.copytree(REPO / "campaigns", tmp_path / "campaigns")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CAMPAIGN_GITOPS_UI_TOKEN"}
    proc = subprocess.Popen(
        [CLI, "--db", f"sqlite:///{tmp_path / 'state.db'}", "reconcile", "--ui-port",
         str(port), "--tick-interval", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/static/app.css", proc)
        deadline = time.monotonic() + 120
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = json.loads(get(f"{base}/api/v1/status")[1])
            if status["last_reconcile"]:
                break
            time.sleep(0.2)
        assert status["last_reconcile"], "no reconcile reported within 120 s"
        items = json.loads(get(f"{base}/api/v1/campaigns")[1])["items"]
        assert "cto-au-q1" in {c["name"] for c in items}
        assert "last reconcile" in get(f"{base}/campaigns")[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}" in out + err


def test_reconcile_ui_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CAMPAIGN_GITOPS_UI_TOKEN"}
    result = subprocess.run(
        [CLI, "--db", f"sqlite:///{tmp_path / 'state.db'}", "reconcile", "--ui-port", "0",
         "--ui-host", "0.0.0.0"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60)
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr
