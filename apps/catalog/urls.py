from django.urls import path

from apps.catalog import apis

app_name = "catalog"

urlpatterns = [
    path("models", apis.CatalogModelListApi.as_view(), name="models"),
    path("models/<path:model_id>", apis.CatalogModelDetailApi.as_view(), name="model"),
    path("providers", apis.ProviderListApi.as_view(), name="providers"),
]
