"""What the watcher reacts to, and which clients a file touches."""

from __future__ import annotations

import pytest

from campaign_gitops.config.loader import parse_text
from campaign_gitops.reconcile.daemon import clients_of
from campaign_gitops.reconcile.runner import git_ref_filter


@pytest.mark.parametrize(("path", "wanted"), [
    ("/r/.git/refs/heads/main", True),
    ("/r/.git/refs/remotes/origin/main", True),
    ("/r/.git/packed-refs", True),
    ("/r/.git/HEAD", True),
    ("/r/.git/refs/heads/main.lock", False),
    ("/r/.git/objects/ab/cdef", False),
    ("/r/.git/index", False),
])
def test_git_source_wakes_on_ref_moves_only(path: str, wanted: bool) -> None:
    assert git_ref_filter(None, path) is wanted


def test_clients_of_reads_raw_documents_even_when_invalid() -> None:
    text = """apiVersion: campaign-gitops/v1
kind: Client
metadata: {name: acme}
---
kind: Campaign
metadata: {name: q1, client: globex}
spec: {status: nonsense}
---
just a string
"""
    assert clients_of(parse_text(text, "x.yaml")) == {"acme", "globex"}
