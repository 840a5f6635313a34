"""Schemathesis against the edge's `/openapi.json`: every operation, a few hundred generated cases
(positive and negative, fixed seed, bounded count), authenticated with a real access token, through
the edge to the real user and meeting services. No 5xx, no hang (every request has a timeout), no
response that violates the document.

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
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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
# public API is driven through the edge, bad input included, by tests/ai/test_transcript.py.
FUZZED = [op for op in OPERATIONS if not any(tag.startswith("meetmesh.ai.") for tag in op.tags or [])]


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

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        calls.append(case)
        case.call_and_validate(base_url=stack.url, headers=bearer, checks=CHECKS, timeout=15)

    check()
    assert calls  # Hypothesis generated and sent something
