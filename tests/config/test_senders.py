"""Client spec.senders, Campaign senders, named transports and DKIM settings (SPEC 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from campaign_gitops.config.models import CampaignSpec, ClientSpec
from campaign_gitops.config.placeholders import PLACEHOLDERS
from campaign_gitops.config.project_file import load_project_file


def test_senders_default_daily_limit_and_domain() -> None:
    spec = ClientSpec.model_validate({"senders": [
        {"name": "Isla Moreno", "email": "isla@Acme.test", "replyTo": "team@acme.test"},
        {"name": "Ben", "email": "ben@mail.acme.test", "dailyLimit": 20, "maxPerHour": 6,
         "minGapSeconds": 300, "transport": "acme-smtp",
         "dkim": {"selector": "s1", "privateKeyEnv": "ACME_DKIM"}}]})
    first, second = spec.sender_list
    assert first.daily_limit == 50 and first.domain == "acme.test"
    assert second.max_per_hour == 6 and second.dkim is not None
    assert second.dkim.private_key_env == "ACME_DKIM"


@pytest.mark.parametrize("sender", [
    {"name": "A", "email": "a@acme.test", "dailyLimit": 0},
    {"name": "A", "email": "a@acme.test", "dailyLimit": 501},
    {"name": "A", "email": "not-an-address"},
    {"name": "A", "email": "a@acme.test", "dkim": {"selector": "s1", "privateKey": "x"}},
    {"email": "a@acme.test"},
])
def test_bad_senders_are_refused(sender: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ClientSpec.model_validate({"senders": [sender]})


def test_a_sender_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        ClientSpec.model_validate({"senders": [{"name": "A", "email": "a@acme.test"},
                                               {"name": "B", "email": "A@acme.test"}]})


def test_campaign_narrows_senders() -> None:
    assert CampaignSpec.model_validate({"senders": ["a@acme.test"]}).senders == ["a@acme.test"]
    assert CampaignSpec.model_validate({}).senders is None


def test_sender_placeholders_are_known() -> None:
    assert {"sender_name", "sender_email"} <= PLACEHOLDERS


def test_named_transports_with_dkim(tmp_path: Path) -> None:
    (tmp_path / "campaign-gitops.yaml").write_text(
        "transports:\n  email: {type: outbox}\n"
        "  acme-smtp:\n    type: smtp\n    host: 127.0.0.1\n"
        "    dkim: {selector: s1, privateKeyEnv: ACME_DKIM, domain: acme.test}\n")
    config = load_project_file(tmp_path).require()
    assert list(config.transports) == ["email", "acme-smtp"]
    dkim = config.transports["acme-smtp"].dkim
    assert dkim is not None and dkim.domain == "acme.test"


def test_no_senders_is_none_so_older_databases_plan_no_change() -> None:
    assert "senders" not in {k for k, v in ClientSpec().model_dump(by_alias=True).items()
                             if v is not None}
