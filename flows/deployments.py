"""Prefect deployments of the loop, and the triggers that close it.

- `training/retrain`: started by the event `mlops.retrain.requested` that the
  monitoring flow emits when the retraining policy fires;
- `monitoring/scheduled`: every `monitoring.window_minutes`;
- `release/on-challenger`: started by `mlops.challenger.ready`, which the
  training flow emits after packaging a new challenger.

`mlops orchestrate` serves them from one long-running process (Prefect's
`serve`, which also creates the automations behind the triggers); it needs a
Prefect server (PREFECT_API_URL): events and automations do not outlive an
ephemeral one.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.deployments.runner import EntrypointType
from prefect.events import DeploymentEventTrigger

from flows.monitoring import RETRAIN_EVENT, monitoring_flow
from flows.release import release_flow
from flows.training import CHALLENGER_EVENT, training_flow
from pipelines.config import load

MODULE_PATH = EntrypointType.MODULE_PATH
"""Runs import `flows.training` etc. by module: a file path would put flows/ first on
sys.path, where flows/monitoring.py would shadow the `monitoring` package."""

MODEL_RESOURCE: dict[str, str | list[str]] = {"prefect.resource.id": "mlops.model.*"}


def build_deployments(root: Path, schedule_monitoring: bool = True) -> list[Any]:
    """The three deployments, bound to the project at `root`."""
    config = load(root)
    params = {"root": str(root)}
    retrain = training_flow.to_deployment(
        name="retrain",
        parameters=params,
        entrypoint_type=MODULE_PATH,
        description="Retrain on the source data plus the labelled production rows.",
        concurrency_limit=1,  # one training run at a time works on the checkout
        triggers=[
            DeploymentEventTrigger(
                name="retrain on monitoring request", expect={RETRAIN_EVENT}, match=MODEL_RESOURCE
            )
        ],
    )
    every = timedelta(minutes=config.project.monitoring.window_minutes)
    monitor = monitoring_flow.to_deployment(
        name="scheduled",
        parameters=params,
        entrypoint_type=MODULE_PATH,
        interval=every if schedule_monitoring else None,
        description="Drift and live quality of the latest window of the prediction log.",
    )
    release = release_flow.to_deployment(
        name="on-challenger",
        parameters=params,
        entrypoint_type=MODULE_PATH,
        description="Shadow, then A/B, then promote or reject the new challenger.",
        concurrency_limit=1,
        triggers=[
            DeploymentEventTrigger(
                name="release a new challenger", expect={CHALLENGER_EVENT}, match=MODEL_RESOURCE
            )
        ],
    )
    return [retrain, monitor, release]


def serve_deployments(root: Path, schedule_monitoring: bool = True) -> None:
    """Run the deployments (and their triggers) until interrupted."""
    serve(*build_deployments(root, schedule_monitoring), limit=2, print_starting_message=True)
