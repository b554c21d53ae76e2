"""Prompt analysis for `auto` routing: task detection, complexity, signals, message weighting. No database."""

import dataclasses
import math

import pytest

from apps.catalog.models import TaskType
from apps.routing.prompt_analysis import TASKS, TIE_BREAK_ORDER, PromptAnalysis, analyse_prompt


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def analyse(text: str) -> PromptAnalysis:
    return analyse_prompt(user(text))


# --- task detection -------------------------------------------------------------------------------------------

PASSAGE = (
    "The town council had planned to vote on the new bridge in March. Engineers then found cracks in two of the "
    "old piers, and the bridge was closed to traffic while they were repaired. Shop owners on both banks said "
    "they were losing customers, and the council set up a free ferry. Because the repairs took longer than "
    "expected and the costs were still unclear, the council put off the vote until the engineers' final report, "
    "which is due in the autumn. Meanwhile the ferry carries about two thousand people a day, and the school "
    "on the east bank has moved its start time to nine so that pupils from the other side can get there. "
)

TASK_CASES = [
    # code
    ("code", "Write a Python function that returns the n-th Fibonacci number using memoization."),
    (
        "code",
        'Why does this crash?\n\nTraceback (most recent call last):\n  File "app.py", line 12, in <module>\n'
        "    main()\nKeyError: 'user_id'",
    ),
    (
        "code",
        "Refactor this so it's testable:\n```js\nfunction load() {\n  const data = fetch(url);\n  return data;\n}\n```",
    ),
    ("code", "SELECT name, COUNT(*) FROM orders GROUP BY name; is slow on 10M rows. How do I index it?"),
    ("code", "Give me a regex that matches UK postcodes and a couple of unit tests for it."),
    (
        "code",  # a stub to complete, however mathematical its docstring
        'def count_primes(n: int) -> int:\n    """Return how many prime numbers are less than n, for a positive '
        'integer n."""\n',
    ),
    # math
    ("math", "Solve for x: 3x + 7 = 22"),
    ("math", "Compute $\\int_0^1 x^2 \\, dx$ and show the antiderivative."),
    ("math", "Prove that the square root of 2 is irrational."),
    ("math", "A baker sells 24 muffins a day at $3 each. How much does she earn in 7 days?"),
    ("math", "What is the derivative of sin(x) * x^2?"),
    # reasoning
    (
        "reasoning",
        "Alice always lies and Bob always tells the truth. One of them says 'I am the liar'. Who said it? "
        "Think step by step.",
    ),
    ("reasoning", "Why do heavier and lighter objects fall at the same rate in a vacuum? Explain your reasoning."),
    ("reasoning", "What are the trade-offs of event sourcing for a small team? Think it through before answering."),
    ("reasoning", "If all bloops are razzies and some razzies are lazzies, must some bloops be lazzies? Use logic."),
    ("reasoning", "Which of the following is most likely to happen to a puddle on a hot, sunny afternoon?"),
    ("reasoning", "If you leave a glass of water in the freezer overnight, what will happen to it?"),
    ("reasoning", "A plant kept in a dark cupboard for two weeks will ___."),
    ("reasoning", "Plants turn towards a window in order to"),
    # extraction
    (
        "extraction",
        "Extract all the people's names and dates from the following text: 'On 3 May 2021 Jane Doe met Tom Lee.'",
    ),
    ("extraction", "List all email addresses mentioned in this message: reach bob@example.com or amy@example.org."),
    (
        "extraction",
        "Parse this receipt and return JSON with fields merchant, total and date: 'ACME Ltd, 12.50 EUR, 2024-03-01'",
    ),
    ("extraction", PASSAGE + "According to the passage, why did the council put off the vote?"),
    ("extraction", PASSAGE + "The bridge was closed mainly because _ ."),
    # summarization
    ("summarization", "Summarize this article in 3 bullet points: The city council voted on Tuesday to expand ..."),
    ("summarization", "tl;dr of the thread above please"),
    ("summarization", "What are the key points of this meeting transcript? Keep it short."),
    # creative
    ("creative", "Write a short story about a lighthouse keeper who finds a message in a bottle."),
    ("creative", "Compose a haiku about autumn rain."),
    ("creative", "lighthouse, storm, keeper, lantern, gull, shipwreck"),
    ("creative", "Imagine you are a dragon guarding a forgotten library. Describe your day in a fictional diary."),
    # analysis
    ("analysis", "Analyze the quarterly sales figures below and give me insights on the trends."),
    ("analysis", "What are the pros and cons of remote work for a 20-person startup?"),
    ("analysis", "Compare PostgreSQL and MongoDB for an analytics workload and evaluate which fits better."),
    (
        "analysis",
        "Here is our funnel:\n| step | users |\n|---|---|\n| visit | 10000 |\n| signup | 800 |\n"
        "Assess where we lose people.",
    ),
    # translation
    ("translation", "Translate 'Where is the train station?' into French."),
    ("translation", "How do you say 'thank you very much' in Japanese?"),
    ("translation", "Can you put this paragraph into Spanish: I love walking in the mountains."),
    # classification
    ("classification", "Classify the sentiment of this review: 'The battery died after two days.'"),
    ("classification", "Is this email spam? 'Congratulations, you won a free cruise, click here!'"),
    (
        "classification",
        "Which category does this ticket belong to: billing, technical or account? 'I was charged twice'",
    ),
    ("classification", "Label each tweet as positive, negative or neutral."),
    # chat
    ("chat", "hi"),
    ("chat", "Hello! How are you today?"),
    ("chat", "thanks, that was helpful"),
    ("chat", "What is the capital of Australia?"),
    ("chat", "Who wrote the novel Middlemarch?"),
    ("chat", "When did the Berlin Wall fall?"),
]


