"""What both admission backends share: counters, rate limits, holds, and the arithmetic of money units."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

# Counters hold money as integers of 1e-8 USD (the ledger's precision). Lua does arithmetic in doubles, exact up to
# 2**53 units: $90M per counter, far past any budget. Amounts round up, so a counter never reads below real spend.
MONEY_UNIT = Decimal("0.00000001")

BUDGET = "budget"
QUOTA = "quota"
CREDITS = "credits"

REQUESTS = "requests"
TOKENS = "tokens"
RATE_WINDOW_SECONDS = 60


def to_units(amount: Decimal | None) -> int:
    if not amount:
        return 0
    return int((amount / MONEY_UNIT).to_integral_value(rounding=ROUND_CEILING))


def from_units(units: int) -> Decimal:
    return units * MONEY_UNIT


@dataclass(frozen=True, slots=True)
class Counter:
    """One budget, token quota or credit balance that a call draws on, in its current window.

    Budgets and quotas refuse when spent + held + the call's hold would pass `limit`. A credit balance has no fixed
    limit: the counter keeps the balance it was seeded with (plus top-ups since), and refuses when spent + held +
    the hold would pass it. A soft counter (a quota with overage) never refuses; settling reports what went past."""

    key: str  # unique within the workspace, window included: "budget:12:20261101", "quota:202611", "credits"
    kind: str  # BUDGET | QUOTA | CREDITS
    limit: int  # money units or tokens; unused for CREDITS
    expires_at: float  # epoch seconds: the end of the window (the counter is kept a day longer)
    label: str  # for messages: "the workspace's monthly budget", "the Starter plan's monthly token quota"
    soft: bool = False
    # How to seed it from the database when no backend holds it: ("budget", budget id, window start, window end),
    # ("quota", workspace id, window start, window end) or ("credits", workspace id).
    seed: tuple = ()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests or tokens per minute, per API key or per workspace (fixed windows of RATE_WINDOW_SECONDS)."""

    key: str  # "rpm:key:5", "tpm:workspace"
    kind: str  # REQUESTS | TOKENS
    limit: int
    label: str  # "API key" | "workspace"


@dataclass(frozen=True, slots=True)
class RateState:
    """A rate limit as the response headers report it."""

    limit: RateLimit
    remaining: int
    reset_seconds: float


@dataclass(slots=True)
class Hold:
    """What one admitted call holds until it settles: amounts per counter, and the token windows it was counted in."""

    id: str
    workspace_id: int
    amounts: list[tuple[Counter, int]]
    token_windows: list[tuple[str, int]] = field(default_factory=list)  # (window key, tokens estimated)


@dataclass(slots=True)
class Admission:
    allowed: bool
    hold: Hold | None = None
    refused_counter: Counter | None = None
    refused_rate: RateLimit | None = None
    retry_after: float | None = None
    rates: list[RateState] = field(default_factory=list)
    available: int | None = None  # of the refused counter: what was left when it refused (units or tokens)


class AdmissionUnavailable(Exception):
    """The shared store did not answer: the caller decides whether the call may go on without it."""


def rate_window(now: float) -> tuple[int, float]:
    """(window start in seconds, seconds until it resets)."""
    start = int(now // RATE_WINDOW_SECONDS) * RATE_WINDOW_SECONDS
    return start, start + RATE_WINDOW_SECONDS - now


def counter_ttl(counter: Counter, now: float) -> int:
    """Seconds to keep a counter: to its window's end plus a day (late settlements still find it)."""
    return max(1, math.ceil(counter.expires_at - now)) + 86_400


# The database figures a counter starts from: (spent, credit) in the counter's units.
Seeder = Callable[[Counter], tuple[int, int]]


def now_seconds() -> float:
    return time.time()
