import pytest
from django.core.exceptions import ValidationError

from apps.analytics.models import AuditEvent
from apps.catalog.models import PlanTier
from apps.core.errors import ApplicationError
from apps.workspaces.models import InstalledModel, Membership, ModelAccess, Plan, Role, Workspace
from apps.workspaces.selectors import installed_model_list, membership_list
from apps.workspaces.services import (
    membership_add,
    membership_change_role,
    membership_remove,
    model_install,
    model_uninstall,
    workspace_change_plan,
    workspace_create,
    workspace_settings_update,
)
from tests.catalog.factories import ModelFactory
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory, PlanFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_plans():
    """Forget the plans seeded by migration, so each test states the plans it needs."""
    Plan.objects.all().delete()


class TestWorkspaceCreate:
    def test_uses_the_default_plan_makes_the_owner_and_installs_default_models(self, no_plans):
        PlanFactory(slug="cheap", sort_order=0)
        default_plan = PlanFactory(slug="team", sort_order=5, is_default=True)
        default_model = ModelFactory(default_installed=True)
        ModelFactory(default_installed=True, enabled=False)
        ModelFactory(default_installed=False)
        owner = UserFactory()

        workspace = workspace_create(name="Acme Labs", owner=owner)

        assert workspace.plan == default_plan
        assert workspace.slug == "acme-labs"
        assert [(m.user, m.role) for m in membership_list(workspace=workspace)] == [(owner, Role.OWNER)]
        assert [i.model for i in installed_model_list(workspace=workspace)] == [default_model]
        assert AuditEvent.objects.filter(action="workspace.created", workspace=workspace, actor=owner).exists()

    def test_without_a_default_plan_takes_the_first_by_sort_order(self, no_plans):
        PlanFactory(slug="b-plan", sort_order=2)
        first = PlanFactory(slug="z-plan", sort_order=1)
        assert workspace_create(name="W").plan == first

    def test_explicit_plan_and_no_owner(self):
        plan = PlanFactory()
        workspace = workspace_create(name="W", plan=plan)
        assert workspace.plan == plan
        assert not Membership.objects.filter(workspace=workspace).exists()

    def test_default_models_the_plan_does_not_allow_are_not_installed(self):
        plan = PlanFactory(model_access=ModelAccess.TIERS, allowed_tiers=[PlanTier.STARTER])
        starter = ModelFactory(default_installed=True, plan_tier=PlanTier.STARTER)
        ModelFactory(default_installed=True, plan_tier=PlanTier.ENTERPRISE)
        workspace = workspace_create(name="W", plan=plan)
        assert list(InstalledModel.objects.filter(workspace=workspace).values_list("model", flat=True)) == [starter.pk]

    def test_generated_slugs_are_unique(self):
        first = workspace_create(name="Same Name")
        second = workspace_create(name="Same Name")
        assert (first.slug, second.slug) == ("same-name", "same-name-2")

    def test_taken_explicit_slug_is_refused(self):
        workspace_create(name="A", slug="taken")
        with pytest.raises(ApplicationError) as exc:
            workspace_create(name="B", slug="taken")
        assert exc.value.status == 409
        assert Workspace.objects.count() == 1

    def test_refuses_a_blank_name_and_a_missing_plan(self, no_plans):
        with pytest.raises(ApplicationError):
            workspace_create(name="W")
        PlanFactory()
        with pytest.raises(ApplicationError):
            workspace_create(name="  ")
        assert not Workspace.objects.exists()


class TestMemberships:
    def test_add_change_role_remove(self):
        workspace = WorkspaceFactory()
        user = UserFactory()
        membership = membership_add(workspace=workspace, user=user, role=Role.ADMIN)
        assert membership.role == Role.ADMIN
        membership_change_role(membership=membership, role=Role.MEMBER)
        assert Membership.objects.get(pk=membership.pk).role == Role.MEMBER
        membership_remove(membership=membership)
        assert not Membership.objects.filter(workspace=workspace).exists()
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
        assert actions == ["membership.added", "membership.role_changed", "membership.removed"]

    def test_adding_a_member_twice_conflicts(self):
        membership = MembershipFactory()
        with pytest.raises(ApplicationError) as exc:
            membership_add(workspace=membership.workspace, user=membership.user)
        assert exc.value.status == 409
        assert Membership.objects.count() == 1

    def test_unknown_role_is_refused(self):
        with pytest.raises(ApplicationError):
            membership_add(workspace=WorkspaceFactory(), user=UserFactory(), role="emperor")
        assert not Membership.objects.exists()


