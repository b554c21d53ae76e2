"""The router's rules, on plain model descriptions (no database, no gateway)."""

import json
import math
from dataclasses import dataclass, field, replace

import pytest

from apps.routing import router
from apps.routing.privacy import detect_personal_data
from apps.routing.prompt_analysis import analyse_prompt


@dataclass
class FakeModel:
    model_id: str
    power_level: str = "BALANCED"
    input_price: float = 1e-6
    output_price: float = 2e-6
    quality: float = 0.5
    task_quality: dict = field(default_factory=dict)
    provider_slug: str = "acme"
    provider_priority: int = 100
    enabled: bool = True
    provider_enabled: bool = True
    deprecated: bool = False
    price_unknown: bool = False
    privacy_class: str = "standard"
    context_window: int | None = 128_000
    supports_tools: bool = True
    supports_vision: bool = True
    supports_json: bool = True

    @property
    def input_price_per_token(self) -> float:
        return self.input_price

    @property
    def output_price_per_token(self) -> float:
        return self.output_price


CHEAP = FakeModel("acme/cheap", power_level="ECO", input_price=1e-7, output_price=4e-7, quality=0.55)
MID = FakeModel("acme/mid", power_level="BALANCED", input_price=1e-6, output_price=4e-6, quality=0.7)
BIG = FakeModel("acme/big", power_level="PRECISION", input_price=1e-5, output_price=4e-5, quality=0.9)
NEEDS = router.Needs(prompt_tokens=100, max_tokens=200)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def auto(models, *, policy=None, text="Hello there, how are you?", needs=None, **kwargs) -> router.Decision:
    analysis = analyse_prompt(user(text))
    policy = policy or router.Policy()
    return router.decide_auto(
        models, needs or router.Needs(prompt_tokens=analysis.prompt_tokens), policy, requested="auto",
        analysis=analysis, findings=tuple(detect_personal_data(text)), **kwargs,
    )  # fmt: skip


class TestWeights:
    def test_defaults_and_scaling(self):
        assert router.normalise_weights(None) == router.DEFAULT_WEIGHTS
        assert router.normalise_weights({"cost": 2, "quality": 2}) == {"cost": 0.5, "latency": 0.0, "quality": 0.5}

    @pytest.mark.parametrize(
        ("weights", "message"),
        [
            ({"cost": -1, "quality": 1}, "non-negative"),
            ({"cost": True}, "non-negative"),
            ({"cost": "high"}, "non-negative"),
            ({"speed": 1}, "Unknown routing weight"),
            ({"cost": 0, "latency": 0, "quality": 0}, "above zero"),
            ([1, 2, 3], "must be an object"),
        ],
    )
    def test_nonsense_is_refused(self, weights, message):
        with pytest.raises(router.InvalidPolicy, match=message):
            router.normalise_weights(weights)

    def test_power_levels(self):
        assert router.power_level_of("eco") == "ECO"
        with pytest.raises(router.InvalidPolicy, match="Unknown power level"):
            router.power_level_of("turbo")


class TestNeeds:
    def test_read_from_the_body(self):
        body = {
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "response_format": {"type": "json_object"},
            "max_tokens": 50,
        }
        assert router.Needs.of(body, prompt_tokens=9) == router.Needs(9, 50, tools=True, vision=True, json=True)

    def test_tool_choice_none_needs_no_tools(self):
        body = {"messages": user("hi"), "tools": [{"type": "function"}], "tool_choice": "none"}
        assert not router.Needs.of(body, prompt_tokens=1).tools


class TestExclusions:
    @pytest.mark.parametrize(
        ("model", "needs", "kwargs", "code"),
        [
            (FakeModel("m", enabled=False), NEEDS, {}, "disabled"),
            (FakeModel("m", provider_enabled=False), NEEDS, {}, "disabled"),
            (FakeModel("m", deprecated=True), NEEDS, {}, "deprecated"),
            (FakeModel("m", price_unknown=True), NEEDS, {}, "price_unknown"),
            (FakeModel("m", supports_tools=False), router.Needs(10, tools=True), {}, "capability"),
            (FakeModel("m", supports_vision=False), router.Needs(10, vision=True), {}, "capability"),
            (FakeModel("m", supports_json=False), router.Needs(10, json=True), {}, "capability"),
            (FakeModel("m", context_window=1000), router.Needs(900, max_tokens=200), {}, "context_length"),
            (FakeModel("m"), NEEDS, {"privacy_restricted": True}, "privacy"),
            (FakeModel("m"), NEEDS, {"open_circuits": {"m"}}, "circuit_open"),
            (FakeModel("m"), NEEDS, {"has_key": False}, "provider_key_missing"),
        ],
    )
    def test_each_reason(self, model, needs, kwargs, code):
        kwargs = {"privacy_restricted": False, **kwargs}
        found = router.exclusion(model, needs, auto=True, **kwargs)
        assert found is not None and found.code == code and found.model == "m" and found.reason

    def test_trusted_and_local_providers_pass_privacy(self):
        for privacy_class in ("local", "trusted"):
            model = FakeModel("m", privacy_class=privacy_class)
            assert router.exclusion(model, NEEDS, auto=True, privacy_restricted=True) is None

    def test_a_named_model_skips_capability_price_and_deprecation_checks(self):
        model = FakeModel("m", supports_tools=False, price_unknown=True, deprecated=True)
        assert router.exclusion(model, router.Needs(10, tools=True), auto=False, privacy_restricted=False) is None

    def test_fits_exactly(self):
        model = FakeModel("m", context_window=1000)
        assert router.exclusion(model, router.Needs(800, max_tokens=200), auto=True, privacy_restricted=False) is None


