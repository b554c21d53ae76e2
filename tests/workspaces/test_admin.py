from decimal import Decimal

import pytest

from apps.analytics.models import AuditEvent
from apps.catalog.models import PlanTier
from apps.workspaces.models import Agent, AgentFallback, InstalledModel, Membership, ModelAccess, Plan, Role, Workspace
from tests.catalog.factories import ModelFactory
from tests.core.admin_checks import (
    admin_url,
    assert_access_is_restricted,
    assert_admin_pages_work,
    assert_changelist_queries_do_not_grow,
    changeform_data,
)
from tests.core.factories import UserFactory
from tests.workspaces.factories import (
    AgentFactory,
    AgentFallbackFactory,
    InstalledModelFactory,
    MembershipFactory,
    PlanFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("build", "contains"),
    [
        (lambda: PlanFactory(name="Galaxy"), "Galaxy"),
        (lambda: MembershipFactory(workspace__name="Orbit").workspace, "Orbit"),
        (lambda: AgentFallbackFactory(agent__name="Triage Bot").agent, "Triage Bot"),
        (lambda: InstalledModelFactory(model__upstream_name="tiny-llm"), "tiny-llm"),
    ],
    ids=["plan", "workspace", "agent", "installed-model"],
)
def test_pages_load(admin_client, build, contains):
    assert_admin_pages_work(admin_client, build(), contains=contains)


@pytest.mark.parametrize("model", [Plan, Workspace, Agent, InstalledModel])
def test_access_is_restricted(model):
    assert_access_is_restricted(model)


class TestPlanAdmin:
    def test_list_shows_unlimited_quota_and_workspace_count(self, admin_client):
        plan = PlanFactory(name="Infinite", monthly_token_quota=None)
        WorkspaceFactory.create_batch(3, plan=plan)
        response = admin_client.get(admin_url(Plan, "changelist"), {"q": "Infinite"})
        row = next(p for p in response.context["cl"].result_list if p.pk == plan.pk)
        assert row.workspace_count == 3
        assert "unlimited" in response.content.decode()

    def test_edit_records_a_plan_changed_event_with_the_change(self, admin_client):
        plan = PlanFactory(monthly_token_quota=1000)
        model = ModelFactory()
        url = admin_url(Plan, "change", plan.pk)
        data = changeform_data(admin_client.get(url))
        data.update(
            monthly_token_quota="2000",
            model_access=ModelAccess.TIERS,
            allowed_tiers=[PlanTier.STARTER, PlanTier.PRO],
            allowed_models=[model.pk],
        )
        response = admin_client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        plan.refresh_from_db()
        assert plan.monthly_token_quota == 2000
        assert sorted(plan.allowed_tiers) == ["pro", "starter"]
        assert list(plan.allowed_models.all()) == [model]
        event = AuditEvent.objects.get(action="plan.changed")
        assert event.target_id == str(plan.pk)
        assert event.data["changes"]["monthly_token_quota"] == {"from": 1000, "to": 2000}
        assert event.data["changes"]["allowed_models"] == {"from": [], "to": [str(model.pk)]}

    def test_a_second_default_plan_is_refused(self, admin_client):
        Plan.objects.filter(is_default=True).update(is_default=False)
        PlanFactory(is_default=True)
        plan = PlanFactory()
        url = admin_url(Plan, "change", plan.pk)
        data = changeform_data(admin_client.get(url))
        data["is_default"] = "on"
        response = admin_client.post(url, data)
        assert response.status_code == 200
        assert Plan.objects.filter(is_default=True).count() == 1