class TestWorkspaceChangePlan:
    def test_changes_the_plan_and_records_from_and_to(self):
        old, new = PlanFactory(slug="small"), PlanFactory(slug="big")
        workspace = WorkspaceFactory(plan=old)
        staff = UserFactory(staff=True)
        workspace_change_plan(workspace=workspace, plan=new, changed_by=staff)
        assert Workspace.objects.get(pk=workspace.pk).plan == new
        event = AuditEvent.objects.get(action="workspace.plan_changed")
        assert event.data == {"from": "small", "to": "big"}
        assert event.actor == staff

    def test_same_plan_records_nothing(self):
        workspace = WorkspaceFactory()
        workspace_change_plan(workspace=workspace, plan=workspace.plan)
        assert not AuditEvent.objects.exists()

    def test_reads_the_old_plan_from_the_database(self):
        old, new = PlanFactory(slug="old"), PlanFactory(slug="new")
        workspace = WorkspaceFactory(plan=old)
        workspace.plan = new  # as an admin form does before saving
        workspace_change_plan(workspace=workspace, plan=new)
        assert AuditEvent.objects.get(action="workspace.plan_changed").data == {"from": "old", "to": "new"}


class TestModelInstall:
    def test_install_is_idempotent(self):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        model = ModelFactory()
        first = model_install(workspace=workspace, model=model)
        second = model_install(workspace=workspace, model=model)
        assert first.pk == second.pk
        assert InstalledModel.objects.filter(workspace=workspace).count() == 1
        assert AuditEvent.objects.filter(action="model.installed").count() == 1

    def test_refuses_a_model_the_plan_does_not_allow(self):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.DEFAULT))
        with pytest.raises(ApplicationError) as exc:
            model_install(workspace=workspace, model=ModelFactory(default_installed=False))
        assert exc.value.status == 403
        assert not InstalledModel.objects.exists()

    def test_refuses_a_disabled_model(self):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        with pytest.raises(ApplicationError) as exc:
            model_install(workspace=workspace, model=ModelFactory(enabled=False))
        assert exc.value.status == 403
        assert not InstalledModel.objects.exists()

    def test_uninstall_is_idempotent(self):
        workspace = WorkspaceFactory(plan=PlanFactory(model_access=ModelAccess.ALL))
        model = ModelFactory()
        model_install(workspace=workspace, model=model)
        model_uninstall(workspace=workspace, model=model)
        model_uninstall(workspace=workspace, model=model)
        assert not InstalledModel.objects.exists()
        assert AuditEvent.objects.filter(action="model.uninstalled").count() == 1


class TestWorkspaceSettingsUpdate:
    """The service checks raw input itself, whoever calls it (the API's serializers, the pages' forms)."""

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"alert_emails": [5]}, "alert_emails"),
            ({"alert_emails": "ops@acme.test"}, "alert_emails"),
            ({"alert_webhook_url": 7}, "alert_webhook_url"),
            ({"routing_weights": {"cost": True}}, "routing_weights"),
            ({"preferred_power_level": None}, "preferred_power_level"),
            ({"timezone": None}, "timezone"),
            ({"default_models": ["chat"]}, "default_models"),
            ({"default_models": {"chat": 3}}, "default_models"),
        ],
    )
    def test_raw_input_is_refused_by_field(self, data, field):
        workspace = WorkspaceFactory()
        with pytest.raises(ValidationError) as excinfo:
            workspace_settings_update(workspace=workspace, data=data)
        assert list(excinfo.value.message_dict) == [field]
        assert Workspace.objects.values("alert_emails", "timezone").get(pk=workspace.pk) == {
            "alert_emails": [],
            "timezone": "UTC",
        }

    def test_unknown_settings_are_a_caller_error(self):
        with pytest.raises(ApplicationError, match=r"Unknown settings: plan\."):
            workspace_settings_update(workspace=WorkspaceFactory(), data={"plan": "pro"})
