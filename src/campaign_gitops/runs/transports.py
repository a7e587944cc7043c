"""Delivery transports: how one channel's messages leave the building.

Chosen per channel by ``transports:`` in campaign-gitops.yaml (``outbox`` by default):

- ``outbox``: tick records the message in the database; with ``path`` it is also appended
  as one JSON line to that file, at most once per idempotency key (across processes too).
- ``smtp``: real SMTP (STARTTLS with ``starttls: true``, implicit TLS on port 465, login
  with credentials read from the environment variables the config names). The
  Message-ID is derived from the idempotency key, so a resend after a crash carries the
  same id, and it is returned so replies (``In-Reply-To``) can be matched.
- ``webhook``: an HTTP POST of a JSON message, signed with
  ``X-Campaign-Gitops-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` keyed by the
  secret in ``secretEnv``, with an ``Idempotency-Key`` header.

Every failure is a DeliveryError. Only failures that prove nothing was accepted are
retried (a refused connection, an SMTP error reply before or in answer to DATA, an HTTP
5xx, 408 or 429 answer); ``permanent`` ones (a refused recipient, an SMTP 5xx, an HTTP
4xx) are not. A timeout or a dropped connection after the message was handed over (SMTP
from DATA on, HTTP once the request was sent) is ``ambiguous``: the server may have
accepted it, so it is never retried by itself (SMTP servers cannot deduplicate; a
webhook receiver should deduplicate on ``Idempotency-Key`` all the same).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

import httpx

from campaign_gitops.config.models import CHANNEL_ALIASES
from campaign_gitops.config.project import ProjectConfig, TransportConfig, TransportDkim
from campaign_gitops.config.unsubscribe import find_unsubscribe_link
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.tokens import mailto, token_of
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage, Transport

SIGNATURE_HEADER = "X-Campaign-Gitops-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EMAIL_IDEMPOTENCY_HEADER = "X-Campaign-Gitops-Idempotency-Key"
# OutgoingMessage.metadata key tick fills with the recipient's unsubscribe link.
UNSUBSCRIBE_METADATA = "unsubscribe_url"
SMTPS_PORT = 465
# A connection idle longer than this is checked with NOOP before it is reused.
SMTP_IDLE_CHECK_SECONDS = 10.0


def make_transport(channel: str, config: ProjectConfig, *, root: Path | None = None,
                   env: Mapping[str, str] | None = None) -> Transport:
    """The transport configured for ``channel`` (outbox when none is configured).

    ``root`` resolves a relative outbox ``path`` (default: the current directory);
    ``env`` is where credentials are read from (default: ``os.environ``).
    Raises CampaignGitopsError for a configuration that cannot work.
    """
    settings = _settings_for(channel, config)
    environ = os.environ if env is None else env
    where = f"transports.{channel}"
    if settings.type == "smtp":
        if channel != "email":
            raise CampaignGitopsError(f"{where}: smtp can only deliver email, not {channel}",
                                      hint="use a webhook transport for this channel")
        address = next((m.address for m in config.inbound.mailboxes if m.address), None)
        return SmtpTransport.from_config(settings, environ, where, address)
    if settings.type == "webhook":
        return WebhookTransport.from_config(settings, environ, where)
    path = None
    if settings.path:
        path = Path(settings.path)
        if not path.is_absolute():
            path = (root or Path.cwd()) / path
    return OutboxTransport(path)


def make_named_transport(name: str, config: ProjectConfig, *,
                         env: Mapping[str, str] | None = None) -> Transport:
    """A named transport of campaign-gitops.yaml (SPEC 9) that senders point at: an smtp
    one needs no fromAddress (its senders give From)."""
    settings = config.transports.get(name)
    where = f"transports.{name}"
    if settings is None:
        raise CampaignGitopsError(f"{where} is not defined in campaign-gitops.yaml",
                                  hint=f"add transports: {{{name}: {{type: smtp, host: …}}}}")
    environ = os.environ if env is None else env
    if settings.type == "smtp":
        address = next((m.address for m in config.inbound.mailboxes if m.address), None)
        return SmtpTransport.from_config(settings, environ, where, address, need_from=False)
    if settings.type == "webhook":
        return WebhookTransport.from_config(settings, environ, where)
    raise CampaignGitopsError(f"{where}: an outbox cannot be a sender's transport",
                              hint="use type smtp or webhook")


def _settings_for(channel: str, config: ProjectConfig) -> TransportConfig:
    """The channel's transport settings; ``phone:`` is accepted for ``voice``."""
    if channel in config.transports:
        return config.transports[channel]
    for alias, target in CHANNEL_ALIASES.items():
        if target == channel and alias in config.transports:
            return config.transports[alias]
    return TransportConfig()


