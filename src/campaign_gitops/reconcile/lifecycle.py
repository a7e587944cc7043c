"""The campaign lifecycle (SPEC section 3): a table and one function."""

from __future__ import annotations

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active"}),
    "active": frozenset({"paused", "completed"}),
    "paused": frozenset({"active", "completed"}),
    "completed": frozenset(),
}


def check_transition(current: str, desired: str) -> str | None:
    """None when ``current -> desired`` is legal (or no move), else the reason in words."""
    if current == desired:
        return None
    allowed = TRANSITIONS.get(current)
    if allowed is None:
        return f"unknown status {current!r}"
    if desired in allowed:
        return None
    if not allowed:
        return f"{current} is terminal: a {current} campaign cannot become {desired}"
    options = ", ".join(sorted(allowed))
    return f"illegal transition {current} -> {desired} (from {current} only: {options})"
