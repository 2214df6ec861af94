"""The Bento service over real HTTP on 127.0.0.1: `bentoml serve` in a subprocess.

Models are written to a temporary BentoML store and pinned by environment; the
misbehaving challengers come from tests/services/faulty_models.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines import io
from services.prediction_log.policy_store import PolicyStore
from services.prediction_log.writer import PredictionLog
from tests.conftest import BIN, ROOT, free_port, wait_http
from tests.services.faulty_models import Exploding, Gated

pytestmark = pytest.mark.integration

API_KEY, ADMIN_KEY = "client-key-for-tests-0001", "admin-key-for-tests-0001"
CLIENT = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"X-API-Key": ADMIN_KEY}


def store_model(home: Path, name: str, model: Any, version: str, threshold: float) -> str:
    """Write a DelayModel into a BentoML store the way `mlops package` does."""
    code = (
        "import sys, bentoml, joblib\n"
        "from pathlib import Path\n"
        "model = joblib.load(sys.argv[1])\n"
        "meta = {'registry_version': sys.argv[3], 'threshold': float(sys.argv[4])}\n"
        "with bentoml.models.create(sys.argv[2], labels={}, metadata=meta) as m:\n"
        "    joblib.dump(model, Path(m.path) / 'model.joblib')\n"
        "print(m.tag)\n"
    )
    dumped = home / f"{name}.joblib"
    io.write_joblib(dumped, model)
    done = subprocess.run(
        [str(BIN / "python"), "-c", code, str(dumped), name, version, str(threshold)],
        env={**os.environ, "BENTOML_HOME": str(home)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    """A running `bentoml serve` of the source service."""

    url: str
    proc: subprocess.Popen[bytes]
    log_url: str
    logfile: Path

    def stop(self) -> int:
        """SIGTERM, as an orchestrator would; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def predict(self, row: dict[str, Any], **params: Any) -> httpx.Response:
        url = f"{self.url}/predict"
        return httpx.post(url, json=row, headers=CLIENT, params=params, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained) -> Iterator[Callable[..., Server]]:
    """Start servers: `served(challenger, log_url=None)`; all are stopped at the end."""
    base = tmp_path_factory.mktemp("bento")
    home = base / "bentoml"
    home.mkdir()
    champion = store_model(home, "delay-champion", trained["lgbm"], "1", 0.5)
    started: list[Server] = []

    def start(challenger: Any, name: str, log_url: str | None = None) -> Server:
        from pipelines.model import DelayModel

        model = DelayModel("challenger", challenger, trained["logreg"].encoder)
        tag = store_model(home, f"delay-{name}", model, "2", 0.5)
        state = base / name
        state.mkdir(exist_ok=True)
        log_url = log_url or f"sqlite:///{state / 'predictions.db'}"
        port = free_port()
        env = {
            **os.environ,
            "BENTOML_HOME": str(home),
            "BENTOML_DO_NOT_TRACK": "true",
            "MLOPS_CHAMPION_TAG": champion,
            "MLOPS_CHALLENGER_TAG": tag,
            "MLOPS_STATE_ROOT": str(state),
            "MLOPS_API_KEY": API_KEY,
            "MLOPS_ADMIN_KEY": ADMIN_KEY,
            "MLOPS_PREDICTION_LOG_URL": log_url,
        }
        logfile = state / "server.log"
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                [
                    str(BIN / "bentoml"),
                    "serve",
                    "services.bento_service:DelayService",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--working-dir",
                    str(ROOT),
                ],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(f"http://127.0.0.1:{port}", proc, log_url, logfile)
        started.append(server)
        try:
            wait_http(f"{server.url}/ready", 120, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{logfile.read_text()[-4000:]}") from None
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.stop()


@pytest.fixture
def body(rows) -> Callable[[int], dict[str, Any]]:
    def make(i: int = 0) -> dict[str, Any]:
        row = rows(3, seed=i)[0]
        row["pickup_time"] = row["pickup_time"].isoformat()
        row["customer_id"] = f"K{i:06d}"
        row["delivery_id"] = f"D{i:06d}"
        return row

    return make


def set_policy(server: Server, **update: Any) -> dict[str, Any]:
    got = httpx.put(f"{server.url}/admin/policy", json=update, headers=ADMIN, timeout=30)
    assert got.status_code == 200, got.text
    return got.json()["policy"]


def read_log(url: str) -> Any:
    log = PredictionLog(url)
    log.open()
    try:
        return log.read_predictions()
    finally:
        log.close()


def test_shadow_challenger_that_waits_never_holds_an_answer(
    served, body, trained, tmp_path
) -> None:
    gate = tmp_path / "open"
    server = served(Gated(trained["logreg"].estimator, gate), "gated")
    assert httpx.get(f"{server.url}/predict", timeout=10).status_code == 405
    assert httpx.post(f"{server.url}/predict", json=body(0), timeout=10).status_code == 401

    set_policy(server, mode="shadow", reason="test")
    # the challenger waits up to 60 s for the gate, the client 30 s for an answer:
    # every answer arrives while the challenger is still busy
    answers = [server.predict(body(i)) for i in range(20)]
    assert all(a.status_code == 200 for a in answers), answers[0].text
    assert {a.json()["variant"] for a in answers} == {"champion"}
    gate.touch()

    # round trip: feedback by request id and by delivery id
    first = answers[0].json()
    fb = httpx.post(
        f"{server.url}/feedback",
        json={"request_id": first["request_id"], "delayed": True},
        headers=CLIENT,
        timeout=10,
    )
    assert fb.status_code == 202
    fb = httpx.post(
        f"{server.url}/feedback", json={"delivery_id": "D000001", "delayed": False}, headers=CLIENT
    )
    assert fb.status_code == 202

    # A/B: sticky by customer, close to its weight
    set_policy(server, mode="ab", challenger_weight=0.3, reason="test")
    rows = [body(i) for i in range(300)]
    first_pass = [
        p["variant"]
        for p in httpx.post(
            f"{server.url}/predict/batch", json={"deliveries": rows}, headers=CLIENT, timeout=60
        ).json()["predictions"]
    ]
    second_pass = [
        p["variant"]
        for p in httpx.post(
            f"{server.url}/predict/batch", json={"deliveries": rows}, headers=CLIENT, timeout=60
        ).json()["predictions"]
    ]
    assert first_pass == second_pass
    assert 0.2 < first_pass.count("challenger") / len(first_pass) < 0.4

    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'mlops_shadow_predictions_total{model_version="2",outcome="ok"} 20.0' in metrics
    assert "mlops_predicted_probability_bucket" in metrics
    assert 'mlops_feedback_total{outcome="1"} 1.0' in metrics

    assert server.stop() == 0
    log = read_log(server.log_url)
    assert len(log) == 20 + 600
    shadowed = log[log["mode"] == "shadow"]
    assert shadowed["shadow_probability"].notna().all()
    assert log.loc[log["request_id"] == first["request_id"], "outcome"].tolist() == [1]
    assert set(log.loc[log["delivery_id"] == "D000001", "outcome"]) == {0}


def test_failing_challenger_changes_no_answer_and_canary_falls_back(served, body) -> None:
    server = served(Exploding(), "exploding")
    baseline = [server.predict(body(i)).json()["delay_probability"] for i in range(10)]
    set_policy(server, mode="shadow", reason="test")
    shadowed = [server.predict(body(i)) for i in range(10)]
    assert [r.status_code for r in shadowed] == [200] * 10
    assert [r.json()["delay_probability"] for r in shadowed] == baseline

    set_policy(server, mode="canary", challenger_weight=0.5, reason="test")
    answers = [server.predict(body(i)) for i in range(200)]
    assert all(a.status_code == 200 for a in answers)
    assert {a.json()["variant"] for a in answers} == {"champion"}
    policy = httpx.get(f"{server.url}/admin/policy", headers=ADMIN, timeout=10).json()
    assert policy["policy"]["mode"] == "champion"
    assert policy["history"][0]["changed_by"] == "canary-guardrail"
    assert "error rate" in policy["history"][0]["reason"]
    assert server.stop() == 0


def test_policy_and_every_answered_request_survive_a_restart_on_postgresql(
    served, body, trained, postgres_url
) -> None:
    """The production profile: prediction log and policy history in PostgreSQL."""
    log_url = postgres_url
    challenger = trained["logreg"].estimator
    server = served(challenger, "restart", log_url=log_url)
    set_policy(server, mode="ab", challenger_weight=0.25, reason="before restart")
    sent = [server.predict(body(i)) for i in range(60)]
    assert all(r.status_code == 200 for r in sent)
    assert server.stop() == 0  # graceful: the log is flushed before the process ends
    assert len(read_log(log_url)) == 60

    again = served(challenger, "restart", log_url=log_url)
    ready = httpx.get(f"{again.url}/ready", timeout=10).json()
    assert ready["mode"] == "ab"
    store = PolicyStore(log_url)
    store.open()
    try:
        assert store.current().reason == "before restart"
    finally:
        store.close()
    assert again.stop() == 0
