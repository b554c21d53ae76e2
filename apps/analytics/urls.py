from django.urls import path

from apps.analytics.analytics_apis import AnalyticsCostsApi, AnalyticsSummaryApi, AnalyticsUsageApi

app_name = "analytics"

urlpatterns = [
    path("llm/usage", AnalyticsUsageApi.as_view(), name="llm-usage"),
    path("llm/costs", AnalyticsCostsApi.as_view(), name="llm-costs"),
    path("llm/summary", AnalyticsSummaryApi.as_view(), name="llm-summary"),
]
