"""Filters of the marketplace catalog, shared by /api/catalog and the marketplace pages.

Each FilterSet filters a queryset from apps/catalog/selectors.py (`catalog_model_list`, `provider_list`), whose
annotations (`blended_price`, `released_at`, `is_installed`, `is_available`) some filters and sorts read. A value
that cannot be read is a form error naming its field, never silently ignored.
"""

from decimal import Decimal

import django_filters as filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django_filters.fields import BaseCSVField
from drf_spectacular.utils import extend_schema_field

from .classify import PER_MILLION
from .models import Category, ModelAlias, PlanTier, PowerLevel, Provider

CAPABILITIES = {
    "tools": "supports_tools",
    "vision": "supports_vision",
    "json": "supports_json",
    "streaming": "supports_streaming",
    "reasoning": "supports_reasoning",
}


def _asc(field: str):
    return F(field).asc(nulls_last=True)


def _desc(field: str):
    return F(field).desc(nulls_last=True)


# Sort name -> order; unknown values (no price, no context window) always last; the canonical id breaks ties, so
# pages never overlap.
SORTS = {
    "-popularity": (_desc("popularity"), "model_id"),
    "popularity": (_asc("popularity"), "model_id"),
    "price": (_asc("blended_price"), "model_id"),
    "-price": (_desc("blended_price"), "model_id"),
    "input_price": (_asc("input_price"), "model_id"),
    "-input_price": (_desc("input_price"), "model_id"),
    "output_price": (_asc("output_price"), "model_id"),
    "-output_price": (_desc("output_price"), "model_id"),
    "context": (_asc("context_window"), "model_id"),
    "-context": (_desc("context_window"), "model_id"),
    "-quality": (_desc("quality_score"), "model_id"),
    "quality": (_asc("quality_score"), "model_id"),
    "newest": (_desc("released_at"), "model_id"),
    "oldest": (_asc("released_at"), "model_id"),
    "name": (_asc("display_name"), "model_id"),
    "-name": (_desc("display_name"), "model_id"),
}
SORT_HELP = (
    "`-popularity` (default: most used first); `price`/`-price`: blended (input + 3 x output) / 4, cheapest/dearest "
    "first; `input_price`, `output_price`; `context`/`-context`: smallest/largest window first; `quality`/`-quality`; "
    "`newest`/`oldest`: release date (else the date added to the catalog); `name`/`-name`. Unknown values sort last."
)
MAX_PRICE_PER_MILLION = Decimal(1_000_000)
MAX_TOKENS = 2**31 - 1


class StrictBooleanField(forms.Field):
    """`true`/`false` (or `1`/`0`); anything else is an error, where Django's NullBooleanField would ignore it."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class ItemsCSVField(BaseCSVField):
    """Comma-separated values without the empty items (`a,,b,` is `a,b`); none at all is no filter."""

    def clean(self, value):
        items = [item.strip() for item in value or [] if item.strip()]
        return super().clean(items) if items else None


class ProviderSlugField(forms.SlugField):
    def clean(self, value):
        slug = super().clean(value)
        if slug and not Provider.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"No provider '{slug}'.", code="invalid_choice")
        return slug


class ProviderSlugsFilter(filters.BaseInFilter, filters.CharFilter):
    base_field_class = ItemsCSVField
    field_class = ProviderSlugField


class ChoiceInFilter(filters.BaseInFilter, filters.ChoiceFilter):
    base_field_class = ItemsCSVField


@extend_schema_field(
    {
        "type": "number",
        "minimum": 0,
        "maximum": int(MAX_PRICE_PER_MILLION),
        "description": "USD per 1M tokens, inclusive; models of unknown price never match.",
    }
)
class PricePerMillionFilter(filters.NumberFilter):
    """A bound on a price, given in USD per 1M tokens (as people quote them); models of unknown price never match."""

    def __init__(self, *, bound: str, **kwargs):
        method = {"gte": "filter_price_at_least", "lte": "filter_price_at_most"}[bound]
        super().__init__(
            method=method, min_value=Decimal(0), max_value=MAX_PRICE_PER_MILLION, decimal_places=9, **kwargs
        )


@extend_schema_field(
    {"type": "integer", "minimum": 0, "maximum": MAX_TOKENS, "description": "Context window in tokens, inclusive."}
)
class TokenCountFilter(filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_value=MAX_TOKENS, **kwargs)


class CatalogModelFilter(filters.FilterSet):
    search = filters.CharFilter(
        method="filter_search", max_length=200, help_text="Part of the model's id, name or an alias (any case)."
    )
    provider = ProviderSlugsFilter(field_name="provider__slug", help_text="Provider slugs, comma-separated.")
    category = ChoiceInFilter(choices=Category.choices, help_text="Categories, comma-separated.")
    power_level = ChoiceInFilter(choices=PowerLevel.choices, help_text="Power levels, comma-separated.")
    plan_tier = ChoiceInFilter(choices=PlanTier.choices, help_text="Plan tiers, comma-separated.")
    capabilities = ChoiceInFilter(
        choices=[(name, name) for name in CAPABILITIES],
        method="filter_capabilities",
        help_text="Capabilities the model must all have, comma-separated.",
    )
    input_price_min = PricePerMillionFilter(field_name="input_price", bound="gte")
    input_price_max = PricePerMillionFilter(field_name="input_price", bound="lte")
    output_price_min = PricePerMillionFilter(field_name="output_price", bound="gte")
    output_price_max = PricePerMillionFilter(field_name="output_price", bound="lte")
    context_min = TokenCountFilter(field_name="context_window", lookup_expr="gte")
    context_max = TokenCountFilter(field_name="context_window", lookup_expr="lte")
    deprecated = StrictBooleanFilter(method="filter_deprecated", help_text="Only deprecated (true) or current models.")
    available = StrictBooleanFilter(field_name="is_available", help_text="Allowed (true) or not by your plan.")
    installed = StrictBooleanFilter(field_name="is_installed", help_text="Installed (true) or not in your workspace.")
    provider_enabled = StrictBooleanFilter(
        field_name="provider__enabled", help_text="At a provider staff have enabled (true), so it can be called."
    )
    sort = filters.ChoiceFilter(choices=[(name, name) for name in SORTS], method="filter_sort", help_text=SORT_HELP)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        alias = ModelAlias.objects.filter(model=OuterRef("pk"), alias__icontains=value)
        return queryset.filter(Q(model_id__icontains=value) | Q(display_name__icontains=value) | Exists(alias))

    def filter_capabilities(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return queryset.filter(**{CAPABILITIES[capability]: True for capability in value})

    def filter_price_at_least(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset.filter(price_unknown=False, **{f"{name}__gte": value / PER_MILLION})

    def filter_price_at_most(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset.filter(price_unknown=False, **{f"{name}__lte": value / PER_MILLION})

    def filter_deprecated(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(deprecated_at__isnull=not value)

    def filter_sort(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.order_by(*SORTS[value])


class ProviderFilter(filters.FilterSet):
    search = filters.CharFilter(method="filter_search", max_length=200, help_text="Part of the slug or name.")
    enabled = StrictBooleanFilter(help_text="Enabled by staff (true) or not.")

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(slug__icontains=value) | Q(name__icontains=value))
