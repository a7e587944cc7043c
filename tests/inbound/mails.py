"""Real inbound mails as bytes, built with the email package the way servers write them:
a reply, RFC 3464 delivery status reports (permanent, transient), an RFC 5965 abuse
report, an RFC 3834 auto-reply, an unsubscribe-by-mail, an unrelated mail."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

DATE = formatdate(1795424400, usegmt=True)  # 2026-11-23


def _original(sent_id: str, to: str) -> str:
    return (f"From: Acme <sales@mail.acme.test>\r\nTo: {to}\r\nSubject: Hi there\r\n"
            f"Message-ID: {sent_id}\r\nDate: {DATE}\r\n")


def reply(sender: str, in_reply_to: str, own_id: str, body: str = "Tuesday works.",
          **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "replies@acme.test"
    m["Subject"] = "Re: Hi there"
    m["Date"] = DATE
    m["Message-ID"] = own_id
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    for key, value in headers.items():
        m[key.replace("_", "-")] = value
    m.set_content(body)
    return m.as_bytes()


def auto_reply(sender: str, in_reply_to: str, own_id: str) -> bytes:
    return reply(sender, in_reply_to, own_id, "I am away until Monday.",
                 Auto_Submitted="auto-replied", X_Autoreply="yes")


def _report(report_type: str, head: str, parts: list[tuple[str, str]]) -> bytes:
    """A multipart/report written out as a mail server writes it (CRLF, a boundary)."""
    boundary = f"=_{report_type}_boundary"
    text = (f"{head}MIME-Version: 1.0\r\nContent-Type: multipart/report; "
            f"report-type={report_type};\r\n boundary=\"{boundary}\"\r\n\r\n")
    for content_type, body in parts:
        text += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n"
    return (text + f"--{boundary}--\r\n").encode()


def dsn(recipient: str, sent_id: str, own_id: str, *, permanent: bool) -> bytes:
    subject = "Undelivered Mail Returned to Sender" if permanent else \
        "Delayed Mail (still being retried)"
    head = ("From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
            f"To: sales@mail.acme.test\r\nSubject: {subject}\r\nDate: {DATE}\r\n"
            f"Message-ID: {own_id}\r\nAuto-Submitted: auto-replied\r\n")
    action, code = ("failed", "5.1.1") if permanent else ("delayed", "4.4.1")
    diagnostic = "550 5.1.1 no such user" if permanent else "451 4.4.1 try later"
    status = ("Reporting-MTA: dns; mx.example.com\r\n\r\n"
              f"Final-Recipient: rfc822; {recipient}\r\n"
              f"Original-Recipient: rfc822;{recipient}\r\n"
              f"Action: {action}\r\nStatus: {code}\r\nDiagnostic-Code: smtp; {diagnostic}\r\n")
    return _report("delivery-status", head, [
        ("text/plain", "This is the mail system at host mx.example.com.\r\n"),
        ("message/delivery-status", status),
        ("text/rfc822-headers", _original(sent_id, recipient))])


def arf(recipient: str, sent_id: str, own_id: str) -> bytes:
    head = ("From: Feedback Loop <fbl@isp.example.net>\r\nTo: abuse@acme.test\r\n"
            f"Subject: FW: Hi there\r\nDate: {DATE}\r\nMessage-ID: {own_id}\r\n")
    feedback = ("Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"
                "Original-Mail-From: <sales@mail.acme.test>\r\n"
                f"Original-Rcpt-To: <{recipient}>\r\nArrival-Date: {DATE}\r\n")
    return _report("feedback-report", head, [
        ("text/plain", "This is an email abuse report for an email message received from "
                       "IP 192.0.2.1.\r\n"),
        ("message/feedback-report", feedback),
        ("text/rfc822-headers", _original(sent_id, recipient))])


def unrelated(own_id: str) -> bytes:
    return reply("newsletter@unknown.example.org", "", own_id, "Our weekly news.")


def unsubscribe_by_mail(sender: str, token: str, own_id: str) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "replies@acme.test"
    m["Subject"] = f"unsubscribe {token}"
    m["Message-ID"] = own_id
    m["Date"] = DATE
    m.set_content("")
    return m.as_bytes()
