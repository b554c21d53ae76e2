"""Creates the embedded default's demo: an admin user, a demo workspace and its first API key. Safe to re-run."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.catalog.services import providers_point_at_mock
from apps.keys.services import api_key_create
from apps.workspaces.models import Plan, Workspace
from apps.workspaces.services import workspace_create

DEMO_WORKSPACE_SLUG = "demo"
DEMO_KEY_NAME = "demo"


class Command(BaseCommand):
    help = "Create the demo admin, workspace and API key (the key is printed once, when it is created)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="switchyard", help="Only used when the user is created.")
        parser.add_argument("--plan", default="pro", help="Plan slug of the demo workspace.")
        parser.add_argument("--new-key", action="store_true", help="Issue another demo API key even if one exists.")
        parser.add_argument(
            "--mock-url",
            default="",
            help="Point the known providers still at their default address to this mock provider (offline demo).",
        )

    @transaction.atomic
    def handle(self, *args, username, password, plan, new_key, mock_url, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"Created admin user {username!r} with password {password!r}.")
        else:
            self.stdout.write(f"Admin user {username!r} already exists.")

        workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).first()
        if workspace is None:
            workspace = workspace_create(
                name="Demo workspace", slug=DEMO_WORKSPACE_SLUG, plan=Plan.objects.get(slug=plan), owner=user
            )
            self.stdout.write(f"Created workspace {workspace.slug!r} on the {workspace.plan.name} plan.")
        else:
            self.stdout.write(f"Workspace {workspace.slug!r} already exists.")

        if mock_url:
            pointed = providers_point_at_mock(mock_url=mock_url)
            self.stdout.write(f"Providers answered by the mock provider at {mock_url}: {', '.join(pointed) or 'none'}.")

        has_key = workspace.api_keys.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True).exists()
        if has_key and not new_key:
            self.stdout.write("The demo API key was printed when it was created; use --new-key for another.")
            return
        _, secret = api_key_create(workspace=workspace, name=DEMO_KEY_NAME, created_by=user)
        self.stdout.write(self.style.SUCCESS(f"Demo API key (shown once, keep it): {secret}"))
