"""The exporter: the directory's files merged into one page, served over HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from monitoring.exporter import MetricsDirectoryExporter, merge_exposition, read_directory
from monitoring.metrics import export_flow_run, export_summary, write_metrics
from tests.monitoring.summaries import full_summary, parse


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
