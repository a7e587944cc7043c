"""A real git server for the tests: ``git http-backend`` behind a small HTTP server.

    server = GitHttpServer(repos_root, user="ci", password="s3cret").start()
    url = server.url("campaigns.git")      # http://127.0.0.1:PORT/campaigns.git
    server.stop(); server.start()          # gone, and back on the same port

Basic auth on every request (401 with a challenge otherwise), the CGI protocol spoken
by hand (``PATH_INFO``, ``QUERY_STRING``, ``CONTENT_TYPE``, ``GIT_PROTOCOL``...), request
bodies de-chunked. When git has no http-backend the tests skip, and fail instead when
``CAMPAIGN_GITOPS_REQUIRE_GIT_HTTP=1`` (set by .ci/run).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REQUIRE_GIT_HTTP = os.environ.get("CAMPAIGN_GITOPS_REQUIRE_GIT_HTTP") == "1"


def http_backend() -> str | None:
    if shutil.which("git") is None:
        return None
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                               check=False).stdout.strip()
    backend = Path(exec_path) / "git-http-backend"
    return str(backend) if backend.exists() else None


def require_http_backend() -> str:
    backend = http_backend()
    if backend is None:
        reason = "git http-backend is not installed (Debian: apt-get install git)"
        if REQUIRE_GIT_HTTP:
            pytest.fail(f"{reason} (CAMPAIGN_GITOPS_REQUIRE_GIT_HTTP=1 forbids skipping)")
        pytest.skip(reason)
    return backend


def _handler(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _authorized(self) -> bool:
            expected = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
            return self.headers.get("Authorization", "") == f"Basic {expected}"

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _cgi(self) -> None:
            body = self._body() if self.command == "POST" else b""
            server.requests += 1
            if not self._authorized():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.root), "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": server.user,
                "REMOTE_ADDR": "127.0.0.1", "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
            done = subprocess.run([server.backend], input=body, env=env, capture_output=True,
                                  check=False)
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = done.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class GitHttpServer:
    """Serves every bare repository under ``root`` at ``http://127.0.0.1:PORT/<name>``."""

    def __init__(self, root: Path, *, user: str = "ci", password: str = "s3cret",
                 port: int = 0) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.port = port
        self.backend = require_http_backend()
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def start(self) -> GitHttpServer:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
