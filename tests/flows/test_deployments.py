"""The deployments `mlops orchestrate` serves load their flows by module path."""

from flows.deployments import build_deployments
from tests.conftest import ROOT


def test_deployments_import_their_flows_by_module_not_by_file() -> None:
    """A file entrypoint puts flows/ first on sys.path: flows/monitoring.py would shadow
    the `monitoring` package in every run the orchestrator starts."""
    entrypoints = {d.name: d.entrypoint for d in build_deployments(ROOT)}
    assert entrypoints == {
        "retrain": "flows.training.training_flow",
        "scheduled": "flows.monitoring.monitoring_flow",
        "on-challenger": "flows.release.release_flow",
    }
