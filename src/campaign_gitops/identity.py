"""A resource's identity, ``(client, kind, name)``: shared by files (config) and rows (state).

It lives at the bottom of the package, beside ``findings``, so both the bundle and the
database snapshot key resources the same way without either importing the other.
"""

from __future__ import annotations

from typing import NamedTuple

KINDS = ("Client", "Goal", "Segment", "Template", "Writer", "Reviewer", "Sequence",
         "Schedule", "Campaign")
# Dependency order: what a campaign refers to comes first (plan/apply order).
KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}


class Key(NamedTuple):
    client: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.client}/{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> Key:
        client, kind, name = text.split("/", 2)
        return cls(client, kind, name)

    def order(self) -> tuple[int, str, str]:
        return (KIND_ORDER.get(self.kind, 99), self.client, self.name)