def signature(secret: str | bytes, body: bytes) -> str:
    """The webhook signature header value: ``sha256=<hex HMAC-SHA256 of body>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str) -> bool:
    """Check a received signature header in constant time (for receivers and tests)."""
    return hmac.compare_digest(signature(secret, body), header)


def message_json(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON form of a message (outbox lines, webhook bodies)."""
    return {
        "id": message.idempotency_key,
        "channel": message.channel,
        "recipient": message.recipient,
        "subject": message.subject,
        "body": message.body,
        "client": message.client,
        "campaign": message.campaign,
        "headers": dict(message.headers),
        "metadata": dict(message.metadata),
    }


# ---------------------------------------------------------------- outbox


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
                line = json.dumps(message_json(message), ensure_ascii=False, sort_keys=True,
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


# ---------------------------------------------------------------- smtp


class SmtpTransport:
    """Email through a real SMTP server; one connection reused while it stays alive."""

    name = "smtp"

    def __init__(self, *, host: str, port: int, from_address: str, starttls: bool = False,
                 username_env: str | None = None, password_env: str | None = None,
                 timeout: float = 10.0, env: Mapping[str, str] | None = None,
                 tls_context: ssl.SSLContext | None = None,
                 unsubscribe_mailbox: str | None = None,
                 dkim: TransportDkim | None = None) -> None:
        self.host = host
        self.dkim = dkim
        # An inbound mailbox's address: List-Unsubscribe offers a mailto: beside the link.
        self.unsubscribe_mailbox = unsubscribe_mailbox
        self.port = port
        self.from_address = from_address
        self.starttls = starttls
        self.username_env = username_env
        self.password_env = password_env
        self.timeout = timeout
        self._env = os.environ if env is None else env
        # Verifies the server's certificate against the system CAs (or SSL_CERT_FILE).
        self.tls_context = tls_context or ssl.create_default_context()
        self._conn: smtplib.SMTP | None = None
        self._used = 0.0  # monotonic time the connection was last used

    @classmethod
    def from_config(cls, settings: TransportConfig, env: Mapping[str, str],
                    where: str, unsubscribe_mailbox: str | None = None,
                    need_from: bool = True) -> SmtpTransport:
        """``need_from``: False for a named transport (its senders give From)."""
        missing = [name for name, value in (("host", settings.host),
                                            ("fromAddress", settings.from_address))
                   if not value and (need_from or name == "host")]
        if missing:
            raise CampaignGitopsError(
                f"{where}: an smtp transport needs {' and '.join(missing)}",
                hint="e.g. transports: {email: {type: smtp, host: smtp.example.com, "
                     "port: 587, starttls: true, fromAddress: sales@example.com}}")
        default_port = 587 if settings.starttls else 25
        return cls(host=settings.host or "", port=settings.port or default_port,
                   from_address=settings.from_address or "", starttls=settings.starttls,
                   username_env=settings.username_env, password_env=settings.password_env,
                   timeout=settings.timeout_seconds, env=env,
                   unsubscribe_mailbox=unsubscribe_mailbox, dkim=settings.dkim)

    def send(self, message: OutgoingMessage) -> str:
        try:
            email = self.build(message)
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header: no injection
            raise DeliveryError(f"cannot build the email: {exc}", permanent=True) from exc
        data = email.as_bytes(policy=SMTP_POLICY)
        dkim = _message_dkim(message) or self.dkim
        if dkim is not None:
            data = dkim_sign(data, dkim, str(email["From"]), self._env)
        handed_over = False
        try:
            conn = self._connection()
            _envelope(conn, parseaddr(str(email["From"]))[1], message.recipient)
            handed_over = True  # from DATA on, the server may accept what we sent
            code, reply = conn.data(data)
            if code != 250:  # smtplib raises for these; kept should a version not
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            permanent = _all_permanent(exc)
            raise DeliveryError(_refused_reason(exc), permanent=permanent,
                                bounce="hard" if permanent else "soft") from exc
        except smtplib.SMTPResponseException as exc:  # an answer: nothing was accepted
            self.close()
            text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            permanent = 500 <= exc.smtp_code < 600 and not isinstance(
                exc, smtplib.SMTPAuthenticationError)
            raise DeliveryError(f"SMTP {self.host}:{self.port} answered {exc.smtp_code} {text}",
                                permanent=permanent) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            when = " after the message was sent" if handed_over else ""
            raise DeliveryError(f"SMTP {self.host}:{self.port} failed{when}: "
                                f"{exc or type(exc).__name__}", ambiguous=handed_over) from exc
        return str(email["Message-ID"])

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The email as it goes on the wire (headers, body)."""
        email = EmailMessage()
        # A sender's From (SPEC 9) comes in the message's headers; else the transport's.
        sender = message.headers.get("From") or self.from_address
        if not sender:
            raise ValueError("no From: the message has no sender and the transport no "
                             "fromAddress")
        email["From"] = sender
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key, sender)
        email[EMAIL_IDEMPOTENCY_HEADER] = message.idempotency_key
        unsubscribe = unsubscribe_link(message)
        if unsubscribe:
            targets = [unsubscribe]
            token = token_of(unsubscribe)
            if token and self.unsubscribe_mailbox:
                targets.append(mailto(self.unsubscribe_mailbox, token))
            email["List-Unsubscribe"] = ", ".join(f"<{t}>" for t in targets)
            if unsubscribe.startswith("https://"):
                email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        for key, value in message.headers.items():
            if key in email:
                del email[key]
            email[key] = value
        email.set_content(message.body)
        return email

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            if time.monotonic() - self._used < SMTP_IDLE_CHECK_SECONDS:
                self._used = time.monotonic()
                return self._conn
            try:  # idle for a while: the server may have hung up
                if self._conn.noop()[0] == 250:
                    self._used = time.monotonic()
                    return self._conn
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        if self.port == SMTPS_PORT:  # implicit TLS from the first byte
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=self.tls_context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls and self.port != SMTPS_PORT:
                conn.starttls(context=self.tls_context)
            credentials = self._credentials()
            if credentials:
                conn.login(*credentials)
        except BaseException:
            _quietly_close(conn)
            raise
        self._conn = conn
        self._used = time.monotonic()
        return conn

    def _credentials(self) -> tuple[str, str] | None:
        if not self.username_env and not self.password_env:
            return None
        values = []
        for variable in (self.username_env, self.password_env):
            value = self._env.get(variable or "")
            if not variable or value is None:
                raise DeliveryError(
                    f"SMTP credentials: environment variable {variable or '(not configured)'} "
                    "is not set (transports usernameEnv/passwordEnv)")
            values.append(value)
        return values[0], values[1]

    def close(self) -> None:
        if self._conn is not None:
            _quietly_close(self._conn)
            self._conn = None


def _envelope(conn: smtplib.SMTP, sender: str, recipient: str) -> None:
    """MAIL FROM and RCPT TO: every refusal here is an answer, before anything was sent."""
    conn.ehlo_or_helo_if_needed()
    code, reply = conn.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = conn.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})


def unsubscribe_link(message: OutgoingMessage) -> str:
    """``metadata['unsubscribe_url']``, else the body's first link that says unsubscribe."""
    given = str(message.metadata.get(UNSUBSCRIBE_METADATA) or "")
    if given:
        return given
    return find_unsubscribe_link(message.body)


def message_id(idempotency_key: str, from_address: str) -> str:
    """A Message-ID stable per idempotency key, in the sender's domain."""
    domain = from_address.rpartition("@")[2].strip("> ") or "campaign-gitops.invalid"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


# What a DKIM signature covers (SPEC 9); RFC 8058 needs both List-Unsubscribe headers.
DKIM_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
                b"List-Unsubscribe-Post")


