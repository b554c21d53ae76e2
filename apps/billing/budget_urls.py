from django.urls import path

from apps.billing import budget_apis

app_name = "budgets"

urlpatterns = [
    path("", budget_apis.BudgetListCreateApi.as_view(), name="budgets"),
    path("<int:budget_id>", budget_apis.BudgetDetailApi.as_view(), name="budget"),
]
