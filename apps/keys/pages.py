"""The Keys page (/keys/): the current workspace's own provider keys (BYOK) and its Switchyard API keys.

Every write goes through apps/keys/services.py, as /api/keys does, so the same rules and audit events apply; the
acting member is `request.user` and the request's origin reaches the audit events through the audit middleware.
Secrets: a provider key is never shown again after it is pasted (only its mask); an API key's secret appears once,
in the response to the form that creates it, which is not cached and cannot be replayed into a second key.
"""

import secrets
from collections import Counter
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.analytics.rollup_selectors import analytics_period, usage_costs
from apps.core.errors import ApplicationError
from apps.keys.apis import ApiKeyOutputSerializer
from apps.keys.forms import USED_BY_MEMBER, ApiKeyCreateForm, ProviderKeyAddForm
from apps.keys.models import ProviderKey, ProviderKeyStatus
from apps.keys.selectors import (
    api_key_get,
    api_key_list,
    byok_provider_get,
    byok_provider_list,
    byok_usage_by_provider,
    provider_key_get,
    provider_key_list,
)
from apps.keys.services import (
    api_key_create,
    api_key_revoke,
    provider_key_create,
    provider_key_delete,
    provider_key_plan_check,
    provider_key_test,
)
from apps.workspaces.pages import workspace_page
from apps.workspaces.selectors import agent_list

USAGE_PERIOD = "30d"
USAGE_PERIOD_DAYS = 30
# One-time tokens of the API key form, kept in the session; a few, so several open tabs each can create one key.
CREATE_TOKENS_SESSION_KEY = "key_pages_create_tokens"
CREATE_TOKENS_KEPT = 10
STATUS_LABELS = {
    ProviderKeyStatus.VALID: "OK",
    ProviderKeyStatus.INVALID: "Refused",
    ProviderKeyStatus.UNTESTED: "Not tested",
}


def _with_workspace(request: HttpRequest, url: str) -> str:
    """Keep a shared link's `?workspace=` on the page's own links and forms."""
    slug = request.GET.get("workspace", "").strip()
    return f"{url}?{urlencode({'workspace': slug})}" if slug else url


def _index_url(request: HttpRequest) -> str:
    return _with_workspace(request, reverse("key_pages:index"))


def _agents(workspace) -> list:
    return list(agent_list(workspace=workspace, is_active=True).prefetch_related(None))


def _provider_key_form(request: HttpRequest, data=None) -> ProviderKeyAddForm:
    return ProviderKeyAddForm(data, providers=list(byok_provider_list()), agents=_agents(request.workspace))


def _api_key_form(request: HttpRequest, data=None) -> ApiKeyCreateForm:
    return ApiKeyCreateForm(data, agents=_agents(request.workspace))


def _create_token_issue(request: HttpRequest) -> str:
    token = secrets.token_urlsafe(16)
    request.session[CREATE_TOKENS_SESSION_KEY] = [
        *request.session.get(CREATE_TOKENS_SESSION_KEY, [])[-(CREATE_TOKENS_KEPT - 1) :],
        token,
    ]
    return token


def _create_token_redeem(request: HttpRequest, token: str) -> bool:
    tokens = request.session.get(CREATE_TOKENS_SESSION_KEY, [])
    if token not in tokens:
        return False
    request.session[CREATE_TOKENS_SESSION_KEY] = [kept for kept in tokens if kept != token]
    return True


