"""The HTTP face of the router: predict, feedback, health, readiness, metrics, admin.

Built once from the schema (so the request models, and the OpenAPI docs, follow
params.yaml); the router and keys are attached when the service has loaded its
models. Every bad request is answered 4xx with the field named, never 500.
"""

# No `from __future__ import annotations` here: the routes' body types are built
# at run time from the schema, and FastAPI must see them as objects, not strings.
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from pipelines.config import ServeParams
from pipelines.schema import Schema
from services.answers import Answer
from services.auth import Keys
from services.policy import TrafficPolicy
from services.request_models import (
    BatchPrediction,
    ChallengerUpdate,
    PolicyUpdate,
    Prediction,
    batch_model,
    delivery_model,
    feedback_model,
)
from services.router import PolicyError, Router
from services.served_model import ServedModel


@dataclass
class ServiceState:
    """What the routes need once the service has loaded: None until then."""

    router: Router | None = None
    keys: Keys | None = None
    load_model: Callable[[str], ServedModel] | None = None
    """Loads a packaged model by its store tag (our own model store only, never request data)."""


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413 before they are parsed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        """Wrap `app`."""
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Check the declared length, then count the bytes actually received."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(self.max_bytes, send)
                return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self.max_bytes, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Any) -> None:
    body = b'{"detail":[{"field":"(body)","error":"request body larger than %d bytes"}]}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "(body)"


def _prediction(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "request_id": answer.request_id,
        "delivery_id": answer.delivery_id,
        "delay_probability": answer.probability,
        "delayed": answer.decision,
        "threshold": answer.threshold,
        "model_version": answer.model_version,
        "variant": answer.variant,
        "reasons": None,
    }
    if answer.reasons is not None:
        out["reasons"] = [{"feature": f, "contribution": c} for f, c in answer.reasons]
    return out


