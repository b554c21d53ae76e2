"""The offline router evaluation: its metrics, its inputs, and the command on the shipped LLMRouter slice."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from apps.catalog.models import Model, Provider, TaskScore
from apps.routing import evaluation
from apps.routing.evaluation import Example

DATA = Path(__file__).parent / "data"
SLICE = str(DATA / "llmrouter_slice.jsonl")
PRICES = str(DATA / "llmrouter_models_slice.json")


class TestMetrics:
    def test_area_and_calls_on_known_curves(self):
        diagonal = [(0.0, 0.0), (1.0, 1.0)]
        assert evaluation.area(diagonal) == pytest.approx(0.5)
        assert evaluation.calls_for(diagonal, 0.5) == pytest.approx(0.5)
        concave = [(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)]
        assert evaluation.area(concave) == pytest.approx(0.2 * 0.4 + 0.8 * 0.9)
        assert evaluation.calls_for(concave, 0.5) == pytest.approx(0.125)
        assert evaluation.calls_for(concave, 0.8) == pytest.approx(0.2)

    def test_pgr_curve_keeps_the_best_point_per_share_and_the_ends(self):
        curve = evaluation.pgr_curve([(0.5, 0.6), (0.5, 0.7), (0.25, 0.4)], weak=0.4, strong=0.8)
        assert curve == [(0.0, 0.0), (0.25, 0.0), (0.5, pytest.approx(0.75)), (1.0, 1.0)]

    def test_oracle_sends_the_biggest_gains_first(self):
        examples = [Example("a", {"w": 0, "s": 1}), Example("b", {"w": 1, "s": 1}), Example("c", {"w": 0, "s": 1})]
        curve = evaluation.oracle_curve(examples, "w", "s")
        assert [x for point in curve[:3] for x in point] == pytest.approx([0, 0, 1 / 3, 0.5, 2 / 3, 1])

    def test_a_router_that_knows_the_answers_beats_random_and_one_that_guesses_wrong_does_not(self):
        examples = [Example(f"p{i}", {"w": 0.0, "s": 1.0 if i % 4 == 0 else 0.0}) for i in range(40)]

        def knowing(example, weights):
            gain = example.scores["s"] - example.scores["w"]
            return "s" if weights["quality"] * gain > weights["cost"] * 0.5 else "w"

        def backwards(example, weights):
            gain = 1 - (example.scores["s"] - example.scores["w"])
            return "s" if weights["quality"] * gain > weights["cost"] * 0.5 else "w"

        good = evaluation.pair_report(examples, "w", "s", knowing)
        bad = evaluation.pair_report(examples, "w", "s", backwards)
        assert good.apgr == pytest.approx(good.oracle_apgr, abs=0.01) and good.cpt50 < 0.2
        assert bad.apgr < 0.5 < good.apgr

    def test_no_gap_no_report(self):
        examples = [Example("a", {"w": 1, "s": 0})]
        assert evaluation.pair_report(examples, "w", "s", lambda e, w: "s") is None


def _fixed(prompt, scores, task_shares):
    """An example whose task detection is given, so the learning is tested apart from the prompt analysis."""
    return Example(prompt, scores, analysis=SimpleNamespace(task_scores=task_shares))


class TestLearning:
    def test_least_squares_keeps_one_task_from_leaking_into_another(self):
        # Code prompts read half as chat; plain chat prompts score 0.2, code prompts 0.5. A mean weighted by
        # P(task) would credit chat with the code prompts' half (0.3); the fit finds chat 0.2 and code 0.8, the
        # scores whose mix reproduces both kinds of prompt.
        examples = [_fixed(f"c{i}", {"m": 0.5}, {"code": 0.5, "chat": 0.5}) for i in range(100)]
        examples += [_fixed(f"t{i}", {"m": 0.2}, {"chat": 1.0}) for i in range(100)]
        learnt = evaluation.learn_task_quality(examples, ["m"], ridge=0.0)["m"]
        assert learnt["chat"] == (pytest.approx(0.2, abs=1e-3), pytest.approx(150.0))
        assert learnt["code"] == (pytest.approx(0.8, abs=1e-3), pytest.approx(50.0))

    def test_a_task_seen_on_few_prompts_stays_near_the_models_mean_and_scores_stay_in_range(self):
        examples = [_fixed(f"t{i}", {"m": 0.0, "n": 1.0}, {"chat": 1.0}) for i in range(100)]
        examples.append(_fixed("x", {"m": 1.0, "n": 1.0}, {"math": 1.0}))
        examples += [_fixed(f"y{i}", {"n": 1.0}, {"code": 0.4, "chat": 0.6}) for i in range(10)]
        learnt = evaluation.learn_task_quality(examples, ["m", "n"], ridge=10.0)
        prior = 1 / 101
        assert learnt["m"]["math"][0] == pytest.approx((1 + 10 * prior) / 11, abs=1e-3)
        assert "code" not in learnt["m"]  # m has no score on the code prompts
        assert all(0.0 <= score <= 1.0 for table in learnt.values() for score, _ in table.values())
        assert learnt["n"]["code"][0] == pytest.approx(1.0)


class TestInputs:
    def test_holdout_split_is_stable_disjoint_and_seeded(self):
        examples = [Example(f"prompt {i}", {"m": 0.5}) for i in range(400)]
        train, test = evaluation.holdout_split(examples, 0.25)
        assert len(train) + len(test) == 400 and 70 < len(test) < 130
        assert {e.prompt for e in train}.isdisjoint({e.prompt for e in test})
        assert [e.prompt for e in evaluation.holdout_split(examples, 0.25)[1]] == [e.prompt for e in test]
        other = evaluation.holdout_split(examples, 0.25, seed=1)[1]
        assert {e.prompt for e in other} != {e.prompt for e in test}

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("not json", "2: not JSON"),
            ('{"prompt": "", "scores": {"m": 1}}', "2: 'prompt' must be"),
            ('{"prompt": "hi", "scores": {}}', "2: 'scores' must be"),
            ('{"prompt": "hi", "scores": {"m": 1.5}}', "2: the score of 'm'"),
            ('{"prompt": "hi", "scores": {"m": true}}', "2: the score of 'm'"),
        ],
    )
    def test_bad_dataset_lines_name_the_line(self, tmp_path, line, message):
        path = tmp_path / "data.jsonl"
        path.write_text('{"prompt": "ok", "scores": {"m": 1}}\n' + line + "\n")
        with pytest.raises(evaluation.DatasetError, match=message):
            evaluation.load_dataset(path)

    def test_bad_prices(self, tmp_path):
        path = tmp_path / "prices.json"
        path.write_text(json.dumps({"m": {"input_per_million": -1, "output_per_million": 1}}))
        with pytest.raises(evaluation.DatasetError, match=r"'m\.input_per_million' must be a non-negative number"):
            evaluation.load_prices(path)


@pytest.mark.django_db
class TestCommand:
    def test_on_the_shipped_slice_learning_beats_random_and_changes_nothing(self, tmp_path, capsys):
        models_before = Model.objects.count()
        report = tmp_path / "report.json"
        call_command("evaluate_router", dataset=SLICE, models=PRICES, holdout=0.3, json_out=str(report))
        out = capsys.readouterr().out
        result = json.loads(report.read_text())
        assert (
            f"Learnt from {result['trained_on']} prompts" in out and "median APGR" in out and "best single model" in out
        )
        assert result["trained_on"] + result["evaluated_on"] == 420
        pairs = result["pairs"]
        assert pairs and all(p["strong"] == "llama-3.1-nemotron-51b-instruct" for p in pairs)
        assert all(0 <= p["cpt50"] <= p["cpt80"] <= 1 for p in pairs)
        # What the router learnt helps: it recovers the gap faster than a random router on every pair.
        assert all(p["apgr"] > p["random_apgr"] for p in pairs)
        assert result["many"]["models"] == 4 and result["many"]["best_single"] == "llama-3.1-nemotron-51b-instruct"
        # The evaluation ran in a rolled-back transaction.
        assert Model.objects.count() == models_before
        assert not Provider.objects.filter(slug="switchyard-evaluation").exists()
        assert not TaskScore.objects.exists()

    def test_without_training_the_router_has_nothing_to_go_on(self, tmp_path):
        report = tmp_path / "report.json"
        call_command("evaluate_router", dataset=SLICE, models=PRICES, json_out=str(report), no_many=True)
        result = json.loads(report.read_text())
        assert result["trained_on"] == 0
        # Every model looks alike: the router only ever goes all-cheap or all-strong, which is the diagonal.
        assert all(p["apgr"] == pytest.approx(0.5, abs=0.01) for p in result["pairs"])

    def test_train_file_must_not_share_prompts_with_the_dataset(self):
        with pytest.raises(CommandError, match="also in the training data"):
            call_command("evaluate_router", dataset=SLICE, models=PRICES, train=SLICE)

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"holdout": 1.5}, "--holdout must be between 0 and 1"),
            ({"holdout": 0.2, "train": SLICE}, "not both"),
            ({"models": "/nonexistent.json"}, "No such file"),
        ],
    )
    def test_bad_options(self, options, message):
        with pytest.raises(CommandError, match=message):
            call_command("evaluate_router", **{"dataset": SLICE, "models": PRICES, **options})
