"""/v1 read endpoints. POST /v1/chat/completions and /v1/messages are served by the gateway before Django."""

from django.urls import path, re_path

from apps.routing import apis

app_name = "v1"

urlpatterns = [
    re_path(r"^models/?$", apis.ModelListView.as_view(), name="models"),
    path("models/<path:model_id>", apis.ModelDetailView.as_view(), name="model"),
    re_path(r"^generation/?$", apis.GenerationView.as_view(), name="generation"),
    re_path(r"^credits/?$", apis.CreditsView.as_view(), name="credits"),
    path("chat/completions", apis.post_only),
    path("messages", apis.post_only),
    path("route", apis.post_only),
    path("consensus", apis.post_only),
    re_path(r"^.*$", apis.not_found),
]
