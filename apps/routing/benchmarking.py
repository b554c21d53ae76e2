"""Model benchmarking: standard prompts with reference answers, run across chosen models through the gateway's
adapters; latency, cost and quality are kept per prompt, and each (model, task) mean quality goes into the per-task
quality table the router reads.

The prompt sets live in data/benchmark_prompts.json. Each prompt names a grader:
- `exact`: the answer (or its last line) equals the reference or one of `accept`, ignoring case, spacing, quotes,
  markdown emphasis and a final full stop;
- `numeric`: the last number in the answer is within `tolerance` of the reference (thousands commas allowed);
- `choice`: the letter picked: "B", "(B)" or "B) text" at the start of the answer or of its last line, or stated
  as "the answer is B";
- `json`: the first JSON value in the answer equals the reference (strings compared ignoring case and spacing);
  for an object, the share of the reference's fields that match;
- `keywords`: the share of required keywords present;
- `rubric`, for open-ended tasks (chat, creative, summarization, translation): the share of passed checks among
  required keywords, forbidden phrases (an echo of the source text, say), word-count bounds and a line count.
A keyword may be a list of alternatives; it matches at the start of a word, so a stem ("reopen") covers its forms.
Keyword and rubric grades are coarse: they check that an answer is on topic and in shape, not that it is good.
"""

import json
import os
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from apps.billing.pricing import usage_cost
from apps.catalog.models import Model, ModelMode, PrivacyClass, TaskType
from apps.catalog.task_scores import TaskScoreRow, task_scores_import
from apps.core.errors import ApplicationError
from apps.workspaces.models import Workspace
from apps.workspaces.selectors import installed_model_ids

from .adapters import InvalidRequest, UpstreamError, adapter_for
from .adapters.base import text_of, upstream_error
from .gateway.context import ModelRoute, load_model
from .models import BenchmarkResult, BenchmarkRun, BenchmarkStatus

PROMPTS_PATH = Path(__file__).parent / "data" / "benchmark_prompts.json"
GRADERS = ("exact", "numeric", "choice", "json", "keywords", "rubric")
DEFAULT_MAX_TOKENS = 1024  # room for a reasoning model's thinking; every answer asked for is short
MAX_CONCURRENCY = 16
CALL_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
RATE_LIMIT_WAIT_CAP = 10.0  # seconds; a call refused for rate or load is tried once more after the provider's wait
ERROR_LENGTH = BenchmarkResult._meta.get_field("error").max_length
QUALITY_PLACES = Decimal("0.0001")


# --- prompts and grading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkPrompt:
    key: str
    task: str
    prompt: str
    reference: Any
    grader: dict
    max_tokens: int = DEFAULT_MAX_TOKENS


@cache
def _prompt_sets() -> dict[str, tuple[BenchmarkPrompt, ...]]:
    data = json.loads(PROMPTS_PATH.read_text(encoding="utf-8"))
    sets = {name: tuple(BenchmarkPrompt(**prompt) for prompt in prompts) for name, prompts in data.items()}
    for name, prompts in sets.items():
        keys = [p.key for p in prompts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"prompt set {name}: prompt keys repeat")
        for p in prompts:
            if p.task not in TaskType.values or p.grader.get("kind") not in GRADERS:
                raise ValueError(f"prompt set {name}, prompt {p.key}: unknown task or grader")
    return sets


def benchmark_prompts(*, prompt_set: str = "standard", tasks: Iterable[str] | None = None) -> list[BenchmarkPrompt]:
    """The prompts of a set, optionally only those of some tasks."""
    sets = _prompt_sets()
    if prompt_set not in sets:
        raise ApplicationError(f"Unknown prompt set {prompt_set!r}; sets are {', '.join(sorted(sets))}.")
    prompts = sets[prompt_set]
    if tasks is None:
        return list(prompts)
    tasks = list(dict.fromkeys(tasks))
    if unknown := [t for t in tasks if t not in TaskType.values]:
        raise ApplicationError(f"Unknown task(s) {', '.join(unknown)}; tasks are {', '.join(TaskType.values)}.")
    if missing := [t for t in tasks if not any(p.task == t for p in prompts)]:
        raise ApplicationError(f"Prompt set {prompt_set!r} has no prompts for {', '.join(missing)}.")
    return [p for p in prompts if p.task in tasks]


