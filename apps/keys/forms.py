"""The Keys page's forms: they only collect and shape input; the rules are the services' (apps/keys/services.py)."""

from django import forms

from apps.catalog.models import Provider
from apps.workspaces.models import Agent

# "Used by" choices for a provider key: the workspace, the member adding it, or one agent ("agent:<id>").
USED_BY_WORKSPACE = "workspace"
USED_BY_MEMBER = "member"
AGENT_CHOICE_PREFIX = "agent:"


def _agent_choices(agents) -> list[tuple[str, str]]:
    return [(f"{AGENT_CHOICE_PREFIX}{agent.pk}", f"Agent {agent.name}") for agent in agents]


class ProviderKeyAddForm(forms.Form):
    provider = forms.ChoiceField(
        label="Provider", error_messages={"required": "Choose a provider.", "invalid_choice": "Unknown provider."}
    )
    secret = forms.CharField(
        label="Provider API key",
        max_length=4096,
        strip=True,
        # Never echoed back, not even into a form re-shown with errors.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Paste the provider's API key."},
    )
    label = forms.CharField(label="Label (optional)", max_length=128, required=False)
    used_by = forms.ChoiceField(label="Used by", initial=USED_BY_WORKSPACE)

    def __init__(self, *args, providers: list[Provider], agents: list[Agent], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "Choose a provider…")] + [(p.slug, p.name) for p in providers]
        self.fields["used_by"].choices = [
            (USED_BY_WORKSPACE, "Everyone in the workspace"),
            (USED_BY_MEMBER, "Only me"),
            *_agent_choices(agents),
        ]
        self._agents = {agent.pk: agent for agent in agents}

    def chosen_agent(self) -> Agent | None:
        used_by = self.cleaned_data["used_by"]
        if not used_by.startswith(AGENT_CHOICE_PREFIX):
            return None
        return self._agents[int(used_by.removeprefix(AGENT_CHOICE_PREFIX))]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=128, error_messages={"required": "Give the key a name."})
    agent = forms.ChoiceField(label="Agent (optional)", required=False)
    rpm_limit = forms.IntegerField(
        label="Requests per minute (optional)",
        required=False,
        min_value=1,
        help_text="Empty: the plan's limit.",
    )
    tpm_limit = forms.IntegerField(
        label="Tokens per minute (optional)",
        required=False,
        min_value=1,
        help_text="Empty: the plan's limit.",
    )

    def __init__(self, *args, agents: list[Agent], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].choices = [("", "No agent")] + [(str(agent.pk), agent.name) for agent in agents]
        self._agents = {str(agent.pk): agent for agent in agents}

    def chosen_agent(self) -> Agent | None:
        return self._agents.get(self.cleaned_data["agent"] or "")
