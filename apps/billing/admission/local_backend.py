"""The database backend of the embedded mode (no Redis): counters are SpendCounter rows changed under row locks,
holds are Reservation rows, and rate-limit windows live in process memory (the embedded mode is one process).

Its sync functions run in Django's sync thread (`thread_sensitive=True`), one at a time per process, which is what
serialises them on SQLite; on PostgreSQL the row locks also serialise processes that share the database.
"""

import threading
from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.billing.models import Reservation, SpendCounter

from .base import (
    CREDITS,
    QUOTA,
    RATE_WINDOW_SECONDS,
    TOKENS,
    Admission,
    Counter,
    Hold,
    RateLimit,
    RateState,
    Seeder,
    from_units,
    now_seconds,
    rate_window,
    to_units,
)


def _row_key(workspace_id: int, counter_key: str) -> str:
    return f"w{workspace_id}:{counter_key}"


def _is_tokens(counter: Counter) -> bool:
    return counter.kind == QUOTA


def _spent(row: SpendCounter, counter: Counter) -> int:
    return row.spent_tokens if _is_tokens(counter) else to_units(row.spent_usd)


def _reserved(row: SpendCounter, counter: Counter) -> int:
    return row.reserved_tokens if _is_tokens(counter) else to_units(row.reserved_usd)


def _hold_change(in_tokens: bool, amount: int) -> dict:
    """The update that adds `amount` (may be negative) to a counter's held figure."""
    if in_tokens:
        return {"reserved_tokens": F("reserved_tokens") + amount}
    return {"reserved_usd": F("reserved_usd") + from_units(amount)}


def _spend_change(counter: Counter, amount: int) -> dict:
    if _is_tokens(counter):
        return {"spent_tokens": F("spent_tokens") + amount}
    return {"spent_usd": F("spent_usd") + from_units(amount)}


