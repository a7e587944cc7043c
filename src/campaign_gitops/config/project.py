"""The project: where the repo root is, where resources live, and the shape of
``campaign-gitops.yaml`` (its loading is ``config/project_file.py``, precedence of
flags, file, environment and defaults is ``config/settings.py``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from campaign_gitops.config.cron import cron_problem, prev_fire
from campaign_gitops.config.models import CHANNEL_ALIASES, TIERS

CONFIG_FILE = "campaign-gitops.yaml"


def find_root(start: Path) -> Path:
    """The repo root, found the way git finds its top level: the nearest ancestor of
    ``start`` holding the config file, else the nearest holding ``.git``.

    Falls back to the current directory when ``start`` lies below it, else to ``start``'s
    parent. Files in findings are named relative to this root.
    """
    start = start.absolute()
    probe = start if start.is_dir() else start.parent
    ancestors = (probe, *probe.parents)
    for marker in (CONFIG_FILE, ".git"):
        for candidate in ancestors:
            if (candidate / marker).exists():
                return candidate
    cwd = Path.cwd().absolute()
    if probe == cwd or cwd in probe.parents:
        return cwd
    return probe.parent


@dataclass(frozen=True, slots=True)
class Project:
    root: Path
    resources_dir: Path

    @classmethod
    def discover(cls, resources_dir: str | Path = "campaigns") -> Project:
        directory = Path(resources_dir)
        return cls(root=find_root(directory), resources_dir=directory.absolute())


# ---------------------------------------------------------------- configuration file
# The shape of campaign-gitops.yaml; schemas/project.json is generated from it.


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              frozen=True)


_SECRET_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:]*:[^/@]+@", re.IGNORECASE)
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class DatabaseConfig(_Cfg):
    """Where state lives: a URL without a password, or the variable holding the URL."""

    url: str | None = Field(default=None, description="e.g. sqlite:///.campaign-gitops/state.db")
    url_env: EnvName | None = Field(default=None, description="Read the URL from this variable.")

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value and _SECRET_IN_URL.match(value):
            raise ValueError("a password in database.url would be committed to git; "
                             "put the URL in a variable and name it in database.urlEnv")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> DatabaseConfig:
        if self.url and self.url_env:
            raise ValueError("give database.url or database.urlEnv, not both")
        return self


class TransportDkim(_Cfg):
    """DKIM signing (relaxed/relaxed); the PEM key is read from a variable, never a file."""

    selector: str = Field(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
    private_key_env: EnvName
    domain: str | None = Field(default=None, description="d=; default: the From domain.")


class TransportConfig(_Cfg):
    """How one channel is delivered."""

    type: Literal["outbox", "smtp", "webhook"] = "outbox"
    # outbox
    path: str | None = Field(default=None, description="Append each message to this JSONL file.")
    # smtp
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    starttls: StrictBool = False
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    from_address: str | None = None
    # webhook
    url: str | None = None
    secret_env: EnvName | None = Field(default=None,
                                       description="HMAC-SHA256 key for the signature.")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    dkim: TransportDkim | None = Field(default=None,
                                       description="Sign every email of this transport.")


class MailboxConfig(_Cfg):
    """An IMAP mailbox that receives replies, bounces and complaints."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
                      description="Names it in `replies fetch --mailbox`, /readyz, /metrics.")
    host: str
    port: int | None = Field(default=None, ge=1, le=65535,
                             description="Default: 993 with tls implicit, else 143.")
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    username_env: EnvName = Field(description="The variable holding the login name.")
    password_env: EnvName = Field(description="The variable holding the password.")
    folder: str = "INBOX"
    processed_folder: str = "campaign-gitops/processed"
    address: str | None = Field(
        default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+$",
        description="Its email address: emails then offer a mailto: unsubscribe too.")

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "implicit" else 143)


class InboundWebhookConfig(_Cfg):
    secret_env: EnvName = Field(description="The variable holding the HMAC-SHA256 secret of "
                                            "X-Campaign-Gitops-Signature.")


