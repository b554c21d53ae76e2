"""Agreement and disagreement between several models' answers: pure functions, no database."""

import pytest

from apps.routing.consensus_scoring import (
    MAX_CLAIM_POINTS,
    MAX_NUMBER_POINTS,
    FinalAnswer,
    agreement,
    disagreements,
    final_answer,
    normalise,
    numbers,
    similarity,
)


def test_normalise_drops_case_whitespace_and_punctuation_but_keeps_numbers_whole():
    assert normalise("  The ANSWER,\n\tis:   1,000!  ") == "the answer is 1000"
    assert normalise("**Paris** — the capital (of France).") == "paris the capital of france"
    assert normalise("pi ≈ 3.14; half is 0.50") == "pi 3.14 half is 0.5"
    assert normalise("") == ""


def test_numbers_are_found_in_plain_form_once_each_and_not_inside_words():
    assert numbers("It costs $1,200.50, not 1200.5 or -3; about 42%.") == ["1200.5", "-3", "42"]
    assert numbers("Mock answer 1a2b3c4d: see v1.2 and gpt4") == []
    assert numbers("6 - 2 = 4") == ["6", "2", "4"]
    assert numbers("It weighs 42.0 kg, i.e. 42 kg.") == ["42"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # After an "answer"/"therefore" marker: a choice letter, yes/no, or a number.
        ("The answer is 42.", FinalAnswer("number", "42")),
        ("Let me work it out: 6 x 7 = 42, so the final answer is 42.0", FinalAnswer("number", "42")),
        ("Therefore, the result is -7", FinalAnswer("number", "-7")),
        ("**Answer:** B", FinalAnswer("choice", "B")),
        ("The answer is (c) because the others are wrong.", FinalAnswer("choice", "C")),
        ("Answer: B. The other answer is wrong.", FinalAnswer("choice", "B")),
        ("The answer is yes, it does.", FinalAnswer("boolean", "yes")),
        ("Thus: False", FinalAnswer("boolean", "no")),
        ("Answer: 1,000 apples in 12 baskets", FinalAnswer("number", "1000")),
        # Without a marker: a choice letter, a leading yes/no, then the last number of a short answer.
        ("I would pick (D) since 2 + 2 = 4.", FinalAnswer("choice", "D")),
        ("Option A is the one.", FinalAnswer("choice", "A")),
        ("B) Paris", FinalAnswer("choice", "B")),
        ("C", FinalAnswer("choice", "C")),
        ("Yes, because 3 > 2.", FinalAnswer("boolean", "yes")),
        ("true", FinalAnswer("boolean", "yes")),
        ("No.", FinalAnswer("boolean", "no")),
        ("There are 3 apples and 4 oranges, so 7 fruits.", FinalAnswer("number", "7")),
        ("42", FinalAnswer("number", "42")),
    ],
)
def test_final_answer_is_extracted(text, expected):
    assert final_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Paris is the capital of France.",
        "A good question: Paris, I would say.",  # an article, not a choice
        "The answer is Berlin.",  # a word after the marker, not a letter
        "Nothing is certain here.",  # 'no' only as part of a word
        "Mock answer 1a2b3c4d: you said hello",  # digits inside a word are no number
        # A long answer without a marker: its last number is a detail, not the answer.
        "The Eiffel Tower stands in Paris, was designed by Gustave Eiffel's company and was finished in 1889.",
    ],
)
def test_no_final_answer(text):
    assert final_answer(text) is None


def test_similarity_is_the_jaccard_index_of_the_word_sets():
    assert similarity("The cat sat.", "the CAT sat!!") == 1.0
    assert similarity("a b c d", "a b x y") == pytest.approx(2 / 6)
    assert similarity("one two", "three four") == 0.0
    assert similarity("", "...") == 1.0


def test_agreement_is_the_share_of_pairs_with_the_same_final_answer():
    three = {"m1": "The answer is 42.", "m2": "42", "m3": "I believe the answer is 41."}
    assert agreement(three) == pytest.approx(1 / 3, abs=1e-4)
    assert agreement({"m1": "The answer is 42.", "m2": "It is 42.0", "m3": "Answer: 42"}) == 1.0
    assert agreement({"m1": "Yes.", "m2": "No.", "m3": "Answer: B"}) == 0.0
    assert agreement({"m1": "True", "m2": "Yes, it is."}) == 1.0
    four = {"a": "(A)", "b": "(A)", "c": "(B)", "d": "(B)"}
    assert agreement(four) == pytest.approx(2 / 6, abs=1e-4)