def test_task_values_match_the_catalog() -> None:
    assert set(TASKS) == set(TaskType.values)
    assert set(TIE_BREAK_ORDER) == set(TaskType.values)


def test_every_task_has_at_least_three_cases() -> None:
    for task in TASKS:
        assert sum(1 for expected, _ in TASK_CASES if expected == task) >= 3, task


@pytest.mark.parametrize(("expected", "prompt"), TASK_CASES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(TASK_CASES)])
def test_detects_task(expected: str, prompt: str) -> None:
    result = analyse(prompt)
    assert result.task == expected, (result.task_scores, result.signals)


def test_result_shape() -> None:
    prompt = "Summarize the following report in two sentences: revenue grew 12% ..."
    result = analyse(prompt)
    assert isinstance(result, PromptAnalysis)
    assert list(result.task_scores) == list(TASKS)
    assert math.isclose(sum(result.task_scores.values()), 1.0, abs_tol=1e-3)
    assert max(result.task_scores, key=result.task_scores.get) == result.task
    assert 0.0 <= result.complexity <= 1.0
    assert result.prompt_tokens == math.ceil(
        len("Summarize the following report in two sentences: revenue grew 12% ...") / 4
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.task = "code"  # type: ignore[misc]


def test_deterministic() -> None:
    messages = user("Prove that there are infinitely many primes, step by step, and analyse the edge cases.")
    assert analyse_prompt(messages) == analyse_prompt(messages)


# --- defaults and tie-breaking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("greeting", ["hi", "hey there", "Good morning!", "hello :)", "yo"])
def test_greetings_default_to_chat(greeting: str) -> None:
    result = analyse(greeting)
    assert result.task == "chat"
    assert result.complexity_level == "low"


def test_no_evidence_defaults_to_chat() -> None:
    result = analyse("Tell me something nice about otters")
    assert result.task == "chat"
    assert any("default chat" in s for s in result.signals)


def test_ties_follow_the_priority_order() -> None:
    # "translate" (translation, 4.0) and "extract" (extraction, 3.0) + "parse" (extraction, 2.0) ... craft an exact tie:
    # "summarize" (3.5) vs "classify" (3.5): classification comes first in the order.
    result = analyse("summarize classify")
    assert result.task_scores["summarization"] == result.task_scores["classification"]
    assert result.task == "classification"
    # "sentiment" (classification 3.5) vs "summary" (summarization 3.5): classification again, whatever the word order.
    assert analyse("summary sentiment").task == "classification"
    assert analyse("sentiment summary").task == "classification"


def test_tie_break_order_is_the_documented_one() -> None:
    assert TIE_BREAK_ORDER == (
        "code",
        "math",
        "translation",
        "extraction",
        "classification",
        "summarization",
        "creative",
        "analysis",
        "reasoning",
        "chat",
    )


# --- complexity -------------------------------------------------------------------------------------------------

GREETING = "hi!"
FACTUAL = "What year did the Berlin Wall fall?"
SYSTEM_DESIGN = """Design a system for a URL shortener that must handle 50k writes per second.
Requirements:
1. Short codes must be at most 7 characters and must not be guessable.
2. Reads should not take more than 20 ms at p99.
3. It must survive the loss of one region.
First, sketch the architecture. Then explain the data model. Finally, discuss the trade-offs and edge cases.
How would you scale it? What would you cache?"""
PROOF = (
    "Prove rigorously that for every integer $n \\ge 1$, $\\sum_{k=1}^{n} k^3 = \\left(\\frac{n(n+1)}{2}\\right)^2$. "
    "First derive the identity by induction, step by step, stating the base case and the inductive step explicitly. "
    "Then give a second, combinatorial proof, and explain why both arguments are valid. "
    "Finally, generalise: derive a closed form for $\\sum_{k=1}^{n} k^4$ and prove it. "
) + (
    "Be careful with edge cases such as n = 1 and justify every algebraic manipulation; do not skip steps, "
    "and you must not use the result you are trying to prove. Each lemma should be stated before it is used. "
) * 8


def test_complexity_ordering() -> None:
    greeting, factual, design, proof = (analyse(p) for p in (GREETING, FACTUAL, SYSTEM_DESIGN, PROOF))
    assert greeting.complexity < factual.complexity < design.complexity < proof.complexity


def test_complexity_levels() -> None:
    assert analyse(GREETING).complexity_level == "low"
    assert analyse(FACTUAL).complexity_level == "low"
    assert analyse(SYSTEM_DESIGN).complexity_level in ("medium", "high")
    assert analyse(PROOF).complexity_level == "high"
    for text in (GREETING, FACTUAL, SYSTEM_DESIGN, PROOF):
        result = analyse(text)
        expected = "low" if result.complexity < 0.35 else "medium" if result.complexity < 0.65 else "high"
        assert result.complexity_level == expected


def test_conversation_depth_raises_complexity() -> None:
    one_turn = user("Explain how the cache works.")
    deep = []
    for i in range(6):
        deep += [{"role": "user", "content": f"Question {i} about the cache"}, {"role": "assistant", "content": "ok"}]
    deep += one_turn
    assert analyse_prompt(deep).complexity > analyse_prompt(one_turn).complexity
    assert any("conversation depth" in s for s in analyse_prompt(deep).signals)


# --- signals ------------------------------------------------------------------------------------------------------


def test_signals_mention_what_was_found() -> None:
    code = analyse("Fix this:\n```python\ndef f(x):\n    return x ** 2\n```")
    assert "code block" in code.signals
    math_result = analyse("Evaluate $\\frac{1}{2} + \\frac{1}{3}$")
    assert "math notation" in math_result.signals
    design = analyse(SYSTEM_DESIGN)
    assert any(s.startswith("multi-step markers: ") for s in design.signals)
    assert any(s.startswith("constraints: ") for s in design.signals)
    assert any(s.startswith("reasoning markers: ") for s in design.signals)
    summary = analyse("Summarize this please")
    assert "summarization keyword: 'summarize'" in summary.signals


def test_long_prompt_signal_and_tokens() -> None:
    text = "The committee reviewed the budget and the schedule. " * 150
    result = analyse("Summarize the following:\n\n" + text)
    assert result.task == "summarization"
    assert result.prompt_tokens == math.ceil(len("Summarize the following:\n\n" + text) / 4)
    assert f"long prompt: {result.prompt_tokens:,} tokens" in result.signals


def test_keywords_in_a_long_pasted_body_count_less_than_the_instruction() -> None:
    middle = "The villain of the story compares the poem to a song, and the characters analyse why. " * 20
    filler = "The meeting ended at noon and everyone went back to their desks after lunch. " * 12
    text = "Translate the following into German:\n\n" + filler + middle + filler
    assert len(text) > 1_500
    assert analyse(text).task == "translation"
    # The same words in a short message do win.
    assert analyse("Write a story: " + middle[:300]).task == "creative"


# --- question forms -------------------------------------------------------------------------------------------------


def test_a_question_at_the_end_of_a_passage_is_reading_comprehension() -> None:
    result = analyse(PASSAGE + "According to the passage, why did the council put off the vote?")
    assert "question after a passage" in result.signals
    assert "question about the supplied text" in result.signals
    # The same question without the passage is no such thing.
    short = analyse("Why did the council put off the vote?")
    assert short.task != "extraction" and "question after a passage" not in short.signals


def test_a_request_or_pasted_code_before_the_question_is_not_reading_comprehension() -> None:
    request = analyse(PASSAGE + "Can you make this sound more cheerful?")
    assert request.task != "extraction" and "question after a passage" not in request.signals
    code = "```python\n" + "def load(path):\n    with open(path) as f:\n        return json.load(f)\n" * 10 + "```\n"
    assert len(code) > 600
    crash = analyse(code + "Why does this raise a KeyError?")
    assert crash.task == "code" and "question after a passage" not in crash.signals


def test_questions_about_a_described_situation_say_so() -> None:
    for text in ("If a glass falls off the table, what happens next?", "Where would people go to buy fresh fish?"):
        assert "question about a described situation" in analyse(text).signals
    assert "question about a described situation" not in analyse("How do I make my bread rise more?").signals


def test_knowledge_questions_say_so() -> None:
    assert "knowledge question" in analyse("Who directed the film Alien?").signals
    assert "knowledge question" not in analyse("Why do cats purr?").signals


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("Plants turn towards a window in order to", True),
        ("The tides are caused mainly by the", True),
        ("What is the capital of", False),  # a question, however cut short
        ("Can you help me plan a trip to", False),  # a request
        ("thanks, that helped a lot", False),
    ],
)
def test_unfinished_sentences(text: str, unfinished: bool) -> None:
    assert ("sentence to complete" in analyse(text).signals) is unfinished


