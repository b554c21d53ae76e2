"""A live gateway for the tests of /v1: the project's ASGI application served by uvicorn from a thread of the
test process (so it shares the test database), calling the mock provider over real HTTP."""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from apps.analytics.models import UsageRecord
from apps.billing.admission import admission_backend_reset
from apps.catalog.models import AdapterKind
from apps.routing.gateway import context
from apps.routing.gateway.recording import usage_spool
from apps.routing.health import health_tracker_reset
from apps.workspaces.models import ModelAccess
from tests.catalog.factories import ModelFactory, ProviderFactory
from tests.core.factories import UserFactory
from tests.keys.factories import ApiKeyFactory
from tests.workspaces.factories import InstalledModelFactory, MembershipFactory, PlanFactory, WorkspaceFactory

PRICES = {
    # canonical id: (input, output, cache read, cache write) in USD per token
    "openai/gpt-4o-mini": (Decimal("0.00000015"), Decimal("0.0000006"), Decimal("0.000000075"), None),
    "anthropic/claude-haiku-4-5": (
        Decimal("0.000001"),
        Decimal("0.000005"),
        Decimal("0.0000001"),
        Decimal("0.00000125"),
    ),
    "gemini/gemini-2.5-flash": (Decimal("0.0000003"), Decimal("0.0000025"), Decimal("0.00000003"), None),
    "gemini/gemini-3-pro": (Decimal("0.000002"), Decimal("0.000012"), Decimal("0.0000002"), None),
}


@dataclass
class Gateway:
    url: str
    mock: object
    workspace: object
    user: object
    api_key: object
    secret: str
    models: dict = field(default_factory=dict)
    providers: dict = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def records(self, expected: int = 1, **filters) -> list[UsageRecord]:
        """Usage records once `expected` of them are in the database.

        The gateway writes a record just after the response ends and moves its spool into the database every
        half second; a test flushes the spool itself and waits briefly for the record to be written."""
        deadline = time.monotonic() + 5
        while True:
            usage_spool().flush()
            records = list(UsageRecord.objects.filter(**filters).order_by("created_at", "id"))
            if len(records) >= expected or time.monotonic() > deadline:
                return records
            time.sleep(0.02)

    def record(self, generation_id: str) -> UsageRecord:
        [record] = self.records(generation_id=generation_id)
        return record


def mock_providers(mock_url: str, *, key_suffix: str = "") -> dict:
    """OpenAI, Anthropic and Gemini providers pointed at the mock provider, each with a platform key."""
    return {
        "openai": ProviderFactory(
            slug="openai",
            name="OpenAI",
            adapter_kind=AdapterKind.OPENAI,
            base_url=f"{mock_url}/v1",
            platform_key=f"sk-platform-openai{key_suffix}",
            env_key_name="OPENAI_API_KEY",
        ),
        "anthropic": ProviderFactory(
            slug="anthropic",
            name="Anthropic",
            adapter_kind=AdapterKind.ANTHROPIC,
            base_url=mock_url,
            platform_key=f"sk-platform-anthropic{key_suffix}",
            env_key_name="ANTHROPIC_API_KEY",
        ),
        "gemini": ProviderFactory(
            slug="gemini",
            name="Google Gemini",
            adapter_kind=AdapterKind.GEMINI,
            base_url=mock_url,
            platform_key=f"platform-gemini{key_suffix}",
            env_key_name="GEMINI_API_KEY",
        ),
    }


@pytest.fixture
def gateway(transactional_db, gateway_url, mock_provider) -> Iterator[Gateway]:
    context.clear_caches()
    health_tracker_reset()  # circuits opened by another test's faults must not leak into this one
    admission_backend_reset()  # nor budget counters and rate-limit windows
    providers = mock_providers(mock_provider.url)
    models = {}
    for model_id, (input_price, output_price, cache_read, cache_write) in PRICES.items():
        provider_slug, upstream = model_id.split("/", 1)
        models[model_id] = ModelFactory(
            provider=providers[provider_slug],
            model_id=model_id,
            upstream_name=upstream,
            input_price=input_price,
            output_price=output_price,
            cache_read_price=cache_read,
            cache_write_price=cache_write,
            supports_vision=True,
        )
    plan = PlanFactory(model_access=ModelAccess.ALL, byok_allowed=True, monthly_token_quota=None)
    user = UserFactory()
    workspace = WorkspaceFactory(plan=plan)
    MembershipFactory(workspace=workspace, user=user, role="owner")
    for model in models.values():
        InstalledModelFactory(workspace=workspace, model=model)
    api_key, secret = ApiKeyFactory.create_with_secret(workspace=workspace, created_by=user)
    yield Gateway(gateway_url, mock_provider, workspace, user, api_key, secret, models, providers)
    usage_spool().flush()
    context.clear_caches()
