import pytest

from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_user_factory_saves_a_user_who_can_log_in():
    user = UserFactory()
    user.refresh_from_db()
    assert user.pk is not None
    assert user.check_password("correct-horse-battery")
    assert not user.is_staff


def test_user_factory_traits():
    assert UserFactory(staff=True).is_staff
    superuser = UserFactory(superuser=True)
    assert superuser.is_staff and superuser.is_superuser
