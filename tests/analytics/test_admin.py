from decimal import Decimal

import pytest

from apps.analytics.models import AuditEvent, CircuitState, ModelHealth, UsageRecord, UsageRollup, UsageStatus
from apps.analytics.services import audit_event_record
from tests.analytics.factories import AuditEventFactory, ModelHealthFactory, UsageRecordFactory, UsageRollupFactory
from tests.catalog.factories import ProviderFactory
from tests.core.admin_checks import (
    admin_url,
    assert_access_is_restricted,
    assert_admin_pages_work,
    assert_changelist_queries_do_not_grow,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("build", "contains"),
    [
        (lambda: UsageRecordFactory(generation_id="gen-visible-1"), "gen-visible-1"),
        (lambda: UsageRollupFactory(model_name="acme/rolled-up"), "acme/rolled-up"),
        (lambda: ModelHealthFactory(model__upstream_name="healthy-one"), "healthy-one"),
        (lambda: AuditEventFactory(action="plan.changed"), "plan.changed"),
    ],
    ids=["usage-record", "usage-rollup", "model-health", "audit-event"],
)
def test_pages_load(admin_client, build, contains):
    assert_admin_pages_work(admin_client, build(), contains=contains)


@pytest.mark.parametrize("model", [UsageRecord, UsageRollup, ModelHealth, AuditEvent])
def test_access_is_restricted(model):
    assert_access_is_restricted(model)


@pytest.mark.parametrize(
    ("build", "model"),
    [
        (UsageRecordFactory, UsageRecord),
        (UsageRollupFactory, UsageRollup),
        (ModelHealthFactory, ModelHealth),
        (AuditEventFactory, AuditEvent),
    ],
)
def test_everything_here_is_read_only(admin_client, build, model):
    obj = build()
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    change_page = admin_client.get(admin_url(model, "change", obj.pk))
    assert change_page.status_code == 200
    assert 'name="_save"' not in change_page.content.decode()
    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_usage_filters_narrow_the_list(admin_client):
    UsageRecordFactory(generation_id="gen-ok", status=UsageStatus.SUCCESS)
    UsageRecordFactory(generation_id="gen-failed", status=UsageStatus.ERROR, streamed=True)
    response = admin_client.get(admin_url(UsageRecord, "changelist"), {"status__exact": "error"})
    assert [r.generation_id for r in response.context["cl"].result_list] == ["gen-failed"]
    response = admin_client.get(admin_url(UsageRecord, "changelist"), {"q": "gen-ok"})
    assert [r.generation_id for r in response.context["cl"].result_list] == ["gen-ok"]


def test_usage_changelist_skips_the_full_count(admin_client):
    UsageRecordFactory.create_batch(2)
    response = admin_client.get(admin_url(UsageRecord, "changelist"), {"status__exact": "success"})
    assert response.context["cl"].show_full_result_count is False
    assert response.context["cl"].full_result_count is None


def test_model_health_circuit_filter(admin_client):
    ModelHealthFactory(circuit_state=CircuitState.OPEN, model__upstream_name="broken-model")
    ModelHealthFactory(circuit_state=CircuitState.CLOSED, model__upstream_name="fine-model")
    response = admin_client.get(admin_url(ModelHealth, "changelist"), {"circuit_state__exact": "open"})
    assert [h.model.upstream_name for h in response.context["cl"].result_list] == ["broken-model"]


def test_model_health_open_circuits_and_provider_filters(admin_client):
    acme, other = ProviderFactory(slug="acme"), ProviderFactory(slug="other")
    ModelHealthFactory(circuit_state=CircuitState.OPEN, model__provider=acme, model__upstream_name="broken")
    ModelHealthFactory(circuit_state=CircuitState.HALF_OPEN, model__provider=other, model__upstream_name="probing")
    ModelHealthFactory(circuit_state=CircuitState.CLOSED, model__provider=acme, model__upstream_name="fine")
    url = admin_url(ModelHealth, "changelist")

    def listed(**params) -> set[str]:
        return {h.model.upstream_name for h in admin_client.get(url, params).context["cl"].result_list}

    assert listed(circuit="open") == {"broken", "probing"}
    assert listed(model__provider__id__exact=acme.pk) == {"broken", "fine"}
    assert listed(q="acme/fi") == {"fine"}


def test_model_health_list_shows_the_provider_and_the_error_rate(admin_client):
    ModelHealthFactory(model__provider=ProviderFactory(slug="acme"), error_rate=Decimal("0.125"))
    page = admin_client.get(admin_url(ModelHealth, "changelist")).content.decode()
    assert '<td class="field-provider">acme</td>' in page
    assert "12.5%" in page


def test_audit_family_filter(admin_client):
    audit_event_record(action="api_key.created")
    audit_event_record(action="plan.changed")
    response = admin_client.get(admin_url(AuditEvent, "changelist"), {"family": "plan"})
    assert [e.action for e in response.context["cl"].result_list] == ["plan.changed"]


@pytest.mark.parametrize(
    ("model", "factory_class"),
    [
        (UsageRecord, UsageRecordFactory),
        (UsageRollup, UsageRollupFactory),
        (ModelHealth, ModelHealthFactory),
        (AuditEvent, AuditEventFactory),
    ],
)
def test_changelists_run_no_query_per_row(admin_client, model, factory_class):
    assert_changelist_queries_do_not_grow(admin_client, model, factory_class.create_batch)
