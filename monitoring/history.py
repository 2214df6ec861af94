"""The monitoring history: every window summary, one JSON line each, oldest first.

The retraining policy reads the latest ones; each monitoring run appends its own.
Runs may overlap (a scheduled one and one started by hand), so appends take turns
under a lock file beside the history (`filelock`: flock(2) on POSIX, the same on
Windows). A line is appended, not the file rewritten: rewriting it atomically at
each window would cost the whole history every time.
"""

from __future__ import annotations

import json
from pathlib import Path

from filelock import FileLock

from monitoring.summary import WindowSummary

DEFAULT_LIMIT = 50
"""Summaries `read_history` returns by default: far more than the policy looks back."""


def lock_path(path: Path) -> Path:
    """The lock file of the history at `path` (`history.lock` beside `history.jsonl`)."""
    return path.with_suffix(".lock")


def read_history(path: Path, limit: int = DEFAULT_LIMIT) -> list[WindowSummary]:
    """The latest `limit` window summaries of the history file, oldest first ([] without one)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()[-limit:]
    return [WindowSummary.from_json(json.loads(line)) for line in lines if line.strip()]


def append_history(path: Path, summary: WindowSummary) -> None:
    """Add a window summary to the history file; concurrent runs take turns (file lock)."""
    line = json.dumps(summary.to_json(), sort_keys=True, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(path)), path.open("a") as handle:
        handle.write(line + "\n")
