"""The API against its own OpenAPI document: schemathesis generates requests for every operation
(a bounded number each) and sends them to a real `farm api` process with a real worker; no
answer is a 5xx, and every answer has a status, a media type and a body that the document
declares. The live streams never end by themselves, so they are left out here (tests/test_api.py
follows them)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_server import ApiProcess

TOKEN = secrets.token_urlsafe(24)
STREAMS = r"^/(events|jobs/\{job_id\}/events|llm/stream)$"
EXAMPLES = 25  # per operation: the whole run stays well under a minute
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]


@pytest.fixture
def served(farm_env: dict[str, str], start_worker) -> Iterator[ApiProcess]:
    farm_env["FARM_API__TOKEN"] = TOKEN
    start_worker(tags="midi")  # so that /health can say the farm works
    server = ApiProcess(farm_env, token=TOKEN)
    yield server
    server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]


def test_every_operation_answers_as_its_document_says(served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json", headers=served.headers)
    operations = [result.ok() for result in schema.exclude(path_regex=STREAMS).get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=served.url, headers=served.headers, checks=CHECKS,
                                   timeout=30)

        answers_as_documented()
