from django.urls import path

from apps.analytics import audit_apis

app_name = "audit"

urlpatterns = [
    path("", audit_apis.AuditEventListApi.as_view(), name="list"),
]
