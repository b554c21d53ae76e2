"""The Agents pages through Django's test client: the list, the form (create and edit) with its grouped model picker
and recommendation, and delete; every write through the /api/agents services, and never across workspaces."""

import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.test import Client

from apps.analytics.models import AuditEvent
from apps.billing.models import Budget
from apps.catalog.insights import RecommendQuery, model_recommend
from apps.catalog.models import PlanTier
from apps.workspaces.agent_pages import model_option_label
from apps.workspaces.agent_services import agent_create
from apps.workspaces.models import Agent, InstalledModel, ModelAccess, Plan
from tests.analytics.factories import UsageRecordFactory
from tests.catalog.factories import ModelFactory, ProviderFactory, TaskScoreFactory
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

LIST, NEW = "/agents/", "/agents/new/"


@pytest.fixture
def workspace():
    """On the Pro plan: the starter and pro tiers."""
    Plan.objects.all().delete()
    pro = PlanFactory(slug="pro", name="Pro", model_access=ModelAccess.TIERS, allowed_tiers=["starter", "pro"])
    return WorkspaceFactory(slug="acme", name="Acme", plan=pro)


@pytest.fixture
def rival():
    everything = PlanFactory(slug="enterprise", name="Enterprise", model_access=ModelAccess.ALL)
    return WorkspaceFactory(slug="rival", name="Rival", plan=everything)


@pytest.fixture
def models(workspace, rival):
    """Installed in acme: mini and gpt4o (OpenAI, direct), coder (through OpenRouter), sonnet (Anthropic, for which
    acme holds its own key: BYOK), frontier (enterprise tier: not on acme's plan). Installed in rival only: gpt41."""
    openai = ProviderFactory(slug="openai", name="OpenAI")
    openrouter = ProviderFactory(slug="openrouter", name="OpenRouter")
    anthropic = ProviderFactory(slug="anthropic", name="Anthropic")
    found = SimpleNamespace(
        mini=ModelFactory(
            provider=openai, upstream_name="gpt-4o-mini", display_name="GPT-4o mini", plan_tier="starter"
        ),
        gpt4o=ModelFactory(
            provider=openai,
            upstream_name="gpt-4o",
            display_name="GPT-4o",
            plan_tier=PlanTier.PRO,
            input_price=Decimal("0.0000025"),
            output_price=Decimal("0.00001"),
        ),
        coder=ModelFactory(
            provider=openrouter, upstream_name="qwen/qwen-coder", display_name="Qwen Coder", plan_tier=PlanTier.PRO
        ),
        sonnet=ModelFactory(
            provider=anthropic,
            upstream_name="claude-sonnet",
            display_name="Claude Sonnet",
            plan_tier=PlanTier.PRO,
            context_window=200_000,
        ),
        frontier=ModelFactory(provider=openai, upstream_name="o3-pro", plan_tier=PlanTier.ENTERPRISE),
        gpt41=ModelFactory(provider=openai, upstream_name="gpt-4.1", plan_tier=PlanTier.PRO),
    )
    for model in (found.mini, found.gpt4o, found.coder, found.sonnet, found.frontier):
        InstalledModelFactory(workspace=workspace, model=model)
    InstalledModelFactory(workspace=rival, model=found.gpt41)
    ProviderKeyFactory(workspace=workspace, provider=anthropic)
    TaskScoreFactory(model=found.coder, task="code", score=Decimal("0.95"))
    return found


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, role="owner").user


@pytest.fixture
def browser(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def rival_agent(rival, models):
    return agent_create(workspace=rival, name="Rival bot", primary_model=models.gpt41.model_id)


def _html(response) -> str:
    return response.content.decode()


def _select(html: str, name: str) -> str:
    match = re.search(rf'<select id="[^"]*" name="{name}".*?</select>', html, re.S)
    assert match, f"no select named {name}"
    return match.group(0)


def _groups(select_html: str) -> dict[str, list[str]]:
    """optgroup label → the option values, in order."""
    return {
        label: re.findall(r'<option value="([^"]+)"', body)
        for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select_html, re.S)
    }


def _selected(select_html: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)" selected>', select_html)


