"""schemathesis against a real server: requests generated from the OpenAPI document for every
route, each response checked for server errors and against the schema its route declares.

The server is uvicorn on loopback with the fake embedder and generator: the API layer is what
is fuzzed, and a thousand generations by the real model would take an hour.
"""

from __future__ import annotations

from collections import Counter
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

from askdocs.api.app import create_app

from conftest import fake_container
from live import serving

EXAMPLES_PER_OPERATION = 90
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("fuzz")
    container = fake_container(root / "data")
    docs = root / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nThe default colour of the widget is teal.\n")
    (docs / "notes.md").write_text("# Notes\n\nThe installer needs 2 GB of free disk space.\n")
    container.ingestion.ingest_paths([docs], collection="default")
    secret, _ = container.keys.create("fuzz", "admin", ())
    with serving(create_app(container, warm_up=False)) as url:
        yield url, {"Authorization": f"Bearer {secret}"}


@pytest.mark.timeout(900)
def test_every_route_survives_generated_requests(server: tuple[str, dict[str, str]]) -> None:
    url, auth = server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, [op.label for op in operations]
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=url, headers=auth, timeout=30)
            calls[case.operation.label] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collect, so one run reports every route's failures
                failures.append(f"{case.operation.label}: {str(exc)[:600]}")

        fuzz()
    print({label: n for label, n in sorted(calls.items())})
    assert not failures, "\n\n".join(failures[:10])
    assert sum(calls.values()) >= 1000, calls
    assert set(calls) == {op.label for op in operations}


def test_the_openapi_document_describes_responses(server: tuple[str, dict[str, str]]) -> None:
    import httpx

    spec = httpx.get(f"{server[0]}/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            ok = next(code for code in responses if code.startswith("2"))
            assert responses[ok].get("content") or path.endswith("/content"), (path, method)
            if path.startswith("/v1"):
                error = responses["404"]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)
