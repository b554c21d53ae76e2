from django.urls import path

from apps.workspaces import apis

app_name = "workspace"

urlpatterns = [
    path("models", apis.WorkspaceModelListInstallApi.as_view(), name="models"),
    # Canonical model ids hold slashes (`openai/gpt-4o-mini`).
    path("models/<path:model_id>", apis.WorkspaceModelUninstallApi.as_view(), name="model"),
    path("settings", apis.WorkspaceSettingsApi.as_view(), name="settings"),
]
