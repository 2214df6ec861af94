"""Experiments: a params variation run by `dvc exp run --temp`, tracked in MLflow.

The work tree and params.yaml are left exactly as they were; DVC keeps the
experiment under its own git ref (`dvc exp show`), MLflow keeps its runs
tagged `mlops.experiment` (`mlops experiments`).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, task

from flows import paths
from flows.adapters import dvc, tracking
from pipelines import io
from pipelines.config import ConfigError, Runtime, load
from pipelines.evaluate import Evaluation

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=.+$")


@dataclass(frozen=True)
class ExperimentResult:
    """One finished experiment: its name, DVC commit, MLflow run and evaluation."""

    name: str
    commit: str
    run_id: str
    evaluation: Evaluation


def check_overrides(overrides: list[str], root: Path) -> None:
    """Reject malformed `-S key=value` overrides and keys params.yaml does not have."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for item in overrides:
        if not _OVERRIDE.match(item):
            raise ConfigError(f"-S {item!r}: expected <section>.<key>=<value>")
        node: Any = params
        for part in item.split("=", 1)[0].split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"-S {item!r}: params.yaml has no key {item.split('=')[0]!r}")
            node = node[part]


EVALUATE_STAGE = "evaluate"


@task
def run_dvc_experiment(root: Path, overrides: list[str], name: str) -> str:
    """`dvc exp run --temp` up to evaluate (an experiment is never packaged); its commit."""
    args = ["exp", "run", "--temp", "-n", name]
    for item in overrides:
        args += ["-S", item]
    args.append(EVALUATE_STAGE)
    done = dvc.dvc(*args, root=root)
    if done.returncode != 0:
        raise dvc.StageFailed(f"experiment {name}", done.returncode, done.stdout + done.stderr)
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    matches = [line.split()[0] for line in refs if line.endswith(f"/{name}")]
    if not matches:
        raise RuntimeError(f"experiment {name}: DVC finished but no git ref was found")
    return matches[-1]


@task
def track_experiment(root: Path, commit: str, name: str) -> tuple[str, Evaluation]:
    """Materialise the experiment's files in a scratch worktree and log them to MLflow.

    Returns the MLflow run id and the experiment's evaluation.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-exp-") as tmp:
        work = Path(tmp) / "work"
        git = ["git", "-C", str(root)]
        subprocess.run(
            [*git, "worktree", "add", "--detach", str(work), commit],
            check=True,
            capture_output=True,
        )
        try:
            cache = (root / ".dvc" / "cache").resolve()
            for args in (("config", "--local", "cache.dir", str(cache)), ("checkout", "--quiet")):
                done = dvc.dvc(*args, root=work)
                if done.returncode != 0:
                    raise RuntimeError(f"dvc {args[0]} in experiment worktree: {done.stderr}")
            config, runtime = load(work), Runtime()
            tracking.connect(root, runtime)
            hashes = dvc.locked_hashes(work)
            tags = {
                "mlops.git_commit": commit,
                "mlops.data_hash": hashes.get(str(paths.RAW_DATA), "unknown"),
            }
            tracked = tracking.log_training(
                work, config, tracking.fingerprint(work, hashes), tags, experiment=name
            )
            evaluation = Evaluation.from_json(io.read_json(work / paths.EVALUATION))
            return tracked.parent_run_id, evaluation
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(work)], capture_output=True)


@flow(name="experiment", log_prints=True)
def experiment_flow(root: str, overrides: list[str], name: str) -> ExperimentResult:
    """Run the pipeline with params overrides in a temporary DVC experiment and track it."""
    path = Path(root).resolve()
    check_overrides(overrides, path)
    commit = run_dvc_experiment(path, overrides, name)
    run_id, evaluation = track_experiment(path, commit, name)
    return ExperimentResult(name=name, commit=commit, run_id=run_id, evaluation=evaluation)


@dataclass(frozen=True)
class ExperimentRow:
    """One tracked experiment as `mlops experiments` lists it; fields in column order."""

    name: str | None
    chosen: str | None
    """The candidate the experiment's evaluation chose."""
    holdout_precision_at_recall: float | None
    holdout_recall: float | None
    holdout_roc_auc: float | None
    gate_passed: bool
    run_id: str
    """The MLflow run of the experiment (its training parent run)."""


def list_experiments(root: Path, limit: int = 20) -> list[ExperimentRow]:
    """Most recent tracked experiments with their overrides' effect, newest first."""
    import mlflow

    tracking.connect(root, Runtime())
    runs = mlflow.search_runs(
        filter_string=f"tags.`{tracking.EXPERIMENT_TAG}` != '' and tags.`mlops.role` = 'training'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
        output_format="list",
    )
    return [
        ExperimentRow(
            name=r.data.tags.get(tracking.EXPERIMENT_TAG),
            chosen=r.data.tags.get("mlops.chosen"),
            holdout_precision_at_recall=r.data.metrics.get("holdout_precision_at_recall"),
            holdout_recall=r.data.metrics.get("holdout_recall"),
            holdout_roc_auc=r.data.metrics.get("holdout_roc_auc"),
            gate_passed=bool(r.data.metrics.get("gate_passed", 0.0)),
            run_id=r.info.run_id,
        )
        for r in runs
    ]
