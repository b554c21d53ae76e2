"""The usage dashboard's chart: tokens per day stacked by model, drawn server-side as inline SVG (no chart library, no
JavaScript), with the same figures as a table for screen readers and for reading exact values.

The models with the most tokens in the period get a series each (CHART_MODELS of them); the rest add up to "Other".
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.analytics.rollup_selectors import AnalyticsPeriod

CHART_MODELS = 5
OTHER = "Other"
NO_MODEL = "(no model reached)"
# Distinguishable for the common colour-vision deficiencies (Okabe–Ito), "Other" in grey.
COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")
OTHER_COLOUR = "#8c8c8c"

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 8, 24
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    total: int


@dataclass(frozen=True)
class Segment:
    """One model's part of a day's bar; coordinates as SVG attribute text (formatted here: a template filter per
    number costs more than the rest of the page on a 90-day chart)."""

    series: Series
    tokens: str
    x: str
    y: str
    width: str
    height: str


@dataclass(frozen=True)
class Day:
    date: datetime.date
    tokens: list[int]  # per series, in the chart's series order
    total: int

    @property
    def cells(self) -> list[str]:
        """The table row's figures: each series, then the total."""
        return [f"{tokens:,}" for tokens in (*self.tokens, self.total)]


@dataclass(frozen=True)
class Tick:
    y: str
    label: str


@dataclass(frozen=True)
class DateLabel:
    x: str
    label: str
    anchor: str


@dataclass(frozen=True)
class UsageChart:
    series: list[Series]
    days: list[Day]
    segments: list[Segment]
    ticks: list[Tick]
    date_labels: list[DateLabel]
    total_tokens: int
    description: str  # the chart's text alternative
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM

    # The markup is built here, not in the template: a 90-day chart has some 2,000 numbers, and the template engine
    # would spend more on them than the rest of the page costs.
    def svg(self) -> SafeString:
        grid = format_html_join(
            "",
            '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
            '<text x="{}" y="{}" class="axis" text-anchor="end" dominant-baseline="middle">{}</text>',
            ((self.plot_left, self.plot_right, t.y, t.y, self.plot_left - 6, t.y, t.label) for t in self.ticks),
        )
        bars = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} tokens</title></rect>',
            ((s.x, s.y, s.width, s.height, s.series.colour, s.series.name, s.tokens) for s in self.segments),
        )
        dates = format_html_join(
            "",
            '<text x="{}" y="{}" class="axis" text-anchor="{}">{}</text>',
            ((d.x, self.height - 6, d.anchor, d.label) for d in self.date_labels),
        )
        return format_html(
            '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" data-chart="tokens-per-day" '
            'preserveAspectRatio="xMidYMid meet">{}{}{}</svg>',
            self.width,
            self.height,
            self.description,
            grid,
            bars,
            dates,
        )

    def table_rows(self) -> SafeString:
        """The chart's data table body: a row per day, a cell per series, then the day's total."""
        return format_html_join(
            "\n",
            '<tr data-row="chart-day"><th scope="row">{}</th>{}</tr>',
            (
                (
                    f"{day.date:%b} {day.date.day}",
                    format_html_join("", '<td class="num">{}</td>', ((c,) for c in day.cells)),
                )
                for day in self.days
            ),
        )


def compact(number: float) -> str:
    """1200 → 1.2k, 3400000 → 3.4M: short axis labels."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{number:.0f}"


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at or above the tallest bar."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return int(step * power)
    return 10 * power


def usage_chart(*, period: AnalyticsPeriod, rows) -> UsageChart:
    """`rows` are usage_series rows per day and model (bucket, key and the sums)."""
    per_day: dict[datetime.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_model: dict[str, int] = defaultdict(int)
    for row in rows:
        tokens = (row["n_prompt_tokens"] or 0) + (row["n_completion_tokens"] or 0)
        model = row["key"] or NO_MODEL
        per_day[row["bucket"].astimezone(period.zone).date()][model] += tokens
        per_model[model] += tokens
    ranked = sorted(per_model, key=lambda model: (-per_model[model], model))
    # "Other" only when it stands for two models or more: a sixth model fits in its place.
    shown = ranked if len(ranked) <= CHART_MODELS + 1 else ranked[:CHART_MODELS]
    others = [model for model in ranked if model not in shown]
    series = [Series(name=model, colour=COLOURS[n], total=per_model[model]) for n, model in enumerate(shown)]
    if others:
        series.append(Series(name=OTHER, colour=OTHER_COLOUR, total=sum(per_model[model] for model in others)))

    days = []
    for offset in range(period.days):
        date = period.start + datetime.timedelta(days=offset)
        used = per_day.get(date, {})
        tokens = [used.get(model, 0) for model in shown]
        if others:
            tokens.append(sum(used.get(model, 0) for model in others))
        days.append(Day(date=date, tokens=tokens, total=sum(tokens)))

    top = _nice_ceiling(max((day.total for day in days), default=0))
    slot = PLOT_WIDTH / len(days)
    bar = max(slot * 0.7, 1.0)
    segments = []
    for index, day in enumerate(days):
        x = LEFT + index * slot + (slot - bar) / 2
        bottom = HEIGHT - BOTTOM
        for one, tokens in zip(series, day.tokens, strict=True):
            if not tokens:
                continue
            height = tokens / top * PLOT_HEIGHT
            bottom -= height
            segments.append(
                Segment(
                    series=one,
                    tokens=f"{tokens:,}",
                    x=f"{x:.2f}",
                    y=f"{bottom:.2f}",
                    width=f"{bar:.2f}",
                    height=f"{height:.2f}",
                )
            )
    ticks = [
        Tick(y=f"{HEIGHT - BOTTOM - share * PLOT_HEIGHT:.1f}", label=compact(top * share)) for share in (0, 0.5, 1)
    ]
    edges = [(0, "start"), (len(days) // 2, "middle"), (len(days) - 1, "end")]
    date_labels = [
        DateLabel(
            x=f"{LEFT + (index + 0.5) * slot:.1f}", label=f"{days[index].date:%b} {days[index].date.day}", anchor=anchor
        )
        for index, anchor in edges
    ]
    total = sum(one.total for one in series)
    return UsageChart(
        series=series,
        days=days,
        segments=segments,
        ticks=ticks,
        date_labels=date_labels,
        total_tokens=total,
        description=_description(period=period, series=series, total=total),
    )


def _description(*, period: AnalyticsPeriod, series: list[Series], total: int) -> str:
    span = f"{period.start:%b} {period.start.day} to {period.end:%b} {period.end.day}"
    if not total:
        return f"Tokens per day by model, {span}: no tokens used."
    parts = ", ".join(f"{one.name} {one.total:,}" for one in series)
    return f"Tokens per day by model, {span}: {total:,} tokens in all ({parts}). The table below has each day."
