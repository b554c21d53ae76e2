from django.urls import path

from apps.catalog import pages

app_name = "catalog_pages"

urlpatterns = [
    path("models/", pages.model_browse, name="browse"),
    # Canonical ids hold slashes (`openai/gpt-4o`), hence a path converter.
    path("models/<path:model_id>/", pages.model_detail, name="detail"),
    path("compare/", pages.model_comparison, name="compare"),
]
