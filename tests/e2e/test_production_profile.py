"""The production profile, switched on by configuration only.

The same code as the embedded default, pointed by environment variables at
real servers: MLflow tracking and registry served by `mlflow server` on a
PostgreSQL store, and the loop's deployments from prefect.yaml run by a
process worker of a Prefect work pool. (The prediction log on PostgreSQL is
covered by tests/services/test_bento_http.py.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa

from pipelines.config import load
from tests.conftest import BIN, ROOT, background, copy_project, free_port, run, wait_http

pytestmark = pytest.mark.e2e

T = TypeVar("T")
QUIET = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
MODEL = "parcel-delay"
RETRAIN_EVENT = "mlops.retrain.requested"  # flows/monitoring.py
CHALLENGER_EVENT = "mlops.challenger.ready"  # flows/training.py
DEPLOYMENTS = ("training/retrain", "monitoring/scheduled", "release/on-challenger")


def small(params: dict) -> None:
    params["generate"]["rows"] = 20000
    params["train"]["lgbm"]["n_estimators"] = 120
    params["train"]["search"]["max_trials"] = 2


def started(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> Any:
    """A project command in the background (venv first on PATH), output in `log`."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    full_env = {**os.environ, **QUIET, "PATH": path, **env}
    return background(args, log, stop_s=30, cwd=cwd, env=full_env)


