"""Settings shared by every environment. Every value can be set from the environment (see README)."""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APPS_DIR = BASE_DIR / "apps"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Key for encrypted fields (BYOK secrets, platform keys). Falls back to SECRET_KEY when unset, so rotating
# SECRET_KEY without setting this would make stored secrets unreadable: set it explicitly in production.
CRYPTOGRAPHY_KEY = env("SWITCHYARD_ENCRYPTION_KEY", default=None)

DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's own files, served from /static/: the docs page at /api/docs/ works offline (no CDN).
    "drf_spectacular_sidecar",
]
LOCAL_APPS = [
    "apps.core",
    "apps.catalog",
    "apps.workspaces",
    "apps.keys",
    "apps.routing",
    "apps.billing",
    "apps.analytics",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

AUTH_USER_MODEL = "core.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Lets audit events written inside services record the caller's IP address and user agent.
    "apps.analytics.audit_context.audit_request_origin_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.workspaces.pages.workspace_switcher",
            ],
        },
    },
]

# Embedded default: a SQLite file beside manage.py. Production sets DATABASE_URL=postgres://…
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the ASGI server, the mock provider and management commands share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Redis is optional: without REDIS_URL the cache is process-local and Celery runs tasks eagerly (embedded mode).
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "switchyard"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The marketplace's sign-in (Django's auth views at /accounts/); the statements are its first page.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/models/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # API keys first: they also make unauthenticated requests answer 401 with `WWW-Authenticate: Bearer`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.keys.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny unless the caller acts in a workspace; a view open to anyone says so (AllowAny).
    "DEFAULT_PERMISSION_CLASSES": ["apps.keys.authentication.HasWorkspace"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "apps.core.api.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchyard API",
    "DESCRIPTION": "Marketplace and gateway API of Switchyard.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One schema name per choice set, however many fields (filters, inputs, outputs) use it.
    "ENUM_NAME_OVERRIDES": {
        "LedgerKindEnum": "apps.billing.models.LedgerKind",
        "PlanTierEnum": "apps.catalog.models.PlanTier",
        "PowerLevelEnum": "apps.catalog.models.PowerLevel",
        "CategoryEnum": "apps.catalog.models.Category",
        "ServiceCategoryEnum": "apps.workspaces.models.ServiceCategory",
    },
}

# How often beat folds newly ingested usage records into the hourly UsageRollup rows the dashboards read.
USAGE_ROLLUP_INTERVAL_SECONDS = env.int("USAGE_ROLLUP_INTERVAL_SECONDS", default=300)

# Budget alerts: how often the beat job looks for thresholds newly reached, and how it calls a workspace's webhook
# (seconds per attempt; extra attempts after a connection error, a timeout, 429 or 5xx).
BUDGET_ALERT_CHECK_SECONDS = env.int("BUDGET_ALERT_CHECK_SECONDS", default=60)
BUDGET_ALERT_WEBHOOK_TIMEOUT = env.float("BUDGET_ALERT_WEBHOOK_TIMEOUT", default=5.0)
BUDGET_ALERT_WEBHOOK_RETRIES = env.int("BUDGET_ALERT_WEBHOOK_RETRIES", default=2)
# The sender of budget alert emails.
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="Switchyard <switchyard@localhost>")

