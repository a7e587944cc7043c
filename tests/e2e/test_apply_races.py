"""Two applies racing, and an apply killed with SIGKILL in the middle (real CLI processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from campaign_gitops.state import tables as t
from campaign_gitops.state.db import open_database

EXE = str(Path(sys.executable).with_name("campaign-gitops"))
CAMPAIGNS = 8  # dominance allows 8 custom campaigns (PF014)

PARTS = """
apiVersion: campaign-gitops/v1
kind: Client
metadata: {name: acme}
spec: {tier: dominance, resources: {emailDomain: acme.test}}
---
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {name: book-demo, client: acme}
spec: {outcome: meeting}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {name: intro, client: acme}
spec: {channel: email, subject: Hi, body: "Hi {{first_name}} {{unsubscribe_url}}"}
---
apiVersion: campaign-gitops/v1
kind: Writer
metadata: {name: plain, client: acme}
spec: {type: template}
---
apiVersion: campaign-gitops/v1
kind: Reviewer
metadata: {name: rules, client: acme}
spec: {type: rules}
"""

CAMPAIGN = """
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {{name: c{i}, client: acme}}
spec:
  status: active
  goal: book-demo
  writer: plain
  reviewer: rules
  template: intro
  dailyLimit: {limit}
  testRecipients: [qa@acme.test]
  runs: [{{name: smoke, type: test_run}}, {{name: smoke-2, type: test_run}}]
"""


def make_repo(root: Path, limit: int = 10) -> None:
    folder = root / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    (folder / "parts.yaml").write_text(PARTS.lstrip())
    for i in range(CAMPAIGNS):
        (folder / f"c{i}.yaml").write_text(textwrap.dedent(
            CAMPAIGN.format(i=i, limit=limit)).lstrip())


def start_apply(root: Path, url: str, delay: float = 0.0) -> subprocess.Popen[str]:
    env = {**os.environ, "CAMPAIGN_GITOPS_TEST_APPLY_DELAY": str(delay), "NO_COLOR": "1"}
    env.pop("CAMPAIGN_GITOPS_DB", None)
    return subprocess.Popen([EXE, "--db", url, "apply", "--auto-approve"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def counts(url: str) -> dict[str, object]:
    db = open_database(url)
    try:
        with db.session() as s:
            per_resource = s.execute(select(t.CampaignRevision.resource_id,
                                            func.count()).group_by(
                t.CampaignRevision.resource_id)).all()
            runs = s.execute(select(t.CampaignRun.campaign_id, t.CampaignRun.name,
                                    func.count()).group_by(t.CampaignRun.campaign_id,
                                                           t.CampaignRun.name)).all()
            return {
                "resources": s.scalar(select(func.count()).select_from(t.Resource)),
                "campaign_rows": s.scalar(select(func.count()).select_from(t.Campaign)),
                "revisions": sorted(n for _, n in per_resource),
                "runs": sorted(n for _, _, n in runs),
                "log": s.scalar(select(func.count()).select_from(t.ApplyLog)),
            }
    finally:
        db.dispose()


def plan_code(root: Path, url: str) -> int:
    return subprocess.run([EXE, "--db", url, "plan", "--detailed-exitcode"], cwd=root,
                          capture_output=True, text=True, timeout=120).returncode


@pytest.mark.parametrize("second_round", [False, True], ids=["create", "update"])
def test_two_appliers_racing(tmp_path: Path, db_url: str, second_round: bool) -> None:
    make_repo(tmp_path)
    if second_round:  # race on updates: every campaign changes once
        first = start_apply(tmp_path, db_url)
        assert first.wait(timeout=300) == 0, first.communicate()
        make_repo(tmp_path, limit=20)
    procs = [start_apply(tmp_path, db_url), start_apply(tmp_path, db_url)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    got = counts(db_url)
    assert got["resources"] == 5 + CAMPAIGNS and got["campaign_rows"] == CAMPAIGNS
    assert got["revisions"] == [2 if second_round else 1] * CAMPAIGNS
    assert got["runs"] == [1] * (2 * CAMPAIGNS)
    # Every change was logged once, by whichever applier made it.
    changes = 5 + CAMPAIGNS * 4  # creates, transitions, two runs each
    assert got["log"] == changes + (CAMPAIGNS if second_round else 0)
    assert plan_code(tmp_path, db_url) == 0


def test_sigkill_mid_apply_then_converges(tmp_path: Path, db_url: str) -> None:
    make_repo(tmp_path)
    proc = start_apply(tmp_path, db_url, delay=0.2)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it is well inside the campaigns
        try:
            if counts(db_url)["log"] >= 9:
                break
        except Exception:  # the applier is still creating the schema
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = counts(db_url)
    assert 9 <= partial["log"] < 5 + CAMPAIGNS * 4
    # Each resource is before or after its change: a campaign row has its revision.
    assert partial["campaign_rows"] == len(partial["revisions"])
    assert set(partial["revisions"]) <= {1}
    again = start_apply(tmp_path, db_url)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, (out, err)
    done = counts(db_url)
    assert done["revisions"] == [1] * CAMPAIGNS
    assert done["runs"] == [1] * (2 * CAMPAIGNS)
    assert done["log"] == 5 + CAMPAIGNS * 4
    assert plan_code(tmp_path, db_url) == 0
