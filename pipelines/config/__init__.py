"""The one loader: params.yaml, project.yaml and the runtime profile, as frozen models.

Every error names the file and the key that is wrong, so a user editing
either file sees at once what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.errors import UserError

PARAMS_FILE = "params.yaml"
PROJECT_FILE = "project.yaml"


class ConfigError(UserError, ValueError):
    """A configuration file is missing, unreadable or holds a wrong value."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Share = Annotated[float, Field(gt=0, lt=1)]
Ratio = Annotated[float, Field(ge=0, le=1)]


# ---------------------------------------------------------------- params.yaml


class NumericRange(_Frozen):
    """Inclusive range a numeric column must stay in."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> NumericRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class DataParams(_Frozen):
    """Where the data comes from and what its columns are."""

    source: Literal["generator", "file"]
    path: str | None = None
    labelled_dir: str | None = "data/source/labelled"
    """Labelled production rows (Parquet) that monitoring exports for retraining; appended."""
    id_column: str
    time_column: str
    key_column: str | None = None
    oracle_column: str | None = None
    numeric: dict[str, NumericRange] = Field(default_factory=dict)
    categorical: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(default_factory=dict)
    time_features: dict[str, Literal["hour", "weekday", "month"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DataParams:
        if self.source == "file" and not self.path:
            raise ValueError("source is 'file' but path is not set")
        overlap = set(self.numeric) & set(self.categorical)
        if overlap:
            raise ValueError(f"columns listed as numeric and categorical: {sorted(overlap)}")
        if not self.numeric and not self.categorical:
            raise ValueError("no numeric or categorical columns are listed")
        for name, values in self.categorical.items():
            if len(set(values)) != len(values):
                raise ValueError(f"categorical.{name} lists a value twice")
        return self


class GenerateParams(_Frozen):
    """Size, seed and scenario of the synthetic courier data."""

    rows: Annotated[int, Field(gt=0)]
    seed: int
    start: str
    days: Annotated[int, Field(gt=0)]
    scenario: Literal["none", "winter", "rural_depot", "holiday_backlog", "carrier_change"]


class TargetRate(_Frozen):
    """Allowed share of positive rows in a batch."""

    min: Ratio
    max: Ratio


class ValidateParams(_Frozen):
    """Batch-level expectations beyond the column schema."""

    min_rows: Annotated[int, Field(gt=0)]
    max_rows: Annotated[int, Field(gt=0)]
    target_rate: TargetRate


class SplitParams(_Frozen):
    """Shares of the time-ordered validation and gold holdout slices."""

    valid_share: Share
    holdout_share: Share

    @model_validator(mode="after")
    def _leaves_training(self) -> SplitParams:
        if self.valid_share + self.holdout_share >= 0.9:
            raise ValueError("valid_share + holdout_share leaves under 10% for training")
        return self


class Rule(_Frozen):
    """One baseline rule: fires when a numeric is above, or a category equals, a value."""

    above: float | None = None
    equals: str | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        if (self.above is None) == (self.equals is None):
            raise ValueError("a rule needs exactly one of 'above' or 'equals'")
        return self


class BaselineParams(_Frozen):
    """The rule-based baseline ("manual before ML")."""

    rules: dict[str, Rule] = Field(min_length=1)


class LogRegParams(_Frozen):
    """Logistic regression hyperparameters."""

    C: Annotated[float, Field(gt=0)]
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: Annotated[int, Field(gt=0)] = 500


class LgbmParams(_Frozen):
    """LightGBM hyperparameters; the search varies some of them."""

    n_estimators: Annotated[int, Field(gt=0)]
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    num_leaves: Annotated[int, Field(ge=2)]
    min_child_samples: Annotated[int, Field(ge=1)]
    subsample: Annotated[float, Field(gt=0, le=1)]
    colsample_bytree: Annotated[float, Field(gt=0, le=1)]
    reg_lambda: Annotated[float, Field(ge=0)]
    class_weight: Literal["balanced"] | None = "balanced"
    monotone_increasing: list[str] = Field(default_factory=list)


class SearchParams(_Frozen):
    """Grid of LightGBM values tried, at most `max_trials` of them."""

    num_leaves: list[int] = Field(default_factory=list)
    learning_rate: list[float] = Field(default_factory=list)
    max_trials: Annotated[int, Field(ge=1)] = 6


class TrainParams(_Frozen):
    """Everything the train stage reads."""

    seed: int
    baseline: BaselineParams
    logreg: LogRegParams
    lgbm: LgbmParams
    search: SearchParams


class EvaluateParams(_Frozen):
    """Threshold choice and reporting."""

    recall_target: Annotated[float, Field(gt=0, le=1)]
    min_slice_positives: Annotated[int, Field(ge=1)]
    calibration_bins: Annotated[int, Field(ge=2)] = 10
    top_features: Annotated[int, Field(ge=1)] = 15


class ServeParams(_Frozen):
    """Limits and background work of the prediction service."""

    max_batch_rows: Annotated[int, Field(ge=1)] = 1000
    """A batch request with more deliveries than this is refused (413)."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 2_000_000
    reasons_top_k: Annotated[int, Field(ge=1)] = 3
    shadow_queue: Annotated[int, Field(ge=1)] = 1000
    """Shadow jobs waiting at most; more are shed (counted), never queued behind the answer."""
    log_batch_rows: Annotated[int, Field(ge=1)] = 500
    log_flush_seconds: Annotated[float, Field(gt=0)] = 0.5
    policy_refresh_seconds: Annotated[float, Field(gt=0)] = 2.0
    """How often a replica rereads the traffic policy other replicas or the CLI may have set."""


