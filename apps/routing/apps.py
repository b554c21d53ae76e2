from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save

# What the gateway's caller contexts are made of: saving or deleting any of these reaches the gateway at once.
CALLER_MODELS = (
    "workspaces.Plan",
    "workspaces.Workspace",
    "workspaces.InstalledModel",
    "workspaces.Agent",
    "workspaces.AgentFallback",
    "keys.ApiKey",
    "keys.ProviderKey",
    "billing.Budget",
)


def _caller_config_changed(sender, **kwargs) -> None:
    from django.db import transaction

    from apps.routing.gateway.context import config_changed

    transaction.on_commit(config_changed)


class RoutingConfig(AppConfig):
    name = "apps.routing"
    label = "routing"

    def ready(self) -> None:
        from django.apps import apps

        for label in CALLER_MODELS:
            model = apps.get_model(label)
            post_save.connect(_caller_config_changed, sender=model, dispatch_uid=f"gateway-config-save-{label}")
            post_delete.connect(_caller_config_changed, sender=model, dispatch_uid=f"gateway-config-delete-{label}")
        plan_models = apps.get_model("workspaces.Plan").allowed_models.through
        m2m_changed.connect(_caller_config_changed, sender=plan_models, dispatch_uid="gateway-config-plan-models")
