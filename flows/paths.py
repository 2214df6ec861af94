"""Every file the flows and adapters read or write, relative to the project root.

What the data stages write is declared in dvc.yaml, DVC's one home for paths:
the names here follow it, and tests/flows/test_paths.py fails when they drift
apart. The loop's run-time state (git-ignored) lives under `state/`. Plain
paths and no tool imports: the CLI's quick commands read them without
loading Prefect.
"""

from __future__ import annotations

from pathlib import Path

from services.pins import PACKAGE_REPORT, PINS_FILE

RAW_DATA = Path("data") / "raw" / "deliveries.parquet"
"""The ingest stage's output; its DVC hash identifies the training data."""
SPLIT_DIR = Path("data") / "split"
TRAIN_SPLIT = SPLIT_DIR / "train.parquet"
VALID_SPLIT = SPLIT_DIR / "valid.parquet"
HOLDOUT_SPLIT = SPLIT_DIR / "holdout.parquet"
"""The gold holdout: the latest slice of time, where the gates are judged."""
MODELS_DIR = Path("models")
"""One `<candidate>.joblib` per candidate (train stage)."""
TRIALS = Path("reports") / "trials.csv"
EVALUATION = Path("metrics") / "evaluation.json"
"""The evaluate stage's metrics: candidates, slices, gate (pipelines.evaluate.Evaluation)."""
PLOTS_DIR = Path("plots")
FIGURES_DIR = Path("reports") / "figures"
INGEST_REPORT = Path("reports") / "ingest.json"
VALIDATION_REPORT = Path("reports") / "validation.json"
REGISTRY_REPORT = Path("reports") / "registry.json"
"""Which versions the registry aliases name: written by the flows, the package stage's input."""
PACKAGE = PACKAGE_REPORT
"""The package stage's report: the Bento and the model tags pinned in it."""
PINS = PINS_FILE
"""Written into the Bento's build context: the exact model tags it serves."""

STATE_DIR = Path("state")
"""Run-time state of the loop (git-ignored): monitoring windows, exported metrics, releases."""
MONITORING_DIR = STATE_DIR / "monitoring"
WINDOWS_DIR = MONITORING_DIR / "windows"
"""One folder per monitoring run: summary.json and drift.html."""
HISTORY_FILE = MONITORING_DIR / "history.jsonl"
REFERENCES_DIR = MONITORING_DIR / "references"
"""Drift references cached per model version."""
METRICS_DIR = STATE_DIR / "metrics"
"""The flows' Prometheus files, read by `mlops exporter`."""
RELEASE_STATE_FILE = STATE_DIR / "release" / "state.json"
"""Where the release flow is and why; rewritten atomically at every step."""
DEMO_LOGS = STATE_DIR / "demo"
"""Logs of the servers `mlops demo` starts."""
