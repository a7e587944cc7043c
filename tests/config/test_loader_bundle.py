"""From files to a Bundle: schema findings at the right place, duplicates and folder mismatches."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from campaign_gitops.config.bundle import Key, load_bundle
from campaign_gitops.findings import Location

GOAL = """\
apiVersion: campaign-gitops/v1
kind: Goal
metadata:
  name: {name}
  client: {client}
spec:
  outcome: meeting
"""
CLIENT = """\
apiVersion: campaign-gitops/v1
kind: Client
metadata:
  name: {name}
spec:
  tier: velocity
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text))


def bundle_of(root: Path):
    return load_bundle(root / "campaigns", root)


def places(bundle) -> list[tuple[str, int, int]]:
    return sorted((f.location.file, f.location.line, f.location.column) for f in bundle.findings)


def test_valid_files_become_entries(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/acme/client.yaml", CLIENT.format(name="acme"))
    write(tmp_path, "campaigns/acme/goal.yaml", GOAL.format(name="book-demo", client="acme"))
    bundle = bundle_of(tmp_path)
    assert bundle.findings == []
    assert sorted(map(str, bundle.entries)) == ["acme/Client/acme", "acme/Goal/book-demo"]
    assert bundle.get("acme", "Goal", "book-demo").locate(("spec", "outcome")).line == 7


def test_unknown_field_with_did_you_mean(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/g.yaml", GOAL.format(name="g", client="acme") + "  targte: 5\n")
    bundle = bundle_of(tmp_path)
    [finding] = bundle.findings
    assert finding.rule == "SCHEMA" and "unknown field 'targte'" in finding.message
    assert "did you mean 'target'" in finding.hint
    assert (finding.location.file, finding.location.line, finding.location.column) == (
        "campaigns/g.yaml", 8, 3)
    assert finding.location.path == "/spec/targte"
    assert finding.resource == "acme/Goal/g"
    assert "campaigns/g.yaml" in bundle.failed_files and not bundle.entries


def test_unknown_kind(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/x.yaml", GOAL.format(name="g", client="acme").replace(
        "kind: Goal", "kind: Campain"))
    [finding] = bundle_of(tmp_path).findings
    assert "unknown kind" in finding.message and "Campaign" in finding.hint
    assert (finding.location.line, finding.location.column) == (2, 7)


def test_wrong_api_version(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/x.yaml", GOAL.format(name="g", client="acme").replace(
        "campaign-gitops/v1", "campaign-gitops/v2"))
    [finding] = bundle_of(tmp_path).findings
    assert "unsupported apiVersion" in finding.message
    assert "campaign-gitops/v1" in finding.hint
    assert (finding.location.line, finding.location.column) == (1, 13)


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/s.yaml", """\
        apiVersion: campaign-gitops/v1
        kind: Schedule
        metadata: {name: s, client: acme}
        spec:
          dailyLimit: 900
          workDays: [1, two]
        """)
    found = {(f.location.line, f.location.column) for f in bundle_of(tmp_path).findings}
    assert found == {(5, 15), (6, 17)}


def test_missing_client_in_metadata(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/g.yaml", GOAL.format(name="g", client="acme").replace(
        "  client: acme\n", ""))
    [finding] = bundle_of(tmp_path).findings
    assert "client" in finding.message and finding.location.line == 3


def test_duplicates_are_reported_at_both_places(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/a.yaml", GOAL.format(name="g", client="acme"))
    write(tmp_path, "campaigns/b.yaml", "# second copy\n" + GOAL.format(name="g", client="acme"))
    bundle = bundle_of(tmp_path)
    assert places(bundle) == [("campaigns/a.yaml", 4, 9), ("campaigns/b.yaml", 5, 9)]
    assert all("defined more than once" in f.message for f in bundle.findings)
    first, second = sorted(bundle.findings, key=lambda f: f.location.file)
    assert "campaigns/b.yaml:5:9" in first.message and "campaigns/a.yaml:4:9" in second.message
    assert bundle.failed_files == {"campaigns/a.yaml", "campaigns/b.yaml"}


def test_same_name_in_two_clients_is_no_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/a.yaml", GOAL.format(name="g", client="acme"))
    write(tmp_path, "campaigns/b.yaml", GOAL.format(name="g", client="globex"))
    bundle = bundle_of(tmp_path)
    assert bundle.findings == [] and len(bundle) == 2


def test_per_client_folder_mismatch_is_reported_at_both_places(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/acme/client.yaml", CLIENT.format(name="acme"))
    write(tmp_path, "campaigns/globex/client.yaml", CLIENT.format(name="globex"))
    write(tmp_path, "campaigns/acme/goal.yaml", GOAL.format(name="g", client="globex"))
    bundle = bundle_of(tmp_path)
    assert places(bundle) == [("campaigns/acme/client.yaml", 4, 9),
                              ("campaigns/acme/goal.yaml", 5, 11)]
    here = next(f for f in bundle.findings if f.location.file == "campaigns/acme/goal.yaml")
    assert "lives in the folder of client 'acme'" in here.message
    assert here.related[0].file == "campaigns/acme/client.yaml"
    assert Key("globex", "Goal", "g") in bundle.entries
    assert "campaigns/acme/goal.yaml" in bundle.failed_files


def test_no_folder_rule_when_the_repo_is_flat(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/clients.yaml", CLIENT.format(name="acme") + "---\n"
          + CLIENT.format(name="globex"))
    write(tmp_path, "campaigns/acme/goal.yaml", GOAL.format(name="g", client="globex"))
    assert bundle_of(tmp_path).findings == []


def test_a_broken_file_holds_only_its_own_resources(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/ok.yaml", GOAL.format(name="ok", client="acme"))
    write(tmp_path, "campaigns/bad.yaml", GOAL.format(name="bad", client="acme")
          + "---\n: : :\n")
    bundle = bundle_of(tmp_path)
    assert bundle.failed_files == {"campaigns/bad.yaml"}
    assert Key("acme", "Goal", "ok") in bundle.entries
    held = bundle.get("acme", "Goal", "bad")
    assert held is not None and bundle.is_held(held)


def test_invalid_resources_are_known_by_identity(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/g.yaml", GOAL.format(name="g", client="acme").replace(
        "outcome: meeting", "outcome: nope"))
    bundle = bundle_of(tmp_path)
    assert not bundle.entries
    assert bundle.invalid == {
        Key("acme", "Goal", "g"): Location("campaigns/g.yaml", 4, 9, "/metadata/name")}