@pytest.mark.parametrize(
    ("text", "word_list"),
    [
        ("lighthouse, storm, keeper, lantern, gull, shipwreck", True),
        ("rain; umbrella; puddle; boots; splash; laugh", True),
        ("I bought apples, pears, milk, eggs, bread and butter.", False),
        ("red, green, blue", False),  # too short to be anything but an answer or a fragment
    ],
)
def test_a_bare_list_of_words(text: str, word_list: bool) -> None:
    assert ("bare list of words to write with" in analyse(text).signals) is word_list


# --- message weighting ----------------------------------------------------------------------------------------------

CODE_SYSTEM_PROMPT = (
    "You are a senior Python engineer. Always answer with code in ```python fenced blocks```, include unit tests, "
    "type hints and a short explanation of the algorithm. Refactor and debug code when asked. def main(): pass"
)


def test_code_system_prompt_does_not_turn_a_greeting_into_code() -> None:
    result = analyse_prompt([{"role": "system", "content": CODE_SYSTEM_PROMPT}, {"role": "user", "content": "hi"}])
    assert result.task == "chat"
    assert result.task_scores["code"] > 0  # it still counts, a little
    assert any(s.startswith("system prompt: ") for s in result.signals)


def test_system_prompt_weighs_less_than_the_user_message() -> None:
    messages = [
        {"role": "system", "content": CODE_SYSTEM_PROMPT},
        {"role": "user", "content": "Translate 'good night' into Italian."},
    ]
    assert analyse_prompt(messages).task == "translation"


