"""Test settings: SQLite in memory and a local cache unless DATABASE_URL / REDIS_URL point at real servers."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-switchyard-secret-key-not-for-production-0123456789"
CRYPTOGRAPHY_KEY = "test-switchyard-encryption-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING["root"]["level"] = env("DJANGO_LOG_LEVEL", default="WARNING")  # noqa: F405

# Each test run spools usage into its own folder.
USAGE_SPOOL_DIR = Path(env("USAGE_SPOOL_DIR", default="") or tempfile.mkdtemp(prefix="switchyard-usage-spool-"))

# A file, not SQLite's shared in-memory database: the live gateway in the tests writes from other threads, and a
# file database locks the way the embedded mode does (WAL, busy timeout) instead of failing with "table is locked".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"switchyard-test-{os.getpid()}.db")}  # noqa: F405

# The live gateway in the tests must not run periodic jobs at random moments of other tests; tests of the embedded
# beat run its jobs themselves.
EMBEDDED_BEAT = False
