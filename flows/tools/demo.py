"""`mlops demo` (what `make demo` runs): the whole loop on the embedded defaults, with a timeline.

train -> package -> serve -> normal traffic -> monitor -> drifted traffic ->
monitor (drift) -> the monitoring flow's event starts the `retrain` deployment
-> a new challenger's event starts the `release` deployment -> shadow -> A/B
-> promote or reject. Everything runs for real: a Prefect server and a process
serving the deployments (their automations are the triggers), the Bento
service, the prediction log, Evidently. Each step prints its evidence.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from flows import paths
from flows.monitoring import monitoring_flow
from flows.release_ops import describe_state, read_state
from flows.tools.simulate import simulate
from flows.tools.traffic import TrafficResult
from flows.training import format_training, training_flow
from monitoring.summary import WindowSummary
from pipelines import io
from pipelines.config import Runtime
from services.auth import ensure_local_keys, load_keys
from services.pins import read_package_report

BIN = Path(sys.executable).parent


@dataclass
class Timeline:
    """Steps with their time since the start and their evidence, printed as they happen."""

    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)

    def step(self, name: str, evidence: str) -> None:
        """Record and print one step."""
        seconds = int(time.monotonic() - self.started)
        line = f"[{seconds // 60:02d}:{seconds % 60:02d}] {name:<16} {evidence}"
        self.lines.append(line)
        print(line, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


@contextmanager
def _process(args: list[str], log: Path, env: dict[str, str], cwd: Path) -> Iterator[Any]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _flow_runs(deployment: str, since: datetime) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        return list(
            client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(after_=since)  # type: ignore[arg-type]
                ),
            )
        )


def wait_for_run(deployment: str, since: datetime, seconds: float) -> Any:
    """The first run of `deployment` started after `since`, once it has finished."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = _flow_runs(deployment, since)
        done = [r for r in runs if r.state is not None and r.state.is_final()]
        if done:
            return done[0]
        time.sleep(2)
    raise TimeoutError(f"no finished run of {deployment} within {seconds:.0f} s")


