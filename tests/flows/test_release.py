"""The release flow: fakes for its edge cases, then the real app over HTTP with live traffic.

The integration tests serve the FastAPI app in-process (uvicorn in a thread) with two
models, feed it with `simulate` from another thread, and let `run_release` drive the
service through its admin route exactly as `mlops release run` does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from flows.adapters.service_client import ServiceClient, ServiceError
from flows.adapters.tool_env import QUIET_ENV
from flows.cli.main import main
from flows.release import PredictionLogReader, ReleaseConfig, run_release
from flows.release_ops import STATE_FILE, ReleaseError, describe_state, read_state, rollback
from flows.tools.simulate import SimulationResult, simulate
from pipelines import io
from pipelines.config import ServeParams
from pipelines.model import DelayModel
from services.app import ServiceState, create_app
from services.auth import Keys
from services.metrics import ServingMetrics
from services.policy import CanaryWatch, Guardrails, TrafficPolicy
from services.prediction_log import PolicyStore, PredictionLog
from services.router import Router
from services.served_model import ServedModel
from tests.conftest import ROOT, free_port, wait_http
from tests.services import conftest as service_fixtures
from tests.services.faulty_models import Exploding

trained = service_fixtures.trained  # the session's LightGBM and logistic regression

KEYS = Keys(api_key="client-key-for-release-01", admin_key="admin-key-for-release-01")
THRESHOLD = 0.2  # the tiny LightGBM warns ~21% of winter deliveries here, recall ~0.75


class Constant:
    """A challenger that gives every delivery the same probability (it never warns)."""

    def __init__(self, probability: float) -> None:
        self.probability = probability

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        p = np.full(len(matrix), self.probability)
        return np.column_stack([1 - p, p])


class FakeRegistry:
    """RegistryOps that records the alias changes."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.fail = fail

    def threshold(self, version: str) -> float:
        return THRESHOLD

    def set_roles(self, champion: str, challenger: str | None) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("registry unreachable")
        self.calls.append((champion, challenger))
        return {"champion": {"version": champion}, "challenger": {"version": challenger}}


def config(**change: Any) -> ReleaseConfig:
    base = {
        "shadow_requests": 40,
        "min_agreement": 0.7,
        "ab_weight": 0.5,
        "min_labelled": 100,
        "alpha": 0.05,
        "margin": 0.35,
        "looks": 3,
        "poll_seconds": 0.25,
        "timeout_seconds": 240.0,
        "report_seconds": 5.0,
    }
    return ReleaseConfig(**{**base, **change})


# --------------------------------------------------------------- with fakes


class FakeService:
    """The admin route's behaviour, in memory: a policy and its history."""

    def __init__(self, challenger: str | None = "2", mode: str = "champion") -> None:
        self.policy: dict[str, Any] = {
            "mode": mode,
            "challenger_weight": 0.5 if mode == "ab" else 0.0,
            "champion": "1",
            "challenger": challenger,
        }
        self.history: list[dict[str, Any]] = []
        self.fail_on: str | None = None

    def status(self, history: int = 10) -> dict[str, Any]:
        return {"policy": dict(self.policy), "history": self.history[:history]}

    def set_policy(self, **update: Any) -> dict[str, Any]:
        if update["mode"] == self.fail_on:
            raise ServiceError(f"PUT /admin/policy: 503 refusing {self.fail_on}")
        changed_by = update.pop("changed_by", "admin-api")
        reason = update.pop("reason", "")
        if update["mode"] in ("champion", "shadow"):
            update.setdefault("challenger_weight", 0.0)
        self.policy = {**self.policy, **{k: v for k, v in update.items() if v is not None}}
        change = {
            "changed_at": datetime.now(UTC).isoformat(),
            "changed_by": changed_by,
            "reason": reason,
            "policy": dict(self.policy),
        }
        self.history.insert(0, change)
        return dict(self.policy)


def no_rows(since: datetime) -> pd.DataFrame:
    return pd.DataFrame(columns=["mode", "shadow_version", "variant", "outcome"])