class Params(_Frozen):
    """The whole of params.yaml."""

    data: DataParams
    generate: GenerateParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    serve: ServeParams = Field(default_factory=ServeParams)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --------------------------------------------------------------- project.yaml


class Privacy(_Frozen):
    """Which inputs a model may ever see."""

    allowed_features: list[str] = Field(min_length=1)


class Requirements(_Frozen):
    """Step 1: why the system exists and the limits it must respect."""

    business_objective: str
    users: list[str] = Field(min_length=1)
    success_online: str
    latency_budget_ms: Annotated[float, Field(gt=0)]
    privacy: Privacy


class Framing(_Frozen):
    """Step 2: the ML task."""

    task: Literal["binary_classification"]
    target: str
    positive_label: int = 1
    ml_objective: str
    primary_metric: Literal["precision_at_recall"]
    input: str
    output: str


class Acceptance(_Frozen):
    """What a model must reach on the gold holdout before it may serve."""

    min_recall: Ratio
    min_precision: Ratio
    max_slice_recall_gap: Ratio
    slices: list[str] = Field(default_factory=list)
    min_auc_gain_over_baseline: float = 0.0
    max_drop_vs_champion: Ratio = 0.0


class Canary(_Frozen):
    """A small share of traffic for the challenger, withdrawn when it breaks a guardrail."""

    share: Annotated[float, Field(gt=0, le=0.5)] = 0.05
    max_error_rate: Ratio = 0.02
    """Above this share of failed challenger requests, traffic falls back to the champion."""
    min_requests: Annotated[int, Field(ge=1)] = 50
    """Guardrails are judged once the challenger has answered this many requests."""
    window_requests: Annotated[int, Field(ge=10)] = 500
    """Error rate and p99 are taken over the challenger's latest this-many requests."""


class Release(_Frozen):
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


class Retrain(_Frozen):
    """When monitoring asks for a new model."""

    drift_windows: Annotated[int, Field(ge=1)] = 2
    """Retrain after this many consecutive windows with dataset drift..."""
    min_labelled: Annotated[int, Field(ge=1)] = 200
    """...or when live recall on at least this many labelled rows is under the recall floor."""


class Monitoring(_Frozen):
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


class Project(_Frozen):
    """The whole of project.yaml."""

    name: str
    requirements: Requirements
    framing: Framing
    acceptance: Acceptance
    release: Release = Field(default_factory=Release)
    monitoring: Monitoring = Field(default_factory=Monitoring)


# ------------------------------------------------------------ runtime profile


