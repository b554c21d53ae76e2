"""What the catalog pages show about a model beyond its catalog row: capability bars, what it is recommended for,
and the capability chart of the comparison. Pure functions of the model, its per-task quality and its health.

How each bar is derived (scores 0..1, shown as %):
- reasoning, coding, analysis, creativity: the mean of the model's per-task quality (task_scores.task_quality_map,
  the table the router reads) over the bar's tasks; a model with none of them shows its overall quality score,
  marked as such.
- speed: from the gateway's latency (ModelHealth's median over its last window): 1 at or under SPEED_REFERENCE_MS,
  then 1 / (1 + log10(p50 / reference)), the router's own latency term, so 10x slower is half; none without traffic.
"""

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .models import Category, Model, TaskType

SPEED_REFERENCE_MS = 250
# Bar -> the per-task quality scores it averages.
QUALITY_BARS = (
    ("reasoning", "Reasoning", (TaskType.REASONING, TaskType.MATH)),
    ("coding", "Coding", (TaskType.CODE,)),
    ("analysis", "Analysis", (TaskType.ANALYSIS, TaskType.EXTRACTION)),
    ("creativity", "Creativity", (TaskType.CREATIVE,)),
)
TASK_LABELS = {
    TaskType.CHAT: "Chat and assistants",
    TaskType.CODE: "Writing and reviewing code",
    TaskType.MATH: "Maths",
    TaskType.REASONING: "Multi-step reasoning",
    TaskType.EXTRACTION: "Extracting data from text",
    TaskType.SUMMARIZATION: "Summaries",
    TaskType.CREATIVE: "Creative writing",
    TaskType.ANALYSIS: "Analysis",
    TaskType.TRANSLATION: "Translation",
    TaskType.CLASSIFICATION: "Classification",
}
# Without per-task scores, the category says what the model is for.
CATEGORY_USES = {
    Category.FAST_CHEAP: ("High-volume chat", "Classification", "Extracting data from text"),
    Category.BALANCED: ("Chat and assistants", "Summaries", "Analysis"),
    Category.PREMIUM: ("Multi-step reasoning", "Analysis", "Hard questions where quality matters most"),
    Category.CODING: ("Writing and reviewing code", "Agents that call tools"),
    Category.CREATIVE: ("Creative writing", "Marketing copy", "Brainstorming"),
}
RECOMMENDED_MIN_SCORE = 0.6
RECOMMENDED_TASKS = 3


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    score: float | None  # 0..1; None when unmeasured
    source: str  # how it was derived, in words

    @property
    def percent(self) -> int | None:
        return None if self.score is None else round(self.score * 100)


def speed_score(latency_p50_ms: int | None) -> float | None:
    if latency_p50_ms is None:
        return None
    ratio = max(latency_p50_ms, 1) / SPEED_REFERENCE_MS
    return 1.0 if ratio <= 1 else 1 / (1 + math.log10(ratio))


def capability_bars(*, model: Model, task_quality: dict[str, float], health) -> list[Bar]:
    bars = []
    for key, label, tasks in QUALITY_BARS:
        scores = [task_quality[task] for task in tasks if task in task_quality]
        if scores:
            names = " and ".join(str(task) for task in tasks if task in task_quality)
            bars.append(Bar(key, label, sum(scores) / len(scores), f"per-task quality ({names})"))
        else:
            bars.append(Bar(key, label, float(model.quality_score), "overall quality (no per-task figure yet)"))
    latency = health.latency_p50_ms if health is not None else None
    source = f"median latency {latency:,} ms" if latency is not None else "no traffic measured yet"
    bars.append(Bar("speed", "Speed", speed_score(latency), source))
    return bars


def recommended_uses(*, model: Model, task_quality: dict[str, float]) -> list[str]:
    """Its best tasks (at least RECOMMENDED_MIN_SCORE) from the quality table, else its category's uses."""
    ranked = sorted(task_quality.items(), key=lambda item: (-item[1], item[0]))
    best = [TASK_LABELS.get(task, task) for task, score in ranked if score >= RECOMMENDED_MIN_SCORE]
    return best[:RECOMMENDED_TASKS] or list(CATEGORY_USES.get(model.category, ()))


# --- money as the pages show it (static/js/catalog.js formats the calculator the same way) -----------------------


def usd_text(amount: Decimal | None) -> str:
    """`$1,234.56` from a dollar up; smaller amounts to 6 places without trailing zeros (`$0.00033`)."""
    if amount is None:
        return "unknown"
    places = Decimal("0.01") if abs(amount) >= 1 else Decimal("0.000001")
    rounded = amount.quantize(places, rounding=ROUND_HALF_UP)
    if amount and not rounded:
        return "under $0.000001"
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    sign = "−" if rounded < 0 else ""
    return f"{sign}${int(whole):,}.{fraction}"


def tokens_short(count: int | None) -> str:
    """`128K`, `1.05M`: a context window at a glance."""
    if count is None:
        return "unknown"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"
    if count >= 1_000:
        return f"{count / 1_000:.1f}".rstrip("0").rstrip(".") + "K"
    return str(count)


# --- the comparison's capability chart (inline SVG, drawn from these numbers in the template) ----------------------

CHART_COLOURS = ("#1f5fbf", "#b4451f", "#2f7d32", "#7b3fa0")
CHART_LABEL_WIDTH = 110
CHART_BAR_WIDTH = 380
CHART_BAR_HEIGHT = 14
CHART_GROUP_GAP = 14


@dataclass(frozen=True)
class ChartBar:
    model_name: str
    colour: str
    score: float | None
    y: int

    @property
    def width(self) -> int:
        return 0 if self.score is None else round(self.score * CHART_BAR_WIDTH)

    @property
    def value_text(self) -> str:
        return "not measured" if self.score is None else f"{round(self.score * 100)}%"


@dataclass(frozen=True)
class ChartGroup:
    label: str
    y: int
    bars: list[ChartBar]


@dataclass(frozen=True)
class CapabilityChart:
    groups: list[ChartGroup]
    legend: list[tuple[str, str]]  # (model name, colour)
    height: int
    description: str  # the chart in words, for its aria-label

    label_width: int = CHART_LABEL_WIDTH
    bar_height: int = CHART_BAR_HEIGHT

    @property
    def width(self) -> int:
        return CHART_LABEL_WIDTH + CHART_BAR_WIDTH + 90


def capability_chart(*, named_bars: list[tuple[str, list[Bar]]]) -> CapabilityChart:
    """Grouped horizontal bars: one group per capability, one bar per model."""
    legend = [(name, CHART_COLOURS[i % len(CHART_COLOURS)]) for i, (name, _) in enumerate(named_bars)]
    groups, y, words = [], 0, []
    for key, label in [(b.key, b.label) for b in named_bars[0][1]]:
        bars = []
        for (name, model_bars), (_, colour) in zip(named_bars, legend, strict=True):
            bar = next(b for b in model_bars if b.key == key)
            bars.append(ChartBar(name, colour, bar.score, y + len(bars) * CHART_BAR_HEIGHT))
        groups.append(ChartGroup(label, y, bars))
        words.append(f"{label}: " + ", ".join(f"{b.model_name} {b.value_text}" for b in bars))
        y += len(bars) * CHART_BAR_HEIGHT + CHART_GROUP_GAP
    return CapabilityChart(groups, legend, y, "Capability scores. " + "; ".join(words) + ".")
