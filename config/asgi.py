import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

django_application = get_asgi_application()

from apps.routing.gateway.asgi import Application  # noqa: E402  (needs the apps loaded above)

application = Application(django_application)
