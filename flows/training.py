"""Prefect training flow: DVC stages as tasks -> MLflow tracking -> gated registry alias.

The flow never re-implements a stage: it runs `dvc repro` per stage, so DVC's
cache decides what reruns and the files are the same as a plain `dvc repro`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task

from flows import paths
from flows.adapters import dvc, registry, tracking
from pipelines import io, sql
from pipelines.config import Config, Runtime, load
from pipelines.evaluate import Evaluation, champion_gate, choose_alias
from pipelines.ingest import IngestReport
from pipelines.model import DelayModel
from pipelines.validate import ValidationReport
from services.registry_state import RegistryState


@dataclass(frozen=True)
class Decision:
    """What the registry step did with the chosen candidate, and why."""

    candidate: str
    alias: str | None
    version: str | None
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrainingOutcome:
    """The flow's return value: enough to print a summary and to act on."""

    stages: list[dvc.StageRun]
    evaluation: Evaluation
    """metrics/evaluation.json: every candidate, the chosen one and its gate."""
    ingest: IngestReport
    validation: ValidationReport
    decision: Decision | None
    """What the registry step did; None when the flow ran without registering."""
    run_id: str | None
    data_pushed: str | None = None
    """DVC's word on pushing the outputs to the remote; None when no stage ran."""
    packaged: bool | None = None
    """Whether the package stage ran; False when no version is champion yet (nothing to
    serve), None when the flow ran without registering."""


def _retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    error = state.result(raise_on_failure=False)
    return not (isinstance(error, dvc.StageFailed) and error.bad_input)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_unless_bad_input)
def run_stage(stage: str, root: Path) -> dvc.StageRun:
    """One DVC stage; transient failures are retried, rejected input is not."""
    return dvc.repro(stage, root)


def _retry_unless_bad_source(task: Any, task_run: Any, state: Any) -> bool:
    error = state.result(raise_on_failure=False)
    return getattr(error, "exit_code", 1) != dvc.BAD_INPUT_EXIT  # a down database: retry


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_unless_bad_source)
def record_source_state(root: Path, config: Config) -> dict[str, Any] | None:
    """A SQL source's state (rows, max of its freshness key), which the ingest stage depends on.

    DVC cannot see a database change; this small file can (see `pipelines.sql`).
    Nothing is written for other sources.
    """
    return sql.write_freshness(config.params.data, root)


@task(retries=2, retry_delay_seconds=5)
def pull_data(root: Path, runtime: Runtime) -> str:
    """Fetch outputs and run cache from the configured remote, so a fresh checkout skips work."""
    return dvc.pull(root, runtime.dvc_remote)


@task(retries=2, retry_delay_seconds=5)
def push_data(root: Path, runtime: Runtime) -> str:
    """Copy the stages' new outputs and run cache to the DVC remote."""
    return dvc.push(root, runtime.dvc_remote)


@task
def track(
    root: Path, config: Config, runtime: Runtime, experiment: str | None
) -> tracking.TrackedTraining:
    """Log this result to MLflow, unless the very same result is already there."""
    tracking.connect(root, runtime)
    hashes = dvc.locked_hashes(root)
    fp = tracking.fingerprint(root, hashes)
    existing = tracking.find_tracked(fp)
    if existing is not None and experiment is None:
        return existing
    tags = {
        "mlops.git_commit": tracking.git_commit(root),
        "mlops.data_hash": hashes.get(str(paths.RAW_DATA), "unknown"),
        "mlops.split_hash": hashes.get(str(paths.SPLIT_DIR), "unknown"),
    }
    return tracking.log_training(root, config, fp, tags, experiment)


def champion_model(model_name: str) -> DelayModel | None:
    """The model the registry's champion alias names, None when no version has it yet."""
    current = registry.alias_version(model_name, "champion")
    return None if current is None else tracking.load_version(model_name, current.version)


@task
def register(
    root: Path, config: Config, runtime: Runtime, tracked: tracking.TrackedTraining
) -> Decision:
    """Register the chosen candidate under the alias its gates earn, or say why not."""
    evaluation = Evaluation.from_json(io.read_json(root / paths.EVALUATION))
    chosen, candidate = evaluation.chosen, evaluation.chosen_report
    fp = tracking.fingerprint(root, dvc.locked_hashes(root))
    for existing in ("champion", "challenger"):
        current = registry.alias_version(runtime.model_name, existing)
        if current is not None and current.tags.get(tracking.FINGERPRINT_TAG) == fp:
            return Decision(chosen, existing, current.version, [ALREADY])
    gate_verdict = evaluation.verdict
    if not gate_verdict.passed:
        return Decision(chosen, None, None, gate_verdict.failures)
    champion = champion_model(runtime.model_name)
    champion_verdict = champion_gate(
        candidate,
        champion,
        pd.read_parquet(root / paths.HOLDOUT_SPLIT),
        config.project.framing.target,
        config.params.evaluate,
        config.project.acceptance,
    )
    alias = choose_alias(gate_verdict, champion_verdict, champion is not None)
    if alias is None:
        return Decision(chosen, None, None, champion_verdict.failures)
    tags = {
        tracking.FINGERPRINT_TAG: fp,
        "candidate": chosen,
        "threshold": repr(candidate.threshold),
        "holdout_precision_at_recall": repr(candidate.holdout.precision_at_recall),
        "holdout_recall": repr(candidate.holdout.recall),
        "training_run_id": tracked.parent_run_id,
    }
    version = registry.register(tracked.chosen_model_uri, runtime.model_name, tags)
    registry.set_alias(runtime.model_name, alias, version)
    reasons = [c.detail for c in gate_verdict.checks + champion_verdict.checks]
    return Decision(chosen, alias, version, reasons)


