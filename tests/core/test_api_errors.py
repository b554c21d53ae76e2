"""The one /api error shape, and the workspace scope every /api view gets."""

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.core.api import WorkspaceAPIView
from apps.core.errors import ApplicationError
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

factory = APIRequestFactory()


class NameSerializer(serializers.Serializer):
    name = serializers.CharField()
    limits = serializers.ListField(child=serializers.IntegerField(min_value=1))


def raising(exc: Exception):
    class RaisingView(APIView):
        authentication_classes: list = []
        permission_classes = [AllowAny]

        def get(self, request):
            raise exc

    return RaisingView.as_view()


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            ApplicationError("The expiry must be in the future.", extra={"field": "expires_at"}),
            400,
            {
                "message": "The expiry must be in the future.",
                "extra": {"code": "invalid_request", "fields": {"expires_at": ["The expiry must be in the future."]}},
            },
        ),
        (
            ApplicationError("Over budget.", extra={"limit_usd": "5.00"}, status=402, code="budget_exceeded"),
            402,
            {"message": "Over budget.", "extra": {"code": "budget_exceeded", "limit_usd": "5.00"}},
        ),
        (Http404("No such agent."), 404, {"message": "No such agent.", "extra": {"code": "not_found"}}),
        (
            DjangoPermissionDenied(),
            403,
            {"message": "You do not have permission to perform this action.", "extra": {"code": "permission_denied"}},
        ),
        (
            exceptions.Throttled(wait=30),
            429,
            {"message": "Request was throttled. Expected available in 30 seconds.", "extra": {"code": "throttled"}},
        ),
        (
            DjangoValidationError({"slug": ["That slug is taken."]}),
            400,
            {
                "message": "Invalid input: slug: That slug is taken.",
                "extra": {"code": "invalid", "fields": {"slug": ["That slug is taken."]}},
            },
        ),
        (
            exceptions.ValidationError(["Pick one."]),
            400,
            {
                "message": "Invalid input: Pick one.",
                "extra": {"code": "invalid", "fields": {"non_field_errors": ["Pick one."]}},
            },
        ),
    ],
)
def test_errors_have_one_shape(exc, status, body):
    response = raising(exc)(factory.get("/api/x"))
    assert response.status_code == status
    assert response.data == body


def test_serializer_errors_name_every_field_and_lead_with_the_first():
    serializer = NameSerializer(data={"limits": [0]})
    with pytest.raises(exceptions.ValidationError) as caught:
        serializer.is_valid(raise_exception=True)
    response = raising(caught.value)(factory.get("/api/x"))
    assert response.status_code == 400
    assert response.data["message"] == "Invalid input: name: This field is required."
    assert response.data["extra"]["fields"] == {
        "name": ["This field is required."],
        "limits": {0: ["Ensure this value is greater than or equal to 1."]},
    }


def test_throttling_keeps_its_retry_after_header():
    response = raising(exceptions.Throttled(wait=30))(factory.get("/api/x"))
    assert response["Retry-After"] == "30"


def test_an_unexpected_error_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        raising(ZeroDivisionError())(factory.get("/api/x"))


class OpenLookingView(WorkspaceAPIView):
    """Even a view that drops the permission classes is scoped to the caller's workspace."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"workspace": self.workspace.slug})


@pytest.mark.django_db
class TestWorkspaceScope:
    def test_anonymous_callers_get_401_even_when_the_view_allows_anyone(self):
        response = OpenLookingView.as_view()(factory.get("/api/x"))
        assert response.status_code == 401
        assert response.data == {
            "message": "Send 'Authorization: Bearer sk-sy-…', or sign in.",
            "extra": {"code": "not_authenticated"},
        }

    def test_an_api_key_acts_in_its_workspace(self):
        _, secret = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory(slug="keyed"))
        response = OpenLookingView.as_view()(factory.get("/api/x", HTTP_AUTHORIZATION=f"Bearer {secret}"))
        assert response.status_code == 200
        assert response.data == {"workspace": "keyed"}

    def test_a_member_acts_in_the_workspace_they_joined_first(self):
        user = UserFactory()
        MembershipFactory(user=user, workspace=WorkspaceFactory(slug="first"))
        MembershipFactory(user=user, workspace=WorkspaceFactory(slug="second"))
        request = factory.get("/api/x")
        force_authenticate(request, user=user)
        assert OpenLookingView.as_view()(request).data == {"workspace": "first"}

    def test_a_deactivated_workspace_is_refused(self):
        _, secret = ApiKeyFactory.create_with_secret(workspace=WorkspaceFactory(is_active=False))
        response = OpenLookingView.as_view()(factory.get("/api/x", HTTP_AUTHORIZATION=f"Bearer {secret}"))
        assert response.status_code == 403
        assert response.data["message"] == "This workspace is deactivated."

    def test_a_bearer_token_that_is_not_a_key_is_401(self):
        response = OpenLookingView.as_view()(factory.get("/api/x", HTTP_AUTHORIZATION="Bearer not-a-key"))
        assert response.status_code == 401
        assert response.data["message"] == "Invalid, revoked or expired API key."


def test_the_openapi_schema_documents_the_key_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "api_keys_list",
        "api_keys_create",
        "api_keys_revoke",
        "provider_keys_list",
        "provider_keys_create",
        "provider_keys_delete",
        "provider_keys_test",
    } <= operations
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A Switchyard API key, `sk-sy-…`.",
    }