_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
# "B", "(B)", "B." or "B) the option's text" at the start of a line; or "the answer is B" anywhere.
_CHOICE_LEADING = re.compile(r"^\(?([A-Z])(?:\)|[.):](?=\s)|[.):]?$)", re.IGNORECASE)
_CHOICE_STATED = re.compile(r"(?i:answer)(?: is)?\s*[:\-]?\s*\(?([A-Z])\b")


def _visible(answer: str) -> str:
    """The answer without a reasoning model's <think> block."""
    return _THINKING.sub("", answer).strip()


def _normalised(text: str) -> str:
    text = text.replace("’", "'").replace("*", "").replace("`", "").strip().strip("\"'").strip()
    return " ".join(text.rstrip(".!").split()).casefold()


def grade_exact(answer: str, accepted: Iterable[str]) -> float:
    accepted = {_normalised(a) for a in accepted}
    answer = _visible(answer)
    lines = [line for line in answer.splitlines() if line.strip()]
    candidates = {_normalised(answer), _normalised(lines[-1])} if lines else {""}
    return 1.0 if candidates & accepted else 0.0


def grade_numeric(answer: str, reference: float, tolerance: float = 0.0) -> float:
    numbers = _NUMBER.findall(_visible(answer))
    if not numbers:
        return 0.0
    value = float(numbers[-1].replace(",", ""))
    return 1.0 if abs(value - float(reference)) <= tolerance + 1e-9 else 0.0


def grade_choice(answer: str, reference: str) -> float:
    """The letter picked at the start of the answer, else stated as "the answer is", else at the start of the last
    line (after some reasoning); anything else picks nothing."""
    answer = _visible(answer).replace("*", "")
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    if not lines:
        return 0.0
    match = _CHOICE_LEADING.match(lines[0]) or _CHOICE_STATED.search(answer) or _CHOICE_LEADING.match(lines[-1])
    return 1.0 if match and match.group(1).upper() == reference.upper() else 0.0


def _first_json(text: str) -> Any:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        try:
            return decoder.raw_decode(text, match.start())[0]
        except json.JSONDecodeError:
            continue
    return None


def _json_equal(value: Any, reference: Any) -> bool:
    if isinstance(reference, str):
        return isinstance(value, str) and _normalised(value) == _normalised(reference)
    if isinstance(reference, bool) or reference is None:
        return value is reference
    if isinstance(reference, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool) and abs(value - reference) < 1e-9
    if isinstance(reference, list):
        return (
            isinstance(value, list)
            and len(value) == len(reference)
            and all(_json_equal(v, r) for v, r in zip(value, reference, strict=True))
        )
    if isinstance(reference, dict):
        return (
            isinstance(value, dict)
            and value.keys() == reference.keys()
            and all(_json_equal(value[k], r) for k, r in reference.items())
        )
    return value == reference


def grade_json(answer: str, reference: Any) -> float:
    value = _first_json(_visible(answer))
    if isinstance(reference, dict) and reference:
        if not isinstance(value, dict):
            return 0.0
        return sum(key in value and _json_equal(value[key], ref) for key, ref in reference.items()) / len(reference)
    return 1.0 if value is not None and _json_equal(value, reference) else 0.0


def _has(text: str, phrase: str) -> bool:
    """`phrase` (case-folded) occurs in `text` starting at a word boundary: a stem matches its longer forms."""
    phrase = phrase.casefold().replace("’", "'")
    start = r"(?<!\w)" if phrase[:1].isalnum() else ""
    return re.search(start + re.escape(phrase), text) is not None


def _keyword_hits(text: str, keywords: Iterable[str | Sequence[str]]) -> list[bool]:
    text = text.casefold().replace("’", "'")
    return [any(_has(text, k) for k in ([kw] if isinstance(kw, str) else kw)) for kw in keywords]


