from django.urls import path

from apps.keys import pages

app_name = "key_pages"

urlpatterns = [
    path("", pages.keys_index, name="index"),
    path("provider-keys/", pages.provider_key_add, name="provider-key-add"),
    path("provider-keys/<int:provider_key_id>/test/", pages.provider_key_check, name="provider-key-test"),
    path("provider-keys/<int:provider_key_id>/remove/", pages.provider_key_remove, name="provider-key-remove"),
    path("api-keys/", pages.api_key_add, name="api-key-create"),
    path("api-keys/<int:api_key_id>/revoke/", pages.api_key_remove, name="api-key-revoke"),
]
