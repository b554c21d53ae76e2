"""The agent services check their input themselves, whoever calls them (the API's serializers, the pages' forms)."""

import pytest
from django.core.exceptions import ValidationError

from apps.core.errors import ApplicationError
from apps.workspaces.agent_services import agent_create, agent_update
from apps.workspaces.models import Agent
from tests.workspaces.factories import AgentFactory, InstalledModelFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def installed():
    return InstalledModelFactory(workspace=WorkspaceFactory(plan__model_access="all"))


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"routing_weights": "heavy"}, "routing_weights"),
        ({"routing_weights": {"cost": True}}, "routing_weights"),
        ({"temperature": True}, "temperature"),
        ({"temperature": "nan"}, "temperature"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"is_active": "yes"}, "is_active"),
        ({"slug": 42}, "slug"),
        ({"description": 42}, "description"),
        ({"fallback_models": [None]}, "fallback_models"),
        ({"task_rules": ["code"]}, "task_rules"),
        ({"task_rules": {"code": 7}}, "task_rules"),
        ({"power_level": None}, "power_level"),
        ({"budgets": [{"period": "daily"}]}, "budgets"),
        ({"budgets": [{"limit_usd": "1", "period": "hourly"}]}, "budgets"),
    ],
)
def test_raw_input_is_refused_by_field(installed, config, field):
    with pytest.raises(ValidationError) as excinfo:
        agent_create(
            workspace=installed.workspace,
            name="Bot",
            primary_model=installed.model.model_id,
            **{"slug": "bot", **config},
        )
    assert list(excinfo.value.message_dict) == [field]
    assert not Agent.objects.exists()


def test_unknown_fields_are_a_caller_error(installed):
    agent = AgentFactory(workspace=installed.workspace, primary_model=installed.model)
    with pytest.raises(ApplicationError, match=r"Unknown agent fields: fallbacks\."):
        agent_update(agent=agent, data={"fallbacks": []})
