"""Schemathesis against /api/schema/: every documented operation, fed generated input, never answers 5xx.

Each operation gets data that fits its schema (positive) and data that does not (negative), as a staff member's API
key of a seeded workspace, with path parameters sometimes swapped for the ids of real objects so that the object
endpoints are exercised past their 404. Bounded: SCHEMATHESIS_MAX_EXAMPLES examples per operation and mode,
and at most SCHEMATHESIS_SECONDS_PER_OPERATION seconds per operation and mode. Every 4xx answer must also be in the
/api error shape.
"""

import os
import time

import pytest
import schemathesis
from django.core.signals import got_request_exception, request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from apps.catalog.models import PlanTier
from apps.keys.models import ApiKey
from apps.workspaces.models import ModelAccess
from tests.billing.factories import BudgetFactory
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import (
    AgentFactory,
    InstalledModelFactory,
    MembershipFactory,
    PlanFactory,
    WorkspaceFactory,
)

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "12"))
SECONDS_PER_OPERATION = float(os.environ.get("SCHEMATHESIS_SECONDS_PER_OPERATION", "4"))

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """A workspace with a plan, models, an agent, a budget and a second key, and a staff member's key to call with."""
    plan = PlanFactory(slug="fuzz-pro", model_access=ModelAccess.TIERS, allowed_tiers=[PlanTier.STARTER, PlanTier.PRO])
    workspace = WorkspaceFactory(slug="fuzz", plan=plan)
    staff = UserFactory(username="fuzz-root", superuser=True)
    MembershipFactory(workspace=workspace, user=staff, role="owner")
    provider = ProviderFactory(slug="fuzz-openai", base_url="http://127.0.0.1:9/v1")
    models = [
        ModelFactory(provider=provider, upstream_name=name, plan_tier=tier, default_installed=True)
        for name, tier in (("mini", PlanTier.STARTER), ("large", PlanTier.PRO), ("max", PlanTier.ENTERPRISE))
    ]
    InstalledModelFactory(workspace=workspace, model=models[0])
    agent = AgentFactory(workspace=workspace, primary_model=models[0])
    budget = BudgetFactory(workspace=workspace)
    other_key = ApiKeyFactory(workspace=workspace, created_by=staff)
    api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=staff, name="fuzzer")
    real_ids = {
        "api_key_id": [other_key.pk],
        "budget_id": [budget.pk],
        "agent_id": [agent.pk],
        "slug": [plan.slug, provider.slug],
        "model_id": [model.model_id for model in models],
        "month": [f"{timezone.now():%Y-%m}"],
    }
    return api_key, secret, real_ids


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, served in the test's own transaction: like Django's test client, it must not close
    the database connection at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _error_shape_problem(response) -> str | None:
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"a {response.status_code} whose body is not JSON: {response.text[:200]!r}"
    if not (isinstance(body, dict) and set(body) == {"message", "extra"} and isinstance(body["message"], str)):
        return f"a {response.status_code} not in the {{message, extra}} shape: {body!r}"
    if not isinstance(body["extra"], dict) or not isinstance(body["extra"].get("code"), str):
        return f"a {response.status_code} whose extra has no code: {body!r}"
    return None


def test_no_operation_answers_with_a_server_error(world, wsgi_app):
    api_key, secret, real_ids = world
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    crashes: list[BaseException] = []

    def record(sender, request, **kwargs):
        import sys

        crashes.append(sys.exc_info()[1])

    got_request_exception.connect(record)
    failures: list[str] = []
    tested: list[str] = []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            tested.append(operation.label)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                problem = _fuzz(operation, mode, secret=secret, api_key=api_key, real_ids=real_ids, crashes=crashes)
                if problem:
                    failures.append(problem)
                    break
    finally:
        got_request_exception.disconnect(record)
    # The schema must hold the staff API at least (and whatever else /api documents).
    assert {"GET /api/staff/models", "PATCH /api/staff/models/{model_id}", "GET /api/keys/api-keys"} <= set(tested)
    assert not failures, "\n\n".join(failures)


def _fuzz(operation, mode, *, secret, api_key, real_ids, crashes) -> str | None:
    """Run one operation in one mode; the first problem found, described, or None."""
    found: list[str] = []
    started = time.monotonic()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case, data):
        if found or time.monotonic() - started > SECONDS_PER_OPERATION:
            return
        for name in list(case.path_parameters or {}):
            if real_ids.get(name) and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(real_ids[name]))
        # An example may revoke the key it calls with (ids are small numbers): keep it live for the next one.
        ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=None)
        crashes.clear()
        response = case.call(headers={"Authorization": f"Bearer {secret}"})
        problem = None
        if response.status_code >= 500:
            problem = f"{response.status_code}"
            if crashes:
                problem += f" after {type(crashes[-1]).__name__}: {crashes[-1]}"
        else:
            problem = _error_shape_problem(response)
        if problem:
            found.append(f"{operation.label} ({mode.value}) answered {problem}\n    {case.as_curl_command()}")

    run()
    return found[0] if found else None
