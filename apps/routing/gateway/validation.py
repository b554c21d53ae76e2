"""Checks on an OpenAI chat request before anything is charged or sent upstream; errors name the field."""

from typing import Any

from .errors import bad_request

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
PART_TYPES = {"text", "image_url", "input_audio", "file", "refusal"}
NUMBER = (int, float)


def _is_number(value: Any) -> bool:
    return isinstance(value, NUMBER) and not isinstance(value, bool)


def _check_range(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_number(value) or not low <= value <= high:
        raise bad_request(f"'{name}' must be a number between {low:g} and {high:g}.", param=name)


def _check_positive_int(body: dict, name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad_request(f"'{name}' must be a positive integer.", param=name)


def _check_content(content: Any, param: str, role: str) -> None:
    if content is None:
        if role in ("assistant",):
            return
        raise bad_request(f"'{param}' is required for a {role} message.", param=param)
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(f"'{param}' must be a string or a list of content parts.", param=param)
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            raise bad_request(f"'{param}[{i}].type' must be one of {sorted(PART_TYPES)}.", param=f"{param}[{i}]")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise bad_request(f"'{param}[{i}].text' must be a string.", param=f"{param}[{i}].text")
        if part["type"] == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise bad_request(f"'{param}[{i}].image_url.url' must be a URL.", param=f"{param}[{i}].image_url")


def validate_chat_request(body: Any) -> dict:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required and must be a string.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("'messages' is required and must be a list.", param="messages")
    if not messages:
        raise bad_request("'messages' must not be empty.", param="messages")
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"'{param}' must be an object.", param=param)
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(f"'{param}.role' must be one of {sorted(ROLES)}.", param=f"{param}.role")
        if role == "assistant" and message.get("content") is None and not message.get("tool_calls"):
            raise bad_request(f"'{param}' needs content or tool_calls.", param=f"{param}.content")
        _check_content(message.get("content"), f"{param}.content", role)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise bad_request(f"'{param}.tool_call_id' is required for a tool message.", param=f"{param}.tool_call_id")
    _check_range(body, "temperature", 0, 2)
    _check_range(body, "top_p", 0, 1)
    _check_range(body, "presence_penalty", -2, 2)
    _check_range(body, "frequency_penalty", -2, 2)
    _check_positive_int(body, "max_tokens")
    _check_positive_int(body, "max_completion_tokens")
    _check_positive_int(body, "n")
    if body.get("n", 1) != 1:
        raise bad_request("Only n=1 is supported.", param="n")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("'stream' must be a boolean.", param="stream")
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4)
    ):
        raise bad_request("'stop' must be a string or a list of up to 4 strings.", param="stop")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise bad_request("'tools' must be a list.", param="tools")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise bad_request(f"'tools[{i}].function.name' is required.", param=f"tools[{i}].function")
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise bad_request(
                "'response_format.type' must be text, json_object or json_schema.", param="response_format"
            )
        if kind == "json_schema" and not isinstance(response_format.get("json_schema"), dict):
            raise bad_request("'response_format.json_schema' must be an object.", param="response_format.json_schema")
    if "stream_options" in body and body["stream_options"] is not None and not isinstance(body["stream_options"], dict):
        raise bad_request("'stream_options' must be an object.", param="stream_options")
    return body
