"""Real local servers for delivery tests: an aiosmtpd inbox and a scripted HTTP provider."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """What the server received; ``delay``: seconds it waits, having received a message
    whole, before answering DATA (a slow server; after a client's timeout, an accepted
    message the client never heard about)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: set[str] = set()
        self.delay = delay

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer"
          and auth_data.password == b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@contextlib.contextmanager
def smtp_inbox(port: int | None = None, delay: float = 0.0,
               **options: Any) -> Iterator[tuple[Inbox, int]]:
    """An aiosmtpd server on 127.0.0.1 collecting what it receives in an Inbox."""
    inbox, port = Inbox(delay), port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Provider:
    """A local HTTP server answering with scripted statuses and keeping what it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # popped per request; 200 when empty
        self.delay = 0.0  # seconds to wait, with the request read, before answering
        self.on_request: Any = None  # called with (headers, body) before answering
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                provider.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if provider.on_request is not None:
                    provider.on_request(provider.requests[-1][0], body)
                if provider.delay:
                    time.sleep(provider.delay)
                status = provider.statuses.pop(0) if provider.statuses else 200
                answer = (json.dumps({"id": f"prov-{len(provider.requests)}"}) if status == 200
                          else "upstream unavailable").encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)




@contextlib.contextmanager
def http_provider() -> Iterator[Provider]:
    server = Provider()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