def grade_keywords(answer: str, keywords: Sequence[str | Sequence[str]]) -> float:
    hits = _keyword_hits(_visible(answer), keywords)
    return sum(hits) / len(hits) if hits else 0.0


def grade_rubric(
    answer: str,
    *,
    keywords: Sequence[str | Sequence[str]] = (),
    forbidden: Sequence[str] = (),
    min_words: int | None = None,
    max_words: int | None = None,
    lines: int | None = None,
) -> float:
    answer = _visible(answer)
    if not answer:
        return 0.0
    checks = _keyword_hits(answer, keywords)
    checks += [not hit for hit in _keyword_hits(answer, forbidden)]
    if min_words is not None or max_words is not None:
        words = len(answer.split())
        checks.append((min_words or 0) <= words <= (max_words if max_words is not None else words))
    if lines is not None:
        checks.append(len([line for line in answer.splitlines() if line.strip()]) == lines)
    return sum(checks) / len(checks) if checks else 0.0


def grade(prompt: BenchmarkPrompt, answer: str) -> float:
    """The quality of an answer to a prompt, in [0, 1]."""
    rule = dict(prompt.grader)
    kind = rule.pop("kind")
    if kind == "exact":
        return grade_exact(answer, [prompt.reference, *rule.get("accept", ())])
    if kind == "numeric":
        return grade_numeric(answer, float(prompt.reference), float(rule.get("tolerance", 0)))
    if kind == "choice":
        return grade_choice(answer, prompt.reference)
    if kind == "json":
        return grade_json(answer, prompt.reference)
    if kind == "keywords":
        return grade_keywords(answer, rule["keywords"])
    if kind == "rubric":
        return grade_rubric(answer, **rule)
    raise ValueError(f"prompt {prompt.key}: unknown grader {kind!r}; graders are {', '.join(GRADERS)}")


# --- calling models -------------------------------------------------------------------------------------------


def staff_credential(route: ModelRoute) -> str | None:
    """The key a staff run uses: the provider's platform key, else its environment variable; a local server needs
    none. Workspaces' own (BYOK) keys are never used: the quality table serves every workspace, so no customer
    pays for it."""
    if route.platform_key:
        return route.platform_key
    if route.env_key_name and (secret := os.environ.get(route.env_key_name)):
        return secret
    if route.privacy_class == PrivacyClass.LOCAL:
        return ""
    return None


@dataclass
class Outcome:
    route: ModelRoute
    prompt: BenchmarkPrompt
    latency_ms: int | None = None
    cost_usd: Decimal | None = None
    quality: Decimal | None = None
    error: str = ""


def _truncated(text: str) -> str:
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"


def _error_text(error: UpstreamError, route: ModelRoute, secret: str) -> str:
    """A provider's refusal names no key; any other message has the key blanked out in case it was echoed."""
    if error.kind in ("auth", "permission"):
        message = f"{route.provider_name} refused the API key."
    else:
        message = error.message.replace(secret, "[key]") if secret else error.message
    return _truncated(f"{error.status} {error.kind}: {message}")


