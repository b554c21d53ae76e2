from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "apps.analytics"
    label = "analytics"

    def ready(self) -> None:
        # Celery's autodiscovery only imports `tasks` modules; the retention task lives in its own module.
        from apps.analytics import retention_tasks  # noqa: F401
