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
    assert bundle.invalid == {  # where its (first) error is, not where its name is
        Key("acme", "Goal", "g"): Location("campaigns/g.yaml", 7, 12, "/spec/outcome")}


def test_documents_the_loader_rejects_are_known_by_identity(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/all.yaml", GOAL.format(name="dup", client="acme")
          + "  outcome: reply\n---\n"
          + "apiVersion: campaign-gitops/v1\nkind: Writer\nmetadata:\n  name: tagged\n"
          + "  labels: {team: growth}\n  client: acme\nspec: !!python/object {type: template}\n"
          + "---\n" + CLIENT.format(name="beta") + "  timezone: [UTC\n---\n"
          + GOAL.format(name="after", client="beta"))
    bundle = bundle_of(tmp_path)
    assert not bundle.entries
    at = Location("campaigns/all.yaml", 16, 7)  # the tag
    syntax = next(f.location for f in bundle.findings if "syntax" in f.message)
    assert bundle.invalid == {
        Key("acme", "Goal", "dup"): Location("campaigns/all.yaml", 8, 3),  # the second key
        Key("acme", "Writer", "tagged"): at,
        # a syntax error: the rest of the file is read from its text, as far as it goes
        Key("beta", "Client", "beta"): syntax,
        Key("beta", "Goal", "after"): syntax,
    }


def test_a_rejected_document_without_a_readable_identity_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/x.yaml", "kind: Goal\nmetadata: {client: acme}\n"
          "spec: {a: 1, a: 2}\n---\nkind: Goal\n: [\n")
    bundle = bundle_of(tmp_path)
    assert bundle.invalid == {}
    assert bundle.failed_files == {"campaigns/x.yaml"}


CAMPAIGN_RUNS = """\
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: q1, client: acme}
spec:
  status: active
  runs:
    - {name: smoke, type: test_run}
    - {name: launch, type: run}
    - name: smoke
      type: run
"""


def test_a_run_name_declared_twice_is_reported_at_the_second_run(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/q1.yaml", CAMPAIGN_RUNS)
    bundle = bundle_of(tmp_path)
    [finding] = bundle.findings
    assert finding.rule == "SCHEMA"
    assert finding.message == "run name 'smoke' is declared twice (first at line 7)"
    assert (finding.location.line, finding.location.column) == (9, 13)
    assert finding.location.path == "/spec/runs/2/name"
    assert finding.related == (Location("campaigns/q1.yaml", 7, 14, "/spec/runs/0/name"),)
    assert "'smoke-2'" in finding.hint
    assert not bundle.entries and Key("acme", "Campaign", "q1") in bundle.invalid


def test_a_duplicate_run_is_reported_along_with_other_schema_errors(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/q1.yaml", CAMPAIGN_RUNS.replace("status: active",
                                                               "status: running"))
    messages = sorted(f.message for f in bundle_of(tmp_path).findings)
    assert len(messages) == 2
    assert "declared twice" in messages[0] and "spec.status" in messages[1]


def test_a_bad_name_says_what_a_name_is_and_suggests_one(tmp_path: Path) -> None:
    write(tmp_path, "campaigns/g.yaml", GOAL.format(name="Book_Demo--Q1!", client="acme"))
    write(tmp_path, "campaigns/h.yaml", GOAL.format(name="x" * 64, client="-acme"))
    findings = sorted(bundle_of(tmp_path).findings, key=lambda f: f.sort_key())
    assert [(f.location.file, f.location.line, f.location.column) for f in findings] == [
        ("campaigns/g.yaml", 4, 9), ("campaigns/h.yaml", 4, 9), ("campaigns/h.yaml", 5, 11)]
    bad, long, client = findings
    assert bad.message == 'metadata.name: "Book_Demo--Q1!" is not a valid name'
    assert "NAME_PATTERN" not in bad.message and "[a-z0-9]" not in bad.message
    assert bad.hint == ("a name is 1-63 lowercase letters, digits and '-', starting and "
                        "ending with a letter or digit: try 'book-demo-q1'")
    assert long.message.startswith("metadata.name: ") and "try '" + "x" * 63 + "'" in long.hint
    assert client.message == 'metadata.client: "-acme" is not a valid name'
    assert client.hint.endswith("try 'acme'")
