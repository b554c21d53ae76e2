"""Prompt analysis for `auto` routing: what kind of task a chat request is, and how hard it looks.

Runs on every `auto` request, so it is pure Python: precompiled regexes and a keyword lexicon looked up in dicts,
no ML, no I/O, no Django imports. The same input always gives the same output.

Input and weighting
    `analyse_prompt(messages)` takes OpenAI chat messages. Content may be a string or a list of parts; only text
    parts ({"type": "text" | "input_text", "text": ...}) are read, images, audio and files are ignored. Each message's
    evidence is multiplied by a role weight: the last user message 1.0, earlier user messages 0.3, assistant
    messages 0.15, the system/developer prompt 0.15, tool output 0.05. What a non-primary message adds to any one task
    is capped (1.5, or 3.0 for earlier user messages), so a code-heavy system prompt nudges an ambiguous request
    towards code but cannot outvote an explicit greeting. With no user message the last message that has text is
    treated as the primary one. Only the system prompt and the 8 most recent messages are scanned (all messages
    count towards `prompt_tokens` and conversation depth).

Task detection
    Evidence is weighted hits of keywords and phrases (a lexicon matched on lower-cased word n-grams) and of
    structural patterns (code fences, stack traces, LaTeX, equations, markdown tables...). Each feature counts at
    most `cap` times. In long messages (over 1,500 characters) keywords in the first and last 600 characters, where
    the instruction usually is, count fully; keywords in the pasted body count a quarter (of their separately
    capped score, so a long body cannot saturate a cap). Structural patterns count everywhere. Very long messages
    are scanned in their first 8,000 and last 4,000 characters only.
    `chat` gets a constant 1.0, so it wins when there is no other evidence or only a stray weak cue.

    The form of the message counts too, as one feature each:
    - A question or a blank to fill ("_") at the end of a passage of prose (a message of 600 characters or more,
      without a code block) is reading comprehension, which counts as `extraction` (the answer is in the text):
      2.5, and 3.0 more when the ending points at the text ("according to the passage", "the author", "we can
      infer", "best title"...). A request phrased as a question ("can you ...?") is not one.
    - In a shorter message: a knowledge question about named things ("who wrote", "when did", "what year", "capital
      of"...) is general knowledge, `chat` 1.5; a blank to fill, or an unfinished sentence (ending on a word such as
      "of", "the", "will" without being a question), asks what fits, `reasoning` 1.5; a question about a described
      situation ("If ..., what ...", "where would you ...") `reasoning` 1.0. Lexicon phrases such as "most likely",
      "best explains", "what would happen", "is an example of" add to `reasoning` too (commonsense and science
      questions).
    - A message that is nothing but a list of words ("beach, dog, frisbee, ...") asks for text written with them:
      `creative` 1.5.
    - A function signature followed by a docstring (or a /** doc comment) asks for its body: `code` 4.0.

    Rule: the task with the highest score wins; a tie (scores within 1e-9) goes to the task that comes first in
    code > math > translation > extraction > classification > summarization > creative > analysis > reasoning > chat.

    `task_scores` holds every task's score divided by the sum of all scores (so they add up to 1, rounded to 4 places).

Complexity
    A weighted sum, clipped to [0, 1], of:
        0.30 × length           log(1 + tokens) / log(1 + 4000), capped at 1
        0.10 × code presence    code evidence / 6, capped at 1
        0.10 × math presence    math evidence / 6, capped at 1
        0.20 × multi-step       markers / 6: numbered items (bullets count half), sequence words ("first", "then",
                                "finally"... when at least two), every question after the first
        0.20 × reasoning        markers / 4: "prove", "derive", "step by step", "edge cases", "optimize",
                                "design a system", "trade-offs", "scalable"...
        0.10 × constraints      markers / 5: "must", "should not", "at most", "no more than", "without using"...
        0.05 × depth            (user turns - 1) / 5, capped at 1
    Levels: below 0.35 "low", below 0.65 "medium", otherwise "high".

`prompt_tokens` is ceil(characters of all text / 4).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["COMPLEXITY_LEVELS", "TASKS", "TIE_BREAK_ORDER", "PromptAnalysis", "analyse_prompt"]

# The values of apps.catalog.models.TaskType, in its order (not imported: this module stays free of Django).
TASKS = (
    "chat",
    "code",
    "math",
    "reasoning",
    "extraction",
    "summarization",
    "creative",
    "analysis",
    "translation",
    "classification",
)
TIE_BREAK_ORDER = (
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
_RANK = {task: i for i, task in enumerate(TIE_BREAK_ORDER)}
COMPLEXITY_LEVELS = ("low", "medium", "high")

# Pseudo-tasks: evidence for complexity, collected by the same machinery as task evidence.
_STEPS = "_steps"
_SEQ = "_seq"
_REASONING = "_reasoning"
_CONSTRAINTS = "_constraints"
_PSEUDO = (_STEPS, _SEQ, _REASONING, _CONSTRAINTS)

CHAT_BASE = 1.0
TIE_EPSILON = 1e-9

_PRIMARY_WEIGHT = 1.0
_ROLE_WEIGHTS = {"user": 0.3, "assistant": 0.15, "system": 0.15, "developer": 0.15, "tool": 0.05, "function": 0.05}
_ROLE_CAPS = {"user": 3.0}
_DEFAULT_CAP = 1.5
_ROLE_LABELS = {
    "system": "system prompt",
    "developer": "system prompt",
    "assistant": "earlier reply",
    "user": "earlier turn",
}

_LONG_MESSAGE = 1_500  # characters: above this, keywords outside the head and tail are discounted
_INTENT_ZONE = 600  # characters of head and of tail that count as the instruction
_BODY_FACTOR = 0.25
_SCAN_HEAD = 8_000
_SCAN_TAIL = 4_000
_RECENT_MESSAGES = 8  # besides the system prompt and the primary message, only this many recent messages are scanned

# ---------------------------------------------------------------------------------------------------------------
# Lexicon: phrase -> (task, weight, cap). Phrases are matched on word n-grams (1-3 words) of the lower-cased text,
# tokenised like the text, so "trade-off" matches "trade off" and "trade-offs" is listed separately.
# ---------------------------------------------------------------------------------------------------------------
_LEXICON_SPEC: dict[str, tuple[tuple[str, float], ...]] = {}


def _lex(task: str, weight: float, phrases: str) -> None:
    for phrase in phrases.split("|"):
        _LEXICON_SPEC[phrase] = (*_LEXICON_SPEC.get(phrase, ()), (task, weight))


_lex(
    "code",
    1.5,
    "refactor|refactoring|debug|debugging|bug|bugs|compile|compiler|compiles|compilation|regex|regexp|"
    "regular expression|unit test|unit tests|python|javascript|typescript|java|golang|rust|kotlin|c++|c#|"
    "sql|bash|django|react|numpy|pandas|stack trace|traceback|segfault|null pointer|runtime error|"
    "syntax error|source code|codebase|snippet|repository|pull request|git|docker|dockerfile|kubernetes|"
    "lint|linter|type hints|big o|linked list|hash map",
)
_lex(
    "code",
    0.75,
    "code|function|method|variable|algorithm|script|library|implement|implementation|exception|runtime|"
    "string|array|recursion|recursive|api|endpoint|json|yaml|class|query|program|loop|return|returns",
)
_lex(
    "math",
    2.0,
    "solve|prove|proof|integral|integrate|derivative|differentiate|equation|equations|theorem|lemma|"
    "polynomial|probability|matrix|eigenvalue|eigenvalues|logarithm|factorial|prime number|prime numbers|"
    "primes|divisible|remainder|modulo|calculus|algebra|geometry|trigonometry|simplify|quadratic|"
    "hypotenuse|arithmetic|integer|integers|real numbers|limit of|converge|converges|inequality",
)
_lex(
    "math",
    1.0,
    "calculate|compute|sum of|product of|triangle|circle|radius|perimeter|fraction|digits|digit|"
    "expected value|variance|median|square root|multiple of|multiples of|divisor|divisors|gcd|lcm|"
    "greatest common|least common|possible value|maximum value|minimum value|positive integer|"
    "positive integers|number of ways|nonnegative|non-negative|real number|expression|rational|irrational|"
    "coefficient|coefficients|vertex|vertices|parabola|slope|intercept|exponent|sqrt",
)
_lex(
    "math",
    0.5,
    "how many|how much|percent|percentage|average|ratio|area|volume|angle|sequence|series|mean|total|each|"
    "per|altogether|left over|in all",
)
_lex(
    "reasoning",
    2.5,
    "step by step|step-by-step|explain your reasoning|show your reasoning|think through|think it through",
)
_lex(
    "reasoning",
    2.0,
    "reasoning|puzzle|riddle|logic|logical|logically|deduce|deduction|infer|inference|clue|clues|"
    "syllogism|premise|premises|fallacy|trade-off|trade-offs|tradeoff|tradeoffs|explain why|"
    "think carefully|must be true|knights and knaves|contradiction|paradox",
)
_lex(
    "reasoning",
    1.0,
    "why|therefore|hence|suppose|assume|assuming|implies|justify|what would happen|what happens if|"
    "consequence|consequences|conclude|conclusion|should i|which is better|is it better",
)
_lex("reasoning", 0.5, "reason|because|explain")
# Questions that ask what follows, what explains or what is likely: commonsense and science reasoning.
_lex(
    "reasoning",
    2.0,
    "most likely|least likely|best explains|best describes|would happen|will happen|might happen|could happen|"
    "is an example of|are examples of",
)
_lex(
    "reasoning",
    1.0,
    "likely|probably|cause|causes|caused|what should|what would|what might|which statement|which of these|"
    "which of the following",
)
_lex("extraction", 3.0, "extract|extracts|extracting|extraction|named entities|named entity")
_lex(
    "extraction",
    2.0,
    "list all|list every|list each|parse|pull out|find all|identify all|key-value|key value pairs|"
    "structured data|fields|entities",
)
_lex("extraction", 0.75, "names|dates|email addresses|phone numbers|addresses|amounts|prices|invoice|json|csv|schema")
_lex("summarization", 3.5, "summarize|summarise|summarizing|summarising|summary|summarization|summarisation|tl dr|tldr")
_lex(
    "summarization",
    2.0,
    "key points|key takeaways|main points|main ideas|main idea|gist|condense|recap|synopsis|boil down|"
    "shorten|brief overview|in a nutshell|executive summary",
)
_lex(
    "creative",
    1.5,
    "fiction|fictional|imagine|creative|creatively|once upon a time|rhyme|rhymes|stanza|fairy tale|"
    "short story|slogan|tagline|brainstorm|whimsical|bedtime story|worldbuilding|plot twist",
)
_lex(
    "creative",
    0.75,
    "story|stories|poem|poems|poetry|song|lyrics|haiku|sonnet|limerick|plot|narrative|villain|protagonist|"
    "verse|fantasy|screenplay|dragon",
)
_lex("creative", 1.0, "character|characters|tale|novel|dialogue|scene|metaphor")
_lex(
    "analysis",
    3.0,
    "analyze|analyse|analysis|analyzing|analysing|pros and cons|advantages and disadvantages|"
    "strengths and weaknesses|swot",
)
_lex(
    "analysis",
    2.0,
    "compare|comparing|comparison|contrast|evaluate|assess|assessment|critique|insights|insight|trends|"
    "trend|correlation|implications|root cause|interpret|breakdown|versus|vs",
)
_lex("analysis", 1.0, "data|dataset|metrics|impact|performance|quarter|revenue|growth|review")
_lex(
    "translation",
    4.0,
    "translate|translates|translated|translating|translation|traduire|traducir|traduci|übersetze|übersetzen",
)
_lex("translation", 2.5, "how do you say|how would you say|how do i say|what does this mean in")
_lex(
    "classification",
    3.5,
    "classify|classifying|classification|categorize|categorise|categorization|categorisation|sentiment|"
    "which category|what category|which class|what type of",
)
_lex(
    "classification",
    2.0,
    "label|labels|spam|is this spam|category|categories|tag each|positive or negative|toxic|intent|genre",
)
_lex("classification", 0.75, "positive|negative|neutral|one of|belongs to|belong to")
_lex(
    "chat",
    2.0,
    "hi|hello|hey|hiya|howdy|greetings|good morning|good afternoon|good evening|how are you|what's up|"
    "thanks|thank you|nice to meet you|lol|bye|goodbye|cheers",
)
_lex(_SEQ, 1.0, "first|firstly|then|next|finally|lastly|afterwards|after that|subsequently")
_lex(_SEQ, 1.0, "secondly|thirdly|in addition|once that is done")
_lex(
    _REASONING,
    1.0,
    "prove|proof|derive|derivation|step by step|step-by-step|edge cases|edge case|optimize|optimise|"
    "optimization|optimal|design a system|system design|architecture|scalable|scalability|scale to|"
    "trade-off|trade-offs|tradeoffs|rigorous|rigorously|formally|justify|time complexity|space complexity|"
    "big o|invariant|induction|fault tolerant|fault tolerance|concurrency|distributed|in depth|in detail",
)
_lex(
    _CONSTRAINTS,
    1.0,
    "must|must not|should not|shouldn't|at most|at least|no more than|no less than|exactly|without using|"
    "do not|don't|never|within|ensure|required|requirement|requirements|constraint|constraints|only use|"
    "limited to",
)

# Per-feature caps: how many hits of one phrase count (within one message).
_LEXICON_CAP = 2
_PSEUDO_CAP = 12

# Tokens: words with inner apostrophes/hyphens, plus c++ / c# / tl;dr style names.
_TOKEN_RE = re.compile(r"c\+\+|c#|[a-z0-9\u00c0-\u024f]+(?:['’-][a-z0-9\u00c0-\u024f]+)*")


def _tokenise(text: str) -> list[str]:
    """Words of already lower-cased text."""
    return _TOKEN_RE.findall(text.replace("’", "'") if "’" in text else text)


_Hit = tuple[str, float, int, str]  # task, weight, cap, label (the signal text)


def _keyword_label(task: str, phrase: str) -> str:
    if task in _PSEUDO:
        return f"{task}:{phrase}"
    if task == "chat":
        return f"casual: {phrase!r}"
    return f"{task} keyword: {phrase!r}"


def _build_lexicon() -> tuple[dict[str, tuple[_Hit, ...]], dict[str, int]]:
    """Normalise phrases through the tokeniser; return (phrase -> hits, first word -> longest phrase length)."""
    lexicon: dict[str, tuple[_Hit, ...]] = {}
    starts: dict[str, int] = {}
    for phrase, hits in _LEXICON_SPEC.items():
        words = _tokenise(phrase.lower())
        key = " ".join(words)
        for task, weight in hits:
            cap = _PSEUDO_CAP if task in _PSEUDO else _LEXICON_CAP
            lexicon[key] = (*lexicon.get(key, ()), (task, weight, cap, _keyword_label(task, key)))
        if len(words) > 1:
            starts[words[0]] = max(starts.get(words[0], 1), len(words))
    return lexicon, starts


_LEXICON, _PHRASE_STARTS = _build_lexicon()

# ---------------------------------------------------------------------------------------------------------------
# Structural patterns: (task, weight, cap, label, regex). "content" patterns run on the whole scanned text,
# "intent" patterns on the instruction zone only.
# ---------------------------------------------------------------------------------------------------------------
_LANGUAGES = (
    "french|spanish|german|italian|portuguese|chinese|mandarin|cantonese|japanese|korean|russian|arabic|hindi|"
    "bengali|urdu|dutch|swedish|norwegian|danish|finnish|polish|czech|turkish|greek|hebrew|vietnamese|thai|"
    "indonesian|malay|tagalog|filipino|swahili|ukrainian|romanian|hungarian|persian|farsi|latin|catalan|irish|"
    "welsh|tamil|telugu|punjabi|english"
)


@dataclass(frozen=True, slots=True)
class _Pattern:
    task: str
    weight: float
    cap: int
    label: str
    regex: re.Pattern[str]
    gate: tuple[str, ...] = ()  # literals: the regex only runs when one of them is in the text (a cheap pre-check)
    lower: bool = False  # content patterns: run on the lower-cased text (intent patterns always are)


_M = re.MULTILINE

# Run on the scanned text of each message (case-sensitive unless lower=True). Gates are substrings of that text.
_CONTENT_PATTERNS = (
    _Pattern("code", 3.0, 2, "code block", re.compile(r"^\s*```", _M), ("```",)),
    _Pattern(
        "code",
        2.0,
        4,
        "code syntax",
        re.compile(
            r"^[ \t]*(?:def [A-Za-z_]\w*\s*\(|class [A-Z_]\w*\s*[(:{]|import [\w.]+|from [\w.]+ import "
            r"|#include\s*[<\"]|function\s*\w*\s*\(|(?:const|let|var) \w+\s*="
            r"|(?:public|private|protected) (?:static )?\w+"
            r"|package [\w.]+;?$|fn \w+\s*[(<]|func \w+\s*\(|(?:SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE) "
            r"|return\b.*;$|if\s*\(.*\)\s*\{|for\s*\(.*\)\s*\{|}\s*else\s*\{|#!/)",
            _M,
        ),
    ),
    _Pattern(
        "code",
        4.0,
        1,
        "function signature with a docstring",
        re.compile(r"^[ \t]*def [A-Za-z_]\w*\s*\([^)]*\)[^:\n]*:[ \t]*\n\s*(?:\"{3}|'{3})|^[ \t]*/\*\*\s*$", _M),
        ('"""', "'''", "/**"),
    ),
    _Pattern(
        "code",
        1.0,
        4,
        "code tokens",
        re.compile(
            r"console\.log|print\(|printf\(|System\.out|self\.\w|this\.\w|=>|->\s*\w|::\w|None\b|True\b|False\b"
            r"|null;|\(\)\s*[;{]|\]\s*=[^=]"
        ),
    ),
    _Pattern(
        "code",
        3.0,
        2,
        "stack trace / error output",
        re.compile(
            r"Traceback \(most recent call last\)|^\s+at [\w.$<>]+\([\w.]*:\d+\)|(?:Error|Exception):\s"
            r"|Segmentation fault|panicked at|undefined reference to|^\s*File \"[^\"]+\", line \d+",
            _M,
        ),
        (
            "Traceback",
            "Error:",
            "Exception:",
            "Segmentation fault",
            "panicked at",
            "undefined reference",
            'File "',
            ".java:",
        ),
    ),
    _Pattern(
        "code",
        1.0,
        3,
        "file names",
        re.compile(r"\.(?:py|js|mjs|ts|tsx|jsx|java|cpp|cc|hpp|go|rs|rb|php|cs|swift|kt|scala|sh|sql|ipynb|vue)\b"),
    ),
    _Pattern(
        "code", 2.0, 2, "doctest / REPL", re.compile(r"^\s*(?:>>>|In \[\d+\]:|\$ [a-z]+ -)", _M), (">>>", "In [", "$ ")
    ),
    _Pattern("code", 2.0, 1, "SQL query", re.compile(r"\bSELECT\b[\s\S]{1,200}?\bFROM\b"), ("SELECT",)),
    _Pattern(
        "reasoning",
        2.0,
        3,
        "logic puzzle",
        re.compile(
            r"\b(?:each|every) person (?:has|is|likes|plays|owns|lives)\b|\bdirectly (?:left|right) of\b"
            r"|\bnext to each other\b|^\s*clues?(?:\(s\))?:|\b(?:always|never) lies?\b|\bknights? and knaves?\b",
            _M,
        ),
        ("person", "directly", "next to each other", "clue", "lie", "knight"),
        lower=True,
    ),
    _Pattern(
        "math",
        2.0,
        3,
        "math notation",
        re.compile(
            r"\\(?:frac|dfrac|int|iint|oint|sum|prod|sqrt|lim|cdot|times|div|pi|theta|alpha|beta|gamma|delta|lambda"
            r"|sigma|infty|le|leq|ge|geq|neq|binom|log|ln|sin|cos|tan|pm|partial|nabla|mathbb|boxed|left|right)(?![A-Za-z])"
        ),
        ("\\",),
    ),
    _Pattern("math", 2.0, 3, "math symbols", re.compile(r"[∫∑∏√∞≤≥≠±π∂]")),
    _Pattern(
        "math",
        1.5,
        2,
        "inline LaTeX",
        re.compile(r"\$[^$\n]{0,60}[=^_\\+<>][^$\n]{0,60}\$|\$[A-Za-z\\][^$\s]{0,20}\$|\$\$|\\\[|\\\("),
        ("$", "\\[", "\\("),
    ),
    _Pattern("math", 1.5, 3, "exponent", re.compile(r"[A-Za-z0-9)}]\^[{(]?[-\w]"), ("^",)),
    _Pattern(
        "math",
        1.5,
        3,
        "equation",
        re.compile(r"(?<![\w.])\d*[a-z](?:\^\d+)?(?:\s*[-+*/]\s*\d*[a-z]?(?:\^\d+)?)*\s*=\s*-?\d+(?:\.\d+)?(?![\w.])"),
        ("=",),
    ),
    _Pattern(
        "math", 1.5, 2, "function notation", re.compile(r"\b[fgh]\([a-z]\)|\bd[xy]/d[xy]\b"), ("f(", "g(", "h(", "/d")
    ),
    _Pattern(
        "math",
        1.0,
        3,
        "arithmetic expression",
        re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s*(?:[+*×÷^]|\s-\s|/(?=\s*\d+\s*[^/\d]))\s*\(?\d+(?:\.\d+)?(?![\w/])"),
        ("+", "*", "×", "÷", "^", " - ", "/"),
    ),
    _Pattern("analysis", 1.0, 4, "data table", re.compile(r"^\s*\|[^|\n]*\|[^|\n]*\|", _M), ("|",)),
    _Pattern(
        _STEPS,
        1.0,
        _PSEUDO_CAP,
        "numbered item",
        re.compile(r"^\s*(?:\d{1,2}[.)]|step \d+[:.)]?)\s+\S", _M),
        lower=True,
    ),
    _Pattern(_STEPS, 0.5, _PSEUDO_CAP, "bullet item", re.compile(r"^\s*[-*•]\s+\S", _M)),
)

