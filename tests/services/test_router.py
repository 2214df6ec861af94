from __future__ import annotations

import time

import pandas as pd
import pytest

from services import router as router_module
from services.policy import Guardrails, TrafficPolicy
from services.prediction_log.writer import PredictionLog
from services.router import PolicyError
from services.served_model import ServedModel
from tests.services.faulty_models import Exploding, Gated


def logged(router) -> pd.DataFrame:
    assert router.flush(timeout=20)
    return router.log.read_predictions()


def test_champion_answers_with_its_version_threshold_and_decision(make_router, rows) -> None:
    router = make_router()
    answers = router.predict(rows(10))
    assert {a.variant for a in answers} == {"champion"}
    assert {a.model_version for a in answers} == {"1"}
    for a in answers:
        assert 0 <= a.probability <= 1
        assert a.decision == (a.probability >= a.threshold)
    assert len({a.request_id for a in answers}) == 10


def test_answers_match_the_offline_model(make_router, rows, trained, schema) -> None:
    from pipelines.features import featurize

    batch = rows(15, seed=2)
    answers = make_router().predict(batch)
    offline = trained["lgbm"].predict_proba(featurize(pd.DataFrame(batch), schema))
    assert [a.probability for a in answers] == pytest.approx(list(offline))


def test_reasons_name_three_features(make_router, rows) -> None:
    answer = make_router().predict(rows(3), want_reasons=True)[0]
    assert answer.reasons is not None
    assert len(answer.reasons) == 3
    assert all(isinstance(f, str) and isinstance(c, float) for f, c in answer.reasons)


def test_every_request_is_logged_with_its_features(make_router, rows) -> None:
    router = make_router()
    answers = router.predict(rows(12))
    log = logged(router)
    assert list(log["request_id"]) == [a.request_id for a in answers]
    assert log["distance_km"].notna().all()
    assert (log["mode"] == "champion").all()
    assert log["shadow_version"].isna().all()


def test_shadow_logs_both_models_and_returns_only_the_champion(make_router, rows) -> None:
    router = make_router(mode="shadow")
    answers = router.predict(rows(30))
    assert {a.variant for a in answers} == {"champion"}
    log = logged(router)
    assert (log["shadow_version"] == "2").all()
    assert log["shadow_probability"].between(0, 1).all()
    assert log["shadow_error"].isna().all()


def test_a_failing_shadow_challenger_changes_no_answer(make_router, rows) -> None:
    batch = rows(20)
    expected = [a.probability for a in make_router(challenger=None).predict(batch)]
    router = make_router(challenger=Exploding(), mode="shadow")
    assert [a.probability for a in router.predict(batch)] == expected
    log = logged(router)
    assert log["shadow_error"].str.contains("challenger exploded").all()


def test_the_answer_returns_while_the_shadow_challenger_is_still_busy(
    make_router, rows, trained, tmp_path
) -> None:
    gate = tmp_path / "gate"
    router = make_router(challenger=Gated(trained["logreg"].estimator, gate), mode="shadow")
    answers = router.predict(rows(5))
    assert len(answers) == 5  # answered, though the challenger waits for the gate
    assert router.log.count() == 0 or router.log.read_predictions()["shadow_version"].isna().all()
    gate.touch()
    log = logged(router)
    assert len(log) == 5
    assert log["shadow_probability"].notna().all()


def test_shadow_work_is_shed_when_its_queue_is_full(make_router, rows, trained, tmp_path) -> None:
    gate = tmp_path / "gate"
    router = make_router(
        challenger=Gated(trained["logreg"].estimator, gate), mode="shadow", shadow_capacity=1
    )
    for _ in range(4):
        router.predict(rows(2))
    gate.touch()
    log = logged(router)
    assert len(log) == 8
    assert (log["shadow_error"] == "shed").sum() >= 2
    shed = router.metrics.registry.get_sample_value(
        "mlops_shadow_predictions_total", {"model_version": "2", "outcome": "shed"}
    )
    assert shed is not None and shed >= 2


def test_ab_split_is_sticky_and_close_to_its_weight(make_router, rows) -> None:
    router = make_router(mode="ab", weight=0.3)
    batch = rows(400, seed=5)
    for i, row in enumerate(batch):
        row["customer_id"] = f"K{i:05d}"
    first = [a.variant for a in router.predict(batch)]
    assert [a.variant for a in router.predict(batch)] == first
    share = first.count("challenger") / len(first)
    assert 0.22 < share < 0.38


def test_a_failing_ab_challenger_falls_back_to_the_champion(make_router, rows) -> None:
    router = make_router(challenger=Exploding(), mode="ab", weight=0.5)
    answers = router.predict(rows(40))
    assert {a.variant for a in answers} == {"champion"}
    errors = router.metrics.registry.get_sample_value(
        "mlops_prediction_errors_total", {"variant": "challenger", "model_version": "2"}
    )
    assert errors == 1


