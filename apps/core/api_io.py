"""What /api views share for input and output: strict serializers (an unknown field or query parameter is a 400
naming it, never silently ignored), query parameters read through them, pages, the schema's error responses, and
decimals as plain decimal strings."""

from collections.abc import Mapping
from decimal import Decimal

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.api import ErrorSerializer, PagePagination, WorkspaceAPIView

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `extra.fields` names the fields."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed in this workspace or on its plan."),
    404: OpenApiResponse(ErrorSerializer, description="No such object in this workspace."),
    409: OpenApiResponse(ErrorSerializer, description="Conflicts with the current state; the message says why."),
}


def api_errors(*statuses: int) -> dict:
    return {code: ERRORS[code] for code in (400, 401, 403, *statuses)}


class StrictSerializer(serializers.Serializer):
    """Refuses fields (or query parameters) it does not know: a misspelt name is a 400, not silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields) or "none"
                raise ValidationError({name: [f"Unknown field; the fields are: {known}."] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializerScheme(OpenApiSerializerExtension):
    """The schema says so too: no properties but the serializer's."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


class PageQuerySerializer(StrictSerializer):
    page = serializers.IntegerField(required=False, min_value=1, help_text="Page number, from 1.")
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=PagePagination.max_page_size, help_text="Items per page; default 50."
    )


def query_params(serializer_class: type[serializers.Serializer], request) -> dict:
    """The request's query parameters, checked by the serializer (400 naming the parameter)."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def paginated(view: WorkspaceAPIView, queryset, output_class: type[serializers.Serializer]) -> Response:
    paginator = PagePagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(output_class(page, many=True).data)


def page_serializer(name: str, item_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of items, as PagePagination answers."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_class(many=True),
        },
    )


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "0.15"})
class DecimalStringField(serializers.Field):
    """A Decimal as a plain decimal string without trailing zeros ("0.00000015"); null when unknown."""

    def __init__(self, *, scale: Decimal = Decimal(1), **kwargs):
        self.scale = scale
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str:
        return f"{(value * self.scale).normalize():f}"
