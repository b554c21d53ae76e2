from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.secrets import secret_hash
from apps.keys.models import ApiKey, ProviderKey
from apps.keys.services import API_KEY_PREFIX


def api_key_list(*, workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("agent").defer("key_hash")


def provider_key_list(*, workspace) -> QuerySet[ProviderKey]:
    # The encrypted column is deferred: listing keys never needs to decrypt them.
    return (
        ProviderKey.objects.filter(workspace=workspace)
        .select_related("provider", "member", "agent")
        .defer("secret")
        .order_by("provider__slug", "pk")
    )


def api_key_get_by_secret(*, secret: str) -> ApiKey | None:
    """The live key with this secret, or None when it is unknown, revoked or expired."""
    if not secret or not secret.startswith(API_KEY_PREFIX):
        return None
    return api_key_get_by_hash(key_hash=secret_hash(secret))


def api_key_get_by_hash(*, key_hash: str) -> ApiKey | None:
    return (
        ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .select_related("workspace", "workspace__plan", "agent")
        .first()
    )


def provider_key_secret_map(*, workspace) -> dict[tuple[int, int | None, int | None], str]:
    """Decrypted BYOK secrets of a workspace by (provider id, agent id, member id), for the gateway's memory only."""
    rows = ProviderKey.objects.filter(workspace=workspace).only("provider_id", "agent_id", "member_id", "secret")
    return {(row.provider_id, row.agent_id, row.member_id): row.secret for row in rows}
