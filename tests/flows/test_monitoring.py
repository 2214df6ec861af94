"""The monitoring flow's steps on a real SQLite prediction log (Prefect-free: `.fn`)."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows import monitoring as mon
from monitoring.history import read_history
from monitoring.summary import WindowSummary
from pipelines import io
from services.prediction_log.records import FeedbackRecord, PredictionRecord
from services.prediction_log.writer import PredictionLog
from tests.conftest import ROOT, tiny_deliveries
from tests.monitoring.factories import reference, shifted
from tests.monitoring.summaries import golden

START = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy2(ROOT / "params.yaml", root / "params.yaml")
    project = yaml.safe_load((ROOT / "project.yaml").read_text())
    project["monitoring"]["min_rows"] = 200  # windows here hold 300-600 rows
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_URL", f"sqlite:///{root / 'serving' / 'log.db'}")
    return root


def write_log(root: Path, raw: pd.DataFrame, schema, start: datetime, labelled: bool = True):
    """Append `raw` as served predictions (version 3) from `start`, one per second."""
    log = PredictionLog(f"sqlite:///{root / 'serving' / 'log.db'}")
    log.open()
    for i, row in enumerate(raw.to_dict("records")):
        features = {c: row[c] for c in schema.input_columns}
        features[schema.time_column] = pd.Timestamp(row[schema.time_column]).isoformat()
        p = float(row["true_delay_prob"])
        rid = f"{start:%H%M}-{i}"
        log.append(
            PredictionRecord(
                request_id=rid,
                received_at=start + timedelta(seconds=i),
                delivery_id=f"{rid}-d",
                request_key=row["customer_id"],
                features=features,
                mode="champion",
                variant="champion",
                model_version="3",
                probability=p,
                decision=p >= 0.4,
                threshold=0.4,
                latency_ms=1.0,
            )
        )
        if labelled:
            log.add_feedback(
                FeedbackRecord(int(row["delayed"]), start + timedelta(seconds=i + 1), rid)
            )
    log.close()


@pytest.fixture
def with_reference(project: Path, schema) -> Path:
    ref = reference(tiny_deliveries(n=3000, seed=1), schema)
    io.write_parquet(project / mon.REFERENCES_DIR / "v3.parquet", ref)
    return project


def monitor(root: Path, start: datetime, minutes: float = 30):
    summary, snapshot = mon.run_window(root, start, start + timedelta(minutes=minutes))
    folder = mon.save_window.fn(root, summary, snapshot)
    mon.export_metrics.fn(root, summary)
    return summary, folder


def test_a_quiet_window_is_scored_saved_and_exported(with_reference: Path, schema) -> None:
    root = with_reference
    write_log(root, tiny_deliveries(n=600, seed=2), schema, START)
    summary, folder = monitor(root, START)
    assert summary.status == "ok", summary.problems
    assert summary.window.rows == 600
    assert summary.model_version == "3"
    assert not summary.drift.dataset_drift
    assert summary.variants["champion"].labelled == 600
    assert not summary.retrain.fire
    assert (folder / "drift.html").stat().st_size > 10_000
    assert io.read_json(folder / "summary.json")["run_id"] == summary.run_id
    assert [h.run_id for h in read_history(root / mon.HISTORY_FILE)] == [summary.run_id]
    text = (root / mon.METRICS_DIR / "monitoring.prom").read_text()
    assert 'mlops_drift_share{model_version="3"}' in text


def test_drift_in_consecutive_windows_asks_for_retraining(with_reference, schema, config) -> None:
    root = with_reference
    for k in range(2):
        start = START + timedelta(hours=k)
        write_log(root, shifted(tiny_deliveries(n=600, seed=10 + k)), schema, start)
        summary, _ = monitor(root, start)
        assert summary.drift.dataset_drift, summary.drift
    assert summary.retrain.fire, summary.retrain
    assert "2 consecutive" in summary.retrain.reason
    exported = mon.export_labelled(root, config, schema, f"sqlite:///{root / 'serving' / 'log.db'}")
    assert exported == 1200
    rows = pd.read_parquet(root / "data" / "source" / "labelled" / mon.LABELLED_FILE)
    assert set(schema.required_columns) <= set(rows.columns)
    assert set(rows["delayed"]) <= {0, 1}


def test_an_empty_window_is_stale_and_keeps_the_previous_figures(with_reference, schema) -> None:
    root = with_reference
    write_log(root, tiny_deliveries(n=600, seed=2), schema, START)
    monitor(root, START)
    figures = (root / mon.METRICS_DIR / "monitoring.prom").read_text()
    summary, folder = monitor(root, START + timedelta(days=1))
    assert summary.status == "stale"
    assert summary.window.rows == 0
    assert (root / mon.METRICS_DIR / "monitoring.prom").read_text() == figures
    status = (root / mon.METRICS_DIR / "monitoring_status.prom").read_text()
    assert "mlops_monitoring_stale 1.0" in status
    assert not (folder / "drift.html").exists()


def test_a_missing_reference_is_named_and_the_window_stale(project: Path, schema, monkeypatch):
    from flows.adapters.tracking import ReferenceNotFound

    def missing(root, runtime, version):
        raise ReferenceNotFound(f"parcel-delay v{version}: no drift reference")

    monkeypatch.setattr(mon, "reference_for", missing)
    write_log(project, tiny_deliveries(n=300, seed=2), schema, START)
    summary, _ = mon.run_window(project, START, START + timedelta(minutes=30))
    assert summary.status == "stale"
    assert any("no drift reference" in p for p in summary.problems)


def test_a_crashing_run_leaves_reports_and_metrics_intact(with_reference, schema, monkeypatch):
    root = with_reference
    write_log(root, tiny_deliveries(n=600, seed=2), schema, START)
    monitor(root, START)
    before = {p.name: p.read_bytes() for p in (root / mon.METRICS_DIR).iterdir()}
    history = (root / mon.HISTORY_FILE).read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("evidently crashed")

    monkeypatch.setattr("monitoring.scoring.summarize_window", boom)
    with pytest.raises(RuntimeError):
        mon.run_window(root, START, START + timedelta(minutes=30))
    assert {p.name: p.read_bytes() for p in (root / mon.METRICS_DIR).iterdir()} == before
    assert (root / mon.HISTORY_FILE).read_text() == history


def test_two_runs_at_once_keep_their_own_reports(with_reference, schema) -> None:
    root = with_reference
    write_log(root, tiny_deliveries(n=600, seed=2), schema, START)
    results: list = []

    def one() -> None:
        results.append(monitor(root, START))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    ids = {s.run_id for s, _ in results}
    assert len(ids) == 2
    assert {h.run_id for h in read_history(root / mon.HISTORY_FILE)} == ids
    for _, folder in results:
        assert io.read_json(folder / "summary.json")["status"] == "ok"


@pytest.mark.integration
def test_the_flow_on_dask_tests_segments_in_workers(
    with_reference, schema, prefect_server: str, monkeypatch
) -> None:
    """The monitoring flow, unchanged, with `MLOPS_ENGINE=dask`: segments on a LocalCluster."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root = with_reference
    settings = yaml.safe_load((root / "project.yaml").read_text())
    settings["monitoring"]["min_segment_rows"] = 100  # 600 rows: about 200 per area type
    (root / "project.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    write_log(root, shifted(tiny_deliveries(n=600, seed=2)), schema, START)
    monkeypatch.setenv("MLOPS_ENGINE", "dask")
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    with temporary_settings({PREFECT_API_URL: prefect_server}):
        end = (START + timedelta(minutes=30)).isoformat()
        outcome = mon.monitoring_flow(str(root), end=end, request_retrain=False)
        APILogWorker.drain_all(timeout=10)  # the flow's logs, while the server still runs
    segmented = outcome.summary.segment_drift
    assert segmented.column == "area_type" and segmented.skipped == {}
    assert all(s.dataset_drift for s in segmented.segments.values())
    text = (root / mon.METRICS_DIR / "monitoring.prom").read_text()
    labels = 'model_version="3",segment="rural",segment_column="area_type"'
    assert f"mlops_segment_dataset_drift{{{labels}}} 1.0" in text


def test_the_printed_summary_reads_as_before() -> None:
    drifted = WindowSummary.from_json(golden("drifted_again"))
    assert mon.format_summary(drifted, 12).splitlines() == [
        "window 2026-11-25T21:15:00 .. 2026-11-25T22:15:00: 1500 predictions, 750 labelled, "
        "model v3: ok",
        "  drift: 5 of 12 features (share 0.42, threshold 0.30): distance_km, precip_mm, "
        "depot_load, weather, carrier",
        "  prediction drift: Wasserstein distance (normed) 1.645",
        "  champion v3: 1500 rows, 750 labelled, live recall 0.977, precision 0.578",
        "  RETRAIN requested: dataset drift in 2 consecutive windows (2 needed); live recall "
        "0.977 >= 0.800 on 750 labelled rows; live precision 0.578 >= 0.350 on 750 labelled rows",
        "  exported 12 labelled production rows for training",
    ]
    stale = WindowSummary.from_json(golden("no_reference"))
    assert mon.format_summary(stale).splitlines() == [
        "window 2026-11-25T21:15:00 .. 2026-11-25T22:15:00: 1500 predictions, 700 labelled, "
        "model v3: stale",
        "  problem: no drift reference for model version 3",
        "  problem: parcel-delay v3: no drift reference",
        "  no retraining: window not scored: no drift reference for model version 3",
    ]
