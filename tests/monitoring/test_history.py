"""The monitoring history: JSON lines appended under a lock, the latest read back oldest first."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from monitoring.history import append_history, lock_path, read_history
from monitoring.summary import WindowSummary
from tests.monitoring.summaries import golden


def recorded(name: str) -> WindowSummary:
    """A window summary the monitoring code wrote before its typed contract."""
    return WindowSummary.from_json(golden(name))


def test_no_history_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_history(tmp_path / "history.jsonl") == []


def test_appended_summaries_read_back_oldest_first_as_written(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.jsonl"
    names = ["drifted", "drifted_again", "ok", "few"]
    for name in names:
        append_history(path, recorded(name))
    lines = path.read_text().splitlines()
    assert lines == [json.dumps(golden(n), sort_keys=True) for n in names]  # the recorded format
    assert read_history(path) == [recorded(n) for n in names]
    assert read_history(path, limit=2) == [recorded("ok"), recorded("few")]
    assert lock_path(path) == tmp_path / "state" / "history.lock"


def test_concurrent_appends_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    summary = recorded("ok")

    def append_many() -> None:
        for _ in range(20):
            append_history(path, summary)

    threads = [threading.Thread(target=append_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read_history(path, limit=1000) == [summary] * 80
