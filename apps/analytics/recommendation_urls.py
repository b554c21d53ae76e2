from django.urls import path

from apps.analytics import recommendation_apis

app_name = "analytics_recommendations"

urlpatterns = [
    path("", recommendation_apis.AnalyticsRecommendationListApi.as_view(), name="list"),
]
