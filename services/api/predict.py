"""Predict and feedback routes (client key): one delivery, a batch, a true outcome."""

# No `from __future__ import annotations` here: the routes' body types are built
# at run time from the schema, and FastAPI must see them as objects, not strings.
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pipelines.config import ServeParams
from pipelines.schema import Schema
from services.answers import Answer
from services.api.access import authorize
from services.api.state import ServiceState
from services.request_models import (
    BatchPrediction,
    Prediction,
    batch_model,
    delivery_model,
    feedback_model,
)


def prediction_json(answer: Answer) -> dict[str, Any]:
    """The API's Prediction of one answered row."""
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


def predict_routes(schema: Schema, serve: ServeParams, state: ServiceState) -> APIRouter:
    """POST /predict, /predict/batch and /feedback, with request models from the schema."""
    delivery = delivery_model(schema)
    batch = batch_model(schema, delivery, serve.max_batch_rows)
    feedback = feedback_model(schema)
    routes = APIRouter(tags=["predict"])

    @routes.post("/predict", response_model=Prediction)
    async def predict(body: delivery, request: Request, reasons: bool = False) -> Any:  # type: ignore[valid-type]
        """Delay probability of one delivery; `?reasons=true` adds the top features."""
        started = time.perf_counter()
        authorize(state, request)
        answer = state.require_router().predict([vars(body)], reasons)[0]
        state.count_request("predict", 200, started)
        return JSONResponse(prediction_json(answer))

    @routes.post("/predict/batch", response_model=BatchPrediction)
    async def predict_batch(body: batch, request: Request, reasons: bool = False) -> Any:  # type: ignore[valid-type]
        """Delay probabilities of up to `serve.max_batch_rows` deliveries, in order."""
        started = time.perf_counter()
        authorize(state, request)
        payload: Any = body
        rows = [vars(d) for d in payload.deliveries]
        answers = state.require_router().predict(rows, reasons)
        state.count_request("predict/batch", 200, started)
        return JSONResponse({"predictions": [prediction_json(a) for a in answers]})

    @routes.post("/feedback", status_code=202)
    async def give_feedback(body: feedback, request: Request) -> dict[str, str]:  # type: ignore[valid-type]
        """The true outcome of a delivery, by request id or delivery id."""
        started = time.perf_counter()
        authorize(state, request)
        given: Any = body
        router = state.require_router()
        router.feedback(getattr(given, schema.target), given.request_id, given.delivery_id)
        state.count_request("feedback", 202, started)
        return {"status": "accepted"}

    return routes
