from django.urls import path

from apps.analytics import pages

app_name = "analytics_pages"

urlpatterns = [
    path("usage/", pages.usage_dashboard, name="usage"),
    path("usage/export.csv", pages.usage_csv_download, name="usage-csv"),
    path("audit/", pages.audit_page, name="audit"),
]
