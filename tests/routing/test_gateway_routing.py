"""Routing through the live gateway: auto and power levels, agents, privacy, and /v1/route's explanations."""

import json
from decimal import Decimal

import httpx
import openai
import pytest

from apps.billing.models import BudgetAction, BudgetPeriod
from apps.catalog.models import AdapterKind, PrivacyClass
from apps.routing.gateway import context
from apps.workspaces.models import ModelAccess, PrivacyMode, RoutingPolicy
from tests.analytics.factories import UsageRecordFactory
from tests.billing.factories import BudgetFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import AgentFactory, AgentFallbackFactory, InstalledModelFactory

HELLO = [{"role": "user", "content": "Hi"}]
POWER_LEVELS = {
    "openai/gpt-4o-mini": "ECO",
    "gemini/gemini-2.5-flash": "ECO",
    "anthropic/claude-haiku-4-5": "BALANCED",
    "gemini/gemini-3-pro": "PRECISION",
}


@pytest.fixture
def routed(gateway):
    for model_id, level in POWER_LEVELS.items():
        gateway.models[model_id].power_level = level
        gateway.models[model_id].save(update_fields=["power_level"])
    context.clear_caches()
    return gateway


@pytest.fixture
def with_local(routed):
    """The gateway with a local server (Ollama) that needs no key: where privacy routing may send personal data."""
    provider = ProviderFactory(
        slug="ollama",
        name="Ollama",
        adapter_kind=AdapterKind.OPENAI,
        base_url=f"{routed.mock.url}/local/v1",  # the mock plays a local server there: no key needed
        privacy_class=PrivacyClass.LOCAL,
    )
    model = ModelFactory(
        provider=provider, model_id="ollama/llama3.2", upstream_name="llama3.2", input_price=0, output_price=0,
        power_level="BALANCED",
    )  # fmt: skip
    InstalledModelFactory(workspace=routed.workspace, model=model)
    routed.models[model.model_id] = model
    context.clear_caches()
    return routed


def client(gateway, secret=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=secret or gateway.secret, max_retries=0)


def route(gateway, body: dict, headers: dict | None = None, secret: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{gateway.v1}/route",
        json={"messages": HELLO, **body},
        headers={"authorization": f"Bearer {secret or gateway.secret}", **(headers or {})},
    )


def response_text(decision: dict) -> str:
    return json.dumps(decision, ensure_ascii=False)


def upstream_models(gateway) -> list[str]:
    return [r["model"] for r in httpx.get(f"{gateway.mock.url}/_mock/requests").json()["requests"]]


class TestAuto:
    @pytest.mark.parametrize(
        ("model", "expected"),
        [("auto:eco", "openai/gpt-4o-mini"), ("auto:balanced", "anthropic/claude-haiku-4-5"),
         ("auto:precision", "gemini/gemini-3-pro")],
    )  # fmt: skip
    def test_the_power_level_picks_the_model_and_the_record_explains_it(self, routed, model, expected):
        completion = client(routed).chat.completions.create(model=model, messages=[
            {"role": "user", "content": "Summarise the plot of Hamlet in three sentences for a school report."}
        ])  # fmt: skip
        assert completion.model == expected
        record = routed.record(completion.id)
        assert record.requested_model == model and record.model_name == expected
        assert record.routing["mode"] == "auto" and record.routing["chain"][0] == expected
        assert record.routing["task"] == "summarization"
        assert record.routing["candidates"][0]["model"] == expected

    def test_plain_auto_starts_from_the_workspace_preference_and_moves_with_complexity(self, routed):
        routed.workspace.preferred_power_level = "PRECISION"
        routed.workspace.save()
        context.clear_caches()
        decision = route(routed, {"model": "auto"}).json()
        assert decision["power_level"]["requested"] == "PRECISION"
        assert decision["power_level"]["target"] == "BALANCED"
        assert "complexity low" in decision["power_level"]["adjustments"][0]
        assert decision["chain"][0] == "anthropic/claude-haiku-4-5"

    def test_a_failing_first_choice_falls_through_the_ranked_chain(self, routed):
        httpx.post(f"{routed.mock.url}/_mock/rules", json={"model": "gpt-4o-mini", "fault": "500", "times": 3})
        completion = client(routed).chat.completions.create(model="auto:eco", messages=HELLO)
        record = routed.record(completion.id)
        assert record.attempts[0]["model"] == "openai/gpt-4o-mini" and record.attempts[0]["error"] == "server_error"
        assert completion.model == record.routing["chain"][1] == "gemini/gemini-2.5-flash"

    def test_an_unknown_level_is_a_bad_request(self, routed):
        with pytest.raises(openai.BadRequestError) as raised:
            client(routed).chat.completions.create(model="auto:turbo", messages=HELLO)
        assert raised.value.body["param"] == "model" and "power level" in raised.value.body["message"]


