from django.urls import path

from apps.billing import statement_apis

app_name = "billing_statements"

urlpatterns = [
    path("statements", statement_apis.StatementMonthListApi.as_view(), name="list"),
    # Before the JSON route, whose month would otherwise take the ".csv" in.
    path("statements/<str:month>.csv", statement_apis.StatementCsvApi.as_view(), name="csv"),
    path("statements/<str:month>", statement_apis.StatementDetailApi.as_view(), name="detail"),
]
