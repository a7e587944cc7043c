"""What a forecast warns about: where it meets a limit (the audience is 0, the credits run
out, a window never opens, the horizon) or a freeze window. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from campaign_gitops.reconcile.forecast_model import RunForecast


def limit_warnings(forecast: RunForecast, horizon_days: int) -> None:
    if forecast.audience == 0:
        forecast.warnings.append("the audience is 0: no lead of the pool matches")
    if forecast.credits_out is not None:
        forecast.warnings.append(
            f"credits run out on {forecast.credits_out.isoformat()}"
            + (f": {forecast.blocked} enrollment(s) stop there" if forecast.blocked else ""))
    if forecast.failed:
        forecast.warnings.append(f"{forecast.failed} step(s) can never be sent: the "
                                 "sending window never opens for their channel")
    if forecast.unfinished:
        forecast.warnings.append(f"{forecast.unfinished} enrollment(s) still walking after "
                                 f"{horizon_days} days")


def freeze_warnings(forecast: RunForecast, windows: Iterable[Any]) -> None:
    """Warn when a freeze window opens while the run is still sending (a freeze stops
    starts and activations, not delivery: the sequence goes on through it)."""
    from campaign_gitops.config.cron import next_fire

    if forecast.first_send is None or forecast.last_send is None:
        return
    for window in windows:
        try:
            opens = next_fire(window.cron, window.timezone, forecast.first_send,
                              inclusive=True)
        except (ValueError, LookupError):
            continue
        if opens is not None and opens <= forecast.last_send:
            forecast.warnings.append(
                f"the sequence outlasts freeze window {window.name!r}: still sending when "
                f"it opens at {opens.isoformat()} (a freeze holds starts, not delivery)")
