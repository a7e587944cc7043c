"""suggest: the real SDK against a fake Messages API, and the real CLI on a repo in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from campaign_gitops.ai.suggest import suggest
from campaign_gitops.cli.main import cli
from campaign_gitops.config.bundle import load_bundle
from campaign_gitops.config.models import ANNOTATION_REASONING
from campaign_gitops.findings import CampaignGitopsError
from tests.ai.ai_fakes import FakeApi, rate_limited, suggestion, tool_message

GOOD = tool_message({"suggestions": [suggestion("fintech-cto-au", 60, 1),
                                     suggestion("logistics-data-nz", 40, 2)]})
SUM_90 = tool_message({"suggestions": [suggestion("fintech-cto-au", 60, 1),
                                       suggestion("logistics-data-nz", 30, 2)]})


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--dir", str(root / "campaigns"), *args])


def bundle_of(root: Path) -> Any:
    return load_bundle(root / "campaigns", root)


def written(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix()
                  for p in (root / "campaigns" / "acme").rglob("*.yaml")
                  if p.parent.name in ("segments", "campaigns") and "old-" not in p.name)


def test_valid_answer_writes_lint_clean_files(make_repo: Callable[..., Path],
                                              api_server: Callable[..., FakeApi]) -> None:
    root = make_repo()
    api = api_server(GOOD)
    result = run(root, "suggest", "--client", "acme", "--count", "2", "--write")
    assert result.exit_code == 0, result.output
    assert written(root) == [
        "campaigns/acme/campaigns/fintech-cto-au.yaml",
        "campaigns/acme/campaigns/logistics-data-nz.yaml",
        "campaigns/acme/segments/fintech-cto-au.yaml",
        "campaigns/acme/segments/logistics-data-nz.yaml",
    ]
    lint = run(root, "lint", "--format", "json", "--no-cache")
    assert lint.exit_code == 0, lint.output
    assert '"errors": 0' in lint.output
    campaign = yaml.safe_load((root / "campaigns/acme/campaigns/fintech-cto-au.yaml").read_text())
    assert campaign["spec"] == {
        "description": "Data leaders at fintech-cto-au companies.", "status": "draft",
        "type": "ai_suggested", "channel": "email", "goal": "book-demo",
        "segment": "fintech-cto-au", "writer": "plain", "reviewer": "brand-rules",
        "template": "intro", "schedule": "business-hours", "leadAllocationPct": 60}
    assert "pipeline maintenance" in campaign["metadata"]["annotations"][ANNOTATION_REASONING]
    segment = yaml.safe_load((root / "campaigns/acme/segments/fintech-cto-au.yaml").read_text())
    assert segment["spec"] == {"industries": ["software"], "countries": ["AU", "NZ"],
                               "employeeMin": 51, "employeeMax": 1000,
                               "titles": ["CTO", "Head of Data"]}
    text = (root / "campaigns/acme/campaigns/fintech-cto-au.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    prompt = api.requests[0]["messages"][0]["content"]
    assert "Industries: software, fintech, logistics" in prompt and "exactly 2" in prompt


def test_without_write_prints_the_yaml_and_writes_nothing(
        make_repo: Callable[..., Path], api_server: Callable[..., FakeApi]) -> None:
    root = make_repo()
    api_server(GOOD)
    result = run(root, "suggest", "--client", "acme", "--count", "2")
    assert result.exit_code == 0, result.output
    assert "# ==> campaigns/acme/campaigns/fintech-cto-au.yaml <==" in result.output
    assert "type: ai_suggested" in result.output
    assert written(root) == []


def test_sum_of_90_is_sent_back_once_and_the_fix_accepted(
        make_repo: Callable[..., Path]) -> None:
    api = FakeApi([(200, {}, SUM_90), (200, {}, tool_message(GOOD["content"][0]["input"], n=2))])
    got = suggest(bundle_of(make_repo()), "acme", count=2, client_factory=api.factory())
    assert [(s.name, s.lead_allocation_pct) for s in got] == [
        ("fintech-cto-au", 60), ("logistics-data-nz", 40)]
    assert len(api.requests) == 2
    retry = api.requests[1]["messages"]
    assert retry[1] == {"role": "assistant", "content": [SUM_90["content"][0]]}
    result = retry[2]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["tool_use_id"] == "toolu_01Fake0001"
    assert "add up to 90 (60 + 30), not 100" in result["content"]


def test_two_bad_answers_are_a_clear_error_and_nothing_is_written(
        make_repo: Callable[..., Path], api_server: Callable[..., FakeApi]) -> None:
    root = make_repo()
    bad_name = tool_message({"suggestions": [suggestion("Fintech CTOs", 100)]}, n=2)
    api = api_server(SUM_90, bad_name)
    result = run(root, "suggest", "--client", "acme", "--count", "2", "--write")
    assert result.exit_code == 2
    assert "invalid suggestions twice; nothing was written" in result.output
    assert "add up to 90" in result.output
    assert "suggestions[0].name: String should match pattern" in result.output
    assert "1 suggestions given, 2 asked for" in result.output
    assert len(api.requests) == 2
    assert written(root) == []


def test_429_then_200_succeeds(make_repo: Callable[..., Path]) -> None:
    api = FakeApi([rate_limited(), (200, {}, GOOD)])
    got = suggest(bundle_of(make_repo()), "acme", count=2,
                  client_factory=api.factory(max_retries=2))
    assert len(got) == 2 and len(api.requests) == 2


@pytest.mark.parametrize(("tier", "used"), [("ignition", 3), ("velocity", 6)])
def test_used_up_slots_refuse_before_any_request(make_repo: Callable[..., Path],
                                                 tier: str, used: int) -> None:
    api = FakeApi([(200, {}, GOOD)])
    with pytest.raises(CampaignGitopsError) as err:
        suggest(bundle_of(make_repo(tier, used)), "acme", client_factory=api.factory())
    assert f"tier {tier} allows {used}" in err.value.message
    assert api.requests == []


def test_count_above_the_free_slots_refuses_before_any_request(
        make_repo: Callable[..., Path]) -> None:
    api = FakeApi([(200, {}, GOOD)])
    with pytest.raises(CampaignGitopsError, match="1 free AI campaign slot"):
        suggest(bundle_of(make_repo("ignition", 2)), "acme", count=2,
                client_factory=api.factory())
    assert api.requests == []


def test_names_of_existing_resources_are_rejected(make_repo: Callable[..., Path]) -> None:
    taken = tool_message({"suggestions": [suggestion("old-0", 100)]})
    api = FakeApi([(200, {}, taken), (200, {}, taken)])
    with pytest.raises(CampaignGitopsError, match=r"already taken .*: old-0"):
        suggest(bundle_of(make_repo("velocity", 1)), "acme", count=1,
                client_factory=api.factory())
    assert "old-0" in api.requests[0]["messages"][0]["content"]


def test_no_key_names_the_variable(make_repo: Callable[..., Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = run(make_repo(), "suggest", "--client", "acme")
    assert result.exit_code == 2
    assert "ANTHROPIC_API_KEY is not set" in result.output


def test_existing_files_are_kept_unless_forced(make_repo: Callable[..., Path],
                                               api_server: Callable[..., FakeApi]) -> None:
    root = make_repo()
    keep = root / "campaigns/acme/segments/fintech-cto-au.yaml"
    keep.parent.mkdir(parents=True)
    keep.write_text("# a draft someone is writing by hand\n")
    api_server(GOOD, GOOD)
    refused = run(root, "suggest", "--client", "acme", "--count", "2", "--write")
    assert refused.exit_code == 2 and "refusing to overwrite" in refused.output
    assert keep.read_text() == "# a draft someone is writing by hand\n"
    assert written(root) == ["campaigns/acme/segments/fintech-cto-au.yaml"]
    forced = run(root, "suggest", "--client", "acme", "--count", "2", "--write", "--force")
    assert forced.exit_code == 0, forced.output
    assert "kind: Segment" in keep.read_text() and len(written(root)) == 4


def test_ambiguous_references_are_left_open_with_a_comment(
        make_repo: Callable[..., Path], api_server: Callable[..., FakeApi]) -> None:
    root = make_repo()
    (root / "campaigns/acme/goal-2.yaml").write_text(
        "apiVersion: campaign-gitops/v1\nkind: Goal\n"
        "metadata: {name: renewal, client: acme}\nspec: {outcome: reply}\n")
    api_server(GOOD)
    result = run(root, "suggest", "--client", "acme", "--count", "2", "--write")
    assert result.exit_code == 0, result.output
    assert "left open: goal (the client has book-demo, renewal)" in result.output
    text = (root / "campaigns/acme/campaigns/fintech-cto-au.yaml").read_text()
    assert "  # goal: the client has 2 (book-demo, renewal); pick one" in text
    assert "goal" not in yaml.safe_load(text)["spec"]
    assert yaml.safe_load(text)["spec"]["writer"] == "plain"


def test_use_names_the_reference_for_every_campaign(
        make_repo: Callable[..., Path], api_server: Callable[..., FakeApi]) -> None:
    root = make_repo()
    (root / "campaigns/acme/goal-2.yaml").write_text(
        "apiVersion: campaign-gitops/v1\nkind: Goal\n"
        "metadata: {name: renewal, client: acme}\nspec: {outcome: reply}\n")
    api_server(GOOD)
    result = run(root, "suggest", "--client", "acme", "--count", "2", "--write",
                 "--use", "goal=renewal")
    assert result.exit_code == 0, result.output
    assert "left open" not in result.output
    text = (root / "campaigns/acme/campaigns/logistics-data-nz.yaml").read_text()
    assert yaml.safe_load(text)["spec"]["goal"] == "renewal"
    assert run(root, "lint", "--no-cache").exit_code == 0


def test_use_of_an_unknown_resource_refuses_before_any_request(
        make_repo: Callable[..., Path], api_server: Callable[..., FakeApi]) -> None:
    api = api_server(GOOD)
    result = run(make_repo(), "suggest", "--client", "acme", "--use", "writer=claude")
    assert result.exit_code == 2
    assert "client 'acme' has no Writer named 'claude'" in result.output
    assert "the client has: plain" in result.output
    assert api.requests == []


def test_unknown_client_is_a_clear_error(make_repo: Callable[..., Path],
                                         api_server: Callable[..., FakeApi]) -> None:
    api = api_server(GOOD)
    result = run(make_repo(), "suggest", "--client", "globex")
    assert result.exit_code == 2
    assert "no Client named 'globex'" in result.output and "known clients: acme" in result.output
    assert api.requests == []


def test_tier_limits_from_campaign_gitops_yaml(make_repo: Callable[..., Path],
                                               api_server: Callable[..., FakeApi]) -> None:
    root = make_repo("velocity", 1)
    (root / "campaign-gitops.yaml").write_text("tiers:\n  velocity: {ai: 1, custom: 4}\n")
    api = api_server(GOOD)
    result = run(root, "suggest", "--client", "acme")
    assert result.exit_code == 2
    assert "tier velocity allows 1 ai_suggested campaign(s)" in result.output
    assert api.requests == []
