import factory

from apps.core.secrets import secret_hash, secret_mask
from apps.keys.models import ApiKey, ProviderKey
from apps.keys.services import api_key_secret_generate
from tests.catalog.factories import ProviderFactory
from tests.workspaces.factories import WorkspaceFactory


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """`ApiKeyFactory.create_with_secret()` returns the key and the raw secret that authenticates as it."""

    class Meta:
        model = ApiKey

    class Params:
        raw_secret = factory.LazyFunction(api_key_secret_generate)

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    key_hash = factory.LazyAttribute(lambda o: secret_hash(o.raw_secret))
    mask = factory.LazyAttribute(lambda o: secret_mask(o.raw_secret))

    @classmethod
    def create_with_secret(cls, **kwargs) -> tuple[ApiKey, str]:
        raw_secret = api_key_secret_generate()
        return cls.create(raw_secret=raw_secret, **kwargs), raw_secret


class ProviderKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderKey

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = factory.SubFactory(ProviderFactory)
    secret = factory.Sequence(lambda n: f"sk-byok-test-{n:04d}-0123456789abcdef")
    mask = factory.LazyAttribute(lambda o: secret_mask(o.secret))
