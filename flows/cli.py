"""`mlops`: the command line of the platform.

Nothing heavy is imported at module level: each command imports what it
needs when it runs, so `mlops --help` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUIET_ENV = {
    "DO_NOT_TRACK": "true",  # MLflow only honours "true"
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",  # first flow starts a server: 13-15 s
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "BENTOML_DO_NOT_TRACK": "true",
}


def prepare_env(root: Path) -> None:
    """Quiet, offline tools whose state stays in the project (before they are imported)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    os.environ.setdefault("BENTOML_HOME", str(root / ".bentoml"))


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_training(outcome: Any) -> str:
    """The summary `mlops train` prints: data, validation, candidates, threshold, decision."""
    ev, val = outcome.evaluation, outcome.validation
    ran = [s.stage for s in outcome.stages if s.ran]
    lines = [
        f"stages run: {', '.join(ran) or 'none (everything up to date)'}",
        f"rows ingested: {outcome.ingest['rows']} ({outcome.ingest['source']})",
        f"validation: {'passed' if val['success'] else 'FAILED'} "
        f"({val['evaluated']} expectations on {val['rows']} rows)",
        "candidates (gold holdout, each at its own threshold):",
        f"  {'model':<10}{'roc_auc':>9}{'pr_auc':>8}{'recall':>8}"
        f"{'precision':>11}{'threshold':>11}",
    ]
    for name, c in ev["candidates"].items():
        h = c["holdout"]
        lines.append(
            f"  {name:<10}{h['roc_auc']:>9.3f}{h['pr_auc']:>8.3f}{h['recall']:>8.3f}"
            f"{h['precision']:>11.3f}{c['threshold']:>11.4f}"
        )
    if ev.get("oracle_roc_auc") is not None:
        lines.append(f"  best achievable ROC AUC (true probabilities): {ev['oracle_roc_auc']:.3f}")
    chosen = ev["chosen"]
    lines.append(f"chosen: {chosen} at threshold {ev['candidates'][chosen]['threshold']:.4f}")
    gate = ev["gate"]
    lines.append(f"gate: {'passed' if gate['passed'] else 'failed'}")
    lines += [
        f"  [{'ok' if c['passed'] else 'FAIL'}] {c['name']}: {c['detail']}" for c in gate["checks"]
    ]
    d = outcome.decision
    if d is not None:
        if d.alias:
            unchanged = [r for r in d.reasons if r.startswith("already registered")]
            note = f" ({unchanged[0]})" if unchanged else ""
            lines.append(f"registry: version {d.version} has alias '{d.alias}'{note}")
        else:
            lines.append("registry: not registered: " + "; ".join(d.reasons))
    if outcome.run_id:
        lines.append(f"MLflow run: {outcome.run_id}")
    if outcome.data_pushed:
        lines.append(f"DVC remote: {outcome.data_pushed}")
    return "\n".join(lines)


