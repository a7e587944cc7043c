"""Every ordinary way of saving a file reaches a running daemon through its watcher.

The daemon runs with ``--interval 300``: a full resync cannot explain the change within
the test's deadline, only the watcher can. Each kind of save is done for real: ``sed -i``
(a temp file renamed over the target), a real ``vim`` writing by rename, an editor's
atomic save (write a hidden temp file, rename it onto the target), JetBrains' safe write
(``___jb_tmp___``/``___jb_old___``), and moving a file or a folder into the watched tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import tests.reconcile.daemon_repos as dr
from tests.e2e.test_daemon import Daemon, campaign, daemon_repo, daemons, described, wait_for

__all__ = ["daemon_repo", "daemons"]  # fixtures, used by name


def _sed(path: Path, text: str) -> None:
    subprocess.run(["sed", "-i", f's/description: "v1"/description: "{text}"/', str(path)],
                   check=True)


def _vim(path: Path, text: str) -> None:
    # -u NONE: no user config; backupcopy=no: vim renames the original away and writes a
    # new file under the name (its default on most systems for a file with one link).
    subprocess.run(["vim", "-u", "NONE", "-N", "-n", "-es", "-c", "set backupcopy=no",
                    "-c", f'%s/description: "v1"/description: "{text}"/', "-c", "wq",
                    str(path)], check=True, timeout=30, stdin=subprocess.DEVNULL)


def _atomic(path: Path, text: str) -> None:
    """Write a hidden temp file beside the target, then rename it over the target."""
    temp = path.with_name(f".{path.name}.tmp-1234")
    temp.write_text(path.read_text().replace('description: "v1"', f'description: "{text}"'))
    os.replace(temp, path)


def _jetbrains(path: Path, text: str) -> None:
    """JetBrains' safe write: new content to name___jb_tmp___, the old file to
    name___jb_old___, the temp renamed onto the name, the old one deleted."""
    temp = path.with_name(path.name + "___jb_tmp___")
    old = path.with_name(path.name + "___jb_old___")
    temp.write_text(path.read_text().replace('description: "v1"', f'description: "{text}"'))
    os.rename(path, old)
    os.rename(temp, path)
    old.unlink()


SAVES: dict[str, Callable[[Path, str], None]] = {
    "sed -i": _sed, "vim": _vim, "atomic rename": _atomic, "jetbrains safe write": _jetbrains}


@pytest.mark.parametrize("kind", list(SAVES))
def test_each_kind_of_save_reaches_the_database(kind: str, daemon_repo: Path, sqlite_url: str,
                                                daemons: list[Daemon]) -> None:
    if kind in ("sed -i", "vim") and shutil.which(kind.split()[0]) is None:
        pytest.skip(f"{kind.split()[0]} is not installed")
    d = Daemon(daemon_repo, sqlite_url)
    daemons.append(d)
    wait_for("ready", lambda: d.ready()["http"] == 200)
    full = d.count("reconciled")
    SAVES[kind](daemon_repo / "campaigns/acme/c0.yaml", "saved")
    wait_for(f"the {kind} save in the database", described(sqlite_url, "acme", "c0", "saved"))
    incremental = wait_for("the pass's record", lambda: [
        r for r in d.records() if r.get("event") == "reconciled"][full:])
    assert all(r["mode"] == "incremental" for r in incremental)
    assert d.stop() == 0


def test_moving_a_file_and_a_folder_into_the_tree(daemon_repo: Path, tmp_path: Path,
                                                  sqlite_url: str,
                                                  daemons: list[Daemon]) -> None:
    d = Daemon(daemon_repo, sqlite_url)
    daemons.append(d)
    wait_for("ready", lambda: d.ready()["http"] == 200)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c7.yaml").write_text(dr.campaign_text("acme", "c7", description="moved in"))
    os.rename(outside / "c7.yaml", daemon_repo / "campaigns/acme/c7.yaml")
    wait_for("the moved-in file", described(sqlite_url, "acme", "c7", "moved in"))

    folder = dr.write_repo(tmp_path / "other", {"initech": 1}) / "campaigns" / "initech"
    os.rename(folder, daemon_repo / "campaigns/initech")
    wait_for("the moved-in folder", described(sqlite_url, "initech", "c0", "v1"))
    assert campaign(sqlite_url, "acme", "c0")[0] == "v1"
    passes = wait_for("the passes' records", lambda: len(
        p := [r["mode"] for r in d.records() if r.get("event") == "reconciled"]) >= 3 and p)
    assert passes[0] == "full" and set(passes[1:]) == {"incremental"}
    assert d.stop() == 0
