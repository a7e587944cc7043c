"""Reading inbound mailboxes over IMAP (imapclient): log in, read, move.

For a configured mailbox (``inbound.mailboxes``): log in with the credentials from the
environment variables the config names, read every mail of ``folder`` without marking
it seen, hand it to the caller's handler (runs/inbound.py classifies and records it,
once per Message-ID), and MOVE what was recorded (now or by an earlier fetch) to
``processedFolder`` (created when missing; ``/`` in its name is the server's hierarchy
separator). Nothing is ever deleted. Mail the handler could not match stays where it
is and is counted. Recording happens before the move, so a process that dies in
between loses nothing: the next fetch finds the mail recorded and moves it.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient

from campaign_gitops.config.project import MailboxConfig, ProjectConfig
from campaign_gitops.findings import CampaignGitopsError

BATCH = 200
TIMEOUT_SECONDS = 30.0


class MailboxError(CampaignGitopsError):
    """A mailbox could not be read (login, network, a missing folder): retried later."""


@dataclass
class FetchReport:
    mailbox: str
    seen: int = 0
    recorded: int = 0
    duplicates: int = 0  # recorded by an earlier fetch: only moved now
    unmatched: int = 0  # left in the folder
    moved: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "seen": self.seen, "recorded": self.recorded,
                "duplicates": self.duplicates, "unmatched": self.unmatched,
                "moved": self.moved, "kinds": dict(sorted(self.kinds.items()))}


def connect(box: MailboxConfig, environ: Mapping[str, str] | None = None, *,
            ssl_context: ssl.SSLContext | None = None,
            timeout: float = TIMEOUT_SECONDS) -> IMAPClient:
    """A logged-in client; MailboxError (naming the mailbox) when it cannot be."""
    env = os.environ if environ is None else environ
    user, password = env.get(box.username_env), env.get(box.password_env)
    if not user or password is None:
        missing = box.username_env if not user else box.password_env
        raise MailboxError(f"mailbox {box.name}: environment variable {missing} is not set",
                           hint="inbound.mailboxes usernameEnv/passwordEnv name the variables "
                                "holding the login")
    context = ssl_context or ssl.create_default_context()
    try:
        client = IMAPClient(box.host, port=box.effective_port, ssl=box.tls == "implicit",
                            ssl_context=context, timeout=timeout)
    except (OSError, IMAPClient.Error) as exc:
        raise MailboxError(f"mailbox {box.name}: cannot connect to {box.host}:"
                           f"{box.effective_port}: {exc}") from exc
    try:
        if box.tls == "starttls":
            client.starttls(context)
        client.login(user, password)
    except (OSError, IMAPClient.Error) as exc:
        _quietly_logout(client)
        raise MailboxError(f"mailbox {box.name}: login as {user} failed: {exc}") from exc
    return client


def _quietly_logout(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClient.Error):
        client.logout()


def _folder(client: IMAPClient, name: str) -> str:
    """``name`` with ``/`` as the server's hierarchy separator."""
    listed = client.list_folders("", "INBOX")
    delimiter = listed[0][1] if listed else b"/"
    sep = delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter or "/")
    return name.replace("/", sep) if sep != "/" else name


Handler = Callable[[bytes, set[int]], tuple[str, str]]
AfterBatch = Callable[[set[int]], None]


def process(box: MailboxConfig, handle: Handler, *, environ: Mapping[str, str] | None = None,
            ssl_context: ssl.SSLContext | None = None,
            connector: Callable[..., IMAPClient] | None = None,
            after_batch: AfterBatch | None = None) -> FetchReport:
    """Read ``box`` once: ``handle(raw, touched)`` records each mail and says
    (``recorded`` | ``duplicate`` | ``unmatched``, kind); recorded and duplicate mail is
    then moved to ``processedFolder``; ``after_batch(touched)`` runs before each move
    (what the handler collected in ``touched``). MailboxError when the box fails."""
    report = FetchReport(box.name)
    client = (connector or connect)(box, environ, ssl_context=ssl_context)
    try:
        processed = _folder(client, box.processed_folder)
        if not client.folder_exists(processed):
            client.create_folder(processed)
        client.select_folder(box.folder)
        uids = sorted(client.search("ALL"))
        for batch in _batches(uids, BATCH):
            done: list[int] = []
            touched: set[int] = set()
            for uid, data in sorted(client.fetch(batch, ["BODY.PEEK[]"]).items()):
                raw = data.get(b"BODY[]")
                if not isinstance(raw, bytes):
                    continue
                report.seen += 1
                outcome, kind = handle(raw, touched)
                if outcome == "unmatched":
                    report.unmatched += 1
                    continue
                if outcome == "recorded":
                    report.recorded += 1
                    report.kinds[kind] += 1
                else:
                    report.duplicates += 1
                done.append(uid)
            if after_batch is not None and touched:
                after_batch(touched)
            if done:
                _move(client, done, processed)
                report.moved += len(done)
    except (OSError, IMAPClient.Error) as exc:
        raise MailboxError(f"mailbox {box.name}: {type(exc).__name__}: {exc}") from exc
    finally:
        _quietly_logout(client)
    return report


def _batches(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _move(client: IMAPClient, uids: list[int], folder: str) -> None:
    if client.has_capability("MOVE"):
        client.move(uids, folder)
        return
    client.copy(uids, folder)  # RFC 6851's fallback: copy, then remove from this folder
    client.delete_messages(uids)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()


def mailboxes(config: ProjectConfig, name: str | None = None) -> list[MailboxConfig]:
    boxes = list(config.inbound.mailboxes)
    if name is not None:
        boxes = [b for b in boxes if b.name == name]
        if not boxes:
            known = ", ".join(b.name for b in config.inbound.mailboxes) or "none configured"
            raise CampaignGitopsError(f"no mailbox named {name!r} (known: {known})",
                                      hint="inbound.mailboxes in campaign-gitops.yaml")
    if not boxes:
        raise CampaignGitopsError("no inbound mailboxes configured",
                                  hint="add inbound.mailboxes to campaign-gitops.yaml: "
                                       "[{name, host, usernameEnv, passwordEnv}]")
    return boxes
