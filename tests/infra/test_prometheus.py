"""infra/: Prometheus config and alert rules, Grafana dashboards, checked against real data.

The static checks run promtool and read the dashboards. The live test runs the
real service (in-process under uvicorn) and the monitoring exporter, scrapes
both with a real Prometheus, and runs every dashboard panel's query.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, background, free_port, wait_http

INFRA = ROOT / "infra"
PROMETHEUS_YML = INFRA / "prometheus" / "prometheus.yml"
ALERTS_YML = INFRA / "prometheus" / "alerts.yml"
DASHBOARDS = INFRA / "grafana" / "dashboards"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
REQUIRED_ALERTS = {
    "DataDriftDetected",
    "FeatureDrift",
    "LiveRecallBelowFloor",
    "LivePrecisionBelowFloor",
    "P99LatencyOverBudget",
    "HighErrorRate",
    "NoTraffic",
    "MonitoringStale",
    "ServiceDown",
    "ShadowDisagreementHigh",
    "CanaryFellBack",
}
API_KEY, ADMIN_KEY = "client-key-0123456789", "admin-key-0123456789"


def tool(name: str) -> str:
    """Path of a Prometheus binary; skip without it (fail under CI=true)."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} not installed (run `make test-tools`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, expr with Grafana variables substituted) of every target."""
    out = []
    for board in dashboards().values():
        for panel in panels(board):
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                out.append((board["title"], panel["title"], expr))
    return out


def known_metrics() -> set[str]:
    """Every exported name: the contract's table and the service's (services/metrics.py)."""
    text = (ROOT / "docs" / "monitoring-contract.md").read_text()
    text += (ROOT / "services" / "metrics.py").read_text()
    return set(re.findall(r"^\| (mlops_[a-z0-9_]+) \|", text, re.M))