# Run on the lower-cased instruction zone of each message. Gates are words (tokens) of that zone.
_CREATIVE_FORMS = (
    "story|stories|poem|poems|song|lyrics|haiku|sonnet|limerick|fable|fairy tale|tale|ballad|rap|"
    "screenplay|monologue|short film|novel|chapter|bedtime story|verse|jingle|slogan|riddle for"
)
_CODE_ARTEFACTS = "function|program|script|class|method|module|snippet|query|regex|unit tests?|endpoint|cli|code"
_LANGUAGE_WORDS = tuple(_LANGUAGES.split("|"))
_INTENT_PATTERNS = (
    _Pattern(
        "code",
        3.0,
        1,
        "asks for code",
        re.compile(
            rf"\b(?:write|implement|create|code|fix|debug|refactor|generate)\b(?:\s+\w+){{0,4}}?\s+(?:{_CODE_ARTEFACTS})\b"
        ),
        ("function", "program", "script", "class", "method", "module", "snippet", "query", "regex", "unit", "code"),
    ),
    _Pattern(
        "creative",
        4.0,
        1,
        "asks for creative writing",
        re.compile(
            r"\b(?:write|compose|create|craft|draft|pen|tell|generate|make up|come up with)\b(?:\s+[\w'-]+){0,5}?\s+"
            rf"(?:{_CREATIVE_FORMS})\b"
        ),
        (*(form.split()[-1] for form in _CREATIVE_FORMS.split("|")), "riddle"),
    ),
    _Pattern(
        "translation",
        2.5,
        2,
        "target language",
        re.compile(rf"\b(?:into|to|from)\s+(?:{_LANGUAGES})\b|\b(?:{_LANGUAGES})\s+translation\b"),
        _LANGUAGE_WORDS,
    ),
    _Pattern(
        "translation",
        1.5,
        2,
        "language mention",
        re.compile(rf"\bin\s+(?!english\b)(?:{_LANGUAGES})\b"),
        _LANGUAGE_WORDS,
    ),
    _Pattern(
        "summarization",
        2.0,
        1,
        "length limit",
        re.compile(
            r"\b(?:in|to|into|under|within|at most)\s+(?:\d+|one|two|three|four|five|a few|a couple of)\s+"
            r"(?:words|sentences?|bullets?|bullet points|lines|paragraphs?|points)\b"
        ),
        ("words", "sentence", "sentences", "bullet", "bullets", "lines", "paragraph", "paragraphs", "points"),
    ),
    _Pattern("summarization", 3.5, 1, "tl;dr", re.compile(r"\btl;?\s?dr\b"), ("tl", "tldr")),
    _Pattern(
        "extraction",
        2.5,
        1,
        "structured output",
        re.compile(
            r"\b(?:json|yaml|csv|table|dict(?:ionary)?|object)\b[^.\n]{0,30}\b(?:with|containing|having)\b[^.\n]{0,20}"
            r"\b(?:fields?|keys?|columns?|properties|attributes)\b|\b(?:return|output|respond|format)\b[^.\n]{0,20}"
            r"\b(?:as|in)\s+(?:valid\s+)?(?:json|yaml|csv)\b"
        ),
        ("json", "yaml", "csv", "table", "dict", "dictionary", "object"),
    ),
    _Pattern(
        "extraction",
        1.5,
        1,
        "from the given text",
        re.compile(
            r"\bfrom\s+(?:the|this|these)\s+(?:following|above|below|given|attached)?\s*"
            r"(?:text|passage|document|email|article|paragraph|message|invoice|receipt|resume|cv|transcript|page|notes)\b"
        ),
        ("from",),
    ),
    _Pattern(
        "classification",
        3.0,
        1,
        "is this X?",
        re.compile(
            r"\bis\s+(?:this|it|the following)\s+(?:\w+\s+){0,2}?(?:spam|phishing|toxic|offensive|positive|negative|"
            r"sarcastic|fake|legit(?:imate)?|a scam|hate speech)\b"
        ),
        (
            "spam",
            "phishing",
            "toxic",
            "offensive",
            "positive",
            "negative",
            "sarcastic",
            "fake",
            "legit",
            "scam",
            "hate",
        ),
    ),
    _Pattern("chat", 2.0, 1, "greeting", re.compile(r"^\W*(?:hi|hello|hey|yo|hiya|sup|good (?:morning|evening))\b")),
    _Pattern(_CONSTRAINTS, 1.0, _PSEUDO_CAP, "numeric limit", re.compile(r" than \d"), ("than",)),
    _Pattern(_REASONING, 1.0, _PSEUDO_CAP, "big-O", re.compile(r"\bo\((?:n|log|1)"), ("o",)),
)

