"""The traffic simulator: what it sends, and a short run against the real app over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.cli.main import main
from flows.tools.simulate import build_traffic, simulate
from services.policy import TrafficPolicy
from tests.conftest import ROOT
from tests.flows.test_release import KEYS, build_router, cli_env, serve
from tests.services import conftest as service_fixtures

trained = service_fixtures.trained

START = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)


def test_traffic_sends_only_the_api_fields_and_keeps_the_outcome(schema) -> None:
    traffic = build_traffic(schema, "winter", 200, rate=10, seed=3, label_share=0.5, start=START)
    body = traffic.bodies[0]
    expected = {
        schema.id_column,
        schema.key_column,
        schema.time_column,
        *(c.name for c in schema.numeric),
        *schema.categorical_names,
    }
    assert set(body) == expected
    assert schema.target not in body and "true_delay_prob" not in body
    times = [datetime.fromisoformat(b[schema.time_column]) for b in traffic.bodies]
    assert times[0] == START and times[10] - times[0] == timedelta(seconds=1)
    customers = {b[schema.key_column] for b in traffic.bodies}
    assert len(customers) == 200  # one customer per delivery: the A/B split sees them all
    assert len({b[schema.id_column] for b in traffic.bodies}) == 200
    assert 0.3 < sum(traffic.labelled) / 200 < 0.7
    assert 0 < sum(traffic.outcomes) < 200
    again = build_traffic(schema, "winter", 200, rate=10, seed=3, label_share=0.5, start=START)
    assert again.outcomes == traffic.outcomes
    assert [b["precip_mm"] for b in again.bodies] == [b["precip_mm"] for b in traffic.bodies]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scenario": "monsoon"}, "scenario must be one of"),
        ({"rate": 0}, "rate and duration must be positive"),
        ({"label_share": 1.5}, "label_share"),
    ],
)
def test_simulate_refuses_bad_arguments(change, message) -> None:
    args = {"url": "http://127.0.0.1:9", "api_key": KEYS.api_key, "root": ROOT, **change}
    with pytest.raises(ValueError, match=message):
        simulate(**args)


@pytest.mark.integration
def test_simulate_paces_requests_splits_ab_and_sends_feedback(
    tmp_path: Path, schema, trained, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    router = build_router(
        schema, f"sqlite:///{tmp_path / 'log.db'}", trained["lgbm"], trained["logreg"].estimator
    )
    router.set_policy(TrafficPolicy(mode="ab", challenger_weight=0.5), "test", "split")
    lines: list[str] = []
    with serve(schema, router) as url:
        result = simulate(
            url,
            KEYS.api_key,
            "holiday_backlog",
            rate=40,
            duration=2.0,
            feedback_delay=0.2,
            label_share=0.5,
            seed=1,
            root=ROOT,
            progress=lines.append,
            progress_seconds=0.5,
        )
        assert router.flush(20)
        log = router.log.read_predictions()
        cli_env(monkeypatch, tmp_path)
        code = main(
            ["--root", str(ROOT), "simulate", "--url", url, "--rate", "10", "--duration", "1"]
        )
    assert result.planned == 80
    assert 0 < result.sent <= 80 and result.answered == result.sent, result.summary()
    assert result.errors == {} and result.feedback_errors == {}
    assert set(result.variants) == {"champion", "challenger"}
    assert 0 < result.feedback_sent < result.answered
    assert result.latency_p50_ms is not None and result.latency_p99_ms is not None
    assert lines and "sent" in lines[0]
    assert len(log) == result.answered
    assert int(log["outcome"].notna().sum()) == result.feedback_sent
    assert "holiday_backlog" in result.summary()
    assert code == 0
    assert "sent scenario none: " in capsys.readouterr().out
