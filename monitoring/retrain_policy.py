"""When monitoring asks for a new model: persistent data drift, or a live metric under its floor.

`decide` is pure: window summaries in, a verdict out. The rules:

- **Drift**: fire when the latest `retrain.drift_windows` scored windows of the
  serving model version, the latest one included, all had dataset drift. Stale
  windows are skipped: they neither count nor break the streak, because they carry
  no evidence either way (a quiet night or a log outage says nothing about the
  inputs). A scored window without dataset drift breaks it, and so does a window of
  another model version: each version's drift is measured against its own training
  data, so an older model's drift says nothing about the new one.
- **Live quality**: fire when the champion's live recall or precision in the latest
  window, over at least `retrain.min_labelled` labelled rows, is under its
  acceptance floor (`acceptance.min_recall`, `acceptance.min_precision`): every
  acceptance criterion that labels can measure is watched in production.
- A stale latest window never fires: there is no new evidence, and the window
  that completed a streak already asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitoring.summary import RetrainVerdict, WindowSummary
from pipelines.config import Acceptance, Monitoring


def drift_streak(history: Sequence[WindowSummary], latest: WindowSummary, needed: int) -> int:
    """Consecutive scored windows of the latest's model version with dataset drift (<= needed).

    Args:
        history: Earlier window summaries, oldest first (the latest may be last).
        latest: The summary being decided on.
        needed: Stop counting at this many.

    Returns:
        The streak length ending at `latest`, stale windows skipped.
    """
    earlier = list(history)
    if earlier and earlier[-1].run_id == latest.run_id:
        earlier.pop()  # the caller already appended the latest
    streak = 0
    for window in reversed([*earlier, latest]):
        if window.model_version != latest.model_version:
            break
        if window is not latest and window.retrain.fire:
            break  # retraining was asked for then: count only the windows since
        if not window.is_scored:
            continue
        if window.drift is None or not window.drift.dataset_drift:
            break
        streak += 1
        if streak >= needed:
            break
    return streak


def _floor_rule(
    latest: WindowSummary, metric: str, min_labelled: int, floor: float
) -> tuple[bool, str]:
    """Whether the champion's live `metric` (recall or precision) fires, and its figures."""
    champion = (latest.variants or {}).get("champion")
    labelled = champion.labelled if champion is not None else 0
    value: float | None = getattr(champion, metric) if champion is not None else None
    if value is None:
        if labelled < min_labelled:
            return False, f"live {metric} not judged: {labelled} labelled rows of {min_labelled}"
        return False, f"live {metric} unknown ({labelled} labelled rows)"
    if labelled < min_labelled:
        return False, (
            f"live {metric} {value:.3f} not judged: {labelled} labelled rows of {min_labelled}"
        )
    if value < floor:
        return True, f"live {metric} {value:.3f} < {floor:.3f} on {labelled} labelled rows"
    return False, f"live {metric} {value:.3f} >= {floor:.3f} on {labelled} labelled rows"


def decide(
    history: Sequence[WindowSummary],
    latest: WindowSummary,
    monitoring_cfg: Monitoring,
    acceptance: Acceptance,
) -> RetrainVerdict:
    """Whether the latest window asks for retraining, and why.

    Args:
        history: Earlier window summaries (docs/monitoring-contract.md), oldest first.
        latest: The latest window's summary (its `retrain` entry is not read).
        monitoring_cfg: project.yaml `monitoring` (`retrain.drift_windows`, `min_labelled`).
        acceptance: project.yaml `acceptance`: `min_recall` and `min_precision` are the
            live floors.

    Returns:
        The verdict; its reason gives every rule's figures.
    """
    if not latest.is_scored:
        return RetrainVerdict.not_scored(latest.problems, latest.status)
    needed = monitoring_cfg.retrain.drift_windows
    streak = drift_streak(history, latest, needed)
    drift_fires = streak >= needed
    if drift_fires:
        drift_reason = f"dataset drift in {streak} consecutive windows ({needed} needed)"
    else:
        drift_reason = f"{streak} drifted window{'s' if streak != 1 else ''} of {needed} needed"
    labelled = monitoring_cfg.retrain.min_labelled
    floors = {"recall": acceptance.min_recall, "precision": acceptance.min_precision}
    rules = [_floor_rule(latest, metric, labelled, floor) for metric, floor in floors.items()]
    quality_reason = "; ".join(reason for _, reason in rules)
    fire = drift_fires or any(fires for fires, _ in rules)
    pending = _pending_request(history, latest)
    if fire and pending is not None:
        return RetrainVerdict(
            False,
            f"retraining already asked for in window {pending} for model version "
            f"{latest.model_version}; {drift_reason}; {quality_reason}",
        )
    return RetrainVerdict(fire, f"{drift_reason}; {quality_reason}")


def _pending_request(history: Sequence[WindowSummary], latest: WindowSummary) -> str | None:
    """The run id of an earlier window of the same model that already asked for retraining.

    One request per served model: until a new model serves, asking again would only
    start a second training run on the same data.
    """
    for window in reversed(list(history)):
        if window.run_id == latest.run_id:
            continue
        if window.model_version != latest.model_version:
            return None
        if window.retrain.fire:
            return window.run_id
    return None
