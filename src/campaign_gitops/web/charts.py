"""Messages per day as an inline SVG bar chart, stacked by status. Rendered on the server.

Returns markup built only from numbers and a fixed set of status names and colours;
day labels are escaped anyway.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

STATUS_COLOURS = {
    "sent": "#2e9e5b", "queued": "#3c7dd9", "approved": "#6aa3e8",
    "pending_review": "#e0a526", "rejected": "#9b59b6", "failed": "#d9453c",
    "skipped": "#9aa3ad", "sending": "#1f5fb0", "unknown": "#b03a2e",
}
CHANNEL_COLOURS = {
    "email": "#3c7dd9", "linkedin": "#0a66c2", "sms": "#2e9e5b", "voice": "#e0a526",
    "mail": "#9b59b6",
}
WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 200, 36, 36, 10


def forecast_per_day(forecast: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """A run's forecast (``per_day`` rows) -> the same chart stacked by channel, and its
    legend."""
    by_day: dict[str, dict[str, int]] = {}
    for row in forecast.get("per_day") or ():
        day = by_day.setdefault(str(row["date"]), {})
        day[str(row["channel"])] = day.get(str(row["channel"]), 0) + int(row["messages"])
    return (messages_per_day(by_day, CHANNEL_COLOURS, "forecast: messages per day"),
            legend(by_day, CHANNEL_COLOURS))


def messages_per_day(by_day: dict[str, dict[str, int]],
                     colours: dict[str, str] = STATUS_COLOURS,
                     label: str = "messages per day") -> str:
    """``{"2026-12-01": {"sent": 40, "failed": 2}, ...}`` -> an ``<svg>`` element
    (stacked by the keys of ``colours``: statuses by default, channels for a forecast)."""
    if not by_day:
        return ('<svg class="chart" role="img" aria-label="no messages yet" '
                f'viewBox="0 0 {WIDTH} 40"><text x="8" y="24">no messages yet</text></svg>')
    days = _every_day(sorted(by_day))
    by_day = {d: by_day.get(d, {}) for d in days}
    top = max(sum(v.values()) for v in by_day.values()) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / len(days)
    bar = max(2.0, min(40.0, slot * 0.7))
    parts = [f'<svg class="chart" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 8}" '
             f'y2="{PAD_TOP + plot_h}" stroke="#c8ced6"/>',
             f'<text class="axis" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" '
             f'text-anchor="end">{top}</text>',
             f'<text class="axis" x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" '
             'text-anchor="end">0</text>']
    label_every = max(1, len(days) // 10)
    for i, day in enumerate(days):
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        y: float = PAD_TOP + plot_h
        counts = by_day[day]
        for status in sorted(counts, key=lambda s: list(colours).index(s)
                             if s in colours else 99):
            h = counts[status] / top * plot_h
            y -= h
            colour = colours.get(status, "#5d6b7a")
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(day)} {escape(status)}: '
                         f'{counts[status]}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - 14}" '
                         f'text-anchor="middle">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _every_day(days: list[str]) -> list[str]:
    """The days from the first to the last (gaps shown as empty), at most a year."""
    try:
        first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    except ValueError:
        return days
    span = (last - first).days
    if span > 366:
        return days
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(span + 1)]


def legend(by_day: dict[str, dict[str, int]],
           colours: dict[str, str] = STATUS_COLOURS) -> list[tuple[str, str]]:
    seen = {s for counts in by_day.values() for s in counts}
    return [(s, colours.get(s, "#5d6b7a")) for s in colours if s in seen] + [
        (s, "#5d6b7a") for s in sorted(seen - set(colours))]
