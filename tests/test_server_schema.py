"""Property-based run of schemathesis against the app's own OpenAPI spec: requests made
from the spec, valid and deliberately invalid, never get a 5xx, and every answer matches
the status codes, content types and response schemas the spec declares."""

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
pytest.importorskip("fastapi", reason="the web extra is not installed")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from digitnet.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(trained_model):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(trained_model, "m.npz"))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_request_built_from_the_spec_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance,
                                   content_type_conformance, response_schema_conformance])


@pytest.fixture(scope="module")
def declining_api_schema(trained_model):
    """A model whose threshold declines every picture: "digit": null must fit the spec too."""
    from digitnet import Model

    declining = Model(trained_model.params, trained_model.config,
                      {**trained_model.metadata, "reject_threshold": 1.0})
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(declining, "d.npz"))


declining_schema = schemathesis.pytest.from_fixture("declining_api_schema")


@declining_schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_declined_answers_match_the_spec(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance,
                                   content_type_conformance, response_schema_conformance])
