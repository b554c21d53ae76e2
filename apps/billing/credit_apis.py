"""/api/credits: the workspace's credits ledger — balance, entries, transfers to other workspaces — and, for staff,
top-ups and refunds of any workspace.

Amounts are USD decimals with at most 8 places, sent as JSON strings ("12.50") or numbers (12.5); numbers are read
exactly as written, never through a float. Answers give them as strings.
"""

import json
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant

from apps.analytics.selectors import usage_cost_total
from apps.billing.models import LedgerEntry, LedgerKind
from apps.billing.selectors import ledger_balance, ledger_entry_list, ledger_totals
from apps.billing.services import (
    credit_transfer,
    idempotency_key_clean,
    ledger_amount_parse,
    ledger_refund,
    ledger_topup,
)
from apps.core.api import ErrorSerializer, PagePagination, WorkspaceAPIView
from apps.core.errors import ApplicationError
from apps.keys.authentication import HasWorkspace
from apps.keys.models import ApiKey
from apps.workspaces.models import Workspace

IDEMPOTENCY_HEADER = "Idempotency-Key"

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `extra.fields` names the fields."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid, revoked or expired credentials."),
    402: OpenApiResponse(ErrorSerializer, description="`insufficient_credits`: the balance does not cover it."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed (staff only)."),
    404: OpenApiResponse(ErrorSerializer, description="No such object in this workspace."),
}


def _errors(*statuses: int) -> dict:
    return {code: ERRORS[code] for code in (400, 401, *statuses)}


def _idempotency_parameter(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        IDEMPOTENCY_HEADER,
        str,
        location=OpenApiParameter.HEADER,
        required=required,
        description=(
            "Your unique id of this request (1–100 visible ASCII characters, e.g. a UUID). Sending it again with "
            "the same body returns the first result and writes nothing; with another body it is refused (400)."
        ),
    )


class ExactJSONParser(JSONParser):
    """JSON numbers are read as Decimals, exactly as written: `12.5` means 12.5 dollars, not a float near it."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(stream.read().decode(encoding), parse_float=Decimal, parse_constant=strict_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


EXACT_PARSERS = [ExactJSONParser, FormParser, MultiPartParser]


@extend_schema_field({"type": "string", "format": "decimal", "example": "12.50"})
class AmountField(serializers.Field):
    """A positive USD amount, at most 8 decimal places, as a string or a JSON number."""

    def to_internal_value(self, data) -> Decimal:
        try:
            return ledger_amount_parse(data)
        except ApplicationError as exc:
            raise ValidationError(exc.message) from exc

    def to_representation(self, value) -> str:
        return str(value)


class MoneyField(serializers.DecimalField):
    """USD as a string with the ledger's 8 decimal places."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=None, decimal_places=8, **kwargs)


class LedgerEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerKind.choices)
    amount_usd = MoneyField(help_text="Positive adds credit, negative spends it.")
    description = serializers.CharField()
    counterparty = serializers.CharField(
        source="counterparty.slug", allow_null=True, help_text="The other workspace of a transfer (its slug)."
    )
    transfer_id = serializers.UUIDField(allow_null=True)
    generation_id = serializers.SerializerMethodField(help_text="The request charged or refunded.")
    created_at = serializers.DateTimeField()

    def get_generation_id(self, entry: LedgerEntry) -> str | None:
        return entry.generation_id or None


class LedgerEntryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LedgerEntryOutputSerializer(many=True)


class CreditBalanceApi(WorkspaceAPIView):
    class CreditBalanceOutputSerializer(serializers.Serializer):
        balance = MoneyField(help_text="The sum of every ledger entry.")
        total_credits = MoneyField(help_text="Every amount ever added: top-ups, refunds, transfers in, corrections up.")
        total_usage = serializers.DecimalField(
            max_digits=None, decimal_places=10, help_text="What the workspace's requests have cost (as /v1/credits)."
        )
        billing_mode = serializers.CharField(help_text="`prepaid`: requests spend the balance; `invoice`: billed.")

    @extend_schema(
        operation_id="credits_balance",
        tags=["credits"],
        responses={200: CreditBalanceOutputSerializer, 401: ERRORS[401]},
    )
    def get(self, request):
        totals = ledger_totals(workspace=self.workspace)
        answer = {
            "balance": totals.balance,
            "total_credits": totals.credits,
            "total_usage": usage_cost_total(workspace=self.workspace),
            "billing_mode": self.workspace.billing_mode,
        }
        return Response(self.CreditBalanceOutputSerializer(answer).data)


