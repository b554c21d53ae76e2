"""Who is calling /api, and in which workspace.

- `Authorization: Bearer sk-sy-…`: `request.auth` is the ApiKey, `request.user` the member who made it (anonymous if
  none); the workspace is the key's.
- A signed-in member (session): the workspace named by the `X-Switchyard-Workspace: <slug>` header, which must be
  one of theirs, else the one they joined first.

Every /api view is scoped: `apps.core.api.WorkspaceAPIView` resolves `self.workspace` before any handler runs,
whatever its permission classes, and `HasWorkspace` is the default permission of DRF views.

DRF imports this module from its settings, so it must not import rest_framework.views (a circular import).
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission

from apps.keys.models import ApiKey
from apps.keys.selectors import api_key_get_for_request
from apps.workspaces.selectors import workspace_for_member

WORKSPACE_HEADER = "HTTP_X_SWITCHYARD_WORKSPACE"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: send 'Authorization: Bearer sk-sy-…'.")
        try:
            secret = parts[1].decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid, revoked or expired API key.") from None
        api_key = api_key_get_for_request(secret=secret)
        if api_key is None:
            raise AuthenticationFailed("Invalid, revoked or expired API key.")
        creator = api_key.created_by
        return (creator if creator is not None and creator.is_active else AnonymousUser()), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="api"'


def request_workspace(request):
    """The workspace of an authenticated /api request; raises 401 or 403 when there is none."""
    workspace = getattr(request, "_switchyard_workspace", None)
    if workspace is not None:
        return workspace
    slug = request.META.get(WORKSPACE_HEADER, "").strip()
    if isinstance(request.auth, ApiKey):
        workspace = request.auth.workspace
        if slug and slug != workspace.slug:
            raise PermissionDenied(f"This API key belongs to another workspace than '{slug}'.")
    elif request.user.is_authenticated:
        workspace = workspace_for_member(user=request.user, slug=slug or None)
        if workspace is None:
            raise PermissionDenied(
                f"You are not a member of the workspace '{slug}'." if slug else "You are not a member of any workspace."
            )
    else:
        raise NotAuthenticated("Send 'Authorization: Bearer sk-sy-…', or sign in.")
    if not workspace.is_active:
        raise PermissionDenied("This workspace is deactivated.")
    request._switchyard_workspace = workspace
    return workspace


class HasWorkspace(BasePermission):
    """The caller is authenticated and acts in one workspace (see `request_workspace`)."""

    def has_permission(self, request, view) -> bool:
        request.workspace = request_workspace(request)
        return True
