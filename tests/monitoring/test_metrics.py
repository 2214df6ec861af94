"""Monitoring metrics: contract names, stale windows, the job files, the Pushgateway."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitoring import metrics
from monitoring.exporter import read_directory
from monitoring.metrics import (
    export_flow_run,
    export_summary,
    flow_run_metrics,
    summary_metrics,
    write_metrics,
)
from monitoring.summary import WindowSummary
from tests.conftest import background, free_port, wait_http
from tests.monitoring.summaries import CONTRACT, full_summary, full_summary_json, parse, value


def contract_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, from the contract's table."""
    out = {}
    for line in CONTRACT.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("mlops_"):
            out[cells[0]] = {x.strip() for x in cells[2].split(",") if x.strip()}
    return out


def test_summary_gives_every_contract_name_with_its_labels() -> None:
    registry = CollectorRegistry()
    summary_metrics(full_summary(), registry)
    flow_run_metrics("training", "completed", 42.0, 1.8e9, registry)
    got = parse(generate_latest(registry).decode())
    contract = contract_metrics()
    assert len(contract) >= 20
    assert set(got) == set(contract)
    for name, samples in got.items():
        for sample in samples:
            assert set(sample.labels) == contract[name], (name, sample.labels)

    assert value(got["mlops_drift_share"], model_version="3") == 0.25
    assert value(got["mlops_dataset_drift"]) == 0
    assert value(got["mlops_feature_drifted"], feature="precip_mm") == 1
    assert (
        value(got["mlops_feature_drift_score"], feature="depot", method="Jensen-Shannon distance")
        == 0.02
    )
    assert (
        value(got["mlops_prediction_drift_score"], method="Wasserstein distance (normed)") == 0.05
    )
    rural = {"segment_column": "area_type", "segment": "rural"}
    assert value(got["mlops_segment_drift_share"], **rural) == 0.38
    assert value(got["mlops_segment_dataset_drift"], **rural) == 1
    assert value(got["mlops_live_recall"], variant="champion", model_version="3") == 0.84
    assert value(got["mlops_live_recall"], variant="challenger", model_version="4") == 0.78
    assert value(got["mlops_monitoring_labelled_rows"], variant="challenger") == 40
    assert value(got["mlops_calibration_observed_rate"], variant="champion", bin="0.0-0.1") == 0.04
    assert value(got["mlops_monitoring_window_rows"]) == 1200
    assert value(got["mlops_monitoring_stale"]) == 0
    finished = 1795644907.0  # 2026-11-25T22:15:07+00:00
    assert value(got["mlops_monitoring_last_run_timestamp_seconds"]) == finished
    assert value(got["mlops_monitoring_last_success_timestamp_seconds"]) == finished
    assert value(got["mlops_retrain_requested"]) == 1
    assert value(got["mlops_retrain_last_requested_timestamp_seconds"]) == finished
    assert (
        value(got["mlops_flow_last_run_timestamp_seconds"], flow="training", state="completed")
        == 1.8e9
    )
    assert value(got["mlops_flow_run_duration_seconds"], flow="training") == 42.0


def test_null_figures_are_left_out_not_zero() -> None:
    summary = full_summary_json()
    summary["variants"]["challenger"].update(recall=None, precision=None, calibration_error=None)
    registry = CollectorRegistry()
    summary_metrics(WindowSummary.from_json(summary), registry)
    got = parse(generate_latest(registry).decode())
    assert {s.labels["variant"] for s in got["mlops_live_recall"]} == {"champion"}
    assert {s.labels["variant"] for s in got["mlops_live_precision"]} == {"champion"}
    assert {s.labels["variant"] for s in got["mlops_live_calibration_error"]} == {"champion"}
    # the empty bin has no observed rate, but its mean prediction is known
    bins = {(s.labels["variant"], s.labels["bin"]) for s in got["mlops_calibration_observed_rate"]}
    assert ("challenger", "0.9-1.0") not in bins
    assert (
        value(got["mlops_calibration_predicted_mean"], variant="challenger", bin="0.9-1.0") == 0.93
    )


def test_stale_summary_exports_no_drift_or_quality_figure() -> None:
    # even a stale summary that carries partial figures must not export them
    summary = full_summary(status="stale", problems=["no reference"])
    registry = CollectorRegistry()
    summary_metrics(summary, registry)
    got = parse(generate_latest(registry).decode())
    assert set(got) == {"mlops_monitoring_stale", "mlops_monitoring_last_run_timestamp_seconds"}
    assert value(got["mlops_monitoring_stale"]) == 1