class TestPowerLevel:
    def test_complexity_moves_a_tier(self):
        hard = analyse_prompt(
            user(
                "Design a scalable distributed rate limiter. First, derive the consistency trade-offs step by step; "
                "then prove the algorithm is correct under clock skew; finally optimize it. You must handle edge "
                "cases and must not use locks, and the answer should not exceed two pages.\n"
                "1. What API does it expose?\n2. How is state stored?\n3. What are the failure modes?\n"
                "4. How would you benchmark it? 5. Why is it scalable? 6. What are the trade-offs?\n"
                + "Context: "
                * 300
            )
        )
        easy = analyse_prompt(user("hi"))
        assert hard.complexity_level == "high" and easy.complexity_level == "low"
        assert router.target_power_level("BALANCED", hard, None)[0] == "PRECISION"
        assert router.target_power_level("BALANCED", easy, None)[0] == "ECO"
        assert router.target_power_level("PRECISION", hard, None)[0] == "PRECISION"

    @pytest.mark.parametrize(
        ("used", "target", "cheaper"),
        [(0.3, "PRECISION", False), (0.5, "PRECISION", True), (0.85, "BALANCED", True), (1.2, "ECO", True)],
    )
    def test_a_downgrade_budget_moves_down_as_it_runs_out(self, used, target, cheaper):
        budget = router.BudgetSignal("workspace monthly budget", used)
        level, adjustments, doubled = router.target_power_level("PRECISION", None, budget)
        assert (level, doubled) == (target, cheaper)
        assert all("workspace monthly budget" in a for a in adjustments)


class TestRanking:
    def test_within_a_tier_cost_weights_pick_the_cheapest_and_quality_weights_the_best(self):
        models = [replace(m, power_level="BALANCED") for m in (CHEAP, MID, BIG)]
        cheap = router.rank(models, NEEDS, weights={"cost": 1, "latency": 0, "quality": 0}, target="BALANCED",
                            analysis=None)  # fmt: skip
        assert [r.model for r in cheap] == ["acme/cheap", "acme/mid", "acme/big"]
        assert cheap[1].parts["cost"] == pytest.approx(0.5, abs=0.01)  # ten times the price
        best = router.rank(models, NEEDS, weights={"cost": 0, "latency": 0, "quality": 1}, target="BALANCED",
                           analysis=None)  # fmt: skip
        assert [r.model for r in best] == ["acme/big", "acme/mid", "acme/cheap"]
        assert best[0].estimated_cost_usd == pytest.approx(100 * 1e-5 + 200 * 4e-5)

    def test_quality_is_not_worth_a_tier_unless_the_gap_is_large(self):
        weights = {"cost": 0, "latency": 0, "quality": 1}
        ranked = router.rank([MID, BIG], NEEDS, weights=weights, target="BALANCED", analysis=None)
        assert ranked[0].model == "acme/mid"  # 0.9 - 0.5 < 0.7
        weak_mid = replace(MID, quality=0.3)
        ranked = router.rank([weak_mid, BIG], NEEDS, weights=weights, target="BALANCED", analysis=None)
        assert ranked[0].model == "acme/big"  # 0.9 - 0.5 > 0.3

    def test_the_target_power_level_wins_at_default_weights(self):
        for target, expected in (("ECO", "acme/cheap"), ("BALANCED", "acme/mid"), ("PRECISION", "acme/big")):
            ranked = router.rank([CHEAP, MID, BIG], NEEDS, weights=router.DEFAULT_WEIGHTS, target=target,
                                 analysis=None)  # fmt: skip
            assert ranked[0].model == expected, target

    def test_per_task_quality_decides_between_peers(self):
        coder = FakeModel("acme/coder", task_quality={"code": 0.95, "chat": 0.3})
        talker = FakeModel("acme/talker", task_quality={"code": 0.3, "chat": 0.95})
        weights = {"cost": 0, "latency": 0, "quality": 1}
        code = analyse_prompt(
            user("Write a Python function that parses this JSON and fix the bug:\n```py\ndef f(:\n```")
        )
        chat = analyse_prompt(user("Hi! How was your weekend?"))
        assert code.task == "code" and chat.task == "chat"
        assert router.rank([talker, coder], NEEDS, weights=weights, target="BALANCED", analysis=code)[0].model == (
            "acme/coder"
        )
        assert router.rank([talker, coder], NEEDS, weights=weights, target="BALANCED", analysis=chat)[0].model == (
            "acme/talker"
        )

    def test_a_task_rule_comes_first(self):
        code = analyse_prompt(user("Refactor this Python class and add unit tests for the function."))
        ranked = router.rank([CHEAP, MID, BIG], NEEDS, weights=router.DEFAULT_WEIGHTS, target="BALANCED",
                             analysis=code, task_rules={"code": "acme/cheap"})  # fmt: skip
        assert ranked[0].model == "acme/cheap" and ranked[0].note == "task rule: code → acme/cheap"

    def test_latency_from_health_counts(self):
        slow = FakeModel("acme/slow")
        fast = FakeModel("acme/fast")
        weights = {"cost": 0, "latency": 1, "quality": 0}
        ranked = router.rank([slow, fast], NEEDS, weights=weights, target="BALANCED", analysis=None,
                             latency_ms={"acme/slow": 2000, "acme/fast": 300})  # fmt: skip
        assert [r.model for r in ranked] == ["acme/fast", "acme/slow"]
        assert ranked[1].parts["latency"] == pytest.approx(1 / (1 + math.log10(2000 / 300)))