class TestRouteExplains:
    def test_every_exclusion_has_its_reason(self, routed):
        plan = routed.workspace.plan
        plan.model_access = ModelAccess.DEFAULT
        plan.save()
        plan.allowed_models.set([routed.models[m] for m in POWER_LEVELS if m != "gemini/gemini-2.5-flash"])
        haiku = routed.models["anthropic/claude-haiku-4-5"]
        haiku.supports_tools = False
        haiku.save()
        pro = routed.models["gemini/gemini-3-pro"]
        pro.context_window = 200
        pro.save()
        context.clear_caches()

        response = route(routed, {
            "model": "auto", "max_tokens": 200, "tools": [{"type": "function", "function": {"name": "lookup"}}],
            "messages": [{"role": "user", "content": "Look up the weather in Paris " + "please " * 40}],
        })  # fmt: skip

        assert response.status_code == 200
        decision = response.json()
        assert decision["object"] == "route" and decision["chain"] == ["openai/gpt-4o-mini"]
        assert [c["model"] for c in decision["candidates"]] == ["openai/gpt-4o-mini"]
        reasons = {e["model"]: (e["code"], e["reason"]) for e in decision["excluded"]}
        assert reasons["gemini/gemini-2.5-flash"][0] == "not_in_plan"
        assert reasons["anthropic/claude-haiku-4-5"] == (
            "capability", "It does not support tool calls, which the request uses."
        )  # fmt: skip
        assert reasons["gemini/gemini-3-pro"][0] == "context_length"
        assert decision["task"] and decision["complexity"]["level"] in {"low", "medium", "high"}
        assert upstream_models(routed) == []  # nothing was called

    def test_a_provider_without_a_key_is_explained(self, routed):
        provider = routed.providers["anthropic"]
        provider.platform_key = ""
        provider.env_key_name = ""
        provider.save()
        context.clear_caches()
        decision = route(routed, {"model": "auto"}).json()
        assert {"model": "anthropic/claude-haiku-4-5", "code": "provider_key_missing",
                "reason": "No API key for provider anthropic."} in decision["excluded"]  # fmt: skip

    def test_nothing_eligible_is_explained_by_route_and_refused_by_chat(self, routed):
        for model in routed.models.values():
            model.supports_vision = False
            model.save()
        context.clear_caches()
        image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}]
        decision = route(routed, {"model": "auto", "messages": image}).json()
        assert decision["chain"] == [] and decision["error"]["code"] == "no_eligible_model"
        assert {e["code"] for e in decision["excluded"]} == {"capability"}
        with pytest.raises(openai.BadRequestError) as raised:
            client(routed).chat.completions.create(model="auto", messages=image)
        assert raised.value.body["code"] == "no_eligible_model" and "images" in raised.value.body["message"]
        assert routed.records(expected=1)[0].status == "error"

    def test_route_needs_a_key_and_valid_json(self, routed):
        assert httpx.post(f"{routed.v1}/route", json={"model": "auto", "messages": HELLO}).status_code == 401
        bad = httpx.post(f"{routed.v1}/route", content=b"{", headers={"authorization": f"Bearer {routed.secret}"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
        assert route(routed, {"model": "nobody/model"}).status_code == 404
        assert httpx.get(f"{routed.v1}/route").status_code == 405


# One positive and one near miss per detector (the detector's own tests cover many more).
DETECTED = [
    ("email", "Forward it to {} please.", "jane.roe@example.org"),
    ("phone", "Call me on {} tomorrow.", "+44 20 7946 0958"),
    ("card", "My card is {}, exp 12/27.", "4242 4242 4242 4242"),
    ("iban", "Pay {} today.", "DE89 3704 0044 0532 0130 00"),
    ("national_id", "SSN {} on file.", "123-45-6789"),
    ("secret", "OPENAI_API_KEY={}", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
    ("ip_address", "The server is at {}, port 22.", "192.168.1.10"),
]
NEAR_MISSES = [
    "Thanks @john for the review of git@github.com:acme/repo.git",
    "Upgrade to 1.2.3 then 10.4.12; the release is 2024-01-15 at 12:30:45.",
    "Order 4242 4242 4242 4241 fails its checksum.",
    "Pay DE89 3704 0044 0532 0130 01 (a broken IBAN).",
    "ISBN 978-3-16-148410-0 and invoice INV-555-123-4567.",
    "The variable is named sk_live_example and the key is redacted.",
]


class TestPrivacy:
    @pytest.mark.parametrize(("kind", "template", "value"), DETECTED)
    def test_each_detector_restricts_auto_to_local_and_trusted(self, with_local, kind, template, value):
        text = template.format(value)
        decision = route(with_local, {"model": "auto",
                         "messages": [{"role": "user", "content": text}]}).json()  # fmt: skip
        assert decision["privacy"]["restricted"] is True
        assert [f["kind"] for f in decision["privacy"]["findings"]] == [kind]
        assert decision["chain"] == ["ollama/llama3.2"]
        assert {e["code"] for e in decision["excluded"]} == {"privacy"}
        assert value not in response_text(decision)  # the value itself is never echoed

    @pytest.mark.parametrize("text", NEAR_MISSES)
    def test_near_misses_do_not_restrict(self, with_local, text):
        decision = route(with_local, {"model": "auto:eco",
                         "messages": [{"role": "user", "content": text}]}).json()  # fmt: skip
        assert decision["privacy"] == {"mode": "detect", "restricted": False, "findings": []}
        assert decision["chain"][0] == "openai/gpt-4o-mini"

    def test_a_card_number_never_reaches_a_standard_provider(self, with_local):
        gateway = with_local
        httpx.delete(f"{gateway.mock.url}/_mock/requests")
        completion = client(gateway).chat.completions.create(
            model="auto:precision", messages=[{"role": "user", "content": "Charge 4111 1111 1111 1111 for $20"}]
        )
        assert completion.model == "ollama/llama3.2"
        assert upstream_models(gateway) == ["llama3.2"]
        record = gateway.record(completion.id)
        assert record.routing["privacy"]["findings"][0]["kind"] == "card"
        assert "4111 1111 1111 1111" not in str(record.routing)

    def test_a_trusted_provider_qualifies(self, with_local):
        gateway = with_local
        anthropic = gateway.providers["anthropic"]
        anthropic.privacy_class = PrivacyClass.TRUSTED
        anthropic.save()
        context.clear_caches()
        decision = route(gateway, {"model": "auto:balanced",
                         "messages": [{"role": "user", "content": "Email jane.roe@example.org"}]}).json()  # fmt: skip
        assert sorted(decision["chain"]) == ["anthropic/claude-haiku-4-5", "ollama/llama3.2"]

    def test_an_agent_in_detect_mode_moves_a_named_model_to_its_trusted_fallback(self, with_local):
        gateway = with_local
        agent = AgentFactory(workspace=gateway.workspace, primary_model=gateway.models["openai/gpt-4o-mini"],
                             privacy_mode=PrivacyMode.DETECT)  # fmt: skip
        AgentFallbackFactory(agent=agent, model=gateway.models["ollama/llama3.2"], position=1)
        _, secret = ApiKeyFactory.create_with_secret(workspace=gateway.workspace, agent=agent)
        plain = client(gateway, secret).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        assert plain.model == "openai/gpt-4o-mini"
        private = client(gateway, secret).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "My IBAN is GB82WEST12345698765432"}]
        )
        assert private.model == "ollama/llama3.2"
        assert gateway.record(private.id).routing["excluded"][0]["code"] == "privacy"

    def test_always_mode_without_a_trusted_model_is_refused_before_any_call(self, routed):
        agent = AgentFactory(workspace=routed.workspace, primary_model=routed.models["openai/gpt-4o-mini"],
                             privacy_mode=PrivacyMode.ALWAYS)  # fmt: skip
        _, secret = ApiKeyFactory.create_with_secret(workspace=routed.workspace, agent=agent)
        httpx.delete(f"{routed.mock.url}/_mock/requests")
        with pytest.raises(openai.PermissionDeniedError) as raised:
            client(routed, secret).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        assert raised.value.body["code"] == "privacy_restricted"
        assert upstream_models(routed) == []

    def test_the_privacy_header_for_calls_without_an_agent(self, with_local):
        gateway = with_local
        email = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "jane.roe@example.org"}]}
        assert route(gateway, email).json()["chain"] == ["openai/gpt-4o-mini"]  # a named model: off by default
        restricted = route(gateway, email, headers={"x-switchyard-privacy": "detect"}).json()
        assert restricted["chain"] == [] and restricted["error"]["code"] == "privacy_restricted"
        bad = route(gateway, email, headers={"x-switchyard-privacy": "sometimes"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "X-Switchyard-Privacy"


class TestAgents:
    @pytest.fixture
    def agent(self, routed):
        agent = AgentFactory(workspace=routed.workspace, slug="support-bot",
                             primary_model=routed.models["anthropic/claude-haiku-4-5"])  # fmt: skip
        AgentFallbackFactory(agent=agent, model=routed.models["gemini/gemini-2.5-flash"], position=1)
        context.clear_caches()
        return agent

    def test_the_header_names_an_agent_by_slug_or_id(self, routed, agent):
        for name in ("support-bot", str(agent.pk)):
            completion = client(routed).chat.completions.create(
                model="agent", messages=HELLO, extra_headers={"X-Switchyard-Agent": name}
            )
            assert completion.model == "anthropic/claude-haiku-4-5"
            record = routed.record(completion.id)
            assert record.agent_id == agent.pk and record.routing["agent"] == "support-bot"
            assert record.routing["chain"] == ["anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"]

    def test_a_named_model_keeps_the_agents_fallbacks(self, routed, agent):
        httpx.post(f"{routed.mock.url}/_mock/rules", json={"model": "gpt-4o-mini", "fault": "429", "times": 2})
        completion = client(routed).chat.completions.create(
            model="openai/gpt-4o-mini", messages=HELLO, extra_headers={"X-Switchyard-Agent": "support-bot"}
        )
        assert completion.model == "gemini/gemini-2.5-flash"

    def test_an_auto_agent_routes_with_its_own_level_and_rules(self, routed, agent):
        agent.routing_policy = RoutingPolicy.AUTO
        agent.power_level = "ECO"
        agent.task_rules = {"code": "gemini/gemini-3-pro"}
        agent.save()
        context.clear_caches()
        headers = {"x-switchyard-agent": "support-bot"}
        chat = route(routed, {"model": "agent"}, headers=headers).json()
        assert chat["mode"] == "auto" and chat["chain"][0] == "openai/gpt-4o-mini"
        code = route(routed, {"model": "agent", "messages": [
            {"role": "user", "content": "Write a Python function that reverses a linked list, with unit tests."}
        ]}, headers=headers).json()  # fmt: skip
        assert code["task"] == "code" and code["chain"][0] == "gemini/gemini-3-pro"
        assert code["candidates"][0]["note"] == "task rule: code → gemini/gemini-3-pro"

    def test_unknown_agent_and_agentless_agent_model(self, routed):
        unknown = route(routed, {"model": "agent"}, headers={"x-switchyard-agent": "nobody"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "agent_not_found"
        agentless = route(routed, {"model": "agent"})
        assert agentless.status_code == 400 and agentless.json()["error"]["param"] == "model"

    def test_another_workspaces_agent_is_unknown(self, routed):
        stranger = AgentFactory(slug="stranger")
        response = route(routed, {"model": "agent"}, headers={"x-switchyard-agent": str(stranger.pk)})
        assert response.status_code == 404


class TestBudgetAwareDowngrade:
    @pytest.mark.parametrize(
        ("spent", "target", "model"),
        [("0.10", "BALANCED", "anthropic/claude-haiku-4-5"), ("0.85", "ECO", "openai/gpt-4o-mini"),
         ("1.20", "ECO", "openai/gpt-4o-mini")],
    )  # fmt: skip
    def test_auto_moves_to_cheaper_tiers_as_a_downgrade_budget_runs_out(self, routed, spent, target, model):
        BudgetFactory(workspace=routed.workspace, limit_usd=Decimal("1.00"), action=BudgetAction.DOWNGRADE,
                      period=BudgetPeriod.MONTHLY)  # fmt: skip
        UsageRecordFactory(workspace=routed.workspace, model=routed.models["openai/gpt-4o-mini"],
                           cost_usd=Decimal(spent))  # fmt: skip
        decision = route(routed, {"model": "auto:balanced"}).json()
        assert decision["power_level"]["target"] == target and decision["chain"][0] == model
        if spent != "0.10":
            assert any("workspace monthly budget" in a for a in decision["power_level"]["adjustments"])
            assert decision["weights"]["cost"] > 0.4  # cost weighs double past the first threshold

    def test_block_budgets_do_not_steer_and_named_models_are_not_downgraded(self, routed):
        BudgetFactory(workspace=routed.workspace, limit_usd=Decimal("1.00"), action=BudgetAction.BLOCK)
        BudgetFactory(workspace=routed.workspace, limit_usd=Decimal("1.00"), action=BudgetAction.DOWNGRADE)
        UsageRecordFactory(workspace=routed.workspace, model=routed.models["openai/gpt-4o-mini"],
                           cost_usd=Decimal("0.95"))  # fmt: skip
        named = route(routed, {"model": "gemini/gemini-3-pro"}).json()
        assert named["chain"] == ["gemini/gemini-3-pro"] and named["power_level"]["adjustments"] == []


def test_generation_shows_the_routing_explanation(routed):
    completion = client(routed).chat.completions.create(model="auto:eco", messages=HELLO)
    routed.record(completion.id)
    data = httpx.get(
        f"{routed.v1}/generation", params={"id": completion.id}, headers={"authorization": f"Bearer {routed.secret}"}
    ).json()["data"]
    assert data["routing"]["mode"] == "auto" and data["routing"]["chain"][0] == completion.model
