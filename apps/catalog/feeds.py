"""Loading and parsing the two pricing feeds into plain records; no database access here.

A feed that cannot be read, is not JSON or has the wrong top-level shape raises FeedError (the sync aborts).
A single bad entry is reported in ParsedFeed.errors and skipped; the rest of the feed still syncs.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from .models import ModelSource

# LiteLLM keys that are not models.
LITELLM_SKIP_KEYS = frozenset({"sample_spec", "fallback_generalizations"})
LITELLM_PRICE_KEYS = {
    "input_price": "input_cost_per_token",
    "output_price": "output_cost_per_token",
    "cache_read_price": "cache_read_input_token_cost",
    "cache_write_price": "cache_creation_input_token_cost",
}
OPENROUTER_PRICE_KEYS = {
    "input_price": "prompt",
    "output_price": "completion",
    "cache_read_price": "input_cache_read",
    "cache_write_price": "input_cache_write",
}
OPENROUTER_VARIABLE_PRICE = Decimal(-1)

# Model.PRICE_FIELD holds 15 decimal places and values below 10**9; prices are rounded to what the column stores
# so that comparing a fresh feed value with the stored one is exact.
PRICE_PLACES = Decimal("1e-15")
PRICE_MAX = Decimal(10) ** 9
INT_MAX = 2_147_483_647  # PositiveIntegerField on PostgreSQL
PROVIDER_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,64}")
ID_MAX_LENGTH = 255


class FeedError(Exception):
    """The feed as a whole is unusable: the sync aborts and changes nothing."""


class FeedFetchError(FeedError):
    """The feed could not be fetched (network error or HTTP error status); worth retrying."""


class EntryError(ValueError):
    """One entry of a feed is malformed; it is reported and skipped."""


@dataclass(slots=True)
class ModelRecord:
    model_id: str
    provider_slug: str
    source: str
    upstream_name: str
    display_name: str
    description: str = ""
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_price: Decimal | None = None
    output_price: Decimal | None = None
    cache_read_price: Decimal | None = None
    cache_write_price: Decimal | None = None
    price_unknown: bool = False
    pricing_extra: dict = field(default_factory=dict)
    supports_tools: bool = False
    supports_vision: bool = False
    supports_json: bool = False
    supports_reasoning: bool = False
    source_created_at: datetime | None = None
    expires_at: datetime | None = None
    alias_of: str | None = None


@dataclass(slots=True)
class ParsedFeed:
    source: str
    label: str
    records: list[ModelRecord] = field(default_factory=list)
    # Canonical ids the feed mentions, including entries skipped for errors: a model is only marked deprecated
    # when its id is absent from the feed, never because one entry was malformed today.
    present_ids: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def feed_load(source: str | Path, *, timeout: float) -> Any:
    """Read a feed from a file path or an http(s) URL and decode its JSON (JSON floats become Decimals)."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        try:
            response = httpx.get(text, timeout=timeout, follow_redirects=True, headers={"Accept": "application/json"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise FeedFetchError(f"could not fetch {text}: {exc}") from exc
        raw = response.content
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise FeedError(f"could not read {text}: {exc}") from exc
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise FeedError(f"{text} is not valid JSON: {exc}") from exc


def parse_litellm(data: Any, *, label: str) -> ParsedFeed:
    """LiteLLM's `model_prices_and_context_window.json`: chat entries only."""
    if not isinstance(data, dict):
        raise FeedError(f"LiteLLM feed {label}: expected a JSON object of models, got {type(data).__name__}")
    feed = ParsedFeed(source=ModelSource.LITELLM, label=label)
    for key, entry in data.items():
        if key in LITELLM_SKIP_KEYS:
            continue
        if not isinstance(entry, dict):
            feed.errors.append(f"litellm {key}: entry is not an object")
            continue
        if entry.get("mode") != "chat":
            continue
        try:
            provider = entry.get("litellm_provider")
            if not isinstance(provider, str) or not PROVIDER_SLUG_RE.fullmatch(provider):
                raise EntryError(f"bad litellm_provider {provider!r}")
            if key.startswith(f"{provider}/"):
                model_id, upstream = key, key[len(provider) + 1 :]
            elif "/" in key:
                model_id, upstream = key, key
            else:
                model_id, upstream = f"{provider}/{key}", key
            feed.present_ids.add(model_id)
            _check_id(model_id)
            feed.records.append(_litellm_record(model_id, provider, upstream, entry))
        except EntryError as exc:
            feed.errors.append(f"litellm {key}: {exc}")
    return feed


def _litellm_record(model_id: str, provider: str, upstream: str, entry: dict) -> ModelRecord:
    record = ModelRecord(
        model_id=model_id,
        provider_slug=provider,
        source=ModelSource.LITELLM,
        upstream_name=upstream,
        display_name=readable_name(upstream),
        context_window=_int(entry, "max_input_tokens"),
        max_output_tokens=_int(entry, "max_output_tokens"),
        supports_tools=_bool(entry, "supports_function_calling"),
        supports_vision=_bool(entry, "supports_vision"),
        supports_json=_bool(entry, "supports_response_schema"),
        supports_reasoning=_bool(entry, "supports_reasoning"),
        expires_at=_date(entry, "deprecation_date"),
    )
    prices = {name: _price(entry, key) for name, key in LITELLM_PRICE_KEYS.items()}
    if prices["input_price"] is None and prices["output_price"] is None:
        record.price_unknown = True
    else:
        for name, value in prices.items():
            setattr(record, name, value)
        # A model with a per-token price on one side only is free on the other (e.g. output-only pricing).
        record.input_price = record.input_price if record.input_price is not None else Decimal(0)
        record.output_price = record.output_price if record.output_price is not None else Decimal(0)
    main_keys = set(LITELLM_PRICE_KEYS.values())
    record.pricing_extra = {
        key: _jsonable(value) for key, value in entry.items() if "cost" in key and key not in main_keys
    }
    return record


def parse_openrouter(data: Any, *, label: str) -> ParsedFeed:
    """OpenRouter's `GET /api/v1/models` body: `{"data": [...]}`, text-output models only."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise FeedError(f'OpenRouter feed {label}: expected an object with a "data" list')
    feed = ParsedFeed(source=ModelSource.OPENROUTER, label=label)
    for index, entry in enumerate(data["data"]):
        if not isinstance(entry, dict):
            feed.errors.append(f"openrouter entry {index}: entry is not an object")
            continue
        raw_id = entry.get("id")
        if not isinstance(raw_id, str) or not raw_id:
            feed.errors.append(f"openrouter entry {index}: missing id")
            continue
        try:
            architecture = entry.get("architecture") or {}
            if not isinstance(architecture, dict):
                raise EntryError("architecture is not an object")
            outputs = architecture.get("output_modalities")
            if isinstance(outputs, list) and "text" not in outputs:
                continue  # image, audio, embedding... models are outside the chat catalog
            model_id = f"openrouter/{raw_id}"
            feed.present_ids.add(model_id)
            _check_id(model_id)
            feed.records.append(_openrouter_record(model_id, raw_id, entry, architecture))
        except EntryError as exc:
            feed.errors.append(f"openrouter {raw_id}: {exc}")

    # `~vendor/x-latest` entries point at another model of the same feed: keep them as aliases of it.
    ids = {record.model_id for record in feed.records}
    models = []
    for record in feed.records:
        if record.alias_of is not None and record.alias_of in ids:
            feed.aliases[record.model_id] = record.alias_of
        else:
            models.append(record)
    feed.records = models
    return feed


def _openrouter_record(model_id: str, raw_id: str, entry: dict, architecture: dict) -> ModelRecord:
    name = entry.get("name")
    description = entry.get("description")
    created = entry.get("created")
    if created is not None and (isinstance(created, bool) or not isinstance(created, int) or created < 0):
        raise EntryError(f"bad created {created!r}")
    top_provider = entry.get("top_provider") or {}
    parameters = entry.get("supported_parameters") or []
    inputs = architecture.get("input_modalities") or []
    if not isinstance(top_provider, dict) or not isinstance(parameters, list) or not isinstance(inputs, list):
        raise EntryError("top_provider, supported_parameters or input_modalities has the wrong type")
    alias_target = entry.get("alias_target")
    alias_of = None
    if raw_id.startswith("~") and isinstance(alias_target, dict) and isinstance(alias_target.get("slug"), str):
        alias_of = f"openrouter/{alias_target['slug']}"

    record = ModelRecord(
        model_id=model_id,
        provider_slug="openrouter",
        source=ModelSource.OPENROUTER,
        upstream_name=raw_id,
        display_name=name.strip()[:255] if isinstance(name, str) and name.strip() else readable_name(raw_id),
        description=description if isinstance(description, str) else "",
        context_window=_int(entry, "context_length"),
        max_output_tokens=_int(top_provider, "max_completion_tokens"),
        supports_tools="tools" in parameters,
        supports_vision="image" in inputs,
        supports_json="response_format" in parameters or "structured_outputs" in parameters,
        supports_reasoning="reasoning" in parameters,
        source_created_at=datetime.fromtimestamp(created, tz=UTC) if created is not None else None,
        expires_at=_date(entry, "expiration_date"),
        alias_of=alias_of,
    )

    pricing = entry.get("pricing")
    if pricing is not None and not isinstance(pricing, dict):
        raise EntryError("pricing is not an object")
    pricing = pricing or {}
    prices = {name: _price(pricing, key, allow_variable=True) for name, key in OPENROUTER_PRICE_KEYS.items()}
    if all(value is None for value in prices.values()):
        record.price_unknown = True
    elif OPENROUTER_VARIABLE_PRICE in (prices["input_price"], prices["output_price"]):
        # Router pseudo-models ("-1"): the price depends on the model picked per request.
        record.price_unknown = True
    else:
        # Recent responses omit zero-priced keys: a model that has pricing at all pays 0 for a missing
        # prompt/completion price. Cache prices stay NULL when absent (no separate cache price).
        record.input_price = prices["input_price"] if prices["input_price"] is not None else Decimal(0)
        record.output_price = prices["output_price"] if prices["output_price"] is not None else Decimal(0)
        record.cache_read_price = prices["cache_read_price"]
        record.cache_write_price = prices["cache_write_price"]
        if OPENROUTER_VARIABLE_PRICE in (record.cache_read_price, record.cache_write_price):
            raise EntryError("negative cache price")
    main_keys = set(OPENROUTER_PRICE_KEYS.values())
    record.pricing_extra = {key: _jsonable(value) for key, value in pricing.items() if key not in main_keys}
    return record


def readable_name(upstream: str) -> str:
    """`claude-3-5-sonnet-20241022` -> `Claude 3.5 Sonnet 20241022`; `gpt-4o-mini` -> `GPT 4o Mini`."""
    last = upstream.rsplit("/", 1)[-1]
    last = re.sub(r"(?<![0-9A-Za-z])(\d)-(\d)(?![0-9A-Za-z])", r"\1.\2", last)
    words = []
    for word in re.split(r"[-_\s]+", last):
        if not word:
            continue
        if word.lower() in {"gpt", "ai", "llm", "vl", "oss"}:
            words.append(word.upper())
        else:
            words.append(word[0].upper() + word[1:])
    return (" ".join(words) or upstream)[:255]


def _check_id(model_id: str) -> None:
    if len(model_id) > ID_MAX_LENGTH:
        raise EntryError(f"id longer than {ID_MAX_LENGTH} characters")


def _price(entry: dict, key: str, *, allow_variable: bool = False) -> Decimal | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise EntryError(f"{key} is not a number: {value!r}")
    try:
        price = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise EntryError(f"{key} is not a number: {value!r}") from None
    if not price.is_finite():
        raise EntryError(f"{key} is not a finite number: {value!r}")
    if allow_variable and price == OPENROUTER_VARIABLE_PRICE:
        return OPENROUTER_VARIABLE_PRICE
    if price < 0:
        raise EntryError(f"{key} is negative: {value!r}")
    if price >= PRICE_MAX:
        raise EntryError(f"{key} is too large: {value!r}")
    return price.quantize(PRICE_PLACES).normalize() if price else Decimal(0)


def _int(entry: dict, key: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise EntryError(f"{key} is not a token count: {value!r}")
    return value


def _bool(entry: dict, key: str) -> bool:
    value = entry.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise EntryError(f"{key} is not true/false: {value!r}")
    return value


def _date(entry: dict, key: str) -> datetime | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EntryError(f"{key} is not a date: {value!r}")
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise EntryError(f"{key} is not a date: {value!r}") from None
    return datetime.combine(day, time.min, tzinfo=UTC)


def _jsonable(value: Any) -> Any:
    """Feed values as JSON the database stores losslessly: Decimals become plain decimal strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value
