import pytest

from apps.core.models import User
from tests.core.admin_checks import admin_url, assert_access_is_restricted, assert_admin_pages_work
from tests.workspaces.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_user_admin_pages_work(admin_client):
    user = MembershipFactory(user__username="ada").user
    assert_admin_pages_work(admin_client, user, contains="ada")


def test_user_change_page_lists_the_workspaces_of_the_user(admin_client):
    membership = MembershipFactory(workspace__name="Rocket Team", role="admin")
    response = admin_client.get(admin_url(User, "change", membership.user.pk))
    assert response.status_code == 200
    assert "Rocket Team" in response.content.decode()


def test_user_admin_is_restricted():
    assert_access_is_restricted(User)