class Runtime(BaseSettings):
    """Where things run: read from MLOPS_* environment variables, local defaults otherwise."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", frozen=True, extra="ignore")

    tracking_uri: str | None = None
    """MLflow tracking URI; None means sqlite:///<project root>/mlflow.db."""
    experiment_name: str = "parcel-delay"
    model_name: str = "parcel-delay"
    """Name of the registered model that carries the champion/challenger aliases."""
    prediction_log_url: str | None = None
    """SQLAlchemy URL of the prediction log; None means SQLite under <root>/serving/."""
    api_key: str | None = None
    """Key that predict and feedback require (or from the secrets file)."""
    admin_key: str | None = None
    """Key that the traffic-policy routes require (or from the secrets file)."""
    secrets_file: str | None = None
    """File with `api_key=` and `admin_key=` lines; None means <root>/.secrets/serving.env."""
    service_url: str = "http://127.0.0.1:3000"
    """Where the CLI finds the running service."""
    dvc_remote: str | None = None
    """DVC remote URL (s3://bucket/path, a directory); None: .dvc/config's default, .dvc/storage."""
    engine: Literal["local", "dask"] = "local"
    """Fan-out work (search trials, scoring partitions, drift per segment): here, or on Dask."""
    dask_address: str | None = None
    """Scheduler of a running Dask cluster (tcp://host:8786); None starts a LocalCluster."""
    dask_workers: int = Field(default=2, ge=1)
    """Worker processes of the LocalCluster started when there is no `dask_address`."""

    def resolved_tracking_uri(self, root: Path) -> str:
        """The tracking URI to use, with the embedded SQLite default under `root`."""
        return self.tracking_uri or f"sqlite:///{(root / 'mlflow.db').resolve()}"


# -------------------------------------------------------------------- loading


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def _explain(path: Path, exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  {key}: {err['msg']}")
    return ConfigError(f"{path}: invalid configuration\n" + "\n".join(lines))


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Parse and check params.yaml."""
    path = Path(path)
    try:
        return Params.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


def load_runtime() -> Runtime:
    """The runtime profile from MLOPS_* environment variables; ConfigError names each bad one."""
    try:
        return Runtime()
    except ValidationError as exc:
        lines = [
            f"  MLOPS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("environment: invalid MLOPS_* setting\n" + "\n".join(lines)) from None


def load_project(path: Path | str = PROJECT_FILE) -> Project:
    """Parse and check project.yaml."""
    path = Path(path)
    try:
        return Project.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


class Config(_Frozen):
    """params.yaml and project.yaml together; build it with `load`, which cross-checks them."""

    params: Params
    project: Project


def cross_check(params: Params, project: Project) -> list[str]:
    """Problems that only show when both files are read together."""
    data, allowed = params.data, set(project.requirements.privacy.allowed_features)
    features = [*data.numeric, *data.categorical, *data.time_features]
    problems = [
        f"params.yaml data.*.{name} is a model feature but not in "
        f"project.yaml requirements.privacy.allowed_features"
        for name in features
        if name not in allowed
    ]
    reserved = {
        data.id_column,
        data.time_column,
        project.framing.target,
        data.key_column,
        data.oracle_column,
    }
    problems += [
        f"params.yaml data.*.{name} is also the id, time, target, key or oracle column"
        for name in features
        if name in reserved
    ]
    problems += [
        f"project.yaml acceptance.slices.{name} is not a categorical column in params.yaml"
        for name in project.acceptance.slices
        if name not in data.categorical
    ]
    segment = project.monitoring.segment_by
    if segment is not None and (
        segment not in data.categorical or segment in project.monitoring.drift_ignore
    ):
        problems.append(
            f"project.yaml monitoring.segment_by: {segment!r} is not a categorical column in "
            "params.yaml that monitoring compares (see monitoring.drift_ignore)"
        )
    problems += [
        f"params.yaml train.lgbm.monotone_increasing.{name} is not a numeric feature"
        for name in params.train.lgbm.monotone_increasing
        if name not in data.numeric
    ]
    problems += [
        f"params.yaml train.baseline.rules.{name} is not a feature"
        for name in params.train.baseline.rules
        if name not in features
    ]
    problems += [
        f"project.yaml monitoring.drift_ignore.{name} is not a feature in params.yaml"
        for name in project.monitoring.drift_ignore
        if name not in features
    ]
    if params.evaluate.recall_target < project.acceptance.min_recall:
        problems.append(
            "params.yaml evaluate.recall_target is below project.yaml acceptance.min_recall"
        )
    return problems


def load(root: Path | str = ".") -> Config:
    """Load both files from the project root and check them against each other."""
    root = Path(root)
    params = load_params(root / PARAMS_FILE)
    project = load_project(root / PROJECT_FILE)
    problems = cross_check(params, project)
    if problems:
        raise ConfigError("params.yaml / project.yaml disagree:\n  " + "\n  ".join(problems))
    return Config(params=params, project=project)