def test_stale_runs_keep_the_last_scored_figures(tmp_path: Path) -> None:
    ok = full_summary()
    assert export_summary(ok, tmp_path, gateway_url="") == [
        "monitoring",
        "monitoring_retrain",
        "monitoring_status",
    ]
    stale = full_summary(stale=True, finished_at="2026-11-25T23:15:07+00:00")
    assert export_summary(stale, tmp_path, gateway_url="") == ["monitoring_status"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "monitoring.prom",
        "monitoring_retrain.prom",
        "monitoring_status.prom",
    ]
    got = parse(read_directory(tmp_path))
    assert value(got["mlops_monitoring_stale"]) == 1
    assert value(got["mlops_monitoring_last_run_timestamp_seconds"]) == 1795648507.0
    assert value(got["mlops_monitoring_last_success_timestamp_seconds"]) == 1795644907.0
    assert value(got["mlops_drift_share"]) == 0.25  # kept from the scored window
    assert value(got["mlops_retrain_requested"]) == 1
    assert value(got["mlops_retrain_last_requested_timestamp_seconds"]) == 1795644907.0

    # the next scored window replaces the figures; a window without a feature drops it
    later = full_summary_json(finished_at="2026-11-26T00:15:07+00:00")
    later["drift"]["features"].pop("depot")
    later["retrain"] = {"fire": False, "reason": "no drift"}
    export_summary(WindowSummary.from_json(later), tmp_path, gateway_url="")
    got = parse(read_directory(tmp_path))
    assert value(got["mlops_monitoring_stale"]) == 0
    assert {s.labels["feature"] for s in got["mlops_feature_drifted"]} == {
        "distance_km",
        "precip_mm",
    }
    assert value(got["mlops_retrain_requested"]) == 0
    assert value(got["mlops_retrain_last_requested_timestamp_seconds"]) == 1795644907.0


def test_flow_families_from_several_files_are_merged(tmp_path: Path) -> None:
    export_flow_run("training", "completed", 120.0, 1.8e9, tmp_path, gateway_url="")
    export_flow_run("monitoring", "failed", 3.5, 1.8e9 + 60, tmp_path, gateway_url="")
    export_flow_run("monitoring", "completed", 4.0, 1.8e9 + 120, tmp_path, gateway_url="")
    export_summary(full_summary(), tmp_path, gateway_url="")
    text = read_directory(tmp_path)
    for name in (
        "mlops_flow_last_run_timestamp_seconds",
        "mlops_flow_run_duration_seconds",
        "mlops_drift_share",
    ):
        assert text.count(f"# TYPE {name} gauge") == 1
        assert text.count(f"# HELP {name} ") == 1
    got = parse(text)
    runs = {
        (s.labels["flow"], s.labels["state"]) for s in got["mlops_flow_last_run_timestamp_seconds"]
    }
    assert runs == {("training", "completed"), ("monitoring", "completed")}  # the last run only
    assert value(got["mlops_flow_run_duration_seconds"], flow="monitoring") == 4.0


def test_bad_job_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="job name"):
        write_metrics(tmp_path, "../escape", CollectorRegistry())


def scrape(url: str) -> str:
    """The page at `url`."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.skip("prometheus-pushgateway not installed (make test-tools)")
    port = free_port()
    args = [binary, f"--web.listen-address=127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    with background(args, tmp_path / "pushgateway.log", stop_s=10) as proc:
        wait_http(f"{url}/-/ready", 30, proc)
        yield url


@pytest.mark.integration
def test_push_to_a_real_pushgateway_keeps_figures_through_stale_runs(
    pushgateway: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_summary(full_summary(), gateway_url=pushgateway)
    export_summary(
        full_summary(stale=True, finished_at="2026-11-25T23:15:07+00:00"), gateway_url=pushgateway
    )
    monkeypatch.setenv("MLOPS_PUSHGATEWAY_URL", pushgateway)
    assert metrics.gateway_url_from_env() == pushgateway
    export_flow_run("training", "completed", 9.0, 1.8e9, directory=tmp_path)  # file and push
    assert (tmp_path / "flow_training.prom").is_file()

    got = parse(scrape(f"{pushgateway}/metrics"))
    assert value(got["mlops_drift_share"], job="monitoring") == 0.25
    assert value(got["mlops_live_recall"], job="monitoring", variant="challenger") == 0.78
    assert value(got["mlops_monitoring_stale"], job="monitoring_status") == 1
    assert (
        value(got["mlops_monitoring_last_run_timestamp_seconds"], job="monitoring_status")
        == 1795648507.0
    )
    assert (
        value(got["mlops_retrain_last_requested_timestamp_seconds"], job="monitoring_retrain")
        == 1795644907.0
    )
    assert value(got["mlops_flow_run_duration_seconds"], job="flow_training") == 9.0
