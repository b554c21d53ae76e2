import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.analytics.audit_context import current_request_origin, request_origin
from apps.analytics.models import AuditEvent, CircuitState, ModelHealth

if TYPE_CHECKING:
    from apps.routing.health import ModelHealthSnapshot

# A data key is dropped when it names a secret: its last word is one (`api_key`, `access_token`), or any word is one
# that is always secret (`password_confirm`) — unless its last word says it only describes one (`key_mask`,
# `secret_id`). `monthly_token_quota` and `prompt_tokens` are kept.
SECRET_LAST_WORDS = frozenset({"key", "apikey", "token", "hash", "secret", "password", "passwd", "authorization"})
ALWAYS_SECRET_WORDS = frozenset(
    {"secret", "secrets", "password", "passwd", "authorization", "credential", "credentials"}
)
DESCRIPTIVE_SUFFIXES = frozenset({"id", "ids", "mask", "count", "name", "prefix", "type", "kind", "status"})
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _looks_secret(name: str) -> bool:
    words = [w for w in _WORD_SPLIT.split(_CAMEL_BOUNDARY.sub("_", name).lower()) if w]
    if not words or words[-1] in DESCRIPTIVE_SUFFIXES:
        return False
    return words[-1] in SECRET_LAST_WORDS or any(word in ALWAYS_SECRET_WORDS for word in words)


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _without_secrets(v) for k, v in value.items() if not _looks_secret(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_without_secrets(v) for v in value]
    return value


def audit_event_record(
    *,
    action: str,
    workspace=None,
    actor=None,
    actor_api_key=None,
    target: models.Model | None = None,
    data: dict | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Record who did what to which object. Keys of `data` that look like secrets are dropped, at any depth.

    Where from: the request given, else the request being handled (see apps/analytics/audit_context.py)."""
    clean_data = json.loads(json.dumps(_without_secrets(data or {}), cls=DjangoJSONEncoder))
    event = AuditEvent(
        action=action[:64],
        workspace=workspace,
        actor=actor,
        actor_api_key=actor_api_key,
        data=clean_data,
    )
    if target is not None:
        event.target_type = target._meta.label_lower[:64]
        event.target_id = str(target.pk or "")[:64]
        event.target_repr = str(target)[:255]
    # Without a request, the one being handled (if any) still says where the change came from.
    origin = request_origin(request) if request is not None else current_request_origin()
    if origin is not None:
        event.ip_address = origin.ip_address
        event.user_agent = origin.user_agent
    if request is not None:
        user = getattr(request, "user", None)
        if actor is None and actor_api_key is None and user is not None and user.is_authenticated:
            event.actor = user
    event.save()
    return event


HEALTH_FIELDS = (
    "window_seconds",
    "requests",
    "successes",
    "errors_by_kind",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "ttft_p50_ms",
    "circuit_state",
    "circuit_opened_at",
    "updated_at",
)


@transaction.atomic
def model_health_rollup(*, snapshots: Iterable["ModelHealthSnapshot"], window_seconds: int) -> int:
    """Write the health tracker's figures into ModelHealth: a row per catalog model the tracker knows (models gone
    from the catalog are skipped); every other row is zeroed and closed, since the tracker has no traffic and no open
    circuit for it. Three queries however many models; runs from two workers at once settle on the last one.

    Returns the number of rows written with figures."""
    from apps.catalog.models import Model

    snapshots = list(snapshots)
    model_pks = dict(Model.objects.filter(model_id__in=[s.model_id for s in snapshots]).values_list("model_id", "pk"))
    now = timezone.now()
    rows = [
        ModelHealth(
            model_id=model_pks[s.model_id],
            window_seconds=s.window_seconds,
            requests=s.requests,
            successes=s.successes,
            errors_by_kind=s.errors_by_kind,
            error_rate=Decimal(s.error_rate).quantize(Decimal("0.0001")),
            latency_p50_ms=s.latency_p50_ms,
            latency_p95_ms=s.latency_p95_ms,
            ttft_p50_ms=s.ttft_p50_ms,
            circuit_state=s.circuit_state,
            circuit_opened_at=s.circuit_opened_at,
            updated_at=now,
        )
        for s in snapshots
        if s.model_id in model_pks
    ]
    ModelHealth.objects.bulk_create(rows, update_conflicts=True, unique_fields=["model"], update_fields=HEALTH_FIELDS)
    ModelHealth.objects.exclude(model_id__in=model_pks.values()).update(
        window_seconds=window_seconds,
        requests=0,
        successes=0,
        errors_by_kind={},
        error_rate=0,
        latency_p50_ms=None,
        latency_p95_ms=None,
        ttft_p50_ms=None,
        circuit_state=CircuitState.CLOSED,
        circuit_opened_at=None,
        updated_at=now,
    )
    return len(rows)