_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = frozenset(
    {"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty", "thirty"}
    | {"forty", "fifty", "hundred", "thousand", "million", "twice", "thrice", "half", "double", "triple", "dozen"}
)
_QUANTITY_QUESTION_RE = re.compile(
    r"\bhow (?:many|much|long|far|old|fast|often)\b|\bwhat (?:is|was|were|are) the (?:total|sum|product|value|number"
    r"|average|probability|difference|cost|price)|\bcalculate\b|\bfind the (?:value|number|sum|total)\b"
)
_LONG_TEXT_LABEL = "long pasted text with a short instruction"

# Reading comprehension, in messages of _PASSAGE characters or more: the question is in the last _FINAL_SENTENCE.
_PASSAGE = 600  # characters: a question after at least this much text is taken to be about the text
_FINAL_SENTENCE = 200
_CLOSING = " \t\n\"')]”’"
_SENTENCE_END_RE = re.compile(r"[.!?]\s")
_BLANK_RE = re.compile(r"(?<!\w)_+(?!\w)")
_TEXT_REFERENCE_RE = re.compile(
    r"\b(?:according to|in|from|of|based on)\s+the\s+(?:passage|text|article|story|paragraph|letter|email|message"
    r"|thread|report|document|contract|excerpt|extract|transcript|conversation|dialogue|interview|speech|notice)\b"
    r"|\bthe (?:author|writer|speaker|narrator)\b"
    r"|\b(?:we can|can we|it can be|can be)\s+(?:learn|learned|learnt|infer|inferred|know|known|conclude"
    r"|concluded|tell|told)\b|\bbest title\b|\bmainly (?:about|tells?|talks?|discuss|introduc|want)"
)
_REQUEST_RE = re.compile(r"\W*(?:can|could|would|will) you\b|\W*please\b")

