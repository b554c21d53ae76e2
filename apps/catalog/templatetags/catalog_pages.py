from decimal import Decimal

from django import template

from apps.catalog.page_figures import tokens_short, usd_text

register = template.Library()
PER_MILLION = Decimal(1_000_000)


@register.filter
def usd(amount: Decimal | None) -> str:
    return usd_text(amount)


@register.filter
def usd_per_million(price_per_token: Decimal | None) -> str:
    return usd_text(None if price_per_token is None else price_per_token * PER_MILLION)


@register.filter
def short_tokens(count: int | None) -> str:
    return tokens_short(count)