class BackgroundTraffic:
    """Simulated deliveries (and their outcomes) sent in the background until stopped."""

    def __init__(self, url: str, api_key: str, root: Path, rate: float) -> None:
        """Nothing is sent until `start`."""
        self.url, self.api_key, self.root, self.rate = url, api_key, root, rate
        self.scenario = "none"
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, scenario: str) -> None:
        """Send `scenario` traffic in 10-second bursts until `stop`."""
        self.scenario = scenario
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seed = 1000
        while not self._stop.is_set():
            seed += 1
            result = simulate(
                self.url,
                self.api_key,
                self.scenario,
                self.rate,
                10.0,
                feedback_delay=1.0,
                seed=seed,
                root=self.root,
            )
            self.sent += result.answered

    def stop(self) -> None:
        """Finish the current burst and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)


class _Demo:
    """One run of the loop: the servers it started, the service's address, the timeline."""

    def __init__(self, root: Path, stack: ExitStack, rate: float, phase_seconds: float) -> None:
        self.root, self.stack, self.rate, self.phase_seconds = root, stack, rate, phase_seconds
        self.timeline = Timeline()
        self.logs = root / paths.DEMO_LOGS
        self.env = dict(os.environ)
        self.url = self.api_key = ""

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """A server process, stopped when the demo ends; its output in state/demo/<name>.log."""
        return self.stack.enter_context(
            _process(args, self.logs / f"{name}.log", self.env, self.root)
        )

    def prefect(self) -> None:
        """A Prefect server for the deployments and their triggers (unless one is configured)."""
        if not os.environ.get("PREFECT_API_URL"):
            port = _free_port()
            server = self.start(
                "prefect-server",
                [
                    str(BIN / "prefect"),
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
            )
            _wait(f"http://127.0.0.1:{port}/api/health", 180, server)
            url = f"http://127.0.0.1:{port}/api"
            os.environ["PREFECT_API_URL"] = self.env["PREFECT_API_URL"] = url
        self.timeline.step("prefect", f"server at {os.environ['PREFECT_API_URL']}")

    def train(self) -> None:
        """The training flow: DVC stages, tracking, gate, registry, package."""
        outcome = training_flow(root=str(self.root))
        chosen = outcome.evaluation.chosen_report.holdout
        decision = outcome.decision
        registered = f"v{decision.version} '{decision.alias}'" if decision else "-"
        self.timeline.step(
            "train",
            f"{outcome.evaluation.chosen} holdout AUC {chosen.roc_auc:.3f}, recall "
            f"{chosen.recall:.3f}, precision {chosen.precision:.3f}; registry {registered}",
        )
        print(format_training(outcome), flush=True)

    def serve(self) -> None:
        """The packaged Bento on a free port, then the orchestrator serving the deployments."""
        runtime = Runtime()
        ensure_local_keys(runtime, self.root)
        self.api_key = load_keys(runtime, self.root).api_key
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env["MLOPS_SERVICE_URL"] = os.environ["MLOPS_SERVICE_URL"] = self.url
        mlops = [str(BIN / "mlops"), "--root", str(self.root)]
        service = self.start("service", [*mlops, "serve", "--port", str(port)])
        _wait(f"{self.url}/ready", 240, service)
        report = read_package_report(self.root)
        bento = report.bento if report else "?"
        self.timeline.step("serve", f"{bento} at {self.url} (champion-only)")
        orchestrator = self.start("orchestrator", [*mlops, "orchestrate", "--no-schedule"])
        _wait_deployments(orchestrator)
        self.timeline.step(
            "orchestrate", "deployments retrain, scheduled monitoring, release served"
        )

    def window(self, scenario: str, seed: int) -> tuple[datetime, WindowSummary]:
        """One window of `scenario` traffic, then the monitoring flow on it; (start, summary)."""
        phase = datetime.now(UTC)
        sent = simulate(
            self.url,
            self.api_key,
            scenario,
            self.rate,
            self.phase_seconds,
            1.0,
            seed=seed,
            root=self.root,
        )
        self.timeline.step("traffic", f"scenario {scenario}: {_traffic(sent)}")
        time.sleep(2)  # the last outcomes arrive
        now = datetime.now(UTC)
        minutes = (now - phase).total_seconds() / 60
        summary = monitoring_flow(
            root=str(self.root), window_minutes=minutes, end=now.isoformat()
        ).summary
        self.timeline.step("monitor", _monitor_line(summary))
        return phase, summary

    def drift_until_retrain(self, scenario: str, windows: int = 4) -> datetime | None:
        """Normal traffic, then drifted windows until monitoring asks to retrain; when it did."""
        phase, summary = self.window("none", seed=1)
        for k in range(windows):
            if summary.retrain.fire:
                return phase
            phase, summary = self.window(scenario, seed=10 + k)
        return phase if summary.retrain.fire else None

    def retrain_and_release(self, since: datetime, scenario: str) -> bool:
        """Wait for the retrain and release runs the events start; True when the loop closed."""
        traffic = BackgroundTraffic(self.url, self.api_key, self.root, self.rate)
        traffic.start(scenario)
        self.stack.callback(traffic.stop)
        retrain = wait_for_run("training/retrain", since, 900)
        registry = io.read_json(self.root / paths.REGISTRY_REPORT)
        challenger = registry.get("challenger")
        self.timeline.step(
            "retrain",
            f"event -> automation -> flow run {retrain.name}: {retrain.state.name}; "
            + (
                f"challenger v{challenger['version']} registered and packaged"
                if challenger
                else "no challenger (gate or champion comparison said no)"
            ),
        )
        if not challenger or retrain.state.is_failed():
            self.timeline.step("end", "the champion stays: see the training flow's summary")
            return not retrain.state.is_failed()
        release = wait_for_run("release/on-challenger", since, 900)
        traffic.stop()
        state = read_state(self.root / paths.RELEASE_STATE_FILE)
        for line in describe_state(state):
            self.timeline.step("release", line)
        self.timeline.step("end", f"release flow run {release.name}: {release.state.name}")
        return state is not None and state.stage in ("promoted", "rejected")


def run_demo(
    root: Path, rate: float = 48.0, phase_seconds: float = 25.0, scenario: str = "winter"
) -> int:
    """Run the loop; returns 0 when it closed (promoted or rejected with evidence)."""
    with ExitStack() as stack:
        demo = _Demo(root, stack, rate, phase_seconds)
        demo.prefect()
        demo.train()
        demo.serve()
        since = demo.drift_until_retrain(scenario)
        if since is None:
            demo.timeline.step("end", "no retraining was asked for: the loop stops here")
            return 1
        closed = demo.retrain_and_release(since, scenario)
    print("\ntimeline\n" + "\n".join(demo.timeline.lines))
    return 0 if closed else 1


def _wait_deployments(orchestrator: subprocess.Popen[bytes], seconds: float = 180) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + seconds
    names = ("training/retrain", "release/on-challenger", "monitoring/scheduled")
    while time.monotonic() < deadline:
        if orchestrator.poll() is not None:
            raise RuntimeError(f"orchestrator exited with {orchestrator.returncode}")
        try:
            with get_client(sync_client=True) as client:
                for name in names:
                    client.read_deployment_by_name(name)
            return
        except ObjectNotFound:
            time.sleep(1)
    raise TimeoutError("deployments were not registered in time")


def _traffic(result: TrafficResult) -> str:
    p99 = "n/a" if result.latency_p99_ms is None else f"{result.latency_p99_ms:.1f} ms"
    return (
        f"{result.answered} predictions, {sum(result.errors.values())} errors, p99 {p99}, "
        f"{result.feedback_sent} outcomes sent, {result.positive_share or 0:.0%} truly delayed"
    )


def _monitor_line(summary: WindowSummary) -> str:
    if summary.status != "ok" or summary.drift is None:
        return f"stale: {'; '.join(summary.problems)}"
    drift = summary.drift
    drifted = [name for name, column in drift.features.items() if column.drifted]
    quality = (summary.variants or {}).get("champion")
    recall = None if quality is None else quality.recall
    return (
        f"drift share {drift.share:.2f} ({', '.join(drifted) or 'none'}); live recall "
        f"{'n/a' if recall is None else f'{recall:.3f}'}; "
        + ("RETRAIN: " if summary.retrain.fire else "")
        + summary.retrain.reason
    )