def cmd_train(args: argparse.Namespace) -> int:
    """Run the training flow and print its summary."""
    from flows.training import training_flow

    outcome = training_flow(root=str(args.root), register_model=not args.no_register)
    print(format_training(outcome))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    """Run a params variation as a DVC experiment and track it."""
    from flows.experiments import experiment_flow

    name = args.name or "exp-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    result = experiment_flow(root=str(args.root), overrides=args.set, name=name)
    ev = result.evaluation
    chosen = ev["candidates"][ev["chosen"]]["holdout"]
    print(f"experiment {result.name}: commit {result.commit[:10]}, MLflow run {result.run_id}")
    print(
        f"  chosen {ev['chosen']}: recall {chosen['recall']:.3f}, precision "
        f"{chosen['precision']:.3f}, precision@recall {chosen['precision_at_recall']:.3f}, "
        f"gate {'passed' if ev['gate']['passed'] else 'failed'}"
    )
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    """List tracked experiments, newest first."""
    from flows.experiments import list_experiments

    rows = list_experiments(args.root, args.limit)
    if not rows:
        print("no experiments yet: try `mlops experiment -S train.lgbm.num_leaves=63`")
        return 0
    cols = [
        "name",
        "chosen",
        "holdout_precision_at_recall",
        "holdout_recall",
        "holdout_roc_auc",
        "gate_passed",
        "run_id",
    ]
    print("  ".join(cols))
    for row in rows:
        print("  ".join(_fmt(row[c]) for c in cols))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Check params.yaml and project.yaml, or print their JSON schemas."""
    from pipelines.config import Params, Project, load

    if args.schema:
        schemas = {
            "params.yaml": Params.model_json_schema(by_alias=True),
            "project.yaml": Project.model_json_schema(),
        }
        print(json.dumps(schemas, indent=2))
        return 0
    config = load(args.root)
    from pipelines.schema import build_schema

    schema = build_schema(config)
    print(f"params.yaml and project.yaml are valid ({config.project.name})")
    print(
        f"  target: {schema.target}; features ({len(schema.feature_names)}): "
        f"{', '.join(schema.feature_names)}"
    )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a CSV or Parquet file with a registered model; print one summary line."""
    for option, value in (
        ("--chunk-rows", args.chunk_rows),
        ("--partition-rows", args.partition_rows),
    ):
        if value < 1:
            print(f"error: {option} must be positive, got {value}", file=sys.stderr)
            return 2
    from flows.scoring import ModelNotFound, score_file

    try:
        result = score_file(
            args.root,
            args.input,
            args.output,
            alias=args.alias,
            version=None if args.version is None else str(args.version),
            chunk_rows=args.chunk_rows,
            partition_rows=args.partition_rows,
            skip_invalid=args.skip_invalid,
            quiet=args.quiet,
        )
    except ModelNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rejected = (
        f"; {result.rejected} rows rejected -> {result.rejected_path}"
        if result.rejected_path is not None
        else ""
    )
    print(
        f"scored {result.rows} rows in {result.seconds:.2f} s ({result.rows_per_second:,.0f} "
        f"rows/s) with model version {result.version} -> {result.output}{rejected}"
    )
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    """Build the Bento from the registry's champion and challenger."""
    from flows.package import package

    result = package(args.root)
    print(f"bento {result.bento} ({'unchanged' if result.reused else 'built'})")
    for note in result.notes:
        print(f"  {note}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the packaged Bento (or the source) on the embedded defaults."""
    from flows.serving import run_foreground, serve_command

    if not args.from_source:
        cmd_package(args)  # unchanged registry and code: nothing is rebuilt
    command = serve_command(args.root, args.host, args.port, args.from_source)
    if command.created_keys:
        print(f"created API and admin keys in {command.created_keys} (never commit it)")
    url = f"http://{args.host}:{args.port}"
    print(f"serving {command.target} at {url} (docs: {url}/docs); Ctrl-C stops it")
    return run_foreground(command, args.root)


def _show_policy(policy: dict[str, Any]) -> str:
    weight = policy.get("challenger_weight") or 0
    split = f", challenger weight {weight:.0%}" if policy["mode"] in ("ab", "canary") else ""
    return (
        f"mode {policy['mode']}{split}; champion v{policy['champion']}, "
        f"challenger {'v' + policy['challenger'] if policy.get('challenger') else 'none'}"
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    """Send simulated deliveries, then their true outcomes, to the running service."""
    from flows.simulate import simulate
    from pipelines.config import Runtime
    from services.auth import load_keys

    runtime = Runtime()
    try:
        result = simulate(
            args.url or runtime.service_url,
            load_keys(runtime, args.root).api_key,
            args.scenario,
            args.rate,
            args.duration,
            args.feedback_delay,
            args.label_share,
            args.seed,
            root=args.root,
            concurrency=args.concurrency,
            progress=print,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.answered else 1


def cmd_release_run(args: argparse.Namespace) -> int:
    """Run the release flow on the service's challenger; print where it ended and why."""
    from flows.release import release_flow
    from flows.release_ops import describe_state

    state = release_flow(
        root=str(args.root),
        url=args.url,
        poll_seconds=args.poll_seconds,
        timeout_minutes=args.timeout_minutes,
    )
    print("\n".join(describe_state(state)))
    return 0 if state["stage"] in ("promoted", "rejected") else 1


def cmd_release(args: argparse.Namespace) -> int:
    """Show or change the running service's traffic policy (through its admin route)."""
    if args.action == "run":
        return cmd_release_run(args)
    from flows.serving import ServiceError, client_for

    client = client_for(args.root, url=args.url)
    reason = args.reason or f"mlops release {args.action}"
    try:
        if args.action == "status":
            status = client.status(history=args.history)
            print(_show_policy(status["policy"]))
            for change in status["history"]:
                print(
                    f"  {change['changed_at'][:19]}  {change['changed_by']:<18} "
                    f"{_show_policy(change['policy'])}  {change['reason']}"
                )
            from flows.release_ops import STATE_FILE, describe_state, read_state

            print("\n".join(describe_state(read_state(args.root / STATE_FILE))))
            return 0
        if args.action == "promote":
            current = client.status()["policy"]
            if not current.get("challenger"):
                print("error: no challenger to promote", file=sys.stderr)
                return 2
            policy = client.set_policy(
                mode="champion",
                champion=current["challenger"],
                challenger=current["champion"],
                reason=reason,
            )
        elif args.action == "rollback":  # the registry follows when a release promoted
            from flows.release_ops import STATE_FILE, MlflowRegistry, rollback
            from pipelines.config import Runtime

            policy, notes = rollback(
                client, lambda: MlflowRegistry(args.root, Runtime()), args.root / STATE_FILE, reason
            )
            for note in notes:
                print(note)
        else:
            policy = client.set_policy(
                mode=args.action, challenger_weight=args.weight, reason=reason
            )
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if " 4" in str(exc) else 1
    print(_show_policy(policy))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run the monitoring flow on the latest window of the prediction log."""
    from flows.monitor import format_summary, monitoring_flow

    outcome = monitoring_flow(
        root=str(args.root),
        window_minutes=args.minutes,
        end=args.end,
        request_retrain=not args.no_retrain,
    )
    print(format_summary(outcome.summary, outcome.labelled_rows_exported))
    print(f"report: {outcome.report_dir}")
    return 0


def cmd_exporter(args: argparse.Namespace) -> int:
    """Serve the monitoring metrics for Prometheus until interrupted."""
    from flows.state import METRICS_DIR
    from monitoring.exporter import serve_exporter

    directory = args.root / METRICS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    print(f"monitoring metrics from {directory} at http://{args.host}:{args.port}/metrics")
    with contextlib.suppress(KeyboardInterrupt):
        serve_exporter(directory, args.host, args.port)
    return 0


def cmd_orchestrate(args: argparse.Namespace) -> int:
    """Serve the retrain, monitoring and release deployments with their triggers."""
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "error: set PREFECT_API_URL to a Prefect server (`prefect server start`): "
            "events and automations need one that outlives this process",
            file=sys.stderr,
        )
        return 2
    from flows.deployments import serve_deployments

    serve_deployments(args.root, schedule_monitoring=not args.no_schedule)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole loop on the embedded defaults, with a timeline."""
    from flows.demo import run_demo

    return run_demo(args.root, rate=args.rate, phase_seconds=args.phase, scenario=args.scenario)


def build_parser() -> argparse.ArgumentParser:
    """The `mlops` argument parser."""
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="Train, track and gate the delivery-delay model (DVC + MLflow + Prefect).",
    )
    parser.add_argument("--root", type=Path, default=Path(), help="project root (default: .)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train", help="run the training flow: DVC stages, tracking, gate, registry"
    )
    train.add_argument("--no-register", action="store_true", help="track only; leave the registry")
    train.set_defaults(func=cmd_train)

    exp = sub.add_parser("experiment", help="try a params variation without touching params.yaml")
    exp.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml value, e.g. -S train.lgbm.num_leaves=63",
    )
    exp.add_argument("-n", "--name", help="experiment name (default: exp-<timestamp>)")
    exp.set_defaults(func=cmd_experiment)

    exps = sub.add_parser("experiments", help="list tracked experiments with their metrics")
    exps.add_argument("--limit", type=int, default=20)
    exps.set_defaults(func=cmd_experiments)

    cfg = sub.add_parser("config", help="check params.yaml and project.yaml (or --schema)")
    cfg.add_argument("--schema", action="store_true", help="print the JSON schema of both files")
    cfg.set_defaults(func=cmd_config)

    scr = sub.add_parser("score", help="score a CSV or Parquet file with a registered model")
    scr.add_argument("--input", type=Path, required=True, help="deliveries (.csv/.parquet)")
    scr.add_argument(
        "--output", type=Path, required=True, help="scores to write (.csv/.parquet), atomically"
    )
    which = scr.add_mutually_exclusive_group()
    which.add_argument("--alias", default="champion", help="registry alias (default: champion)")
    which.add_argument("--version", type=int, help="registry version number instead of an alias")
    scr.add_argument("--chunk-rows", type=int, default=200_000, help="rows per chunk")
    scr.add_argument(
        "--partition-rows",
        type=int,
        default=500_000,
        help="rows per partition on the Dask engine (MLOPS_ENGINE=dask)",
    )
    scr.add_argument(
        "--skip-invalid",
        action="store_true",
        help="score the valid rows; write the others with reasons to <output>.rejected.csv",
    )
    scr.add_argument("--quiet", action="store_true", help="no progress bar")
    scr.set_defaults(func=cmd_score)

    pkg = sub.add_parser("package", help="build the Bento: service + champion (+ challenger)")
    pkg.set_defaults(func=cmd_package)

    srv = sub.add_parser("serve", help="serve the packaged Bento locally (packages it if needed)")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=3000)
    srv.add_argument("--from-source", action="store_true", help="serve services/ as it is now")
    srv.set_defaults(func=cmd_serve)

    rel = sub.add_parser("release", help="traffic policy of the running service")
    rel.add_argument(
        "action",
        choices=["status", "champion", "shadow", "ab", "canary", "promote", "rollback", "run"],
        help="status | champion (champion only) | shadow | ab | canary | promote "
        "(challenger becomes champion) | rollback (previous champion back at once) | run "
        "(the release flow: shadow, A/B test, then promote or reject)",
    )
    rel.add_argument("--weight", type=float, help="challenger share for ab / canary")
    rel.add_argument("--reason", help="why (kept in the policy history)")
    rel.add_argument("--history", type=int, default=10, help="changes shown by status")
    rel.add_argument("--url", help="service URL (default: MLOPS_SERVICE_URL or :3000)")
    rel.add_argument("--poll-seconds", type=float, default=5.0, help="run: log read interval")
    rel.add_argument(
        "--timeout-minutes", type=float, default=60.0, help="run: then champion-only (timed_out)"
    )
    rel.set_defaults(func=cmd_release)

    sim = sub.add_parser(
        "simulate", help="send live deliveries, then their true outcomes, to the running service"
    )
    sim.add_argument(
        "--scenario",
        default="none",
        help="generator scenario: none | winter | rural_depot | holiday_backlog | carrier_change",
    )
    sim.add_argument("--rate", type=float, default=20.0, help="requests per second (5-200)")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    sim.add_argument(
        "--feedback-delay", type=float, default=5.0, help="seconds from answer to outcome"
    )
    sim.add_argument("--label-share", type=float, default=1.0, help="share of outcomes reported")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--concurrency", type=int, default=8, help="predictions in flight at most")
    sim.add_argument("--url", help="service URL (default: MLOPS_SERVICE_URL or :3000)")
    sim.set_defaults(func=cmd_simulate)
    mon = sub.add_parser("monitor", help="drift and live quality of the latest log window")
    mon.add_argument("--minutes", type=float, help="window length (default: project.yaml)")
    mon.add_argument("--end", help="window end, ISO time (default: now)")
    mon.add_argument("--no-retrain", action="store_true", help="report only; never ask to retrain")
    mon.set_defaults(func=cmd_monitor)

    exp_ = sub.add_parser("exporter", help="serve the monitoring metrics for Prometheus")
    exp_.add_argument("--host", default="127.0.0.1")
    exp_.add_argument("--port", type=int, default=9108)
    exp_.set_defaults(func=cmd_exporter)

    orch = sub.add_parser("orchestrate", help="serve the Prefect deployments and their triggers")
    orch.add_argument("--no-schedule", action="store_true", help="monitoring only on demand")
    orch.set_defaults(func=cmd_orchestrate)

    demo = sub.add_parser("demo", help="the whole loop: train, serve, drift, retrain, release")
    demo.add_argument("--rate", type=float, default=48.0, help="simulated requests per second")
    demo.add_argument("--phase", type=float, default=25.0, help="seconds of traffic per window")
    demo.add_argument("--scenario", default="winter", help="the drift scenario")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mlops` command."""
    args = build_parser().parse_args(argv)
    args.root = args.root.resolve()
    prepare_env(args.root)
    from pipelines.config import ConfigError, load_runtime
    from pipelines.ingest import DataError

    try:
        load_runtime()  # a bad MLOPS_* variable is named here, before any work starts
        return int(args.func(args))
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from flows.dvc import StageFailed

        if isinstance(exc, StageFailed):
            print(f"error: {exc}", file=sys.stderr)
            return 2 if exc.bad_input else 1
        known = ("PackageError", "ServiceError", "PinsError", "ReleaseError", "RemoteProblem")
        if type(exc).__name__ in known:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
