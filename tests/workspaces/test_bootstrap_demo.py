import re
from io import StringIO

import pytest
from django.core.management import call_command

from apps.catalog.models import AdapterKind, Provider
from apps.keys.selectors import api_key_get_by_secret
from apps.workspaces.models import Workspace
from tests.catalog.factories import ModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("bootstrap_demo", *args, stdout=out)
    return out.getvalue()


def test_creates_admin_workspace_and_a_working_key_once():
    model = ModelFactory(default_installed=True, model_id="openai/gpt-4o-mini")

    first = run()
    secret = re.search(r"(sk-sy-\S+)", first).group(1)
    key = api_key_get_by_secret(secret=secret)
    workspace = Workspace.objects.get(slug="demo")
    assert key is not None and key.workspace == workspace
    assert workspace.plan.slug == "pro"
    assert workspace.memberships.get().user.is_superuser
    assert list(workspace.installed_models.values_list("model", flat=True)) == [model.pk]

    second = run()
    assert "sk-sy-" not in second
    assert workspace.api_keys.count() == 1
    assert "sk-sy-" in run("--new-key")
    assert workspace.api_keys.count() == 2


def test_mock_url_points_default_providers_at_the_mock_and_leaves_staff_choices_alone():
    ProviderFactory(slug="openai", adapter_kind=AdapterKind.OPENAI, base_url="https://api.openai.com/v1")
    ProviderFactory(slug="anthropic", adapter_kind=AdapterKind.ANTHROPIC, base_url="https://api.anthropic.com")
    ProviderFactory(slug="groq", base_url="https://groq.example.internal/v1", platform_key="real-key")

    output = run("--mock-url", "http://127.0.0.1:9100")

    assert "openai" in output
    openai, anthropic, groq = (Provider.objects.get(slug=s) for s in ("openai", "anthropic", "groq"))
    assert openai.base_url == "http://127.0.0.1:9100/v1" and openai.platform_key == "mock-key"
    assert anthropic.base_url == "http://127.0.0.1:9100"
    assert groq.base_url == "https://groq.example.internal/v1" and groq.platform_key == "real-key"
