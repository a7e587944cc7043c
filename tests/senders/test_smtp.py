"""Senders on a real SMTP server (aiosmtpd): From, Reply-To, threading, DKIM (SPEC 9)."""

from __future__ import annotations

import base64
import email
import email.policy
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import dkim
import pytest

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.transport_smtp import DKIM_HEADERS
from campaign_gitops.runs.transports import make_named_transport, make_transport
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage
from tests.runs.local_servers import Inbox, smtp_inbox


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    """(PEM private key, the DNS TXT record) made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key.read_text(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture
def server() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as served:
        yield served


def outgoing(key: str, headers: dict[str, str], **kw: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "idempotency_key": key, "channel": "email", "recipient": "ada@example.com",
        "subject": "Quick question", "body": "Hi Ada,\n\nUnsubscribe: https://acme.test/u/abc",
        "client": "acme", "campaign": "q1", "headers": headers,
        "metadata": {"unsubscribe_url": "https://acme.test/u/abc"}}
    values.update(kw)
    return OutgoingMessage(**values)


def raw(inbox: Inbox, i: int) -> bytes:
    return inbox.messages[i][2].as_bytes(policy=email.policy.SMTP)


def test_sender_from_reply_to_and_threading_on_a_named_transport(
        server: tuple[Inbox, int]) -> None:
    inbox, port = server
    cfg = ProjectConfig.model_validate(
        {"transports": {"acme-smtp": {"type": "smtp", "host": "127.0.0.1", "port": port}}})
    transport = make_named_transport("acme-smtp", cfg, env={})
    first = transport.send(outgoing("r:e1:s0", {"From": "Isla Moreno <isla@acme.test>",
                                                "Reply-To": "team@acme.test"}))
    transport.send(outgoing("r:e1:s1", {"From": "Isla Moreno <isla@acme.test>",
                                        "In-Reply-To": first, "References": first},
                            subject="Re: Quick question"))
    (mail_from, _, one), (_, _, two) = inbox.messages
    assert mail_from == "isla@acme.test"
    assert one["From"] == "Isla Moreno <isla@acme.test>" and one["Reply-To"] == "team@acme.test"
    assert one["Message-ID"] == first and first.endswith("@acme.test>")
    assert two["In-Reply-To"] == first and two["References"] == first
    assert two["Subject"] == "Re: Quick question"


def test_a_message_without_sender_on_a_transport_without_from_fails_permanently(
        server: tuple[Inbox, int]) -> None:
    _, port = server
    cfg = ProjectConfig.model_validate(
        {"transports": {"acme-smtp": {"type": "smtp", "host": "127.0.0.1", "port": port}}})
    with pytest.raises(DeliveryError) as info:
        make_named_transport("acme-smtp", cfg, env={}).send(outgoing("r:e2:s0", {}))
    assert info.value.permanent and not info.value.ambiguous


def test_dkim_signature_verifies_and_covers_the_required_headers(
        server: tuple[Inbox, int], dkim_key: tuple[str, bytes]) -> None:
    inbox, port = server
    pem, record = dkim_key
    cfg = ProjectConfig.model_validate({"transports": {"email": {
        "type": "smtp", "host": "127.0.0.1", "port": port,
        "fromAddress": "Sam <sam@acme.test>",
        "dkim": {"selector": "s1", "privateKeyEnv": "ACME_DKIM"}}}})
    transport = make_transport("email", cfg, env={"ACME_DKIM": pem})
    transport.send(outgoing("r:e3:s0", {}))
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return record if name == b"s1._domainkey.acme.test." else b""

    data = raw(inbox, 0)
    assert dkim.verify(data, dnsfunc=dns)
    assert asked == [b"s1._domainkey.acme.test."]
    signature = email.message_from_bytes(data)["DKIM-Signature"]
    tags = dict(part.strip().split("=", 1) for part in signature.split(";") if "=" in part)
    assert tags["c"] == "relaxed/relaxed" and tags["d"] == "acme.test"
    signed = {h.strip().lower() for h in "".join(tags["h"].split()).split(":")}
    assert {h.decode().lower() for h in DKIM_HEADERS} <= signed
    # a changed List-Unsubscribe breaks the signature
    tampered = data.replace(b"https://acme.test/u/abc>", b"https://evil.test/u/abc>", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_a_senders_own_dkim_key_and_domain(server: tuple[Inbox, int],
                                           dkim_key: tuple[str, bytes]) -> None:
    inbox, port = server
    pem, record = dkim_key
    cfg = ProjectConfig.model_validate(
        {"transports": {"acme-smtp": {"type": "smtp", "host": "127.0.0.1", "port": port}}})
    transport = make_named_transport("acme-smtp", cfg,
                                     env={"ISLA_DKIM": pem.replace("\n", "\\n")})
    transport.send(outgoing("r:e4:s0", {"From": "Isla <isla@mail.acme.test>"}, metadata={
        "dkim": {"selector": "isla", "privateKeyEnv": "ISLA_DKIM", "domain": "acme.test"}}))
    assert dkim.verify(raw(inbox, 0), dnsfunc=lambda name, timeout=5: (
        record if name == b"isla._domainkey.acme.test." else b""))


def test_a_missing_dkim_key_sends_nothing(server: tuple[Inbox, int]) -> None:
    inbox, port = server
    cfg = ProjectConfig.model_validate({"transports": {"email": {
        "type": "smtp", "host": "127.0.0.1", "port": port, "fromAddress": "sam@acme.test",
        "dkim": {"selector": "s1", "privateKeyEnv": "NOT_SET"}}}})
    with pytest.raises(DeliveryError, match="NOT_SET") as info:
        make_transport("email", cfg, env={}).send(outgoing("r:e5:s0", {}))
    assert info.value.permanent and inbox.messages == []
