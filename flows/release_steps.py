"""The release as plain code: a loaded challenger goes shadow -> A/B -> promoted or rejected.

1. preconditions: the service holds a challenger and answers its admin route in
   champion-only mode (and the challenger is not the champion the last release
   just replaced);
2. shadow: the challenger scores `release.shadow_requests` live requests off the answer
   path; too many errors or too little agreement with the champion ends the release;
3. A/B: the challenger answers `release.ab_weight` of the customers (sticky by
   customer) until the non-inferiority tests on live recall and precision
   (monitoring/ab_test.py) say promote or reject; a challenger over the latency
   budget is rejected in shadow or at the first A/B look;
4. promote: `release_ops.promote`, the one way a champion changes: the service makes
   the challenger champion and the old champion challenger (both are in memory: no
   reload, no downtime) and moves the registry aliases with it; reject / time-out /
   failure: the champion answers alone again.

Every change goes through the service's admin routes (stored, logged, shared by the
replicas) with `changed_by="release-flow"` and the evidence in its reason; every step
rewrites state/release/state.json atomically, so `mlops release status` tells where
the challenger is and why. `run_release` works over an injected client, log reader,
clock and sleep; flows/release.py wires it up as a Prefect flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.adapters.service_client import PolicyStatus, ServiceError
from flows.release_ops import (
    STATE_FILE,
    PolicyClient,
    ReleaseError,
    ReleaseState,
    StageEntry,
    promote,
    read_state,
    utc_now,
)
from monitoring.ab_test import PROMOTE, WAIT, ABVerdict, ab_test
from monitoring.shadow_report import ShadowReport, shadow_report
from pipelines import io
from pipelines.config import Release

if TYPE_CHECKING:
    import pandas as pd

CHANGED_BY = "release-flow"
ACTIVE_STAGES = ("shadow", "ab")
FINAL_STAGES = ("promoted", "rejected", "timed_out", "failed", "rolled_back")

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
    latency_budget_ms: float | None = None
    """The challenger's p99 in shadow and in A/B may not exceed it (project.yaml
    requirements.latency_budget_ms); None: not checked."""
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0
    report_seconds: float = 60.0
    """Progress lines at most this often (stage changes are always reported)."""

    @classmethod
    def from_release(
        cls,
        release: Release,
        poll_seconds: float = 5.0,
        timeout_minutes: float = 60.0,
        latency_budget_ms: float | None = None,
    ) -> ReleaseConfig:
        """From project.yaml's `release` section (and the latency budget of `requirements`)."""
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
            latency_budget_ms=latency_budget_ms,
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
        root: Path,
        state: ReleaseState,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        say: Callable[[str], None],
    ) -> None:
        self.client, self.read_log, self.cfg, self.root = client, read_log, cfg, root
        self.state, self.clock, self.sleep, self.say = state, clock, sleep, say
        self.deadline = clock() + timedelta(seconds=cfg.timeout_seconds)
        self._said = 0.0

    # ------------------------------------------------------------------ state

    def save(self, stage: str | None = None, reason: str | None = None, **evidence: Any) -> None:
        now = self.clock().isoformat()
        s = self.state
        if stage is not None and stage != s.stage:
            s.stage = stage
            s.stages.append(StageEntry(stage, now, reason or ""))
            self.say(f"release v{s.challenger}: {stage}: {reason or ''}")
            self._said = time.monotonic()
        if reason is not None:
            s.reason = reason
        s.evidence.update(evidence)
        s.updated_at = now
        io.write_json(self.root / STATE_FILE, s.to_json())

    def progress(self, line: str) -> None:
        if time.monotonic() - self._said >= self.cfg.report_seconds:
            self.say(line)
            self._said = time.monotonic()

    # ----------------------------------------------------------------- policy

    def switch(self, reason: str, **update: Any) -> datetime:
        """Apply a policy; the time the service recorded for it (its clock, not ours)."""
        before = self.clock()
        policy = self.client.set_policy(changed_by=CHANGED_BY, reason=reason, **update)
        self.state.evidence.setdefault("policy_changes", []).append(
            {"policy": policy.model_dump(), "reason": reason}
        )
        for change in self.client.status(history=5).history:
            if change.changed_by == CHANGED_BY and change.policy.mode == update["mode"]:
                return change.changed_at
        return before

    def expect(self, mode: str) -> None:
        """Stop (_Interrupted) when someone else changed the policy since our switch."""
        status = self.client.status(history=1)
        current, s = status.policy, self.state
        if (
            current.mode != mode
            or current.challenger != s.challenger
            or current.champion != s.champion
        ):
            last = status.history[0] if status.history else None
            by = f"by {last.changed_by}: {last.reason!r}" if last else "by ?"
            raise _Interrupted(
                f"the policy was changed outside the release flow (now mode {current.mode}, "
                f"champion v{current.champion}, challenger v{current.challenger}; {by}); "
                f"release stopped, policy left as it is"
            )

    def wait(self) -> None:
        if self.clock() >= self.deadline:
            raise _Timeout
        self.sleep(self.cfg.poll_seconds)

    def champion_only(self, reason: str) -> None:
        self.switch(reason, mode="champion")

    def rows(self, since: datetime, mode: str) -> pd.DataFrame:
        frame = self.read_log(since)
        return frame[frame["mode"] == mode] if len(frame) else frame

    # ----------------------------------------------------------------- stages

    def shadow(self, threshold: float) -> ShadowReport | None:
        """Run the shadow stage; the report when the challenger passed, None when rejected."""
        cfg, chal = self.cfg, self.state.challenger
        since = self.switch(
            f"release v{chal}: shadow until the challenger scored {cfg.shadow_requests} "
            f"requests (needs agreement >= {cfg.min_agreement:.0%}, errors <= "
            f"{cfg.max_shadow_error_rate:.0%})",
            mode="shadow",
        )
        self.save("shadow", f"scoring live requests in shadow since {since.isoformat()}")
        while True:
            self.expect("shadow")
            report = shadow_report(self.rows(since, "shadow"), threshold, chal)
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
        problems = _shadow_problems(report, cfg)
        if problems:
            reason = f"rejected in shadow: {'; '.join(problems)} (on {report.requests} requests)"
            self.champion_only(f"release v{chal}: {reason}")
            self.save("rejected", reason)
            return None
        return report

    def ab(self, shadow: ShadowReport) -> ABVerdict:
        """Run the A/B stage until the test decides; its last result."""
        cfg, s = self.cfg, self.state
        since = self.switch(
            f"release v{s.challenger}: shadow passed (agreement {shadow.agreement or 0:.1%} on "
            f"{shadow.scored} requests, {shadow.errors} errors); A/B at "
            f"{cfg.ab_weight:.0%} until the live recall and precision tests decide "
            f"(alpha {cfg.alpha:g}, "
            f"margin {cfg.margin:g}, {cfg.min_labelled} labelled rows per variant and look)",
            mode="ab",
            challenger_weight=cfg.ab_weight,
        )
        self.save("ab", f"A/B at {cfg.ab_weight:.0%} since {since.isoformat()}")
        while True:
            self.expect("ab")
            result = ab_test(
                self.rows(since, "ab"),
                cfg.alpha,
                cfg.margin,
                cfg.min_labelled,
                cfg.looks,
                champion_version=s.champion,
                challenger_version=s.challenger,
                latency_budget_ms=cfg.latency_budget_ms,
            )
            self.save(ab=result.to_json())
            if result.decision != WAIT:
                return result
            self.progress(f"A/B: {result.reason}")
            self.wait()

    def finish(self, result: ABVerdict) -> None:
        """Promote or reject after the A/B test's verdict."""
        champion, challenger = self.state.champion, self.state.challenger
        if result.decision != PROMOTE:
            reason = f"rejected in A/B: {result.reason}"
            self.champion_only(f"release v{challenger}: {reason}")
            self.save("rejected", reason)
            return
        reason = f"promoted: {result.reason}"
        done = promote(
            self.client, self.root, challenger, f"release v{challenger}: {reason}", CHANGED_BY
        )
        self.state.previous_champion = champion
        self.state.evidence.setdefault("policy_changes", []).append(
            {"policy": done.policy.model_dump(), "reason": reason}
        )
        registry = None if done.registry is None else done.registry.to_json()
        self.save("promoted", f"{reason}; {done.note}", registry=registry)


