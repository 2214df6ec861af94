"""Admin routes (admin key): the traffic policy, a hot-loaded challenger, a promotion."""

import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError

from services import promotion
from services.api.access import authorize
from services.api.errors import field_name
from services.api.state import ServiceState
from services.policy import TrafficPolicy
from services.registry_state import RegistryUnavailable
from services.request_models import ChallengerUpdate, PolicyUpdate, PromoteRequest
from services.router import PolicyError, Router
from services.served_model import ServedModel

PROMOTE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong API key"},
    403: {"description": "Not the admin key"},
    404: {"description": "The version is neither loaded here nor fetchable from the registry"},
    409: {"description": "The traffic policy cannot be applied; the registry aliases are back"},
    503: {
        "description": "The registry is configured but cannot be reached (nothing changed), "
        "or the service is still starting"
    },
}


def _role_change(update: PolicyUpdate, current: TrafficPolicy) -> str | None:
    """Why the update may not be applied here when it changes a role, else None."""
    asked = update.model_dump(exclude_unset=True, include={"champion", "challenger"})
    if all(asked[role] == getattr(current, role) for role in asked):
        return None
    return (
        f"roles are not changed here (in force: champion {current.champion}, challenger "
        f"{current.challenger}): POST /admin/promote makes a version champion, PUT "
        "/admin/models/challenger loads a challenger; this route sets mode, weight and salt"
    )


def _new_policy(update: PolicyUpdate, current: TrafficPolicy, canary_share: float) -> TrafficPolicy:
    """The policy in force with the update's fields; HTTP 422 naming a field that does not fit."""
    changes = update.model_dump(exclude_unset=True, exclude={"reason", "changed_by"})
    if update.mode == "canary" and "challenger_weight" not in changes:
        changes["challenger_weight"] = canary_share
    if update.mode in ("champion", "shadow") and "challenger_weight" not in changes:
        changes["challenger_weight"] = 0.0
    try:
        return TrafficPolicy.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        errors = [{"field": field_name(tuple(e["loc"])), "error": e["msg"]} for e in exc.errors()]
        raise HTTPException(422, errors) from None


def admin_routes(state: ServiceState) -> APIRouter:
    """GET/PUT /admin/policy, PUT /admin/models/challenger, POST /admin/promote."""
    routes = APIRouter(tags=["admin"])
    promoting = threading.Lock()  # one promotion at a time in this process

    @routes.get("/admin/policy")
    def get_policy(request: Request, history: int = 20) -> dict[str, Any]:
        """The traffic policy in force and its latest changes (admin key)."""
        authorize(state, request, admin=True)
        r = state.require_router()
        changes = r.policies.history(max(1, min(history, 500)))
        return {"policy": r.policy.model_dump(), "history": [c.to_json() for c in changes]}

    @routes.put("/admin/policy")
    def put_policy(update: PolicyUpdate, request: Request) -> dict[str, Any]:
        """Change the traffic policy at run time (admin key); stored, logged, shared by replicas."""
        authorize(state, request, admin=True)
        r = state.require_router()
        current = r.policy
        policy = _new_policy(update, current, r.canary_share)
        refused = _role_change(update, current)
        if refused is not None:
            raise HTTPException(409, refused)
        try:
            applied = r.set_policy(policy, update.changed_by, update.reason)
        except PolicyError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"policy": applied.model_dump()}

    @routes.put("/admin/models/challenger")
    def put_challenger(update: ChallengerUpdate, request: Request) -> dict[str, Any]:
        """Load a packaged model as challenger without a restart (admin key); champion-only."""
        authorize(state, request, admin=True)
        r = state.require_router()
        fetchable = update.version is not None and r.fetch is not None
        if state.load_model is None and not fetchable:
            raise HTTPException(501, "this service cannot load models at run time")
        try:
            served = _challenger(update, state.load_model, r)
        except LookupError as exc:
            raise HTTPException(404, f"no packaged model {update.tag!r}: {exc}") from None
        except ValueError as exc:
            raise HTTPException(409, f"model {update.tag!r} cannot serve: {exc}") from None
        try:
            applied = r.load_challenger(
                served, update.changed_by, update.reason or "new challenger"
            )
        except PolicyError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"policy": applied.model_dump()}

    @routes.post("/admin/promote", responses=PROMOTE_RESPONSES)
    def promote(update: PromoteRequest, request: Request) -> dict[str, Any]:
        """Make a registry version champion and the champion challenger (admin key).

        The registry aliases move first, then the traffic policy (champion-only); if the
        policy cannot be applied the aliases are put back. Without a registry the policy
        moves alone and the note says so. Promoting the champion changes nothing.
        """
        authorize(state, request, admin=True)
        r = state.require_router()
        with promoting:
            try:
                result = promotion.promote(
                    update.version, r, state.registry, update.changed_by, update.reason
                )
            except RegistryUnavailable as exc:
                raise HTTPException(503, str(exc)) from None
            except PolicyError as exc:
                raise HTTPException(409, str(exc)) from None
            except LookupError as exc:
                raise HTTPException(404, f"no version {update.version}: {exc}") from None
        return result.to_json()

    return routes


def _challenger(
    update: ChallengerUpdate, load_model: Callable[[str], ServedModel] | None, r: Router
) -> ServedModel:
    """The update's packaged model by store tag, else by registry version; LookupError if neither.

    The registry serves where the store lacks the tag: a Kubernetes pod packaged
    before the challenger existed.
    """
    try:
        if load_model is None:
            raise LookupError("no model store here")
        return load_model(update.tag)
    except LookupError as missing:
        if update.version is None or r.fetch is None:
            raise
        try:
            return r.fetch(update.version)
        except LookupError as exc:
            raise LookupError(f"{missing}; {exc}") from None
