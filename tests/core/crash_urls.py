"""The site's URLs plus views that crash, to see what a crash answers (tests/core/test_api_error_shape.py)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.urls import handler404, handler500
from config.urls import urlpatterns as site_urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


def crash(request):
    raise RuntimeError("the database password is hunter2")


class CrashingApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise ZeroDivisionError("the database password is hunter2")


urlpatterns = [
    path("api/crash", crash),
    path("api/crash-drf", CrashingApi.as_view()),
    path("crash", crash),
    *site_urlpatterns,
]