def create_app(schema: Schema, serve: ServeParams, state: ServiceState) -> FastAPI:
    """The FastAPI app; routes answer 503 until `state.router` is set."""
    delivery = delivery_model(schema)
    batch = batch_model(schema, delivery, serve.max_batch_rows)
    feedback = feedback_model(schema)
    app = FastAPI(
        title="Parcel delay prediction",
        summary="Delay risk of a delivery at pickup, from the champion (and the challenger "
        "under shadow, A/B or canary traffic)",
        version="1",
    )
    app.add_middleware(BodyLimit, max_bytes=serve.max_body_bytes)

    def metric(route: str, status: int, started: float) -> None:
        if state.router is not None:
            m = state.router.metrics
            m.requests.labels(route, str(status)).inc()
            m.request_latency.labels(route).observe(time.perf_counter() - started)

    def authorize(request: Request, admin: bool = False) -> None:
        if state.keys is None:
            raise HTTPException(503, "service is starting")
        presented = request.headers.get("x-api-key")
        if presented is None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            presented = token if scheme.lower() == "bearer" else None
        role = state.keys.role(presented)
        if role is None:
            raise HTTPException(401, "missing or wrong API key", {"WWW-Authenticate": "Bearer"})
        if admin and role != "admin":
            raise HTTPException(403, "this route needs the admin key")

    def router() -> Router:
        if state.router is None:
            raise HTTPException(503, "models are loading")
        return state.router

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": "(body)", "error": f"invalid JSON at character {e['loc'][-1]}"}
            if e["type"] == "json_invalid"
            else {"field": _field(tuple(e["loc"])), "error": e["msg"]}
            for e in exc.errors()
        ]
        route = request.url.path.strip("/") or "root"
        metric(route, 422, time.perf_counter())
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        metric(request.url.path.strip("/") or "root", exc.status_code, time.perf_counter())
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        metric(request.url.path.strip("/") or "root", 500, time.perf_counter())
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.post("/predict", response_model=Prediction, tags=["predict"])
    async def predict(body: delivery, request: Request, reasons: bool = False) -> Any:  # type: ignore[valid-type]
        """Delay probability of one delivery; `?reasons=true` adds the top features."""
        started = time.perf_counter()
        authorize(request)
        answer = router().predict([vars(body)], reasons)[0]
        metric("predict", 200, started)
        return JSONResponse(_prediction(answer))

    @app.post("/predict/batch", response_model=BatchPrediction, tags=["predict"])
    async def predict_batch(body: batch, request: Request, reasons: bool = False) -> Any:  # type: ignore[valid-type]
        """Delay probabilities of up to `serve.max_batch_rows` deliveries, in order."""
        started = time.perf_counter()
        authorize(request)
        payload: Any = body
        rows = [vars(d) for d in payload.deliveries]
        answers = router().predict(rows, reasons)
        metric("predict/batch", 200, started)
        return JSONResponse({"predictions": [_prediction(a) for a in answers]})

    @app.post("/feedback", status_code=202, tags=["predict"])
    async def give_feedback(body: feedback, request: Request) -> dict[str, str]:  # type: ignore[valid-type]
        """The true outcome of a delivery, by request id or delivery id."""
        started = time.perf_counter()
        authorize(request)
        given: Any = body
        router().feedback(getattr(given, schema.target), given.request_id, given.delivery_id)
        metric("feedback", 202, started)
        return {"status": "accepted"}

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @app.get("/ready", tags=["operations"])
    async def ready() -> JSONResponse:
        """Readiness: models loaded and keys configured (503 until then)."""
        r = state.router
        if r is None or state.keys is None:
            return JSONResponse({"ready": False}, status_code=503)
        policy = r.policy
        return JSONResponse(
            {
                "ready": True,
                "mode": policy.mode,
                "champion": policy.champion,
                "challenger": policy.challenger,
            }
        )

    @app.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        """Prometheus exposition of the service's metrics."""
        r = state.router
        if r is None:
            return Response(b"", media_type=CONTENT_TYPE_LATEST)
        stats = r.log.stats
        r.metrics.log_pending.set(stats.pending)
        r.metrics.log_dropped.set(stats.dropped)
        return Response(generate_latest(r.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/admin/policy", tags=["admin"])
    def get_policy(request: Request, history: int = 20) -> dict[str, Any]:
        """The traffic policy in force and its latest changes (admin key)."""
        authorize(request, admin=True)
        r = router()
        changes = r.policies.history(max(1, min(history, 500)))
        return {
            "policy": r.policy.model_dump(),
            "history": [
                {
                    "id": c.id,
                    "changed_at": c.changed_at.isoformat(),
                    "changed_by": c.changed_by,
                    "reason": c.reason,
                    "policy": c.policy,
                }
                for c in changes
            ],
        }

    @app.put("/admin/policy", tags=["admin"])
    def put_policy(update: PolicyUpdate, request: Request) -> dict[str, Any]:
        """Change the traffic policy at run time (admin key); stored, logged, shared by replicas."""
        authorize(request, admin=True)
        r = router()
        current = r.policy
        changes = update.model_dump(exclude_unset=True, exclude={"reason", "changed_by"})
        if update.mode == "canary" and "challenger_weight" not in changes:
            changes["challenger_weight"] = r.canary_share
        if update.mode in ("champion", "shadow") and "challenger_weight" not in changes:
            changes["challenger_weight"] = 0.0
        try:
            policy = TrafficPolicy.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            errors = [{"field": _field(tuple(e["loc"])), "error": e["msg"]} for e in exc.errors()]
            raise HTTPException(422, errors) from None
        try:
            applied = r.set_policy(policy, update.changed_by, update.reason)
        except PolicyError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"policy": applied.model_dump()}

    @app.put("/admin/models/challenger", tags=["admin"])
    def put_challenger(update: ChallengerUpdate, request: Request) -> dict[str, Any]:
        """Load a packaged model as challenger without a restart (admin key); champion-only."""
        authorize(request, admin=True)
        r = router()
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

    return app


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
