from django.urls import path

from apps.workspaces import pages

app_name = "workspace_pages"

urlpatterns = [
    path("switch/", pages.workspace_switch, name="switch"),
]
