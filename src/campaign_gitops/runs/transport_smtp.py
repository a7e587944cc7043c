"""The ``smtp`` transport: email through a real SMTP server.

STARTTLS with ``starttls: true``, implicit TLS on port 465, login with credentials read
from the environment variables the config names; one connection is reused while it
stays alive. The Message-ID is derived from the idempotency key, so a resend after a
crash carries the same id, and it is returned so replies (``In-Reply-To``) can be
matched. ``List-Unsubscribe`` (with RFC 8058 one-click) carries the recipient's link;
a DKIM signature is added when the sender or the transport has ``dkim`` settings.

A refusal before DATA proves nothing was accepted (retried, or permanent for a 5xx or a
refused recipient: a bounce); a failure from DATA on is ``ambiguous``: never retried.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr

from campaign_gitops.config.project import TransportConfig, TransportDkim
from campaign_gitops.config.unsubscribe import find_unsubscribe_link
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.tokens import mailto, token_of
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage

EMAIL_IDEMPOTENCY_HEADER = "X-Campaign-Gitops-Idempotency-Key"
# OutgoingMessage.metadata key tick fills with the recipient's unsubscribe link.
UNSUBSCRIBE_METADATA = "unsubscribe_url"
SMTPS_PORT = 465
# A connection idle longer than this is checked with NOOP before it is reused.
SMTP_IDLE_CHECK_SECONDS = 10.0


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
