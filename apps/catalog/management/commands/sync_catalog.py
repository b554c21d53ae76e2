import sys

from django.core.management.base import BaseCommand, CommandError

from apps.catalog.selectors import catalog_model_count
from apps.catalog.services import CatalogSyncError, catalog_sync, catalog_sync_sources


class Command(BaseCommand):
    help = (
        "Import the LiteLLM price map and the OpenRouter model list into the catalog. By default the LiteLLM "
        "snapshot shipped with Switchyard (and CATALOG_OPENROUTER_SNAPSHOT when set); --live fetches the URLs "
        "from settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--litellm", metavar="PATH_OR_URL", help="LiteLLM model_prices_and_context_window.json")
        parser.add_argument("--openrouter", metavar="PATH_OR_URL", help="OpenRouter GET /api/v1/models body")
        parser.add_argument(
            "--live",
            action="store_true",
            help="Fetch CATALOG_LITELLM_URL and CATALOG_OPENROUTER_URL (for sources not given above).",
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the catalog already has models.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options):
        if options["if_empty"]:
            count = catalog_model_count()
            if count:
                self.stdout.write(f"Catalog already has {count} models; nothing to do (--if-empty).")
                return
        litellm_default, openrouter_default = catalog_sync_sources(live=options["live"])
        litellm_source = options["litellm"] or litellm_default
        openrouter_source = options["openrouter"] or openrouter_default
        progress = not options["no_progress"] and sys.stderr.isatty()
        for name, source in (("LiteLLM", litellm_source), ("OpenRouter", openrouter_source)):
            if source:
                self.stdout.write(f"{name}: {source}")
        try:
            summary = catalog_sync(
                litellm_source=litellm_source, openrouter_source=openrouter_source, progress=progress
            )
        except CatalogSyncError as exc:
            raise CommandError(f"Catalog sync aborted, nothing changed: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(summary.line()))
        for error in summary.errors:
            self.stdout.write(self.style.WARNING(f"error: {error}"))
        self.stdout.write(
            f"price changes {summary.price_changes}, aliases {summary.aliases}, "
            f"providers created {summary.providers_created}"
        )
