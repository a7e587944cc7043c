"""The daemon's log: one line per event, human by default, JSON with ``--log-format json``.

Every line carries the event name and, where they apply, the resource, the action and
the git commit, so a change in the database can be traced to the commit that made it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from campaign_gitops.redact import redact_text

FIELDS_FIRST = ("resource", "action", "commit")


@dataclass
class EventLog:
    format: str = "text"  # text | json
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Called with (event, message, fields) after each line (the notifier queues them).
    listeners: list[Callable[[str, str, Mapping[str, Any]], None]] = field(
        default_factory=list, repr=False)

    def __call__(self, event: str, message: str = "", *, level: str = "info",
                 **fields: Any) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        # Nothing secret leaves in a log line: every URL in it is redacted.
        message = redact_text(message)
        values = {k: redact_text(v) if isinstance(v, str) else v
                  for k, v in fields.items() if v is not None and v != ""}
        if self.format == "json":
            record = {"ts": now, "level": level, "event": event, **values}
            if message:
                record["msg"] = message
            line = json.dumps(record, default=str, ensure_ascii=False)
        else:
            ordered = [k for k in FIELDS_FIRST if k in values]
            ordered += sorted(k for k in values if k not in FIELDS_FIRST)
            parts = [now, level.upper().ljust(5), event]
            parts += [f"{k}={_short(k, values[k])}" for k in ordered]
            if message:
                parts.append(message)
            line = " ".join(parts)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()
        for listener in self.listeners:
            with contextlib.suppress(Exception):  # a listener never breaks the logging
                listener(event, message, values)


def _short(key: str, value: Any) -> str:
    text = str(value)
    if key == "commit" and len(text) == 40:
        return text[:12]
    return text if " " not in text else json.dumps(text, ensure_ascii=False)
