"""Typed models of every kind: the single source of the JSON Schemas in ``schemas/``.

Normalisation happens here and only here: ``phone`` becomes ``voice``, a single
``skipIf`` or ``emailStatus`` becomes a list, defaults are filled in. The canonical
form of a resource is ``canonical(model)``: what plan compares and what is hashed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

from campaign_gitops.config.fields import (
    ANNOTATION_DISABLE as ANNOTATION_DISABLE,
    ANNOTATION_PREVIOUS_NAME as ANNOTATION_PREVIOUS_NAME,
    ANNOTATION_PROTECT as ANNOTATION_PROTECT,
    ANNOTATION_REASONING as ANNOTATION_REASONING,
    ANNOTATION_SUSPEND as ANNOTATION_SUSPEND,
    API_VERSION as API_VERSION,
    CHANNEL_ALIASES as CHANNEL_ALIASES,
    CHANNELS as CHANNELS,
    DATE_EXAMPLE as DATE_EXAMPLE,
    DATE_PATTERN as DATE_PATTERN,
    DATE_TIME_EXAMPLE as DATE_TIME_EXAMPLE,
    DATE_TIME_PATTERN as DATE_TIME_PATTERN,
    FIRST_YEAR as FIRST_YEAR,
    HHMM as HHMM,
    HHMM_PATTERN as HHMM_PATTERN,
    LAST_YEAR as LAST_YEAR,
    NAME_PATTERN as NAME_PATTERN,
    RUN_TYPES as RUN_TYPES,
    SCHEMA_BASE as SCHEMA_BASE,
    STATUSES as STATUSES,
    TIER_LIMITS as TIER_LIMITS,
    TIERS as TIERS,
    Channel as Channel,
    Day as Day,
    Name as Name,
    StrList as StrList,
    Timestamp as Timestamp,
    as_list,
    describe_value as describe_value,
)

# Re-exported: the kinds and their plan order are part of the file format.
from campaign_gitops.identity import KIND_ORDER as KIND_ORDER, KINDS as KINDS


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
        # SPEC 2: only true/false are booleans and numbers are numbers; "16", "no" or
        # "false" in a typed field is an error, not a silent conversion. Dates and
        # times are the exception: YAML 1.2 gives them as strings (see Timestamp).
        strict=True,
        # .inf, 1e999 and .nan are YAML floats but no quantity: JSON (the state's spec
        # columns, the API) has no way to write them.
        allow_inf_nan=False,
    )


# ---------------------------------------------------------------- envelope


class Metadata(Model):
    name: Name
    client: Name | None = Field(default=None, description="The tenant; every kind but Client.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- specs


class ClientResources(Model):
    email_domain: str | None = None
    phone_number: str | None = None
    linkedin_seat: str | None = None


class Icp(Model):
    industries: list[str] = Field(default_factory=list)
    titles: list[str] = Field(default_factory=list)
    company_sizes: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    pain_points: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)


EMAIL_PATTERN = r"^[^@\s<>]+@[^@\s<>]+$"
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]


class Dkim(Model):
    """DKIM signing of every email (relaxed/relaxed); the key is never in a file."""

    selector: str = Field(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
                          description="The DNS selector: <selector>._domainkey.<domain>.")
    private_key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                 description="The variable holding the PEM private key.")
    domain: str | None = Field(default=None,
                               description="d=; default: the domain of the From address.")


class Sender(Model):
    """One mailbox a client sends from (SPEC 9)."""

    name: str = Field(min_length=1, max_length=100, description="The display name of From.")
    email: Email
    reply_to: Email | None = None
    daily_limit: int = Field(default=50, ge=1, le=500,
                             description="Emails a day from this mailbox, all campaigns.")
    max_per_hour: int | None = Field(default=None, ge=1, le=500)
    min_gap_seconds: int | None = Field(
        default=None, ge=0, le=86400,
        description="At least this long between two emails of this mailbox.")
    transport: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="A named transport of campaign-gitops.yaml (default: the email one).")
    dkim: Dkim | None = None

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1].lower()


class ClientSpec(Model):
    tier: Literal["ignition", "velocity", "dominance"] = "ignition"
    timezone: str = "UTC"
    resources: ClientResources = Field(default_factory=ClientResources)
    icp: Icp = Field(default_factory=Icp)
    # None, not []: a database written before senders existed plans no change.
    senders: list[Sender] | None = Field(default=None, max_length=100)

    @property
    def sender_list(self) -> list[Sender]:
        return list(self.senders or ())

    @model_validator(mode="after")
    def _distinct_senders(self) -> ClientSpec:
        seen: set[str] = set()
        for sender in self.sender_list:
            if sender.email.lower() in seen:
                raise ValueError(f"sender {sender.email} is listed twice")
            seen.add(sender.email.lower())
        return self

    def channels_available(self) -> set[str]:
        """The channels this client has a sending resource for."""
        have: set[str] = {"mail"}
        if self.resources.email_domain:
            have.add("email")
        if self.resources.phone_number:
            have.update(("sms", "voice"))
        if self.resources.linkedin_seat:
            have.add("linkedin")
        return have


class GoalSpec(Model):
    description: str = ""
    outcome: Literal["meeting", "reply", "conversion", "awareness"]
    target: float | None = Field(default=None, ge=0)


class SegmentSpec(Model):
    industries: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    employee_min: int | None = Field(default=None, ge=0)
    employee_max: int | None = Field(default=None, ge=0)
    seniorities: list[str] = Field(default_factory=list)
    titles: list[str] = Field(default_factory=list)
    technologies: list[str] = Field(default_factory=list)
    email_status: StrList = Field(default_factory=lambda: ["verified"])
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _range(self) -> SegmentSpec:
        if (self.employee_min is not None and self.employee_max is not None
                and self.employee_min > self.employee_max):
            raise ValueError("employeeMin is greater than employeeMax")
        return self


class TemplateSpec(Model):
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"channel": {"const": "email"}}},
        "then": {"required": ["subject"]},
    })

    channel: Channel
    subject: str | None = None
    body: str = Field(min_length=1)

    @model_validator(mode="after")
    def _subject(self) -> TemplateSpec:
        if self.channel == "email" and not self.subject:
            raise ValueError("an email template needs a subject")
        return self


class WriterSpec(Model):
    type: Literal["template", "anthropic"]
    model: str | None = None
    instructions: str | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=8192)

    @model_validator(mode="after")
    def _ai_only(self) -> WriterSpec:
        if self.type == "template" and (self.model or self.instructions):
            raise ValueError("model and instructions are for an anthropic writer")
        return self


class ReviewerSpec(Model):
    type: Literal["rules", "human", "anthropic"]
    banned_phrases: list[str] = Field(default_factory=list)
    max_length: dict[Channel, int] = Field(default_factory=dict)
    require_unsubscribe: bool = True
    model: str | None = None
    instructions: str | None = None


SkipRule = Literal["phone_missing", "linkedin_url_missing"]


class Step(Model):
    channel: Channel
    delay_days: int = Field(default=0, ge=0, le=365)
    template: Name | None = None
    purpose: str = "follow_up"
    skip_if: Annotated[list[SkipRule], BeforeValidator(
        as_list, json_schema_input_type=list[SkipRule] | SkipRule)] = Field(default_factory=list)
    skip_if_replied: bool = True
    skip_if_bounced: bool = True


class SequenceSpec(Model):
    steps: list[Step] = Field(min_length=1, max_length=20)


class WorkHours(Model):
    start: HHMM = "09:00"
    end: HHMM = "17:00"


class ScheduleSpec(Model):
    timezone: str = "UTC"
    work_hours: WorkHours = Field(default_factory=WorkHours)
    work_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    daily_limit: int = Field(default=50, ge=1, le=500)
    start_at: Timestamp | None = None
    cron: str | None = None
    skip_dates: list[Day] = Field(default_factory=list)


class RunDecl(Model):
    name: Name
    type: Literal["test_run", "run", "schedule"]
    at: Timestamp | None = None

    @model_validator(mode="after")
    def _at(self) -> RunDecl:
        if self.at is not None and self.type != "schedule":
            raise ValueError("'at' is only for a run of type schedule")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("'at' needs a UTC offset, e.g. 2026-12-01T09:00:00+11:00")
        return self


class CampaignSpec(Model):
    description: str = ""
    status: Literal["draft", "active", "paused", "completed"] = "draft"
    type: Literal["custom", "ai_suggested"] = "custom"
    channel: Channel = "email"
    allocation: dict[Channel, int] | None = None
    goal: Name | None = None
    segment: Name | None = None
    writer: Name | None = None
    reviewer: Name | None = None
    template: Name | None = None
    sequence: Name | None = None
    schedule: Name | None = None
    daily_limit: int | None = Field(default=None, ge=1, le=500)
    lead_allocation_pct: int = Field(default=100, ge=1, le=100)
    test_recipients: list[str] = Field(default_factory=list)
    senders: list[Email] | None = Field(
        default=None, description="Narrow the client's senders to these addresses.")
    runs: list[RunDecl] = Field(default_factory=list)  # distinct names: schema.py checks

    def channels(self) -> list[str]:
        """The campaign's channels: its allocation's keys, or its one channel."""
        if self.allocation:
            return list(self.allocation)
        return [self.channel]


# ---------------------------------------------------------------- resources


class Resource(Model):
    """The envelope every document shares."""

    api_version: Literal["campaign-gitops/v1"]
    kind: str
    metadata: Metadata
    spec: Any

    KIND: ClassVar[str] = ""
    REFERENCES: ClassVar[tuple[str, ...]] = ()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def client(self) -> str:
        return self.metadata.client or self.metadata.name

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations

    def annotation_flag(self, key: str) -> bool:
        return self.metadata.annotations.get(key, "").strip().lower() in ("true", "yes", "1")


def _resource(kind: str, spec: type[Model], refs: tuple[str, ...] = ()) -> type[Resource]:
    cls = type(
        f"{kind}Resource",
        (Resource,),
        {
            "__annotations__": {"kind": Literal[kind], "spec": spec},  # type: ignore[valid-type]
            "__module__": __name__,
            "__doc__": f"A {kind} resource.",
            "KIND": kind,
            "REFERENCES": refs,
        },
    )
    return cls


ClientResource = _resource("Client", ClientSpec)
GoalResource = _resource("Goal", GoalSpec)
SegmentResource = _resource("Segment", SegmentSpec)
TemplateResource = _resource("Template", TemplateSpec)
WriterResource = _resource("Writer", WriterSpec)
ReviewerResource = _resource("Reviewer", ReviewerSpec)
SequenceResource = _resource("Sequence", SequenceSpec)
ScheduleResource = _resource("Schedule", ScheduleSpec)
CampaignResource = _resource("Campaign", CampaignSpec)

KIND_MODELS: dict[str, type[Resource]] = {
    "Client": ClientResource,
    "Goal": GoalResource,
    "Segment": SegmentResource,
    "Template": TemplateResource,
    "Writer": WriterResource,
    "Reviewer": ReviewerResource,
    "Sequence": SequenceResource,
    "Schedule": ScheduleResource,
    "Campaign": CampaignResource,
}
SPEC_MODELS: dict[str, type[Model]] = {
    "Client": ClientSpec,
    "Goal": GoalSpec,
    "Segment": SegmentSpec,
    "Template": TemplateSpec,
    "Writer": WriterSpec,
    "Reviewer": ReviewerSpec,
    "Sequence": SequenceSpec,
    "Schedule": ScheduleSpec,
    "Campaign": CampaignSpec,
}

# Campaign fields that name another resource of the same client, with its kind.
CAMPAIGN_REFERENCES: dict[str, str] = {
    "goal": "Goal",
    "segment": "Segment",
    "writer": "Writer",
    "reviewer": "Reviewer",
    "template": "Template",
    "sequence": "Sequence",
    "schedule": "Schedule",
}


def canonical_spec(spec: BaseModel) -> dict[str, Any]:
    """The normalised JSON form of a spec: defaults filled, aliases as in the files."""
    return spec.model_dump(mode="json", by_alias=True)


def content_hash(data: Any) -> str:
    """A stable hash of JSON data (sorted keys, no whitespace)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def spec_from_canonical(kind: str, data: dict[str, Any]) -> Model:
    """Rebuild a spec model from its canonical JSON (e.g. a database row)."""
    return SPEC_MODELS[kind].model_validate(data)
