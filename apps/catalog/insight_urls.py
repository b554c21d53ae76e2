from django.urls import path

from apps.catalog import insight_apis

app_name = "catalog_insights"

urlpatterns = [
    path("compare", insight_apis.CatalogCompareApi.as_view(), name="compare"),
    path("estimate", insight_apis.CatalogEstimateApi.as_view(), name="estimate"),
    path("recommend", insight_apis.CatalogRecommendApi.as_view(), name="recommend"),
]
