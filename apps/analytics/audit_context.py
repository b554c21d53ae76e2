"""Where the current request comes from, for audit events written deep inside services.

Services take the acting user, not the request; rather than thread the request through every service signature,
this middleware keeps the caller's IP address and user agent in a context variable for the length of the request,
and `audit_event_record` reads them when it is not handed a request. Outside a request (Celery, commands) it is empty.
"""

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware


@dataclass(frozen=True)
class RequestOrigin:
    ip_address: str | None
    user_agent: str


_current_origin: ContextVar[RequestOrigin | None] = ContextVar("audit_request_origin", default=None)


def request_origin(request: HttpRequest) -> RequestOrigin:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return RequestOrigin(
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
    )


def current_request_origin() -> RequestOrigin | None:
    return _current_origin.get()


@sync_and_async_middleware
def audit_request_origin_middleware(get_response: Callable):
    """Makes the request's origin available to audit events for as long as the request is handled. Async-capable,
    so it never pushes the ASGI stack into a thread; sync views run under asgiref see the variable (it copies the
    context into the thread)."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            token = _current_origin.set(request_origin(request))
            try:
                return await get_response(request)
            finally:
                _current_origin.reset(token)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            token = _current_origin.set(request_origin(request))
            try:
                return get_response(request)
            finally:
                _current_origin.reset(token)

    return middleware
