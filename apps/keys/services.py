import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.analytics.services import audit_event_record
from apps.catalog.models import Model, ModelMode
from apps.core.errors import ApplicationError
from apps.core.secrets import secret_hash, secret_mask
from apps.keys.models import ApiKey, ProviderKey, ProviderKeyStatus
from apps.routing.adapters import UpstreamError, adapter_for
from apps.routing.adapters.base import upstream_error

API_KEY_PREFIX = "sk-sy-"
API_KEY_RANDOM_BYTES = 36  # 36 bytes encode to exactly 48 url-safe characters
PROVIDER_KEY_TEST_READ_TIMEOUT = 30.0
PROVIDER_KEY_ERROR_MAX_CHARS = 500
# Refusals that come after the provider accepted the key: the key works even though this call did not.
KEY_ACCEPTED_ERROR_KINDS = frozenset({"rate_limit", "bad_request", "context_length"})
KEY_REFUSED_ERROR_KINDS = frozenset({"auth", "permission"})


def api_key_secret_generate() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_RANDOM_BYTES)


def api_key_validate(*, workspace, name: str, agent=None, expires_at: datetime | None = None) -> None:
    """The rules of a new API key, shared by the service and the forms that collect one."""
    if not name or not name.strip():
        raise ApplicationError("An API key needs a name.", extra={"field": "name"})
    if agent is not None and agent.workspace_id != workspace.pk:
        raise ApplicationError("The agent belongs to another workspace.", extra={"field": "agent"})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", extra={"field": "expires_at"})


def _validate_limit(value: int | None, field: str) -> None:
    if value is not None and value < 1:
        raise ApplicationError("Limits must be at least 1, or empty for the plan's limit.", extra={"field": field})


@transaction.atomic
def api_key_create(
    *,
    workspace,
    name: str,
    agent=None,
    created_by=None,
    expires_at: datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
) -> tuple[ApiKey, str]:
    """Make a virtual key. The raw secret is returned this once; only its hash and mask are stored."""
    api_key_validate(workspace=workspace, name=name, agent=agent, expires_at=expires_at)
    _validate_limit(rpm_limit, "rpm_limit")
    _validate_limit(tpm_limit, "tpm_limit")
    raw_secret = api_key_secret_generate()
    api_key = ApiKey.objects.create(
        workspace=workspace,
        agent=agent,
        name=name.strip(),
        key_hash=secret_hash(raw_secret),
        mask=secret_mask(raw_secret),
        created_by=created_by,
        expires_at=expires_at,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
    )
    audit_event_record(
        action="api_key.created",
        workspace=workspace,
        actor=created_by,
        target=api_key,
        data={"name": api_key.name, "mask": api_key.mask, "agent_id": agent.pk if agent else None},
    )
    return api_key, raw_secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, revoked_by=None) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing and records nothing."""
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), updated_at=timezone.now()
    )
    api_key.refresh_from_db(fields=["revoked_at", "updated_at"])
    if updated:
        audit_event_record(
            action="api_key.revoked",
            workspace=api_key.workspace,
            actor=revoked_by,
            target=api_key,
            data={"mask": api_key.mask},
        )
    return api_key


def provider_key_validate_owner(*, workspace, member=None, agent=None) -> None:
    """A provider key is held by the workspace, by one of its members, or by one of its agents."""
    if member is not None and agent is not None:
        raise ApplicationError("A provider key belongs to a member or to an agent, not both.", extra={"field": "agent"})
    if member is not None and not workspace.memberships.filter(user=member).exists():
        raise ApplicationError("That user is not a member of the workspace.", extra={"field": "member"})
    if agent is not None and agent.workspace_id != workspace.pk:
        raise ApplicationError("The agent belongs to another workspace.", extra={"field": "agent"})


def provider_key_create(
    *,
    workspace,
    provider,
    secret: str,
    member=None,
    agent=None,
    label: str = "",
    created_by=None,
) -> ProviderKey:
    """Store a BYOK key encrypted; afterwards only its mask is ever shown."""
    secret = (secret or "").strip()
    if not secret:
        raise ApplicationError("The provider key is empty.", extra={"field": "secret"})
    provider_key_validate_owner(workspace=workspace, member=member, agent=agent)
    try:
        with transaction.atomic():
            provider_key = ProviderKey.objects.create(
                workspace=workspace,
                provider=provider,
                member=member,
                agent=agent,
                label=label.strip(),
                secret=secret,
                mask=secret_mask(secret),
                created_by=created_by,
            )
            audit_event_record(
                action="provider_key.created",
                workspace=workspace,
                actor=created_by,
                target=provider_key,
                data={
                    "provider": provider.slug,
                    "mask": provider_key.mask,
                    "member_id": member.pk if member else None,
                    "agent_id": agent.pk if agent else None,
                },
            )
    except IntegrityError as exc:
        raise ApplicationError(
            "A key for this provider already exists at that level; delete it first.", status=409, code="conflict"
        ) from exc
    return provider_key


@transaction.atomic
def provider_key_delete(*, provider_key: ProviderKey, deleted_by=None) -> None:
    audit_event_record(
        action="provider_key.deleted",
        workspace=provider_key.workspace,
        actor=deleted_by,
        target=provider_key,
        data={"provider_id": provider_key.provider_id, "mask": provider_key.mask},
    )
    provider_key.delete()


def provider_key_plan_check(*, workspace) -> None:
    """Members may add their own provider keys only on a plan with BYOK. (Staff may store one from the admin ahead of
    an upgrade: the gateway ignores BYOK keys while the plan does not allow them.)"""
    plan = workspace.plan
    if not plan.byok_allowed:
        raise ApplicationError(
            f"The {plan.name} plan does not include bring-your-own-key provider keys; upgrade the plan to add one.",
            extra={"plan": plan.slug},
            status=403,
            code="byok_not_allowed",
        )


def _provider_key_test_model(*, provider) -> Model | None:
    """The provider's cheapest enabled chat model (by input price; unknown prices last)."""
    return (
        Model.objects.filter(provider=provider, enabled=True, mode=ModelMode.CHAT, deprecated_at__isnull=True)
        .order_by(F("input_price").asc(nulls_last=True), F("output_price").asc(nulls_last=True), "model_id")
        .first()
    )