FORM = {
    "name": "Coding helper",
    "slug": "coding-helper",
    "description": "Writes code.",
    "kind": "code",
    "is_active": "on",
    "primary_model": "openrouter/qwen/qwen-coder",
    "fallback_1": "openai/gpt-4o",
    "fallback_2": "",
    "fallback_3": "openai/gpt-4o-mini",
    "routing_policy": "explicit",
    "power_level": "BALANCED",
    "weight_cost": "0.4",
    "weight_latency": "0.4",
    "weight_quality": "0.2",
    "monthly_budget": "50",
    "monthly_action": "block",
    "daily_budget": "",
    "daily_action": "block",
    "privacy_mode": "detect",
    "temperature": "",
    "max_tokens": "",
}


class TestPicker:
    def test_the_models_the_workspace_can_route_to_grouped_with_cost_and_context(self, browser, models):
        # Embeddings: no recommendation, so every model lands in its provider's group.
        html = _html(browser.get(NEW, {"kind": "embeddings"}))
        groups = _groups(_select(html, "primary_model"))

        assert groups == {
            "Direct providers": ["openai/gpt-4o", "openai/gpt-4o-mini"],
            "OpenRouter": ["openrouter/qwen/qwen-coder"],
            "BYOK": ["anthropic/claude-sonnet"],
        }
        assert "GPT-4o (OpenAI) — $2.50 / $10.00 per 1M · 128K ctx</option>" in html
        assert "Claude Sonnet (Anthropic) — $0.15 / $0.60 per 1M · 200K ctx</option>" in html
        assert _groups(_select(html, "fallback_1")) == groups
        assert "Recommendations rank models that generate text" in html

    def test_recommended_first_holds_the_recommendations_top_picks_each_model_once(self, browser, workspace, models):
        html = _html(browser.get(NEW, {"kind": "code", "complexity": "high", "budget": "low"}))
        groups = _groups(_select(html, "primary_model"))
        expected = model_recommend(
            workspace=workspace,
            query=RecommendQuery(task="code", complexity="high", budget="low", installed=True, limit=3),
        )
        picks = [result.model.model_id for result in expected.results]

        assert next(iter(groups)) == "Recommended" and groups["Recommended"] == picks
        everything = [value for values in groups.values() for value in values]
        assert sorted(everything) == sorted(
            ["openai/gpt-4o", "openai/gpt-4o-mini", "openrouter/qwen/qwen-coder", "anthropic/claude-sonnet"]
        )
        for pick in expected.results:
            assert f'data-recommended="{pick.model.model_id}"' in html
            assert pick.reason.split(".")[0] in html
        assert _selected(_select(html, "kind")) == ["code"]  # a new agent takes the kind it was recommended for

    def test_a_byok_key_that_failed_its_test_does_not_make_a_model_byok(self, browser, models):
        models.sonnet.provider.byok_keys.update(status="invalid")
        groups = _groups(_select(_html(browser.get(NEW, {"kind": "embeddings"})), "primary_model"))
        assert "BYOK" not in groups and "anthropic/claude-sonnet" in groups["Direct providers"]

    def test_option_labels(self, models):
        models.mini.context_window, models.mini.input_price = 1_048_576, Decimal("0.000000075")
        assert model_option_label(models.mini) == "GPT-4o mini (OpenAI) — $0.075 / $0.60 per 1M · 1M ctx"
        models.mini.price_unknown, models.mini.context_window = True, None
        assert model_option_label(models.mini) == "GPT-4o mini (OpenAI) — price unknown · context unknown"

    def test_applying_a_recommendation_without_javascript_fills_the_picker(self, browser, models):
        response = browser.get(
            NEW, {"primary": "openai/gpt-4o", "fallback": ["anthropic/claude-sonnet", "openai/gpt-4o-mini"]}
        )
        html = _html(response)
        assert _selected(_select(html, "primary_model")) == ["openai/gpt-4o"]
        assert _selected(_select(html, "fallback_1")) == ["anthropic/claude-sonnet"]
        assert _selected(_select(html, "fallback_2")) == ["openai/gpt-4o-mini"]
        assert not Agent.objects.exists()

    def test_the_recommendations_use_links_carry_the_models(self, browser, models):
        html = _html(browser.get(NEW, {"kind": "code"}))
        links = re.findall(r'href="([^"]+)" data-apply-primary="([^"]+)"', html)
        assert links and all(f"primary={model.replace('/', '%2F')}" in url for url, model in links)
        assert "data-apply-all" in html