# Celery. Without a broker the tasks run in-process (embedded mode).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
# Without Redis there is no Celery beat: each server process runs CELERY_BEAT_SCHEDULE itself
# (apps/core/embedded_beat.py).
EMBEDDED_BEAT = env.bool("EMBEDDED_BEAT", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "catalog-sync-daily": {
        "task": "apps.catalog.tasks.catalog_sync_task",
        "schedule": crontab(hour=3, minute=17),
    },
    # Gateway workers move their own spool files into the database; this catches files of workers that died.
    "usage-spool-ingest": {
        "task": "apps.analytics.tasks.usage_spool_ingest_task",
        "schedule": 60.0,
    },
    # A run that waited past the next one is dropped: the next rollup writes fresher figures anyway.
    "health-rollup": {
        "task": "apps.routing.tasks.model_health_rollup_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Raw usage records past USAGE_RETENTION_DAYS are deleted in batches (rollups are kept).
    "usage-retention-purge": {
        "task": "apps.analytics.retention_tasks.usage_retention_purge_task",
        "schedule": crontab(hour=4, minute=41),
    },
    # Budget thresholds reached (each alerts once per window); a run that waited past the next one is dropped.
    "budget-alerts": {
        "task": "apps.billing.tasks.budget_alerts_check_task",
        "schedule": float(BUDGET_ALERT_CHECK_SECONDS),
        "options": {"expires": BUDGET_ALERT_CHECK_SECONDS},
    },
    # Hourly usage rollups; a run that waited past the next one is dropped (the next folds in the same records).
    "usage-rollup": {
        "task": "apps.analytics.tasks.usage_rollup_task",
        "schedule": float(USAGE_ROLLUP_INTERVAL_SECONDS),
        "options": {"expires": USAGE_ROLLUP_INTERVAL_SECONDS},
    },
}

# Catalog sync sources: the live feeds, and the snapshot shipped in the repo for offline installs.
CATALOG_LITELLM_URL = env(
    "CATALOG_LITELLM_URL",
    default="https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
)
CATALOG_OPENROUTER_URL = env("CATALOG_OPENROUTER_URL", default="https://openrouter.ai/api/v1/models")
CATALOG_LITELLM_SNAPSHOT = BASE_DIR / "apps" / "catalog" / "data" / "litellm_model_prices.json"
# No OpenRouter snapshot ships (its API output carries no licence): offline syncs are LiteLLM only unless this
# names a saved `GET /api/v1/models` body.
CATALOG_OPENROUTER_SNAPSHOT = env("CATALOG_OPENROUTER_SNAPSHOT", default="") or None
# "live" fetches the URLs above on the daily job; "snapshot" keeps the offline snapshot (embedded default).
CATALOG_SYNC_SOURCE = env("CATALOG_SYNC_SOURCE", default="snapshot")
CATALOG_SYNC_TIMEOUT = env.float("CATALOG_SYNC_TIMEOUT", default=60.0)
# Models the sync marks default_installed when it first creates them (staff can change the flag afterwards).
CATALOG_DEFAULT_INSTALLED = env.list(
    "CATALOG_DEFAULT_INSTALLED",
    default=["openai/gpt-4o-mini", "gemini/gemini-2.5-flash", "anthropic/claude-haiku-4-5"],
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# Gateway (/v1). Caches bound how stale a process may be: a revoked key stops working within
# GATEWAY_KEY_CACHE_SECONDS on every process; catalog edits (prices, enable/disable) within
# GATEWAY_CATALOG_CACHE_SECONDS.
GATEWAY_KEY_CACHE_SECONDS = env.float("GATEWAY_KEY_CACHE_SECONDS", default=5.0)
GATEWAY_CATALOG_CACHE_SECONDS = env.float("GATEWAY_CATALOG_CACHE_SECONDS", default=30.0)
# Edits to plans, workspaces, budgets, keys and agents reach every process within this (see gateway/context.py).
GATEWAY_CONFIG_CHECK_SECONDS = env.float("GATEWAY_CONFIG_CHECK_SECONDS", default=1.0)
GATEWAY_MAX_BODY_BYTES = env.int("GATEWAY_MAX_BODY_BYTES", default=10 * 1024 * 1024)
GATEWAY_UPSTREAM_CONNECT_TIMEOUT = env.float("GATEWAY_UPSTREAM_CONNECT_TIMEOUT", default=5.0)
GATEWAY_UPSTREAM_READ_TIMEOUT = env.float("GATEWAY_UPSTREAM_READ_TIMEOUT", default=120.0)
GATEWAY_REQUEST_DEADLINE = env.float("GATEWAY_REQUEST_DEADLINE", default=300.0)

# Health and circuit breakers (apps/routing/health/), per model over a rolling window kept in buckets: a circuit
# opens when provider failures reach the rate threshold over at least the minimum requests, or after that many
# failures in a row; it lets one probe through after the cooldown and closes when the probe succeeds.
HEALTH_WINDOW_SECONDS = env.int("HEALTH_WINDOW_SECONDS", default=300)
HEALTH_BUCKET_SECONDS = env.int("HEALTH_BUCKET_SECONDS", default=10)
HEALTH_ERROR_RATE_THRESHOLD = env.float("HEALTH_ERROR_RATE_THRESHOLD", default=0.2)
HEALTH_MIN_REQUESTS = env.int("HEALTH_MIN_REQUESTS", default=10)
HEALTH_CONSECUTIVE_FAILURES = env.int("HEALTH_CONSECUTIVE_FAILURES", default=5)
HEALTH_COOLDOWN_SECONDS = env.float("HEALTH_COOLDOWN_SECONDS", default=30.0)

# Router: how many ranked and excluded models each usage record's explanation lists (/v1/route lists all).
ROUTER_EXPLANATION_MAX_LISTED = env.int("ROUTER_EXPLANATION_MAX_LISTED", default=10)
# How stale the budget figures behind `auto`'s budget-aware downgrade may be, per process.
ROUTER_BUDGET_CACHE_SECONDS = env.float("ROUTER_BUDGET_CACHE_SECONDS", default=5.0)
# POST /v1/consensus: the output cap sent (and budget-checked) when a request gives no max_tokens.
CONSENSUS_DEFAULT_MAX_TOKENS = env.int("CONSENSUS_DEFAULT_MAX_TOKENS", default=1024)

# Admission (apps/billing/admission/): a call holds its maximum cost against its budgets, quota and credits until
# it settles. The output part of that maximum is max_tokens capped at BILLING_MAX_HELD_OUTPUT_TOKENS, so a huge
# max_tokens does not block calls that are really within budget (a call that generates past the cap can overrun a
# budget by the difference). A hold left by a worker that died is released after BILLING_HOLD_SECONDS.
BILLING_MAX_HELD_OUTPUT_TOKENS = env.int("BILLING_MAX_HELD_OUTPUT_TOKENS", default=4096)
BILLING_HOLD_SECONDS = env.float("BILLING_HOLD_SECONDS", default=GATEWAY_REQUEST_DEADLINE + 60)

# Usage records are spooled to local files first, then moved into the database in batches (see apps/analytics/usage.py).
USAGE_SPOOL_DIR = Path(env("USAGE_SPOOL_DIR", default=str(BASE_DIR / "var" / "usage-spool")))
USAGE_FLUSH_INTERVAL = env.float("USAGE_FLUSH_INTERVAL", default=0.5)

# Recommendations (/api/analytics/llm/recommendations, apps/analytics/recommendations.py): a cheaper model is suggested
# when it loses at most this much quality (0 to 1) on the traffic's task mix and saves at least this percentage;
# a model is flagged when this share of its requests fail over at least this many requests.
RECOMMENDATION_QUALITY_TOLERANCE = env.float("RECOMMENDATION_QUALITY_TOLERANCE", default=0.02)
RECOMMENDATION_MIN_SAVING_PERCENT = env.float("RECOMMENDATION_MIN_SAVING_PERCENT", default=10.0)
RECOMMENDATION_ERROR_RATE_THRESHOLD = env.float("RECOMMENDATION_ERROR_RATE_THRESHOLD", default=0.05)
RECOMMENDATION_MIN_REQUESTS = env.int("RECOMMENDATION_MIN_REQUESTS", default=20)

# Raw usage records older than this many days are deleted daily (hourly rollups stay); 0 keeps them forever.
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=400)