class Clock:
    """A clock that moves a minute at every sleep."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(minutes=1)


def test_release_times_out_to_champion_only(tmp_path: Path) -> None:
    service, clock = FakeService(), Clock()
    state = run_release(
        service,
        no_rows,
        config(timeout_seconds=300),
        FakeRegistry(),
        tmp_path / STATE_FILE,
        clock=clock,
        sleep=clock.sleep,
    )
    assert state["stage"] == "timed_out"
    assert [s["stage"] for s in state["stages"]] == ["shadow", "timed_out"]
    assert "0/40 requests scored in shadow" in state["reason"]
    assert service.policy["mode"] == "champion"
    assert service.history[0]["changed_by"] == "release-flow"
    assert read_state(tmp_path / STATE_FILE) == state


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (FakeService(challenger=None), "no challenger is loaded"),
        (FakeService(mode="ab"), "a release starts from champion-only"),
    ],
)
def test_release_checks_its_preconditions(tmp_path: Path, service, message) -> None:
    with pytest.raises(ReleaseError, match=message):
        run_release(service, no_rows, config(), FakeRegistry(), tmp_path / "state.json")
    assert service.history == []
    assert not (tmp_path / "state.json").exists()


def test_release_needs_a_reachable_service(tmp_path: Path) -> None:
    client = ServiceClient(f"http://127.0.0.1:{free_port()}", KEYS.admin_key, timeout=2)
    with pytest.raises(ReleaseError, match="service not ready"):
        run_release(client, no_rows, config(), FakeRegistry(), tmp_path / "state.json")


def test_release_stops_when_someone_else_changes_the_policy(tmp_path: Path) -> None:
    service, clock = FakeService(), Clock()

    def sleep(seconds: float) -> None:  # while the flow waits, an admin steps in
        service.set_policy(mode="champion", changed_by="admin-api", reason="incident 42")

    with pytest.raises(ReleaseError, match="incident 42"):
        run_release(service, no_rows, config(), FakeRegistry(), tmp_path / "s.json", clock, sleep)
    state = read_state(tmp_path / "s.json")
    assert state is not None
    assert state["stage"] == "failed"
    assert service.history[0]["reason"] == "incident 42"  # the admin's policy is left alone


def test_a_failing_policy_change_ends_in_failed_and_champion_only(tmp_path: Path) -> None:
    service = FakeService()
    service.fail_on = "shadow"
    with pytest.raises(ServiceError):
        run_release(service, no_rows, config(), FakeRegistry(), tmp_path / "s.json")
    state = read_state(tmp_path / "s.json")
    assert state is not None
    assert state["stage"] == "failed"
    assert "503 refusing shadow" in state["reason"]
    assert service.policy["mode"] == "champion"


# ------------------------------------------------------ real app over HTTP


def build_router(schema: Any, url: str, champion: DelayModel, challenger: Any | None) -> Router:
    """A started router: champion v1 and (if any) challenger v2, both at THRESHOLD."""
    models = {"1": ServedModel.build("1", THRESHOLD, champion, schema)}
    if challenger is not None:
        model = DelayModel("challenger", challenger, champion.encoder)
        models["2"] = ServedModel.build("2", THRESHOLD, model, schema)
    log, policies = PredictionLog(url, flush_interval_s=0.05), PolicyStore(url)
    log.open()
    policies.open()
    router = Router(
        schema,
        models,
        TrafficPolicy(champion="1", challenger="2" if challenger is not None else None),
        log,
        policies,
        ServingMetrics(CollectorRegistry()),
        CanaryWatch(Guardrails(0.5, 10_000.0, 20, 100)),
        refresh_seconds=0.2,
    )
    router.start()
    return router


@contextmanager
def serve(schema: Any, router: Router) -> Iterator[str]:
    """The FastAPI app over `router` under uvicorn on a free port, in a thread."""
    import uvicorn

    app = create_app(schema, ServeParams(), ServiceState(router=router, keys=KEYS))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 60)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        router.close()


@contextmanager
def traffic(url: str, seed: int, rate: float = 60.0) -> Iterator[list[SimulationResult]]:
    """Winter deliveries at `rate`/s with every outcome 0.3 s later, until the block ends."""
    stop, results = threading.Event(), []

    def feed() -> None:
        results.append(
            simulate(url, KEYS.api_key, "winter", rate, 600.0, 0.3, 1.0, seed, root=ROOT, stop=stop)
        )

    thread = threading.Thread(target=feed, name="simulate", daemon=True)
    thread.start()
    try:
        yield results
    finally:
        stop.set()
        thread.join(timeout=60)


def release(
    tmp_path: Path, schema: Any, champion: DelayModel, challenger: Any, cfg: ReleaseConfig
) -> tuple[dict[str, Any], dict[str, Any], FakeRegistry]:
    """Serve, feed and release; (final state, final status, registry)."""
    log_url = f"sqlite:///{tmp_path / 'serving' / 'predictions.db'}"
    registry, lines = FakeRegistry(), list[str]()
    router = build_router(schema, log_url, champion, challenger)
    with serve(schema, router) as url, traffic(url, seed=5) as fed:
        client = ServiceClient(url, KEYS.admin_key)
        with PredictionLogReader(log_url) as reader:
            state = run_release(
                client, reader, cfg, registry, tmp_path / STATE_FILE, say=lines.append
            )
        status = client.status(history=50)
    assert fed and fed[0].answered > 0 and not fed[0].errors, fed
    assert lines, "the release reported its progress"
    assert read_state(tmp_path / STATE_FILE) == state
    return state, status, registry


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The keys in the environment, and what main() sets for the process, for one test."""
    for name, value in {
        **QUIET_ENV,
        "PREFECT_HOME": str(tmp_path / ".prefect"),
        "BENTOML_HOME": str(tmp_path / ".bentoml"),
        "MLOPS_API_KEY": KEYS.api_key,
        "MLOPS_ADMIN_KEY": KEYS.admin_key,
    }.items():
        monkeypatch.setenv(name, value)


