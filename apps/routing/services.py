"""Routing services that touch the database."""

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import permutations

from django.db import transaction

from apps.catalog.models import Model, PowerLevel, Provider
from apps.catalog.task_scores import TaskScoreRow, task_scores_import

from . import router
from .evaluation import Example, ManyReport, PairReport, PricedModel, learn_task_quality, many_report, pair_report
from .gateway.context import ModelRoute, load_model

EVALUATION_PROVIDER = "switchyard-evaluation"
PER_MILLION = Decimal(1_000_000)


@dataclass
class EvaluationResult:
    trained_on: int
    evaluated_on: int
    pairs: list[PairReport] = field(default_factory=list)
    many: ManyReport | None = None


def _load_models(models: list[PricedModel]) -> dict[str, Model]:
    provider = Provider.objects.create(slug=EVALUATION_PROVIDER, name="Router evaluation", enabled=True)
    return {
        m.name: Model.objects.create(
            provider=provider,
            model_id=m.model_id,
            upstream_name=m.name,
            display_name=m.name,
            input_price=Decimal(str(m.input_per_million)) / PER_MILLION,
            output_price=Decimal(str(m.output_per_million)) / PER_MILLION,
            # One power level for all: the data set says nothing of tiers, so the figures measure the weighted
            # cost/quality choice alone.
            power_level=PowerLevel.BALANCED,
            context_window=None,
        )
        for m in models
    }


def _learn(train: list[Example], catalog: dict[str, Model]) -> None:
    """Write what the training prompts teach through the import path production uses."""
    learned = learn_task_quality(train, list(catalog))
    rows = [
        TaskScoreRow(catalog[name].model_id, task, round(score, 4), round(weight))
        for name, tasks in learned.items()
        for task, (score, weight) in tasks.items()
    ]
    task_scores_import(rows=rows, source="import")
    for name, model in catalog.items():
        scores = [e.scores[name] for e in train if name in e.scores]
        if scores:  # the fallback for tasks the table has no figure for
            model.quality_score = Decimal(str(round(sum(scores) / len(scores), 4)))
            model.save(update_fields=["quality_score"])


def router_evaluation_run(
    *, models: list[PricedModel], test: list[Example], train: list[Example] | None = None, many: bool = True
) -> EvaluationResult:
    """Load the models as candidates (and learn their task quality from `train`), let the router choose for every
    test prompt across a sweep of cost/quality weights, and measure. Runs in a transaction that is rolled back:
    the catalog is left as it was."""
    if train:
        overlap = {e.prompt for e in train} & {e.prompt for e in test}
        if overlap:
            raise ValueError(f"{len(overlap)} evaluation prompt(s) are also in the training data.")
    if Provider.objects.filter(slug=EVALUATION_PROVIDER).exists():
        raise ValueError(f"A provider '{EVALUATION_PROVIDER}' already exists; the evaluation needs that slug.")
    result = EvaluationResult(trained_on=len(train or ()), evaluated_on=len(test))
    with transaction.atomic():
        catalog = _load_models(models)
        if train:
            _learn(train, catalog)
        scored = {name for example in test for name in example.scores}
        routes = {name: load_model(model.model_id) for name, model in catalog.items() if name in scored}
        names = {route.model_id: name for name, route in routes.items()}

        def chooser(candidates: list[ModelRoute]):
            def choose(example: Example, weights: dict[str, float]) -> str:
                analysis = example.analysed()
                decision = router.decide_auto(
                    candidates,
                    router.Needs(prompt_tokens=analysis.prompt_tokens),
                    router.Policy(weights=weights, level_pinned=True),
                    requested="auto",
                    analysis=analysis,
                )
                return names[decision.chain[0]]

            return choose

        price = {m.name: m.input_per_million + m.output_per_million for m in models}
        for weak, strong in permutations(routes, 2):
            if price[strong] > price[weak]:
                report = pair_report(test, weak, strong, chooser([routes[weak], routes[strong]]))
                if report is not None:
                    result.pairs.append(report)
        if many and len(routes) > 2:

            def cost_of(example: Example, name: str) -> float:
                needs = router.Needs(prompt_tokens=example.analysed().prompt_tokens)
                return router.estimated_cost(routes[name], needs)

            result.many = many_report(test, list(routes), cost_of, chooser(list(routes.values())))
        transaction.set_rollback(True)
    return result
