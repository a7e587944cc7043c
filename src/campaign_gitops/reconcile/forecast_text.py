"""A forecast for people: the text plan's one line and the pull request's table, from
its JSON form (``RunForecast.as_json``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


def _channels(data: Mapping[str, Any]) -> Counter[str]:
    channels: Counter[str] = Counter()
    for row in data.get("per_day") or ():
        channels[row["channel"]] += int(row["messages"])
    return channels


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


def forecast_line(data: Mapping[str, Any]) -> str:
    """The text plan's one line for a run's forecast (its JSON form)."""
    channels = _channels(data)
    audience = int(data["audience"])
    leads = f"{audience} lead{'' if audience == 1 else 's'}"
    if not channels:
        head = f"forecast: {leads}, nothing sent"
    else:
        mix = ", ".join(f"{channel} {n}" for channel, n in sorted(channels.items()))
        days = len({row["date"] for row in data["per_day"]})
        head = (f"forecast: {leads}, {sum(channels.values())} messages "
                f"({mix}) on {days} day{'s' if days != 1 else ''}, "
                f"{_minute(data['first_send'])} → {_minute(data['last_send'])} UTC, "
                f"{data['credits']} credits")
    fires = data.get("next_fires") or ()
    if fires:
        head += "; next fires " + ", ".join(_minute(f) for f in fires)
    return head + "".join(f"; ⚠ {w}" for w in data.get("warnings") or ())


def forecast_markdown(title: str, data: Mapping[str, Any]) -> list[str]:
    """A pull request's table for a run's forecast: a row per day, a column per channel."""
    channels = sorted(_channels(data))
    lines = [f"**Forecast for `{title}`**: {forecast_line(data).removeprefix('forecast: ')}"]
    if not channels:
        return lines
    days: dict[str, Counter[str]] = {}
    for row in data["per_day"]:
        days.setdefault(row["date"], Counter())[row["channel"]] += int(row["messages"])
    lines += ["", "| day | " + " | ".join(channels) + " | total |",
              "|---|" + "---:|" * (len(channels) + 1)]
    for day, counts in sorted(days.items()):
        cells = " | ".join(str(counts.get(c, 0)) for c in channels)
        lines.append(f"| {day} | {cells} | {sum(counts.values())} |")
    return lines
