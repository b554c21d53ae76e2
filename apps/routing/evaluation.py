"""Offline evaluation of the router on prompts with known per-model quality scores (no model is called).

Metrics, for a two-model set (a cheaper "weak" and a pricier "strong" model), as in RouteLLM (Ong et al., 2024):
    The router is run at a sweep of policies, from all-cost to all-quality weights. Each setting gives the share of
    calls sent to the strong model and the mean quality reached. PGR (performance gap recovered) is
    (quality − weak's) / (strong's − weak's). Joining the points (plus "always weak" and "always strong") gives
    PGR as a function of the strong share; APGR is the area under it, CPT(x %) the smallest strong share that
    recovers x % of the gap. A random router recovers the gap linearly (APGR 0.5, CPT(50 %) = 50 %); the oracle
    sends a prompt to the strong model only where it scores better, best gains first.
For a larger set: the same sweep as points of (mean cost, mean quality), against the best single model (highest
mean quality) and the cheapest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from .prompt_analysis import PromptAnalysis, analyse_prompt

# The sweep: quality weight / cost weight from 1e-3 to 1e3, evenly on a log scale, plus all-cost and all-quality.
SWEEP_STEPS = 241


class DatasetError(ValueError):
    pass


@dataclass
class Example:
    prompt: str
    scores: dict[str, float]
    task: str | None = None
    analysis: PromptAnalysis | None = field(default=None, repr=False)

    def analysed(self) -> PromptAnalysis:
        if self.analysis is None:
            self.analysis = analyse_prompt([{"role": "user", "content": self.prompt}])
        return self.analysis


@dataclass(frozen=True)
class PricedModel:
    name: str  # the name the data set uses
    model_id: str  # the catalog id it is loaded as
    input_per_million: float
    output_per_million: float


def load_dataset(path: str | Path) -> list[Example]:
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc.msg}).") from None
            prompt, scores = (row.get("prompt"), row.get("scores")) if isinstance(row, dict) else (None, None)
            if not isinstance(prompt, str) or not prompt.strip():
                raise DatasetError(f"{path}:{number}: 'prompt' must be a non-empty string.")
            if not isinstance(scores, dict) or not scores:
                raise DatasetError(f"{path}:{number}: 'scores' must be an object of model → score.")
            for model, score in scores.items():
                if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
                    raise DatasetError(f"{path}:{number}: the score of '{model}' must be a number in [0, 1].")
            task = row.get("task")
            examples.append(Example(prompt, {m: float(s) for m, s in scores.items()}, task if task else None))
    if not examples:
        raise DatasetError(f"{path}: no examples.")
    return examples


def load_prices(path: str | Path) -> list[PricedModel]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not JSON ({exc.msg}).") from None
    if not isinstance(data, dict) or not data:
        raise DatasetError(f"{path}: expected an object of model name → prices.")
    models = []
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: '{name}' must be an object.")
        prices = []
        for key in ("input_per_million", "output_per_million"):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise DatasetError(f"{path}: '{name}.{key}' must be a non-negative number.")
            prices.append(float(value))
        # Its own namespace, so an evaluation model never meets a catalog model of the same name.
        models.append(PricedModel(name, f"eval/{name}", *prices))
    return models


def holdout_split(
    examples: Sequence[Example], fraction: float, *, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """(train, test): a prompt goes to test when the hash of its text (and the seed) falls in `fraction` — stable
    across runs and machines, and the same prompt can never be on both sides."""
    train, test = [], []
    for example in examples:
        digest = hashlib.sha256(f"{seed}:{example.prompt}".encode()).digest()
        bucket = int.from_bytes(digest[:4], "big") / 2**32
        (test if bucket < fraction else train).append(example)
    return train, test


def learn_task_quality(
    examples: Iterable[Example], models: Sequence[str], *, ridge: float = 10.0, sweeps: int = 100
) -> dict[str, dict[str, tuple[float, float]]]:
    """model -> task -> (score, weight). The router estimates a prompt's quality as Σ P(task | prompt) × score, so
    the scores are the ones that bring that estimate closest (least squares) to what the model scored on the
    training prompts: each in [0, 1], and pulled towards the model's overall mean by `ridge` prompts' worth of
    evidence, so a task seen on few prompts stays near the figure the router falls back to. A plain mean of the
    scores weighted by P(task) would let every task's share of other kinds of prompt (chat's most of all) leak
    into its score. weight is Σ P(task): on how many prompts' worth the task was detected. Solved by coordinate
    descent, each step clipped to [0, 1] (`sweeps` rounds)."""
    examples = list(examples)
    shares = [{task: p for task, p in e.analysed().task_scores.items() if p > 0} for e in examples]
    learnt: dict[str, dict[str, tuple[float, float]]] = {}
    for model in models:
        gram: dict[tuple[str, str], float] = {}  # Σ P(task) P(other)
        target: dict[str, float] = {}  # Σ P(task) × score
        weight: dict[str, float] = {}  # Σ P(task)
        total = count = 0.0
        for example, share in zip(examples, shares, strict=True):
            score = example.scores.get(model)
            if score is None:
                continue
            total += score
            count += 1
            for task, p in share.items():
                target[task] = target.get(task, 0.0) + p * score
                weight[task] = weight.get(task, 0.0) + p
                for other, q in share.items():
                    gram[task, other] = gram.get((task, other), 0.0) + p * q
        tasks = sorted(weight)
        prior = total / count if count else 0.0
        quality = {task: target[task] / weight[task] for task in tasks}
        for _ in range(sweeps):
            for task in tasks:
                rest = sum(gram.get((task, other), 0.0) * quality[other] for other in tasks if other != task)
                value = (target[task] + ridge * prior - rest) / (gram[task, task] + ridge)
                quality[task] = min(1.0, max(0.0, value))
        learnt[model] = {task: (quality[task], weight[task]) for task in tasks}
    return learnt


def mean_scores(examples: Iterable[Example], models: Sequence[str]) -> dict[str, float]:
    sums = {m: [0.0, 0] for m in models}
    for example in examples:
        for model in models:
            if model in example.scores:
                sums[model][0] += example.scores[model]
                sums[model][1] += 1
    return {m: total / count for m, (total, count) in sums.items() if count}


# --- curves -----------------------------------------------------------------------------------------------------


def quality_weights() -> list[dict[str, float]]:
    """Policies from all-cost to all-quality. Even steps of the quality/cost ratio on a log scale: what decides
    between two models is how much quality a unit of cost must buy, and that spans orders of magnitude."""
    ratios = [10 ** (-3 + 6 * step / (SWEEP_STEPS - 1)) for step in range(SWEEP_STEPS)]
    weights = [{"cost": 1.0, "latency": 0.0, "quality": 0.0}]
    weights += [{"cost": 1 / (1 + r), "latency": 0.0, "quality": r / (1 + r)} for r in ratios]
    return [*weights, {"cost": 0.0, "latency": 0.0, "quality": 1.0}]


def pgr_curve(points: Iterable[tuple[float, float]], weak: float, strong: float) -> list[tuple[float, float]]:
    """(strong share, quality) points → (strong share, PGR), with the two ends, sorted, one point per share (the
    best quality seen at that share)."""
    gap = strong - weak
    best: dict[float, float] = {0.0: 0.0, 1.0: 1.0}
    for share, quality in points:
        pgr = (quality - weak) / gap
        best[share] = max(best.get(share, pgr), pgr)
    return sorted(best.items())


def area(curve: Sequence[tuple[float, float]]) -> float:
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in pairwise(curve))


def calls_for(curve: Sequence[tuple[float, float]], target: float) -> float:
    """The smallest strong share at which the curve (joined linearly) reaches `target` PGR."""
    for (x0, y0), (x1, y1) in pairwise(curve):
        if y0 >= target:
            return x0
        if y1 >= target:
            return x0 + (x1 - x0) * (target - y0) / (y1 - y0)
    return 1.0


def oracle_curve(examples: Sequence[Example], weak: str, strong: str) -> list[tuple[float, float]]:
    """Send prompts to the strong model in order of how much better it does on them."""
    gains = sorted((e.scores[strong] - e.scores[weak] for e in examples), reverse=True)
    weak_total = sum(e.scores[weak] for e in examples)
    strong_total = sum(e.scores[strong] for e in examples)
    n = len(examples)
    points, total = [], weak_total
    for calls, gain in enumerate(gains, start=1):
        total += gain
        points.append((calls / n, total / n))
    return pgr_curve(points, weak_total / n, strong_total / n)


@dataclass
class PairReport:
    weak: str
    strong: str
    prompts: int
    weak_quality: float
    strong_quality: float
    apgr: float
    cpt50: float
    cpt80: float
    oracle_apgr: float
    oracle_cpt50: float
    oracle_cpt80: float
    random_apgr: float = 0.5
    random_cpt50: float = 0.5
    random_cpt80: float = 0.8


def pair_report(
    examples: Sequence[Example], weak: str, strong: str, choose: Callable[[Example, dict[str, float]], str]
) -> PairReport | None:
    """None when the pricier model is not better on these prompts (no gap to recover)."""
    examples = [e for e in examples if weak in e.scores and strong in e.scores]
    if not examples:
        return None
    n = len(examples)
    weak_quality = sum(e.scores[weak] for e in examples) / n
    strong_quality = sum(e.scores[strong] for e in examples) / n
    if strong_quality <= weak_quality:
        return None
    points = []
    for weights in quality_weights():
        picks = [choose(e, weights) for e in examples]
        share = sum(1 for p in picks if p == strong) / n
        quality = sum(e.scores[p] for e, p in zip(examples, picks, strict=True)) / n
        points.append((share, quality))
    curve = pgr_curve(points, weak_quality, strong_quality)
    oracle = oracle_curve(examples, weak, strong)
    return PairReport(
        weak,
        strong,
        n,
        weak_quality,
        strong_quality,
        area(curve),
        calls_for(curve, 0.5),
        calls_for(curve, 0.8),
        area(oracle),
        calls_for(oracle, 0.5),
        calls_for(oracle, 0.8),
    )


@dataclass
class ManyReport:
    models: int
    prompts: int
    best_single: str
    best_single_quality: float
    best_single_cost: float
    cheapest: str
    cheapest_quality: float
    cheapest_cost: float
    points: list[tuple[float, float, dict]]  # (mean cost, mean quality, weights)
    matched_best_at_cost_share: float | None  # router cost / best single's cost where it first matches its quality
    quality_at_quarter_cost: float | None  # best router quality at ≤ 25 % of the best single model's cost


def many_report(
    examples: Sequence[Example],
    models: Sequence[str],
    cost_of: Callable[[Example, str], float],
    choose: Callable[[Example, dict[str, float]], str],
) -> ManyReport:
    examples = [e for e in examples if all(m in e.scores for m in models)]
    n = len(examples)
    quality = {m: sum(e.scores[m] for e in examples) / n for m in models}
    cost = {m: sum(cost_of(e, m) for e in examples) / n for m in models}
    best = max(models, key=lambda m: (quality[m], -cost[m]))
    cheapest = min(models, key=lambda m: (cost[m], -quality[m]))
    points = []
    for weights in quality_weights():
        picks = [choose(e, weights) for e in examples]
        points.append(
            (
                sum(cost_of(e, p) for e, p in zip(examples, picks, strict=True)) / n,
                sum(e.scores[p] for e, p in zip(examples, picks, strict=True)) / n,
                weights,
            )
        )
    matching = [c for c, q, _ in points if q >= quality[best]]
    affordable = [q for c, q, _ in points if c <= 0.25 * cost[best]]
    return ManyReport(
        len(models),
        n,
        best,
        quality[best],
        cost[best],
        cheapest,
        quality[cheapest],
        cost[cheapest],
        points,
        min(matching) / cost[best] if matching and cost[best] else None,
        max(affordable) if affordable else None,
    )