def flow_reasons(status: dict[str, Any]) -> list[str]:
    """Reasons of the release flow's policy changes, oldest first."""
    return [c["reason"] for c in reversed(status["history"]) if c["changed_by"] == "release-flow"]


@pytest.mark.integration
def test_release_promotes_an_equally_good_challenger(tmp_path: Path, schema, trained) -> None:
    lgbm = trained["lgbm"]
    state, status, registry = release(tmp_path, schema, lgbm, lgbm.estimator, config())
    assert [s["stage"] for s in state["stages"]] == ["shadow", "ab", "promoted"], state["reason"]
    assert state["evidence"]["shadow"]["agreement"] == 1.0  # the same model
    assert state["evidence"]["ab"]["decision"] == "promote"
    assert status["policy"]["mode"] == "champion"
    assert (status["policy"]["champion"], status["policy"]["challenger"]) == ("2", "1")
    assert registry.calls == [("2", "1")]
    assert state["previous_champion"] == "1"
    reasons = flow_reasons(status)
    assert len(reasons) == 3
    assert "shadow until" in reasons[0]
    assert "shadow passed (agreement 100.0%" in reasons[1]
    assert "promoted" in reasons[2] and "non-inferior" in reasons[2]
    assert "promoted" in "\n".join(describe_state(state))


@pytest.mark.integration
def test_release_rejects_a_failing_challenger_in_shadow(tmp_path: Path, schema, trained) -> None:
    state, status, registry = release(tmp_path, schema, trained["lgbm"], Exploding(), config())
    assert [s["stage"] for s in state["stages"]] == ["shadow", "rejected"]
    assert state["reason"].startswith("rejected in shadow: shadow errors")
    assert state["evidence"]["shadow"]["error_rate"] == 1.0
    assert (status["policy"]["mode"], status["policy"]["champion"]) == ("champion", "1")
    assert "rejected in shadow" in flow_reasons(status)[-1]
    assert registry.calls == []


@pytest.mark.integration
def test_release_rejects_a_challenger_with_bad_recall_in_ab(
    tmp_path: Path, schema, trained
) -> None:
    state, status, registry = release(
        tmp_path, schema, trained["lgbm"], Constant(0.01), config(min_agreement=0.5)
    )
    assert [s["stage"] for s in state["stages"]] == ["shadow", "ab", "rejected"], state["reason"]
    ab = state["evidence"]["ab"]
    assert ab["decision"] == "reject"
    assert ab["variants"]["challenger"]["recall"] == 0.0
    assert "inferior" in state["reason"]
    assert (status["policy"]["mode"], status["policy"]["champion"]) == ("champion", "1")
    assert registry.calls == []