def test_agreement_falls_back_to_text_similarity_when_an_answer_has_no_final_answer():
    same = {"m1": "Paris is the capital of France.", "m2": "paris is the CAPITAL of france"}
    assert agreement(same) == 1.0
    mixed = {"m1": "Paris is the capital.", "m2": "Lyon is big.", "m3": "The answer is 42."}
    # {paris,is,the,capital} {lyon,is,big} {the,answer,is,42}: 1/6, 2/6, 1/6
    assert agreement(mixed) == pytest.approx((1 / 6 + 2 / 6 + 1 / 6) / 3, abs=1e-4)


def test_agreement_needs_two_answers_and_is_deterministic():
    assert agreement({}) is None
    assert agreement({"m1": "42"}) is None
    answers = {"m1": "Paris is lovely in spring.", "m2": "Spring in Paris is lovely.", "m3": "Rome."}
    assert agreement(answers) == agreement(dict(answers))
    assert 0.0 <= agreement(answers) <= 1.0


def test_differing_final_answers_are_the_first_point_with_every_models_position():
    points = disagreements({"m1": "The answer is 42.", "m2": "42", "m3": "I believe the answer is 41."})
    assert points == [
        {"kind": "final_answer", "topic": "final answer", "positions": {"m1": "42", "m2": "42", "m3": "41"}}
    ]


def test_a_model_without_a_final_answer_shows_none_when_others_differ():
    points = disagreements({"m1": "Answer: B", "m2": "I am not sure at all.", "m3": "Answer: C"})
    assert points[0]["positions"] == {"m1": "B", "m2": None, "m3": "C"}


def test_agreeing_answers_have_no_disagreements():
    assert disagreements({"m1": "The answer is 42.", "m2": "Answer: 42"}) == []
    assert disagreements({"m1": "Paris is the capital of France.", "m2": "Paris is the capital of France."}) == []
    assert disagreements({"m1": "only one"}) == []


def test_numbers_stated_by_some_answers_only_are_points():
    answers = {
        "m1": "The Eiffel Tower was completed in 1889. Today it is 330 metres tall, antennas included.",
        "m2": "Completed in 1889, the Eiffel Tower stands 324 metres tall, antennas included.",
        "m3": "The Eiffel Tower in Paris is 330 metres tall with its antennas and was finished in 1889.",
    }
    points = disagreements(answers)
    number_points = [p for p in points if p["kind"] == "number"]
    assert number_points == [
        {"kind": "number", "topic": "330", "positions": {"m1": True, "m2": False, "m3": True}},
        {"kind": "number", "topic": "324", "positions": {"m1": False, "m2": True, "m3": False}},
    ]
    assert not [p for p in points if p["kind"] == "final_answer"]  # long answers: no final answer to compare


def test_claims_made_by_some_answers_only_are_points_and_paraphrases_are_not():
    answers = {
        "m1": "The Eiffel Tower was completed in 1889. It stands in Paris.",
        "m2": "Completed in 1889, the Eiffel Tower stands in Paris. It was designed by Gustave Eiffel's company.",
    }
    points = disagreements(answers)
    assert points == [
        {
            "kind": "claim",
            "topic": "It was designed by Gustave Eiffel's company.",
            "positions": {"m1": False, "m2": True},
        }
    ]


def test_final_answer_numbers_are_not_repeated_as_number_points():
    points = disagreements({"m1": "Answer: 12", "m2": "Answer: 13"})
    assert [p["kind"] for p in points] == ["final_answer"]


CLAIMS = [
    "Cats chase small mice.",
    "Dogs bury juicy bones.",
    "Owls hunt during nights.",
    "Ants carry heavy leaves.",
    "Elks roam northern forests.",
    "Foxes dig sandy dens.",
    "Bees make golden honey.",
]


def test_points_are_capped():
    many = " ".join(f"{n}." for n in range(100, 120))
    answers = {
        "m1": many + " " + " ".join(CLAIMS),
        "m2": "Nothing in common here at all.",
    }
    points = disagreements(answers)
    assert len([p for p in points if p["kind"] == "number"]) == MAX_NUMBER_POINTS
    assert len([p for p in points if p["kind"] == "claim"]) == MAX_CLAIM_POINTS


def test_long_claims_are_cut_for_the_topic():
    sentence = "Zebras gallop across wide golden savanna plains" + " endlessly" * 20 + "."
    [point] = disagreements({"m1": sentence, "m2": "Horses trot slowly through meadows."})[:1]
    assert point["kind"] == "claim"
    assert len(point["topic"]) == 160 and point["topic"].endswith("…")
