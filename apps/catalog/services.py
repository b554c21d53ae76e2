"""Catalog writes: the pricing sync, and the staff edits made in the admin (recorded so the sync keeps them)."""

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from tqdm import tqdm

from apps.core.errors import ApplicationError
from apps.core.secrets import secret_mask

from .classify import derive
from .feeds import FeedError, ModelRecord, ParsedFeed, feed_load, parse_litellm, parse_openrouter
from .models import AdapterKind, Category, Model, ModelAlias, ModelMode, PlanTier, PowerLevel, PriceChange, Provider
from .registry import KNOWN_PROVIDERS, provider_spec

logger = logging.getLogger(__name__)

PRICE_FIELDS = ("input_price", "output_price", "cache_read_price", "cache_write_price")
DERIVED_FIELDS = ("category", "power_level", "plan_tier", "quality_score")
# Every Model field the sync writes on an existing row; staff edits to any of them are kept (hand_edited_fields).
SYNCED_FIELDS = (
    "provider",
    "upstream_name",
    "display_name",
    "description",
    "mode",
    "context_window",
    "max_output_tokens",
    *PRICE_FIELDS,
    "price_unknown",
    "pricing_extra",
    "supports_tools",
    "supports_vision",
    "supports_json",
    "supports_reasoning",
    *DERIVED_FIELDS,
    "source",
    "source_created_at",
    "deprecated_at",
)
BULK_SETTABLE = {"plan_tier": PlanTier, "category": Category, "power_level": PowerLevel}
CREATE_BATCH = 500
# bulk_update builds one CASE per field per batch; small batches keep PostgreSQL's CASE evaluation cheap.
UPDATE_BATCH = 200


class CatalogSyncError(Exception):
    """The sync was aborted before writing anything (bad or unreachable feed)."""


