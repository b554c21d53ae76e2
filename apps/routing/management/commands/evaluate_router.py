import json
import statistics
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from apps.routing.evaluation import DatasetError, holdout_split, load_dataset, load_prices
from apps.routing.services import router_evaluation_run


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


class Command(BaseCommand):
    help = (
        "Score the router offline on prompts with known per-model quality (no model is called): APGR and CPT for "
        "each two-model set, quality against cost for the whole set. Learns the per-task quality table first from "
        "--train, or from the rest of --dataset with --holdout. Leaves the catalog as it was."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help='JSONL: {"prompt", "task" (optional), "scores"}')
        parser.add_argument("--models", required=True, help="JSON: name → {input_per_million, output_per_million}")
        parser.add_argument("--train", help="JSONL to learn the per-task quality table from (no prompt in common)")
        parser.add_argument(
            "--holdout", type=float, help="Learn from the rest of --dataset and evaluate on this share of it"
        )
        parser.add_argument("--seed", type=int, default=0, help="Which --holdout split (default 0)")
        parser.add_argument("--json", dest="json_out", help="Also write the full report to this file")
        parser.add_argument("--no-many", action="store_true", help="Skip the all-models report")

    def handle(self, *args, dataset, models, train, holdout, seed, json_out, no_many, **options):
        if train and holdout is not None:
            raise CommandError("Use --train or --holdout, not both.")
        if holdout is not None and not 0 < holdout < 1:
            raise CommandError("--holdout must be between 0 and 1.")
        try:
            examples = load_dataset(dataset)
            priced = load_prices(models)
            training = load_dataset(train) if train else None
        except (DatasetError, OSError) as exc:
            raise CommandError(str(exc)) from None
        if holdout is not None:
            training, examples = holdout_split(examples, holdout, seed=seed)
        known = {m.name for m in priced}
        unknown = {name for e in examples for name in e.scores} - known
        if len(known & {name for e in examples for name in e.scores}) < 2:
            raise CommandError("Fewer than two of the priced models have scores in the data set.")
        try:
            result = router_evaluation_run(models=priced, test=examples, train=training, many=not no_many)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._write(result, unknown)
        if json_out:
            with open(json_out, "w", encoding="utf-8") as out:
                json.dump(asdict(result), out, indent=1)

    def _write(self, result, unknown: set[str]) -> None:
        out = self.stdout.write
        out(f"Learnt from {result.trained_on} prompts; evaluated on {result.evaluated_on} prompts.")
        if unknown:
            out(f"Scores of models without prices were ignored: {', '.join(sorted(unknown))}.")
        if result.pairs:
            out("")
            out(f"Two-model sets ({len(result.pairs)} where the pricier model scores higher):")
            out(f"  {'weak → strong':<58} {'APGR':>6} {'CPT50':>6} {'CPT80':>6} | oracle APGR CPT50")
            for r in result.pairs:
                name = f"{r.weak} → {r.strong}"
                out(
                    f"  {name:<58} {r.apgr:6.3f} {pct(r.cpt50):>6} {pct(r.cpt80):>6} | "
                    f"{r.oracle_apgr:6.3f} {pct(r.oracle_cpt50):>6}"
                )
            apgr = [r.apgr for r in result.pairs]
            out(
                f"  median APGR {statistics.median(apgr):.3f} (mean {statistics.mean(apgr):.3f}, "
                f"min {min(apgr):.3f}); median CPT(50%) {pct(statistics.median(r.cpt50 for r in result.pairs))}, "
                f"CPT(80%) {pct(statistics.median(r.cpt80 for r in result.pairs))}; "
                "random router: APGR 0.500, CPT(50%) 50.0%, CPT(80%) 80.0%; "
                f"oracle median APGR {statistics.median(r.oracle_apgr for r in result.pairs):.3f}"
            )
        many = result.many
        if many is not None:
            out("")
            out(f"All {many.models} models on {many.prompts} prompts (mean quality, mean cost per prompt in USD):")
            out(f"  best single model {many.best_single}: quality {many.best_single_quality:.4f}, "
                f"cost {many.best_single_cost:.8f}")  # fmt: skip
            out(f"  cheapest model {many.cheapest}: quality {many.cheapest_quality:.4f}, cost {many.cheapest_cost:.8f}")
            out(
                f"  router matches the best single model's quality at {pct(many.matched_best_at_cost_share)} of "
                f"its cost; best router quality within 25% of its cost: "
                f"{'—' if many.quality_at_quarter_cost is None else f'{many.quality_at_quarter_cost:.4f}'}"
            )
