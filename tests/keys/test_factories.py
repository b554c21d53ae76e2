import pytest

from apps.core.secrets import secret_hash
from apps.keys.models import ApiKey, ProviderKey
from tests.keys.factories import ApiKeyFactory, ProviderKeyFactory

pytestmark = pytest.mark.django_db


def test_api_key_factory_saves_a_valid_key():
    api_key = ApiKeyFactory()
    api_key.full_clean()
    assert ApiKey.objects.filter(pk=api_key.pk).exists()
    assert len(api_key.key_hash) == 64


def test_api_key_factory_exposes_the_raw_secret():
    api_key, raw_secret = ApiKeyFactory.create_with_secret(name="ci")
    assert raw_secret.startswith("sk-sy-")
    assert api_key.key_hash == secret_hash(raw_secret)
    assert api_key.mask.endswith(raw_secret[-4:])


def test_provider_key_factory_saves_and_decrypts():
    provider_key = ProviderKeyFactory(secret="sk-provider-secret-value-1234")
    provider_key.full_clean()
    assert ProviderKey.objects.get(pk=provider_key.pk).secret == "sk-provider-secret-value-1234"
    assert provider_key.mask == "sk-…1234"
