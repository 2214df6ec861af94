"""Request and response models of the prediction API, generated from the one schema.

Adding a column to params.yaml adds it here: numbers get their allowed range,
categories their allowed values, and unknown fields are refused, so a wrong
request is answered 422 with the field named before any model sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from pipelines.schema import Schema

Id = Annotated[str, Field(min_length=1, max_length=128)]


def delivery_model(schema: Schema) -> type[BaseModel]:
    """One delivery as a caller sends it: ids, the time column and every raw feature."""
    fields: dict[str, Any] = {
        schema.id_column: (Id | None, Field(None, description="Delivery id (for feedback)")),
        schema.time_column: (datetime, Field(description="ISO 8601; naive times are UTC")),
    }
    if schema.key_column:
        fields[schema.key_column] = (
            Id | None,
            Field(None, description="Routing key: the same key always meets the same model"),
        )
    for num in schema.numeric:
        fields[num.name] = (
            float,
            Field(
                ge=num.min,
                le=num.max,
                allow_inf_nan=False,
                strict=True,  # a number, not a string that looks like one
                description=f"{num.min}..{num.max}",
            ),
        )
    for cat in schema.categorical:
        fields[cat.name] = (Literal[cat.categories], Field(description="One of the listed values"))
    return create_model(
        "Delivery",
        __config__=ConfigDict(extra="forbid", strict=False, frozen=True),
        **fields,
    )


class Reason(BaseModel):
    """A feature that raised this delivery's risk, with its SHAP contribution (log-odds)."""

    feature: str
    contribution: float


class Prediction(BaseModel):
    """The answer for one delivery."""

    request_id: str
    delivery_id: str | None
    delay_probability: float
    delayed: bool
    """True when the probability reaches the model's decision threshold."""
    threshold: float
    model_version: str
    variant: Literal["champion", "challenger"]
    reasons: list[Reason] | None = None


class BatchPrediction(BaseModel):
    """The answers for a batch, in request order."""

    predictions: list[Prediction]


def batch_model(schema: Schema, delivery: type[BaseModel], max_rows: int) -> type[BaseModel]:
    """A batch request: `{"deliveries": [...]}` with at most `max_rows` items."""
    return create_model(
        "DeliveryBatch",
        __config__=ConfigDict(extra="forbid"),
        deliveries=(list[delivery], Field(min_length=1, max_length=max_rows)),  # type: ignore[valid-type]
    )


class _FeedbackBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: Id | None = None
    delivery_id: Id | None = None

    @model_validator(mode="after")
    def _has_an_id(self) -> _FeedbackBase:
        if self.request_id is None and self.delivery_id is None:
            raise ValueError("give request_id or delivery_id to join the outcome to its prediction")
        return self


def feedback_model(schema: Schema) -> type[BaseModel]:
    """A true outcome, named after the target: `{"request_id": "..", "delayed": true}`."""
    fields: dict[str, Any] = {schema.target: (bool, Field(description="The true outcome"))}
    return create_model("Feedback", __base__=_FeedbackBase, **fields)


class PolicyUpdate(BaseModel):
    """An admin's change of traffic policy; unset fields keep their current value."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["champion", "shadow", "ab", "canary"]
    challenger_weight: Annotated[float, Field(ge=0, le=1)] | None = None
    """Share of keys for the challenger; canary defaults to project.yaml release.canary.share."""
    salt: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    champion: Id | None = None
    """The champion in force: roles change through POST /admin/promote, not here."""
    challenger: Id | None = None
    """The challenger in force: a new one comes through PUT /admin/models/challenger."""
    reason: str = Field("", max_length=500)
    changed_by: Annotated[str, Field(min_length=1, max_length=64)] = "admin-api"


class ChallengerUpdate(BaseModel):
    """A packaged model (BentoML store tag, from reports/package.json) to hold as challenger."""

    model_config = ConfigDict(extra="forbid")

    tag: Annotated[
        str, Field(min_length=3, max_length=200, pattern=r"^[a-z0-9][a-z0-9._-]*:[a-z0-9._-]+$")
    ]
    version: Annotated[str | None, Field(pattern=r"^[0-9]{1,9}$")] = None
    """Its registry version: fetched from the registry when this replica's store lacks the tag."""
    reason: str = Field("", max_length=500)
    changed_by: Annotated[str, Field(min_length=1, max_length=64)] = "admin-api"


class PromoteRequest(BaseModel):
    """A registry version to make champion; the current champion becomes challenger."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: Annotated[str, Field(pattern=r"^[0-9]{1,9}$")]
    """Registry version: loaded here, or fetched from the registry when one is configured."""
    reason: str = Field("", max_length=500)
    changed_by: Annotated[str, Field(min_length=1, max_length=64)] = "admin"
