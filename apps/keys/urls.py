from django.urls import path

from apps.keys import apis

app_name = "keys"

urlpatterns = [
    path("api-keys", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<int:api_key_id>/revoke", apis.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("provider-keys", apis.ProviderKeyListCreateApi.as_view(), name="provider-keys"),
    path("provider-keys/<int:provider_key_id>", apis.ProviderKeyDeleteApi.as_view(), name="provider-key"),
    path("provider-keys/<int:provider_key_id>/test", apis.ProviderKeyTestApi.as_view(), name="provider-key-test"),
]
