"""What every /api view shares: the workspace scope, and one error shape.

Errors: `{"message": "...", "extra": {...}}` with the right HTTP status; bad input names its fields:
`{"message": "...", "extra": {"code": "invalid", "fields": {"name": ["..."]}}}`.
(/v1 answers in OpenAI's shape instead; see apps/routing/apis.py.)
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError
from apps.keys.authentication import HasWorkspace, request_workspace


class WorkspaceAPIView(APIView):
    """Base of every workspace-scoped /api view: `self.workspace` is the caller's workspace, always set before the
    handler runs (even if a subclass changes the permission classes)."""

    permission_classes = [HasWorkspace]

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.workspace = request.workspace = request_workspace(request)

    @property
    def actor(self):
        """The member acting, for audit events and `created_by`: the session user, or the API key's creator."""
        user = self.request.user
        return user if user.is_authenticated else None


class PagePagination(PageNumberPagination):
    """Pages of 50 by default; `?page_size=` up to 200."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.keys.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A Switchyard API key, `sk-sy-…`."}


class ErrorSerializer(serializers.Serializer):
    """For the OpenAPI schema: what every /api error looks like."""

    message = serializers.CharField()
    extra = serializers.DictField(help_text='Details: "code", and "fields" (field → messages) for bad input.')


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": _application_error_extra(exc)}, status=exc.status)

    response = drf_exception_handler(exc, context)  # also maps Http404 and Django's PermissionDenied, sets headers
    if response is None:
        return None  # an unexpected error: Django's 500 handling, logged as such
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"message": _validation_message(fields), "extra": {"code": "invalid", "fields": fields}}
    else:
        response.data = {"message": _detail_message(response.data), "extra": {"code": _code_of(exc)}}
    return response


def _application_error_extra(exc: ApplicationError) -> dict:
    extra = {k: v for k, v in exc.extra.items() if k != "field"}
    if field := exc.extra.get("field"):
        extra["fields"] = {field: [exc.message]}
    return {"code": exc.code, **extra}


def _code_of(exc: Exception) -> str:
    if isinstance(exc, Http404):
        return "not_found"
    if isinstance(exc, DjangoPermissionDenied):
        return "permission_denied"
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    return codes if isinstance(codes, str) else "error"


def _detail_message(data) -> str:
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return str(data)


def _validation_message(fields: dict) -> str:
    """ "Invalid input: name: This field is required." — the first problem, so a person reading it knows what to fix."""
    for field, errors in fields.items():
        first = errors
        while isinstance(first, list | dict) and first:
            first = first[0] if isinstance(first, list) else next(iter(first.values()))
        if first:
            return f"Invalid input: {first}" if field == "non_field_errors" else f"Invalid input: {field}: {first}"
    return "Invalid input."