class TestCreate:
    def test_an_agent_with_a_primary_model_fallbacks_an_explicit_policy_and_a_budget(self, browser, member, models):
        response = browser.post(NEW, FORM, REMOTE_ADDR="203.0.113.9")

        assert response.status_code == 302 and response["Location"] == LIST
        agent = Agent.objects.get(slug="coding-helper")
        assert (agent.name, agent.kind, agent.routing_policy) == ("Coding helper", "code", "explicit")
        assert agent.primary_model == models.coder
        assert [f.model.model_id for f in agent.fallbacks.order_by("position")] == [
            "openai/gpt-4o",
            "openai/gpt-4o-mini",
        ]
        budget = Budget.objects.get(agent=agent)
        assert (budget.period, budget.limit_usd, budget.action) == ("monthly", Decimal("50"), "block")
        event = AuditEvent.objects.get(action="agent.created")
        assert (event.actor, event.ip_address) == (member, "203.0.113.9")
        assert AuditEvent.objects.filter(action="budget.created").count() == 1

        listing = _html(browser.get(LIST))
        assert "Created agent “Coding helper” (slug coding-helper)." in listing
        row = re.search(r'<tr data-agent="coding-helper">.*?</tr>', listing, re.S).group(0)
        assert "openrouter/qwen/qwen-coder" in row and "Explicit" in row
        assert re.findall(r"<li>([^<]+)</li>", row) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
        assert "$50.00 monthly · $0.00 spent" in row

    def test_auto_with_a_power_level_and_weights_and_no_primary(self, browser, models):
        form = FORM | {
            "primary_model": "",
            "fallback_1": "",
            "fallback_3": "",
            "routing_policy": "auto",
            "power_level": "PRECISION",
            "weight_cost": "0.1",
            "weight_latency": "0.2",
            "weight_quality": "0.7",
            "monthly_budget": "",
            "daily_budget": "2.5",
            "daily_action": "downgrade",
        }
        assert browser.post(NEW, form).status_code == 302
        agent = Agent.objects.get()
        assert (agent.routing_policy, agent.power_level, agent.primary_model) == ("auto", "PRECISION", None)
        assert agent.routing_weights == {"cost": 0.1, "latency": 0.2, "quality": 0.7}
        assert list(agent.budgets.values_list("period", "limit_usd", "action")) == [
            ("daily", Decimal("2.5"), "downgrade")
        ]

    def test_the_slug_comes_from_the_name_when_left_empty(self, browser, models):
        browser.post(NEW, FORM | {"slug": ""})
        assert Agent.objects.get().slug == "coding-helper"

    @pytest.mark.parametrize(
        ("changes", "field_error"),
        [
            ({"primary_model": ""}, "The explicit routing policy needs a primary model"),
            ({"name": "  "}, "This field may not be blank."),
            ({"slug": "not a slug!"}, "Enter a valid &quot;slug&quot;"),
            ({"temperature": "3"}, "Ensure this value is less than or equal to 2."),
            ({"monthly_budget": "-1"}, "Monthly budget: Ensure this value is greater than or equal to 0."),
            ({"weight_cost": "-1"}, "cost: Ensure this value is greater than or equal to 0."),
            ({"fallback_1": "openrouter/qwen/qwen-coder"}, "is the primary model; a fallback is another model"),
            ({"fallback_1": "openai/gpt-4o-mini"}, "Each fallback appears once; repeated: openai/gpt-4o-mini."),
            ({"kind": "poetry"}, "is not a valid choice."),
        ],
    )
    def test_bad_input_is_refused_with_the_services_message_and_nothing_is_written(
        self, browser, models, changes, field_error
    ):
        response = browser.post(NEW, FORM | changes)

        assert response.status_code == 400
        html = _html(response)
        assert "The agent was not saved" in html and field_error in html
        assert 'aria-invalid="true"' in html or "fallbacks-errors" in html or "weights-errors" in html
        assert not Agent.objects.exists() and not Budget.objects.exists() and not AuditEvent.objects.exists()
        assert 'value="Coding helper"' in html or changes.get("name")  # what was typed is kept

    def test_a_slug_already_taken(self, browser, workspace, models):
        agent_create(workspace=workspace, name="Taken", slug="coding-helper", primary_model="openai/gpt-4o")
        response = browser.post(NEW, FORM)
        assert response.status_code == 400
        assert "Another agent of this workspace has the slug &#x27;coding-helper&#x27;." in _html(response)
        assert Agent.objects.count() == 1