# Short questions (under _PASSAGE characters): what kind of answer they ask for.
_NOT_AT_SENTENCE_END = (  # words an English sentence does not end on
    "a an the of to in on at by for with from into onto among between through than as because since while if and or "
    "but is are was were been will would can could may might must should their its his her our your my many very every "
    "called known"
)
_UNFINISHED_ENDINGS = frozenset(_NOT_AT_SENTENCE_END.split())
_QUESTION_WINDOW = 200  # characters at the end of a short message where its question is looked for
_KNOWLEDGE_START_RE = re.compile(r"\W*(?:who|whom|whose)\b|\W*where (?:is|are|was|were|did|does) the\b")
_KNOWLEDGE_QUESTION_RE = re.compile(
    r"\bwho (?:is|was|were|did|does|wrote|played|plays|sang|sings|won|directed|invented|discovered|founded|created"
    r"|starred|became|has|had)\b|\bwhen (?:is|was|were|did|does|do|will)\b|\bwhat (?:year|century|decade|date)\b"
    r"|\bin which (?:year|country|city|film|movie|novel|book|sport|state|war)\b"
    r"|\b(?:name (?:the|of)|capital of|born (?:in|on))\b"
)
_WORD_LIST_RE = re.compile(r"^\W*[a-z][\w'-]*(?: [a-z][\w'-]*)?(?:\s*[,;]\s*[a-z][\w'-]*(?: [a-z][\w'-]*)?){5,}\W*$")
_QUESTION_START_RE = re.compile(r"^\W*(?:who|whom|whose|what|when|where|which|why|how)\b")
_CONDITIONAL_QUESTION_RE = re.compile(
    r"^\W*(?:if|when|after|before|as)\b[^?]{3,}?,[^?]*\b(?:what|which|where|how|who)\b"
)
_SITUATION_QUESTION_RE = re.compile(
    r"\b(?:what|where|why|who)\s+(?:would|might|could|should|will)\s+(?:you|one|someone|people|a person|i|we|they"
    r"|he|she)\b"
)
_WORD_PROBLEM_LABEL = "word problem with quantities"