def poll(probe: Callable[[], T | None], deadline_s: float, what: str) -> T:
    """The first truthy answer of `probe`, asked every second until the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: no answer within {deadline_s}s")
        time.sleep(1)


def tail(path: Path, chars: int = 4000) -> str:
    return f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}" if path.is_file() else ""


# ------------------------------------------------------------ MLflow on PostgreSQL


def test_training_tracks_and_registers_through_an_mlflow_server_on_postgresql(
    tmp_path: Path, postgres_url: str, prefect_server: str
) -> None:
    root = copy_project(tmp_path / "proj", small)
    artifacts = tmp_path / "artifacts"
    port = free_port()
    tracking = f"http://127.0.0.1:{port}"
    server_log = tmp_path / "mlflow-server.log"
    server_args = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        postgres_url,
        "--artifacts-destination",
        artifacts.as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with started(server_args, tmp_path, {}, server_log) as server:
        wait_http(f"{tracking}/health", 180, server)
        done = run(
            [str(BIN / "mlops"), "--root", str(root), "train"],
            root,
            env={
                **QUIET,
                "PREFECT_API_URL": prefect_server,
                "MLOPS_TRACKING_URI": tracking,
                "BENTOML_HOME": str(root / ".bentoml"),
            },
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:] + tail(server_log)
        assert "registry: version 1 has alias 'champion'" in done.stdout, done.stdout

        # the registry, as any client of the server sees it
        found = httpx.get(
            f"{tracking}/api/2.0/mlflow/registered-models/alias",
            params={"name": MODEL, "alias": "champion"},
            timeout=30,
        )
        assert found.status_code == 200, found.text
        champion = found.json()["model_version"]
        tags = {t["key"]: t["value"] for t in champion.get("tags", [])}
        evaluation = json.loads((root / "metrics" / "evaluation.json").read_text())
        assert champion["version"] == "1"
        assert tags["candidate"] == evaluation["chosen"]
        assert float(tags["threshold"]) == pytest.approx(
            evaluation["candidates"][evaluation["chosen"]]["threshold"]
        )
        assert tags["mlops.fingerprint"]
        parent = httpx.get(
            f"{tracking}/api/2.0/mlflow/runs/get",
            params={"run_id": tags["training_run_id"]},
            timeout=30,
        ).json()["run"]
        run_tags = {t["key"]: t["value"] for t in parent["data"]["tags"]}
        assert run_tags["mlops.role"] == "training"
        assert run_tags["mlops.fingerprint"] == tags["mlops.fingerprint"]
        assert parent["info"]["artifact_uri"].startswith("mlflow-artifacts:")

    # ...stored in PostgreSQL and the artifact store, nothing in the project's local defaults
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            schema = conn.execute(sa.text("select current_schema()")).scalar_one()
            assert schema.startswith("mlops_test_")
            models = conn.execute(sa.text("select name from registered_models")).scalars().all()
            rows = conn.execute(sa.text("select alias, version from registered_model_aliases"))
            aliases: dict[str, int] = {row.alias: row.version for row in rows}
            runs = conn.execute(sa.text("select count(*) from runs")).scalar_one()
    finally:
        engine.dispose()
    assert models == [MODEL]
    assert aliases == {"champion": 1}
    assert runs >= 5  # the training run, its three candidates and the search trials
    assert list(artifacts.rglob("MLmodel")), "the models' artifacts are in the artifact store"
    assert not (root / "mlflow.db").exists()
    assert not (root / "mlartifacts").exists()
    packaged = json.loads((root / "reports" / "package.json").read_text())
    assert packaged["models"]["champion"]["version"] == "1"


# ------------------------------------------------ Prefect work pool and a process worker


class PrefectApi:
    """The few Prefect REST calls the test reads and cleans up with."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/") + "/", timeout=30)

    def deployment(self, name: str) -> dict[str, Any]:
        found = self.http.get(f"deployments/name/{name}")
        found.raise_for_status()
        return dict(found.json())

    def flow_run(self, run_id: str) -> dict[str, Any]:
        found = self.http.get(f"flow_runs/{run_id}")
        found.raise_for_status()
        return dict(found.json())

    def flow_runs(self, deployment_ids: list[str], states: list[str]) -> list[dict[str, Any]]:
        body = {
            "flow_runs": {
                "deployment_id": {"any_": deployment_ids},
                "state": {"type": {"any_": states}},
            }
        }
        found = self.http.post("flow_runs/filter", json=body)
        found.raise_for_status()
        return list(found.json())

    def automations(self) -> list[dict[str, Any]]:
        found = self.http.post("automations/filter", json={})
        found.raise_for_status()
        return list(found.json())

    def logs(self, run_id: str) -> str:
        found = self.http.post("logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}})
        return "\n".join(r["message"] for r in found.json()) if found.is_success else found.text

    def remove(self, names: tuple[str, ...], pool: str) -> None:
        """Delete the pool and the deployments on it (with their runs and automations)."""
        for name in names:
            found = self.http.get(f"deployments/name/{name}")
            if found.is_success and found.json()["work_pool_name"] == pool:
                self.http.delete(f"deployments/{found.json()['id']}")
        self.http.delete(f"work_pools/{pool}")
        self.http.close()


def test_prefect_yaml_deploys_the_loop_to_a_process_pool_that_a_worker_runs(
    tmp_path: Path, prefect_server: str
) -> None:
    root = copy_project(tmp_path / "proj")  # nothing trained, empty prediction log
    shutil.copy2(ROOT / "prefect.yaml", root / "prefect.yaml")
    pool = f"mlops-process-{uuid.uuid4().hex[:8]}"
    env = {
        **QUIET,
        "PREFECT_API_URL": prefect_server,
        "PREFECT_HOME": str(tmp_path / "prefect-client"),
        "PREFECT_WORK_POOL": pool,
        "MLOPS_PREDICTION_LOG_URL": f"sqlite:///{root / 'serving' / 'predictions.db'}",
    }
    prefect = str(BIN / "prefect")
    api = PrefectApi(prefect_server)
    ids: list[str] = []
    try:
        created = run([prefect, "work-pool", "create", pool, "--type", "process"], root, env=env)
        assert created.returncode == 0, created.stdout + created.stderr
        deployed = run([prefect, "--no-prompt", "deploy", "--all"], root, env=env, timeout=300)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        deployments = {name: api.deployment(name) for name in DEPLOYMENTS}
        ids = [d["id"] for d in deployments.values()]

        # what prefect.yaml declares: pool, code location, schedule, triggers
        checkout = str(root.resolve())
        for name, deployment in deployments.items():
            assert deployment["work_pool_name"] == pool, name
            assert deployment["pull_steps"] == [
                {"prefect.deployments.steps.set_working_directory": {"directory": checkout}}
            ], name
        (schedule,) = deployments["monitoring/scheduled"]["schedules"]
        minutes = load(root).project.monitoring.window_minutes
        assert schedule["schedule"]["interval"] == minutes * 60
        expected = {
            deployments["training/retrain"]["id"]: {RETRAIN_EVENT},
            deployments["release/on-challenger"]["id"]: {CHALLENGER_EVENT},
        }
        triggers = {
            action["deployment_id"]: set(automation["trigger"]["expect"])
            for automation in api.automations()
            for action in automation["actions"]
            if action.get("deployment_id") in expected
        }
        assert triggers == expected

        # the interval schedule gets runs from the server's scheduler (sqlalchemy<2.1)
        poll(
            lambda: api.flow_runs([deployments["monitoring/scheduled"]["id"]], ["SCHEDULED"]),
            120,
            "scheduled runs of monitoring/scheduled",
        )

        # a worker of the pool runs a monitoring run in the checkout, started from elsewhere
        worker_log = tmp_path / "worker.log"
        worker_env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "2"}
        worker_args = [prefect, "worker", "start", "--pool", pool]
        with started(worker_args, tmp_path, worker_env, worker_log):
            started_run = run(
                [prefect, "deployment", "run", "monitoring/scheduled"], tmp_path, env=env
            )
            assert started_run.returncode == 0, started_run.stdout + started_run.stderr
            match = re.search(r"UUID: ([0-9a-f-]{36})", started_run.stdout)
            assert match, started_run.stdout
            run_id = match.group(1)
            state = poll(
                lambda: _final_state(api.flow_run(run_id)), 300, f"monitoring run {run_id}"
            )
            assert state == "COMPLETED", api.logs(run_id) + tail(worker_log)
            # no run of ours is left in flight when the worker stops
            poll(
                lambda: not api.flow_runs(ids, ["PENDING", "RUNNING", "CANCELLING"]),
                300,
                "runs in flight",
            )

        windows = (root / "state" / "monitoring" / "windows").glob("*/summary.json")
        summaries = [json.loads(path.read_text()) for path in windows]
        assert summaries, api.logs(run_id) + tail(worker_log)
        assert {(s["status"], s["window"]["rows"]) for s in summaries} == {("stale", 0)}
    finally:
        api.remove(DEPLOYMENTS, pool)


def _final_state(flow_run: dict[str, Any]) -> str | None:
    state = (flow_run.get("state") or {}).get("type")
    return state if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} else None
