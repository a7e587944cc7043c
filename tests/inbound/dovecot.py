"""A real IMAP server for the tests: Debian's dovecot, started from a configuration in a
temporary folder on a free port (plain login from a passwd-file, Maildir storage).

Skips with the reason where dovecot is missing; ``CAMPAIGN_GITOPS_REQUIRE_IMAP=1`` (set
by .ci/run) turns that skip into a failure.

Run as root, dovecot refuses root for its login and mail processes: the folder is then
made under /tmp with mode 0755 (pytest's own tmp root is 0700) and the mail belongs to
the ``dovecot`` user; otherwise everything runs as the current user inside ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE = os.environ.get("CAMPAIGN_GITOPS_REQUIRE_IMAP") == "1"
USER, PASSWORD = "replies", "imap-secret"


def _binary() -> str | None:
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (CAMPAIGN_GITOPS_REQUIRE_IMAP=1 forbids skipping)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    folder: Path


CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextlib.contextmanager
def running(tmp_path: Path) -> Iterator[Dovecot]:
    binary = _binary()
    if binary is None:
        unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    assert binary is not None
    root = os.geteuid() == 0
    if root:
        base = Path(tempfile.mkdtemp(prefix="cg-dovecot-"))
        base.chmod(0o755)
        mail = pwd.getpwnam("dovecot")
        uid, gid, login = mail.pw_uid, mail.pw_gid, "dovenull"
        internal, internal_group = "dovecot", "dovecot"
    else:
        base = tmp_path / "dovecot"
        base.mkdir()
        me = pwd.getpwuid(os.getuid())
        uid, gid, login = me.pw_uid, me.pw_gid, me.pw_name
        internal, internal_group = me.pw_name, me.pw_name
    (base / "state").mkdir()
    (base / "home").mkdir()
    if root:
        os.chown(base / "home", uid, gid)
    (base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = _free_port()
    config = base / "dovecot.conf"
    config.write_text(CONFIG.format(base=base, port=port, uid=uid, gid=gid, login=login,
                                    internal=internal, internal_group=internal_group))
    # The server keeps the real clock when the tests run under faketime (its auth
    # process's timers do not survive a shifted clock): only our code's clock is moved.
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
    process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                         timeout=1) as s:
                if s.recv(64).startswith(b"* OK"):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout \
                    else ""
                log = (base / "dovecot.log").read_text() if (base / "dovecot.log").exists() \
                    else ""
                unavailable(f"dovecot did not start: {output}{log}")
            time.sleep(0.1)
        yield Dovecot("127.0.0.1", port, USER, PASSWORD, base)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        if root:
            shutil.rmtree(base, ignore_errors=True)


def append(server: Dovecot, mails: list[bytes], folder: str = "INBOX") -> None:
    """Deliver ``mails`` into ``folder`` through IMAP APPEND (the server stores them)."""
    from imapclient import IMAPClient

    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        if len(mails) > 1 and client.has_capability("MULTIAPPEND"):
            client.multiappend(folder, mails)
        else:
            for raw in mails:
                client.append(folder, raw)


def folder_count(server: Dovecot, folder: str) -> int:
    from imapclient import IMAPClient

    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        if not client.folder_exists(folder):
            return 0
        return int(client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])