class LedgerEntryListApi(WorkspaceAPIView):
    class LedgerEntryFilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(required=False, choices=LedgerKind.choices)
        since = serializers.DateTimeField(required=False, help_text="Entries at or after this time (ISO 8601).")
        before = serializers.DateTimeField(required=False, help_text="Entries before this time (ISO 8601).")

        def validate(self, attrs):
            if "since" in attrs and "before" in attrs and attrs["since"] >= attrs["before"]:
                raise ValidationError({"before": ["Must be later than 'since'."]})
            return attrs

    @extend_schema(
        operation_id="credits_entries_list",
        tags=["credits"],
        description="The workspace's ledger, newest first. Entries are never changed; corrections are new entries.",
        parameters=[
            LedgerEntryFilterSerializer,
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter("page_size", int, description=f"At most {PagePagination.max_page_size}."),
        ],
        responses={200: LedgerEntryPageSerializer, **_errors(404)},
    )
    def get(self, request):
        filters = self.LedgerEntryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        entries = ledger_entry_list(workspace=self.workspace)
        if "kind" in wanted:
            entries = entries.filter(kind=wanted["kind"])
        if "since" in wanted:
            entries = entries.filter(created_at__gte=wanted["since"])
        if "before" in wanted:
            entries = entries.filter(created_at__lt=wanted["before"])
        paginator = PagePagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(LedgerEntryOutputSerializer(page, many=True).data)


def _idempotency_key(request, *, required: bool) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        if required:
            raise ValidationError(
                {"idempotency_key": [f"Send an {IDEMPOTENCY_HEADER} header: your unique id of this request."]}
            )
        return None
    try:
        return idempotency_key_clean(key)
    except ApplicationError as exc:
        raise ValidationError({"idempotency_key": [exc.message]}) from exc


class CreditTransferOutputSerializer(serializers.Serializer):
    transfer_id = serializers.UUIDField()
    payer = serializers.CharField(source="outgoing.workspace.slug", help_text="The paying workspace (its slug).")
    payee = serializers.CharField(source="incoming.workspace.slug", help_text="The paid workspace (its slug).")
    amount_usd = MoneyField(source="incoming.amount_usd")
    description = serializers.CharField(source="outgoing.description")
    outgoing_entry_id = serializers.IntegerField(source="outgoing.id", help_text="The payer's ledger entry.")
    incoming_entry_id = serializers.IntegerField(source="incoming.id", help_text="The payee's ledger entry.")
    payer_balance = MoneyField(help_text="The payer's balance after the transfer (for a repeated request: now).")
    created_at = serializers.DateTimeField(source="outgoing.created_at")


class CreditTransferCreateApi(WorkspaceAPIView):
    parser_classes = EXACT_PARSERS

    class CreditTransferInputSerializer(serializers.Serializer):
        to = serializers.SlugField(max_length=64, help_text="The slug of the workspace to pay.")
        amount_usd = AmountField()
        description = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

    @extend_schema(
        operation_id="credits_transfers_create",
        tags=["credits"],
        description=(
            "Pay another workspace from this one's balance (an agent paying another for work). Both sides are "
            "written at once, with one transfer id; refused with 402 `insufficient_credits` when the balance does "
            "not cover the amount. An API key of an agent pays from its workspace; the agent is recorded."
        ),
        parameters=[_idempotency_parameter(required=True)],
        request=CreditTransferInputSerializer,
        responses={201: CreditTransferOutputSerializer, **_errors(402)},
    )
    def post(self, request):
        serializer = self.CreditTransferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = _idempotency_key(request, required=True)
        data = serializer.validated_data
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        transfer = credit_transfer(
            payer=self.workspace,
            payee_slug_or_id=data["to"],
            amount_usd=data["amount_usd"],
            description=data["description"],
            idempotency_key=key,
            created_by=self.actor,
            agent=api_key.agent if api_key is not None else None,
            api_key=api_key,
        )
        return Response(CreditTransferOutputSerializer(transfer).data, status=status.HTTP_201_CREATED)


