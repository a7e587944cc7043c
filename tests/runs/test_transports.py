"""Transports against real parts: a JSONL file, a local aiosmtpd server, a local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.webhook import verify
from campaign_gitops.runs.transport_outbox import OutboxTransport
from campaign_gitops.runs.transport_smtp import SmtpTransport
from campaign_gitops.runs.transport_webhook import WebhookTransport
from campaign_gitops.runs.transports import make_transport
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage
from tests.runs.local_servers import (
    Inbox,
    Provider,
    authenticator,
    free_port,
    http_provider,
    smtp_inbox,
)


def outgoing(key: str = "run1:enr7:step0", channel: str = "email", **kw: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "idempotency_key": key, "channel": channel, "recipient": "ada@example.com",
        "subject": "Quick question, Ada", "body": "Hi Ada,\n\nWorth a chat?\n\nUnsubscribe: "
        "https://acme.example/u/abc", "client": "acme", "campaign": "cto-au-q1",
        "metadata": {"unsubscribe_url": "https://acme.example/u/abc"},
    }
    values.update(kw)
    return OutgoingMessage(**values)


def config(transports: dict[str, Any]) -> ProjectConfig:
    return ProjectConfig.model_validate({"transports": transports})


# ---------------------------------------------------------------- outbox


def test_default_transport_is_outbox_without_file() -> None:
    transport = make_transport("sms", ProjectConfig())
    assert transport.name == "outbox"
    assert transport.send(outgoing(channel="sms")) == "outbox:run1:enr7:step0"


def test_outbox_appends_each_key_once_even_across_instances(tmp_path: Path) -> None:
    cfg = config({"email": {"type": "outbox", "path": "out/outbox.jsonl"}})
    first = make_transport("email", cfg, root=tmp_path)
    first.send(outgoing("k1"))
    first.send(outgoing("k1"))
    first.send(outgoing("k2"))
    second = make_transport("email", cfg, root=tmp_path)  # another process, same file
    second.send(outgoing("k2"))
    second.send(outgoing("k3"))
    first.send(outgoing("k3"))

    lines = (tmp_path / "out/outbox.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["k1", "k2", "k3"]
    assert records[0]["recipient"] == "ada@example.com"
    assert records[0]["subject"] == "Quick question, Ada"
    assert records[0]["metadata"] == {"unsubscribe_url": "https://acme.example/u/abc"}


def test_outbox_writes_non_json_metadata_as_text(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    at = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    OutboxTransport(path).send(outgoing(metadata={"scheduled_for": at}))
    assert json.loads(path.read_text())["metadata"] == {"scheduled_for": str(at)}


def _send_keys(path: str, keys: list[str]) -> None:
    transport = OutboxTransport(Path(path))
    for key in keys:
        transport.send(outgoing(key))


def test_outbox_processes_racing_on_one_file_write_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    keys = [f"k{i}" for i in range(150)]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_send_keys, args=(str(path), keys[n::2] + keys))
               for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    written = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(written) == sorted(keys)


def test_outbox_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    path.write_text('{"id": "k1"}\n{"id": "k2", "bo')  # crash in the middle of a write
    OutboxTransport(path).send(outgoing("k2"))
    lines = path.read_text().splitlines()
    assert lines[0] == '{"id": "k1"}'
    assert json.loads(lines[-1])["id"] == "k2"


def test_outbox_unwritable_path_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DeliveryError, match="cannot write the outbox file"):
        OutboxTransport(blocker / "outbox.jsonl").send(outgoing())


# ---------------------------------------------------------------- smtp


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox(authenticator=authenticator, auth_require_tls=False) as served:
        yield served


def test_smtp_delivers_a_real_email_with_unsubscribe_headers(
        smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    cfg = config({"email": {"type": "smtp", "host": "127.0.0.1", "port": port,
                            "usernameEnv": "SMTP_USER", "passwordEnv": "SMTP_PASS",
                            "fromAddress": "Sam <sam@acme.example>"}})
    transport = make_transport("email", cfg, env={"SMTP_USER": "mailer", "SMTP_PASS": "s3cret"})
    assert transport.name == "smtp"

    message_id = transport.send(outgoing())
    transport.send(outgoing("run1:enr8:step0", recipient="bob@example.com"))  # reused connection

    assert len(inbox.messages) == 2
    mail_from, rcpt_tos, received = inbox.messages[0]
    assert mail_from == "sam@acme.example"
    assert rcpt_tos == ["ada@example.com"]
    assert received["Subject"] == "Quick question, Ada"
    assert received["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@acme.example>")
    assert received["List-Unsubscribe"] == "<https://acme.example/u/abc>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["X-Campaign-Gitops-Idempotency-Key"] == "run1:enr7:step0"
    assert "Worth a chat?" in received.get_content()
    assert inbox.messages[1][1] == ["bob@example.com"]
    assert inbox.messages[1][2]["Message-ID"] != message_id


def test_smtp_finds_the_unsubscribe_link_in_the_body(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    transport = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example")
    body = "Hi,\nhttps://acme.example/pricing\nStop: http://acme.example/unsubscribe/t0k."
    transport.send(outgoing("k1", metadata={}, body=body))
    transport.send(outgoing("k2", metadata={}, body="no link here"))
    first, second = (m[2] for m in inbox.messages)
    assert first["List-Unsubscribe"] == "<http://acme.example/unsubscribe/t0k.>"
    assert first["List-Unsubscribe-Post"] is None  # one-click needs https
    assert second["List-Unsubscribe"] is None


def test_smtp_message_id_is_stable_per_idempotency_key(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    transport = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example")
    assert transport.send(outgoing("k1")) == transport.send(outgoing("k1"))
    assert transport.send(outgoing("k1")) != transport.send(outgoing("k2"))


def test_smtp_wrong_password_is_a_temporary_error(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    cfg = config({"email": {"type": "smtp", "host": "127.0.0.1", "port": port,
                            "usernameEnv": "SMTP_USER", "passwordEnv": "SMTP_PASS",
                            "fromAddress": "sam@acme.example"}})
    transport = make_transport("email", cfg, env={"SMTP_USER": "mailer", "SMTP_PASS": "wrong"})
    with pytest.raises(DeliveryError, match="535") as caught:
        transport.send(outgoing())
    assert not caught.value.permanent
    assert inbox.messages == []


def test_smtp_missing_credential_variable_names_it(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    cfg = config({"email": {"type": "smtp", "host": "127.0.0.1", "port": port,
                            "usernameEnv": "SMTP_USER", "passwordEnv": "SMTP_PASS",
                            "fromAddress": "sam@acme.example"}})
    transport = make_transport("email", cfg, env={"SMTP_USER": "mailer"})
    with pytest.raises(DeliveryError, match="SMTP_PASS is not set"):
        transport.send(outgoing())


def test_smtp_refused_recipient_is_permanent(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    inbox.refuse.add("ghost@example.com")
    transport = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example")
    with pytest.raises(DeliveryError, match="550") as caught:
        transport.send(outgoing(recipient="ghost@example.com"))
    assert caught.value.permanent
    transport.send(outgoing("k2"))  # the transport recovers for the next message
    assert [m[1] for m in inbox.messages] == [["ada@example.com"]]


def test_smtp_server_down_is_temporary_then_recovers() -> None:
    port = free_port()
    transport = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example",
                              timeout=5)
    with pytest.raises(DeliveryError, match="failed") as caught:
        transport.send(outgoing())
    assert not caught.value.permanent

    with smtp_inbox(port) as (inbox, _):
        transport.send(outgoing())
    assert len(inbox.messages) == 1


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_smtp_starttls_then_login(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_inbox(tls_context=server_tls, require_starttls=True,
                    authenticator=authenticator) as (inbox, port):
        env = {"SMTP_USER": "mailer", "SMTP_PASS": "s3cret"}
        plain = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example",
                              username_env="SMTP_USER", password_env="SMTP_PASS", env=env)
        with pytest.raises(DeliveryError):  # the server insists on STARTTLS first
            plain.send(outgoing())
        secure = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example",
                               starttls=True, username_env="SMTP_USER",
                               password_env="SMTP_PASS", env=env,
                               tls_context=ssl.create_default_context(cafile=str(cert)))
        secure.send(outgoing(subject="Grüße, Ada", body="Ça va? Unsubscribe: https://x/u"))
        secure.close()
    [(_, _, received)] = inbox.messages
    assert received["Subject"] == "Grüße, Ada"
    assert received.get_content().strip() == "Ça va? Unsubscribe: https://x/u"


def test_smtp_refuses_header_injection(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    transport = SmtpTransport(host="127.0.0.1", port=port, from_address="sam@acme.example")
    with pytest.raises(DeliveryError, match="cannot build the email") as caught:
        transport.send(outgoing(subject="Hi\r\nBcc: everyone@example.com"))
    assert caught.value.permanent
    assert inbox.messages == []


def test_smtp_config_errors_are_clear() -> None:
    with pytest.raises(CampaignGitopsError, match="needs host and fromAddress"):
        make_transport("email", config({"email": {"type": "smtp"}}))
    with pytest.raises(CampaignGitopsError, match="smtp can only deliver email"):
        make_transport("sms", config({"sms": {"type": "smtp", "host": "h",
                                              "fromAddress": "a@b.c"}}))


# ---------------------------------------------------------------- webhook


@pytest.fixture
def provider() -> Iterator[Provider]:
    with http_provider() as served:
        yield served


def webhook(provider: Provider, **extra: Any) -> Any:
    cfg = config({"sms": {"type": "webhook", "url": provider.url, "secretEnv": "SMS_SECRET",
                          **extra}})
    return make_transport("sms", cfg, env={"SMS_SECRET": "whsec-123"})


def test_webhook_posts_signed_json(provider: Provider) -> None:
    transport = webhook(provider)
    assert transport.name == "webhook"
    provider_id = transport.send(outgoing(channel="sms", subject=None, body="Hi Ada, quick one?"))

    assert provider_id == "prov-1"
    headers, body = provider.requests[0]
    assert headers["idempotency-key"] == "run1:enr7:step0"
    assert headers["content-type"] == "application/json"
    assert verify("whsec-123", body, headers["x-campaign-gitops-signature"])
    assert not verify("other-secret", body, headers["x-campaign-gitops-signature"])
    payload = json.loads(body)
    assert payload["id"] == "run1:enr7:step0"
    assert payload["channel"] == "sms"
    assert payload["recipient"] == "ada@example.com"
    assert payload["body"] == "Hi Ada, quick one?"


def test_webhook_fails_with_500_then_recovers_without_duplicates(provider: Provider) -> None:
    provider.statuses = [500]
    transport = webhook(provider)
    message = outgoing(channel="sms")
    with pytest.raises(DeliveryError, match="answered 500") as caught:
        transport.send(message)
    assert not caught.value.permanent
    assert transport.send(message) == "prov-2"  # the retry on a later tick
    keys = [headers["idempotency-key"] for headers, _ in provider.requests]
    assert keys == ["run1:enr7:step0", "run1:enr7:step0"]  # same key: the provider dedupes
    assert provider.requests[0][1] == provider.requests[1][1]  # and the same signed body


@pytest.mark.parametrize(("status", "permanent"),
                         [(400, True), (401, True), (404, True), (408, False), (429, False),
                          (502, False), (503, False)])
def test_webhook_status_classification(provider: Provider, status: int, permanent: bool) -> None:
    provider.statuses = [status]
    with pytest.raises(DeliveryError, match=f"answered {status}") as caught:
        webhook(provider).send(outgoing(channel="sms"))
    assert caught.value.permanent is permanent


def test_webhook_timeout_after_the_request_is_ambiguous() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/send"
        transport = WebhookTransport(url=url, timeout=0.2)
        with pytest.raises(DeliveryError, match="after the request was sent") as caught:
            transport.send(outgoing(channel="sms"))
        assert caught.value.ambiguous and not caught.value.permanent
    finally:
        listener.close()


def test_webhook_refused_connection_proves_nothing_was_sent() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there: the connection is refused
    transport = WebhookTransport(url=f"http://127.0.0.1:{port}/send", timeout=2)
    with pytest.raises(DeliveryError, match="failed to connect") as caught:
        transport.send(outgoing(channel="sms"))
    assert not caught.value.ambiguous and not caught.value.permanent


def test_phone_is_an_alias_of_voice(provider: Provider) -> None:
    cfg = config({"phone": {"type": "webhook", "url": provider.url}})
    transport = make_transport("voice", cfg)
    assert transport.name == "webhook"
    transport.send(outgoing(channel="voice"))
    headers, _ = provider.requests[0]
    assert "x-campaign-gitops-signature" not in headers  # no secretEnv: unsigned


def test_webhook_missing_secret_or_url(provider: Provider) -> None:
    cfg = config({"voice": {"type": "webhook", "url": provider.url, "secretEnv": "VOICE_SECRET"}})
    with pytest.raises(DeliveryError, match="VOICE_SECRET is not set"):
        make_transport("voice", cfg, env={}).send(outgoing(channel="voice"))
    assert provider.requests == []  # nothing unsigned left the building
    with pytest.raises(CampaignGitopsError, match="needs a url"):
        make_transport("voice", config({"voice": {"type": "webhook"}}))
