"""The serving core: route each row to a model, answer, shadow, log, watch the canary.

Framework-free (the HTTP app and the Bento are thin layers over it). The
champion's answer is computed inline; the challenger's shadow work goes to a
bounded pool and is the first thing shed under load; logging is a queue append.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipelines.schema import Schema
from services.answers import Answer, prediction_record
from services.metrics import ServingMetrics, count_unknown_categories
from services.policy import MODES, CanaryWatch, TrafficPolicy, Variant, route
from services.prediction_log.policy_store import PolicyStore
from services.prediction_log.records import FeedbackRecord
from services.prediction_log.writer import PredictionLog
from services.served_model import ServedModel
from services.shadow import ShadowScorer

log = logging.getLogger(__name__)


class PolicyError(ValueError):
    """A requested traffic policy cannot be applied (e.g. no challenger is loaded)."""


PACKAGED_BY = "package"
"""`changed_by` of the first policy row: the roles the service was packaged with."""
FETCH_RETRY_SECONDS = 30.0
"""How soon a replica tries again to fetch a version the stored policy names."""


class Router:
    """Holds the loaded models and the policy in force; answers, shadows and logs requests."""

    def __init__(
        self,
        schema: Schema,
        models: Mapping[str, ServedModel],
        packaged: TrafficPolicy,
        prediction_log: PredictionLog,
        policies: PolicyStore,
        metrics: ServingMetrics,
        canary: CanaryWatch,
        shadow_capacity: int = 1000,
        reasons_k: int = 3,
        refresh_seconds: float = 2.0,
        canary_share: float = 0.05,
        fetch: Callable[[str], ServedModel] | None = None,
    ) -> None:
        """`models` by registry version; `packaged` names the packaged champion/challenger.

        `fetch` loads a registry version this replica lacks when a policy names
        it (another replica hot-loaded or promoted it); None: such a policy is
        refused here and the replica answers with its champion alone.
        """
        if packaged.champion not in models:
            raise ValueError(f"champion version {packaged.champion!r} is not loaded")
        self.schema = schema
        self.models = dict(models)
        self.packaged = packaged
        self.log = prediction_log
        self.policies = policies
        self.metrics = metrics
        self.canary = canary
        self.reasons_k = reasons_k
        self.canary_share = canary_share
        """Challenger weight a canary starts with when the admin gives none."""
        self.fetch = fetch
        self._retry_at: float | None = None
        self._shadow = ShadowScorer(shadow_capacity, metrics, prediction_log)
        self._lock = threading.Lock()
        self._policy = packaged
        self._policy_id: int | None = None
        self._refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # ------------------------------------------------------------------ policy

    @property
    def policy(self) -> TrafficPolicy:
        """The policy in force."""
        return self._policy

    def start(self) -> None:
        """Adopt the stored policy (if it fits the loaded models) and start background work.

        A store without any policy gets the packaged one as its first row, so the
        history always shows which champion served first (what a rollback goes back to).
        """
        if self.policies.current() is None:
            packaged = self.packaged
            roles = f"champion v{packaged.champion}, challenger v{packaged.challenger}"
            self.policies.record(packaged.model_dump(), PACKAGED_BY, f"as packaged: {roles}")
        self.refresh_policy()
        self._shadow.pool.start()
        self._publish()
        self._refresher = threading.Thread(target=self._refresh_loop, name="policy", daemon=True)
        self._refresher.start()
        self.metrics.ready.set(1)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._refresh_seconds):
            try:
                self.refresh_policy()
            except Exception:  # the store may be briefly unreachable; keep the policy in force
                log.exception("could not reread the traffic policy")

    def _fit(self, policy: TrafficPolicy) -> TrafficPolicy:
        """The policy with its roles filled in from the packaged ones; PolicyError if impossible."""
        champion = policy.champion or self.packaged.champion
        challenger = policy.challenger if policy.champion else self.packaged.challenger
        for role, version in (("champion", champion), ("challenger", challenger)):
            if version is not None and version not in self.models:
                self._fetch(role, version)
        if policy.uses_challenger and challenger is None:
            raise PolicyError(f"mode {policy.mode} needs a challenger and none is packaged")
        if champion == challenger:
            raise PolicyError(f"version {champion} cannot be champion and challenger at once")
        return policy.model_copy(update={"champion": champion, "challenger": challenger})

    def _fetch(self, role: str, version: str) -> None:
        """Load a version a policy names and this replica lacks; PolicyError if impossible."""
        try:
            self.ensure_version(version, role)
        except LookupError as exc:
            raise PolicyError(f"{role} {exc}") from None

    def ensure_version(self, version: str, role: str = "champion") -> None:
        """Hold `version` (for `role`), fetched from the registry if need be; else LookupError."""
        if version in self.models:
            return
        lacking = f"version {version} is not loaded here (loaded: {', '.join(sorted(self.models))})"
        if self.fetch is None:
            raise LookupError(lacking)
        try:
            served = self.fetch(version)
        except Exception as exc:  # whatever the registry says, the champion keeps answering
            raise LookupError(f"{lacking} and cannot be fetched: {exc}") from None
        if served.version != version:
            raise LookupError(f"{lacking}; the registry gave version {served.version}")
        self.models = {**self.models, version: served}
        log.info("version %s fetched from the registry as %s", version, role)

    def refresh_policy(self) -> bool:
        """Reread the stored policy; apply it when it changed. True when something changed.

        A policy that could not be applied because a version could not be
        fetched is tried again every `FETCH_RETRY_SECONDS` (champion only meanwhile).
        """
        change = self.policies.current()
        retry = self._retry_at is not None and time.monotonic() >= self._retry_at
        if change is None or (change.id == self._policy_id and not retry):
            return False
        self._retry_at = None
        try:
            policy = self._fit(TrafficPolicy.model_validate(change.policy))
        except (PolicyError, ValueError) as exc:
            log.warning("stored policy %s not applicable here (%s); champion only", change.id, exc)
            policy = self._fit(TrafficPolicy(mode="champion"))
            if self.fetch is not None:
                self._retry_at = time.monotonic() + FETCH_RETRY_SECONDS
        with self._lock:
            self._policy, self._policy_id = policy, change.id
            self.canary.reset()
        self._publish()
        return True

    def set_policy(self, policy: TrafficPolicy, changed_by: str, reason: str) -> TrafficPolicy:
        """Apply and store a new policy (every change is a row in the policy history)."""
        fitted = self._fit(policy)
        change = self.policies.record(fitted.model_dump(), changed_by, reason)
        with self._lock:
            self._policy, self._policy_id = fitted, change.id
            self.canary.reset()
        self.metrics.policy_changes.labels(changed_by).inc()
        self._publish()
        log.info("traffic policy %s by %s: %s", fitted.mode, changed_by, reason)
        return fitted

    def _publish(self) -> None:
        policy, m = self._policy, self.metrics
        for mode in MODES:
            m.traffic_mode.labels(mode).set(1 if mode == policy.mode else 0)
        m.challenger_weight.set(policy.challenger_weight if policy.mode in ("ab", "canary") else 0)
        m.model_info.clear()
        m.model_info.labels("champion", policy.champion).set(1)
        if policy.challenger:
            m.model_info.labels("challenger", policy.challenger).set(1)

    # ----------------------------------------------------------------- predict

    def _key(self, row: Mapping[str, Any], request_id: str) -> str:
        key = row.get(self.schema.key_column) if self.schema.key_column else None
        return str(key or row.get(self.schema.id_column) or request_id)

    def predict(
        self, rows: Sequence[Mapping[str, Any]], want_reasons: bool = False
    ) -> list[Answer]:
        """Answer validated rows under the policy in force."""
        started = time.perf_counter()
        received = datetime.now(UTC)
        policy = self._policy
        ids = [uuid.uuid4().hex for _ in rows]
        variants: list[Variant] = [
            route(policy, self._key(r, i)) for r, i in zip(rows, ids, strict=True)
        ]
        answers: list[Answer | None] = [None] * len(rows)
        if "challenger" in variants:
            picked = [i for i, v in enumerate(variants) if v == "challenger"]
            if not self._answer(policy, "challenger", rows, ids, picked, want_reasons, answers):
                variants = ["champion"] * len(rows)  # the failed rows fall back
        picked = [i for i, v in enumerate(variants) if v == "champion"]
        if picked:
            self._answer(policy, "champion", rows, ids, picked, want_reasons, answers)
        done = [a for a in answers if a is not None]
        count_unknown_categories(self.metrics, self.schema, rows)
        latency_ms = (time.perf_counter() - started) * 1000
        records = [
            prediction_record(self.schema, policy.mode, r, a, received, latency_ms)
            for r, a in zip(rows, done, strict=True)
        ]
        if policy.mode == "shadow":
            assert policy.challenger is not None
            self._shadow.submit(policy.challenger, self.models[policy.challenger], rows, records)
        else:
            for record in records:
                self.log.append(record)
        return done

    def _answer(
        self,
        policy: TrafficPolicy,
        variant: Variant,
        rows: Sequence[Mapping[str, Any]],
        ids: list[str],
        picked: list[int],
        want_reasons: bool,
        answers: list[Answer | None],
    ) -> bool:
        """Score the picked rows with one variant; False when the challenger failed."""
        version = policy.champion if variant == "champion" else policy.challenger
        assert version is not None
        served = self.models[version]
        subset = [rows[i] for i in picked]
        t0 = time.perf_counter()
        try:
            matrix = served.encode(subset)
            proba = served.predict(matrix)
            reasons = served.reasons(matrix, self.reasons_k) if want_reasons else None
        except Exception:
            self.metrics.prediction_errors.labels(variant, version).inc()
            if variant == "champion":
                raise
            log.exception("challenger %s failed; its rows fall back to the champion", version)
            self._watch_canary(policy, (time.perf_counter() - t0) * 1000, failed=True)
            return False
        seconds = time.perf_counter() - t0
        m = self.metrics
        m.prediction_latency.labels(variant, version).observe(seconds)
        m.predictions.labels(variant, version).inc(len(picked))
        hist = m.probability.labels(variant, version)
        yes = no = 0
        for n, i in enumerate(picked):
            p = float(proba[n])
            decision = p >= served.threshold
            yes, no = yes + decision, no + (not decision)
            hist.observe(p)
            answers[i] = Answer(
                request_id=ids[i],
                delivery_id=rows[i].get(self.schema.id_column),
                probability=p,
                decision=decision,
                threshold=served.threshold,
                model_version=version,
                variant=variant,
                reasons=reasons[n] if reasons is not None else None,
            )
        if yes:
            m.decisions.labels(variant, version, "1").inc(yes)
        if no:
            m.decisions.labels(variant, version, "0").inc(no)
        if variant == "challenger":
            self._watch_canary(policy, seconds * 1000, failed=False)
        return True

    def _watch_canary(self, policy: TrafficPolicy, latency_ms: float, failed: bool) -> None:
        if policy.mode != "canary":
            return
        with self._lock:
            if self._policy is not policy:
                return
            self.canary.observe(latency_ms, failed)
            breach = self.canary.breach()
        if breach is not None:
            try:
                self.set_policy(
                    TrafficPolicy(
                        mode="champion", champion=policy.champion, challenger=policy.challenger
                    ),
                    "canary-guardrail",
                    breach,
                )
            except Exception:
                log.exception("canary fallback could not be stored; applying it in memory")
                with self._lock:
                    self._policy = policy.model_copy(update={"mode": "champion"})
                self._publish()

    # ---------------------------------------------------------------- feedback

    def feedback(self, outcome: bool, request_id: str | None, delivery_id: str | None) -> None:
        """Store a true outcome; it is joined to its prediction when monitoring reads the log."""
        self.log.add_feedback(
            FeedbackRecord(
                outcome=int(outcome),
                received_at=datetime.now(UTC),
                request_id=request_id,
                delivery_id=delivery_id,
            )
        )
        self.metrics.feedback.labels(str(int(outcome))).inc()

    def load_challenger(self, served: ServedModel, changed_by: str, reason: str) -> TrafficPolicy:
        """Hold a newly packaged model as challenger, champion-only until a release starts.

        The model joins the loaded ones (the current champion keeps answering
        throughout), so a release needs no restart.
        """
        current = self._policy
        if served.version == current.champion:
            raise PolicyError(f"version {served.version} is already the champion")
        self.models = {**self.models, served.version: served}
        policy = TrafficPolicy(
            mode="champion", champion=current.champion, challenger=served.version
        )
        return self.set_policy(policy, changed_by, reason)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait for shadow work, then for the log: True when everything so far is written."""
        return self._shadow.pool.wait_idle(timeout) and self.log.flush(timeout)

    def close(self) -> None:
        """Finish shadow work and flush the log: every accepted request is written."""
        self.metrics.ready.set(0)
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=5)
        self._shadow.pool.close()
        self.log.close()
        self.policies.close()
