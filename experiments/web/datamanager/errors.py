"""One JSON error per refusal, and the route class that enforces it (and the body size limit) on our routes only,
so an app that mounts the Data Manager keeps its own error handling."""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from experiments.web.datamanager.models import Refusal


class ApiError(Exception):
    """A refusal: status, rule, message, the field to blame and extra headers (Retry-After)."""

    def __init__(self, status: int, rule: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.rule, self.message, self.field = status, rule, message, field
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = Refusal(status=self.status, rule=self.rule, field=self.field, message=self.message)
        return JSONResponse({"error": body.model_dump()}, status_code=self.status, headers=self.headers)


def _from_validation(exc: RequestValidationError) -> ApiError:
    errs = exc.errors()
    first = errs[0] if errs else {"loc": ("body",), "msg": "invalid request", "type": "value_error"}
    loc = [str(p) for p in first.get("loc", ())]
    where = loc[0] if loc else "body"
    field = ".".join(loc[1:]) or where
    if first.get("type") == "json_invalid":
        return ApiError(422, "invalid_json", "the body is not valid JSON", field="body")
    if first.get("type") == "extra_forbidden":
        return ApiError(422, "unknown_field", f"'{field}' is not a known field", field=field)
    if first.get("type") == "missing":
        return ApiError(422, "missing_field", f"'{field}' is required ({where})", field=field)
    return ApiError(422, "invalid_field", f"'{field}': {first.get('msg', 'invalid')}", field=field)


def limited_route(max_body_bytes: int) -> type[APIRoute]:
    """A route class refusing bodies over `max_body_bytes` (413) and turning every refusal into one JSON error."""

    class DataManagerRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    if request.method in ("POST", "PUT", "PATCH"):
                        await _check_size(request, max_body_bytes)
                    return await handler(request)
                except ApiError as exc:
                    return exc.response()
                except RequestValidationError as exc:
                    return _from_validation(exc).response()

            return guarded

    return DataManagerRoute


async def _check_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    too_big = ApiError(413, "body_too_large", f"the body is over the limit of {limit:,} bytes", field="body")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_big
        except ValueError:
            raise ApiError(400, "bad_content_length", "Content-Length is not a number", field="Content-Length") \
                from None
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    request._body = b"".join(chunks)  # the handler reads the body we already took off the wire
