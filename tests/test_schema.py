"""schemathesis drives the live server from its own OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from catcher.server import Catcher

from .conftest import TEST_SETTINGS, DATA, smtp_client


@pytest.fixture(scope="module")
def live() -> Iterator[Catcher]:
    with Catcher(TEST_SETTINGS) as catcher:
        for path in sorted(DATA.rglob("*.eml"))[:10]:
            with smtp_client(catcher) as client:
                client.sendmail("a@example.com", ["b@example.com"], path.read_bytes())
        yield catcher


@pytest.fixture(scope="module")
def api_schema(live: Catcher) -> Any:
    return schemathesis.openapi.from_url(live.url + "/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, live: Catcher) -> None:
    if case.path == "/api/events":
        pytest.skip("an endless stream; tested in test_events.py")
    excluded = []
    if case.method.upper() == "DELETE":
        # Keep the fixture messages so the other operations have something to read.
        case.query = {**(case.query or {}), "to": "nobody-matches-this"}
    if case.path == "/api/messages/wait":
        # 408 is this route's documented answer when nothing arrives; keep waits short.
        case.query = {**(case.query or {}), "timeout": 0.1}
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.call_and_validate(timeout=30, excluded_checks=excluded)