@dataclass(frozen=True, slots=True)
class PromptAnalysis:
    """The result of `analyse_prompt`. `task_scores` is a plain dict, so instances are not hashable."""

    task: str
    task_scores: dict[str, float]
    complexity: float
    complexity_level: str
    signals: tuple[str, ...]
    prompt_tokens: int


# ---------------------------------------------------------------------------------------------------------------
# Message handling
# ---------------------------------------------------------------------------------------------------------------


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") in ("text", "input_text"):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "\n".join(parts)
    return ""


def _role_of(message: dict) -> str:
    role = message.get("role")
    return role if isinstance(role, str) else "user"


class _Evidence:
    """Weighted evidence per feature: (task, label) -> score, for one message."""

    __slots__ = ("counts", "scores")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], float] = {}
        self.scores: dict[tuple[str, str], float] = {}

    def add(self, task: str, label: str, weight: float, hits: float, cap: float) -> None:
        key = (task, label)
        count = min(self.counts.get(key, 0.0) + hits, cap)
        self.counts[key] = count
        self.scores[key] = count * weight

    def merge(self, other: _Evidence, factor: float) -> None:
        """Add another part's (already capped) evidence, scaled by factor."""
        for key, score in other.scores.items():
            self.counts[key] = self.counts.get(key, 0.0) + other.counts[key] * factor
            self.scores[key] = self.scores.get(key, 0.0) + score * factor


