"""Providers the catalog sync knows how to call, keyed by LiteLLM's `litellm_provider` slug.

A provider found in a feed but missing here is created disabled, with the OpenAI adapter and no base URL,
so staff decide whether and how to reach it. Base URLs follow each vendor's SDK convention: OpenAI-compatible
ones include the `/v1` prefix, Anthropic and Gemini are the bare host (their adapters add `/v1/messages` and
`/v1beta/models/...`).
"""

from dataclasses import dataclass

from .models import AdapterKind, PrivacyClass


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    adapter_kind: str
    base_url: str
    env_key_name: str = ""
    privacy_class: str = PrivacyClass.STANDARD
    priority: int = 100
    enabled: bool = True


KNOWN_PROVIDERS: dict[str, ProviderSpec] = {
    "openai": ProviderSpec("OpenAI", AdapterKind.OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": ProviderSpec("Anthropic", AdapterKind.ANTHROPIC, "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "gemini": ProviderSpec(
        "Google Gemini", AdapterKind.GEMINI, "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"
    ),
    # An aggregator: direct providers are preferred when both can serve a model.
    "openrouter": ProviderSpec(
        "OpenRouter", AdapterKind.OPENAI, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", priority=200
    ),
    "groq": ProviderSpec("Groq", AdapterKind.OPENAI, "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistral": ProviderSpec("Mistral AI", AdapterKind.OPENAI, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": ProviderSpec("DeepSeek", AdapterKind.OPENAI, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "together_ai": ProviderSpec("Together AI", AdapterKind.OPENAI, "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "xai": ProviderSpec("xAI", AdapterKind.OPENAI, "https://api.x.ai/v1", "XAI_API_KEY"),
    "ollama": ProviderSpec(
        "Ollama (local)", AdapterKind.OPENAI, "http://127.0.0.1:11434/v1", privacy_class=PrivacyClass.LOCAL
    ),
    "vllm": ProviderSpec(
        "vLLM (local)", AdapterKind.OPENAI, "http://127.0.0.1:8000/v1", privacy_class=PrivacyClass.LOCAL
    ),
    # Azure OpenAI endpoints are per resource: staff set the base URL (and adapter_options api_version), then enable.
    "azure": ProviderSpec("Azure OpenAI", AdapterKind.OPENAI, "", "AZURE_API_KEY", enabled=False),
}


def provider_spec(slug: str) -> ProviderSpec:
    """The registry entry for `slug`, or a disabled OpenAI-compatible placeholder for an unknown provider."""
    known = KNOWN_PROVIDERS.get(slug)
    if known is not None:
        return known
    name = " ".join(part.capitalize() for part in slug.replace("-", "_").split("_") if part) or slug
    return ProviderSpec(name=name, adapter_kind=AdapterKind.OPENAI, base_url="", enabled=False)
