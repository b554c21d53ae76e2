import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.analytics.services import audit_event_record
from apps.core.errors import ApplicationError
from apps.core.secrets import secret_hash, secret_mask
from apps.keys.models import ApiKey, ProviderKey

API_KEY_PREFIX = "sk-sy-"
API_KEY_RANDOM_BYTES = 36  # 36 bytes encode to exactly 48 url-safe characters


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
