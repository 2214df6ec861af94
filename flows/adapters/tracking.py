"""MLflow tracking adapter: log a training run's candidates and trials, find what was logged.

Registry operations (versions, aliases) are `flows.adapters.registry`.
mlflow is imported inside each function: it takes seconds to import and the
CLI must stay fast.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from flows import paths
from pipelines import io
from pipelines.config import Config, Runtime
from pipelines.evaluate import CandidateReport, Evaluation
from pipelines.model import DelayModel
from services.registry_models import download_model
from services.registry_state import FINGERPRINT_TAG

REFERENCE_DIR, REFERENCE_FILE = "reference", "reference.parquet"
EXPERIMENT_TAG = "mlops.experiment"
PIP_REQUIREMENTS = [f"{p}=={version(p)}" for p in ("scikit-learn", "lightgbm", "pandas", "numpy")]


@dataclass(frozen=True)
class TrackedTraining:
    """MLflow ids of one training run: the parent, each candidate, the chosen model's URI."""

    parent_run_id: str
    candidate_run_ids: dict[str, str]
    chosen_model_uri: str
    reused: bool
    """True when these exact results were already tracked (nothing new was logged)."""


def connect(root: Path, runtime: Runtime) -> str:
    """Point MLflow at the profile's store and experiment; return the tracking URI."""
    import mlflow

    uri = runtime.resolved_tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(runtime.experiment_name) is None:
        # a tracking server picks the artifact root; a database URI needs one given
        remote = uri.startswith(("http://", "https://", "databricks"))
        location = None if remote else (root / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(runtime.experiment_name, artifact_location=location)
    mlflow.set_experiment(runtime.experiment_name)
    return uri


def fingerprint(root: Path, hashes: dict[str, str]) -> str:
    """Identity of a training result: the models' and metrics' content hashes."""
    metrics = (root / paths.EVALUATION).read_bytes()
    payload = json.dumps(
        {
            "models": hashes.get(str(paths.MODELS_DIR), ""),
            "data": hashes.get(str(paths.SPLIT_DIR), ""),
        }
    )
    return hashlib.sha256(payload.encode() + metrics).hexdigest()[:16]


def git_commit(root: Path) -> str:
    """HEAD's commit, with '+dirty' when the work tree has changes; 'none' outside git."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    if head.returncode != 0:
        return "none"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=root,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def find_tracked(fp: str) -> TrackedTraining | None:
    """The training run already logged with this fingerprint, if any."""
    import mlflow

    runs = mlflow.search_runs(
        filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fp}' and tags.`mlops.role` = 'training'",
        output_format="list",
    )
    if not runs:
        return None
    parent = runs[0]
    return TrackedTraining(
        parent_run_id=parent.info.run_id,
        candidate_run_ids=json.loads(parent.data.tags.get("mlops.candidates", "{}")),
        chosen_model_uri=parent.data.tags["mlops.chosen_model_uri"],
        reused=True,
    )


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items() if isinstance(v, int | float)}


def _log_candidate(
    name: str,
    model: DelayModel,
    report: CandidateReport,
    example: pd.DataFrame,
    path: Path,
    tags: dict[str, str],
    reference: pd.DataFrame | None = None,
) -> tuple[str, str]:
    import mlflow
    from mlflow.models import infer_signature

    from flows.adapters.mlflow_model import ARTIFACT_KEY, DelayModelPyfunc

    with mlflow.start_run(
        run_name=name,
        nested=True,
        tags={**tags, "mlops.role": "candidate", "mlops.candidate": name},
    ) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in model.params.items()})
        mlflow.log_metrics(
            {
                "threshold": report.threshold,
                **_flat("valid_", asdict(report.valid)),
                **_flat("holdout_", asdict(report.holdout)),
            }
        )
        mlflow.log_dict(report.to_json(), "evaluation.json")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=DelayModelPyfunc(),
            artifacts={ARTIFACT_KEY: str(path)},
            signature=infer_signature(example, model.predict_proba(example)),
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
        )
        if reference is not None:
            with tempfile.TemporaryDirectory() as tmp:
                io.write_parquet(Path(tmp) / REFERENCE_FILE, reference)
                mlflow.log_artifact(str(Path(tmp) / REFERENCE_FILE), REFERENCE_DIR)
        return run.info.run_id, info.model_uri


def reference_sample(root: Path, config: Config, model: DelayModel) -> pd.DataFrame:
    """The drift reference kept with a model: a sample of its training rows and their scores."""
    train = pd.read_parquet(root / paths.TRAIN_SPLIT)
    rows = min(len(train), config.project.monitoring.reference_rows)
    sample = train.sample(n=rows, random_state=config.params.train.seed).sort_index()
    return sample.assign(delay_probability=model.predict_proba(sample))


def log_training(
    root: Path, config: Config, fp: str, tags: dict[str, str], experiment: str | None = None
) -> TrackedTraining:
    """Log the evaluate stage's results: a parent run, one nested run per candidate and trial."""
    import mlflow

    evaluation = Evaluation.from_json(io.read_json(root / paths.EVALUATION))
    holdout = pd.read_parquet(root / paths.HOLDOUT_SPLIT)
    tags = {**tags, FINGERPRINT_TAG: fp, **({EXPERIMENT_TAG: experiment} if experiment else {})}
    with mlflow.start_run(
        run_name=experiment or "training", tags={**tags, "mlops.role": "training"}
    ) as parent:
        _log_summary(root, config, evaluation)
        runs, uris = _log_candidates(root, config, evaluation, holdout, tags)
        _log_trials(root / paths.TRIALS, tags)
        mlflow.set_tags(
            {
                "mlops.candidates": json.dumps(runs),
                "mlops.chosen_model_uri": uris[evaluation.chosen],
                "mlops.chosen": evaluation.chosen,
            }
        )
    return TrackedTraining(parent.info.run_id, runs, uris[evaluation.chosen], reused=False)


def _log_summary(root: Path, config: Config, evaluation: Evaluation) -> None:
    """The parent run's params, evaluation, figures and plots, and the chosen one's metrics."""
    import mlflow

    mlflow.log_params(
        {
            f"{section}.{k}": str(v)[:500]
            for section in ("train", "evaluate")
            for k, v in getattr(config.params, section).model_dump().items()
        }
    )
    mlflow.log_dict(evaluation.to_json(), "evaluation.json")
    for folder in (paths.FIGURES_DIR, paths.PLOTS_DIR):
        if (root / folder).is_dir():
            mlflow.log_artifacts(str(root / folder), folder.name)
    report = evaluation.chosen_report
    mlflow.log_metrics(
        {
            "threshold": report.threshold,
            **_flat("holdout_", asdict(report.holdout)),
            "gate_passed": float(evaluation.verdict.passed),
        }
    )
    if evaluation.oracle_roc_auc is not None:
        mlflow.log_metric("oracle_roc_auc", evaluation.oracle_roc_auc)


def _log_candidates(
    root: Path,
    config: Config,
    evaluation: Evaluation,
    holdout: pd.DataFrame,
    tags: dict[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """One nested run with its logged model per candidate: (run ids, model URIs) by name."""
    runs, uris = {}, {}
    for name, report in evaluation.candidates.items():
        path = root / paths.MODELS_DIR / f"{name}.joblib"
        model = io.read_joblib(path)
        example = (
            holdout[model.feature_names]
            .head(3)
            .astype(dict.fromkeys(model.encoder.categorical, str))
        )
        reference = reference_sample(root, config, model) if name == evaluation.chosen else None
        runs[name], uris[name] = _log_candidate(name, model, report, example, path, tags, reference)
    return runs, uris


def _log_trials(trials: Path, tags: dict[str, str]) -> None:
    """One nested run per trial of the search (reports/trials.csv), when it ran."""
    import mlflow

    if not trials.is_file():
        return
    for row in pd.read_csv(trials).to_dict("records"):
        with mlflow.start_run(
            run_name=f"trial-{row['trial']}",
            nested=True,
            tags={**tags, "mlops.role": "trial"},
        ):
            mlflow.log_params({k: v for k, v in row.items() if not k.startswith("valid_")})
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k.startswith("valid_")})


class ReferenceNotFound(LookupError):
    """A model version has no drift reference in the registry."""


def load_reference(model_name: str, version_number: str) -> pd.DataFrame:
    """The training rows (and scores) a registry version was trained on: its drift reference."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        run_id = MlflowClient().get_model_version(model_name, version_number).run_id
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=f"{REFERENCE_DIR}/{REFERENCE_FILE}", dst_path=tmp
            )
            return pd.read_parquet(local)
    except (MlflowException, OSError) as exc:
        raise ReferenceNotFound(
            f"{model_name} v{version_number}: no drift reference ({REFERENCE_DIR}/"
            f"{REFERENCE_FILE}) in its training run: retrain it with this version of the "
            f"project ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def load_version(model_name: str, version_number: str) -> DelayModel:
    """The DelayModel of a registry version (only ever our own registry's artifacts)."""
    return download_model(model_name, version_number)