def referenced_metrics(expr: str) -> set[str]:
    names = set(re.findall(r"\b(mlops_[a-z0-9_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


# ---------------------------------------------------------------------- static


@pytest.mark.integration
def test_alert_rules_pass_promtool() -> None:
    done = promtool("check", "rules", str(ALERTS_YML))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    shutil.copy(PROMETHEUS_YML, tmp_path / "prometheus.yml")
    shutil.copy(ALERTS_YML, tmp_path / "alerts.yml")
    done = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_prometheus_config_scrapes_the_service_and_the_exporter() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["parcel-delay-service"]["metrics_path"] == "/metrics"
    assert jobs["parcel-delay-service"]["static_configs"][0]["targets"] == ["127.0.0.1:3000"]
    assert jobs["mlops-monitoring"]["static_configs"][0]["targets"] == ["127.0.0.1:9108"]


def test_alert_rules_are_complete_and_name_real_metrics() -> None:
    rules = [r for g in yaml.safe_load(ALERTS_YML.read_text())["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} >= REQUIRED_ALERTS
    known = known_metrics()
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        unknown = referenced_metrics(rule["expr"]) - known
        assert not unknown, f"{rule['alert']} uses unknown metrics {unknown}"


def test_alert_thresholds_are_project_yamls(config) -> None:
    """The numbers the rules compare with are project.yaml's (they cannot read it)."""
    project = config.project
    rules = {
        r["alert"]: " ".join(r["expr"].split())
        for g in yaml.safe_load(ALERTS_YML.read_text())["groups"]
        for r in g["rules"]
    }
    recall = rules["LiveRecallBelowFloor"]
    assert f"< {project.acceptance.min_recall:.2f}" in recall
    assert f">= {project.monitoring.retrain.min_labelled}" in recall
    precision = rules["LivePrecisionBelowFloor"]
    assert f"< {project.acceptance.min_precision:.2f}" in precision
    assert f">= {project.monitoring.retrain.min_labelled}" in precision
    budget_s = project.requirements.latency_budget_ms / 1000
    assert rules["P99LatencyOverBudget"].endswith(f"> {budget_s:g}")
    error_rate = f") > {project.release.canary.max_error_rate:g}"
    assert rules["HighErrorRate"].count(error_rate) == 2
    disagreement = round(1 - project.release.min_agreement, 4)
    assert f") > {disagreement:.2f} and" in rules["ShadowDisagreementHigh"]


def test_dashboard_threshold_lines_are_project_yamls(config) -> None:
    project = config.project
    expected = {
        ("drift.json", "Share of drifted features"): project.monitoring.drift_share,
        ("drift.json", "Share of drifted features per segment"): project.monitoring.drift_share,
        ("model_quality.json", "Champion live recall"): project.acceptance.min_recall,
        ("model_quality.json", "Live recall by variant"): project.acceptance.min_recall,
        ("model_quality.json", "Champion live precision"): project.acceptance.min_precision,
        ("model_quality.json", "Live precision by variant"): project.acceptance.min_precision,
        ("model_quality.json", "Labelled rows in window"): project.monitoring.retrain.min_labelled,
        ("model_quality.json", "Labelled rows by variant"): project.monitoring.retrain.min_labelled,
        ("serving.json", "Request latency /predict, p50 and p99"): (
            project.requirements.latency_budget_ms / 1000
        ),
        ("serving.json", "Model latency by variant, p50 and p99"): (
            project.requirements.latency_budget_ms / 1000
        ),
        ("serving.json", "5xx share of requests"): project.release.canary.max_error_rate,
        ("serving.json", "Shadow disagreement share"): 1 - project.release.min_agreement,
    }
    found: dict[tuple[str, str], list[float]] = {}
    for name, board in dashboards().items():
        for panel in panels(board):
            steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {})
            values = [s["value"] for s in steps.get("steps", []) if s.get("value") is not None]
            found.setdefault((name, panel["title"]), []).extend(values)
    for where, value in expected.items():  # a title may be a stat and a graph: both agree
        lines = found.get(where)
        assert lines and lines == [pytest.approx(value)] * len(lines), (where, lines, value)


def test_dashboards_are_valid_grafana_json() -> None:
    boards = dashboards()
    assert set(boards) == {"serving.json", "model_quality.json", "drift.json", "pipeline.json"}
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    known = known_metrics()
    for name, board in boards.items():
        assert board["schemaVersion"] == 39, name
        assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]), name
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in panels(board):
            where = f"{name}: {panel['title']}"
            assert panel["type"] in {"timeseries", "stat", "table", "row"}, where
            assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, where
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, where
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), where
            for target in panel["targets"]:
                assert target["expr"].strip(), where
                assert target["datasource"]["uid"] == "prometheus", where
                unknown = referenced_metrics(target["expr"]) - known
                assert not unknown, f"{where} uses unknown metrics {unknown}"


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provisioning = INFRA / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    [source] = sources["datasources"]
    assert (source["uid"], source["type"]) == ("prometheus", "prometheus")
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    alertmanager = yaml.safe_load((INFRA / "alertmanager" / "alertmanager.yml").read_text())
    assert alertmanager["route"]["receiver"] in {r["name"] for r in alertmanager["receivers"]}


# ------------------------------------------------------------------------ live


