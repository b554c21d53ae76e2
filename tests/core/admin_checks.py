"""Checks shared by the admin tests of every app."""

from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.core.factories import UserFactory


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def assert_changelist_works(client: Client, model, *, contains: str = "", search: str = "a") -> None:
    """The changelist loads, lists `contains`, and loads again under every filter choice, a search and a date."""
    url = admin_url(model, "changelist")
    response = client.get(url)
    assert response.status_code == 200
    assert contains in response.content.decode()
    changelist = response.context["cl"]
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            filtered = client.get(url + choice["query_string"])
            assert filtered.status_code == 200, (spec.title, choice["query_string"])
    if changelist.search_fields:
        assert client.get(url, {"q": search}).status_code == 200
    if changelist.date_hierarchy:
        now = timezone.now()
        field = changelist.date_hierarchy
        drilled = client.get(url, {f"{field}__year": now.year, f"{field}__month": now.month, f"{field}__day": now.day})
        assert drilled.status_code == 200


def assert_admin_pages_work(client: Client, obj, *, contains: str = "") -> None:
    """Changelist (with filters and search), change page and add page of `obj`'s admin."""
    model = type(obj)
    model_admin = admin.site._registry[model]
    assert_changelist_works(client, model, contains=contains)
    assert client.get(admin_url(model, "change", obj.pk)).status_code == 200
    expected_add_status = 200 if model_admin.has_add_permission(_superuser_request()) else 403
    assert client.get(admin_url(model, "add")).status_code == expected_add_status


def _superuser_request():
    class Request:
        user = UserFactory.build(is_staff=True, is_superuser=True, is_active=True)

    return Request()


def assert_access_is_restricted(model) -> None:
    """Anonymous and non-staff users go to the login page; staff without permissions are forbidden."""
    url = admin_url(model, "changelist")
    client = Client()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    client.force_login(UserFactory(staff=True))
    assert client.get(url).status_code == 403


def changeform_data(response) -> dict:
    """The POST data a browser would send back, unchanged, from an admin add/change page (with its inlines)."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


def assert_changelist_queries_do_not_grow(client: Client, model, make_rows) -> None:
    """Rendering the changelist costs the same number of queries for 2 rows as for 8 (no query per row)."""
    url = admin_url(model, "changelist")
    make_rows(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    make_rows(6)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["cl"].result_list) == 8
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
