"""The Keys page (/keys/) through Django's test client: BYOK keys (add, test against the mock provider, usage, remove),
API keys (created once with their secret, listed, revoked), bad input, secrets kept out of pages, logs and audit
events, and another workspace's keys out of reach."""

import logging
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.analytics.models import AuditEvent
from apps.analytics.rollups import usage_rollup_build
from apps.core.secrets import secret_hash
from apps.keys.models import ApiKey, ProviderKey, ProviderKeyStatus
from tests.analytics.factories import UsageRecordFactory, UsageRollupFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory
from tests.workspaces.factories import AgentFactory, MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

PAGE = "/keys/"
BYOK_SECRET = "sk-byok-live-0123456789-SECRETVALUE-wxyz"


@pytest.fixture
def workspace():
    return WorkspaceFactory(slug="acme", name="Acme", plan=PlanFactory(name="Pro", byok_allowed=True))


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada")).user


@pytest.fixture
def browser(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def openai(mock_provider):
    provider = ProviderFactory(slug="openai", name="OpenAI", base_url=f"{mock_provider.url}/v1")
    ModelFactory(provider=provider, upstream_name="cheap", input_price=Decimal("0.0000001"))
    return provider


@pytest.fixture
def stranger_workspace(openai):
    """Workspace B, with a provider key and an API key of its own."""
    other = WorkspaceFactory(slug="bravo", name="Bravo", plan=PlanFactory(byok_allowed=True))
    ProviderKeyFactory(workspace=other, provider=openai, secret="sk-bravo-secret-0000-zzzz")
    ApiKeyFactory(workspace=other, name="Bravo CI")
    return other


def _html(response) -> str:
    return response.content.decode()


def _audit_text() -> str:
    return repr(list(AuditEvent.objects.values()))


def test_the_page_asks_strangers_to_sign_in():
    response = Client().get(PAGE)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={PAGE}"


class TestProviderKeys:
    def test_adding_a_key_stores_it_and_shows_only_its_mask(self, browser, workspace, member, openai, caplog):
        caplog.set_level(logging.DEBUG)
        response = browser.post(
            "/keys/provider-keys/",
            {"provider": "openai", "secret": BYOK_SECRET, "label": "prod", "used_by": "workspace"},
        )

        assert response.status_code == 302 and response["Location"] == PAGE
        provider_key = ProviderKey.objects.get(workspace=workspace)
        assert (provider_key.provider, provider_key.secret, provider_key.label) == (openai, BYOK_SECRET, "prod")
        assert (provider_key.member, provider_key.agent, provider_key.created_by) == (None, None, member)
        page = browser.get(PAGE)
        html = _html(page)
        assert "OpenAI key sk-…wxyz added. Test it to check that OpenAI accepts it." in html
        assert '<code data-figure="mask">sk-…wxyz</code>' in html
        assert '<span class="key-status key-status-untested" data-figure="status">Not tested</span>' in html
        assert BYOK_SECRET not in html
        event = AuditEvent.objects.get(action="provider_key.created")
        assert (event.actor, event.workspace, event.data["mask"]) == (member, workspace, "sk-…wxyz")
        assert BYOK_SECRET not in _audit_text()
        assert all(BYOK_SECRET not in record.getMessage() for record in caplog.records)

    def test_a_key_can_be_kept_for_the_member_or_for_one_agent(self, browser, workspace, member, openai):
        agent = AgentFactory(workspace=workspace, name="Support bot")
        browser.post("/keys/provider-keys/", {"provider": "openai", "secret": "sk-mine-1234", "used_by": "member"})
        browser.post(
            "/keys/provider-keys/", {"provider": "openai", "secret": "sk-agents-5678", "used_by": f"agent:{agent.pk}"}
        )

        mine, agents = ProviderKey.objects.order_by("pk")
        assert (mine.member, mine.agent) == (member, None)
        assert (agents.member, agents.agent) == (None, agent)
        html = _html(browser.get(PAGE))
        assert "ada only" in html and "Agent Support bot" in html

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"secret": BYOK_SECRET, "used_by": "workspace"}, "Choose a provider."),
            ({"provider": "openai", "secret": "", "used_by": "workspace"}, "Paste the provider&#x27;s API key."),
            ({"provider": "openai", "secret": "   ", "used_by": "workspace"}, "Paste the provider&#x27;s API key."),
            ({"provider": "nobody", "secret": BYOK_SECRET, "used_by": "workspace"}, "Unknown provider."),
            ({"provider": "openai", "secret": BYOK_SECRET, "used_by": "agent:999999"}, "Select a valid choice."),
        ],
    )
    def test_bad_input_is_refused_on_the_page_and_nothing_is_written(self, browser, openai, data, error):
        response = browser.post("/keys/provider-keys/", data)

        assert response.status_code == 400
        html = _html(response)
        assert error in html
        assert 'aria-invalid="true"' in html
        assert BYOK_SECRET not in html  # the form is re-shown without the pasted key
        assert ProviderKey.objects.count() == 0
        assert AuditEvent.objects.count() == 0

    def test_a_second_key_for_the_same_provider_and_level_is_refused(self, browser, workspace, openai):
        ProviderKeyFactory(workspace=workspace, provider=openai, secret="sk-first-key-0000-aaaa")

        response = browser.post(
            "/keys/provider-keys/", {"provider": "openai", "secret": BYOK_SECRET, "used_by": "workspace"}
        )

        assert response.status_code == 400
        assert "A key for this provider already exists at that level; delete it first." in _html(response)
        assert ProviderKey.objects.count() == 1
        assert AuditEvent.objects.count() == 0

    def test_a_plan_without_byok_shows_why_and_refuses_a_key(self, browser, workspace, openai):
        workspace.plan.byok_allowed = False
        workspace.plan.save()

        html = _html(browser.get(PAGE))
        assert "The Pro plan does not include your own provider keys; upgrade the plan to add one." in html
        assert "Add provider key</button>" not in html
        response = browser.post(
            "/keys/provider-keys/", {"provider": "openai", "secret": BYOK_SECRET, "used_by": "workspace"}
        )
        assert response.status_code == 403
        assert "The Pro plan does not include bring-your-own-key provider keys" in _html(response)
        assert ProviderKey.objects.count() == 0

    def test_testing_a_working_key_calls_the_provider_and_shows_ok(
        self, browser, workspace, member, openai, mock_provider
    ):
        provider_key = ProviderKeyFactory(workspace=workspace, provider=openai, secret=BYOK_SECRET)

        response = browser.post(f"/keys/provider-keys/{provider_key.pk}/test/")

        assert response.status_code == 302 and response["Location"] == PAGE
        [sent] = mock_provider.state.requests
        assert sent["api_key"] == BYOK_SECRET
        provider_key.refresh_from_db()
        assert provider_key.status == ProviderKeyStatus.VALID
        html = _html(browser.get(PAGE))
        assert "OpenAI key sk-…wxyz works." in html
        assert '<span class="key-status key-status-valid" data-figure="status">OK</span>' in html
        assert "tested <time" in html
        assert BYOK_SECRET not in html
        event = AuditEvent.objects.get(action="provider_key.tested")
        assert (event.actor, event.data["result"]) == (member, "valid")
        assert BYOK_SECRET not in _audit_text()

    def test_testing_a_refused_key_shows_the_providers_answer(self, browser, workspace, openai):
        secret = "invalid-" + BYOK_SECRET
        provider_key = ProviderKeyFactory(workspace=workspace, provider=openai, secret=secret)

        html = _html(browser.post(f"/keys/provider-keys/{provider_key.pk}/test/", follow=True))

        assert "OpenAI refused inv…wxyz: 401 auth: Invalid API key." in html
        assert '<span class="key-status key-status-invalid" data-figure="status">Refused</span>' in html
        assert secret not in html
        assert ProviderKey.objects.get().status == ProviderKeyStatus.INVALID

    def test_a_key_that_cannot_be_tested_says_why(self, browser, workspace, mock_provider):
        modelless = ProviderFactory(slug="lonely", name="Lonely", base_url=f"{mock_provider.url}/v1")
        provider_key = ProviderKeyFactory(workspace=workspace, provider=modelless)

        html = _html(browser.post(f"/keys/provider-keys/{provider_key.pk}/test/", follow=True))

        assert "could not be tested: The catalog has no enabled chat model of Lonely to test the key with." in html
        assert list(mock_provider.state.requests) == []
        assert ProviderKey.objects.get().status == ProviderKeyStatus.UNTESTED

    def test_removing_asks_first_then_deletes(self, browser, workspace, member, openai):
        provider_key = ProviderKeyFactory(workspace=workspace, provider=openai, secret=BYOK_SECRET)
        url = f"/keys/provider-keys/{provider_key.pk}/remove/"
        assert f'href="{url}" aria-label="Remove OpenAI key sk-…wxyz">Remove</a>' in _html(browser.get(PAGE))

        confirm = browser.get(url)
        assert confirm.status_code == 200
        html = _html(confirm)
        assert "<h1>Remove the OpenAI key sk-…wxyz?</h1>" in html
        assert f'<form method="post" action="{url}"' in html and "Remove key</button>" in html
        assert ProviderKey.objects.count() == 1

        response = browser.post(url)
        assert response.status_code == 302 and response["Location"] == PAGE
        assert ProviderKey.objects.count() == 0
        assert "OpenAI key sk-…wxyz removed." in _html(browser.get(PAGE))
        event = AuditEvent.objects.get(action="provider_key.deleted")
        assert event.actor == member
        assert BYOK_SECRET not in _audit_text()

    def test_usage_of_byok_calls_is_shown_per_provider(self, browser, workspace, openai):
        ProviderKeyFactory(workspace=workspace, provider=openai, secret=BYOK_SECRET)
        hour = timezone.now().replace(minute=0, second=0, microsecond=0)
        common = {"workspace": workspace, "hour": hour, "provider_slug": "openai", "model_name": "openai/cheap"}
        UsageRollupFactory(
            **common, is_byok=True, requests=3, prompt_tokens=1000, completion_tokens=234, cost_usd=Decimal("0.0125")
        )
        UsageRollupFactory(
            **common,
            is_byok=True,
            requests=2,
            prompt_tokens=1,
            completion_tokens=1,
            cost_usd=Decimal("0.0001"),
            agent=AgentFactory(workspace=workspace),
        )
        UsageRollupFactory(**common, is_byok=False, requests=50, cost_usd=Decimal("9"))  # the platform's key
        UsageRollupFactory(**{**common, "workspace": WorkspaceFactory()}, is_byok=True, requests=70)

        html = _html(browser.get(PAGE))

        assert '<td class="num" data-figure="requests">5</td>' in html
        assert '<td class="num" data-figure="tokens">1,236</td>' in html
        assert '<td class="num" data-figure="cost">$0.0126' in html
        assert "Usage is counted per provider" in html

    def test_a_byok_call_shows_at_once_and_counts_once(self, browser, workspace, openai):
        ProviderKeyFactory(workspace=workspace, provider=openai, secret=BYOK_SECRET)
        model = ModelFactory(provider=openai, upstream_name="fresh")
        usage_rollup_build()
        UsageRecordFactory(workspace=workspace, model=model, is_byok=True, prompt_tokens=10, completion_tokens=5)
        UsageRecordFactory(workspace=workspace, model=model, is_byok=False)  # the platform's key
        assert '<td class="num" data-figure="requests">1</td>' in _html(browser.get(PAGE))
        usage_rollup_build()
        html = _html(browser.get(PAGE))
        assert '<td class="num" data-figure="requests">1</td>' in html
        assert '<td class="num" data-figure="tokens">15</td>' in html