class CreditTransferDetailApi(WorkspaceAPIView):
    class CreditTransferDetailOutputSerializer(serializers.Serializer):
        transfer_id = serializers.UUIDField()
        direction = serializers.ChoiceField(choices=["out", "in"], help_text="`out`: this workspace paid.")
        counterparty = serializers.CharField(help_text="The other workspace (its slug).")
        amount_usd = MoneyField(help_text="Always positive; the direction says which way it went.")
        description = serializers.CharField()
        entry_id = serializers.IntegerField(help_text="This workspace's ledger entry of the transfer.")
        created_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="credits_transfers_get",
        tags=["credits"],
        description="A transfer this workspace paid or received, e.g. for a payee to confirm a payment.",
        responses={200: CreditTransferDetailOutputSerializer, **_errors(404)},
    )
    def get(self, request, transfer_id):
        entry = ledger_entry_list(workspace=self.workspace).filter(transfer_id=transfer_id).first()
        if entry is None:
            raise NotFound("No such transfer in this workspace.")
        answer = {
            "transfer_id": entry.transfer_id,
            "direction": "out" if entry.kind == LedgerKind.TRANSFER_OUT else "in",
            "counterparty": entry.counterparty.slug,
            "amount_usd": abs(entry.amount_usd),
            "description": entry.description,
            "entry_id": entry.pk,
            "created_at": entry.created_at,
        }
        return Response(self.CreditTransferDetailOutputSerializer(answer).data)


class IsStaff(BasePermission):
    """Staff only: the signed-in user, or the member who created the API key, is staff."""

    message = "Only staff can add credits to a workspace."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


class StaffEntryOutputSerializer(LedgerEntryOutputSerializer):
    workspace = serializers.CharField(source="workspace.slug")
    balance = MoneyField(help_text="The workspace's balance now.")


class StaffCreditInputSerializer(serializers.Serializer):
    workspace = serializers.SlugField(max_length=64, help_text="The slug of the workspace credited.")
    amount_usd = AmountField()
    description = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")


def _credited_workspace(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise ValidationError({"workspace": [f"No workspace '{slug}'."]})
    return workspace


def _staff_credit_input(request, serializer_class) -> tuple[Workspace, dict, str | None]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    key = _idempotency_key(request, required=False)
    return _credited_workspace(serializer.validated_data["workspace"]), serializer.validated_data, key


def _staff_entry_response(entry: LedgerEntry) -> Response:
    entry.balance = ledger_balance(workspace=entry.workspace)
    return Response(StaffEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)


class CreditTopupCreateApi(WorkspaceAPIView):
    permission_classes = [HasWorkspace, IsStaff]
    parser_classes = EXACT_PARSERS

    @extend_schema(
        operation_id="credits_topups_create",
        tags=["credits"],
        description="Staff: add credit to a workspace (a payment received; for a billing provider's automation).",
        parameters=[_idempotency_parameter(required=False)],
        request=StaffCreditInputSerializer,
        responses={201: StaffEntryOutputSerializer, **_errors(403)},
    )
    def post(self, request):
        workspace, data, key = _staff_credit_input(request, StaffCreditInputSerializer)
        entry = ledger_topup(
            workspace=workspace,
            amount_usd=data["amount_usd"],
            description=data["description"],
            created_by=self.actor,
            idempotency_key=key,
        )
        return _staff_entry_response(entry)


class CreditRefundCreateApi(WorkspaceAPIView):
    permission_classes = [HasWorkspace, IsStaff]
    parser_classes = EXACT_PARSERS

    class CreditRefundInputSerializer(StaffCreditInputSerializer):
        generation_id = serializers.CharField(
            required=False, allow_blank=True, max_length=64, default="", help_text="The request refunded, if one."
        )

    @extend_schema(
        operation_id="credits_refunds_create",
        tags=["credits"],
        description="Staff: give credit back to a workspace, optionally for one of its requests.",
        parameters=[_idempotency_parameter(required=False)],
        request=CreditRefundInputSerializer,
        responses={201: StaffEntryOutputSerializer, **_errors(403)},
    )
    def post(self, request):
        workspace, data, key = _staff_credit_input(request, self.CreditRefundInputSerializer)
        entry = ledger_refund(
            workspace=workspace,
            amount_usd=data["amount_usd"],
            description=data["description"],
            generation_id=data["generation_id"],
            created_by=self.actor,
            idempotency_key=key,
        )
        return _staff_entry_response(entry)