def _send(client: httpx.Client, route: ModelRoute, secret: str, prompt: BenchmarkPrompt):
    """One call; returns (completion, latency in ms) or raises UpstreamError."""
    adapter = adapter_for(route.adapter_kind)
    # No temperature: reasoning models refuse one, and the graders read the answer, not its wording.
    body = {
        "model": route.model_id,
        "messages": [{"role": "user", "content": prompt.prompt}],
        "max_completion_tokens": prompt.max_tokens,
    }
    request = adapter.build_request(
        body=body,
        upstream_model=route.upstream_name,
        base_url=route.base_url,
        api_key=secret,
        extra_headers=route.extra_headers,
        options=route.adapter_options,
        stream=False,
    )
    started = time.perf_counter()
    try:
        response = client.post(request.url, content=request.body, headers=request.headers)
    except httpx.TimeoutException:
        raise upstream_error(504, "timeout", "The provider did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise upstream_error(502, "server_error", f"Could not reach the provider: {exc.__class__.__name__}.") from None
    latency_ms = round((time.perf_counter() - started) * 1000)
    if response.status_code >= 400:
        raise adapter.parse_error(status=response.status_code, payload=response.content, headers=response.headers)
    return adapter.parse_response(payload=response.content, model=route.model_id), latency_ms


def _run_one(client: httpx.Client, route: ModelRoute, secret: str, prompt: BenchmarkPrompt) -> Outcome:
    outcome = Outcome(route, prompt)
    try:
        try:
            completion, latency_ms = _send(client, route, secret, prompt)
        except UpstreamError as exc:
            if exc.kind not in ("rate_limit", "overloaded"):
                raise
            time.sleep(min(exc.retry_after if exc.retry_after is not None else 2.0, RATE_LIMIT_WAIT_CAP))
            completion, latency_ms = _send(client, route, secret, prompt)
    except UpstreamError as exc:
        outcome.error = _error_text(exc, route, secret)
        return outcome
    except InvalidRequest as exc:
        outcome.error = _truncated(f"invalid request: {exc}")
        return outcome
    usage = completion.usage
    outcome.latency_ms = latency_ms
    if not route.price_unknown:
        outcome.cost_usd = usage_cost(
            prices=route.prices,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )
    choices = completion.body.get("choices") or [{}]
    answer = text_of((choices[0].get("message") or {}).get("content"))
    outcome.quality = Decimal(str(grade(prompt, answer))).quantize(QUALITY_PLACES)
    return outcome


# --- the service ----------------------------------------------------------------------------------------------


def _routes(names: list[str]) -> list[ModelRoute]:
    if not names:
        raise ApplicationError("Name at least one model to benchmark.")
    routes, unknown, disabled = {}, [], []
    for name in dict.fromkeys(names):
        route = load_model(name)
        if route is None:
            unknown.append(name)
        elif not (route.enabled and route.provider_enabled):
            disabled.append(name)
        else:
            routes.setdefault(route.model_id, route)
    if unknown:
        raise ApplicationError(f"Unknown model(s): {', '.join(unknown)}.", extra={"models": unknown})
    if disabled:
        raise ApplicationError(
            f"Disabled model(s) (or their provider is disabled): {', '.join(disabled)}.", extra={"models": disabled}
        )
    return list(routes.values())


def _task_scores(outcomes: list[Outcome]) -> list[TaskScoreRow]:
    """Mean quality per (model, task) over the prompts that got an answer; a pair with no answer gets no row."""
    graded: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.quality is not None:
            graded[(outcome.route.model_id, outcome.prompt.task)].append(outcome.quality)
    return [
        TaskScoreRow(model_id, task, (sum(scores) / len(scores)).quantize(QUALITY_PLACES), len(scores))
        for (model_id, task), scores in graded.items()
    ]


def _finish(run: BenchmarkRun, status: str, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])


