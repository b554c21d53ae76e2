from django.urls import path

from apps.catalog import staff_apis

app_name = "catalog-staff"

# Model ids contain slashes (`openrouter/anthropic/claude-sonnet-4.5`), hence the `path` converter, always last.
urlpatterns = [
    path("providers", staff_apis.StaffProviderListApi.as_view(), name="providers"),
    path("providers/<str:slug>", staff_apis.StaffProviderDetailApi.as_view(), name="provider"),
    path("models", staff_apis.StaffModelListApi.as_view(), name="models"),
    path("bulk/models", staff_apis.StaffModelBulkUpdateApi.as_view(), name="models-bulk-update"),
    path("models/<path:model_id>", staff_apis.StaffModelDetailApi.as_view(), name="model"),
    path("plans", staff_apis.StaffPlanListApi.as_view(), name="plans"),
    path("plans/<str:slug>", staff_apis.StaffPlanDetailApi.as_view(), name="plan"),
    path("plans/<str:slug>/models", staff_apis.StaffPlanModelListApi.as_view(), name="plan-models"),
    path("plans/<str:slug>/models/<path:model_id>", staff_apis.StaffPlanModelRemoveApi.as_view(), name="plan-model"),
]
