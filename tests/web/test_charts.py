"""The messages-per-day chart: stacked bars, empty days kept, labels escaped."""

from __future__ import annotations

from campaign_gitops.web.charts import legend, messages_per_day


def test_chart_stacks_statuses_and_keeps_empty_days() -> None:
    svg = messages_per_day({"2026-12-01": {"sent": 4, "failed": 1}, "2026-12-03": {"sent": 2}})
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
    assert svg.count("<rect") == 3
    assert "2026-12-01 sent: 4" in svg and "2026-12-01 failed: 1" in svg
    assert ">12-02<" in svg  # the day without messages still has its slot
    assert legend({"d": {"sent": 1, "weird": 2}}) == [("sent", "#2e9e5b"),
                                                       ("weird", "#5d6b7a")]


def test_chart_escapes_and_handles_nothing() -> None:
    assert "no messages yet" in messages_per_day({})
    svg = messages_per_day({"<b>": {"<i>": 1}})
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;i&gt;" in svg