PACKAGE_STAGE = "package"
CHALLENGER_EVENT = "mlops.challenger.ready"
ALREADY = "already registered: nothing changed"


@task
def record_registry(root: Path, runtime: Runtime) -> RegistryState:
    """Write which versions the aliases name (the package stage's DVC dependency)."""
    state = registry.snapshot(runtime.model_name)
    io.write_json(root / paths.REGISTRY_REPORT, state.to_json())
    return state


def announce_challenger(root: Path, decision: Decision, model_name: str) -> None:
    """Emit the event the release deployment's trigger listens for: a challenger is packaged."""
    from prefect.events import emit_event

    packaged = io.read_json(root / paths.PACKAGE)
    emit_event(
        event=CHALLENGER_EVENT,
        resource={"prefect.resource.id": f"mlops.model.{model_name}", "mlops.model": model_name},
        payload={
            "version": decision.version,
            "tag": packaged["models"]["challenger"]["tag"],
            "bento": packaged["bento"],
        },
    )


@flow(name="training", log_prints=True)
def training_flow(root: str = ".", register_model: bool = True) -> TrainingOutcome:
    """Reproduce the DVC pipeline, track the result, register it if its gates pass.

    A batch that fails validation stops the flow with the validation report;
    registered models are never touched then. New outputs are pushed to the
    DVC remote at the end (`MLOPS_DVC_REMOTE`, else .dvc/config's default).
    """
    path = Path(root).resolve()
    config, runtime = load(path), Runtime()
    stages = dvc.stage_names(path)
    if runtime.dvc_remote:  # a worker's fresh checkout: what was pushed need not be rerun
        dvc.require_plugin(runtime.dvc_remote)  # before any task: retrying cannot install it
        pull_data(path, runtime)
    record_source_state(path, config)  # before ingest: a changed database reruns it
    runs = [run_stage(stage, path) for stage in stages if stage != PACKAGE_STAGE]
    tracked = track(path, config, runtime, None)
    decision = None
    packaged = None
    if register_model:
        decision = register(path, config, runtime, tracked)
        state = record_registry(path, runtime)
        if PACKAGE_STAGE in stages and state.champion is not None:
            runs.append(run_stage(PACKAGE_STAGE, path))
            packaged = True
            if decision.alias == "challenger" and decision.reasons[:1] != [ALREADY]:
                announce_challenger(path, decision, runtime.model_name)
        elif PACKAGE_STAGE in stages:  # nothing to serve yet: the gate's checks say why
            packaged = False
    pushed = push_data(path, runtime) if any(r.ran for r in runs) else None
    return TrainingOutcome(
        stages=runs,
        evaluation=Evaluation.from_json(io.read_json(path / paths.EVALUATION)),
        ingest=IngestReport.from_json(io.read_json(path / paths.INGEST_REPORT)),
        validation=ValidationReport.from_json(io.read_json(path / paths.VALIDATION_REPORT)),
        decision=decision,
        run_id=tracked.parent_run_id,
        data_pushed=pushed,
        packaged=packaged,
    )


def format_training(outcome: TrainingOutcome) -> str:
    """The summary `mlops train` prints: data, validation, candidates, threshold, decision."""
    ev, val, ingest = outcome.evaluation, outcome.validation, outcome.ingest
    ran = [s.stage for s in outcome.stages if s.ran]
    lines = [
        f"stages run: {', '.join(ran) or 'none (everything up to date)'}",
        f"rows ingested: {ingest.rows} ({ingest.source})",
        f"validation: {'passed' if val.success else 'FAILED'} "
        f"({val.evaluated} expectations on {val.rows} rows)",
        "candidates (gold holdout, each at its own threshold):",
        f"  {'model':<10}{'roc_auc':>9}{'pr_auc':>8}{'recall':>8}"
        f"{'precision':>11}{'threshold':>11}",
    ]
    for name, c in ev.candidates.items():
        h = c.holdout
        lines.append(
            f"  {name:<10}{h.roc_auc:>9.3f}{h.pr_auc:>8.3f}{h.recall:>8.3f}"
            f"{h.precision:>11.3f}{c.threshold:>11.4f}"
        )
    if ev.oracle_roc_auc is not None:
        lines.append(f"  best achievable ROC AUC (true probabilities): {ev.oracle_roc_auc:.3f}")
    lines.append(f"chosen: {ev.chosen} at threshold {ev.chosen_report.threshold:.4f}")
    lines.append(f"gate: {'passed' if ev.verdict.passed else 'failed'}")
    lines += [f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in ev.verdict.checks]
    d = outcome.decision
    if d is not None:
        if d.alias:
            unchanged = [r for r in d.reasons if r.startswith("already registered")]
            note = f" ({unchanged[0]})" if unchanged else ""
            lines.append(f"registry: version {d.version} has alias '{d.alias}'{note}")
        else:
            lines.append("registry: not registered: " + "; ".join(d.reasons))
    if outcome.packaged is False:
        lines.append(
            "package: skipped: no version is champion yet, so there is nothing to serve; "
            "fix what the gate names above and run `mlops train` again"
        )
    if outcome.run_id:
        lines.append(f"MLflow run: {outcome.run_id}")
    if outcome.data_pushed:
        lines.append(f"DVC remote: {outcome.data_pushed}")
    return "\n".join(lines)
