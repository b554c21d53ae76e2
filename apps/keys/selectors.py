from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from apps.analytics.rollup_selectors import usage_sources
from apps.catalog.models import Provider
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
    return _live_api_keys().filter(key_hash=key_hash).select_related("workspace", "workspace__plan", "agent").first()


def api_key_get_for_request(*, secret: str) -> ApiKey | None:
    """The live key with this secret, with its workspace and creator: what /api authentication needs, in one query."""
    if not secret or not secret.startswith(API_KEY_PREFIX):
        return None
    return (
        _live_api_keys()
        .filter(key_hash=secret_hash(secret))
        .select_related("workspace", "workspace__plan", "agent", "created_by")
        .first()
    )


def _live_api_keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )


def api_key_get(*, workspace, api_key_id: int) -> ApiKey | None:
    return api_key_list(workspace=workspace).filter(pk=api_key_id).first()


def provider_key_get(*, workspace, provider_key_id: int) -> ProviderKey | None:
    """One provider key of the workspace, its secret included, e.g. to test it."""
    return (
        ProviderKey.objects.filter(workspace=workspace, pk=provider_key_id)
        .select_related("workspace", "provider", "member", "agent")
        .first()
    )


def byok_provider_list() -> QuerySet[Provider]:
    """The enabled providers a workspace may hold its own key for, by name."""
    return Provider.objects.filter(enabled=True).order_by("name")


def byok_provider_get(*, slug: str) -> Provider | None:
    """An enabled provider a workspace may hold its own key for."""
    return byok_provider_list().filter(slug=slug).first()


def provider_key_secret_map(*, workspace) -> dict[tuple[int, int | None, int | None], str]:
    """Decrypted BYOK secrets of a workspace by (provider id, agent id, member id), for the gateway's memory only."""
    rows = ProviderKey.objects.filter(workspace=workspace).only("provider_id", "agent_id", "member_id", "secret")
    return {(row.provider_id, row.agent_id, row.member_id): row.secret for row in rows}


def byok_usage_by_provider(*, workspace, start_at, end_at) -> dict[str, dict]:
    """BYOK calls per provider slug over [start_at, end_at): requests, tokens and cost, from the hourly rollups and
    the records of the hours not rolled up yet (each call counted once).

    Usage records say whether a call ran on the workspace's own key (`is_byok`) and at which provider, not which of
    its keys (workspace, member or agent level) the gateway picked, so this is as fine as BYOK usage can be split.
    """
    sources = usage_sources(workspace=workspace, start_at=start_at, end_at=end_at)
    usage: dict[str, dict] = {}
    rows = (
        sources.rollups.filter(is_byok=True)
        .values("provider_slug")
        .annotate(
            n_requests=Sum("requests"),
            n_tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            total_cost_usd=Sum("cost_usd"),
        )
    )
    if sources.records is not None:
        fresh = (
            sources.records.filter(is_byok=True)
            .values("provider_slug")
            .annotate(
                n_requests=Count("id"),
                n_tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
                total_cost_usd=Sum("cost_usd"),
            )
        )
        rows = [*rows, *fresh]
    for row in rows:
        figures = usage.setdefault(row["provider_slug"], {"requests": 0, "tokens": 0, "cost_usd": Decimal("0")})
        figures["requests"] += row["n_requests"] or 0
        figures["tokens"] += row["n_tokens"] or 0
        figures["cost_usd"] += row["total_cost_usd"] or Decimal("0")
    return usage
