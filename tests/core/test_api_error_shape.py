"""Every /api error is `{"message": str, "extra": {"code": str, ...}}` with the right status: for each operation the
schema documents (so for endpoints added later too), for addresses no view matches, and for crashes."""

import uuid

import pytest
from rest_framework.test import APIClient

from apps.workspaces.models import Plan
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def assert_error_shape(response, status: int | None = None, code: str | None = None) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = response.json()
    assert set(body) == {"message", "extra"}, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["extra"], dict) and isinstance(body["extra"].get("code"), str), body
    if status is not None:
        assert response.status_code == status, body
    if code is not None:
        assert body["extra"]["code"] == code, body
    return body


def _operations() -> list[tuple[str, str, dict]]:
    """(method, address with its path parameters filled in, operation) for every operation of /api/schema/."""
    schema = APIClient().get("/api/schema/?format=json").json()
    operations = []
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            url = template
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", _path_value(parameter["schema"]))
            operations.append((method, url, operation))
    assert len(operations) > 20
    return operations


def _path_value(schema: dict) -> str:
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "987654321" if schema.get("type") == "integer" else "no-such-thing"


@pytest.fixture
def staff_client() -> APIClient:
    """A superuser's API key in a workspace on the top plan: allowed everywhere, so what is left is input and
    existence errors."""
    workspace = WorkspaceFactory(plan=Plan.objects.get(slug="enterprise"))
    root = MembershipFactory(workspace=workspace, user=UserFactory(superuser=True), role="owner").user
    _, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=root)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_every_operation_answers_401_in_the_shape_without_credentials():
    client = APIClient()
    for method, url, _ in _operations():
        response = getattr(client, method)(url)
        assert response.status_code == 401, (method, url)
        assert_error_shape(response, code="not_authenticated")
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_every_operation_answers_an_unknown_api_key_with_401_in_the_shape():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer sk-sy-not-a-real-key")
    for method, url, _ in _operations():
        assert_error_shape(getattr(client, method)(url), status=401, code="authentication_failed")


def test_every_address_answers_a_method_it_does_not_have_with_405_in_the_shape(staff_client):
    methods_by_url: dict[str, set[str]] = {}
    for method, url, _ in _operations():
        methods_by_url.setdefault(url, set()).add(method)
    for url, methods in methods_by_url.items():
        missing = next((method for method in METHODS if method not in methods), None)
        if missing is None:
            continue
        response = getattr(staff_client, missing)(url)
        body = assert_error_shape(response, status=405, code="method_not_allowed")
        assert missing.upper() in body["message"]


def test_every_address_answers_options_without_a_server_error(staff_client):
    staff_client.raise_request_exception = False
    for url in sorted({url for _, url, _ in _operations()}):
        response = staff_client.options(url)
        assert response.status_code < 500, (url, response.content[:200])
        if response.status_code >= 400:
            assert_error_shape(response)
    assert staff_client.options("/api/staff/bulk/models").json()["name"] == "Staff Model Bulk Update Api"


def test_every_operation_taking_a_body_answers_malformed_json_in_the_shape(staff_client):
    creations = 0
    for method, url, operation in _operations():
        if "requestBody" not in operation:
            continue
        response = getattr(staff_client, method)(url, data="{not json", content_type="application/json")
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
            # The object does not exist: a 404 (or a refusal) may come before the body is read.
            assert response.status_code >= 400, (method, url)
            assert_error_shape(response)
        else:
            assert response.status_code in (400, 415), (method, url)  # 415: a view that takes no JSON at all
            assert_error_shape(response)
            creations += response.status_code == 400 and response.json()["extra"]["code"] == "parse_error"
    assert creations > 5


def test_an_address_no_view_matches_is_a_404_in_the_shape(staff_client):
    for url in ("/api/nothing-here", "/api/keys/api-keys/", "/api/staff/providers/openai/models"):
        body = assert_error_shape(staff_client.get(url), status=404, code="not_found")
        assert body["message"] == "No API endpoint at this address."


def test_outside_api_an_unknown_address_keeps_djangos_page(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.core.crash_urls")
@pytest.mark.parametrize("url", ["/api/crash", "/api/crash-drf"])
def test_a_crash_under_api_is_a_500_in_the_shape_without_its_details(client, url):
    client.raise_request_exception = False
    response = client.get(url)
    body = assert_error_shape(response, status=500, code="server_error")
    assert body["message"] == "Internal server error."
    assert "hunter2" not in response.content.decode()


@pytest.mark.urls("tests.core.crash_urls")
def test_a_crash_outside_api_keeps_djangos_page(client):
    client.raise_request_exception = False
    response = client.get("/crash")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
