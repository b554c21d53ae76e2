"""/api/keys: the workspace's API keys (virtual keys for /v1 and /api) and its BYOK provider keys.

Secrets never leave in a response, except an API key's secret once, in the answer that creates it.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from apps.core.api import WorkspaceAPIView
from apps.core.api_io import ERRORS
from apps.keys.models import ApiKey, ProviderKey
from apps.keys.selectors import api_key_get, api_key_list, byok_provider_get, provider_key_get, provider_key_list
from apps.keys.services import (
    api_key_create,
    api_key_revoke,
    provider_key_create,
    provider_key_delete,
    provider_key_plan_check,
    provider_key_test,
)
from apps.workspaces.selectors import agent_get


def _errors(*statuses: int) -> dict:
    return {code: ERRORS[code] for code in (400, 401, *statuses)}


class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()


class MemberRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    mask = serializers.CharField()
    status = serializers.SerializerMethodField()
    agent = AgentRefSerializer(allow_null=True)
    rpm_limit = serializers.IntegerField(allow_null=True)
    tpm_limit = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_status(self, api_key: ApiKey) -> str:
        if api_key.revoked_at is not None:
            return "revoked"
        if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
            return "expired"
        return "active"


class ProviderKeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField(source="provider.slug")
    label = serializers.CharField()
    mask = serializers.CharField()
    scope = serializers.SerializerMethodField()
    member = MemberRefSerializer(allow_null=True)
    agent = AgentRefSerializer(allow_null=True)
    status = serializers.CharField()
    last_validated_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_scope(self, provider_key: ProviderKey) -> str:
        if provider_key.agent_id is not None:
            return "agent"
        return "member" if provider_key.member_id is not None else "workspace"


def _workspace_agent(workspace, agent_id: int | None):
    if agent_id is None:
        return None
    agent = agent_get(workspace=workspace, agent_id=agent_id)
    if agent is None:
        raise ValidationError({"agent": [f"No agent with id {agent_id} in this workspace."]})
    return agent


class ApiKeyListCreateApi(WorkspaceAPIView):
    class ApiKeyCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=128)
        agent = serializers.IntegerField(required=False, allow_null=True, help_text="An agent of the workspace.")
        expires_at = serializers.DateTimeField(required=False, allow_null=True)
        rpm_limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)
        tpm_limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    class ApiKeyCreateOutputSerializer(ApiKeyOutputSerializer):
        key = serializers.CharField(help_text="The secret, shown this once: only its mask is kept.")

    @extend_schema(operation_id="api_keys_list", tags=["keys"], responses={200: ApiKeyOutputSerializer(many=True)})
    def get(self, request):
        return Response(ApiKeyOutputSerializer(api_key_list(workspace=self.workspace), many=True).data)

    @extend_schema(
        operation_id="api_keys_create",
        tags=["keys"],
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreateOutputSerializer, **_errors(403)},
    )
    def post(self, request):
        serializer = self.ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        api_key, secret = api_key_create(
            workspace=self.workspace,
            name=data["name"],
            agent=_workspace_agent(self.workspace, data.get("agent")),
            created_by=self.actor,
            expires_at=data.get("expires_at"),
            rpm_limit=data.get("rpm_limit"),
            tpm_limit=data.get("tpm_limit"),
        )
        api_key.key = secret
        return Response(self.ApiKeyCreateOutputSerializer(api_key).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="api_keys_revoke",
        tags=["keys"],
        request=None,
        responses={200: ApiKeyOutputSerializer, **_errors(404)},
    )
    def post(self, request, api_key_id: int):
        api_key = api_key_get(workspace=self.workspace, api_key_id=api_key_id)
        if api_key is None:
            raise NotFound("No such API key in this workspace.")
        api_key = api_key_revoke(api_key=api_key, revoked_by=self.actor)
        return Response(ApiKeyOutputSerializer(api_key).data)


class ProviderKeyListCreateApi(WorkspaceAPIView):
    class ProviderKeyCreateInputSerializer(serializers.Serializer):
        provider = serializers.SlugField(help_text="The provider's slug, e.g. `openai`.")
        secret = serializers.CharField(write_only=True, max_length=4096, style={"input_type": "password"})
        scope = serializers.ChoiceField(
            choices=["workspace", "member", "agent"],
            default="workspace",
            help_text="Who uses the key: the whole workspace, only you (member), or one agent.",
        )
        agent = serializers.IntegerField(required=False, allow_null=True, help_text="With scope `agent`.")
        label = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")

        def validate(self, attrs):
            if attrs["scope"] == "agent" and attrs.get("agent") is None:
                raise ValidationError({"agent": ["Name the agent when the scope is 'agent'."]})
            if attrs["scope"] != "agent" and attrs.get("agent") is not None:
                raise ValidationError({"agent": ["An agent is given only with the scope 'agent'."]})
            return attrs

    @extend_schema(
        operation_id="provider_keys_list", tags=["keys"], responses={200: ProviderKeyOutputSerializer(many=True)}
    )
    def get(self, request):
        return Response(ProviderKeyOutputSerializer(provider_key_list(workspace=self.workspace), many=True).data)

    @extend_schema(
        operation_id="provider_keys_create",
        tags=["keys"],
        request=ProviderKeyCreateInputSerializer,
        responses={201: ProviderKeyOutputSerializer, **_errors(403, 409)},
    )
    def post(self, request):
        provider_key_plan_check(workspace=self.workspace)
        serializer = self.ProviderKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        provider = byok_provider_get(slug=data["provider"])
        if provider is None:
            raise ValidationError({"provider": [f"No enabled provider '{data['provider']}'."]})
        member = None
        if data["scope"] == "member":
            member = self.actor
            if member is None:
                raise ValidationError({"scope": ["This API key has no member behind it; use 'workspace' or 'agent'."]})
        provider_key = provider_key_create(
            workspace=self.workspace,
            provider=provider,
            secret=data["secret"],
            member=member,
            agent=_workspace_agent(self.workspace, data.get("agent")),
            label=data["label"],
            created_by=self.actor,
        )
        return Response(ProviderKeyOutputSerializer(provider_key).data, status=status.HTTP_201_CREATED)


class ProviderKeyDeleteApi(WorkspaceAPIView):
    @extend_schema(operation_id="provider_keys_delete", tags=["keys"], responses={204: None, **_errors(404)})
    def delete(self, request, provider_key_id: int):
        provider_key_delete(provider_key=_provider_key_or_404(self.workspace, provider_key_id), deleted_by=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProviderKeyTestApi(WorkspaceAPIView):
    @extend_schema(
        operation_id="provider_keys_test",
        tags=["keys"],
        request=None,
        description="Makes the cheapest real call with the key (one token) and records whether it works.",
        responses={200: ProviderKeyOutputSerializer, **_errors(404, 409)},
    )
    def post(self, request, provider_key_id: int):
        provider_key = provider_key_test(
            provider_key=_provider_key_or_404(self.workspace, provider_key_id), tested_by=self.actor
        )
        return Response(ProviderKeyOutputSerializer(provider_key).data)


def _provider_key_or_404(workspace, provider_key_id: int) -> ProviderKey:
    provider_key = provider_key_get(workspace=workspace, provider_key_id=provider_key_id)
    if provider_key is None:
        raise NotFound("No such provider key in this workspace.")
    return provider_key
