"""The ``outbox`` transport (the default): nothing leaves the building.

tick's database row is the record; with ``path`` the message is also appended as one
JSON line to that file, at most once per idempotency key (across processes too: the
file is locked while a writer catches up with what others appended).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from campaign_gitops.runs.types import DeliveryError, OutgoingMessage


class OutboxTransport:
    """Nothing leaves: tick's database row is the record; optionally a JSONL file too."""

    name = "outbox"
    dedupes = True  # a key already written is not written again: delivery groups its sends

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._seen: set[str] = set()
        self._scanned = 0  # bytes of the file already read into _seen

    def send(self, message: OutgoingMessage) -> str:
        provider_id = f"outbox:{message.idempotency_key}"
        if self.path is not None:
            try:
                self._append_once(message)
            except OSError as exc:
                raise DeliveryError(f"cannot write the outbox file {self.path}: {exc}") from exc
        return provider_id

    def _append_once(self, message: OutgoingMessage) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._catch_up(handle)
                if message.idempotency_key in self._seen:
                    return
                line = json.dumps(message.as_json(), ensure_ascii=False, sort_keys=True,
                                  default=str)
                handle.seek(0, os.SEEK_END)
                if handle.tell() and not self._ends_with_newline(handle):
                    handle.write(b"\n")  # a torn last line from a crash stays on its own line
                handle.write(line.encode() + b"\n")
                handle.flush()  # safe against a process crash; the database is the record
                self._scanned = handle.tell()
                self._seen.add(message.idempotency_key)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _catch_up(self, handle: Any) -> None:
        """Read the keys other writers appended since this process last looked."""
        size = handle.seek(0, os.SEEK_END)
        if size < self._scanned:  # the file was truncated or replaced: start over
            self._seen.clear()
            self._scanned = 0
        if size == self._scanned:
            return
        handle.seek(self._scanned)
        for raw in handle.read().splitlines():
            try:
                key = json.loads(raw).get("id")
            except (ValueError, AttributeError):
                continue  # a torn line: its message is sent again, on a line of its own
            if isinstance(key, str):
                self._seen.add(key)
        self._scanned = size

    @staticmethod
    def _ends_with_newline(handle: Any) -> bool:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        return bool(last == b"\n")