class InboundConfig(_Cfg):
    """What comes back: IMAP mailboxes, the provider webhook, the public rate limit."""

    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    webhook: InboundWebhookConfig | None = None
    rate_limit_per_minute: int = Field(
        default=60, ge=1, le=100000,
        description="Public requests (/u/..., /hooks/...) per client and minute.")

    @field_validator("mailboxes")
    @classmethod
    def _unique_names(cls, value: list[MailboxConfig]) -> list[MailboxConfig]:
        names = [m.name for m in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"mailbox name {twice[0]!r} is used twice")
        return value


def _check_public_url(value: str) -> str:
    from urllib.parse import urlsplit

    from campaign_gitops.netloc import is_loopback

    parts = urlsplit(value)
    loopback = is_loopback(parts.hostname or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"publicUrl {value!r} is not an http(s) URL such as "
                         "https://outreach.example.com")
    if parts.scheme != "https" and not loopback:
        raise ValueError(f"publicUrl {value!r} must use https:// (recipients' mail clients "
                         "and RFC 8058 one-click need it; http is only for loopback hosts)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"publicUrl {value!r}: no query, fragment or credentials")
    return value.rstrip("/")


NOTIFY_EVENTS = ("file-failing", "apply-failed", "fetch-failed", "run-paused", "halted",
                 "credits-low", "review-waiting", "message-unknown", "recovered")
NotifyEvent = Literal["file-failing", "apply-failed", "fetch-failed", "run-paused", "halted",
                      "credits-low", "review-waiting", "message-unknown", "recovered"]


class NotificationConfig(_Cfg):
    """One receiver of the daemon's notices, in apprise's URL forms (json://, slack://...)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Names the receiver "
                      "in logs and metrics.")
    url: str | None = Field(default=None, description="An apprise URL, e.g. json://host/path.")
    url_env: EnvName | None = Field(default=None, description="Read the URL from this variable "
                                    "(for URLs holding a token).")
    events: list[NotifyEvent] = Field(min_length=1, description="Which events it is told.")
    max_per_minute: int = Field(default=20, ge=1, le=1000,
                                description="Rate limit: notices past it wait their turn.")

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value and _SECRET_IN_URL.match(value):
            raise ValueError("a password in a notification url would be committed to git; "
                             "put the URL in a variable and name it in urlEnv")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> NotificationConfig:
        if bool(self.url) == bool(self.url_env):
            raise ValueError(f"notification {self.name}: give url or urlEnv (one of them)")
        return self


TRANSPORT_CHANNELS = ("email", "sms", "voice", "linkedin", "mail")


def _transport_key(key: str) -> str:
    """A channel, or a named transport whose name is not a misspelt channel."""
    channels = (*TRANSPORT_CHANNELS, *CHANNEL_ALIASES)
    if key not in channels and difflib.get_close_matches(key, channels, n=1, cutoff=0.75):
        raise PydanticCustomError(
            "literal_error", "a misspelt channel",
            {"expected": ", ".join(repr(c) for c in channels)})
    return key


TransportChannel = Annotated[
    str,
    AfterValidator(_transport_key),
    Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
          description="A channel (email, sms, voice, linkedin, mail; phone is an alias of "
                      "voice): its default transport; any other name is a named transport "
                      "that senders point at (SPEC 9)."),
]


class FreezeWindow(_Cfg):
    """Like Argo CD's sync windows: no activation and no run start inside.

    A window opens at every fire time of ``cron`` (in ``timezone``) and stays open for
    ``duration``.
    """

    name: str = "freeze"
    cron: str = Field(description="Five-field cron: when the window opens, e.g. 0 22 * * 5")
    duration: str = Field(description="How long it stays open: 30m, 2h, 1d, 2d10h",
                          json_schema_extra={"pattern": r"^\s*(\d+\s*[smhdw]\s*)+$"})
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem == "never fires":  # e.g. 0 0 30 2 *: no occurrence to open at
            raise ValueError(f"invalid cron expression {value!r}: {problem}")
        if problem is not None:
            raise ValueError(f"invalid cron expression {value!r} "
                             "(five fields: minute hour day-of-month month day-of-week)")
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration(value) <= dt.timedelta(0):
            raise ValueError("a freeze window lasts longer than 0")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (an IANA name such as "
                             "Europe/Berlin)") from None
        return value


Tier = Literal["ignition", "velocity", "dominance"]


class TierLimit(_Cfg):
    ai: int = Field(ge=0, description="ai_suggested campaigns a client of this tier may have")
    custom: int = Field(ge=0, description="custom campaigns a client of this tier may have")


class ClientDefaults(_Cfg):
    """Operational state of a client first seen in the files (kept in the database)."""

    subscription: Literal["active", "trialing", "past_due", "canceled"] = "trialing"
    credits: int = Field(default=1000, ge=0)


def _channel_keys(value: object) -> object:
    if isinstance(value, dict):
        return {CHANNEL_ALIASES.get(k, k) if isinstance(k, str) else k: v
                for k, v in value.items()}
    return value


class ProjectConfig(_Cfg):
    """campaign-gitops.yaml: every field optional; flags and environment are in settings.py."""

    resources_dir: str = Field(default="campaigns",
                               description="Folder of the resource files, relative to this file.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    prune: StrictBool = Field(default=False, description="plan/apply/reconcile archive orphans.")
    prune_max_share: float = Field(
        default=0.2, ge=0, le=1,
        description="--prune refuses to archive more than this share of the resources in "
                    "the database (beyond 3), unless --allow-mass-prune: a wrong working "
                    "directory or an emptied folder must not archive everything.")
    transports: dict[TransportChannel, TransportConfig] = Field(
        default_factory=dict, description="Delivery per channel (default: outbox).")
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    # Rule id -> "error": a warning raised to an error (an error is never lowered).
    rules: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*$")],
                Literal["error", "warning"]] = Field(
        default_factory=dict, description="Raise a rule's warnings to errors: {PF015: error}.")
    tiers: dict[Tier, TierLimit] = Field(
        default_factory=dict, description="Campaigns per tier, where a team's table differs.")
    client_defaults: ClientDefaults = Field(default_factory=ClientDefaults)
    failure_threshold: float = Field(default=0.2, ge=0, le=1,
                                     description="Pause a run when this share of deliveries fails.")
    public_url: str | None = Field(
        default=None, description="Where recipients and providers reach the public endpoints "
                                  "(/u/..., /hooks/...): https:// unless the host is loopback.")
    inbound: InboundConfig = Field(default_factory=InboundConfig)
    notifications: list[NotificationConfig] = Field(
        default_factory=list, description="Who the daemon tells when a file fails, an apply "
        "fails, a run pauses... (once per event and subject until it clears).")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_public_url(value)

    @field_validator("transports", mode="before")
    @classmethod
    def _aliases(cls, value: object) -> object:
        return _channel_keys(value)


assert set(TIERS) == {"ignition", "velocity", "dominance"}


# ---------------------------------------------------------------- freeze windows

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """``2h``, ``30m``, ``1d``, ``1h30m`` -> a timedelta; ValueError when malformed."""
    compact = text.replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30m, 2h, 1d, 1h30m)")
    return dt.timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def window_start(window: FreezeWindow, now: dt.datetime) -> dt.datetime | None:
    """The start of the occurrence of ``window`` that ``now`` lies in, else None."""
    start = prev_fire(window.cron, window.timezone, now)  # the latest opening, in the zone
    local = now.astimezone(ZoneInfo(window.timezone))
    if start is not None and start <= local < start + parse_duration(window.duration):
        return start
    return None


def is_frozen(config: ProjectConfig, now: dt.datetime) -> FreezeWindow | None:
    """The freeze window ``now`` lies in (no activation, no run start), else None."""
    for window in config.freeze_windows:
        if window_start(window, now) is not None:
            return window
    return None