class TestModelsOutsideTheWorkspace:
    @pytest.mark.parametrize(
        ("field", "model", "message"),
        [
            ("primary_model", "openai/gpt-4.1", "&#x27;openai/gpt-4.1&#x27; is not installed in this workspace"),
            ("fallback_1", "openai/gpt-4.1", "&#x27;openai/gpt-4.1&#x27; is not installed in this workspace"),
            ("primary_model", "openai/o3-pro", "The Pro plan does not include &#x27;openai/o3-pro&#x27;."),
            ("fallback_3", "openai/o3-pro", "The Pro plan does not include &#x27;openai/o3-pro&#x27;."),
            ("primary_model", "nobody/nothing", "&#x27;nobody/nothing&#x27; is not a model of the catalog."),
        ],
    )
    def test_another_workspaces_model_or_one_off_the_plan_is_refused(self, browser, models, field, model, message):
        response = browser.post(NEW, FORM | {field: model})
        assert response.status_code == 400 and message in _html(response)
        assert not Agent.objects.exists()

    def test_the_picker_never_offers_them(self, browser, models):
        html = _html(browser.get(NEW))
        assert "openai/gpt-4.1" not in html and "openai/o3-pro" not in html


class TestEdit:
    @pytest.fixture
    def agent(self, workspace, member, models):
        return agent_create(
            workspace=workspace,
            name="Support",
            slug="support",
            primary_model="openai/gpt-4o",
            fallback_models=["anthropic/claude-sonnet"],
            budgets=[{"limit_usd": "10", "period": "monthly", "alert_thresholds": [90]}],
            created_by=member,
        )

    def _form(self, browser, agent) -> dict:
        """What the edit form would submit unchanged, read from the page."""
        html = _html(browser.get(f"/agents/{agent.pk}/"))
        form = dict(re.findall(r'<input[^>]*name="([a-z_0-9]+)" value="([^"]*)"', html))
        form |= {
            name: (_selected(_select(html, name)) or [""])[0]
            for name in re.findall(r'<select id="[^"]*" name="([a-z_0-9]+)"', html)
        }
        form["routing_policy"] = re.search(r'name="routing_policy" value="(\w+)" checked', html).group(1)
        form["is_active"] = "on"
        form["description"] = agent.description
        form.pop("csrfmiddlewaretoken", None)
        return {name: value for name, value in form.items() if name not in ("complexity", "budget")}

    def test_the_form_shows_the_agent_and_its_budgets_spend(self, browser, agent, models):
        UsageRecordFactory(workspace=agent.workspace, agent=agent, model=models.gpt4o, cost_usd=Decimal("2.5"))
        html = _html(browser.get(f"/agents/{agent.pk}/"))
        assert "<h1>Edit agent Support</h1>" in html
        assert _selected(_select(html, "primary_model")) == ["openai/gpt-4o"]
        assert _selected(_select(html, "fallback_1")) == ["anthropic/claude-sonnet"]
        assert _selected(_select(html, "fallback_2")) == []
        assert 'name="monthly_budget" value="10"' in html
        assert "$2.50 spent this month (25.00% of the limit)" in html
        assert "X-Switchyard-Agent: support" in html

    def test_switching_to_auto_with_a_power_level_keeps_the_budget_and_its_thresholds(self, browser, agent, member):
        form = self._form(browser, agent) | {
            "routing_policy": "auto",
            "power_level": "ECO",
            "weight_cost": "0.8",
            "weight_quality": "0.2",
            "weight_latency": "0",
        }
        budget = agent.budgets.get()
        response = browser.post(f"/agents/{agent.pk}/", form)

        assert response.status_code == 302, _html(response)
        agent.refresh_from_db()
        assert (agent.routing_policy, agent.power_level) == ("auto", "ECO")
        assert agent.routing_weights == {"cost": 0.8, "latency": 0.0, "quality": 0.2}
        assert agent.budgets.get().pk == budget.pk and agent.budgets.get().alert_thresholds == [90]
        event = AuditEvent.objects.get(action="agent.updated")
        assert event.actor == member
        assert set(event.data["changes"]) == {"routing_policy", "power_level", "routing_weights"}
        assert not AuditEvent.objects.filter(action__startswith="budget.", created_at__gt=event.created_at).exists()

    def test_changing_the_models_and_removing_the_budget(self, browser, agent):
        form = self._form(browser, agent) | {
            "primary_model": "anthropic/claude-sonnet",
            "fallback_1": "openai/gpt-4o",
            "fallback_2": "openrouter/qwen/qwen-coder",
            "monthly_budget": "",
        }
        assert browser.post(f"/agents/{agent.pk}/", form).status_code == 302
        agent.refresh_from_db()
        assert agent.primary_model.model_id == "anthropic/claude-sonnet"
        chain = list(agent.fallbacks.order_by("position").values_list("model__model_id", flat=True))
        assert chain == ["openai/gpt-4o", "openrouter/qwen/qwen-coder"]
        assert not agent.budgets.exists()

    def test_renaming_is_not_refused_for_a_model_uninstalled_since(self, browser, agent, models):
        form = self._form(browser, agent)
        InstalledModel.objects.filter(model=models.sonnet).delete()
        html = _html(browser.get(f"/agents/{agent.pk}/"))
        assert "Set on this agent, no longer available" in html

        assert browser.post(f"/agents/{agent.pk}/", form | {"name": "Support desk"}).status_code == 302
        agent.refresh_from_db()
        assert agent.name == "Support desk" and agent.fallbacks.get().model == models.sonnet

    def test_bad_input_changes_nothing(self, browser, agent):
        before = AuditEvent.objects.count()
        form = self._form(browser, agent) | {"name": "Renamed", "primary_model": "", "monthly_budget": "abc"}
        response = browser.post(f"/agents/{agent.pk}/", form)
        assert response.status_code == 400
        assert "A valid number is required." in _html(response)
        agent.refresh_from_db()
        assert agent.name == "Support" and agent.budgets.get().limit_usd == Decimal("10")
        assert AuditEvent.objects.count() == before


