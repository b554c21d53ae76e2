"""Django's 404 and 500 answers in the /api error shape for /api addresses.

DRF renders the errors its views raise (apps.core.api.api_exception_handler); these cover the rest: an /api address
no view matches, and an unexpected crash. Other addresses keep Django's pages (and /v1 its OpenAI-shaped errors).
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"message": "No API endpoint at this address.", "extra": {"code": "not_found"}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        # Never the exception's text: it is logged, not shown.
        return JsonResponse({"message": "Internal server error.", "extra": {"code": "server_error"}}, status=500)
    return defaults.server_error(request)