def _shadow_problems(report: ShadowReport, cfg: ReleaseConfig) -> list[str]:
    """Why the shadow stage rejects the challenger (none: it passed)."""
    problems = []
    error_rate = report.error_rate or 0
    if error_rate > cfg.max_shadow_error_rate:
        problems.append(
            f"shadow errors {report.errors}/{report.requests} "
            f"({error_rate:.1%}) above {cfg.max_shadow_error_rate:.0%}"
        )
    p99, budget = report.challenger_latency.p99_ms, cfg.latency_budget_ms
    if budget is not None and p99 is not None and p99 > budget:
        problems.append(f"challenger p99 latency {p99:.1f} ms above the budget of {budget:g} ms")
    agreement = report.agreement
    if agreement is None or agreement < cfg.min_agreement:
        shown = "n/a" if agreement is None else f"{agreement:.1%}"
        problems.append(f"agreement {shown} below {cfg.min_agreement:.0%}")
    return problems


def _check_start(status: PolicyStatus, previous: ReleaseState | None) -> tuple[str, str]:
    policy = status.policy
    champion, challenger = policy.champion, policy.challenger
    if not challenger:
        raise ReleaseError(
            f"no challenger is loaded in the service (champion v{champion} alone): register "
            f"one (`mlops train`), package and serve it (`mlops serve`), then release it"
        )
    if policy.mode != "champion":
        last = status.history[0] if status.history else None
        by = f"set by {last.changed_by}: {last.reason!r}" if last else "set by ?"
        raise ReleaseError(
            f"the service is in mode {policy.mode} ({by}); a release starts from "
            f"champion-only: if no other release runs, `mlops release champion` first"
        )
    if (
        previous is not None
        and previous.stage == "promoted"
        and previous.previous_champion == challenger
        and previous.challenger == champion
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
    root: Path,
    threshold_of: Callable[[str], float],
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] | None = None,
) -> ReleaseState:
    """Release the service's challenger: shadow, A/B, then promote or reject it.

    Args:
        client: The service's admin routes.
        read_log: Prediction-log rows since a time.
        cfg: The release's numbers.
        root: The project: its state file (state/release/state.json, rewritten at every
            step) and reports/registry.json (rewritten at a promotion).
        threshold_of: A registry version's decision threshold.
        clock: Current time (UTC-aware).
        sleep: Waits between polls of the log.
        say: Receives progress lines.

    Returns:
        The final state: stage promoted, rejected or timed_out, with the evidence.

    Raises:
        ReleaseError: The release cannot start (service not ready, no challenger, another
            policy in force) or the policy was changed by someone else meanwhile. The
            state file says which.
    """
    try:
        status = client.status(history=20)
    except ServiceError as exc:
        raise ReleaseError(f"service not ready: {exc}") from None
    champion, challenger = _check_start(status, read_state(root / STATE_FILE))
    threshold = threshold_of(challenger)
    started = clock().isoformat()
    state = ReleaseState(
        champion, challenger, started, started, challenger_threshold=threshold, config=asdict(cfg)
    )
    run = _Release(client, read_log, cfg, root, state, clock, sleep, say or (lambda line: None))
    try:
        shadow = run.shadow(threshold)
        if shadow is not None:
            run.finish(run.ab(shadow))
    except _Timeout:
        latest = state.evidence.get(state.stage or "", {})
        why = latest.get("reason") or (
            f"{latest.get('scored', 0)}/{cfg.shadow_requests} requests scored in shadow"
        )
        reason = f"timed out after {cfg.timeout_seconds / 60:g} min in stage {state.stage}: {why}"
        run.champion_only(f"release v{challenger}: {reason}")
        run.save("timed_out", reason)
    except _Interrupted as exc:
        run.save("failed", str(exc))
        raise ReleaseError(str(exc)) from None
    except BaseException as exc:  # Ctrl-C included: never leave the challenger answering
        reason = f"release flow failed in stage {state.stage}: {type(exc).__name__}: {exc}"
        try:
            run.champion_only(f"release v{challenger}: {reason}")
        except Exception as again:
            reason += f"; champion-only could not be restored either: {again}"
        run.save("failed", reason)
        raise
    return state