class DatabaseAdmission:
    def __init__(self):
        self._rates: dict[str, int] = {}  # "<workspace>:<rate key>:<window start>" -> requests or tokens counted
        self._rates_lock = threading.Lock()

    async def reserve(
        self,
        workspace_id: int,
        amounts: list[tuple[Counter, int]],
        rates: list[tuple[RateLimit, int]],
        *,
        hold_seconds: float,
        seeder: Seeder,
    ) -> Admission:
        if not amounts:  # rate limits only: no database, no thread hop
            return self._count_rates(workspace_id, rates)
        return await sync_to_async(self.reserve_sync, thread_sensitive=True)(
            workspace_id, amounts, rates, hold_seconds=hold_seconds, seeder=seeder
        )

    def reserve_sync(self, workspace_id, amounts, rates, *, hold_seconds: float, seeder: Seeder) -> Admission:
        if not amounts:  # rate limits only: process memory, no transaction
            return self._count_rates(workspace_id, rates)
        now = timezone.now()
        with transaction.atomic():
            self._release_expired(now)
            rows = self._locked_rows(workspace_id, [counter for counter, _ in amounts], seeder, now)
            for counter, amount in amounts:
                row = rows[counter.key]
                limit = to_units(row.credit_usd) if counter.kind == CREDITS else counter.limit
                available = limit - _spent(row, counter) - _reserved(row, counter)
                if not counter.soft and amount > available:
                    return Admission(False, refused_counter=counter, available=available)
            admission = self._count_rates(workspace_id, rates)
            if not admission.allowed:
                return admission
            hold_amounts = [(counter, amount) for counter, amount in amounts if amount > 0]
            for counter, amount in hold_amounts:
                SpendCounter.objects.filter(pk=rows[counter.key].pk).update(**_hold_change(_is_tokens(counter), amount))
            reservation = Reservation.objects.create(
                workspace_id=workspace_id,
                counter_keys=[[counter.key, amount, _is_tokens(counter)] for counter, amount in hold_amounts],
                amount_usd=from_units(sum(a for c, a in hold_amounts if not _is_tokens(c))),
                tokens=sum(a for c, a in hold_amounts if _is_tokens(c)),
                expires_at=now + timedelta(seconds=hold_seconds),
            )
        admission.hold.id, admission.hold.amounts = str(reservation.pk), amounts
        return admission

    def _locked_rows(self, workspace_id: int, counters: list[Counter], seeder: Seeder, now) -> dict:
        keys = {_row_key(workspace_id, c.key): c for c in counters}
        rows = {r.key: r for r in SpendCounter.objects.select_for_update().filter(key__in=keys)}
        for key, counter in keys.items():
            if key in rows:
                continue
            spent, credit = seeder(counter)
            fields = {"spent_tokens": spent} if _is_tokens(counter) else {"spent_usd": from_units(spent)}
            try:
                with transaction.atomic():
                    SpendCounter.objects.create(
                        key=key,
                        window_start=now,
                        credit_usd=from_units(credit),
                        expires_at=datetime.fromtimestamp(counter.expires_at, tz=UTC),
                        **fields,
                    )
            except IntegrityError:
                pass  # another process seeded it first
            rows[key] = SpendCounter.objects.select_for_update().get(key=key)
        return {counter.key: rows[key] for key, counter in keys.items()}

    def _release_expired(self, now) -> None:
        """Holds of calls whose worker died before settling: give their amounts back. Counters of windows that
        ended over a day ago go too (a window's spend stays in its usage records)."""
        expired = list(Reservation.objects.select_for_update().filter(expires_at__lte=now))
        for reservation in expired:
            self._release(reservation)
        if expired:
            SpendCounter.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()

    @staticmethod
    def _release(reservation: Reservation) -> None:
        """Give a hold's amounts back and forget it: the usage record is what stays of the call."""
        for key, amount, in_tokens in reservation.counter_keys:
            SpendCounter.objects.filter(key=_row_key(reservation.workspace_id, key)).update(
                **_hold_change(in_tokens, -amount)
            )
        reservation.delete()

    def _count_rates(self, workspace_id: int, rates: list[tuple[RateLimit, int]]) -> Admission:
        """Count the call in its rate-limit windows, or refuse; an admitted call gets a hold with no amounts yet."""
        window, reset = rate_window(now_seconds())
        keys = [f"{workspace_id}:{limit.key}:{window}" for limit, _ in rates]
        with self._rates_lock:
            for key, (limit, amount) in zip(keys, rates, strict=True):
                counted = self._rates.get(key, 0)
                if counted + amount > limit.limit:
                    state = RateState(limit, max(0, limit.limit - counted), reset)
                    return Admission(False, refused_rate=limit, retry_after=reset, rates=[state])
            states = []
            for key, (limit, amount) in zip(keys, rates, strict=True):
                self._rates[key] = counted = self._rates.get(key, 0) + amount
                states.append(RateState(limit, max(0, limit.limit - counted), reset))
            self._forget_old_windows(window)
        token_windows = [
            (key, amount) for key, (limit, amount) in zip(keys, rates, strict=True) if limit.kind == TOKENS
        ]
        return Admission(True, hold=Hold("", workspace_id, [], token_windows), rates=states)

    def _forget_old_windows(self, window: int) -> None:
        if len(self._rates) > 10_000:
            oldest = window - RATE_WINDOW_SECONDS
            self._rates = {k: v for k, v in self._rates.items() if int(k.rsplit(":", 1)[1]) >= oldest}

    @staticmethod
    def _settle_counters(hold: Hold, actual: dict[str, int]) -> dict[str, int]:
        over = {}
        reservation = Reservation.objects.select_for_update().filter(pk=hold.id).first()
        if reservation is not None:  # else it expired and was released already
            DatabaseAdmission._release(reservation)
        for counter, _ in hold.amounts:
            amount = actual.get(counter.key, 0)
            if amount <= 0:
                continue
            row = SpendCounter.objects.select_for_update().filter(key=_row_key(hold.workspace_id, counter.key)).first()
            if row is None:
                continue
            before = _spent(row, counter)
            SpendCounter.objects.filter(pk=row.pk).update(**_spend_change(counter, amount))
            if counter.soft and (past := max(0, before + amount - max(counter.limit, before))):
                over[counter.key] = past
        return over

    async def settle(self, hold: Hold, actual: dict[str, int], *, tokens: int) -> dict[str, int]:
        if not hold.amounts:
            return self.settle_sync(hold, actual, tokens=tokens)  # rate windows only: no database
        return await sync_to_async(self.settle_sync, thread_sensitive=True)(hold, actual, tokens=tokens)

    def settle_sync(self, hold: Hold, actual: dict[str, int], *, tokens: int) -> dict[str, int]:
        over = {}
        if hold.amounts:
            with transaction.atomic():
                over = self._settle_counters(hold, actual)
        with self._rates_lock:
            for key, estimated in hold.token_windows:
                if key in self._rates:
                    self._rates[key] += tokens - estimated
        return over

    def credits_changed(self, workspace_id: int, units: int) -> None:
        SpendCounter.objects.filter(key=_row_key(workspace_id, CREDITS)).update(
            credit_usd=F("credit_usd") + from_units(units)
        )

    def reset(self) -> None:
        with self._rates_lock:
            self._rates.clear()
