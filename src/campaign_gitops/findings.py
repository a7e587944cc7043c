"""The one vocabulary of problems: a Location, a Severity and a Finding.

A Finding can be born in any layer (loader, models, bundle, preflight, plan) and is
rendered only at the edge (cli, web, daemon logs). Values are frozen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        return 2 if self is Severity.ERROR else 1


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a file: repo-relative path, 1-based line and column, JSON pointer."""

    file: str
    line: int = 1
    column: int = 1
    path: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    location: Location
    message: str
    resource: str = ""
    hint: str = ""
    related: tuple[Location, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.rule)

    def to_dict(self) -> dict[str, object]:
        """The stable JSON shape of SPEC section 5."""
        loc = self.location
        message = f"{self.message} ({self.hint})" if self.hint else self.message
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "path": loc.path,
            "resource": self.resource,
            "message": message,
        }


class CampaignGitopsError(Exception):
    """An operational failure the CLI turns into one line for the user (exit code 2 or 1)."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message
