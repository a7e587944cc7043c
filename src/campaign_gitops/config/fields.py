"""The vocabulary of the file format's fields: names, channels, statuses, run types,
tiers and annotations, and the field types the models share (``HH:MM`` times, exact
RFC 3339 times and ISO dates within the years a database can store, lists given as a
single value). ``models.py`` builds the kinds from them and re-exports them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

API_VERSION = "campaign-gitops/v1"
SCHEMA_BASE = "https://campaign-gitops.dev/schemas/v1"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


CHANNELS = ("email", "sms", "voice", "linkedin", "mail")
CHANNEL_ALIASES = {"phone": "voice"}
STATUSES = ("draft", "active", "paused", "completed")
RUN_TYPES = ("test_run", "run", "schedule")
TIERS = ("ignition", "velocity", "dominance")
# Campaigns a tier allows: (ai_suggested, custom).
TIER_LIMITS: dict[str, tuple[int, int]] = {
    "ignition": (3, 2),
    "velocity": (6, 4),
    "dominance": (12, 8),
}

ANNOTATION_DISABLE = "campaign-gitops/disable"
ANNOTATION_PROTECT = "campaign-gitops/protect"
ANNOTATION_PREVIOUS_NAME = "campaign-gitops/previous-name"
ANNOTATION_SUSPEND = "campaign-gitops/suspend"
ANNOTATION_REASONING = "campaign-gitops/reasoning"


def _channel(value: Any) -> Any:
    if isinstance(value, str):
        return CHANNEL_ALIASES.get(value, value)
    return value


def as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
Channel = Annotated[
    Literal["email", "sms", "voice", "linkedin", "mail"],
    BeforeValidator(_channel, json_schema_input_type=Literal[
        "email", "sms", "voice", "linkedin", "mail", "phone"]),
]
HHMM = Annotated[str, Field(pattern=HHMM_PATTERN)]
# Times in files are strings in exactly the JSON Schema's formats (SPEC section 7): an
# RFC 3339 date-time with seconds and an offset, an ISO date. These patterns are the one
# source: the models check them and the generated schemas carry them, so lint, plan,
# check-jsonschema and editors agree. Anything else (an integer, a space for the T, no
# seconds, "+1100") is a SCHEMA finding, never a guess.
DATE_TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_TIME_EXAMPLE = "2026-12-01T09:00:00+11:00"
DATE_EXAMPLE = "2026-12-24"


def _exact(pattern: str, what: str, example: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, dt.date):  # from Python callers, already typed
            return value
        if not isinstance(value, str) or not compiled.match(value):
            raise ValueError(f"{describe_value(value)} is not {what}: write it as a quoted "
                             f"string like \"{example}\"")
        return value
    return check


def describe_value(value: Any) -> str:
    return f"the {type(value).__name__} {value!r}" if not isinstance(value, str) \
        else repr(value)


# Times are compared and stored in UTC and shifted by days and intervals: a time whose
# UTC lies outside these years (0001-01-01T00:00:00+11:00, 9999-12-31T23:59:59-11:00)
# would raise OverflowError there; it is a SCHEMA finding here instead.
FIRST_YEAR, LAST_YEAR = 1970, 9998


def _in_range(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        try:
            year = value.astimezone(dt.UTC).year if value.tzinfo is not None else value.year
        except OverflowError:
            year = 0
    else:
        year = value.year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{value.isoformat()} is out of range: times and dates must lie "
                         f"between the years {FIRST_YEAR} and {LAST_YEAR} (in UTC)")
    return value


Timestamp = Annotated[
    dt.datetime,
    BeforeValidator(_exact(DATE_TIME_PATTERN, "an RFC 3339 date-time with seconds and an "
                           "offset", DATE_TIME_EXAMPLE)),
    AfterValidator(_in_range),
    Field(strict=False),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN,
                    "examples": [DATE_TIME_EXAMPLE]}),
]
Day = Annotated[
    dt.date,
    BeforeValidator(_exact(DATE_PATTERN, "an ISO date", DATE_EXAMPLE)),
    AfterValidator(_in_range),
    Field(strict=False),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN,
                    "examples": [DATE_EXAMPLE]}),
]
StrList = Annotated[list[str], BeforeValidator(as_list, json_schema_input_type=list[str] | str)]

