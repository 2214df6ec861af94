"""The closed loop from a fresh checkout: `mlops demo` at a small scale, for real.

Prefect server (the session's), the deployments' automations as triggers, the
Bento service, the prediction log, Evidently drift, retraining on labelled
production rows, and the release flow's shadow -> A/B -> decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.e2e


def small(params: dict) -> None:
    params["generate"]["rows"] = 20000
    params["train"]["lgbm"]["n_estimators"] = 120
    params["train"]["search"]["max_trials"] = 2


def quick_release(root: Path) -> None:
    project = yaml.safe_load((root / "project.yaml").read_text())
    project["monitoring"].update(min_rows=500)
    project["monitoring"]["retrain"].update(drift_windows=1)
    project["release"].update(shadow_requests=80, min_labelled_per_variant=60)
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))


def test_drift_starts_retraining_and_the_challenger_is_released(
    tmp_path: Path, prefect_server: str
) -> None:
    root = copy_project(tmp_path / "proj", small)
    quick_release(root)
    env = {
        "PREFECT_API_URL": prefect_server,
        "BENTOML_HOME": str(root / ".bentoml"),
        "MLOPS_PREDICTION_LOG_URL": f"sqlite:///{root / 'serving' / 'predictions.db'}",
    }
    done = run(
        [str(BIN / "mlops"), "--root", str(root), "demo", "--rate", "40", "--phase", "15"],
        root,
        env=env,
        timeout=1200,
    )
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text()[-3000:]}" for p in (root / "state" / "demo").glob("*.log")
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:] + logs
    out = done.stdout
    for step in ("train", "serve", "orchestrate", "traffic", "monitor", "retrain", "release"):
        assert f" {step} " in out or f"] {step}" in out, f"no {step} step:\n{out[-4000:]}"
    assert "RETRAIN" in out
    assert "event -> automation -> flow run" in out
    state = json.loads((root / "state" / "release" / "state.json").read_text())
    assert state["stage"] in {"promoted", "rejected"}, state
    assert state["reason"]
    history = [
        json.loads(line) for line in (root / "state" / "monitoring" / "history.jsonl").open()
    ]
    assert any(h.get("drift", {}).get("dataset_drift") for h in history)
    assert (root / "data" / "source" / "labelled" / "production.parquet").is_file()
    assert (root / "serving" / "predictions.db").stat().st_size > 0
