"""Admission: what a call may spend, held before it goes upstream and settled after, atomically across processes.

Before the upstream call the gateway holds the call's estimated maximum against every counter that applies — the
blocking budgets (workspace, agent, API key; their current windows), the plan's monthly token quota (platform-paid
calls only), the credit balance (prepaid workspaces, platform-paid calls) — and counts it against the RPM and TPM
limits of its API key and workspace. Either all of it is held or nothing is, in one step: one Lua script on Redis,
or one database transaction under row locks in the embedded mode. A counter is refused when
spent + held + this hold would pass its limit, so concurrent calls can never together spend past it. After the call
the hold is replaced by the actual cost (`settle`); a failed call settles at nothing. A hold whose worker died is
released when it expires (BILLING_HOLD_SECONDS after it was taken), by the next reservation on the same counter.

Counters start from the database the first time a backend needs them (budget spend and quota tokens from the usage
records of the window, the credit balance from the ledger) and are then kept by the backend: the warm path reads
no database. Money is counted in integer units of 1e-8 USD (base.MONEY_UNIT), rounded up.

Backends: Redis when REDIS_URL is set (redis_backend.py), else the database (local_backend.py).
"""

from decimal import Decimal

from .base import (
    BUDGET,
    CREDITS,
    QUOTA,
    REQUESTS,
    TOKENS,
    Admission,
    AdmissionUnavailable,
    Counter,
    Hold,
    RateLimit,
    RateState,
    from_units,
    to_units,
)
from .local_backend import DatabaseAdmission
from .redis_backend import RedisAdmission

__all__ = [
    "BUDGET",
    "CREDITS",
    "QUOTA",
    "REQUESTS",
    "TOKENS",
    "Admission",
    "AdmissionUnavailable",
    "Counter",
    "DatabaseAdmission",
    "Hold",
    "RateLimit",
    "RateState",
    "RedisAdmission",
    "admission_backend",
    "admission_backend_reset",
    "credits_changed",
    "from_units",
    "to_units",
]

_backend: RedisAdmission | DatabaseAdmission | None = None


def admission_backend() -> RedisAdmission | DatabaseAdmission:
    global _backend
    if _backend is None:
        from django.conf import settings

        _backend = RedisAdmission(settings.REDIS_URL) if settings.REDIS_URL else DatabaseAdmission()
    return _backend


def admission_backend_reset() -> None:
    """Forget every counter and start over with a fresh backend (tests)."""
    global _backend
    if _backend is not None:
        _backend.reset()
    _backend = None


def credits_changed(*, workspace_id: int, amount_usd: Decimal) -> None:
    """Tell the counters a workspace's credit balance moved (top-up, refund, transfer, correction). Call it once
    the ledger entry is committed; usage charges must not call it (settling counted them already)."""
    units = to_units(abs(amount_usd)) * (1 if amount_usd > 0 else -1)
    admission_backend().credits_changed(workspace_id, units)
