from django.urls import path

from apps.workspaces import agent_pages

app_name = "agent_pages"

urlpatterns = [
    path("", agent_pages.agent_list_page, name="list"),
    path("new/", agent_pages.agent_create_page, name="create"),
    path("<int:agent_id>/", agent_pages.agent_edit_page, name="edit"),
    path("<int:agent_id>/delete/", agent_pages.agent_delete_page, name="delete"),
]
