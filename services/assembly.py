"""Put a running router together from packaged models, the config and the runtime profile."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from pipelines import io
from pipelines.config import Config, Runtime
from pipelines.schema import Schema
from services.auth import Keys, load_keys
from services.metrics import ServingMetrics
from services.policy import CanaryWatch, Guardrails, TrafficPolicy
from services.prediction_log.policy_store import PolicyStore
from services.prediction_log.tables import log_url
from services.prediction_log.writer import PredictionLog
from services.registry_models import RegistryAliases, RegistryFetch
from services.router import Router
from services.served_model import ServedModel

MODEL_FILE = "model.joblib"


def load_served(ref: Any, schema: Schema) -> ServedModel:
    """A packaged model (a BentoML store entry written by `mlops package`) ready to answer."""
    metadata = dict(ref.info.metadata)
    model = io.read_joblib(ref.path_of(MODEL_FILE))
    return ServedModel.build(
        str(metadata["registry_version"]), float(metadata["threshold"]), model, schema, metadata
    )


def guardrails(config: Config) -> Guardrails:
    """The canary's limits: project.yaml release.canary and the latency budget."""
    canary = config.project.release.canary
    return Guardrails(
        max_error_rate=canary.max_error_rate,
        max_p99_ms=config.project.requirements.latency_budget_ms,
        min_requests=canary.min_requests,
        window_requests=canary.window_requests,
    )


def registry_aliases(runtime: Runtime, state_root: Path) -> RegistryAliases | None:
    """The registry a promotion moves: the tracking server's, else the project's own store.

    The project's SQLite store (`<state_root>/mlflow.db`) is used only when it exists,
    never created; None when there is neither (a promotion then moves the policy alone).
    """
    if not runtime.tracking_uri and not (Path(state_root) / "mlflow.db").is_file():
        return None
    return RegistryAliases(runtime.resolved_tracking_uri(state_root), runtime.model_name)


def assemble(
    config: Config,
    schema: Schema,
    refs: Mapping[str, Any],
    runtime: Runtime,
    state_root: Path,
) -> tuple[Router, Keys]:
    """A started router over the packaged models and the keys it checks."""
    keys = load_keys(runtime, state_root)
    served = {role: load_served(ref, schema) for role, ref in refs.items()}
    packaged = TrafficPolicy(
        champion=served["champion"].version,
        challenger=served["challenger"].version if "challenger" in served else None,
    )
    url = log_url(runtime, state_root)
    serve = config.params.serve
    log = PredictionLog(
        url, batch_rows=serve.log_batch_rows, flush_interval_s=serve.log_flush_seconds
    )
    policies = PolicyStore(url)
    log.open()
    policies.open()
    router = Router(
        schema,
        {m.version: m for m in served.values()},
        packaged,
        log,
        policies,
        ServingMetrics(CollectorRegistry()),
        CanaryWatch(guardrails(config)),
        shadow_capacity=serve.shadow_queue,
        reasons_k=serve.reasons_top_k,
        refresh_seconds=serve.policy_refresh_seconds,
        canary_share=config.project.release.canary.share,
        # with a tracking server (the production profile) replicas fetch what the policy names
        fetch=(
            RegistryFetch(runtime.tracking_uri, runtime.model_name, schema)
            if runtime.tracking_uri
            else None
        ),
    )
    router.start()
    return router, keys