class TestDelete:
    def test_confirm_then_delete(self, browser, workspace, models):
        agent = agent_create(workspace=workspace, name="Gone", primary_model="openai/gpt-4o")
        page = browser.get(f"/agents/{agent.pk}/delete/")
        assert page.status_code == 200 and "<h1>Delete agent Gone?</h1>" in _html(page)
        assert Agent.objects.filter(pk=agent.pk).exists()

        response = browser.post(f"/agents/{agent.pk}/delete/")
        assert response.status_code == 302 and response["Location"] == LIST
        assert not Agent.objects.filter(pk=agent.pk).exists()
        assert AuditEvent.objects.filter(action="agent.deleted").exists()

    def test_refused_while_an_api_key_acts_as_the_agent(self, browser, workspace, models):
        agent = agent_create(workspace=workspace, name="Keyed", primary_model="openai/gpt-4o")
        ApiKeyFactory(workspace=workspace, agent=agent)
        response = browser.post(f"/agents/{agent.pk}/delete/")
        assert response.status_code == 409
        assert "1 API key(s) act as agent &#x27;keyed&#x27;; revoke them first" in _html(response)
        assert Agent.objects.filter(pk=agent.pk).exists()


class TestOtherWorkspaces:
    def test_the_list_shows_only_the_current_workspaces_agents(self, browser, workspace, models, rival_agent):
        agent_create(workspace=workspace, name="Mine", primary_model="openai/gpt-4o")
        html = _html(browser.get(LIST))
        assert "Mine" in html and "Rival bot" not in html

    @pytest.mark.parametrize("path", ["/agents/{}/", "/agents/{}/delete/"])
    def test_another_workspaces_agent_is_404_to_read_and_to_write(self, browser, rival_agent, path):
        url = path.format(rival_agent.pk)
        assert browser.get(url).status_code == 404
        assert browser.post(url, FORM | {"name": "Hijacked"}).status_code == 404
        rival_agent.refresh_from_db()
        assert rival_agent.name == "Rival bot" and Agent.objects.filter(pk=rival_agent.pk).exists()
        assert not AuditEvent.objects.filter(workspace=rival_agent.workspace).exclude(action="agent.created").exists()

    def test_a_workspace_the_member_does_not_belong_to_is_404(self, browser, rival, models):
        assert browser.get(LIST, {"workspace": "rival"}).status_code == 404
        assert browser.post(NEW + "?workspace=rival", FORM).status_code == 404
        assert not Agent.objects.exists()

    def test_a_member_of_both_acts_in_the_one_named(self, browser, member, rival, models, rival_agent):
        MembershipFactory(workspace=rival, user=member)
        html = _html(browser.get(LIST, {"workspace": "rival"}))
        assert "Rival bot" in html and f'href="/agents/{rival_agent.pk}/?workspace=rival"' in html
        assert (
            browser.post(
                NEW + "?workspace=rival", FORM | {"primary_model": "openai/gpt-4.1", "fallback_1": "", "fallback_3": ""}
            ).status_code
            == 302
        )
        assert Agent.objects.get(slug="coding-helper").workspace == rival


def test_signed_out_visitors_go_to_the_login_page(models):
    response = Client().get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