def _message_dkim(message: OutgoingMessage) -> TransportDkim | None:
    """The sender's own DKIM settings, carried in the message's metadata."""
    data = message.metadata.get("dkim")
    return TransportDkim.model_validate(data) if isinstance(data, dict) else None


def dkim_sign(data: bytes, settings: TransportDkim, from_header: str,
              env: Mapping[str, str]) -> bytes:
    """``data`` with a DKIM-Signature header in front (relaxed/relaxed, DKIM_HEADERS).

    The PEM private key is read from the variable ``privateKeyEnv`` names (``\\n`` in a
    one-line value stands for a line break). Raises DeliveryError (permanent, nothing
    was sent) when the key is missing or unusable.
    """
    import dkim

    pem = env.get(settings.private_key_env, "")
    if not pem:
        raise DeliveryError(f"DKIM: the variable {settings.private_key_env} is not set",
                            permanent=True)
    pem = pem.replace("\\n", "\n")
    domain = settings.domain or parseaddr(from_header)[1].rpartition("@")[2]
    try:
        signature = dkim.sign(data, settings.selector.encode(), domain.encode(), pem.encode(),
                              canonicalize=(b"relaxed", b"relaxed"),
                              include_headers=list(DKIM_HEADERS))
    except dkim.DKIMException as exc:
        raise DeliveryError(f"DKIM signing failed: {exc}", permanent=True) from exc
    return bytes(signature) + data


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _refused_reason(exc: smtplib.SMTPRecipientsRefused) -> str:
    parts = []
    for address, (code, text) in exc.recipients.items():
        detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        parts.append(f"{address}: {code} {detail}")
    return "recipient refused: " + "; ".join(parts)