def _scan_lexicon(words: list[str], factor: float, evidence: _Evidence) -> None:
    counts = Counter(words)
    lexicon = _LEXICON
    for word in counts.keys() & lexicon.keys():
        for task, weight, cap, label in lexicon[word]:
            evidence.add(task, label, weight, counts[word] * factor, cap)
    starts = _PHRASE_STARTS
    if counts.keys().isdisjoint(starts):
        return
    n = len(words)
    for i in [i for i, word in enumerate(words) if word in starts]:
        for size in range(2, min(starts[words[i]], n - i) + 1):
            hits = lexicon.get(" ".join(words[i : i + size]))
            if hits is not None:
                for task, weight, cap, label in hits:
                    evidence.add(task, label, weight, factor, cap)


def _scan_patterns(
    patterns: Iterable[_Pattern], text: str, lower: str, evidence: _Evidence, words: frozenset[str] | None = None
) -> None:
    for pattern in patterns:
        subject = lower if pattern.lower else text
        if pattern.gate:
            if words is not None:
                if words.isdisjoint(pattern.gate):
                    continue
            elif not any(map(subject.__contains__, pattern.gate)):
                continue
        hits = 0
        for _ in pattern.regex.finditer(subject):
            hits += 1
            if hits >= pattern.cap:
                break
        if hits:
            evidence.add(pattern.task, pattern.label, pattern.weight, hits, pattern.cap)


