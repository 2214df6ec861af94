"""Prefect release flow: a loaded challenger goes shadow -> A/B -> promoted or rejected.

1. preconditions: the service holds the last packaged challenger (the flow hot-loads
   it when needed) and answers its admin route in champion-only mode (and the
   challenger is not the champion the last release just replaced);
2. shadow: the challenger scores `release.shadow_requests` live requests off the answer
   path; too many errors or too little agreement with the champion ends the release;
3. A/B: the challenger answers `release.ab_weight` of the customers (sticky by
   customer) until the non-inferiority test on live recall (monitoring/online.py)
   says promote or reject;
4. promote: one policy change makes the challenger champion and the old champion
   challenger (both are in memory: no reload, no downtime), then the MLflow aliases
   follow and reports/registry.json is rewritten; reject / time-out / failure: the
   champion answers alone again.

Every change goes through the service's admin route (stored, logged, shared by the
replicas) with `changed_by="release-flow"` and the evidence in its reason; every step
rewrites state/release/state.json atomically, so `mlops release status` tells
where the challenger is and why. The logic is `run_release`, plain code over injected
client, log reader, clock and registry operations; `release_flow` only wires it up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow

from flows.adapters.service_client import ServiceError, client_for, load_packaged_challenger
from flows.monitoring import log_url
from flows.paths import METRICS_DIR
from flows.release_ops import (
    STATE_FILE,
    MlflowRegistry,
    PolicyClient,
    RegistryOps,
    ReleaseError,
    read_state,
    utc_now,
)
from pipelines import io
from pipelines.config import Release, Runtime, load

if TYPE_CHECKING:
    import pandas as pd

    from monitoring.online import ABVerdict, ShadowReport

CHANGED_BY = "release-flow"
ACTIVE_STAGES = ("shadow", "ab")
FINAL_STAGES = ("promoted", "rejected", "timed_out", "failed", "rolled_back")
log = logging.getLogger(__name__)


LogReader = Callable[[datetime], "pd.DataFrame"]
"""Prediction-log rows received since a time (with outcomes joined)."""


@dataclass(frozen=True)
class ReleaseConfig:
    """The numbers of one release (project.yaml `release`, plus polling)."""

    shadow_requests: int
    min_agreement: float
    ab_weight: float
    min_labelled: int
    alpha: float
    margin: float
    looks: int = 3
    """A/B looks (at 1x..3x min_labelled); no verdict after the last one rejects."""
    max_shadow_error_rate: float = 0.01
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0
    report_seconds: float = 60.0
    """Progress lines at most this often (stage changes are always reported)."""

    @classmethod
    def from_release(
        cls, release: Release, poll_seconds: float = 5.0, timeout_minutes: float = 60.0
    ) -> ReleaseConfig:
        """From project.yaml's `release` section."""
        if poll_seconds <= 0 or timeout_minutes <= 0:
            raise ValueError("poll_seconds and timeout_minutes must be positive")
        return cls(
            shadow_requests=release.shadow_requests,
            min_agreement=release.min_agreement,
            ab_weight=release.ab_weight,
            min_labelled=release.min_labelled_per_variant,
            alpha=release.alpha,
            margin=release.non_inferiority_margin,
            poll_seconds=poll_seconds,
            timeout_seconds=timeout_minutes * 60,
        )


class _Timeout(Exception):
    pass


class _Interrupted(Exception):
    """The policy was changed by someone else during the release."""


