"""What every marketplace page shares: the signed-in member's current workspace, and the switcher that changes it.

The current workspace is the one named by `?workspace=<slug>` (a shared link), else the one the member last
switched to (kept in the session), else the one they joined first. Another workspace's slug is a 404, never a
peek: pages read and write only `request.workspace`.
"""

from functools import wraps
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.workspaces.models import Workspace
from apps.workspaces.selectors import workspace_for_member

SESSION_WORKSPACE = "switchyard_workspace"


def page_workspace(request: HttpRequest) -> Workspace:
    """The workspace a page acts in (see the module docstring); 404 for a slug that is not one of the member's."""
    slug = request.GET.get("workspace", "").strip()
    if slug:
        workspace = workspace_for_member(user=request.user, slug=slug)
        if workspace is None:
            raise Http404("You have no workspace of that name.")
    else:
        remembered = request.session.get(SESSION_WORKSPACE) or None
        workspace = workspace_for_member(user=request.user, slug=remembered)
        if workspace is None and remembered:
            # The member left (or was removed from) the remembered workspace: fall back to their first.
            workspace = workspace_for_member(user=request.user)
        if workspace is None:
            raise PermissionDenied("You are not a member of any workspace.")
    if not workspace.is_active:
        raise PermissionDenied("This workspace is deactivated.")
    return workspace


def workspace_page(view):
    """A page for signed-in members: sets `request.workspace` before the view runs."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.workspace = page_workspace(request)
        return view(request, *args, **kwargs)

    return wrapped


def member_workspaces(user):
    return Workspace.objects.filter(memberships__user=user, is_active=True).order_by("name")


def workspace_switcher(request: HttpRequest) -> dict:
    """Context processor: the member's workspaces and the current one, for the switcher in the header."""
    workspace = getattr(request, "workspace", None)
    if workspace is None or not request.user.is_authenticated:
        return {}
    return {"current_workspace": workspace, "switchable_workspaces": list(member_workspaces(request.user))}


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    """Remember the chosen workspace and go back to the page the member was on (without its old `?workspace=`)."""
    slug = request.POST.get("workspace", "").strip()
    workspace = workspace_for_member(user=request.user, slug=slug) if slug else None
    if workspace is None or not workspace.is_active:
        raise Http404("You have no workspace of that name.")
    request.session[SESSION_WORKSPACE] = workspace.slug
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = "/models/"
    return redirect(_without_workspace_param(target))


def _without_workspace_param(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "workspace"]
    return urlunsplit(parts._replace(query=urlencode(query)))
