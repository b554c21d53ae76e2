"""Production: PostgreSQL, Redis, a Celery worker and beat, an ASGI server with several workers."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = env("DJANGO_SECRET_KEY", default=None)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
CRYPTOGRAPHY_KEY = env("SWITCHYARD_ENCRYPTION_KEY", default=None)
if not CRYPTOGRAPHY_KEY:
    raise ImproperlyConfigured("SWITCHYARD_ENCRYPTION_KEY must be set in production.")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
CATALOG_SYNC_SOURCE = env("CATALOG_SYNC_SOURCE", default="live")
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
