import json
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OPENROUTER_SMALL = FIXTURES / "openrouter_models_small.json"


def litellm_feed() -> dict[str, Any]:
    """A small LiteLLM map in the real file's shape (values copied from litellm 1.109.1 where they exist)."""
    return {
        "sample_spec": {
            "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
            "mode": "one of: chat, embedding, completion, image_generation",
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
        },
        "fallback_generalizations": {"rules": [{"pattern": "^gpt-4o.*", "replacement": "gpt-4o"}]},
        "gpt-4o-mini": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 1.5e-07,
            "output_cost_per_token": 6e-07,
            "cache_read_input_token_cost": 7.5e-08,
            "input_cost_per_token_batches": 7.5e-08,
            "max_input_tokens": 128000,
            "max_output_tokens": 16384,
            "supports_function_calling": True,
            "supports_vision": True,
            "supports_response_schema": True,
        },
        "claude-sonnet-4-5": {
            "litellm_provider": "anthropic",
            "mode": "chat",
            "input_cost_per_token": 3e-06,
            "output_cost_per_token": 1.5e-05,
            "cache_read_input_token_cost": 3e-07,
            "cache_creation_input_token_cost": 3.75e-06,
            "input_cost_per_token_above_200k_tokens": 6e-06,
            "output_cost_per_token_above_200k_tokens": 2.25e-05,
            "search_context_cost_per_query": {"search_context_size_low": 0.01},
            "max_input_tokens": 200000,
            "max_output_tokens": 64000,
            "supports_function_calling": True,
            "supports_reasoning": True,
        },
        "gemini/gemini-2.5-flash": {
            "litellm_provider": "gemini",
            "mode": "chat",
            "input_cost_per_token": 3e-07,
            "output_cost_per_token": 2.5e-06,
            "max_input_tokens": 1048576,
            "max_output_tokens": 65535,
        },
        "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08},
        "fireworks_ai/accounts/fireworks/models/qwen3-coder-480b": {
            "litellm_provider": "fireworks_ai",
            "mode": "chat",
            "input_cost_per_token": 4.5e-07,
            "output_cost_per_token": 1.8e-06,
        },
        "meta-llama/Llama-3-70b-chat-hf": {
            "litellm_provider": "together_ai",
            "mode": "chat",
            "input_cost_per_token": 9e-07,
            "output_cost_per_token": 9e-07,
        },
        "cohere.command-text-v14": {"litellm_provider": "bedrock", "mode": "chat", "max_input_tokens": 4096},
        "ollama/llama3": {
            "litellm_provider": "ollama",
            "mode": "chat",
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
        },
        "gpt-3.5-turbo-0301": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 1.5e-06,
            "output_cost_per_token": 2e-06,
            "deprecation_date": "2024-06-13",
        },
    }


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[..., Path]:
    """Write a JSON value (or raw text) to a file under tmp_path and return its path."""

    def write(data: Any, name: str = "feed.json") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    return write


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving files from a directory: (base URL, directory)."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
