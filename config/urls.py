from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/keys/", include("apps.keys.urls")),
    path("api/catalog/", include("apps.catalog.insight_urls")),
    path("api/catalog/", include("apps.catalog.urls")),
    path("api/budgets/", include("apps.billing.budget_urls")),
    path("api/credits/", include("apps.billing.credit_urls")),
    path("api/health/", include("apps.routing.health_urls")),
    path("api/billing/", include("apps.billing.statement_urls")),
    path("api/workspace/", include("apps.workspaces.urls")),
    path("api/analytics/llm/recommendations", include("apps.analytics.recommendation_urls")),
    path("api/", include("apps.workspaces.agent_urls")),
    path("api/staff/", include("apps.catalog.staff_urls")),
    path("api/audit-events", include("apps.analytics.audit_urls")),
    path("api/analytics/", include("apps.analytics.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    # The marketplace pages (server-rendered, for signed-in members).
    path("", RedirectView.as_view(url="/models/", permanent=False), name="home"),
    path("", include("apps.catalog.page_urls")),
    path("", include("apps.analytics.page_urls")),
    path("keys/", include("apps.keys.page_urls")),
    path("agents/", include("apps.workspaces.agent_page_urls")),
    path("workspace/", include("apps.workspaces.page_urls")),
    path("billing/", include("apps.billing.page_urls")),
    path("v1/", include("apps.routing.urls")),
]

# /api answers its unmatched addresses and crashes in its own error shape, the rest of the site with Django's pages.
handler404 = "apps.core.error_views.not_found"
handler500 = "apps.core.error_views.server_error"