def _render_index(
    request: HttpRequest,
    *,
    provider_form: ProviderKeyAddForm | None = None,
    api_key_form: ApiKeyCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = request.workspace
    period = analytics_period(workspace=workspace, period=USAGE_PERIOD)
    byok_usage = byok_usage_by_provider(workspace=workspace, start_at=period.start_at, end_at=period.end_at)
    provider_keys = list(provider_key_list(workspace=workspace))
    key_counts = Counter(provider_key.provider_id for provider_key in provider_keys)
    api_key_rows = usage_costs(workspace=workspace, period=period, group_by="api_key", with_unrolled=True)
    api_key_usage = {row["key"]: row for row in api_key_rows if row["key"]}
    api_key_status = ApiKeyOutputSerializer().get_status  # active, revoked or expired, as /api/keys says
    context = {
        "workspace": workspace,
        "byok_allowed": workspace.plan.byok_allowed,
        "plan": workspace.plan,
        "usage_days": USAGE_PERIOD_DAYS,
        "provider_keys": [
            {
                "key": provider_key,
                "status_label": STATUS_LABELS.get(provider_key.status, provider_key.status),
                "usage": byok_usage.get(provider_key.provider.slug),
                "shares_usage": key_counts[provider_key.provider_id] > 1,
                "test_url": _with_workspace(request, reverse("key_pages:provider-key-test", args=[provider_key.pk])),
                "remove_url": _with_workspace(
                    request, reverse("key_pages:provider-key-remove", args=[provider_key.pk])
                ),
            }
            for provider_key in provider_keys
        ],
        "api_keys": [
            {
                "key": api_key,
                "status_label": api_key_status(api_key).capitalize(),
                "usage": api_key_usage.get(api_key.pk),
                "revoke_url": _with_workspace(request, reverse("key_pages:api-key-revoke", args=[api_key.pk])),
            }
            for api_key in api_key_list(workspace=workspace)
        ],
        "provider_form": provider_form or _provider_key_form(request),
        "api_key_form": api_key_form or _api_key_form(request),
        "provider_add_url": _with_workspace(request, reverse("key_pages:provider-key-add")),
        "api_key_create_url": _with_workspace(request, reverse("key_pages:api-key-create")),
        # Each showing of the form gets its own one-time token (see api_key_add).
        "create_token": _create_token_issue(request),
    }
    return render(request, "keys/index.html", context, status=status)


@require_safe
@workspace_page
def keys_index(request: HttpRequest) -> HttpResponse:
    return _render_index(request)


@sensitive_post_parameters("secret")
@require_POST
@workspace_page
def provider_key_add(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    form = _provider_key_form(request, request.POST)
    try:
        provider_key_plan_check(workspace=workspace)
    except ApplicationError as exc:
        form.is_valid()
        form.add_error(None, exc.message)
        return _render_index(request, provider_form=form, status=exc.status)
    if not form.is_valid():
        return _render_index(request, provider_form=form, status=400)
    data = form.cleaned_data
    provider = byok_provider_get(slug=data["provider"])
    if provider is None:  # disabled since the form was shown
        form.add_error("provider", "Unknown provider.")
        return _render_index(request, provider_form=form, status=400)
    try:
        provider_key = provider_key_create(
            workspace=workspace,
            provider=provider,
            secret=data["secret"],
            member=request.user if data["used_by"] == USED_BY_MEMBER else None,
            agent=form.chosen_agent(),
            label=data["label"],
            created_by=request.user,
        )
    except ApplicationError as exc:
        field = exc.extra.get("field")
        form.add_error(field if field in form.fields else None, exc.message)
        return _render_index(request, provider_form=form, status=400)
    messages.success(
        request, f"{provider.name} key {provider_key.mask} added. Test it to check that {provider.name} accepts it."
    )
    return redirect(_index_url(request))


def _provider_key_or_404(request: HttpRequest, provider_key_id: int) -> ProviderKey:
    provider_key = provider_key_get(workspace=request.workspace, provider_key_id=provider_key_id)
    if provider_key is None:
        raise Http404("No such provider key in this workspace.")
    return provider_key


@require_POST
@workspace_page
def provider_key_check(request: HttpRequest, provider_key_id: int) -> HttpResponse:
    provider_key = _provider_key_or_404(request, provider_key_id)
    name = f"{provider_key.provider.name} key {provider_key.mask}"
    try:
        provider_key = provider_key_test(provider_key=provider_key, tested_by=request.user)
    except ApplicationError as exc:
        messages.error(request, f"{name} could not be tested: {exc.message}")
        return redirect(_index_url(request))
    if provider_key.last_error and provider_key.status != ProviderKeyStatus.INVALID:
        if provider_key.status == ProviderKeyStatus.VALID:
            messages.success(request, f"{name} works ({provider_key.last_error}).")
        else:
            messages.warning(request, f"{name} could not be checked: {provider_key.last_error}")
    elif provider_key.status == ProviderKeyStatus.VALID:
        messages.success(request, f"{name} works.")
    else:
        messages.error(request, f"{provider_key.provider.name} refused {provider_key.mask}: {provider_key.last_error}")
    return redirect(_index_url(request))


@require_http_methods(["GET", "POST"])
@workspace_page
def provider_key_remove(request: HttpRequest, provider_key_id: int) -> HttpResponse:
    """GET asks to confirm (no JavaScript needed); POST removes."""
    provider_key = _provider_key_or_404(request, provider_key_id)
    if request.method == "POST":
        name = f"{provider_key.provider.name} key {provider_key.mask}"
        provider_key_delete(provider_key=provider_key, deleted_by=request.user)
        messages.success(request, f"{name} removed.")
        return redirect(_index_url(request))
    return render(
        request,
        "keys/provider_key_remove.html",
        {"provider_key": provider_key, "cancel_url": _index_url(request), "action_url": request.get_full_path()},
    )


@require_POST
@workspace_page
def api_key_add(request: HttpRequest) -> HttpResponse:
    form = _api_key_form(request, request.POST)
    if not form.is_valid():
        return _render_index(request, api_key_form=form, status=400)
    data = form.cleaned_data
    if not _create_token_redeem(request, request.POST.get("create_token", "")):
        # A reload of the result page (or a second click): the key exists; its secret is not shown again.
        messages.info(request, "That key was already created. Its secret was shown once and cannot be shown again.")
        return redirect(_index_url(request))
    try:
        api_key, secret = api_key_create(
            workspace=request.workspace,
            name=data["name"],
            agent=form.chosen_agent(),
            created_by=request.user,
            rpm_limit=data["rpm_limit"],
            tpm_limit=data["tpm_limit"],
        )
    except ApplicationError as exc:
        field = exc.extra.get("field")
        form.add_error(field if field in form.fields else None, exc.message)
        return _render_index(request, api_key_form=form, status=400)
    response = render(
        request,
        "keys/api_key_created.html",
        {"api_key": api_key, "secret": secret, "index_url": _index_url(request)},
        status=201,
    )
    add_never_cache_headers(response)  # the secret must not be kept by a cache, the browser's included
    return response


@require_http_methods(["GET", "POST"])
@workspace_page
def api_key_remove(request: HttpRequest, api_key_id: int) -> HttpResponse:
    """GET asks to confirm (no JavaScript needed); POST revokes."""
    api_key = api_key_get(workspace=request.workspace, api_key_id=api_key_id)
    if api_key is None:
        raise Http404("No such API key in this workspace.")
    if request.method == "POST":
        api_key_revoke(api_key=api_key, revoked_by=request.user)
        messages.success(request, f"API key {api_key.name} ({api_key.mask}) revoked.")
        return redirect(_index_url(request))
    return render(
        request,
        "keys/api_key_revoke.html",
        {"api_key": api_key, "cancel_url": _index_url(request), "action_url": request.get_full_path()},
    )
