"""The models of project.yaml: requirements, framing, acceptance, release and monitoring."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pipelines.config.base import Frozen, Ratio


class Privacy(Frozen):
    """Which inputs a model may ever see."""

    allowed_features: list[str] = Field(min_length=1)


class Requirements(Frozen):
    """Step 1: why the system exists and the limits it must respect."""

    business_objective: str
    users: list[str] = Field(min_length=1)
    success_online: str
    latency_budget_ms: Annotated[float, Field(gt=0)]
    privacy: Privacy


class Framing(Frozen):
    """Step 2: the ML task."""

    task: Literal["binary_classification"]
    target: str
    positive_label: int = 1
    ml_objective: str
    primary_metric: Literal["precision_at_recall"]
    input: str
    output: str


class Acceptance(Frozen):
    """What a model must reach on the gold holdout before it may serve."""

    min_recall: Ratio
    min_precision: Ratio
    max_slice_recall_gap: Ratio
    slices: list[str] = Field(default_factory=list)
    min_auc_gain_over_baseline: float = 0.0
    max_drop_vs_champion: Ratio = 0.0


class Canary(Frozen):
    """A small share of traffic for the challenger, withdrawn when it breaks a guardrail."""

    share: Annotated[float, Field(gt=0, le=0.5)] = 0.05
    max_error_rate: Ratio = 0.02
    """Above this share of failed challenger requests, traffic falls back to the champion."""
    min_requests: Annotated[int, Field(ge=1)] = 50
    """Guardrails are judged once the challenger has answered this many requests."""
    window_requests: Annotated[int, Field(ge=10)] = 500
    """Error rate and p99 are taken over the challenger's latest this-many requests."""


class Release(Frozen):
    """How a challenger reaches customers; p99 guardrails use requirements.latency_budget_ms."""

    canary: Canary = Field(default_factory=Canary)
    shadow_requests: Annotated[int, Field(ge=1)] = 500
    """Requests the challenger scores in shadow before it may answer anyone."""
    min_agreement: Ratio = 0.8
    """Shadow: share of requests where both models make the same decision, at least."""
    ab_weight: Annotated[float, Field(gt=0, lt=1)] = 0.5
    min_labelled_per_variant: Annotated[int, Field(ge=10)] = 300
    """A/B: labelled outcomes each variant needs before the test is run."""
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    """Error rate of the A/B decision (one-sided non-inferiority test on live recall)."""
    non_inferiority_margin: Ratio = 0.02
    """The challenger may be this much worse in live recall and still be promoted."""


class Retrain(Frozen):
    """When monitoring asks for a new model."""

    drift_windows: Annotated[int, Field(ge=1)] = 2
    """Retrain after this many consecutive windows with dataset drift..."""
    min_labelled: Annotated[int, Field(ge=1)] = 200
    """...or when live recall on at least this many labelled rows is under the recall floor."""


class Monitoring(Frozen):
    """Drift and live quality of the served model, per window of the prediction log."""

    window_minutes: Annotated[float, Field(gt=0)] = 60
    min_rows: Annotated[int, Field(ge=1)] = 200
    """A window with fewer predictions is reported as stale, not scored."""
    drift_share: Ratio = 0.3
    """Dataset drift when at least this share of the features drifted."""
    reference_rows: Annotated[int, Field(ge=100)] = 50_000
    """Rows of the training data kept with each model as its drift reference."""
    max_report_rows: Annotated[int, Field(ge=1000)] = 100_000
    """Larger windows are sampled to this size for the Evidently report."""
    drift_ignore: list[str] = Field(default_factory=list)
    """Features left out of drift: e.g. hour and weekday, which a short window cannot match."""
    segment_by: str | None = None
    """A categorical feature whose values are tested for drift one by one (None: no segments)."""
    min_segment_rows: Annotated[int, Field(ge=1)] = 300
    """Segments with fewer rows in the window (or the reference) are skipped, not tested."""
    retrain: Retrain = Field(default_factory=Retrain)


class Project(Frozen):
    """The whole of project.yaml."""

    name: str
    requirements: Requirements
    framing: Framing
    acceptance: Acceptance
    release: Release = Field(default_factory=Release)
    monitoring: Monitoring = Field(default_factory=Monitoring)
