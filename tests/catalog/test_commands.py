import io

import pytest
from django.core.management import CommandError, call_command

from apps.catalog.models import Model

from .conftest import OPENROUTER_SMALL, litellm_feed

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_catalog", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_summary_line(write_json):
    data = litellm_feed()
    data["broken"] = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "abc"}
    out, _ = _run("--litellm", str(write_json(data)), "--openrouter", str(OPENROUTER_SMALL), "--no-progress")
    assert "added 27, updated 0, unchanged 0, deprecated 2, price unknown 3, skipped 0, errors 1" in out
    assert "error: litellm broken: input_cost_per_token is not a number: 'abc'" in out
    assert Model.objects.count() == 27

    out, _ = _run("--litellm", str(write_json(data)), "--openrouter", str(OPENROUTER_SMALL), "--no-progress")
    assert "added 0, updated 0, unchanged 27, deprecated 0, price unknown 3, skipped 0, errors 1" in out


def test_default_is_the_shipped_litellm_snapshot(settings, write_json):
    settings.CATALOG_LITELLM_SNAPSHOT = write_json(litellm_feed())
    settings.CATALOG_OPENROUTER_SNAPSHOT = None
    out, _ = _run("--no-progress")
    assert f"LiteLLM: {settings.CATALOG_LITELLM_SNAPSHOT}" in out
    assert "OpenRouter:" not in out
    assert "added 8," in out


def test_live_uses_the_url_settings(settings, http_server, write_json):
    base_url, root = http_server
    (root / "prices.json").write_text(write_json(litellm_feed()).read_text())
    (root / "models.json").write_text(OPENROUTER_SMALL.read_text())
    settings.CATALOG_LITELLM_URL = f"{base_url}/prices.json"
    settings.CATALOG_OPENROUTER_URL = f"{base_url}/models.json"
    out, _ = _run("--live", "--no-progress")
    assert "added 27," in out
    assert Model.objects.filter(source="openrouter").count() == 19


def test_if_empty_skips_a_filled_catalog(write_json, settings):
    settings.CATALOG_LITELLM_SNAPSHOT = write_json(litellm_feed())
    out, _ = _run("--if-empty", "--no-progress")
    assert "added 8," in out
    data = litellm_feed()
    data["gpt-4o-mini"]["input_cost_per_token"] = 1e-06
    settings.CATALOG_LITELLM_SNAPSHOT = write_json(data, "changed.json")
    out, _ = _run("--if-empty", "--no-progress")
    assert out.strip() == "Catalog already has 8 models; nothing to do (--if-empty)."
    assert str(Model.objects.get(model_id="openai/gpt-4o-mini").input_price.normalize()) == "1.5E-7"


def test_aborted_sync_is_a_command_error(write_json):
    with pytest.raises(CommandError, match=r"Catalog sync aborted, nothing changed: .* not valid JSON"):
        _run("--litellm", str(write_json("{oops", "bad.json")), "--no-progress")
    assert Model.objects.count() == 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(write_json, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    _run("--litellm", str(write_json(litellm_feed())))
    assert "Syncing catalog" in terminal.getvalue()

    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    _run("--litellm", str(write_json(litellm_feed())), "--no-progress")
    assert "Syncing catalog" not in quiet.getvalue()
