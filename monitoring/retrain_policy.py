"""When monitoring asks for a new model: persistent data drift, or live recall under the floor.

`decide` is pure: window summaries in, a verdict out. The rules:

- **Drift**: fire when the latest `retrain.drift_windows` scored windows of the
  serving model version, the latest one included, all had dataset drift. Stale
  windows are skipped: they neither count nor break the streak, because they carry
  no evidence either way (a quiet night or a log outage says nothing about the
  inputs). A scored window without dataset drift breaks it, and so does a window of
  another model version: each version's drift is measured against its own training
  data, so an older model's drift says nothing about the new one.
- **Recall**: fire when the champion's live recall in the latest window, over at
  least `retrain.min_labelled` labelled rows, is under `acceptance.min_recall`.
- A stale latest window never fires: there is no new evidence, and the window
  that completed a streak already asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipelines.config import Monitoring


def _is_scored(window: dict[str, Any]) -> bool:
    return window.get("status") == "ok"


def drift_streak(history: Sequence[dict[str, Any]], latest: dict[str, Any], needed: int) -> int:
    """Consecutive scored windows of the latest's model version with dataset drift (<= needed).

    Args:
        history: Earlier window summaries, oldest first (the latest may be last).
        latest: The summary being decided on.
        needed: Stop counting at this many.

    Returns:
        The streak length ending at `latest`, stale windows skipped.
    """
    earlier = list(history)
    run_id = latest.get("run_id")
    if earlier and run_id is not None and earlier[-1].get("run_id") == run_id:
        earlier.pop()  # the caller already appended the latest
    streak = 0
    for window in reversed([*earlier, latest]):
        if window.get("model_version") != latest.get("model_version"):
            break
        if window is not latest and (window.get("retrain") or {}).get("fire"):
            break  # retraining was asked for then: count only the windows since
        if not _is_scored(window):
            continue
        if not (window.get("drift") or {}).get("dataset_drift"):
            break
        streak += 1
        if streak >= needed:
            break
    return streak


def decide(
    history: Sequence[dict[str, Any]],
    latest: dict[str, Any],
    monitoring_cfg: Monitoring,
    min_recall: float,
) -> dict[str, Any]:
    """Whether the latest window asks for retraining, and why.

    Args:
        history: Earlier window summaries (docs/monitoring-contract.md), oldest first.
        latest: The latest window's summary (its `retrain` entry is not read).
        monitoring_cfg: project.yaml `monitoring` (`retrain.drift_windows`, `min_labelled`).
        min_recall: project.yaml `acceptance.min_recall`, the live recall floor.

    Returns:
        `{"fire": bool, "reason": str}`; the reason gives both rules' figures.
    """
    if not _is_scored(latest):
        problems = "; ".join(latest.get("problems") or []) or "status " + str(latest.get("status"))
        return {"fire": False, "reason": f"window not scored: {problems}"}
    needed = monitoring_cfg.retrain.drift_windows
    min_labelled = monitoring_cfg.retrain.min_labelled
    streak = drift_streak(history, latest, needed)
    drift_fires = streak >= needed
    if drift_fires:
        drift_reason = f"dataset drift in {streak} consecutive windows ({needed} needed)"
    else:
        drift_reason = f"{streak} drifted window{'s' if streak != 1 else ''} of {needed} needed"

    champion = (latest.get("variants") or {}).get("champion") or {}
    labelled = int(champion.get("labelled") or 0)
    recall = champion.get("recall")
    recall_fires = False
    if recall is None:
        recall_reason = f"live recall unknown ({labelled} labelled rows, no delayed one)"
        if labelled < min_labelled:
            recall_reason = f"live recall not judged: {labelled} labelled rows of {min_labelled}"
    elif labelled < min_labelled:
        recall_reason = (
            f"live recall {recall:.3f} not judged: {labelled} labelled rows of {min_labelled}"
        )
    elif recall < min_recall:
        recall_fires = True
        recall_reason = f"live recall {recall:.3f} < {min_recall:.3f} on {labelled} labelled rows"
    else:
        recall_reason = f"live recall {recall:.3f} >= {min_recall:.3f} on {labelled} labelled rows"
    fire = drift_fires or recall_fires
    pending = _pending_request(history, latest)
    if fire and pending is not None:
        return {
            "fire": False,
            "reason": f"retraining already asked for in window {pending} for model version "
            f"{latest.get('model_version')}; {drift_reason}; {recall_reason}",
        }
    return {"fire": fire, "reason": f"{drift_reason}; {recall_reason}"}


def _pending_request(history: Sequence[dict[str, Any]], latest: dict[str, Any]) -> str | None:
    """The run id of an earlier window of the same model that already asked for retraining.

    One request per served model: until a new model serves, asking again would only
    start a second training run on the same data.
    """
    for window in reversed(list(history)):
        if window.get("run_id") == latest.get("run_id"):
            continue
        if window.get("model_version") != latest.get("model_version"):
            return None
        if (window.get("retrain") or {}).get("fire"):
            return str(window.get("run_id"))
    return None