def _analyse_text(text: str) -> _Evidence:
    evidence = _Evidence()
    long_scan = len(text) > _SCAN_HEAD + _SCAN_TAIL
    scanned = text[:_SCAN_HEAD] + "\n" + text[-_SCAN_TAIL:] if long_scan else text
    scanned_lower = scanned.lower()
    if len(text) > _LONG_MESSAGE:
        head, tail = text[:_INTENT_ZONE], text[-_INTENT_ZONE:]
        intent = (head + "\n" + tail).lower()
        intent_words = _tokenise(intent)
        _scan_lexicon(intent_words, 1.0, evidence)
        body = _Evidence()
        _scan_lexicon(_tokenise(scanned_lower[_INTENT_ZONE:-_INTENT_ZONE]), 1.0, body)
        evidence.merge(body, _BODY_FACTOR)
        # A long body of prose under a short instruction line is what people paste to have summarised.
        first_line = head.strip().split("\n", 1)[0]
        last_line = tail.strip().rsplit("\n", 1)[-1]
        if (len(first_line) <= 200 or len(last_line) <= 200) and "```" not in scanned:
            evidence.add("summarization", _LONG_TEXT_LABEL, 1.5, 1, 1)
    else:
        intent = scanned_lower
        intent_words = _tokenise(intent)
        _scan_lexicon(intent_words, 1.0, evidence)
    _scan_patterns(_CONTENT_PATTERNS, scanned, scanned_lower, evidence)
    _scan_patterns(_INTENT_PATTERNS, intent, intent, evidence, frozenset(intent_words))
    # Word problems: several quantities and a question about a quantity.
    asks_quantity = _QUANTITY_QUESTION_RE.search(intent) is not None
    if asks_quantity or "?" in intent:
        numbers = sum(1 for word in intent_words if word in _NUMBER_WORDS)
        for _ in _DIGITS_RE.finditer(scanned):
            numbers += 1
            if numbers >= 3:
                break
        if numbers >= 2 and asks_quantity:
            evidence.add("math", _WORD_PROBLEM_LABEL, 2.5, 1, 1)
        elif numbers >= 3:
            evidence.add("math", "question about several quantities", 1.5, 1, 1)
    if len(text) < _PASSAGE:
        if _WORD_LIST_RE.match(scanned_lower) is not None:
            # Nothing but a list of words: what such a message usually wants is text written around them.
            evidence.add("creative", "bare list of words to write with", 1.5, 1, 1)
        else:
            _question_form(scanned_lower, evidence)
    elif "```" not in scanned:
        _passage_question(scanned_lower[-_FINAL_SENTENCE:], evidence)
    return evidence


def _passage_question(ending: str, evidence: _Evidence) -> None:
    """Reading comprehension: a question, or a blank to fill, at the end of a passage of prose that holds the answer
    (a request phrased as a question, "can you ...?", is not one)."""
    ending = ending.rstrip(_CLOSING)
    question = _SENTENCE_END_RE.split(ending)[-1]
    if _REQUEST_RE.match(question) is None and (
        ending.endswith("?") or ("_" in question and _BLANK_RE.search(question) is not None)
    ):
        evidence.add("extraction", "question after a passage", 2.5, 1, 1)
    if _TEXT_REFERENCE_RE.search(ending) is not None:
        evidence.add("extraction", "question about the supplied text", 3.0, 1, 1)


