import pytest

from apps.analytics.models import AuditEvent, ModelHealth, UsageRecord, UsageRollup
from tests.analytics.factories import AuditEventFactory, ModelHealthFactory, UsageRecordFactory, UsageRollupFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("factory_class", "model"),
    [
        (UsageRecordFactory, UsageRecord),
        (UsageRollupFactory, UsageRollup),
        (ModelHealthFactory, ModelHealth),
        (AuditEventFactory, AuditEvent),
    ],
)
def test_factory_saves_a_valid_row(factory_class, model):
    obj = factory_class()
    obj.full_clean()
    assert model.objects.filter(pk=obj.pk).exists()


def test_usage_record_factory_is_consistent_with_its_model():
    record = UsageRecordFactory()
    assert record.model_name == record.model.model_id
    assert record.provider_id == record.model.provider_id
    assert record.total_tokens == 160