@pytest.mark.integration
def test_rollback_after_a_promotion_restores_the_registry(
    tmp_path: Path, schema, trained, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    router = build_router(
        schema, f"sqlite:///{tmp_path / 'log.db'}", trained["lgbm"], trained["logreg"].estimator
    )
    path = tmp_path / STATE_FILE
    io.write_json(
        path,
        {
            "stage": "promoted",
            "champion": "1",
            "challenger": "2",
            "previous_champion": "1",
            "started_at": "2026-11-25T12:00:00+00:00",
            "updated_at": "2026-11-25T12:30:00+00:00",
            "reason": "promoted: ...",
            "evidence": {},
            "stages": [],
        },
    )
    registry = FakeRegistry()
    with serve(schema, router) as url:
        client = ServiceClient(url, KEYS.admin_key)
        client.set_policy(mode="champion", champion="2", challenger="1", changed_by="release-flow")
        policy, notes = rollback(client, lambda: registry, path, "v2 misbehaves")
        cli_env(monkeypatch, tmp_path)
        assert main(["--root", str(tmp_path), "release", "status", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "mode champion; champion v1, challenger v2" in out
    assert "release flow: v2 against champion v1: rolled_back" in out
    assert (policy["champion"], policy["challenger"]) == ("1", "2")
    assert registry.calls == [("1", "2")]
    assert notes and "champion alias back on v1" in notes[0]
    state = read_state(path)
    assert state is not None and state["stage"] == "rolled_back"


@pytest.mark.integration
def test_release_flow_runs_on_a_prefect_server(
    tmp_path: Path, schema, trained, prefect_server: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`mlops release run`: the Prefect flow, on the session's server, against the app."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    for name in ("params.yaml", "project.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    io.write_json(
        tmp_path / "reports" / "registry.json",
        {
            "model_name": "parcel-delay",
            "champion": {"version": "1", "fingerprint": "", "threshold": THRESHOLD},
            "challenger": {"version": "2", "fingerprint": "", "threshold": THRESHOLD},
        },
    )
    log_url = f"sqlite:///{tmp_path / 'serving' / 'predictions.db'}"
    cli_env(monkeypatch, tmp_path)
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_URL", log_url)
    router = build_router(schema, log_url, trained["lgbm"], Exploding())
    with serve(schema, router) as url, temporary_settings({PREFECT_API_URL: prefect_server}):
        # no traffic: the shadow stage waits, times out, and hands back to the champion
        args = ["--poll-seconds", "0.2", "--timeout-minutes", "0.02", "--url", url]
        code = main(["--root", str(tmp_path), "release", "run", *args])
        status = ServiceClient(url, KEYS.admin_key).status()
        APILogWorker.drain_all(timeout=10)  # the flow's logs, while the server still runs
    assert code == 1  # timed out: no decision
    state = read_state(tmp_path / STATE_FILE)
    assert state is not None and state["stage"] == "timed_out"
    assert "release flow: v2 against champion v1: timed_out" in capsys.readouterr().out
    assert status["policy"]["mode"] == "champion"
    assert status["history"][0]["reason"].startswith("release v2: timed out")
    assert (tmp_path / "state" / "metrics" / "flow_release.prom").is_file()


@pytest.mark.integration
def test_mlflow_registry_moves_the_aliases_and_rewrites_registry_json(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    from flows.adapters import tracking
    from flows.adapters.registry import alias_version, set_alias
    from flows.release_ops import MlflowRegistry
    from pipelines.config import Runtime

    runtime = Runtime(tracking_uri=None, model_name="release-test")  # tmp_path/mlflow.db
    registry, previous = MlflowRegistry(tmp_path, runtime), mlflow.get_tracking_uri()
    try:
        tracking.connect(tmp_path, runtime)
        client = MlflowClient()
        client.create_registered_model("release-test")
        for threshold in (0.3, 0.4):
            client.create_model_version(
                "release-test", str(tmp_path), tags={"threshold": repr(threshold)}
            )
        set_alias("release-test", "champion", "1")
        set_alias("release-test", "challenger", "2")
        assert registry.threshold("2") == 0.4  # from the registry's tag: no registry.json yet
        state = registry.set_roles("2", "1")
        assert alias_version("release-test", "champion").version == "2"  # type: ignore[union-attr]
        assert alias_version("release-test", "challenger").version == "1"  # type: ignore[union-attr]
        assert io.read_json(tmp_path / "reports" / "registry.json") == state
        assert (state["champion"]["version"], state["champion"]["threshold"]) == ("2", 0.4)
        assert registry.threshold("1") == 0.3  # now from registry.json
    finally:
        mlflow.set_tracking_uri(previous)