def _question_form(lower: str, evidence: _Evidence) -> None:
    """A short question asks either for a fact about named things (chat: general knowledge), or for what follows,
    what fits or what is likely in a described situation (reasoning)."""
    stripped = lower.rstrip()
    question = stripped[-_QUESTION_WINDOW:]
    if _KNOWLEDGE_START_RE.match(stripped) is not None or _KNOWLEDGE_QUESTION_RE.search(question) is not None:
        evidence.add("chat", "knowledge question", 1.5, 1, 1)
    if "_" in question and _BLANK_RE.search(question) is not None:
        evidence.add("reasoning", "blank to fill", 1.5, 1, 1)
    elif (
        stripped
        and stripped[-1].isalpha()
        and stripped.rsplit(None, 1)[-1] in _UNFINISHED_ENDINGS
        and _QUESTION_START_RE.match(stripped) is None
        and _REQUEST_RE.match(stripped) is None
    ):
        evidence.add("reasoning", "sentence to complete", 1.5, 1, 1)
    if _CONDITIONAL_QUESTION_RE.match(stripped) is not None or _SITUATION_QUESTION_RE.search(question) is not None:
        evidence.add("reasoning", "question about a described situation", 1.0, 1, 1)


# ---------------------------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------------------------


def _empty() -> PromptAnalysis:
    scores = dict.fromkeys(TASKS, 0.0)
    scores["chat"] = 1.0
    return PromptAnalysis("chat", scores, 0.0, "low", ("empty prompt",), 0)


def _level(complexity: float) -> str:
    if complexity < 0.35:
        return "low"
    if complexity < 0.65:
        return "medium"
    return "high"


def analyse_prompt(messages: list[dict]) -> PromptAnalysis:
    """Classify an OpenAI chat request by task and estimate its complexity (see the module docstring)."""
    if not isinstance(messages, list | tuple):
        return _empty()
    items: list[tuple[str, str]] = []
    chars = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = _text_of(message.get("content"))
        chars += len(text)
        if text.strip():
            items.append((_role_of(message), text))
    if not items:
        return _empty() if chars == 0 else _with_tokens(_empty(), chars)

    primary = max((i for i, (role, _) in enumerate(items) if role == "user"), default=len(items) - 1)
    user_turns = sum(1 for role, _ in items if role == "user")

    totals = dict.fromkeys(TASKS, 0.0)
    totals["chat"] = CHAT_BASE
    markers = dict.fromkeys(_PSEUDO, 0.0)
    contributions: dict[str, float] = {}

    oldest = len(items) - _RECENT_MESSAGES
    for index, (role, text) in enumerate(items):
        if index < oldest and index != primary and role not in ("system", "developer"):
            continue  # old turns: counted in tokens and depth, not scanned (bounded cost on long conversations)
        evidence = _analyse_text(text)
        if index == primary:
            weight, cap, prefix = _PRIMARY_WEIGHT, math.inf, ""
        else:
            weight = _ROLE_WEIGHTS.get(role, 0.15)
            cap = _ROLE_CAPS.get(role, _DEFAULT_CAP)
            prefix = _ROLE_LABELS.get(role, role) + ": "
        per_task: dict[str, float] = {}
        for (task, label), score in evidence.scores.items():
            if task in _PSEUDO:
                markers[task] += evidence.counts[(task, label)] * weight
                continue
            per_task[task] = per_task.get(task, 0.0) + score * weight
            key = prefix + label
            contributions[key] = contributions.get(key, 0.0) + min(score * weight, cap)
        for task, score in per_task.items():
            totals[task] += min(score, cap)

    best = max(totals.values())
    winner = min((t for t in TASKS if best - totals[t] <= TIE_EPSILON), key=_RANK.__getitem__)
    total = sum(totals.values())
    task_scores = {task: round(totals[task] / total, 4) for task in TASKS}

    # Complexity.
    tokens = math.ceil(chars / 4)
    length = min(1.0, math.log1p(tokens) / math.log1p(4000))
    code_presence = min(1.0, (totals["code"]) / 6)
    math_presence = min(1.0, (totals["math"]) / 6)
    sequence = markers[_SEQ] if markers[_SEQ] >= 2 else 0.0
    questions = max(0, items[primary][1].count("?") - 1)
    steps = markers[_STEPS] + sequence + min(questions, 6)
    reasoning = markers[_REASONING]
    constraints = markers[_CONSTRAINTS]
    depth = min(1.0, max(0, user_turns - 1) / 5)
    complexity = (
        0.30 * length
        + 0.10 * code_presence
        + 0.10 * math_presence
        + 0.20 * min(1.0, steps / 6)
        + 0.20 * min(1.0, reasoning / 4)
        + 0.10 * min(1.0, constraints / 5)
        + 0.05 * depth
    )
    complexity = round(min(1.0, max(0.0, complexity)), 4)

    ranked = sorted(contributions.items(), key=lambda kv: (-kv[1], kv[0]))
    signals = [label for label, _ in ranked[:6]]
    if steps >= 1:
        signals.append(f"multi-step markers: {round(steps)}")
    if reasoning >= 1:
        signals.append(f"reasoning markers: {round(reasoning)}")
    if constraints >= 1:
        signals.append(f"constraints: {round(constraints)}")
    if user_turns > 1:
        signals.append(f"conversation depth: {user_turns} user turns")
    if tokens >= 500:
        signals.append(f"long prompt: {tokens:,} tokens")
    if not ranked and winner == "chat":
        signals.insert(0, "no task evidence: default chat")

    return PromptAnalysis(
        task=winner,
        task_scores=task_scores,
        complexity=complexity,
        complexity_level=_level(complexity),
        signals=tuple(signals),
        prompt_tokens=tokens,
    )


def _with_tokens(analysis: PromptAnalysis, chars: int) -> PromptAnalysis:
    return PromptAnalysis(
        analysis.task,
        analysis.task_scores,
        analysis.complexity,
        analysis.complexity_level,
        analysis.signals,
        math.ceil(chars / 4),
    )