@dataclass
class SyncSummary:
    """added + updated + unchanged = models in the feeds. deprecated counts models newly deprecated by this run
    (gone from their feed, or past their feed's deprecation date), whether also added/updated or not."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deprecated: int = 0
    price_unknown: int = 0
    skipped: int = 0
    price_changes: int = 0
    aliases: int = 0
    providers_created: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"deprecated {self.deprecated}, price unknown {self.price_unknown}, skipped {self.skipped}, "
            f"errors {len(self.errors)}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def catalog_sync_sources(*, live: bool) -> tuple[str | Path | None, str | Path | None]:
    """(LiteLLM source, OpenRouter source) from settings: the live URLs, or the shipped snapshot."""
    if live:
        return settings.CATALOG_LITELLM_URL or None, settings.CATALOG_OPENROUTER_URL or None
    return settings.CATALOG_LITELLM_SNAPSHOT or None, settings.CATALOG_OPENROUTER_SNAPSHOT or None


def catalog_sync(
    *,
    litellm_source: str | Path | None,
    openrouter_source: str | Path | None,
    progress: bool = False,
) -> SyncSummary:
    """Import both feeds into Provider/Model rows in one transaction.

    Feeds are fetched and parsed before the transaction opens, so an unreadable feed changes nothing and no
    network wait holds the database. Raises CatalogSyncError when a feed is unusable.
    """
    if not litellm_source and not openrouter_source:
        raise CatalogSyncError("no feed to sync: give a LiteLLM and/or an OpenRouter source")
    timeout = settings.CATALOG_SYNC_TIMEOUT
    feeds: list[ParsedFeed] = []
    try:
        # OpenRouter first: for an id both feeds carry, OpenRouter's own listing wins over LiteLLM's copy of it.
        if openrouter_source:
            data = feed_load(openrouter_source, timeout=timeout)
            feeds.append(parse_openrouter(data, label=str(openrouter_source)))
        if litellm_source:
            data = feed_load(litellm_source, timeout=timeout)
            feeds.append(parse_litellm(data, label=str(litellm_source)))
    except FeedError as exc:
        raise CatalogSyncError(str(exc)) from exc
    for feed in feeds:
        if not feed.records:
            # An empty (or wholly broken) feed would mark every model of that source deprecated.
            raise CatalogSyncError(f"{feed.label}: no usable chat models in the feed")
    with transaction.atomic():
        summary = _catalog_apply(feeds=feeds, progress=progress, now=timezone.now())
    logger.info("catalog sync: %s", summary.line())
    return summary


def _catalog_apply(*, feeds: list[ParsedFeed], progress: bool, now: datetime) -> SyncSummary:
    summary = SyncSummary()
    for feed in feeds:
        summary.errors.extend(feed.errors)
    providers = _providers_ensure(slugs={r.provider_slug for feed in feeds for r in feed.records}, summary=summary)
    existing = {model.model_id: model for model in Model.objects.all()}
    default_installed = set(settings.CATALOG_DEFAULT_INSTALLED)

    to_create: list[Model] = []
    to_update: dict[int, Model] = {}
    changed_fields: set[str] = set()
    price_changes: list[PriceChange] = []
    seen: set[str] = set()
    with tqdm(
        total=sum(len(feed.records) for feed in feeds), disable=not progress, desc="Syncing catalog", unit="model"
    ) as bar:
        for feed in feeds:
            for record in feed.records:
                bar.update()
                if record.model_id in seen:
                    summary.skipped += 1
                    continue
                seen.add(record.model_id)
                values = _record_values(record, provider=providers[record.provider_slug], now=now)
                model = existing.get(record.model_id)
                if model is None:
                    model = _model_new(record=record, values=values, default_installed=default_installed)
                    to_create.append(model)
                    summary.added += 1
                    summary.deprecated += model.deprecated_at is not None
                else:
                    changed, price_change = _model_refresh(model=model, values=values, now=now)
                    if changed:
                        to_update[model.pk] = model
                        changed_fields.update(changed)
                        summary.updated += 1
                    else:
                        summary.unchanged += 1
                    if price_change is not None:
                        price_changes.append(price_change)
                    summary.deprecated += "deprecated_at" in changed and model.deprecated_at is not None
                summary.price_unknown += model.price_unknown

    # A model its source no longer lists is deprecated, never deleted; it comes back if the feed lists it again.
    synced_sources = {feed.source for feed in feeds}
    mentioned = seen.union(*(feed.present_ids for feed in feeds))
    for model in existing.values():
        if (
            model.source in synced_sources
            and model.model_id not in mentioned
            and model.deprecated_at is None
            and "deprecated_at" not in model.hand_edited_fields
        ):
            model.deprecated_at = now
            model.updated_at = now
            to_update[model.pk] = model
            changed_fields.add("deprecated_at")
            summary.deprecated += 1

    Model.objects.bulk_create(to_create, batch_size=CREATE_BATCH)
    _models_bulk_update(list(to_update.values()), [*sorted(changed_fields), "updated_at"])
    PriceChange.objects.bulk_create(price_changes, batch_size=CREATE_BATCH)
    summary.price_changes = len(price_changes)
    summary.aliases = _aliases_sync(feeds=feeds)
    return summary


def _models_bulk_update(rows: list[Model], field_names: list[str]) -> None:
    """`UPDATE ... SET col = CASE id WHEN ... END ... WHERE id IN (...)` in batches.

    The SQL is what QuerySet.bulk_update() sends, built directly: bulk_update() spends ~3 ms per row compiling one
    When(pk=...) expression per field, which made a sync that reprices the whole map take ~9 s instead of ~1 s.
    """
    if not rows:
        return
    fields = [Model._meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    pk_column = quote(Model._meta.pk.column)
    # PostgreSQL types CASE results from its branches: cast each one. SQLite needs no cast (and CAST(... AS
    # datetime) there would turn a timestamp into a number).
    cast = connection.features.requires_casted_case_in_updates
    max_params = connection.features.max_query_params or 65535
    batch_size = max(1, min(UPDATE_BATCH, max_params // (2 * len(fields) + 1)))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            assignments, params = [], []
            for model_field in fields:
                then = f"CAST(%s AS {model_field.db_type(connection)})" if cast else "%s"
                whens = " ".join([f"WHEN %s THEN {then}"] * len(batch))
                assignments.append(f"{quote(model_field.column)} = CASE {pk_column} {whens} END")
                for row in batch:
                    params += [row.pk, model_field.get_db_prep_save(getattr(row, model_field.attname), connection)]
            params += [row.pk for row in batch]
            cursor.execute(
                f"UPDATE {quote(Model._meta.db_table)} SET {', '.join(assignments)} "
                f"WHERE {pk_column} IN ({', '.join(['%s'] * len(batch))})",
                params,
            )


def _providers_ensure(*, slugs: set[str], summary: SyncSummary) -> dict[str, Provider]:
    """Create the providers the feeds mention; existing providers are never changed (staff own them)."""
    providers = {provider.slug: provider for provider in Provider.objects.filter(slug__in=slugs)}
    missing = sorted(slugs - providers.keys())
    if missing:
        new = []
        for slug in missing:
            spec = provider_spec(slug)
            new.append(
                Provider(
                    slug=slug,
                    name=spec.name,
                    adapter_kind=spec.adapter_kind,
                    base_url=spec.base_url,
                    enabled=spec.enabled,
                    priority=spec.priority,
                    privacy_class=spec.privacy_class,
                    env_key_name=spec.env_key_name,
                )
            )
        Provider.objects.bulk_create(new)
        providers.update({provider.slug: provider for provider in Provider.objects.filter(slug__in=missing)})
        summary.providers_created = len(missing)
    return providers


def _record_values(record: ModelRecord, *, provider: Provider, now: datetime) -> dict[str, Any]:
    """The synced fields of a record, before derived fields (keyed by field name, as in SYNCED_FIELDS)."""
    return {
        "provider": provider.pk,
        "upstream_name": record.upstream_name,
        "display_name": record.display_name,
        "description": record.description,
        "mode": ModelMode.CHAT,
        "context_window": record.context_window,
        "max_output_tokens": record.max_output_tokens,
        "input_price": record.input_price,
        "output_price": record.output_price,
        "cache_read_price": record.cache_read_price,
        "cache_write_price": record.cache_write_price,
        "price_unknown": record.price_unknown,
        "pricing_extra": record.pricing_extra,
        "supports_tools": record.supports_tools,
        "supports_vision": record.supports_vision,
        "supports_json": record.supports_json,
        "supports_reasoning": record.supports_reasoning,
        "source": record.source,
        "source_created_at": record.source_created_at,
        "deprecated_at": record.expires_at if record.expires_at is not None and record.expires_at <= now else None,
    }


def _derived_values(values: dict[str, Any]) -> dict[str, Any]:
    derived = derive(
        upstream_name=values["upstream_name"],
        input_price=values["input_price"],
        output_price=values["output_price"],
        price_unknown=values["price_unknown"],
        supports_tools=values["supports_tools"],
        supports_vision=values["supports_vision"],
        supports_json=values["supports_json"],
        supports_reasoning=values["supports_reasoning"],
    )
    return {name: getattr(derived, name) for name in DERIVED_FIELDS}


def _attname(name: str) -> str:
    return "provider_id" if name == "provider" else name


def _model_new(*, record: ModelRecord, values: dict[str, Any], default_installed: set[str]) -> Model:
    values = {_attname(name): value for name, value in {**values, **_derived_values(values)}.items()}
    return Model(model_id=record.model_id, default_installed=record.model_id in default_installed, **values)


def _model_refresh(*, model: Model, values: dict[str, Any], now: datetime) -> tuple[list[str], PriceChange | None]:
    """Apply a record to an existing row in memory; return the changed field names and the PriceChange to write."""
    hand_edited = set(model.hand_edited_fields or ())
    if values["deprecated_at"] is not None and model.deprecated_at is not None:
        values["deprecated_at"] = model.deprecated_at  # still deprecated: keep the first date
    # Derived fields follow the values in force, including staff-edited prices and capabilities.
    effective = {**values, **{name: getattr(model, _attname(name)) for name in hand_edited if name in values}}
    values.update(_derived_values(effective))
    changed = [
        name for name, value in values.items() if name not in hand_edited and getattr(model, _attname(name)) != value
    ]
    if not changed:
        return changed, None
    price_change = None
    if any(name in PRICE_FIELDS for name in changed):
        old = {name: getattr(model, name) for name in PRICE_FIELDS}
        new = {name: values[name] if name in changed else old[name] for name in PRICE_FIELDS}
        price_change = PriceChange(
            model=model,
            source=values["source"],
            **{f"old_{name}": old[name] for name in PRICE_FIELDS},
            **{f"new_{name}": new[name] for name in PRICE_FIELDS},
        )
    for name in changed:
        setattr(model, _attname(name), values[name])
    model.updated_at = now
    return changed, price_change


def _aliases_sync(*, feeds: list[ParsedFeed]) -> int:
    """Point each feed alias (OpenRouter `~vendor/x-latest`) at its current target; staff aliases are untouched."""
    wanted: dict[str, str] = {}
    for feed in feeds:
        for alias, target in feed.aliases.items():
            wanted.setdefault(alias, target)
    if not wanted:
        return 0
    target_pks = dict(Model.objects.filter(model_id__in=set(wanted.values())).values_list("model_id", "pk"))
    current = {alias.alias: alias for alias in ModelAlias.objects.filter(alias__in=wanted.keys())}
    to_create, to_update = [], []
    for name, target in wanted.items():
        target_pk = target_pks.get(target)
        if target_pk is None:
            continue
        alias = current.get(name)
        if alias is None:
            to_create.append(ModelAlias(alias=name, model_id=target_pk))
        elif alias.model_id != target_pk:
            alias.model_id = target_pk
            alias.updated_at = timezone.now()
            to_update.append(alias)
    ModelAlias.objects.bulk_create(to_create)
    ModelAlias.objects.bulk_update(to_update, ["model", "updated_at"])
    return len(wanted)


# Staff edits (admin) -------------------------------------------------------------------------------------------


def provider_set_platform_key(*, provider: Provider, key: str) -> Provider:
    """Store (or clear, with "") the platform key; only its mask is ever shown again."""
    key = key.strip()
    provider.platform_key = key
    provider.platform_key_mask = secret_mask(key) if key else ""
    provider.save(update_fields=["platform_key", "platform_key_mask", "updated_at"])
    return provider


def providers_set_enabled(*, providers: QuerySet[Provider], enabled: bool) -> int:
    return providers.update(enabled=enabled, updated_at=timezone.now())


def model_staff_save(*, model: Model, changed_fields: Iterable[str]) -> Model:
    """Save a model edited by staff and remember which synced fields they changed, so the sync keeps them.

    `changed_fields` (a form's changed_data) is checked against the stored row, so a field the form merely
    re-submitted unchanged is not pinned.
    """
    candidates = set(changed_fields) & set(SYNCED_FIELDS)
    if model.pk is not None and candidates:
        stored = Model.objects.filter(pk=model.pk).values(*(_attname(name) for name in candidates)).first() or {}
        candidates = {name for name in candidates if stored.get(_attname(name)) != getattr(model, _attname(name))}
    edited = set(model.hand_edited_fields or ()) | candidates
    model.hand_edited_fields = sorted(edited)
    model.save()
    return model


def models_set_field(*, models: QuerySet[Model], field_name: str, value: str) -> int:
    """Bulk-set plan tier, category or power level; recorded as a staff edit on each model."""
    choices = BULK_SETTABLE.get(field_name)
    if choices is None or value not in choices.values:
        raise ApplicationError(f"Cannot bulk-set {field_name} to {value!r}.")
    now = timezone.now()
    rows = list(models.select_related(None).only("pk", field_name, "hand_edited_fields"))
    for model in rows:
        setattr(model, field_name, value)
        model.hand_edited_fields = sorted({*model.hand_edited_fields, field_name})
        model.updated_at = now
    with transaction.atomic():
        Model.objects.bulk_update(rows, [field_name, "hand_edited_fields", "updated_at"], batch_size=UPDATE_BATCH)
    return len(rows)


def models_set_enabled(*, models: QuerySet[Model], enabled: bool) -> int:
    # `enabled` is never written by the sync, so there is no hand edit to record.
    return models.update(enabled=enabled, updated_at=timezone.now())


def models_install_for_plan(*, plan_id: int, models: QuerySet[Model]) -> int:
    """Add the models to a plan's always-allowed models; returns how many were selected."""
    from apps.workspaces.models import Plan

    plan = Plan.objects.get(pk=plan_id)
    model_pks = list(models.values_list("pk", flat=True))
    plan.allowed_models.add(*model_pks)
    return len(model_pks)


def providers_point_at_mock(*, mock_url: str, key: str = "mock-key") -> list[str]:
    """For the embedded demo: send the known providers still at their default address to the mock provider,
    with a placeholder platform key where none is set. Providers staff re-pointed elsewhere are left alone."""
    mock_url = mock_url.rstrip("/")
    changed = []
    for provider in Provider.objects.filter(slug__in=KNOWN_PROVIDERS).order_by("slug"):
        spec = KNOWN_PROVIDERS[provider.slug]
        target = f"{mock_url}/v1" if spec.adapter_kind == AdapterKind.OPENAI else mock_url
        if not spec.base_url or provider.base_url.rstrip("/") not in (spec.base_url, target):
            continue
        provider.base_url = target
        provider.save(update_fields=["base_url", "updated_at"])
        if not provider.platform_key:
            provider_set_platform_key(provider=provider, key=key)
        changed.append(provider.slug)
    return changed


# Popularity ----------------------------------------------------------------------------------------------------

POPULARITY_MAX = 2**31 - 1  # the column is a PositiveIntegerField


def catalog_popularity_refresh(*, now: datetime | None = None) -> int:
    """Set every model's `popularity` (the catalog's "most used" order) to its requests over the last 30 days across
    all workspaces, from the usage rollups; models without any fall to 0. Returns the models changed."""
    from apps.analytics.model_usage_selectors import platform_model_request_counts

    counts = platform_model_request_counts(now=now)
    changed = []
    for model in Model.objects.only("pk", "model_id", "popularity"):
        popularity = min(counts.get(model.model_id, 0), POPULARITY_MAX)
        if model.popularity != popularity:
            model.popularity = popularity
            changed.append(model)
    Model.objects.bulk_update(changed, ["popularity"], batch_size=500)
    return len(changed)
