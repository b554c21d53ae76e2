"""How far several models' answers to one question agree, and where they part. Pure functions, no Django.

An answer's *final answer* is the short thing a question is usually after: a multiple-choice letter, yes or no, or
a number. It is what follows an "answer is" / "answer:" / "therefore" marker; failing that a choice letter such as
"(B)", an answer that starts with yes/no/true/false, or the last number of a short answer. Long answers without a
marker have none: their last number is more often a detail than the answer.

Agreement is the share of answer pairs giving the same final answer when every answer has one, otherwise the mean
pairwise similarity of the answers' words (Jaccard of the word sets). Disagreements are the final answers when they
differ, then numbers and claims that some answers make and others do not; a claim is a sentence, and another answer
makes it when it uses most of the sentence's content words. Deterministic: the same answers in the same order give
the same result.
"""

import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

SHORT_ANSWER_WORDS = 12  # up to this many words, an answer's last number is its final answer
MIN_CLAIM_WORDS = 3  # content words a sentence needs to count as a claim ("The answer is 42." is not one)
CLAIM_MATCH = 0.6  # share of a claim's content words another answer must use to make the same claim
MAX_NUMBER_POINTS = 5
MAX_CLAIM_POINTS = 5
MAX_TOPIC_CHARS = 160

_THOUSANDS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_NUMBER = re.compile(rf"(?<![\w.,])-?(?:{_THOUSANDS}|\d+(?:\.\d+)?)(?!\w|[.,]\d)")
_WORD = re.compile(rf"{_THOUSANDS}|\d+(?:\.\d+)?|[^\W\d_]+")
_MARKER = re.compile(r"\b(?:final\s+answer|answer|result|therefore|thus|hence)\b(?:\s+(?:is|would\s+be))?", re.I)
_CHOICE_AFTER_MARKER = re.compile(r"^[\s:=\-–—,]*(?:\(([A-Ha-h])\)|([A-H])(?![\w']))")
_BOOLEAN_AFTER_MARKER = re.compile(r"^[\s:=\-–—,]*(yes|no|true|false)\b", re.I)
_NUMBER_AFTER_MARKER = re.compile(rf"^[\s:=–—,$€£]*({_NUMBER.pattern})")
_CHOICE_IN_PARENS = re.compile(r"\(([A-H])\)")
_CHOICE_NAMED = re.compile(r"\b(?:option|choice)\s+\(?([A-H])\)?(?![\w'])", re.I)
_CHOICE_ALONE = re.compile(r"^\W*\(?([A-H])(?:[).:]|\W*$)")
_LEADING_BOOLEAN = re.compile(r"^\W*(yes|no|true|false)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_BOOLEANS = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
# Words that carry no claim of their own, left out when claims are compared.
_STOPWORDS = """a about above after again all also am an and any are as at be because been being but by can could did do
    does doing for from had has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not of off on once only or other our ours out over own same she should so some such than that the
    their theirs them then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours answer believe think"""
STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    kind: str  # choice | boolean | number
    value: str  # "B"; "yes" or "no" (true/false count as yes/no); a number in plain decimal form ("1200", "0.5")


def _unmark(text: str) -> str:
    """Unicode-normalised, without markdown emphasis, with an ASCII minus sign."""
    return unicodedata.normalize("NFKC", text).replace("−", "-").replace("*", "").replace("`", "").strip()


def plain_number(text: str) -> str:
    """'1,200.50' → '1200.5', '42.0' → '42', '-0' → '0'."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return text
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def words(text: str) -> list[str]:
    """The answer's words, case-folded, without punctuation; numbers in plain form."""
    return [plain_number(w) if w[0].isdigit() else w for w in _WORD.findall(_unmark(text).casefold())]


def normalise(text: str) -> str:
    """Case, whitespace and punctuation removed: 'The answer is 1,000!' → 'the answer is 1000'."""
    return " ".join(words(text))


def numbers(text: str) -> list[str]:
    """Every number the text states, in plain form, in order of first mention."""
    found = (plain_number(n) for n in _NUMBER.findall(_unmark(text)))
    return list(dict.fromkeys(found))


def _value_after_marker(rest: str) -> FinalAnswer | None:
    if match := _CHOICE_AFTER_MARKER.match(rest):
        return FinalAnswer("choice", (match.group(1) or match.group(2)).upper())
    if match := _BOOLEAN_AFTER_MARKER.match(rest):
        return FinalAnswer("boolean", _BOOLEANS[match.group(1).lower()])
    if match := _NUMBER_AFTER_MARKER.match(rest):
        return FinalAnswer("number", plain_number(match.group(1)))
    return None


def final_answer(text: str) -> FinalAnswer | None:
    """The short answer an answer gives, if it gives one (see the module's docstring for the rules, in order)."""
    unmarked = _unmark(text)
    for marker in reversed(list(_MARKER.finditer(unmarked))):
        if found := _value_after_marker(unmarked[marker.end() :]):
            return found
    choices = _CHOICE_IN_PARENS.findall(unmarked) or _CHOICE_NAMED.findall(unmarked)
    if choices:
        return FinalAnswer("choice", choices[-1].upper())
    if match := _CHOICE_ALONE.match(unmarked):
        return FinalAnswer("choice", match.group(1))
    if match := _LEADING_BOOLEAN.match(unmarked):
        return FinalAnswer("boolean", _BOOLEANS[match.group(1).lower()])
    if len(words(unmarked)) <= SHORT_ANSWER_WORDS and (stated := _NUMBER.findall(unmarked)):
        return FinalAnswer("number", plain_number(stated[-1]))
    return None


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets; two empty texts are the same."""
    return _jaccard(set(words(a)), set(words(b)))


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def agreement(answers: Mapping[str, str]) -> float | None:
    """From 0 (no two answers agree) to 1 (all agree); None with fewer than two answers. `answers`: model → text."""
    texts = list(answers.values())
    if len(texts) < 2:
        return None
    pairs = list(itertools.combinations(range(len(texts)), 2))
    finals = [final_answer(text) for text in texts]
    if all(f is not None for f in finals):
        share = sum(finals[i] == finals[j] for i, j in pairs) / len(pairs)
    else:
        sets = [set(words(text)) for text in texts]
        share = sum(_jaccard(sets[i], sets[j]) for i, j in pairs) / len(pairs)
    return round(share, 4)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _content_words(text: str) -> set[str]:
    """The words that make a claim: no stop words, no single letters, no numbers (those are compared on their own)."""
    return {w for w in words(text) if len(w) > 1 and not w[0].isdigit() and w not in STOPWORDS}


def _topic(sentence: str) -> str:
    return sentence if len(sentence) <= MAX_TOPIC_CHARS else sentence[: MAX_TOPIC_CHARS - 1].rstrip() + "…"


def disagreements(answers: Mapping[str, str]) -> list[dict]:
    """Points where the answers differ, each `{"kind", "topic", "positions": {model: value}}`, in this order:
    the final answer when at least two answers give different ones (value: each model's, or None); numbers stated
    by some answers only (value: stated or not); claims made by some answers only (value: made or not).
    `answers`: model → text, in a stable order."""
    if len(answers) < 2:
        return []
    points = []
    finals = {model: final_answer(text) for model, text in answers.items()}
    given = {found for found in finals.values() if found is not None}
    if len(given) > 1:
        positions = {model: found.value if found else None for model, found in finals.items()}
        points.append({"kind": "final_answer", "topic": "final answer", "positions": positions})
    shown = {found.value for found in given if found.kind == "number"} if len(given) > 1 else set()
    points += _number_points(answers, shown)
    points += _claim_points(answers)
    return points


def _number_points(answers: Mapping[str, str], shown: set[str]) -> list[dict]:
    """Numbers some answers state and others do not, except those the final answer point already shows."""
    stated = {model: numbers(text) for model, text in answers.items()}
    points = []
    for number in dict.fromkeys(itertools.chain.from_iterable(stated.values())):
        positions = {model: number in found for model, found in stated.items()}
        if number in shown or all(positions.values()):
            continue
        points.append({"kind": "number", "topic": number, "positions": positions})
        if len(points) == MAX_NUMBER_POINTS:
            break
    return points


def _claim_points(answers: Mapping[str, str]) -> list[dict]:
    """Sentences with MIN_CLAIM_WORDS content words or more, most of which some other answer does not use."""
    vocabulary = {model: _content_words(text) for model, text in answers.items()}
    points: list[dict] = []
    listed: list[set[str]] = []
    for text in answers.values():
        for sentence in _sentences(text):
            claim = _content_words(sentence)
            if len(claim) < MIN_CLAIM_WORDS or any(_jaccard(claim, known) >= CLAIM_MATCH for known in listed):
                continue
            listed.append(claim)
            positions = {model: len(claim & used) / len(claim) >= CLAIM_MATCH for model, used in vocabulary.items()}
            if not all(positions.values()):
                points.append({"kind": "claim", "topic": _topic(sentence), "positions": positions})
                if len(points) == MAX_CLAIM_POINTS:
                    return points
    return points
