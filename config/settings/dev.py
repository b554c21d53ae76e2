"""Embedded default for a first run: SQLite, local-memory cache, eager Celery, DEBUG on."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-switchyard-secret-key-change-me-0123456789")
CRYPTOGRAPHY_KEY = env("SWITCHYARD_ENCRYPTION_KEY", default="dev-insecure-switchyard-encryption-key")
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