class _Release:
    """One run: the state it writes and the service it steers."""

    def __init__(
        self,
        client: PolicyClient,
        read_log: LogReader,
        cfg: ReleaseConfig,
        state_path: Path,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        say: Callable[[str], None],
    ) -> None:
        self.client, self.read_log, self.cfg = client, read_log, cfg
        self.state_path, self.clock, self.sleep, self.say = state_path, clock, sleep, say
        self.state: dict[str, Any] = {}
        self.deadline = clock()
        self._said = 0.0

    # ------------------------------------------------------------------ state

    def save(self, stage: str | None = None, reason: str | None = None, **evidence: Any) -> None:
        now = self.clock().isoformat()
        s = self.state
        if stage is not None and stage != s.get("stage"):
            s["stage"] = stage
            s["stages"].append({"stage": stage, "at": now, "reason": reason or ""})
            self.say(f"release v{s['challenger']}: {stage}: {reason or ''}")
            self._said = time.monotonic()
        if reason is not None:
            s["reason"] = reason
        s["evidence"].update(evidence)
        s["updated_at"] = now
        io.write_json(self.state_path, s)

    def progress(self, line: str) -> None:
        if time.monotonic() - self._said >= self.cfg.report_seconds:
            self.say(line)
            self._said = time.monotonic()

    # ----------------------------------------------------------------- policy

    def switch(self, reason: str, **update: Any) -> datetime:
        """Apply a policy; the time the service recorded for it (its clock, not ours)."""
        before = self.clock()
        policy = self.client.set_policy(changed_by=CHANGED_BY, reason=reason, **update)
        self.state["evidence"].setdefault("policy_changes", []).append(
            {"policy": policy, "reason": reason}
        )
        for change in self.client.status(history=5)["history"]:
            if change["changed_by"] == CHANGED_BY and change["policy"]["mode"] == update["mode"]:
                return datetime.fromisoformat(change["changed_at"])
        return before

    def expect(self, mode: str) -> None:
        """Stop (_Interrupted) when someone else changed the policy since our switch."""
        policy = self.client.status(history=1)
        current, last = policy["policy"], (policy["history"] or [{}])[0]
        s = self.state
        if (
            current["mode"] != mode
            or current.get("challenger") != s["challenger"]
            or current.get("champion") != s["champion"]
        ):
            raise _Interrupted(
                f"the policy was changed outside the release flow (now mode {current['mode']}, "
                f"champion v{current.get('champion')}, challenger v{current.get('challenger')}; "
                f"by {last.get('changed_by', '?')}: {last.get('reason', '')!r}); release stopped, "
                f"policy left as it is"
            )

    def wait(self) -> None:
        if self.clock() >= self.deadline:
            raise _Timeout
        self.sleep(self.cfg.poll_seconds)

    def champion_only(self, reason: str) -> None:
        self.switch(reason, mode="champion")

    # ----------------------------------------------------------------- stages

    def shadow(self, threshold: float) -> ShadowReport | None:
        """Run the shadow stage; the report when the challenger passed, None when rejected."""
        from monitoring.online import shadow_report  # scipy: seconds to import

        cfg, chal = self.cfg, self.state["challenger"]
        since = self.switch(
            f"release v{chal}: shadow until the challenger scored {cfg.shadow_requests} "
            f"requests (needs agreement >= {cfg.min_agreement:.0%}, errors <= "
            f"{cfg.max_shadow_error_rate:.0%})",
            mode="shadow",
        )
        self.save("shadow", f"scoring live requests in shadow since {since.isoformat()}")
        while True:
            self.expect("shadow")
            frame = self.read_log(since)
            rows = frame[frame["mode"] == "shadow"] if len(frame) else frame
            report = shadow_report(rows, threshold, chal)
            self.save(shadow=report.to_json())
            errors_known = report.requests >= cfg.shadow_requests
            if report.scored >= cfg.shadow_requests or (
                errors_known and (report.error_rate or 0) > cfg.max_shadow_error_rate
            ):
                break
            self.progress(
                f"shadow: {report.scored}/{cfg.shadow_requests} scored, "
                f"{report.errors} errors, {report.shed} shed"
            )
            self.wait()
        problems = []
        if (report.error_rate or 0) > cfg.max_shadow_error_rate:
            problems.append(
                f"shadow errors {report.errors}/{report.requests} "
                f"({report.error_rate:.1%}) above {cfg.max_shadow_error_rate:.0%}"
            )
        agreement = report.agreement
        if agreement is None or agreement < cfg.min_agreement:
            shown = "n/a" if agreement is None else f"{agreement:.1%}"
            problems.append(f"agreement {shown} below {cfg.min_agreement:.0%}")
        if problems:
            reason = f"rejected in shadow: {'; '.join(problems)} (on {report.requests} requests)"
            self.champion_only(f"release v{chal}: {reason}")
            self.save("rejected", reason)
            return None
        return report

    def ab(self, shadow: ShadowReport) -> ABVerdict:
        """Run the A/B stage until the test decides; its last result."""
        from monitoring.online import WAIT, ab_test

        cfg, s = self.cfg, self.state
        since = self.switch(
            f"release v{s['challenger']}: shadow passed (agreement {shadow.agreement:.1%} on "
            f"{shadow.scored} requests, {shadow.errors} errors); A/B at "
            f"{cfg.ab_weight:.0%} until the live-recall test decides (alpha {cfg.alpha:g}, "
            f"margin {cfg.margin:g}, {cfg.min_labelled} labelled rows per variant and look)",
            mode="ab",
            challenger_weight=cfg.ab_weight,
        )
        self.save("ab", f"A/B at {cfg.ab_weight:.0%} since {since.isoformat()}")
        while True:
            self.expect("ab")
            frame = self.read_log(since)
            rows = frame[frame["mode"] == "ab"] if len(frame) else frame
            result = ab_test(
                rows,
                cfg.alpha,
                cfg.margin,
                cfg.min_labelled,
                cfg.looks,
                champion_version=s["champion"],
                challenger_version=s["challenger"],
            )
            self.save(ab=result.to_json())
            if result.decision != WAIT:
                return result
            self.progress(f"A/B: {result.reason}")
            self.wait()


