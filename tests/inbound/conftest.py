from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inbound.dovecot import Dovecot, running


@pytest.fixture
def imap_server(tmp_path: Path) -> Iterator[Dovecot]:
    with running(tmp_path) as server:
        yield server
