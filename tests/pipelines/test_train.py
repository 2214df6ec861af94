from __future__ import annotations

import numpy as np
import pytest

from pipelines.baselines import build_baseline
from pipelines.evaluate import evaluate_candidates
from pipelines.explain import contributions, top_reasons
from pipelines.features import FeatureEncoder, featurize
from pipelines.predict import score
from pipelines.split import split_by_time
from pipelines.train import train_candidates
from pipelines.tune import search_space
from tests.conftest import tiny_deliveries


@pytest.fixture(scope="module")
def small_training(config, schema):
    frame = featurize(tiny_deliveries(n=900, seed=4), schema)
    splits = split_by_time(frame, "pickup_time", "delayed", 0.2, 0.2)
    params = config.params.train.model_copy(
        update={
            "lgbm": config.params.train.lgbm.model_copy(update={"n_estimators": 40}),
            "search": config.params.train.search.model_copy(update={"max_trials": 2}),
        }
    )
    return splits, train_candidates(splits, schema, params, 0.83), params


def test_every_candidate_is_trained(small_training) -> None:
    _, result, _ = small_training
    assert set(result.models) == {"baseline", "logreg", "lgbm"}
    assert len(result.trials) == 2
    assert {"num_leaves", "learning_rate", "valid_precision_at_recall"} <= set(result.trials)


def test_models_score_probabilities_per_row(small_training) -> None:
    splits, result, _ = small_training
    for model in result.models.values():
        proba = model.predict_proba(splits.holdout)
        assert proba.shape == (len(splits.holdout),)
        assert np.all((proba >= 0) & (proba <= 1))


def test_learned_models_beat_chance_on_planted_signal(small_training, config, schema) -> None:
    splits, result, _ = small_training
    ev = evaluate_candidates(
        result.models,
        splits,
        schema,
        config.params.evaluate,
        config.project.acceptance.model_copy(update={"slices": []}),
    )
    assert ev.candidates["lgbm"].holdout.roc_auc > 0.75
    assert ev.candidates["logreg"].holdout.roc_auc > 0.75
    assert ev.chosen in {"lgbm", "logreg"}


def test_heavier_rain_never_lowers_delay_risk(small_training) -> None:
    splits, result, _ = small_training
    model = result.models["lgbm"]
    rows = splits.holdout.head(50)
    before = model.predict_proba(rows)
    after = model.predict_proba(rows.assign(precip_mm=rows["precip_mm"] + 10))
    assert np.all(after >= before - 1e-12)


def test_training_is_reproducible(small_training, schema) -> None:
    splits, result, params = small_training
    again = train_candidates(splits, schema, params, 0.83)
    np.testing.assert_allclose(
        again.models["lgbm"].predict_proba(splits.holdout),
        result.models["lgbm"].predict_proba(splits.holdout),
    )


def test_score_flags_at_threshold(small_training) -> None:
    splits, result, _ = small_training
    out = score(result.models["logreg"], splits.holdout, 0.5)
    assert ((out["delay_probability"] >= 0.5) == out["delayed_predicted"].astype(bool)).all()


def test_contributions_explain_each_feature(small_training) -> None:
    splits, result, _ = small_training
    for model in result.models.values():
        matrix = model.encoder.encode(splits.holdout.head(10))
        contrib = contributions(model, matrix)
        assert contrib.shape == matrix.shape
    reasons = top_reasons(result.models["lgbm"], matrix, k=3)
    assert len(reasons) == 10 and all(len(r) == 3 for r in reasons)
    assert all(name in result.models["lgbm"].feature_names for name, _ in reasons[0])


def test_lgbm_contributions_sum_to_the_log_odds(small_training) -> None:
    splits, result, _ = small_training
    model = result.models["lgbm"]
    matrix = model.encoder.encode(splits.holdout.head(5))
    raw = model.estimator.booster_.predict(matrix, raw_score=True)
    full = model.estimator.booster_.predict(matrix, pred_contrib=True)
    np.testing.assert_allclose(full.sum(axis=1), raw, rtol=1e-6)
    assert contributions(model, matrix).shape[1] == full.shape[1] - 1