def benchmark_run(
    *,
    models: list[str],
    tasks: list[str] | None = None,
    prompt_set: str = "standard",
    write_scores: bool = True,
    concurrency: int = 4,
) -> BenchmarkRun:
    """Run every prompt of the set (or of `tasks`) on every model and record one result per (model, prompt); then,
    unless `write_scores` is False, write each (model, task) mean quality to the per-task quality table.

    Bad input raises ApplicationError before anything is written. A run that cannot call any model (no usable
    key) or gets no answer at all ends as failed, with the reason; any other ends as finished, failed calls
    recorded with their error."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ApplicationError(f"Concurrency must be between 1 and {MAX_CONCURRENCY}.")
    prompts = benchmark_prompts(prompt_set=prompt_set, tasks=tasks)
    routes = _routes(models)

    run = BenchmarkRun.objects.create(prompt_set=prompt_set)
    run.models_tested.set([route.pk for route in routes])
    keys = {route.model_id: staff_credential(route) for route in routes}
    keyless = [route for route in routes if keys[route.model_id] is None]
    if len(keyless) == len(routes):
        providers = sorted({route.provider_name for route in routes})
        message = f"No usable API key for {', '.join(providers)}: set a platform key or the environment variable."
        _finish(run, BenchmarkStatus.FAILED, message)
        return run
    try:
        outcomes = [
            Outcome(route, prompt, error=f"No API key for {route.provider_name}: set a platform key or its variable.")
            for route in keyless
            for prompt in prompts
        ]
        jobs = [
            (route, keys[route.model_id], prompt)
            for route in routes
            if keys[route.model_id] is not None
            for prompt in prompts
        ]
        with (
            httpx.Client(timeout=CALL_TIMEOUT, limits=httpx.Limits(max_connections=concurrency)) as client,
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="benchmark") as pool,
        ):
            outcomes += pool.map(lambda job: _run_one(client, *job), jobs)
        with transaction.atomic():
            BenchmarkResult.objects.bulk_create(
                BenchmarkResult(
                    run=run,
                    model_id=o.route.pk,
                    task=o.prompt.task,
                    prompt_key=o.prompt.key,
                    latency_ms=o.latency_ms,
                    cost_usd=o.cost_usd,
                    quality=o.quality,
                    error=o.error,
                )
                for o in outcomes
            )
            scores = _task_scores(outcomes)
            if write_scores:
                task_scores_import(rows=scores, source="benchmark")
            if scores:
                _finish(run, BenchmarkStatus.FINISHED)
            else:
                _finish(run, BenchmarkStatus.FAILED, "Every call failed; the results say why.")
    except BaseException as exc:  # a time limit or a bug: the run must not stay "running"
        _finish(run, BenchmarkStatus.FAILED, _truncated(f"{exc.__class__.__name__}: {exc}"))
        raise
    return run


# --- reads ----------------------------------------------------------------------------------------------------


def benchmark_installed_model_ids(*, workspace_slug: str) -> list[str]:
    """The enabled chat models installed in a workspace, for a run over what that workspace uses."""
    workspace = Workspace.objects.filter(slug=workspace_slug).first()
    if workspace is None:
        raise ApplicationError(f"No workspace {workspace_slug!r}.")
    return list(
        Model.objects.filter(
            model_id__in=installed_model_ids(workspace=workspace),
            enabled=True,
            provider__enabled=True,
            mode=ModelMode.CHAT,
        )
        .order_by("model_id")
        .values_list("model_id", flat=True)
    )


@dataclass(frozen=True)
class TaskSummary:
    model_id: str
    task: str
    prompts: int
    graded: int  # prompts that got an answer
    quality: Decimal | None  # mean over the graded prompts
    p50_latency_ms: int | None
    cost_usd: Decimal | None  # total over the priced calls


def benchmark_summary(*, run: BenchmarkRun) -> list[TaskSummary]:
    """Per model and task: mean quality, median latency and total cost, in model then task order."""
    groups: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    rows = run.results.values_list("model__model_id", "task", "quality", "latency_ms", "cost_usd")
    for model_id, task, quality, latency_ms, cost_usd in rows:
        groups[(model_id, task)].append((quality, latency_ms, cost_usd))
    task_order = {task: position for position, task in enumerate(TaskType.values)}
    summary = []
    for (model_id, task), results in sorted(groups.items(), key=lambda item: (item[0][0], task_order[item[0][1]])):
        qualities = [q for q, _, _ in results if q is not None]
        latencies = [ms for _, ms, _ in results if ms is not None]
        costs = [c for _, _, c in results if c is not None]
        summary.append(
            TaskSummary(
                model_id=model_id,
                task=task,
                prompts=len(results),
                graded=len(qualities),
                quality=(sum(qualities) / len(qualities)).quantize(QUALITY_PLACES) if qualities else None,
                p50_latency_ms=round(statistics.median(latencies)) if latencies else None,
                cost_usd=sum(costs) if costs else None,
            )
        )
    return summary
