import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _import_prod_settings(**env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "SWITCHYARD_ENCRYPTION_KEY"}}
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="config.settings.prod")
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "x" * 50}, "SWITCHYARD_ENCRYPTION_KEY"),
    ],
)
def test_prod_refuses_to_start_without_its_secrets(env, missing):
    result = _import_prod_settings(**env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_prod_starts_with_its_secrets_and_debug_off():
    result = _import_prod_settings(DJANGO_SECRET_KEY="x" * 50, SWITCHYARD_ENCRYPTION_KEY="y" * 32)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
