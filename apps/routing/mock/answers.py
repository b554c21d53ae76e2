"""Deterministic answers for the mock provider: the same request always gets the same reply and usage."""

import hashlib
import json
import math
from typing import Any

REPLY_PREFIX = "Mock answer"


def count_tokens(text: str) -> int:
    """Roughly one token per four characters, like the providers' tokenizers on English text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def reply_text(prompt: str, *, max_tokens: int | None = None) -> tuple[str, bool]:
    """The reply to a prompt, cut to max_tokens; returns (text, truncated)."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    words = prompt.split()
    echo = " ".join(words[-12:]) if words else "nothing"
    text = f"{REPLY_PREFIX} {digest}: you said {echo}"
    if max_tokens is not None and count_tokens(text) > max_tokens:
        return text[: max(1, max_tokens * 4)], True
    return text, False


def sample_from_schema(schema: Any, *, name: str = "value") -> Any:
    """A small value that satisfies a JSON Schema (or Gemini's upper-case Schema) well enough for tests."""
    if not isinstance(schema, dict):
        return name
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for union in ("anyOf", "oneOf"):
        if schema.get(union):
            return sample_from_schema(schema[union][0], name=name)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    kind = str(kind).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: sample_from_schema(sub, name=key) for key, sub in properties.items()}
    if kind == "array":
        return [sample_from_schema(schema.get("items", {}), name=name)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{name}-sample"


def tool_arguments(parameters: Any) -> dict:
    value = sample_from_schema(parameters or {"type": "object"})
    return value if isinstance(value, dict) else {}


def json_reply(schema: Any | None) -> str:
    if schema is None:
        return json.dumps({"answer": REPLY_PREFIX})
    return json.dumps(sample_from_schema(schema))


def chunk_text(text: str, *, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
