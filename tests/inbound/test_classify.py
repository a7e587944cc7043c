"""inbound/classify.py: bytes in, a verdict out."""

from __future__ import annotations

from campaign_gitops.inbound.classify import classify
from tests.inbound import mails

SENT = "<abc123@mail.acme.test>"


def test_a_reply_names_its_sender_and_thread():
    v = classify(mails.reply("Jo Bloggs <Jo@Example.com>", SENT, "<r1@example.com>"))
    assert (v.kind, v.contacts, v.message_id, v.references) == (
        "reply", ("jo@example.com",), "<r1@example.com>", f"{SENT} {SENT}")
    assert "Tuesday works." in v.body


def test_delivery_status_reports_permanent_and_transient():
    hard = classify(mails.dsn("Gone@Example.com", SENT, "<d1@mx>", permanent=True))
    assert (hard.kind, hard.contacts, hard.references, hard.detail) == (
        "bounce", ("gone@example.com",), SENT, "5.1.1")
    soft = classify(mails.dsn("slow@example.com", SENT, "<d2@mx>", permanent=False))
    assert (soft.kind, soft.contacts, soft.references) == (
        "soft_bounce", ("slow@example.com",), SENT)


def test_feedback_report_is_a_complaint_about_the_original():
    v = classify(mails.arf("angry@example.com", SENT, "<f1@isp>"))
    assert (v.kind, v.contacts, v.references, v.detail) == (
        "complaint", ("angry@example.com",), SENT, "abuse")


def test_auto_replies_by_their_headers():
    assert classify(mails.auto_reply("jo@example.com", SENT, "<a1@x>")).kind == "out_of_office"
    for header, value in (("Precedence", "auto_reply"), ("X_Autorespond", "yes"),
                          ("Auto_Submitted", "auto-generated")):
        raw = mails.reply("jo@example.com", SENT, "<a2@x>", **{header: value})
        assert classify(raw).kind == "out_of_office", header
    assert classify(mails.reply("jo@example.com", SENT, "<a3@x>",
                                Auto_Submitted="no")).kind == "reply"


def test_unsubscribe_by_mail_carries_the_token_and_a_mail_without_id_gets_one():
    v = classify(mails.unsubscribe_by_mail("jo@example.com", "tok.en", "<u1@x>"))
    assert (v.kind, v.token) == ("unsubscribe", "tok.en")
    raw = b"From: x@example.com\r\nSubject: hello\r\n\r\nhi\r\n"
    first, again = classify(raw), classify(raw)
    assert first.message_id == again.message_id and first.message_id.startswith("<sha256-")
