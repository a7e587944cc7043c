"""Reading inbound mailboxes over IMAP (imapclient): fetch, classify, record, move.

For each configured mailbox (``inbound.mailboxes``): log in with the credentials from
the environment variables the config names, read every mail of ``folder`` without
marking it seen, classify it (inbound/classify.py), and record it through
runs/replies.py, once per Message-ID (``replies.external_id``). A recorded mail (or one
recorded by an earlier fetch) is then MOVEd to ``processedFolder`` (created when
missing; ``/`` in its name is the server's hierarchy separator). Nothing is ever
deleted. A mail that matches no sent message and no lead stays where it is and is
counted as unmatched. Recording is idempotent and happens before the move, so a process
that dies in between loses nothing: the next fetch finds the mail recorded and moves it.

Each mail is recorded in its own transaction, committed before the next one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import ssl
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from sqlalchemy.exc import IntegrityError

from campaign_gitops.config.project import MailboxConfig, ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.inbound.classify import Verdict, classify
from campaign_gitops.inbound.tokens import Signer
from campaign_gitops.state.db import Database

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


def record(db: Database, box: str, raw: bytes, *, now: dt.datetime,
           signer: Signer | None) -> tuple[str, str]:
    """Record one mail: (``recorded``, ``duplicate`` or ``unmatched``, its kind)."""
    from campaign_gitops.runs.replies import already_recorded

    verdict = classify(raw)
    try:
        with db.session() as session:
            if already_recorded(session, verdict.message_id):
                return "duplicate", verdict.kind
            done = _record(session, box, verdict, now=now, signer=signer)
            if not done:
                session.rollback()
                return "unmatched", verdict.kind
    except IntegrityError:  # another process recorded it at the same moment
        return "duplicate", verdict.kind
    return "recorded", verdict.kind


def _record(session: Any, box: str, v: Verdict, *, now: dt.datetime,
            signer: Signer | None) -> bool:
    from campaign_gitops.runs.replies import ReplyInput, add_reply

    source = f"imap:{box}"
    if v.kind == "unsubscribe":  # the mailto: of List-Unsubscribe
        what = signer.verify(v.token or "") if signer is not None else None
        if what is None:
            return False
        if not what.test:
            supp.suppress(session, what.client, what.contact, reason="unsubscribe",
                          source=source, actor="imap", now=now)
        add_reply(session, ReplyInput(
            contact=what.contact, kind="unsubscribe", body=v.subject, external_id=v.message_id,
            source=source, actor="imap", channel="email", message_key=what.message,
            client=what.client), now=now)
        return True
    matched = False
    for i, contact in enumerate(v.contacts):
        if not contact:
            continue
        result = add_reply(session, ReplyInput(
            contact=contact, kind=v.kind, body=v.body or None, in_reply_to=v.references,
            channel="email", external_id=v.message_id if i == 0 else f"{v.message_id}#{i}",
            source=source, actor="imap"), now=now)
        matched = matched or result.matched_by != "none"
    return matched


def fetch_mailbox(db: Database, box: MailboxConfig, *, now: dt.datetime,
                  environ: Mapping[str, str] | None = None, signer: Signer | None = None,
                  ssl_context: ssl.SSLContext | None = None,
                  connector: Callable[..., IMAPClient] | None = None) -> FetchReport:
    """Read ``box`` once (``replies fetch``, the daemon's poll). MailboxError on failure."""
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
            for uid, data in sorted(client.fetch(batch, ["BODY.PEEK[]"]).items()):
                raw = data.get(b"BODY[]")
                if not isinstance(raw, bytes):
                    continue
                report.seen += 1
                outcome, kind = record(db, box.name, raw, now=now, signer=signer)
                if outcome == "unmatched":
                    report.unmatched += 1
                    continue
                if outcome == "recorded":
                    report.recorded += 1
                    report.kinds[kind] += 1
                else:
                    report.duplicates += 1
                done.append(uid)
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
