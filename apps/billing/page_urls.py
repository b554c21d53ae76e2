from django.urls import path, re_path

from apps.billing import views

app_name = "billing_pages"

urlpatterns = [
    path("statements/", views.statement_current, name="statements"),
    re_path(r"^statements/(?P<month>\d{4}-\d{2})/$", views.statement_page, name="statement"),
    re_path(r"^statements/(?P<month>\d{4}-\d{2})\.csv$", views.statement_csv_download, name="statement-csv"),
]