def _provider_key_call(*, provider, model, secret: str) -> UpstreamError | None:
    """Ask for one token with the key; the provider's failure as an UpstreamError, or None when it answered."""
    adapter = adapter_for(provider.adapter_kind)
    request = adapter.build_request(
        body={"model": model.model_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1},
        upstream_model=model.upstream_name,
        base_url=provider.base_url,
        api_key=secret,
        extra_headers=dict(provider.extra_headers or {}),
        options={**(provider.adapter_options or {}), "max_output_tokens": model.max_output_tokens},
        stream=False,
    )
    timeout = httpx.Timeout(PROVIDER_KEY_TEST_READ_TIMEOUT, connect=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT)
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.post(request.url, headers=request.headers, content=request.body)
    except httpx.TimeoutException:
        return upstream_error(504, "timeout", "The provider did not answer in time.")
    except httpx.HTTPError as exc:
        return upstream_error(502, "server_error", f"Could not reach the provider ({exc.__class__.__name__}).")
    if response.status_code >= 400:
        return adapter.parse_error(status=response.status_code, payload=response.content, headers=response.headers)
    try:
        adapter.parse_response(payload=response.content, model=model.model_id)
    except UpstreamError as exc:
        return exc
    return None


def provider_key_test(*, provider_key: ProviderKey, tested_by=None) -> ProviderKey:
    """Check a BYOK key with the cheapest real call: one token from its provider's cheapest enabled chat model.

    An answer marks the key valid, and so does a refusal that comes after the provider accepted the key (rate limit,
    bad request); an authentication or permission failure marks it invalid. Anything else (provider down, timeout,
    unknown path) proves nothing: the status stays as it was and only the error is kept.
    """
    provider = provider_key.provider
    if not provider.base_url:
        raise ApplicationError(
            f"{provider.name} has no base URL to call; ask staff to set one.", status=409, code="provider_unreachable"
        )
    model = _provider_key_test_model(provider=provider)
    if model is None:
        raise ApplicationError(
            f"The catalog has no enabled chat model of {provider.name} to test the key with.",
            status=409,
            code="no_test_model",
        )
    secret = provider_key.secret
    error = _provider_key_call(provider=provider, model=model, secret=secret)

    if error is None or error.kind in KEY_ACCEPTED_ERROR_KINDS:
        result = ProviderKeyStatus.VALID
    elif error.kind in KEY_REFUSED_ERROR_KINDS:
        result = ProviderKeyStatus.INVALID
    else:
        result = None
    # Providers sometimes echo the key they refused; it must not reach the database or an audit event.
    message = (
        "" if error is None else f"{error.status} {error.kind}: {error.message}".replace(secret, provider_key.mask)
    )
    message = message[:PROVIDER_KEY_ERROR_MAX_CHARS]

    update_fields = ["last_error", "updated_at"]
    provider_key.last_error = message
    if result is not None:
        provider_key.status = result
        provider_key.last_validated_at = timezone.now()
        update_fields += ["status", "last_validated_at"]
    with transaction.atomic():
        provider_key.save(update_fields=update_fields)
        audit_event_record(
            action="provider_key.tested",
            workspace=provider_key.workspace,
            actor=tested_by,
            target=provider_key,
            data={
                "provider": provider.slug,
                "mask": provider_key.mask,
                "model": model.model_id,
                "result": result or "inconclusive",
                "error": message,
            },
        )
    return provider_key


LAST_USED_RESOLUTION = timedelta(hours=1)


def api_keys_mark_used(*, api_key_ids: Iterable[int], used_at: datetime) -> int:
    """Note when keys were last used, at most once an hour per key (the write would otherwise follow every call)."""
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at - LAST_USED_RESOLUTION)
    return ApiKey.objects.filter(stale, pk__in=set(api_key_ids)).update(last_used_at=used_at)
