"""The HTTP face of the router: predict, feedback, health, readiness, metrics, admin.

Built once from the schema (so the request models, and the OpenAPI docs, follow
params.yaml); the router and keys are attached when the service has loaded its
models. Every bad request is answered 4xx with the field named, never 500.
"""

from __future__ import annotations

from fastapi import FastAPI

from pipelines.config import ServeParams
from pipelines.schema import Schema
from services.api.admin import admin_routes
from services.api.body_limit import BodyLimit
from services.api.errors import install_error_handlers
from services.api.operations import operations_routes
from services.api.predict import predict_routes
from services.api.state import ServiceState

__all__ = ["ServiceState", "create_app"]


def create_app(schema: Schema, serve: ServeParams, state: ServiceState) -> FastAPI:
    """The FastAPI app; routes answer 503 until `state.router` is set."""
    app = FastAPI(
        title="Parcel delay prediction",
        summary="Delay risk of a delivery at pickup, from the champion (and the challenger "
        "under shadow, A/B or canary traffic)",
        version="1",
    )
    app.add_middleware(BodyLimit, max_bytes=serve.max_body_bytes)
    install_error_handlers(app, state)
    app.include_router(predict_routes(schema, serve, state))
    app.include_router(operations_routes(state))
    app.include_router(admin_routes(state))
    return app
