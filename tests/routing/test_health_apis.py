"""GET /api/health/models: the rolled-up health of the models installed in the caller's workspace."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.analytics.models import CircuitState
from tests.analytics.factories import ModelHealthFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

URL = "/api/health/models"


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def client(workspace) -> APIClient:
    client = APIClient()
    client.force_login(MembershipFactory(workspace=workspace, user=UserFactory()).user)
    return client


def installed_health(workspace, upstream_name: str, **figures):
    model = ModelFactory(provider=ProviderFactory(slug="acme-ai"), upstream_name=upstream_name)
    InstalledModelFactory(workspace=workspace, model=model)
    return ModelHealthFactory(model=model, **figures)


def ids(response) -> list[str]:
    return [row["model"] for row in response.json()["results"]]


def test_lists_the_health_of_the_installed_models_only(client, workspace):
    installed_health(
        workspace,
        "busy",
        requests=40,
        successes=36,
        errors_by_kind={"rate_limit": 3, "bad_request": 1},
        error_rate=Decimal("0.075"),
        latency_p50_ms=420,
        latency_p95_ms=1800,
        ttft_p50_ms=150,
    )
    ModelHealthFactory(model__upstream_name="not-installed")
    installed_elsewhere = ModelHealthFactory(model__upstream_name="elsewhere")
    InstalledModelFactory(workspace=WorkspaceFactory(), model=installed_elsewhere.model)

    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    [row] = body["results"]
    updated_at = row.pop("updated_at")
    assert updated_at
    assert row == {
        "model": "acme-ai/busy",
        "provider": "acme-ai",
        "circuit_state": "closed",
        "circuit_opened_at": None,
        "window_seconds": 300,
        "requests": 40,
        "successes": 36,
        "errors_by_kind": {"rate_limit": 3, "bad_request": 1},
        "error_rate": 0.075,
        "latency_p50_ms": 420,
        "latency_p95_ms": 1800,
        "ttft_p50_ms": 150,
    }


def test_an_api_key_of_the_workspace_reads_it_too(workspace):
    installed_health(workspace, "one")
    _, secret = ApiKeyFactory.create_with_secret(workspace=workspace)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert ids(client.get(URL)) == ["acme-ai/one"]


def test_anonymous_callers_are_refused():
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Send 'Authorization: Bearer sk-sy-…', or sign in.",
        "extra": {"code": "not_authenticated"},
    }


def test_filters_by_model_and_circuit_state(client, workspace):
    installed_health(workspace, "fine")
    installed_health(workspace, "broken", circuit_state=CircuitState.OPEN)
    installed_health(workspace, "probing", circuit_state=CircuitState.HALF_OPEN)
    assert ids(client.get(URL, {"state": "open"})) == ["acme-ai/broken"]
    assert ids(client.get(URL, {"state": "half_open"})) == ["acme-ai/probing"]
    assert ids(client.get(URL, {"model": "acme-ai/fine"})) == ["acme-ai/fine"]
    assert ids(client.get(URL, {"model": "acme-ai/fine", "state": "open"})) == []


def test_a_bad_filter_is_a_400_in_the_api_error_shape(client):
    response = client.get(URL, {"state": "broken"})
    assert response.status_code == 400
    assert response.json() == {
        "message": 'Invalid input: state: "broken" is not a valid choice.',
        "extra": {"code": "invalid", "fields": {"state": ['"broken" is not a valid choice.']}},
    }


def test_pages(client, workspace):
    for name in ("a", "b", "c"):
        installed_health(workspace, name)
    first = client.get(URL, {"page_size": 2}).json()
    assert (first["count"], [r["model"] for r in first["results"]]) == (3, ["acme-ai/a", "acme-ai/b"])
    second = client.get(first["next"]).json()
    assert [r["model"] for r in second["results"]] == ["acme-ai/c"]
    response = client.get(URL, {"page": 9})
    assert response.status_code == 404
    assert response.json()["extra"] == {"code": "not_found"}


def test_no_query_per_row(client, workspace):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    installed_health(workspace, "first")
    few = queries()
    for name in ("second", "third", "fourth"):
        installed_health(workspace, name)
    assert queries() == few


def test_the_openapi_schema_documents_it(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/health/models"]["get"]
    assert operation["operationId"] == "health_models_list"
    assert {p["name"] for p in operation["parameters"]} == {"model", "state", "page", "page_size"}
    assert set(operation["responses"]) == {"200", "400", "401", "404"}
