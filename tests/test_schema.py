"""schemathesis drives the live server from its own OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from catcher.server import Catcher

from .conftest import DATA, TEST_SETTINGS, smtp_client


@schemathesis.serializer("message/rfc822")
def _raw_message(ctx: Any, value: Any) -> bytes:
    """POST /api/messages takes the raw message as its body."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def live() -> Iterator[Catcher]:
    with Catcher(TEST_SETTINGS) as catcher:
        for path in sorted(DATA.rglob("*.eml"))[:10]:
            with smtp_client(catcher) as client:
                client.sendmail("a@example.com", ["b@example.com"], path.read_bytes())
        yield catcher


def check(case: Any) -> None:
    excluded = []
    if case.method.upper() == "DELETE":
        # Keep the stored messages so the other operations have something to read.
        case.query = {**(case.query or {}), "to": "nobody-matches-this"}
    if case.path == "/api/messages/wait":
        # 408 is this route's documented answer when nothing arrives; keep waits short.
        case.query = {**(case.query or {}), "timeout": 0.1}
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if case.path == "/api/faults" and case.method.upper() == "POST":
        # A rule's fields constrain each other (drop only at stage data, one of every,
        # rate and probability, ...): the server answers 400 with the reason for the
        # combinations the schema's description lists but cannot express.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if case.path == "/api/messages" and case.method.upper() == "POST":
        # A body of white space, or a to= that is not one address, is refused with the
        # reason: the schema cannot say what makes a message.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.call_and_validate(timeout=30, excluded_checks=excluded)


@pytest.mark.slow
def test_api_conforms_to_its_schema(live: Catcher) -> None:
    # Driven through hypothesis directly rather than schemathesis's pytest plugin, which
    # breaks with new pytest releases.
    schema = schemathesis.openapi.from_url(live.url + "/api/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/events":
            continue  # an endless stream; tested in test_events.py

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            check(case)

        run()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 13, tested
