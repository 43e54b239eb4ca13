"""Property-based fuzzing of the API from its OpenAPI document (schemathesis): whatever is
sent to any operation, with the token or not, the answer is never a 5xx and its content
type and body are what the document says."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from server_helpers import BEARER, TOKEN, Store

from framework.server import ServerConfig, create_app

EXAMPLES = 30
"""Requests per operation: enough to reach every error path, bounded to keep it quick."""


def test_no_request_to_any_operation_makes_the_api_fail(store: Store) -> None:
    app = create_app(ServerConfig(storage=store.url, token=TOKEN, interval=0.01))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    checked = []
    for found in schema.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_without_failing(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=BEARER, checks=[not_a_server_error, content_type_conformance]
            )

        answers_without_failing()
        checked.append(operation.label)

    assert len(checked) == 11, checked
