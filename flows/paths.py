"""Where the flows keep their state under the project root, in one place.

Plain paths, no tool imports: the CLI's quick commands (`mlops release status`,
`mlops exporter`) read them without loading Prefect.
"""

from __future__ import annotations

from pathlib import Path

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
