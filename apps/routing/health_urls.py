from django.urls import path

from apps.routing import health_apis

app_name = "health"

urlpatterns = [
    path("models", health_apis.ModelHealthListApi.as_view(), name="models"),
]