def test_canary_falls_back_to_champion_when_the_challenger_fails(make_router, rows) -> None:
    router = make_router(
        challenger=Exploding(),
        mode="canary",
        weight=0.5,
        guardrails=Guardrails(
            max_error_rate=0.02, max_p99_ms=50, min_requests=5, window_requests=50
        ),
    )
    for i in range(12):
        batch = rows(2, seed=i)
        for j, row in enumerate(batch):
            row["customer_id"] = f"K{i}-{j}"
        router.predict(batch)
    assert router.policy.mode == "champion"
    last = router.policies.current()
    assert last is not None
    assert last.changed_by == "canary-guardrail"
    assert "error rate" in last.reason


def test_policy_survives_a_restart(make_router, rows) -> None:
    make_router(mode="ab", weight=0.25)
    second = make_router()  # same database: adopts the stored policy
    assert second.policy.mode == "ab"
    assert second.policy.challenger_weight == 0.25
    history = second.policies.history()
    assert [c.policy["mode"] for c in history[:1]] == ["ab"]


def test_a_policy_change_by_another_replica_is_picked_up(make_router) -> None:
    one, two = make_router(), make_router()
    one.set_policy(TrafficPolicy(mode="shadow"), "test", "replica one")
    assert two.refresh_policy()
    assert two.policy.mode == "shadow"


def follows(router, mode: str, champion: str = "1") -> None:
    """Wait for the router's refresher to apply the stored policy."""
    deadline = time.monotonic() + 10
    while (router.policy.mode, router.policy.champion) != (mode, champion):
        assert time.monotonic() < deadline, router.policy
        time.sleep(0.05)


def test_a_replica_fetches_the_version_the_shared_policy_names(
    make_router, rows, trained, schema
) -> None:
    fetched: list[str] = []

    def fetch(version: str) -> ServedModel:
        fetched.append(version)
        return ServedModel.build(version, 0.5, trained["logreg"], schema)

    one = make_router()  # the replica the release flow's admin call reached: holds 1 and 2
    two = make_router(challenger=None, fetch=fetch)  # packaged before 2 existed
    one.set_policy(TrafficPolicy(mode="ab", challenger_weight=0.5), "release-flow", "A/B")
    follows(two, "ab")
    assert two.policy.challenger == "2" and fetched == ["2"]
    assert {a.model_version for a in two.predict(rows(200))} == {"1", "2"}
    one.set_policy(TrafficPolicy(champion="2", challenger="1"), "release-flow", "promote")
    follows(two, "champion", champion="2")
    assert {a.model_version for a in two.predict(rows(4))} == {"2"}
    assert fetched == ["2"]  # fetched once, kept


def test_a_replica_that_cannot_fetch_keeps_its_champion_and_tries_again(
    make_router, rows, monkeypatch
) -> None:
    attempts: list[str] = []

    def fetch(version: str) -> ServedModel:
        attempts.append(version)
        raise LookupError("registry unreachable")

    monkeypatch.setattr(router_module, "FETCH_RETRY_SECONDS", 0.1)
    one, two = make_router(), make_router(challenger=None, fetch=fetch)
    one.set_policy(TrafficPolicy(mode="ab", challenger_weight=0.5), "release-flow", "A/B")
    deadline = time.monotonic() + 10
    while len(attempts) < 2:  # the refresher tries again while the policy stands
        assert time.monotonic() < deadline, attempts
        time.sleep(0.05)
    assert set(attempts) == {"2"}
    assert two.policy.mode == "champion" and two.policy.champion == "1"
    assert {a.model_version for a in two.predict(rows(20))} == {"1"}


def test_without_fetch_a_version_it_lacks_is_refused(make_router) -> None:
    router = make_router(challenger=None)
    with pytest.raises(PolicyError, match="challenger version 7 is not loaded here"):
        router.set_policy(TrafficPolicy(mode="shadow", champion="1", challenger="7"), "test", "")


def test_modes_that_need_a_challenger_are_refused_without_one(make_router) -> None:
    router = make_router(challenger=None)
    with pytest.raises(PolicyError, match="needs a challenger"):
        router.set_policy(TrafficPolicy(mode="shadow"), "test", "")


def test_promotion_swaps_roles_at_once(make_router, rows) -> None:
    router = make_router()
    router.set_policy(TrafficPolicy(champion="2", challenger="1"), "test", "promote")
    assert {a.model_version for a in router.predict(rows(4))} == {"2"}


def test_close_writes_every_accepted_request(make_router, rows, tmp_path) -> None:
    router = make_router(mode="shadow")
    for i in range(25):
        router.predict(rows(4, seed=i))
    router.close()
    reader = PredictionLog(f"sqlite:///{tmp_path / 'serving' / 'predictions.db'}")
    reader.open()
    try:
        assert reader.count() == 100
    finally:
        reader.close()
