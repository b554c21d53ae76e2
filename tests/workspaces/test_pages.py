"""The workspace every marketplace page acts in, and the header's switcher (apps/workspaces/pages.py).

Driven through a real page (the statement page) with Django's test client; the browser tests of each page check
the switcher by mouse and keyboard.
"""

import pytest
from django.test import Client

from apps.workspaces.pages import SESSION_WORKSPACE
from tests.core.factories import UserFactory
from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
PAGE = "/billing/statements/"


@pytest.fixture
def member():
    return UserFactory(username="ada")


@pytest.fixture
def browser(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def first(member):
    return MembershipFactory(workspace=WorkspaceFactory(slug="acme", name="Acme"), user=member).workspace


@pytest.fixture
def second(member, first):
    return MembershipFactory(workspace=WorkspaceFactory(slug="side", name="Side project"), user=member).workspace


def _current(client: Client) -> str:
    html = client.get(PAGE, follow=True).content.decode()
    for option in ('<option value="acme" selected>', '<option value="side" selected>'):
        if option in html:
            return option.split('"')[1]
    raise AssertionError("no workspace is selected in the switcher")


def test_the_first_workspace_joined_is_the_default_and_the_switcher_lists_only_the_members(browser, first, second):
    WorkspaceFactory(slug="stranger", name="Stranger")
    html = browser.get(PAGE, follow=True).content.decode()
    assert '<label for="workspace-switcher">Workspace</label>' in html
    assert '<option value="acme" selected>Acme</option>' in html
    assert '<option value="side">Side project</option>' in html
    assert "Stranger" not in html


def test_switching_is_remembered_and_returns_to_the_page(browser, first, second):
    response = browser.post("/workspace/switch/", {"workspace": "side", "next": "/billing/statements/2026-03/"})
    assert response.status_code == 302 and response["Location"] == "/billing/statements/2026-03/"
    assert browser.session[SESSION_WORKSPACE] == "side"
    assert _current(browser) == "side"


def test_switching_drops_the_old_workspace_parameter_but_keeps_the_rest(browser, first, second):
    response = browser.post("/workspace/switch/", {"workspace": "acme", "next": "/models/?workspace=side&q=code"})
    assert response["Location"] == "/models/?q=code"


def test_a_link_naming_a_workspace_wins_over_the_remembered_one(browser, first, second):
    browser.post("/workspace/switch/", {"workspace": "side", "next": PAGE})
    html = browser.get("/billing/statements/2026-03/?workspace=acme").content.decode()
    assert '<option value="acme" selected>Acme</option>' in html


def test_another_workspace_cannot_be_switched_to_or_named(browser, first, second):
    stranger = WorkspaceFactory(slug="stranger")
    assert browser.post("/workspace/switch/", {"workspace": stranger.slug, "next": PAGE}).status_code == 404
    assert SESSION_WORKSPACE not in browser.session
    assert browser.post("/workspace/switch/", {"workspace": "", "next": PAGE}).status_code == 404
    assert browser.get(f"/billing/statements/2026-03/?workspace={stranger.slug}").status_code == 404


def test_a_deactivated_workspace_cannot_be_switched_to(browser, first, second):
    second.is_active = False
    second.save()
    assert browser.post("/workspace/switch/", {"workspace": "side", "next": PAGE}).status_code == 404
    assert "side" not in browser.get(PAGE, follow=True).content.decode()


def test_leaving_the_remembered_workspace_falls_back_to_the_first(browser, member, first, second):
    browser.post("/workspace/switch/", {"workspace": "side", "next": PAGE})
    second.memberships.filter(user=member).delete()
    html = browser.get(PAGE, follow=True).content.decode()
    assert '<strong data-figure="current-workspace">Acme</strong>' in html


def test_switching_goes_nowhere_outside_the_site(browser, first, second):
    response = browser.post("/workspace/switch/", {"workspace": "side", "next": "https://evil.example/"})
    assert response["Location"] == "/models/"


def test_switching_needs_a_post_and_a_signed_in_member(browser, first):
    assert browser.get("/workspace/switch/").status_code == 405
    anonymous = Client().post("/workspace/switch/", {"workspace": "acme"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_the_home_page_is_the_model_browser():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/models/"
