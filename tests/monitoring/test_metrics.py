"""The monitoring exporter: contract names, stale windows, the directory server, Pushgateway."""

from __future__ import annotations

import copy
import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitoring import metrics as exporter
from monitoring.metrics import (
    MetricsDirectoryExporter,
    export_flow_run,
    export_summary,
    flow_run_metrics,
    merge_exposition,
    read_directory,
    summary_metrics,
    write_metrics,
)
from tests.conftest import ROOT, background, free_port, wait_http

CONTRACT = ROOT / "docs" / "monitoring-contract.md"


def contract_example() -> dict[str, Any]:
    """The window summary example of the contract."""
    text = CONTRACT.read_text()
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def contract_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, from the contract's table."""
    out = {}
    for line in CONTRACT.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("mlops_"):
            out[cells[0]] = {x.strip() for x in cells[2].split(",") if x.strip()}
    return out


def full_summary(stale: bool = False, **changes: Any) -> dict[str, Any]:
    """The contract example with a challenger, more features and a retraining request."""
    summary = copy.deepcopy(contract_example())
    summary["drift"]["features"].update(
        {
            "precip_mm": {
                "method": "Wasserstein distance (normed)",
                "score": 0.31,
                "threshold": 0.1,
                "drifted": True,
            },
            "depot": {
                "method": "Jensen-Shannon distance",
                "score": 0.02,
                "threshold": 0.1,
                "drifted": False,
            },
        }
    )
    summary["variants"]["challenger"] = {
        **summary["variants"]["champion"],
        "model_version": "4",
        "labelled": 40,
        "recall": 0.78,
        "calibration": [
            {"bin": "0.0-0.1", "mean_predicted": 0.06, "observed_rate": 0.05, "rows": 30},
            {"bin": "0.9-1.0", "mean_predicted": 0.93, "observed_rate": None, "rows": 0},
        ],
    }
    summary["retrain"] = {"fire": True, "reason": "2 drifted windows of 2 needed"}
    if stale:
        summary.update(status="stale", problems=["only 12 predictions, 200 needed"])
        for key in ("drift", "prediction_drift", "segment_drift", "variants"):
            summary.pop(key)
        summary["retrain"] = {"fire": False, "reason": "stale window"}
    summary.update(changes)
    return summary


def parse(text: str) -> dict[str, list[Any]]:
    """Metric family name -> samples (prometheus_client's own parser)."""
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Any], **labels: str) -> float:
    [found] = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return found


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
    summary = full_summary()
    summary["variants"]["challenger"].update(recall=None, precision=None, calibration_error=None)
    registry = CollectorRegistry()
    summary_metrics(summary, registry)
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
    later = full_summary(finished_at="2026-11-26T00:15:07+00:00")
    later["drift"]["features"].pop("depot")
    later["retrain"] = {"fire": False, "reason": "no drift"}
    export_summary(later, tmp_path, gateway_url="")
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


def test_merge_keeps_histograms_together_and_dedupes_series() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    from prometheus_client import Histogram

    Histogram("mlops_h_seconds", "h", ["x"], buckets=(1.0,), registry=first).labels("a").observe(
        0.5
    )
    Histogram("mlops_h_seconds", "h", ["x"], buckets=(1.0,), registry=second).labels("b").observe(2)
    Gauge("mlops_g", "g", registry=first).set(1)
    Gauge("mlops_g", "g", registry=second).set(2)
    text = merge_exposition([generate_latest(first).decode(), generate_latest(second).decode()])
    got = parse(text)
    assert text.count("# TYPE mlops_h_seconds histogram") == 1
    assert len([s for s in got["mlops_h_seconds"] if s.name == "mlops_h_seconds_count"]) == 2
    assert [s.value for s in got["mlops_g"]] == [2.0]  # the last file wins
    assert merge_exposition([]) == ""


def test_bad_job_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="job name"):
        write_metrics(tmp_path, "../escape", CollectorRegistry())


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[MetricsDirectoryExporter]:
    with MetricsDirectoryExporter(tmp_path / "metrics", port=0) as server:
        yield server


def test_directory_exporter_serves_the_files_read_at_request_time(
    served: MetricsDirectoryExporter,
) -> None:
    status, ctype, body = get(f"{served.url}/metrics")
    assert (status, body) == (200, "")  # no file yet: an empty page, not an error
    assert ctype.startswith("text/plain; version=0.0.4")
    export_summary(full_summary(), served.directory, gateway_url="")
    export_flow_run("training", "completed", 1.0, 1.8e9, served.directory, gateway_url="")
    status, _, body = get(f"{served.url}/metrics")
    assert status == 200
    assert body == read_directory(served.directory)
    assert 'mlops_live_recall{model_version="4",variant="challenger"} 0.78' in body
    assert 'mlops_flow_run_duration_seconds{flow="training"} 1.0' in body
    assert get(f"{served.url}/health")[:1] == (200,)
    assert json.loads(get(f"{served.url}/health")[2]) == {"status": "alive"}
    assert get(f"{served.url}/nope")[0] == 404
    (served.directory / "monitoring.prom").unlink()
    assert "mlops_drift_share" not in get(f"{served.url}/metrics")[2]


def test_scrapes_never_see_half_a_file(served: MetricsDirectoryExporter) -> None:
    n = 2000
    registries = []
    for v in (1.0, 2.0):
        registry = CollectorRegistry()
        gauge = Gauge("mlops_big", "many series", ["i"], registry=registry)
        for i in range(n):
            gauge.labels(str(i)).set(v)
        registries.append(registry)
    write_metrics(served.directory, "big", registries[0])
    stop = threading.Event()

    def rewrite() -> None:
        k = 0
        while not stop.wait(0.001):
            write_metrics(served.directory, "big", registries[k % 2])
            k += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(30):
            samples = [
                line
                for line in get(f"{served.url}/metrics")[2].splitlines()
                if line.startswith("mlops_big{")
            ]
            assert len(samples) == n
            values = {line.rsplit(" ", 1)[1] for line in samples}
            assert len(values) == 1, "a scrape mixed two versions of the file"
    finally:
        stop.set()
        writer.join()
    assert not [p for p in served.directory.iterdir() if not p.name.endswith(".prom")]


def test_stop_without_start_and_port_zero(tmp_path: Path) -> None:
    server = MetricsDirectoryExporter(tmp_path, port=0)
    assert server.port > 0
    server.stop()


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
    assert exporter.gateway_url_from_env() == pushgateway
    export_flow_run("training", "completed", 9.0, 1.8e9, directory=tmp_path)  # file and push
    assert (tmp_path / "flow_training.prom").is_file()

    got = parse(get(f"{pushgateway}/metrics")[2])
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
