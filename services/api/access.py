"""Who may call a route: the client key for predict and feedback, the admin key for admin."""

from __future__ import annotations

from fastapi import HTTPException, Request

from services.api.state import ServiceState


def presented_key(request: Request) -> str | None:
    """The key a caller sent: `X-API-Key`, else `Authorization: Bearer <key>`."""
    presented = request.headers.get("x-api-key")
    if presented is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = token if scheme.lower() == "bearer" else None
    return presented


def authorize(state: ServiceState, request: Request, admin: bool = False) -> None:
    """Return when the caller's key may use the route; else HTTP 401, 403 (or 503 starting)."""
    if state.keys is None:
        raise HTTPException(503, "service is starting")
    role = state.keys.role(presented_key(request))
    if role is None:
        raise HTTPException(401, "missing or wrong API key", {"WWW-Authenticate": "Bearer"})
    if admin and role != "admin":
        raise HTTPException(403, "this route needs the admin key")
