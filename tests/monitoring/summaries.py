"""Window summaries for the tests: the contract's example, and the recorded ones (golden/)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from monitoring.summary import WindowSummary
from tests.conftest import ROOT

CONTRACT = ROOT / "docs" / "monitoring-contract.md"


def contract_example() -> dict[str, Any]:
    """The window summary example of the contract."""
    text = CONTRACT.read_text()
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def full_summary_json(stale: bool = False, **changes: Any) -> dict[str, Any]:
    """The contract example with a challenger, more features and a retraining request."""
    summary = copy.deepcopy(contract_example())
    summary["drift"]["features"].update(
        {
            "precip_mm": {
                "method": "Wasserstein distance (normed)",
                "score": 0.31,
                "threshold": 0.1,
                "drifted": True,
            },
            "depot": {
                "method": "Jensen-Shannon distance",
                "score": 0.02,
                "threshold": 0.1,
                "drifted": False,
            },
        }
    )
    summary["variants"]["challenger"] = {
        **summary["variants"]["champion"],
        "model_version": "4",
        "labelled": 40,
        "recall": 0.78,
        "calibration": [
            {"bin": "0.0-0.1", "mean_predicted": 0.06, "observed_rate": 0.05, "rows": 30},
            {"bin": "0.9-1.0", "mean_predicted": 0.93, "observed_rate": None, "rows": 0},
        ],
    }
    summary["retrain"] = {"fire": True, "reason": "2 drifted windows of 2 needed"}
    if stale:
        summary.update(status="stale", problems=["only 12 predictions, 200 needed"])
        for key in ("drift", "prediction_drift", "segment_drift", "variants"):
            summary.pop(key)
        summary["retrain"] = {"fire": False, "reason": "stale window"}
    summary.update(changes)
    return summary


def full_summary(stale: bool = False, **changes: Any) -> WindowSummary:
    """`full_summary_json` as the typed summary."""
    return WindowSummary.from_json(full_summary_json(stale, **changes))


def parse(text: str) -> dict[str, list[Any]]:
    """Metric family name -> samples (prometheus_client's own parser)."""
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Any], **labels: str) -> float:
    [found] = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return found


GOLDEN = Path(__file__).parent / "golden"
"""Window summaries as the monitoring flow wrote them before its logic moved to `monitoring`
and its summary was typed: `drifted` (the rows of `drifted_again`), then the windows of
test_scoring.WINDOWS in that order, each appended to the history (run ids, finish time fixed)."""


def golden(name: str) -> dict[str, Any]:
    """A recorded window summary: `ok`, `drifted`, `drifted_again`, `few`, `empty`, ..."""
    return json.loads((GOLDEN / f"{name}.json").read_text())


def canonical(value: Any) -> str:
    """`value` as JSON in its own key order, floats to 9 significant digits (platform noise)."""

    def rounded(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: rounded(v) for key, v in item.items()}
        if isinstance(item, list):
            return [rounded(v) for v in item]
        if isinstance(item, float):
            return float(f"{item:.9g}")
        return item

    return json.dumps(rounded(value), indent=1)
