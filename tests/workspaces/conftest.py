import pytest
from rest_framework.test import APIClient

from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory


@pytest.fixture
def member(workspace):
    """The owner of the test module's `workspace`, user `ada`."""
    return MembershipFactory(workspace=workspace, user=UserFactory(username="ada"), role="owner").user


@pytest.fixture
def client(member) -> APIClient:
    """DRF's test client, signed in as `member`."""
    client = APIClient()
    client.force_login(member)
    return client
