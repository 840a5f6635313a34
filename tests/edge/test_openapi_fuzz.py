"""Schemathesis against the edge's `/openapi.json`: every operation, a few hundred generated cases
(positive and negative, fixed seed, bounded count), authenticated with a real access token, through
the edge to the real user and meeting services. No 5xx, no hang (every request has a timeout), no
response that violates the document (schema, status codes, content types, headers), every request
valid by the document accepted (positive data acceptance), and every method the document does not
list for a path answered 405 with an `Allow` header (schemathesis' coverage phase).

Drives schemathesis' strategies with Hypothesis directly: its pytest plugin does not support
pytest 9, and its CLI fuzzing phase is bounded by time rather than by a case count.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.generation.meta import CoverageScenario

from tests.edge.conftest import EdgeStack

OPENAPI = Path(__file__).resolve().parents[2] / "gen" / "openapi" / "openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_MODE = 8
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# The fuzz stack runs the user and meeting services. The ai service needs the bundled Triton: its
# public API is driven through the edge, bad input included, by tests/ai/test_transcript.py. The
# notification service's public API is not fuzzed yet (its bad input is driven over gRPC by
# tests/notification): adding it to this stack is the next step.
NOT_IN_STACK = ("meetmesh.ai.", "meetmesh.notification.")
FUZZED = [op for op in OPERATIONS if not any(tag.startswith(NOT_IN_STACK) for tag in op.tags or [])]


def expressible(case: schemathesis.Case) -> bool:
    """Whether a case keeps the rules OpenAPI cannot express (each is in the field's description
    and answered 400 with a field violation): a page token is one the server issued; a meeting's
    `roleGrants` name each role once; its `endTime` is after its `startTime`."""
    if "page_token" in (case.query or {}):
        return False
    body = case.body if isinstance(case.body, dict) else {}
    roles = [g.get("role") for g in body.get("roleGrants", []) if isinstance(g, dict)]
    if len(roles) != len(set(roles)):
        return False
    start, end = body.get("startTime"), body.get("endTime")
    return not (isinstance(start, str) and isinstance(end, str))


@pytest.fixture(scope="module")
def bearer(stack: EdgeStack) -> dict[str, str]:
    return stack.client().metadata


def test_the_document_covers_every_binding(stack: EdgeStack) -> None:
    bindings = sum(
        len(rpc.bindings)
        for rpc in stack.edge.catalog.rpcs.values()
        if not rpc.full_service.startswith("meetmesh.edgetest.")
    )
    assert len(OPERATIONS) == bindings


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation", FUZZED, ids=lambda op: op.label)
def test_generated_requests(
    stack: EdgeStack,
    bearer: dict[str, str],
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
) -> None:
    calls = []
    checks = [*CHECKS, positive_data_acceptance] if mode is schemathesis.GenerationMode.POSITIVE else CHECKS
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is schemathesis.GenerationMode.POSITIVE:
        strategy = strategy.filter(expressible)

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        calls.append(case)
        case.call_and_validate(base_url=stack.url, headers=bearer, checks=checks, timeout=15)

    check()
    assert calls  # Hypothesis generated and sent something


def test_methods_the_document_does_not_list_are_405_with_allow(
    stack: EdgeStack, bearer: dict[str, str]
) -> None:
    """Every path, every method it does not list (schemathesis' coverage cases): 405 and an
    `Allow` header (issue 11: a `*` swallowed the `:verb`, so `GET /v1/meetings/0:end` gave 400)."""
    sent: list[str] = []
    for operation in OPERATIONS:
        config = SCHEMA.config.generation_for(operation=operation)
        cases = SCHEMA.iter_coverage_cases(
            operation, generation_modes=[schemathesis.GenerationMode.NEGATIVE], generation_config=config
        )
        for case in cases:
            if case.meta is None or case.meta.phase.data.scenario != CoverageScenario.UNSPECIFIED_HTTP_METHOD:
                continue
            sent.append(f"{case.method} {case.formatted_path}")
            checks = [not_a_server_error, unsupported_method]
            case.call_and_validate(base_url=stack.url, headers=bearer, checks=checks, timeout=15)
    assert len(sent) > 100, sent  # each path, several methods
