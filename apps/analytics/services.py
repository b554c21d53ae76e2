import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest

from apps.analytics.models import AuditEvent

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


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR") or None


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
    """Record who did what to which object. Keys of `data` that look like secrets are dropped, at any depth."""
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
    if request is not None:
        event.ip_address = _client_ip(request)
        event.user_agent = request.META.get("HTTP_USER_AGENT", "")[:255]
        user = getattr(request, "user", None)
        if actor is None and actor_api_key is None and user is not None and user.is_authenticated:
            event.actor = user
    event.save()
    return event
