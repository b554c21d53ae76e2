"""Provider adapters: pure translation between the canonical OpenAI format and each wire format."""

from .anthropic import AnthropicAdapter
from .base import Adapter, Completion, InvalidRequest, StreamDecoder, UpstreamError, UpstreamRequest, Usage
from .gemini import GeminiAdapter
from .openai import OpenAIAdapter

# Stateless, so one instance each serves every request.
ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}


def adapter_for(kind: str) -> Adapter:
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"no adapter for {kind!r}; known: {', '.join(ADAPTERS)}") from None


__all__ = [
    "Adapter",
    "Completion",
    "InvalidRequest",
    "StreamDecoder",
    "UpstreamError",
    "UpstreamRequest",
    "Usage",
    "adapter_for",
]
