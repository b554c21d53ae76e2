"""Model benchmarking: the graders, and whole runs against the mock provider over HTTP."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from apps.billing.pricing import Prices, usage_cost
from apps.catalog.models import TaskScore, TaskType
from apps.catalog.task_scores import task_quality_map
from apps.core.errors import ApplicationError
from apps.routing import benchmarking
from apps.routing.benchmarking import (
    BenchmarkPrompt,
    benchmark_prompts,
    benchmark_run,
    benchmark_summary,
    grade,
    grade_choice,
    grade_exact,
    grade_json,
    grade_keywords,
    grade_numeric,
    grade_rubric,
)
from apps.routing.mock import answers
from apps.routing.models import BenchmarkResult, BenchmarkRun, BenchmarkStatus
from apps.routing.tasks import benchmark_models_task
from tests.catalog.factories import ModelAliasFactory, ModelFactory, TaskScoreFactory
from tests.routing.conftest import mock_providers
from tests.workspaces.factories import InstalledModelFactory, WorkspaceFactory

GPT, CLAUDE, GEMINI = "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"
INPUT_PRICE, OUTPUT_PRICE = Decimal("0.00000015"), Decimal("0.0000006")


# --- graders ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "quality"),
    [
        ("Cleo", 1.0),
        ("  **cleo**. ", 1.0),
        ('"Cleo"', 1.0),
        ("Counting from the shortest: Dev, then\nCleo", 1.0),  # the last line is the answer
        ("Cleo, probably", 0.0),
        ("Cleopatra", 0.0),
        ("", 0.0),
    ],
)
def test_exact_match_ignores_case_quotes_and_emphasis_only(answer, quality):
    assert grade_exact(answer, ["Cleo"]) == quality


def test_exact_match_takes_any_accepted_form_and_keeps_underscores():
    assert grade_exact("O(log(n))", ["O(log n)", "O(log(n))"]) == 1.0
    assert grade_exact("not_spam", ["spam"]) == 0.0
    assert grade_exact("not spam", ["spam"]) == 0.0


@pytest.mark.parametrize(
    ("answer", "quality"),
    [
        ("397.8", 1.0),
        ("397.80", 1.0),
        ("2,340 × 0.17 = 397.8", 1.0),  # the last number counts
        ("397.79", 1.0),  # within the 0.01 tolerance
        ("397.7", 0.0),
        ("397.8 is 17% of 2340", 0.0),
        ("-397.8", 0.0),
        ("about four hundred", 0.0),
    ],
)
def test_numeric_match_reads_the_last_number_within_tolerance(answer, quality):
    assert grade_numeric(answer, 397.8, tolerance=0.01) == quality


def test_numeric_match_reads_thousands_and_is_exact_without_tolerance():
    assert grade_numeric("It costs 1,250 euros.", 1250) == 1.0
    assert grade_numeric("205 minutes", 205) == 1.0
    assert grade_numeric("204.9", 205) == 0.0


def test_a_reasoning_models_thinking_is_not_graded():
    assert grade_numeric("<think>3 hours is 180, so maybe 200</think>\n205", 205) == 1.0
    assert grade_numeric("<think>it is 205</think>\nI am not sure", 205) == 0.0


@pytest.mark.parametrize(
    ("answer", "quality"),
    [
        ("B", 1.0),
        ("b", 1.0),
        ("(B)", 1.0),
        ("**B**", 1.0),
        ("B) A small share of requests is very slow", 1.0),
        ("The answer is B.", 1.0),
        ("Answer: (B)", 1.0),
        ("p99 is thirty times p50, so the tail is slow.\nB", 1.0),
        ("A small share of requests is very slow", 0.0),  # an article, not a pick
        ("A or B", 0.0),
        ("C", 0.0),
        ("Bravo", 0.0),
    ],
)
def test_choice_reads_the_letter_picked(answer, quality):
    assert grade_choice(answer, "B") == quality


CONTACT = {"name": "Priya Raman", "company": "Northwind Tiles", "email": "priya.raman@northwind.example"}


@pytest.mark.parametrize(
    ("answer", "quality"),
    [
        (json.dumps(CONTACT), 1.0),
        ("Here it is:\n```json\n" + json.dumps(CONTACT, indent=2) + "\n```", 1.0),
        (json.dumps({**CONTACT, "name": "priya  raman"}), 1.0),  # case and spacing of strings
        (json.dumps({**CONTACT, "phone": None}), 1.0),  # an extra field costs nothing
        (json.dumps({**CONTACT, "company": "Northwind"}), pytest.approx(2 / 3)),
        (json.dumps({"name": "Priya Raman"}), pytest.approx(1 / 3)),
        ("name: Priya Raman", 0.0),
        ("[1, 2]", 0.0),
    ],
)
def test_json_grades_an_object_field_by_field(answer, quality):
    assert grade_json(answer, CONTACT) == quality


def test_json_values_keep_their_types_and_lists_their_order():
    assert grade_json('{"amount": 1250.50}', {"amount": 1250.5}) == 1.0
    assert grade_json('{"amount": "1250.5"}', {"amount": 1250.5}) == 0.0
    assert grade_json('{"quantity": true}', {"quantity": 1}) == 0.0
    assert grade_json('["Lisbon", "Oslo", "Bergen"]', ["Lisbon", "Oslo", "Bergen"]) == 1.0
    assert grade_json('["Oslo", "Lisbon", "Bergen"]', ["Lisbon", "Oslo", "Bergen"]) == 0.0
    assert grade_json('["Lisbon", "Oslo"]', ["Lisbon", "Oslo", "Bergen"]) == 0.0


def test_keywords_score_the_share_found_at_word_starts():
    keywords = ["select", "group by", ["count(", "sum("], "desc"]
    assert grade_keywords("SELECT a, COUNT(*) FROM t GROUP BY a ORDER BY 2 DESC", keywords) == 1.0
    assert grade_keywords("select a, count(*) from t group by a", keywords) == 0.75
    assert grade_keywords("preselected ascending", ["select", "desc"]) == 0.0  # not at a word start
    assert grade_keywords("The library reopens in June", ["reopen"]) == 1.0  # a stem covers its forms


def test_rubric_counts_keywords_forbidden_phrases_length_and_lines():
    haiku = "Frost on the railing\nthe keeper trims the lamp\nsnow falls through the beam"
    rules = {"keywords": [["lamp", "beam"], "snow"], "forbidden": ["lighthouse keeper"], "max_words": 25, "lines": 3}
    assert grade_rubric(haiku, **rules) == 1.0
    assert grade_rubric(haiku.replace("\n", " / "), **rules) == 0.8  # one line instead of three
    assert grade_rubric(haiku + "\n(a haiku about a lighthouse keeper)", **rules) == 0.6
    assert grade_rubric("word " * 30, max_words=25, min_words=5) == 0.0
    assert grade_rubric("Good morning to you, friend!", keywords=["morning"], min_words=5, max_words=5) == 1.0
    assert grade_rubric("Good morning, friend!", keywords=["morning"], min_words=5, max_words=5) == 0.5
    assert grade_rubric("", keywords=["morning"]) == 0.0


def test_every_standard_prompt_is_valid_and_its_reference_gets_full_marks():
    prompts = benchmark_prompts()
    tasks = {p.task for p in prompts}
    assert tasks == set(TaskType.values)
    assert all(sum(p.task == task for p in prompts) >= 4 for task in tasks)
    assert len({p.key for p in prompts}) == len(prompts)
    for prompt in prompts:
        reference = prompt.reference if isinstance(prompt.reference, str) else json.dumps(prompt.reference)
        assert grade(prompt, reference) == 1.0, prompt.key


def test_the_mocks_echo_gets_no_marks_where_there_is_one_right_answer():
    for prompt in benchmark_prompts(tasks=["code", "math", "reasoning", "extraction", "classification", "analysis"]):
        echo, _ = answers.reply_text(prompt.prompt)
        assert grade(prompt, echo) == 0.0, prompt.key


def test_unknown_tasks_and_prompt_sets_are_refused():
    with pytest.raises(ApplicationError, match="Unknown task"):
        benchmark_prompts(tasks=["math", "poetry"])
    with pytest.raises(ApplicationError, match="Unknown prompt set"):
        benchmark_prompts(prompt_set="nightly")
    assert {p.task for p in benchmark_prompts(tasks=["math", "code"])} == {"math", "code"}


def test_an_unknown_grader_is_a_programming_error():
    prompt = BenchmarkPrompt(key="k", task="math", prompt="?", reference="1", grader={"kind": "vibes"})
    with pytest.raises(ValueError, match="unknown grader"):
        grade(prompt, "1")


# --- runs against the mock provider -----------------------------------------------------------------------------


@pytest.fixture
def catalog(db, mock_provider):
    """One model per wire format, each provider pointed at the mock with a platform key."""
    providers = mock_providers(mock_provider.url, key_suffix="-0001")
    providers["openai"].env_key_name = "SWITCHYARD_TEST_OPENAI_KEY"
    providers["openai"].save()
    return {
        model_id: ModelFactory(
            provider=providers[model_id.split("/")[0]],
            model_id=model_id,
            upstream_name=model_id.split("/")[1],
            input_price=INPUT_PRICE,
            output_price=OUTPUT_PRICE,
        )
        for model_id in (GPT, CLAUDE, GEMINI)
    }


def mock_rule(mock_provider, model: str, **rule) -> None:
    httpx.post(f"{mock_provider.url}/_mock/rules", json={"model": model, **rule}).raise_for_status()


def scores(source: str = "benchmark") -> dict[tuple[str, str], tuple[Decimal, int]]:
    rows = TaskScore.objects.filter(source=source).values_list("model__model_id", "task", "score", "sample_size")
    return {(model_id, task): (score, size) for model_id, task, score, size in rows}


def test_a_run_records_every_prompt_and_writes_mean_quality_per_task(catalog, mock_provider):
    # gpt answers "720" to everything (right for one math prompt of five), claude "B" (right for two analysis
    # prompts of four), gemini the mock's echo (never right here).
    mock_rule(mock_provider, "gpt-4o-mini", reply="720")
    mock_rule(mock_provider, "claude-haiku-4-5", reply="B")

    run = benchmark_run(models=[GPT, CLAUDE, GEMINI], tasks=["math", "analysis"])

    assert run.status == BenchmarkStatus.FINISHED and run.error == "" and run.finished_at is not None
    assert set(run.models_tested.values_list("model_id", flat=True)) == {GPT, CLAUDE, GEMINI}
    results = BenchmarkResult.objects.filter(run=run)
    assert results.count() == 3 * 9
    assert not results.exclude(error="").exists()
    assert not results.filter(latency_ms=None).exists()
    assert scores() == {
        (GPT, "math"): (Decimal("0.2000"), 5),
        (GPT, "analysis"): (Decimal("0.0000"), 4),
        (CLAUDE, "math"): (Decimal("0.0000"), 5),
        (CLAUDE, "analysis"): (Decimal("0.5000"), 4),
        (GEMINI, "math"): (Decimal("0.0000"), 5),
        (GEMINI, "analysis"): (Decimal("0.0000"), 4),
    }
    assert results.get(model__model_id=GPT, prompt_key="math-hexagon-angles").quality == 1
    assert results.get(model__model_id=CLAUDE, prompt_key="analysis-ab-test").quality == 0
    # The router reads what the run wrote.
    assert task_quality_map(model_ids=[CLAUDE])[CLAUDE] == {"math": 0.0, "analysis": 0.5}


def test_a_result_is_priced_from_the_providers_usage(catalog, mock_provider):
    mock_rule(mock_provider, "gpt-4o-mini", reply="720")

    run = benchmark_run(models=[GPT], tasks=["math"])

    [prompt] = [p for p in benchmark_prompts(tasks=["math"]) if p.key == "math-hexagon-angles"]
    result = BenchmarkResult.objects.get(run=run, prompt_key=prompt.key)
    # The mock counts a token per four characters, plus three per message; "720" is one token.
    expected = usage_cost(
        prices=Prices(INPUT_PRICE, OUTPUT_PRICE),
        prompt_tokens=answers.count_tokens(prompt.prompt) + 3,
        completion_tokens=1,
    )
    assert result.cost_usd == expected > 0
    sent = [r for r in mock_provider.state.requests if r["body"]["messages"][0]["content"] == prompt.prompt]
    assert sent[0]["api_key"] == "sk-platform-openai-0001"
    assert sent[0]["body"]["model"] == "gpt-4o-mini"
    assert sent[0]["body"]["max_completion_tokens"] == benchmarking.DEFAULT_MAX_TOKENS


def test_a_model_whose_calls_fail_gets_its_errors_recorded_and_no_score(catalog, mock_provider):
    mock_rule(mock_provider, "gpt-4o-mini", fault="500")

    run = benchmark_run(models=[GPT, CLAUDE], tasks=["math"])

    failed = BenchmarkResult.objects.filter(run=run, model__model_id=GPT)
    assert failed.count() == 5
    assert set(failed.values_list("error", flat=True)) == {"500 server_error: Mock fault 500"}
    assert not failed.filter(quality__isnull=False).exists()
    assert not failed.filter(latency_ms__isnull=False).exists()
    assert set(scores()) == {(CLAUDE, "math")}
    assert run.status == BenchmarkStatus.FINISHED


def test_a_task_score_counts_only_the_prompts_that_got_an_answer(catalog, mock_provider):
    mock_rule(mock_provider, "gpt-4o-mini", fault="502", times=2)

    benchmark_run(models=[GPT], tasks=["math"], concurrency=1)

    assert scores()[(GPT, "math")] == (Decimal("0.0000"), 3)
    assert BenchmarkResult.objects.exclude(error="").count() == 2


def test_a_rate_limited_call_is_tried_once_more(catalog, mock_provider):
    mock_rule(mock_provider, "claude-haiku-4-5", fault="429", times=1)

    run = benchmark_run(models=[CLAUDE], tasks=["analysis"], concurrency=1)

    assert not BenchmarkResult.objects.filter(run=run).exclude(error="").exists()
    assert len(mock_provider.state.requests) == 4 + 1


def test_a_slow_or_unreachable_provider_is_recorded_as_such(catalog, mock_provider, monkeypatch):
    monkeypatch.setattr(benchmarking, "CALL_TIMEOUT", httpx.Timeout(0.2))
    mock_rule(mock_provider, "gpt-4o-mini", fault="slow", delay_ms=1000)
    provider = catalog[CLAUDE].provider
    provider.base_url = "http://127.0.0.1:9"  # the discard port: nothing listens
    provider.save()

    run = benchmark_run(models=[GPT, CLAUDE], tasks=["math"])

    errors = dict(run.results.values_list("model__model_id", "error").distinct())
    assert errors == {
        GPT: "504 timeout: The provider did not answer in time.",
        CLAUDE: "502 server_error: Could not reach the provider: ConnectError.",
    }


def test_a_refused_key_is_reported_without_the_key(catalog, mock_provider):
    provider = catalog[GPT].provider
    provider.platform_key = "invalid-sk-9f8e7d6c5b4a"
    provider.save()

    run = benchmark_run(models=[GPT], tasks=["math"])

    errors = set(BenchmarkResult.objects.filter(run=run).values_list("error", flat=True))
    assert errors == {"401 auth: OpenAI refused the API key."}
    assert run.status == BenchmarkStatus.FAILED
    assert run.error == "Every call failed; the results say why."
    assert not TaskScore.objects.exists()


def test_a_run_without_any_usable_key_fails_and_writes_nothing_else(catalog, monkeypatch):
    monkeypatch.delenv("SWITCHYARD_TEST_OPENAI_KEY", raising=False)
    provider = catalog[GPT].provider
    provider.platform_key = ""
    provider.save()

    run = benchmark_run(models=[GPT], tasks=["math"])

    assert run.status == BenchmarkStatus.FAILED
    assert "No usable API key for OpenAI" in run.error
    assert not run.results.exists()
    assert not TaskScore.objects.exists()


def test_the_environment_key_serves_a_provider_without_a_platform_key(catalog, mock_provider, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_TEST_OPENAI_KEY", "sk-from-env-0001")
    provider = catalog[GPT].provider
    provider.platform_key = ""
    provider.save()

    benchmark_run(models=[GPT], tasks=["math"])

    assert {r["api_key"] for r in mock_provider.state.requests} == {"sk-from-env-0001"}


def test_a_keyless_model_next_to_others_gets_the_reason_on_its_results(catalog, monkeypatch):
    monkeypatch.delenv("SWITCHYARD_TEST_OPENAI_KEY", raising=False)
    provider = catalog[GPT].provider
    provider.platform_key = ""
    provider.save()

    run = benchmark_run(models=[GPT, CLAUDE], tasks=["math"])

    assert run.status == BenchmarkStatus.FINISHED
    errors = set(run.results.filter(model__model_id=GPT).values_list("error", flat=True))
    assert errors == {"No API key for OpenAI: set a platform key or its variable."}
    assert set(scores()) == {(CLAUDE, "math")}


def test_scores_can_be_left_unwritten_and_other_sources_stay(catalog):
    TaskScoreFactory(model=catalog[GPT], task="math", source="manual", score=Decimal("0.9"))

    run = benchmark_run(models=[GPT], tasks=["math"], write_scores=False)

    assert run.results.count() == 5
    assert scores() == {}
    assert scores("manual") == {(GPT, "math"): (Decimal("0.9000"), 10)}


def test_an_alias_names_its_model_once(catalog):
    ModelAliasFactory(alias="mini", model=catalog[GPT])

    run = benchmark_run(models=["mini", GPT], tasks=["math"])

    assert run.results.count() == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": [GPT, "nope/model"]}, "Unknown model(s): nope/model."),
        ({"models": []}, "Name at least one model"),
        ({"models": [GPT], "tasks": ["poetry"]}, "Unknown task(s) poetry"),
        ({"models": [GPT], "prompt_set": "nightly"}, "Unknown prompt set"),
        ({"models": [GPT], "concurrency": 0}, "Concurrency must be between 1 and 16."),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(catalog, kwargs, message):
    with pytest.raises(ApplicationError) as refused:
        benchmark_run(**kwargs)
    assert message in refused.value.message
    assert not BenchmarkRun.objects.exists()


def test_disabled_models_and_providers_are_refused(catalog):
    catalog[GPT].enabled = False
    catalog[GPT].save()
    catalog[CLAUDE].provider.enabled = False
    catalog[CLAUDE].provider.save()

    with pytest.raises(ApplicationError) as refused:
        benchmark_run(models=[GPT, CLAUDE, GEMINI])

    assert refused.value.message == f"Disabled model(s) (or their provider is disabled): {GPT}, {CLAUDE}."
    assert not BenchmarkRun.objects.exists()


def test_an_unexpected_failure_marks_the_run_failed(catalog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("grader exploded")

    monkeypatch.setattr(benchmarking, "grade", broken)

    with pytest.raises(RuntimeError):
        benchmark_run(models=[GPT], tasks=["math"])

    run = BenchmarkRun.objects.get()
    assert run.status == BenchmarkStatus.FAILED
    assert run.error == "RuntimeError: grader exploded"
    assert not run.results.exists()


def test_the_summary_gives_quality_median_latency_and_cost_per_model_and_task(catalog, mock_provider):
    mock_rule(mock_provider, "gpt-4o-mini", reply="720")
    mock_rule(mock_provider, "claude-haiku-4-5", fault="500")

    run = benchmark_run(models=[GPT, CLAUDE], tasks=["analysis", "math"])
    summary = benchmark_summary(run=run)

    assert [(row.model_id, row.task) for row in summary] == [
        (CLAUDE, "math"),
        (CLAUDE, "analysis"),
        (GPT, "math"),
        (GPT, "analysis"),
    ]
    gpt_math = summary[2]
    assert (gpt_math.prompts, gpt_math.graded, gpt_math.quality) == (5, 5, Decimal("0.2000"))
    gpt_math_results = run.results.filter(model__model_id=GPT, task="math")
    assert gpt_math.cost_usd == sum(r.cost_usd for r in gpt_math_results)
    assert gpt_math.p50_latency_ms == sorted(r.latency_ms for r in gpt_math_results)[2]
    assert (summary[0].graded, summary[0].quality, summary[0].p50_latency_ms, summary[0].cost_usd) == (
        0,
        None,
        None,
        None,
    )


# --- the command and the task -----------------------------------------------------------------------------------


def run_command(*args) -> str:
    out = StringIO()
    call_command("benchmark_models", *args, stdout=out)
    return out.getvalue()


def test_command_prints_the_table_and_the_run(catalog, mock_provider):
    mock_rule(mock_provider, "gpt-4o-mini", reply="720")

    output = run_command("--models", f"{GPT}, {GEMINI}", "--tasks", "math,code", "--concurrency", "2")

    run = BenchmarkRun.objects.get()
    lines = output.splitlines()
    assert lines[0].split() == ["model", "task", "quality", "graded", "p50", "ms", "cost", "$"]
    gpt_math = next(line for line in lines if line.startswith(GPT) and " math " in line).split()
    assert gpt_math[:4] == [GPT, "math", "0.200", "5/5"]
    assert len([line for line in lines if line.startswith(GEMINI)]) == 2
    assert f"Benchmark run {run.pk} finished; task scores written to the quality table." in output
    assert scores()[(GPT, "math")] == (Decimal("0.2000"), 5)


def test_command_can_leave_the_table_alone(catalog):
    output = run_command("--models", GPT, "--tasks", "math", "--no-write-scores")

    assert "not written (--no-write-scores)" in output
    assert not TaskScore.objects.exists()


def test_command_benchmarks_what_a_workspace_has_installed(catalog):
    workspace = WorkspaceFactory(slug="acme")
    InstalledModelFactory(workspace=workspace, model=catalog[CLAUDE])
    disabled = ModelFactory(provider=catalog[GPT].provider, enabled=False)
    InstalledModelFactory(workspace=workspace, model=disabled)

    run_command("--installed-in", "acme", "--tasks", "math")

    run = BenchmarkRun.objects.get()
    assert list(run.models_tested.values_list("model_id", flat=True)) == [CLAUDE]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give --models or --installed-in"),
        (("--models", GPT, "--installed-in", "acme"), "Give --models or --installed-in"),
        (("--models", "nope/model"), "Unknown model(s): nope/model."),
        (("--models", GPT, "--tasks", "poetry"), "Unknown task(s) poetry"),
        (("--installed-in", "nowhere"), "No workspace 'nowhere'."),
        (("--installed-in", "empty"), "Workspace 'empty' has no enabled chat model installed."),
    ],
)
def test_command_refuses_bad_input(catalog, args, message):
    WorkspaceFactory(slug="empty")
    with pytest.raises(CommandError) as refused:
        run_command(*args)
    assert message in str(refused.value)
    assert not BenchmarkRun.objects.exists()


def test_command_fails_when_the_run_fails(catalog, mock_provider):
    mock_rule(mock_provider, "gpt-4o-mini", fault="500")

    with pytest.raises(CommandError, match=r"Benchmark run \d+ failed: Every call failed"):
        run_command("--models", GPT, "--tasks", "math")


def test_command_exits_non_zero_on_bad_input():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "manage.py", "benchmark_models", "--tasks", "math"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Give --models or --installed-in" in done.stderr


def test_celery_task_runs_the_benchmark(catalog, mock_provider):
    mock_rule(mock_provider, "claude-haiku-4-5", reply="B")

    run_id = benchmark_models_task.delay([CLAUDE], ["analysis"]).get()

    run = BenchmarkRun.objects.get(pk=run_id)
    assert run.status == BenchmarkStatus.FINISHED
    assert scores() == {(CLAUDE, "analysis"): (Decimal("0.5000"), 4)}