def window_summary() -> dict[str, Any]:
    """The contract's example, with a challenger, more features, drift and a low recall."""
    text = (ROOT / "docs" / "monitoring-contract.md").read_text()
    summary = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    summary["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    drift = summary["drift"]
    drift.update(share=0.5, dataset_drift=True, drifted=2)
    for feature, score, drifted in (
        ("precip_mm", 0.4, True),
        ("weight_kg", 0.03, False),
        ("traffic_index", 0.05, False),
    ):
        drift["features"][feature] = {
            "method": "Wasserstein distance (normed)",
            "score": score,
            "threshold": 0.1,
            "drifted": drifted,
        }
    drift["features"]["depot"] = {
        "method": "Jensen-Shannon distance",
        "score": 0.02,
        "threshold": 0.1,
        "drifted": False,
    }
    champion = summary["variants"]["champion"]
    # under acceptance.min_recall, on more labelled rows than monitoring.retrain.min_labelled
    champion.update(recall=0.74, labelled=1200)
    champion["calibration"].append(
        {"bin": "0.9-1.0", "mean_predicted": 0.93, "observed_rate": 0.88, "rows": 20}
    )
    summary["variants"]["challenger"] = {
        **copy.deepcopy(champion),
        "model_version": "4",
        "labelled": 280,
        "recall": 0.86,
        "precision": 0.49,
    }
    summary["retrain"] = {"fire": True, "reason": "live recall 0.74 < 0.80"}
    return summary


class Service:
    """The FastAPI app under uvicorn in a thread, on 127.0.0.1:<free port>."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def service(schema, make_router) -> Iterator[tuple[Service, Any]]:
    from pipelines.config import ServeParams
    from services.app import ServiceState, create_app
    from services.auth import Keys

    router = make_router()
    state = ServiceState(router=router, keys=Keys(api_key=API_KEY, admin_key=ADMIN_KEY))
    server = Service(create_app(schema, ServeParams(), state))
    server.start()
    try:
        yield server, router
    finally:
        server.stop()


@pytest.fixture
def exporter_dir(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    from monitoring.exporter import MetricsDirectoryExporter

    directory = tmp_path / "metrics"
    with MetricsDirectoryExporter(directory, port=0) as served:
        yield directory, served.port


@pytest.fixture
def prometheus(
    tmp_path: Path, service: tuple[Service, Any], exporter_dir: tuple[Path, int]
) -> Iterator[str]:
    """A real Prometheus on the repo's config: 1 s scrapes and rules, our two targets."""
    binary = tool("prometheus")
    home = tmp_path / "prometheus"
    home.mkdir()
    shutil.copy(ALERTS_YML, home / "alerts.yml")
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config.pop("alerting", None)  # no Alertmanager here
    ports = {"parcel-delay-service": service[0].port, "mlops-monitoring": exporter_dir[1]}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    (home / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    checked = promtool("check", "config", str(home / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    port = free_port()
    args = [
        binary,
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with background(args, home / "prometheus.log") as proc:
        wait_http(f"{url}/-/ready", 60, proc)
        yield url
        # shown by pytest when the test failed
        sys.stderr.write((home / "prometheus.log").read_text()[-4000:])


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # a bad query: say which and why
        raise AssertionError(f"{path} {params}: {exc.code} {exc.read().decode()}") from None
    assert body["status"] == "success", body
    return body["data"]


def eventually(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Call `check` until it returns something truthy; fail with `what` at the deadline."""
    end = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"after {seconds}s: {what}")
        time.sleep(0.5)


def send_traffic(
    client: httpx.Client, rows: Callable[..., list[dict[str, Any]]], n: int, seed: int
) -> list[str]:
    """`n` predictions (unique customers so both A/B variants get some), a few 4xx."""
    ids = []
    for i, row in enumerate(rows(n, seed=seed)):
        row["pickup_time"] = row["pickup_time"].isoformat()
        row["customer_id"] = f"C{seed:03d}{i:04d}"
        got = client.post("/predict", json=row)
        assert got.status_code == 200, got.text
        ids.append(got.json()["request_id"])
    assert client.post("/predict", json={"distance_km": 3}).status_code == 422
    assert client.post("/predict", json=row, headers={"Authorization": ""}).status_code == 401
    for k, request_id in enumerate(ids[: n // 3]):
        got = client.post("/feedback", json={"request_id": request_id, "delayed": k % 2 == 0})
        assert got.status_code == 202, got.text
    return ids


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_every_panel_and_rule_works_on_real_data(
    prometheus: str,
    service: tuple[Service, Any],
    exporter_dir: tuple[Path, int],
    rows: Callable[..., list[dict[str, Any]]],
) -> None:
    from monitoring.metrics import export_flow_run, export_summary
    from monitoring.summary import WindowSummary

    server, router = service
    directory, _ = exporter_dir
    summary = window_summary()
    export_summary(WindowSummary.from_json(summary), directory, gateway_url="")
    now = time.time()
    for flow, state, seconds in (
        ("training", "completed", 312.0),
        ("monitoring", "completed", 41.5),
        ("release", "failed", 7.2),
    ):
        export_flow_run(flow, state, seconds, now - seconds, directory, gateway_url="")

    def targets_up() -> bool:
        active = api(prometheus, "targets")["activeTargets"]
        return {t["labels"]["job"] for t in active if t["health"] == "up"} == {
            "parcel-delay-service",
            "mlops-monitoring",
        }

    eventually(targets_up, 30, "both targets up")

    headers = {"Authorization": f"Bearer {API_KEY}"}
    admin = {"X-API-Key": ADMIN_KEY}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        for mode, weight, seed in (("shadow", 0.0, 1), ("ab", 0.5, 3)):
            got = client.put(
                "/admin/policy",
                json={"mode": mode, "challenger_weight": weight, "reason": "infra test"},
                headers=admin,
            )
            assert got.status_code == 200, got.text
            # two bursts per mode with scrapes between them, so rate() sees increases
            send_traffic(client, rows, 25, seed)
            time.sleep(2.5)
            send_traffic(client, rows, 25, seed + 1)
            assert router.flush(10)
            time.sleep(2.5)

    def series(expr: str) -> list[dict[str, Any]]:
        data = api(prometheus, "query", query=expr)
        return data["result"] if data["resultType"] == "vector" else []

    queries = panel_queries()
    assert len(queries) >= 50
    pending = list(queries)
    end = time.monotonic() + 30
    while pending and time.monotonic() < end:
        pending = [q for q in pending if not series(q[2])]
        if pending:
            time.sleep(1)
    assert not pending, "panels without data:\n" + "\n".join(
        f"  {board} / {title}: {expr}" for board, title, expr in pending
    )

    # the latency panels carry real figures for both variants, not NaN
    def finite_p99() -> set[str]:
        p99 = series(
            "histogram_quantile(0.99, sum by (le, variant) "
            "(rate(mlops_prediction_latency_seconds_bucket[1m])))"
        )
        return {s["metric"]["variant"] for s in p99 if math.isfinite(float(s["value"][1]))}

    eventually(lambda: finite_p99() == {"champion", "challenger"}, 15, "finite p99 per variant")
    shadow = series('sum(mlops_shadow_predictions_total{outcome="ok"})')
    assert float(shadow[0]["value"][1]) == 50

    # every alert rule loaded and evaluates without error
    def evaluated() -> list[dict[str, Any]]:
        rules = [r for g in api(prometheus, "rules")["groups"] for r in g["rules"]]
        return rules if all(r["health"] != "unknown" for r in rules) else []

    rules = eventually(evaluated, 20, "every rule evaluated")
    assert {r["name"] for r in rules} >= REQUIRED_ALERTS
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken

    # the window's figures fire the alerts they should, and only those
    def firing() -> set[str]:
        alerts = api(prometheus, "alerts")["alerts"]
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

    expected = {"DataDriftDetected", "FeatureDrift", "LiveRecallBelowFloor", "RetrainRequested"}
    eventually(lambda: firing() >= expected, 20, f"alerts {expected} firing")
    assert firing() == expected
    # the alerts that wait in `for` are not even pending on a healthy service
    alerts = api(prometheus, "alerts")["alerts"]
    waiting = {a["labels"]["alertname"] for a in alerts if a["state"] == "pending"}
    assert not waiting & {"NoTraffic", "HighErrorRate", "MonitoringStale"}, alerts
