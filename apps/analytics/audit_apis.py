"""/api/audit-events: the caller's workspace's audit trail — who did what, to what, when and from where.

Events never hold a secret (apps/analytics/services.audit_event_record drops secret-looking data keys); keys appear
by their mask only. Unknown query parameters are bad input (400 naming them).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.analytics.audit_selectors import audit_event_list
from apps.core.api import WorkspaceAPIView
from apps.core.api_io import PageQuerySerializer, api_errors, page_serializer, paginated, query_params


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class AuditApiKeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    mask = serializers.CharField(help_text="The key's mask; the secret itself is never stored.")


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField(help_text="e.g. `api_key.created`, `model.installed`, `ledger.transfer_out`.")
    actor = AuditActorSerializer(allow_null=True, help_text="The member who acted, if one did.")
    actor_api_key = AuditApiKeySerializer(allow_null=True, help_text="The API key that acted, if one did.")
    target_type = serializers.CharField(help_text="`app.model` of the object acted on, e.g. `keys.apikey`.")
    target_id = serializers.CharField()
    target_repr = serializers.CharField()
    data = serializers.DictField(help_text="What changed or was recorded; never a secret.")
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    created_at = serializers.DateTimeField()


AuditEventPageSerializer = page_serializer("AuditEventPageSerializer", AuditEventOutputSerializer)


class AuditEventListApi(WorkspaceAPIView):
    class AuditEventQuerySerializer(PageQuerySerializer):
        action = serializers.CharField(required=False, max_length=64, help_text="Exactly this action.")
        target_type = serializers.CharField(required=False, max_length=64, help_text="e.g. `keys.providerkey`.")
        since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601).")
        until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601).")

        def validate(self, attrs):
            if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
                raise ValidationError({"until": ["Must be later than 'since'."]})
            return attrs

    @extend_schema(
        operation_id="audit_events_list",
        tags=["audit"],
        description="The workspace's audit events, newest first.",
        parameters=[AuditEventQuerySerializer],
        responses={200: AuditEventPageSerializer, **api_errors(404)},
    )
    def get(self, request):
        wanted = query_params(self.AuditEventQuerySerializer, request)
        events = audit_event_list(
            workspace=self.workspace,
            action=wanted.get("action"),
            target_type=wanted.get("target_type"),
            since=wanted.get("since"),
            until=wanted.get("until"),
        )
        return paginated(self, events, AuditEventOutputSerializer)