def test_last_user_message_weighs_most() -> None:
    messages = [
        {"role": "user", "content": "Write a Python function to merge two sorted lists."},
        {"role": "assistant", "content": "```python\ndef merge(a, b):\n    return sorted(a + b)\n```"},
        {"role": "user", "content": "Now write a haiku about merging rivers."},
    ]
    assert analyse_prompt(messages).task == "creative"


def test_earlier_turns_still_count_for_a_vague_follow_up() -> None:
    messages = [
        {"role": "user", "content": "Refactor this Python class, there's a bug:\n```python\nclass A:\n    pass\n```"},
        {"role": "assistant", "content": "Here you go."},
        {"role": "user", "content": "and now?"},
    ]
    assert analyse_prompt(messages).task == "code"


def test_multi_part_content_reads_text_and_ignores_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}},
                {"type": "text", "text": "Translate the text in this picture into French."},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ],
        }
    ]
    result = analyse_prompt(messages)
    assert result.task == "translation"
    assert result.prompt_tokens == math.ceil(len("Translate the text in this picture into French.") / 4)


# --- edge inputs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": None}],
        [{"role": "user", "content": "   \n  "}],
        [{"role": "user"}],
        [{"role": "user", "content": []}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
        [{"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]}],
        ["not a dict", 42, None],
        None,
    ],
)
def test_empty_inputs_do_not_crash(messages) -> None:
    result = analyse_prompt(messages)
    assert result.task == "chat"
    assert result.complexity_level == "low"
    assert result.prompt_tokens >= 0
    assert set(result.task_scores) == set(TASKS)


def test_no_user_message_uses_the_last_message() -> None:
    result = analyse_prompt([{"role": "system", "content": "Summarize the following text in one sentence: ..."}])
    assert result.task == "summarization"


def test_odd_shapes_do_not_crash() -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}, "plain string part", {"text": 3}]},
        {"role": "tool", "content": '{"result": 42}'},
        {"content": "no role at all: classify this as spam or not"},
        {"role": "user", "content": "```" * 50 + "\\frac{" * 50 + "$" * 101},
    ]
    result = analyse_prompt(messages)
    assert result.task in TASKS
    assert 0.0 <= result.complexity <= 1.0


def test_very_long_prompt_is_bounded() -> None:
    text = "Summarize this log:\n" + ("2024-01-01 12:00:00 INFO request handled in 12 ms path=/v1/chat\n" * 2000)
    result = analyse(text)
    assert result.prompt_tokens == math.ceil(len(text) / 4)
    assert result.task == "summarization"
    assert 0.0 <= result.complexity <= 1.0


def test_long_conversations_scan_only_recent_messages() -> None:
    old = [{"role": "user", "content": "Write a Python function with a regex"}, {"role": "assistant", "content": "ok"}]
    recent = [{"role": "user", "content": "nice"}, {"role": "assistant", "content": "thanks"}] * 5
    result = analyse_prompt(old * 20 + recent + [{"role": "user", "content": "hello again"}])
    assert result.task == "chat"
    assert result.task_scores["code"] == 0.0
    assert any("conversation depth: 26 user turns" in s for s in result.signals)