def test_baseline_fires_rules(schema, config) -> None:
    encoder = FeatureEncoder.from_schema(schema)
    rules = build_baseline(config.params.train.baseline.rules, encoder)
    features = featurize(tiny_deliveries(n=4), schema)
    features["precip_mm"] = [0.0, 30.0, 30.0, 0.0]
    features["depot_load"] = [0.5, 0.5, 1.5, 0.5]
    features["traffic_index"] = 0.1
    features["distance_km"] = 10.0
    features["area_type"] = ["urban", "urban", "rural", "urban"]
    proba = rules.predict_proba(encoder.encode(features))[:, 1]
    assert proba.tolist() == [0.0, 0.2, 0.6, 0.0]


def test_search_space_starts_from_params_and_is_capped(config) -> None:
    space = search_space(config.params.train)
    lgbm = config.params.train.lgbm
    assert space[0] == {"num_leaves": lgbm.num_leaves, "learning_rate": lgbm.learning_rate}
    assert len(space) <= config.params.train.search.max_trials
    assert len({tuple(t.items()) for t in space}) == len(space)


@pytest.fixture(scope="module")
def wide_training(config, schema):
    """Nulls in precip_mm and depot; depot open with 150 listed codes, 10 more unlisted."""
    from dataclasses import replace

    from tests.conftest import open_schema, with_gaps

    codes = tuple(f"D{i:03d}" for i in range(150))
    gappy = open_schema(schema)
    gappy = replace(
        gappy,
        categorical=tuple(
            replace(c, categories=codes) if c.name == "depot" else c for c in gappy.categorical
        ),
    )
    raw = tiny_deliveries(n=1500, seed=5)
    raw["depot"] = np.random.default_rng(0).choice([*codes, *(f"X{i}" for i in range(10))], 1500)
    frame = featurize(with_gaps(raw, every=9), gappy)
    splits = split_by_time(frame, "pickup_time", "delayed", 0.2, 0.2)
    params = config.params.train.model_copy(
        update={
            "lgbm": config.params.train.lgbm.model_copy(update={"n_estimators": 40}),
            "search": config.params.train.search.model_copy(update={"max_trials": 1}),
        }
    )
    return splits, train_candidates(splits, gappy, params, 0.83), params


def test_nulls_and_a_wide_open_category_train_every_candidate(wide_training) -> None:
    splits, result, params = wide_training
    for model in result.models.values():
        proba = model.predict_proba(splits.holdout)
        assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
        contrib = contributions(model, model.encoder.encode(splits.holdout.head(20)))
        assert np.isfinite(contrib).all()
    encoder = result.models["logreg"].encoder
    assert len(encoder.fill_values) == len(encoder.feature_names)  # learned on the train split
    assert not np.isnan(encoder.fill_values[encoder.feature_names.index("precip_mm")])
    onehot = result.models["logreg"].estimator.named_steps["prep"].named_transformers_["cat"]
    depot = encoder.categorical.index("depot")
    width = len(onehot.categories_[depot]) - len(onehot.infrequent_categories_[depot]) + 1
    assert width <= params.logreg.max_categories  # capped, not 151 columns


def test_logistic_regression_fills_nulls_and_lgbm_reads_them_natively(wide_training) -> None:
    splits, result, _ = wide_training
    rows = splits.holdout.head(30).copy()
    rows["precip_mm"] = np.nan
    for name in ("logreg", "lgbm"):
        assert np.isfinite(result.models[name].predict_proba(rows)).all()
    logreg = result.models["logreg"]
    fill = logreg.encoder.fill_values[logreg.encoder.feature_names.index("precip_mm")]
    filled = splits.holdout.head(30).assign(precip_mm=fill)
    np.testing.assert_allclose(logreg.predict_proba(rows), logreg.predict_proba(filled))
