from django.urls import path

from apps.workspaces import agent_apis

app_name = "agents"

urlpatterns = [
    path("agents", agent_apis.AgentListCreateApi.as_view(), name="agents"),
    path("agents/<int:agent_id>", agent_apis.AgentDetailApi.as_view(), name="agent"),
]
