"""The default 5-step sequence, adapted to the campaign's channels and the client."""

from __future__ import annotations

from campaign_gitops.config.models import CampaignSpec, ClientSpec
from campaign_gitops.config.sequences import default_sequence


def _client(**resources: str) -> ClientSpec:
    return ClientSpec.model_validate({"resources": resources})


def _shape(steps: list) -> list[tuple[str, int, str, list[str]]]:
    return [(s.channel, s.delay_days, s.purpose, list(s.skip_if)) for s in steps]


def test_all_channels_and_resources_give_the_five_steps() -> None:
    campaign = CampaignSpec.model_validate({"allocation": {
        "email": 40, "voice": 20, "linkedin": 20, "sms": 20}})
    client = _client(emailDomain="acme.test", phoneNumber="+15550100", linkedinSeat="seat-1")
    assert _shape(default_sequence(campaign, client)) == [
        ("email", 0, "intro", []),
        ("voice", 3, "connect", ["phone_missing"]),
        ("linkedin", 2, "connect", ["linkedin_url_missing"]),
        ("email", 3, "value_add", []),
        ("sms", 4, "breakup", ["phone_missing"]),
    ]


def test_email_only_keeps_days_as_listed() -> None:
    campaign = CampaignSpec.model_validate({"channel": "email"})
    client = _client(emailDomain="acme.test", phoneNumber="+15550100")
    assert _shape(default_sequence(campaign, client)) == [
        ("email", 0, "intro", []),
        ("email", 8, "value_add", []),
    ]


def test_channels_without_a_client_resource_are_dropped() -> None:
    campaign = CampaignSpec.model_validate({"allocation": {"email": 50, "sms": 50}})
    client = _client(emailDomain="acme.test")  # no phone number: no SMS step
    assert [s.channel for s in default_sequence(campaign, client)] == ["email", "email"]


def test_unknown_client_filters_by_campaign_channels_only() -> None:
    campaign = CampaignSpec.model_validate({"channel": "sms"})
    assert _shape(default_sequence(campaign, None)) == [("sms", 12, "breakup", ["phone_missing"])]


def test_step_template_falls_back_to_the_campaign_template_on_the_primary_channel() -> None:
    from campaign_gitops.config.models import Step
    from campaign_gitops.config.sequences import primary_channel, step_template

    campaign = CampaignSpec.model_validate({"allocation": {"sms": 100}, "template": "t1"})
    assert primary_channel(campaign) == "sms"  # channel defaults to email, not allocated
    assert step_template(Step(channel="sms"), campaign) == "t1"
    assert step_template(Step(channel="email"), campaign) is None
    assert step_template(Step(channel="email", template="own"), campaign) == "own"