class TestWorkspaceAdmin:
    def test_add_goes_through_workspace_create(self, admin_client):
        Plan.objects.filter(is_default=True).update(is_default=False)
        default_plan = PlanFactory(is_default=True)
        default_model = ModelFactory(default_installed=True)
        owner = UserFactory()
        url = admin_url(Workspace, "add")
        data = changeform_data(admin_client.get(url))
        data.update(
            {
                "name": "Nova",
                "slug": "nova",
                "timezone": "Europe/Paris",
                "memberships-TOTAL_FORMS": "1",
                "memberships-0-user": owner.pk,
                "memberships-0-role": Role.OWNER,
            }
        )
        response = admin_client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        workspace = Workspace.objects.get(slug="nova")
        assert workspace.plan == default_plan
        assert workspace.timezone == "Europe/Paris"
        assert list(workspace.installed_models.values_list("model", flat=True)) == [default_model.pk]
        assert Membership.objects.get(workspace=workspace).user == owner
        actions = set(AuditEvent.objects.filter(workspace=workspace).values_list("action", flat=True))
        assert {"workspace.created", "membership.added"} <= actions

    def test_list_editable_plan_goes_through_the_service(self, admin_client):
        old_plan, new_plan = PlanFactory(slug="small"), PlanFactory(slug="large")
        workspace = WorkspaceFactory(plan=old_plan)
        url = admin_url(Workspace, "changelist")
        response = admin_client.get(url, {"q": workspace.slug})
        formset = response.context["cl"].formset
        data = {formset.management_form.add_prefix(k): v.value() for k, v in _bound(formset.management_form)}
        data.update({"form-0-id": workspace.pk, "form-0-plan": new_plan.pk, "_save": "Save"})
        response = admin_client.post(url + f"?q={workspace.slug}", data)
        assert response.status_code == 302
        workspace.refresh_from_db()
        assert workspace.plan == new_plan
        event = AuditEvent.objects.get(action="workspace.plan_changed")
        assert event.data == {"from": "small", "to": "large"}
        assert event.actor.username == "admin"

    def test_inline_install_refuses_a_model_the_plan_does_not_allow(self, admin_client):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.DEFAULT))
        forbidden = ModelFactory(default_installed=False)
        url = admin_url(Workspace, "change", workspace.pk)
        data = changeform_data(admin_client.get(url))
        data.update({"installed_models-TOTAL_FORMS": "1", "installed_models-0-model": forbidden.pk})
        response = admin_client.post(url, data)
        assert response.status_code == 200
        assert "does not include" in response.content.decode()
        assert not InstalledModel.objects.exists()

    def test_inline_install_and_uninstall_go_through_the_services(self, admin_client):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        installed = InstalledModelFactory(workspace=workspace)
        new_model = ModelFactory()
        url = admin_url(Workspace, "change", workspace.pk)
        data = changeform_data(admin_client.get(url))
        data.update(
            {
                "installed_models-0-DELETE": "on",
                "installed_models-TOTAL_FORMS": "2",
                "installed_models-1-model": new_model.pk,
            }
        )
        response = admin_client.post(url, data)
        assert response.status_code == 302
        assert list(workspace.installed_models.values_list("model", flat=True)) == [new_model.pk]
        assert AuditEvent.objects.filter(action="model.uninstalled", data__model=installed.model.model_id).exists()
        assert AuditEvent.objects.filter(action="model.installed", data__model=new_model.model_id).exists()

    def test_membership_inline_role_change_and_removal(self, admin_client):
        workspace = WorkspaceFactory()
        keep = MembershipFactory(workspace=workspace, role=Role.MEMBER, user__username="keep")
        MembershipFactory(workspace=workspace, user__username="leave")
        url = admin_url(Workspace, "change", workspace.pk)
        data = changeform_data(admin_client.get(url))
        forms = {data[f"memberships-{i}-id"]: i for i in range(2)}
        data[f"memberships-{forms[keep.pk]}-role"] = Role.ADMIN
        data[f"memberships-{1 - forms[keep.pk]}-DELETE"] = "on"
        response = admin_client.post(url, data)
        assert response.status_code == 302
        assert list(workspace.memberships.values_list("user__username", "role")) == [("keep", Role.ADMIN)]
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"membership.role_changed", "membership.removed", "admin.workspace.changed"} <= actions


def _bound(form):
    return [(name, form[name]) for name in form.fields]


class TestAgentAdmin:
    def test_fallback_inline_is_ordered_by_position(self, admin_client):
        agent = AgentFactory()
        AgentFallbackFactory(agent=agent, position=2, model__upstream_name="second-choice")
        AgentFallbackFactory(agent=agent, position=1, model__upstream_name="first-choice")
        response = admin_client.get(admin_url(Agent, "change", agent.pk))
        content = response.content.decode()
        assert content.index("first-choice") < content.index("second-choice")

    def test_add_sets_created_by_and_records_an_event(self, admin_client):
        workspace = WorkspaceFactory()
        fallback = ModelFactory()
        url = admin_url(Agent, "add")
        data = changeform_data(admin_client.get(url))
        data.update(
            {
                "workspace": workspace.pk,
                "slug": "helper",
                "name": "Helper",
                "temperature": "0.7",
                "fallbacks-TOTAL_FORMS": "1",
                "fallbacks-0-position": "1",
                "fallbacks-0-model": fallback.pk,
            }
        )
        response = admin_client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        agent = Agent.objects.get(slug="helper")
        assert agent.created_by.username == "admin"
        assert agent.temperature == Decimal("0.70")
        assert list(AgentFallback.objects.filter(agent=agent).values_list("model", flat=True)) == [fallback.pk]
        assert AuditEvent.objects.filter(action="admin.agent.created", target_id=str(agent.pk)).exists()


class TestInstalledModelAdmin:
    def test_add_refuses_a_disabled_model(self, admin_client):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        disabled = ModelFactory(enabled=False)
        response = admin_client.post(
            admin_url(InstalledModel, "add"), {"workspace": workspace.pk, "model": disabled.pk}
        )
        assert response.status_code == 200
        assert "disabled" in response.content.decode()
        assert not InstalledModel.objects.exists()

    def test_add_and_delete_go_through_the_services(self, admin_client):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        model = ModelFactory()
        response = admin_client.post(admin_url(InstalledModel, "add"), {"workspace": workspace.pk, "model": model.pk})
        assert response.status_code == 302
        installed = InstalledModel.objects.get(workspace=workspace, model=model)
        assert installed.installed_by.username == "admin"
        response = admin_client.post(admin_url(InstalledModel, "delete", installed.pk), {"post": "yes"})
        assert response.status_code == 302
        assert not InstalledModel.objects.exists()
        assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
            "model.installed",
            "model.uninstalled",
        ]

    def test_installs_cannot_be_edited(self, admin_client):
        installed = InstalledModelFactory()
        response = admin_client.post(admin_url(InstalledModel, "change", installed.pk), {"model": ModelFactory().pk})
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("model", "factory_class"),
    [(Workspace, WorkspaceFactory), (Agent, AgentFactory), (InstalledModel, InstalledModelFactory)],
)
def test_changelists_run_no_query_per_row(admin_client, model, factory_class):
    assert_changelist_queries_do_not_grow(admin_client, model, factory_class.create_batch)
