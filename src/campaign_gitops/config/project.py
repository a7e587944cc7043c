"""The project: where the repo root is, where resources live, which database to use.

Extended by the project configuration file (``campaign-gitops.yaml`` at the repo root).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "campaign-gitops.yaml"


def find_root(start: Path) -> Path:
    """The repo root: the nearest ancestor of ``start`` holding ``.git`` or the config file.

    Falls back to the current directory when ``start`` lies below it, else to ``start``'s
    parent. Files in findings are named relative to this root.
    """
    start = start.absolute()
    probe = start if start.is_dir() else start.parent
    for candidate in (probe, *probe.parents):
        if (candidate / ".git").exists() or (candidate / CONFIG_FILE).is_file():
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
# The shape of campaign-gitops.yaml. Loading, validation with positions, precedence
# (flags > file > environment > defaults) and `campaign-gitops config` build on these.

from typing import Literal  # noqa: E402

from pydantic import BaseModel, ConfigDict, Field  # noqa: E402
from pydantic.alias_generators import to_camel  # noqa: E402


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              frozen=True)


class DatabaseConfig(_Cfg):
    url: str | None = None
    url_env: str | None = Field(default=None, description="Read the URL from this variable.")


class TransportConfig(_Cfg):
    """How one channel is delivered."""

    type: Literal["outbox", "smtp", "webhook"] = "outbox"
    # outbox
    path: str | None = Field(default=None, description="Append each message to this JSONL file.")
    # smtp
    host: str | None = None
    port: int | None = None
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    from_address: str | None = None
    # webhook
    url: str | None = None
    secret_env: str | None = Field(default=None, description="HMAC-SHA256 key for the signature.")
    timeout_seconds: float = 10.0


class FreezeWindow(_Cfg):
    """Like Argo CD's sync windows: no activation and no run start inside."""

    name: str = "freeze"
    cron: str
    duration: str = Field(description="e.g. 2h, 30m, 1d")
    timezone: str = "UTC"


class TierLimit(_Cfg):
    ai: int = Field(ge=0)
    custom: int = Field(ge=0)


class ClientDefaults(_Cfg):
    subscription: Literal["active", "trialing", "past_due", "canceled"] = "trialing"
    credits: int = Field(default=1000, ge=0)


class ProjectConfig(_Cfg):
    resources_dir: str = "campaigns"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    prune: bool = False
    transports: dict[str, TransportConfig] = Field(default_factory=dict)
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    # Rule id -> "error": a warning raised to an error (an error is never lowered).
    rules: dict[str, Literal["error", "warning"]] = Field(default_factory=dict)
    tiers: dict[str, TierLimit] = Field(default_factory=dict)
    client_defaults: ClientDefaults = Field(default_factory=ClientDefaults)
    failure_threshold: float = Field(default=0.2, ge=0, le=1,
                                     description="Pause a run when this share of deliveries fails.")


# ---------------------------------------------------------------- freeze windows

import datetime as _dt  # noqa: E402
import re as _re  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

_DURATION = _re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> _dt.timedelta:
    """``2h``, ``30m``, ``1d``, ``1h30m`` -> a timedelta; ValueError when malformed."""
    compact = text.replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30m, 2h, 1d, 1h30m)")
    return _dt.timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def window_start(window: FreezeWindow, now: _dt.datetime) -> _dt.datetime | None:
    """The start of the occurrence of ``window`` that ``now`` lies in, else None."""
    from croniter import croniter

    local = now.astimezone(ZoneInfo(window.timezone))
    # The latest cron fire at or before now (cron counts in whole minutes).
    base = local.replace(second=0, microsecond=0) + _dt.timedelta(minutes=1)
    start = croniter(window.cron, base).get_prev(_dt.datetime)
    if start <= local < start + parse_duration(window.duration):
        return start  # type: ignore[no-any-return]
    return None


def is_frozen(config: ProjectConfig, now: _dt.datetime) -> FreezeWindow | None:
    """The freeze window ``now`` lies in (no activation, no run start), else None."""
    for window in config.freeze_windows:
        if window_start(window, now) is not None:
            return window
    return None
