"""The read endpoints of /v1 (OpenAI / OpenRouter compatible): models, a generation's cost, credits.

Plain Django views: API-key auth only, OpenAI's error shape. POST /v1/chat/completions and POST /v1/messages never
reach Django (config/asgi.py hands them to the gateway).
"""

from decimal import Decimal

from django.http import HttpRequest, JsonResponse
from django.views import View

from apps.analytics.selectors import usage_cost_total, usage_record_get
from apps.billing.selectors import ledger_totals
from apps.keys.selectors import api_key_get_by_secret
from apps.routing.gateway.errors import GatewayError
from apps.workspaces.selectors import installed_model_available_list


def openai_error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> JsonResponse:
    return JsonResponse(GatewayError(status, message, code=code, param=param).openai_body(), status=status)


def _secret_of(request: HttpRequest) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.headers.get("X-Api-Key")  # Anthropic's SDK sends its key here


class V1View(View):
    """Authenticates the API key and sets `self.workspace` and `self.api_key` before any handler runs."""

    http_method_names = ["get"]

    def dispatch(self, request, *args, **kwargs):
        if request.method != "GET":
            return self.http_method_not_allowed(request, *args, **kwargs)
        secret = _secret_of(request)
        if not secret:
            return openai_error(401, "Missing API key: send 'Authorization: Bearer sk-sy-…'.", code="missing_api_key")
        api_key = api_key_get_by_secret(secret=secret)
        if api_key is None:
            return openai_error(401, "Invalid, revoked or expired API key.", code="invalid_api_key")
        if not api_key.workspace.is_active:
            return openai_error(403, "This workspace is deactivated.", code="workspace_inactive")
        self.api_key, self.workspace = api_key, api_key.workspace
        return super().dispatch(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = openai_error(405, f"{request.method} is not allowed here; use GET.", code="method_not_allowed")
        response["Allow"] = "GET"
        return response


def _price(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def model_json(model) -> dict:
    created = model.source_created_at or model.created_at
    return {
        "id": model.model_id,
        "object": "model",
        "created": int(created.timestamp()),
        "owned_by": model.provider.slug,
        "name": model.display_name,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "pricing": {
            "prompt": _price(model.input_price),
            "completion": _price(model.output_price),
            "cache_read": _price(model.cache_read_price),
            "cache_write": _price(model.cache_write_price),
        },
        "price_unknown": model.price_unknown or model.input_price is None or model.output_price is None,
        "capabilities": {
            "tools": model.supports_tools,
            "vision": model.supports_vision,
            "json": model.supports_json,
            "streaming": model.supports_streaming,
            "reasoning": model.supports_reasoning,
        },
    }


class ModelListView(V1View):
    """GET /v1/models: the models the workspace can call (installed, enabled, allowed by its plan)."""

    def get(self, request):
        models = installed_model_available_list(workspace=self.workspace)
        return JsonResponse({"object": "list", "data": [model_json(m) for m in models]})


class ModelDetailView(V1View):
    """GET /v1/models/{id}: one of them."""

    def get(self, request, model_id: str):
        # A NUL can be in no model id (and PostgreSQL refuses it in a query).
        available = installed_model_available_list(workspace=self.workspace)
        model = None if "\x00" in model_id else available.filter(model_id=model_id).first()
        if model is None:
            return openai_error(
                404, f"The model '{model_id}' is not available in this workspace.", code="model_not_found"
            )
        return JsonResponse(model_json(model))


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class GenerationView(V1View):
    """GET /v1/generation?id=gen-…: one request's model, tokens, cost and timing (OpenRouter's shape).

    Records reach the database within about a second of the response (see apps/analytics/usage.py)."""

    def get(self, request):
        generation_id = request.GET.get("id", "").strip()
        if not generation_id:
            return openai_error(400, "Give the generation id: ?id=gen-…", code="missing_parameter", param="id")
        record = usage_record_get(workspace=self.workspace, generation_id=generation_id)
        if record is None:
            return openai_error(404, f"No generation '{generation_id}' in this workspace.", code="generation_not_found")
        return JsonResponse(
            {
                "data": {
                    "id": record.generation_id,
                    "model": record.model_name,
                    "provider": record.provider_slug,
                    "requested_model": record.requested_model,
                    "streamed": record.streamed,
                    "finish_reason": record.finish_reason or None,
                    "status": record.status,
                    "http_status": record.http_status,
                    "error_type": record.error_type or None,
                    "tokens_prompt": record.prompt_tokens,
                    "tokens_completion": record.completion_tokens,
                    "tokens_cached": record.cached_tokens,
                    "tokens_cache_write": record.cache_write_tokens,
                    "tokens_reasoning": record.reasoning_tokens,
                    "total_cost": _number(record.cost_usd),
                    "price_unknown": record.price_unknown,
                    "latency_ms": record.latency_ms,
                    "ttft_ms": record.ttft_ms,
                    "attempts": record.attempts,
                    "routing": record.routing,
                    "is_byok": record.is_byok,
                    "created_at": record.created_at.isoformat(),
                    "api_key": record.api_key.mask if record.api_key else None,
                    "agent": record.agent.slug if record.agent else None,
                }
            }
        )


class CreditsView(V1View):
    """GET /v1/credits: credits added, spent on usage, and the ledger balance, in USD."""

    def get(self, request):
        totals = ledger_totals(workspace=self.workspace)
        return JsonResponse(
            {
                "data": {
                    "total_credits": float(totals.credits),
                    "total_usage": float(usage_cost_total(workspace=self.workspace)),
                    "balance": float(totals.balance),
                }
            }
        )


def post_only(request, *args, **kwargs) -> JsonResponse:
    """The gateway answers POST on these paths before Django; any other method lands here."""
    response = openai_error(405, f"{request.method} is not allowed here; use POST.", code="method_not_allowed")
    response["Allow"] = "POST"
    return response


def not_found(request, *args, **kwargs) -> JsonResponse:
    return openai_error(404, f"Unknown endpoint: {request.method} {request.path}.", code="unknown_endpoint")