class TestDecisions:
    def test_auto_chain_is_the_best_three_then_the_agents_fallbacks(self):
        extra = [FakeModel(f"acme/extra-{i}", power_level="ECO", input_price=2e-7 + i * 1e-8) for i in range(3)]
        fallback = FakeModel("acme/fallback", power_level="PRECISION", input_price=9e-5)
        disabled = FakeModel("acme/off", enabled=False)
        decision = auto([CHEAP, *extra, fallback, disabled], policy=router.Policy(fallbacks=("acme/fallback",
                        "acme/off")))  # fmt: skip
        assert decision.chain[:3] == [r.model for r in decision.ranked[:3]]
        assert decision.chain[3:] == ["acme/fallback"]
        assert [(e.model, e.code) for e in decision.excluded] == [("acme/off", "disabled")]

    def test_privacy_keeps_only_local_and_trusted_providers(self):
        local = FakeModel("local/llama", privacy_class="local", input_price=0, output_price=0)
        decision = auto([CHEAP, BIG, local], policy=router.Policy(privacy_mode="detect"),
                        text="Email jane.doe@example.com the invoice")  # fmt: skip
        assert decision.privacy_restricted and decision.chain == ["local/llama"]
        assert {e.code for e in decision.excluded} == {"privacy"}
        explained = decision.as_dict()
        assert explained["privacy"]["findings"] == [{"kind": "email", "preview": explained["privacy"]["findings"][0]
                                                     ["preview"]}]  # fmt: skip
        assert "jane.doe@example.com" not in json.dumps(explained)

    def test_privacy_off_and_always(self):
        local = FakeModel("local/llama", privacy_class="local")
        text = "Email jane.doe@example.com the invoice"
        assert not auto([CHEAP, local], policy=router.Policy(privacy_mode="off"), text=text).privacy_restricted
        always = auto([CHEAP, local], policy=router.Policy(privacy_mode="always"), text="hello")
        assert always.privacy_restricted and always.chain == ["local/llama"]

    def test_explicit_keeps_the_named_model_first_and_checks_fallbacks(self):
        no_tools = FakeModel("acme/no-tools", supports_tools=False)
        named = FakeModel("acme/named", supports_tools=False)
        decision = router.decide_explicit(named, [no_tools, MID], router.Needs(10, tools=True), router.Policy(),
                                          requested="named")  # fmt: skip
        assert decision.chain == ["acme/named", "acme/mid"]
        assert [(e.model, e.code) for e in decision.excluded] == [("acme/no-tools", "capability")]

    def test_explanation_is_json_and_bounded(self):
        models = [FakeModel(f"acme/m{i}") for i in range(30)]
        decision = auto(models)
        explained = decision.as_dict(max_listed=10)
        assert len(explained["candidates"]) == 10 and explained["candidates_total"] == 30
        assert json.loads(json.dumps(explained))["task"] == "chat"