def _all_permanent(exc: smtplib.SMTPRecipientsRefused) -> bool:
    return all(500 <= code < 600 for code, _ in exc.recipients.values())


# ---------------------------------------------------------------- webhook


class WebhookTransport:
    """An HTTP POST per message, signed with HMAC-SHA256 of the body."""

    name = "webhook"

    def __init__(self, *, url: str, secret_env: str | None = None, timeout: float = 10.0,
                 env: Mapping[str, str] | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self.url = url
        self.secret_env = secret_env
        self._env = os.environ if env is None else env
        self._http = http_client or httpx.Client(timeout=timeout)

    @classmethod
    def from_config(cls, settings: TransportConfig, env: Mapping[str, str],
                    where: str) -> WebhookTransport:
        if not settings.url:
            raise CampaignGitopsError(
                f"{where}: a webhook transport needs a url",
                hint="e.g. transports: {sms: {type: webhook, url: https://provider.example/send, "
                     "secretEnv: SMS_WEBHOOK_SECRET}}")
        return cls(url=settings.url, secret_env=settings.secret_env,
                   timeout=settings.timeout_seconds, env=env)

    def send(self, message: OutgoingMessage) -> str:
        body = json.dumps(message_json(message), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json",
                   IDEMPOTENCY_HEADER: message.idempotency_key}
        if self.secret_env:
            secret = self._env.get(self.secret_env)
            if not secret:
                raise DeliveryError(f"webhook secret: environment variable {self.secret_env} "
                                    "is not set (transports secretEnv)")
            headers[SIGNATURE_HEADER] = signature(secret, body)
        try:
            response = self._http.post(self.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # no connection, so nothing was sent: retried
            raise DeliveryError(f"webhook {self.url} failed to connect: "
                                f"{type(exc).__name__}") from exc
        except httpx.HTTPError as exc:  # the request may have arrived: unknown
            raise DeliveryError(f"webhook {self.url} failed after the request "
                                f"was sent: {type(exc).__name__}", ambiguous=True) from exc
        if 200 <= response.status_code < 300:
            return _provider_id(response) or message.idempotency_key
        status = response.status_code
        permanent = status < 500 and status not in (408, 429)
        snippet = response.text[:200].strip()
        raise DeliveryError(f"webhook {self.url} answered {status}"
                            + (f": {snippet}" if snippet else ""), permanent=permanent)

    def close(self) -> None:
        self._http.close()


def _provider_id(response: httpx.Response) -> str | None:
    """The provider's id from a JSON answer's ``id`` or ``message_id``, if it has one."""
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "messageId"):
            if isinstance(data.get(key), str | int) and str(data[key]):
                return str(data[key])
    return None