def _check_start(status: dict[str, Any], previous: dict[str, Any] | None) -> tuple[str, str]:
    policy = status["policy"]
    champion, challenger = policy.get("champion"), policy.get("challenger")
    if not challenger:
        raise ReleaseError(
            f"no challenger is loaded in the service (champion v{champion} alone): register "
            f"one (`mlops train`), package and serve it (`mlops serve`), then release it"
        )
    if policy["mode"] != "champion":
        last = (status.get("history") or [{}])[0]
        raise ReleaseError(
            f"the service is in mode {policy['mode']} (set by {last.get('changed_by', '?')}: "
            f"{last.get('reason', '')!r}); a release starts from champion-only: if no other "
            f"release runs, `mlops release champion` first"
        )
    if (
        previous is not None
        and previous.get("stage") == "promoted"
        and previous.get("previous_champion") == challenger
        and previous.get("challenger") == champion
    ):
        raise ReleaseError(
            f"challenger v{challenger} is the champion the last release replaced with "
            f"v{champion}: nothing new to release (`mlops release rollback` brings it back)"
        )
    return str(champion), str(challenger)


def run_release(
    client: PolicyClient,
    read_log: LogReader,
    cfg: ReleaseConfig,
    registry: RegistryOps,
    state_path: Path,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Release the service's challenger: shadow, A/B, then promote or reject it.

    Args:
        client: The service's admin route.
        read_log: Prediction-log rows since a time.
        cfg: The release's numbers.
        registry: Thresholds and alias changes in the model registry.
        state_path: The state file (state/release/state.json), rewritten at every step.
        clock: Current time (UTC-aware).
        sleep: Waits between polls of the log.
        say: Receives progress lines.

    Returns:
        The final state: stage promoted, rejected or timed_out, with the evidence.

    Raises:
        ReleaseError: The release cannot start (service not ready, no challenger, another
            policy in force), the policy was changed by someone else meanwhile, or the
            registry could not follow a promotion. The state file says which.
    """
    say = say or (lambda line: None)
    try:
        status = client.status(history=20)
    except ServiceError as exc:
        raise ReleaseError(f"service not ready: {exc}") from None
    champion, challenger = _check_start(status, read_state(state_path))
    threshold = registry.threshold(challenger)
    started = clock()
    run = _Release(client, read_log, cfg, state_path, clock, sleep, say)
    run.deadline = started + timedelta(seconds=cfg.timeout_seconds)
    run.state = {
        "stage": None,
        "champion": champion,
        "challenger": challenger,
        "challenger_threshold": threshold,
        "previous_champion": None,
        "started_at": started.isoformat(),
        "updated_at": started.isoformat(),
        "reason": "",
        "config": asdict(cfg),
        "evidence": {},
        "stages": [],
    }
    try:
        shadow = run.shadow(threshold)
        if shadow is not None:
            _finish(run, run.ab(shadow), registry)
    except _Timeout:
        stage = run.state["stage"]
        latest = run.state["evidence"].get(stage, {})
        why = latest.get("reason") or (
            f"{latest.get('scored', 0)}/{cfg.shadow_requests} requests scored in shadow"
        )
        reason = f"timed out after {cfg.timeout_seconds / 60:g} min in stage {stage}: {why}"
        run.champion_only(f"release v{challenger}: {reason}")
        run.save("timed_out", reason)
    except _Interrupted as exc:
        run.save("failed", str(exc))
        raise ReleaseError(str(exc)) from None
    except ReleaseError:
        raise
    except BaseException as exc:  # Ctrl-C included: never leave the challenger answering
        reason = f"release flow failed in stage {run.state['stage']}: {type(exc).__name__}: {exc}"
        try:
            run.champion_only(f"release v{challenger}: {reason}")
        except Exception as again:
            reason += f"; champion-only could not be restored either: {again}"
        run.save("failed", reason)
        raise
    return run.state


def _finish(run: _Release, result: ABVerdict, registry: RegistryOps) -> None:
    """Promote or reject after the A/B test's verdict."""
    from monitoring.online import PROMOTE

    champion, challenger = run.state["champion"], run.state["challenger"]
    if result.decision != PROMOTE:
        reason = f"rejected in A/B: {result.reason}"
        run.champion_only(f"release v{challenger}: {reason}")
        run.save("rejected", reason)
        return
    reason = f"promoted: {result.reason}"
    run.switch(
        f"release v{challenger}: {reason}",
        mode="champion",
        champion=challenger,
        challenger=champion,
    )
    run.state["previous_champion"] = champion
    run.save("promoted", f"{reason} (service swapped; updating the registry)")
    try:
        state = registry.set_roles(challenger, champion)
    except Exception as exc:
        run.save(
            "failed",
            f"service promoted v{challenger} (champion now), but the registry did not follow: "
            f"{type(exc).__name__}: {exc}; point the MLflow alias champion at v{challenger} "
            f"and challenger at v{champion} by hand",
        )
        raise ReleaseError(run.state["reason"]) from exc
    run.save("promoted", reason, registry=state)


# ----------------------------------------------------------------- adapters


class PredictionLogReader:
    """A LogReader over the prediction log (open it with `with`)."""

    def __init__(self, url: str) -> None:
        """The log at `url` (SQLAlchemy URL)."""
        from services.prediction_log import PredictionLog

        self.log = PredictionLog(url)

    def __enter__(self) -> PredictionLogReader:
        self.log.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.log.close()

    def __call__(self, since: datetime) -> pd.DataFrame:
        """Rows received since `since`."""
        return self.log.read_predictions(start=since)


# --------------------------------------------------------------------- flow


def _export_run(root: Path, state: str, started: float) -> None:
    try:
        from monitoring.metrics import export_flow_run

        export_flow_run("release", state, time.time() - started, time.time(), root / METRICS_DIR)
    except Exception as exc:  # a metrics file must never fail a release
        log.warning("release flow metrics not exported: %s", exc)


@flow(name="release", log_prints=True)
def release_flow(
    root: str = ".",
    url: str | None = None,
    poll_seconds: float = 5.0,
    timeout_minutes: float = 60.0,
) -> dict[str, Any]:
    """Release the running service's challenger: shadow, A/B, then promote or reject.

    Args:
        root: Project root (config, keys, registry file, state file).
        url: Service URL (default: the runtime's MLOPS_SERVICE_URL).
        poll_seconds: Seconds between reads of the prediction log.
        timeout_minutes: The whole release's limit; then champion-only, stage timed_out.

    Returns:
        The final release state (also in state/release/state.json).
    """
    started = time.time()
    path = Path(root).resolve()
    config, runtime = load(path), Runtime()
    cfg = ReleaseConfig.from_release(config.project.release, poll_seconds, timeout_minutes)
    client = client_for(path, runtime, url)
    outcome = "failed"
    try:
        try:  # a challenger packaged after the service started joins it here, no restart
            load_packaged_challenger(client, path)
        except ServiceError as exc:
            raise ReleaseError(
                f"could not hand the packaged challenger to the service: {exc}"
            ) from None
        with PredictionLogReader(log_url(path, runtime)) as reader:
            state = run_release(
                client,
                reader,
                cfg,
                MlflowRegistry(path, runtime),
                path / STATE_FILE,
                say=print,
            )
        outcome = "completed"
        return state
    finally:
        _export_run(path, outcome, started)
