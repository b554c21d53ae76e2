"""How the usage and audit pages write money: exact, as the API gives it, with at least cents ($0.30, $0.000042)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def usd(value) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    text = f"{amount.normalize():f}" if amount else "0"
    whole, _, cents = text.partition(".")
    sign = "−" if whole.startswith("-") else ""
    return f"{sign}${int(whole.lstrip('-')):,}.{cents.ljust(2, '0')}"
