"""Schemathesis generates requests from /api/v1/openapi.json: none may cause a server error,
and every status the API answers is one the document lists.

Driven through hypothesis directly (``operation.as_strategy()``); schemathesis' own pytest
plugin does not run under this pytest version.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from campaign_gitops.web.app import create_app
from tests.web.web_world import World, build_world

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error, status_code_conformance  # noqa: E402

# The CSRF pair lets generated POSTs reach the review handlers.
HEADERS = {"X-CSRF-Token": "fuzz", "Cookie": "cg_csrf=fuzz"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("webfuzz")
    w = build_world(tmp, f"sqlite:///{tmp / 'state.db'}", ticks=2)
    yield w
    w.db.dispose()


def test_api_never_fails_with_a_server_error(world: World) -> None:
    app = create_app(world.db, project=world.project, config=world.config, plan_ttl=60)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=HEADERS, checks=[not_a_server_error,
                                                       status_code_conformance])

        check()
