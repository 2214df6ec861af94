"""Error answers: 422 naming each bad field, HTTP errors as raised, 500 without internals.

Every error answer is counted in the request metrics under its route.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.api.state import ServiceState


def field_name(loc: tuple[Any, ...]) -> str:
    """The dotted name of a field in a validation error's location, `(body)` for the whole."""
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "(body)"


def _route(request: Request) -> str:
    return request.url.path.strip("/") or "root"


def install_error_handlers(app: FastAPI, state: ServiceState) -> None:
    """Answer validation errors, HTTP errors and failures as JSON `{"detail": ...}`."""

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": "(body)", "error": f"invalid JSON at character {e['loc'][-1]}"}
            if e["type"] == "json_invalid"
            else {"field": field_name(tuple(e["loc"])), "error": e["msg"]}
            for e in exc.errors()
        ]
        state.count_request(_route(request), 422, time.perf_counter())
        return JSONResponse({"detail": errors}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        state.count_request(_route(request), exc.status_code, time.perf_counter())
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        state.count_request(_route(request), 500, time.perf_counter())
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, failed)
