from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.policy import CanaryWatch, Guardrails, TrafficPolicy, bucket, route

KEYS = [f"C{i:05d}" for i in range(20_000)]


def test_champion_and_shadow_send_everything_to_the_champion() -> None:
    for mode in ("champion", "shadow"):
        policy = TrafficPolicy(mode=mode)
        assert {route(policy, k) for k in KEYS[:500]} == {"champion"}


@pytest.mark.parametrize("weight", [0.05, 0.2, 0.5])
def test_ab_split_is_close_to_its_weight(weight: float) -> None:
    policy = TrafficPolicy(mode="ab", challenger_weight=weight)
    share = sum(route(policy, k) == "challenger" for k in KEYS) / len(KEYS)
    assert share == pytest.approx(weight, abs=0.015)


def test_assignment_is_sticky_per_key() -> None:
    policy = TrafficPolicy(mode="ab", challenger_weight=0.3)
    first = [route(policy, k) for k in KEYS[:2000]]
    assert [route(policy, k) for k in KEYS[:2000]] == first


def test_raising_the_weight_only_moves_keys_to_the_challenger() -> None:
    low = TrafficPolicy(mode="canary", challenger_weight=0.05)
    high = TrafficPolicy(mode="ab", challenger_weight=0.5)
    moved_back = [k for k in KEYS if route(low, k) == "challenger" and route(high, k) == "champion"]
    assert moved_back == []


def test_a_new_salt_reshuffles_keys() -> None:
    assert bucket("C00001", "v1") != bucket("C00001", "v2")
    assert 0 <= bucket("anything", "v1") < 1


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_ab_needs_a_weight_strictly_between_0_and_1(weight: float) -> None:
    with pytest.raises(ValidationError, match="challenger_weight"):
        TrafficPolicy(mode="ab", challenger_weight=weight)


def test_policy_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        TrafficPolicy.model_validate({"mode": "champion", "weights": 0.3})


GUARD = Guardrails(max_error_rate=0.1, max_p99_ms=50, min_requests=20, window_requests=100)


def test_canary_is_not_judged_before_min_requests() -> None:
    watch = CanaryWatch(GUARD)
    for _ in range(19):
        watch.observe(500.0, failed=True)
    assert watch.breach() is None


def test_canary_breaks_on_error_rate() -> None:
    watch = CanaryWatch(GUARD)
    for i in range(40):
        watch.observe(1.0, failed=i % 5 == 0)  # 20 % errors
    assert "error rate 20.0%" in (watch.breach() or "")


def test_canary_breaks_on_p99_latency() -> None:
    watch = CanaryWatch(GUARD)
    for i in range(100):
        watch.observe(80.0 if i % 20 == 0 else 2.0, failed=False)  # 5 % slow -> p99 slow
    assert "p99" in (watch.breach() or "")


def test_canary_within_guardrails_and_window_forgets_old_requests() -> None:
    watch = CanaryWatch(GUARD)
    for _ in range(100):
        watch.observe(1.0, failed=True)
    for _ in range(100):
        watch.observe(1.0, failed=False)
    assert watch.breach() is None