class TestApiKeys:
    def _create(self, browser, **data):
        token = _create_token(browser)
        return browser.post("/keys/api-keys/", {"create_token": token, **data}), token

    def test_the_secret_is_shown_once_then_never_again(self, browser, workspace, member, caplog):
        caplog.set_level(logging.DEBUG)
        response, token = self._create(browser, name=" CI ", rpm_limit="60")

        assert response.status_code == 201
        assert "no-store" in response["Cache-Control"]
        api_key = ApiKey.objects.get(workspace=workspace)
        secret = response.context["secret"]
        assert api_key.key_hash == secret_hash(secret)
        assert (api_key.name, api_key.rpm_limit, api_key.tpm_limit, api_key.created_by) == ("CI", 60, None, member)
        html = _html(response)
        assert '<label for="new-api-key">Your new API key</label>' in html
        assert f'<input type="text" id="new-api-key" value="{secret}" readonly' in html
        assert '<button type="button" id="copy-api-key" data-copy-target="new-api-key" hidden>Copy</button>' in html
        assert '<p id="copy-status" class="copy-status" role="status" aria-live="polite"></p>' in html

        # A reload re-posts the form: no second key, and no secret.
        again = browser.post("/keys/api-keys/", {"create_token": token, "name": " CI ", "rpm_limit": "60"}, follow=True)
        assert ApiKey.objects.count() == 1
        assert "That key was already created. Its secret was shown once and cannot be shown again." in _html(again)
        assert secret not in _html(again)

        listed = _html(browser.get(PAGE))
        assert secret not in listed
        assert f'<code data-figure="mask">{api_key.mask}</code>' in listed
        assert '<td data-figure="last-used">never</td>' in listed
        assert AuditEvent.objects.get(action="api_key.created").actor == member
        assert secret not in _audit_text()
        assert all(secret not in record.getMessage() for record in caplog.records)

    def test_a_key_can_be_bound_to_an_agent_of_the_workspace(self, browser, workspace):
        agent = AgentFactory(workspace=workspace, name="Support bot")

        response, _ = self._create(browser, name="bot", agent=str(agent.pk))

        assert response.status_code == 201
        assert ApiKey.objects.get().agent == agent
        assert "Calls with it run as the agent Support bot." in _html(response)

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"name": ""}, "Give the key a name."),
            ({"name": "   "}, "Give the key a name."),
            ({"name": "CI", "rpm_limit": "0"}, "Ensure this value is greater than or equal to 1."),
            ({"name": "CI", "tpm_limit": "many"}, "Enter a whole number."),
            ({"name": "CI", "agent": "999999"}, "Select a valid choice."),
        ],
    )
    def test_bad_input_is_refused_on_the_page_and_nothing_is_written(self, browser, data, error):
        response, _ = self._create(browser, **data)

        assert response.status_code == 400
        assert error in _html(response)
        assert ApiKey.objects.count() == 0
        assert AuditEvent.objects.count() == 0

    def test_a_form_that_failed_can_be_sent_again_once_corrected(self, browser, workspace):
        failed, _ = self._create(browser, name="")
        token = failed.context["create_token"]

        response = browser.post("/keys/api-keys/", {"create_token": token, "name": "fixed"})

        assert response.status_code == 201
        assert ApiKey.objects.get().name == "fixed"

    def test_the_list_shows_prefix_created_last_used_and_usage(self, browser, workspace):
        used = timezone.now().replace(microsecond=0)
        api_key = ApiKeyFactory(workspace=workspace, name="prod", last_used_at=used)
        ApiKeyFactory(workspace=workspace, name="old", revoked_at=used)
        UsageRollupFactory(workspace=workspace, api_key=api_key, requests=7, cost_usd=Decimal("0.5"))

        html = _html(browser.get(PAGE))

        row = html.split(f'data-api-key="{api_key.pk}"')[1].split("</tr>")[0]
        assert f'<code data-figure="mask">{api_key.mask}</code>' in row
        assert f"{api_key.created_at:%Y-%m-%d %H:%M}</time>" in row
        assert f"{used:%Y-%m-%d %H:%M}</time>" in row
        assert '<td data-figure="status">Active</td>' in row
        assert '<td class="num" data-figure="requests">7</td>' in row
        assert '<td class="num" data-figure="cost">$0.5000</td>' in row
        assert 'aria-label="Revoke API key prod">Revoke</a>' in row
        old = html.split('<th scope="row">old</th>')[1].split("</tr>")[0]
        assert '<td data-figure="status">Revoked</td>' in old and "Revoke</a>" not in old

    def test_revoking_asks_first_then_revokes(self, browser, workspace, member):
        api_key = ApiKeyFactory(workspace=workspace, name="CI")
        url = f"/keys/api-keys/{api_key.pk}/revoke/"

        confirm = browser.get(url)
        assert confirm.status_code == 200
        assert f"<h1>Revoke the API key CI ({api_key.mask})?</h1>" in _html(confirm)
        api_key.refresh_from_db()
        assert api_key.revoked_at is None

        response = browser.post(url)
        assert response.status_code == 302 and response["Location"] == PAGE
        api_key.refresh_from_db()
        assert api_key.revoked_at is not None
        assert f"API key CI ({api_key.mask}) revoked." in _html(browser.get(PAGE))
        assert AuditEvent.objects.get(action="api_key.revoked").actor == member


