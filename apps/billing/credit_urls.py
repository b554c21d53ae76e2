from django.urls import path

from apps.billing import credit_apis

app_name = "credits"

urlpatterns = [
    path("", credit_apis.CreditBalanceApi.as_view(), name="balance"),
    path("entries", credit_apis.LedgerEntryListApi.as_view(), name="entries"),
    path("transfers", credit_apis.CreditTransferCreateApi.as_view(), name="transfers"),
    path("transfers/<uuid:transfer_id>", credit_apis.CreditTransferDetailApi.as_view(), name="transfer"),
    path("topups", credit_apis.CreditTopupCreateApi.as_view(), name="topups"),
    path("refunds", credit_apis.CreditRefundCreateApi.as_view(), name="refunds"),
]