def _create_token(browser: Client) -> str:
    return browser.get(PAGE).context["create_token"]


class TestAnotherWorkspace:
    def test_the_page_never_lists_another_workspaces_keys(self, browser, workspace, stranger_workspace):
        html = _html(browser.get(PAGE))
        assert "Bravo CI" not in html and "sk-…zzzz" not in html
        assert 'data-empty="provider-keys"' in html and 'data-empty="api-keys"' in html

    def test_another_workspaces_agent_cannot_be_chosen(self, browser, workspace, openai, stranger_workspace):
        foreign_agent = AgentFactory(workspace=stranger_workspace)
        html = _html(browser.get(PAGE))
        assert foreign_agent.name not in html

        token = _create_token(browser)
        response = browser.post("/keys/api-keys/", {"create_token": token, "name": "x", "agent": str(foreign_agent.pk)})
        assert response.status_code == 400 and ApiKey.objects.filter(workspace=workspace).count() == 0
        response = browser.post(
            "/keys/provider-keys/",
            {"provider": "openai", "secret": BYOK_SECRET, "used_by": f"agent:{foreign_agent.pk}"},
        )
        assert response.status_code == 400 and ProviderKey.objects.filter(workspace=workspace).count() == 0

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("post", "/keys/provider-keys/{provider_key}/test/"),
            ("get", "/keys/provider-keys/{provider_key}/remove/"),
            ("post", "/keys/provider-keys/{provider_key}/remove/"),
            ("get", "/keys/api-keys/{api_key}/revoke/"),
            ("post", "/keys/api-keys/{api_key}/revoke/"),
        ],
    )
    def test_another_workspaces_key_ids_are_404_and_nothing_changes(
        self, browser, workspace, stranger_workspace, mock_provider, method, path
    ):
        provider_key = ProviderKey.objects.get(workspace=stranger_workspace)
        api_key = ApiKey.objects.get(workspace=stranger_workspace)

        response = getattr(browser, method)(path.format(provider_key=provider_key.pk, api_key=api_key.pk))

        assert response.status_code == 404
        provider_key.refresh_from_db()
        api_key.refresh_from_db()
        assert (provider_key.status, provider_key.last_validated_at) == (ProviderKeyStatus.UNTESTED, None)
        assert api_key.revoked_at is None
        assert list(mock_provider.state.requests) == []
        assert AuditEvent.objects.count() == 0

    def test_a_member_of_both_acts_in_the_workspace_the_link_names(
        self, browser, member, workspace, stranger_workspace
    ):
        MembershipFactory(workspace=stranger_workspace, user=member)
        api_key = ApiKey.objects.get(workspace=stranger_workspace)

        html = _html(browser.get(f"{PAGE}?workspace=bravo"))
        assert "Bravo CI" in html
        assert f'href="/keys/api-keys/{api_key.pk}/revoke/?workspace=bravo"' in html
        assert 'action="/keys/api-keys/?workspace=bravo"' in html
        assert browser.post(f"/keys/api-keys/{api_key.pk}/revoke/").status_code == 404  # acme is the default
        response = browser.post(f"/keys/api-keys/{api_key.pk}/revoke/?workspace=bravo")
        assert response.status_code == 302 and response["Location"] == f"{PAGE}?workspace=bravo"
        api_key.refresh_from_db()
        assert api_key.revoked_at is not None


def test_the_list_page_takes_no_posts(browser, workspace):
    assert browser.post(PAGE, {"name": "x"}).status_code == 405
    assert ApiKey.objects.count() == 0
