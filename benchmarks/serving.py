"""One row per request: our Bento service next to a hand-written FastAPI peer and the raw model.

All figures come from one run on 127.0.0.1, with models trained here on generated rows:

- `raw`: in-process cost per row. The limit is the champion's booster on a 1-row matrix;
  then RowEncoder + predict on a validated dict, JSON validation + encode + predict, the
  Router (routing, metrics, prediction-log writes; per traffic mode), and both FastAPI apps
  called as ASGI apps without a network (the peer's, and ours over the same Router);
- `peer`: the baseline, a minimal FastAPI app (one async POST route, the same pydantic
  Delivery model, RowEncoder and model) under plain uvicorn, 1 worker, no access log;
- `service`: `bentoml serve services.bento_service:DelayService` from source, champion and
  challenger (a LightGBM with other params) in a temporary BentoML store, a SQLite
  prediction log, measured in the traffic policies champion, shadow and ab (weight 0.5),
  switched through PUT /admin/policy on the one running server.

Load: closed-loop keep-alive clients (raw HTTP/1.1 on asyncio streams, in a process of their
own), every request a different body and customer_id. After a warm-up, each run reports
req/s, p50/p99/max ms, errors, and the CPU that the server's process tree and the client
spent. Runs are interleaved per concurrency (peer, champion, shadow, ab), so the shared
machine's load drifts over all of them alike; before each run the service's log queue and
shadow queue are drained. Prints one JSON object.
Usage: python benchmarks/serving.py [--duration 8] [--warmup 2] [--concurrency 1 8 32]
                                    [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
API_KEY, ADMIN_KEY = "bench-client-key-000001", "bench-admin-key-0000001"
THRESHOLD = 0.5
CHAMPION, CHALLENGER = "1", "2"
"""Registry versions the two models are stored under."""
MODES: dict[str, dict[str, Any]] = {
    "champion": {"mode": "champion"},
    "shadow": {"mode": "shadow"},
    "ab": {"mode": "ab", "challenger_weight": 0.5},
}
CHALLENGER_PARAMS = {"num_leaves": 15, "learning_rate": 0.08, "n_estimators": 200}
"""params.yaml's LightGBM with other settings: a challenger of comparable cost."""

# ------------------------------------------------------------------ process CPU (/proc)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(path: str) -> list[str]:
    """Fields 3.. of a /proc stat file (state, ppid, ...; utime and stime at 11 and 12)."""
    text = Path(path).read_text()
    return text[text.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat_fields(f"/proc/{entry.name}/stat")[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User + system CPU seconds of the processes: in all, and in their main threads.

    The rest is background threads (in the service: prediction-log writer, shadow pool).
    """
    total = main = 0
    for pid in pids:
        try:
            fields = _stat_fields(f"/proc/{pid}/stat")
            main_thread = _stat_fields(f"/proc/{pid}/task/{pid}/stat")
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        main += int(main_thread[11]) + int(main_thread[12])
    return total / CLOCK_TICKS, main / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS


# ------------------------------------------------------------------------ load generator


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        return status, await reader.readexactly(int(lower[at + 17 : end]))
    if b"\r\ntransfer-encoding: chunked" not in lower:
        raise ConnectionError("response without a length")
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return status, body


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: `concurrency` keep-alive connections, each sending its next request."""
    host, port, conc = "127.0.0.1", spec["port"], spec["concurrency"]
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
    )
    requests = [
        f"{head}Content-Length: {len(b)}\r\n\r\n{b}".encode()
        for b in json.loads(Path(spec["bodies"]).read_text())
    ]
    n = len(requests)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    answered = challenger = 0
    server_pids = tree_pids(spec["server_pid"])
    other_pids = tree_pids(spec["other_pid"])
    measure_from = time.perf_counter() + spec["warmup"]
    stop_at = measure_from + spec["duration"]

    def fail(kind: str) -> None:
        if time.perf_counter() >= measure_from:
            errors[kind] = errors.get(kind, 0) + 1

    async def client(k: int) -> None:
        nonlocal answered, challenger
        i, reader, writer = k, None, None
        while (t0 := time.perf_counter()) < stop_at:
            try:
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(requests[i % n])
                status, body = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                fail(type(exc).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            t1 = time.perf_counter()
            i += conc
            answered += status == 200
            if t0 < measure_from or t1 > stop_at:
                continue
            if status != 200:
                fail(str(status))
                continue
            latencies.append(t1 - t0)
            challenger += b'"challenger"' in body
        if writer is not None:
            writer.close()

    def now() -> list[float]:
        return [
            time.perf_counter(),
            time.process_time(),
            *cpu_seconds(server_pids),
            cpu_seconds(other_pids)[0],
            machine_busy_seconds(),
        ]

    async def sample() -> list[float]:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        begin = now()
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        return [b - a for a, b in zip(begin, now(), strict=True)]

    sampler = asyncio.ensure_future(sample())
    clients = [asyncio.ensure_future(client(k)) for k in range(conc)]
    _, hung = await asyncio.wait(clients, timeout=spec["warmup"] + spec["duration"] + 30)
    for task in hung:
        task.cancel()
        errors["hung"] = errors.get("hung", 0) + 1
    wall, client_cpu, server_cpu, server_main_cpu, other_cpu, busy = await sampler
    latencies.sort()
    done = len(latencies)

    def ms(q: float) -> float | None:
        return round(latencies[min(done - 1, int(q * done))] * 1000, 2) if done else None

    return {
        "req_per_s": round(done / wall, 1),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "max_ms": round(latencies[-1] * 1000, 1) if done else None,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "requests": done,
        "server_cpu_us_per_req": round(server_cpu / done * 1e6) if done else None,
        "server_background_threads_cpu_us_per_req": (
            max(0, round((server_cpu - server_main_cpu) / done * 1e6)) if done else None
        ),
        "server_cpu_per_s": round(server_cpu / wall, 2),
        "client_cpu_per_s": round(client_cpu / wall, 2),
        "other_server_cpu_per_s": round(other_cpu / wall, 3),
        "rest_of_machine_cpu_per_s": round(
            max(0.0, busy - server_cpu - client_cpu - other_cpu) / wall, 2
        ),
        "challenger_share": round(challenger / done, 3) if done else None,
        "answered_incl_warmup": answered,
    }


def loadgen_main(spec: dict[str, Any]) -> None:
    """Entry point of the load-generator process: prints one JSON line."""
    gc.disable()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(_load(spec))
    else:
        result = uvloop.run(_load(spec))
    print(json.dumps(result), flush=True)


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """One load run in a fresh process, so the client never shares an interpreter."""
    done = subprocess.run(
        [sys.executable, __file__, "--loadgen", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=spec["warmup"] + spec["duration"] + 90,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"load generator failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ models


def train_models(rows: int) -> tuple[Any, Any, Any, Any, Any]:
    """Config, schema, the generated frame, and champion and challenger LightGBM models."""
    from pipelines.config import load
    from pipelines.features import FeatureEncoder, featurize
    from pipelines.generate import generate_deliveries
    from pipelines.lgbm import fit_lgbm, lgbm_settings
    from pipelines.model import DelayModel
    from pipelines.schema import build_schema

    config = load(ROOT)
    schema = build_schema(config)
    frame = generate_deliveries(rows=rows, seed=config.params.generate.seed)
    features = featurize(frame, schema)
    encoder = FeatureEncoder.from_schema(schema)
    matrix, y = encoder.encode(features), features[schema.target].to_numpy()
    lgbm, seed = config.params.train.lgbm, config.params.train.seed
    models = [
        DelayModel(
            name, fit_lgbm(matrix, y, encoder, lgbm_settings(params, encoder, seed)), encoder
        )
        for name, params in (
            ("lgbm", lgbm),
            ("lgbm-challenger", lgbm.model_copy(update=CHALLENGER_PARAMS)),
        )
    ]
    return config, schema, frame, models[0], models[1]


def request_bodies(frame: Any, schema: Any, count: int) -> list[str]:
    """JSON request bodies: the Delivery fields of generated rows, each its own customer."""
    from services.request_models import delivery_model

    fields = [f for f in delivery_model(schema).model_fields if f in frame.columns]
    sample = frame.sample(n=min(count, len(frame)), random_state=1)[fields]
    bodies = []
    for i, row in enumerate(sample.to_dict("records")):
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        body[schema.id_column] = f"B{i:06d}"
        if schema.key_column:
            body[schema.key_column] = f"K{i:06d}"
        bodies.append(json.dumps(body))
    return bodies


# --------------------------------------------------------------------------- in process


def per_row(
    block: Callable[[int], object],
    finish: Callable[[], object] | None = None,
    block_s: float = 0.3,
) -> dict[str, float]:
    """Median of 5 timed blocks of ~`block_s` each: wall and CPU microseconds per row.

    `finish` waits for the background work the rows caused (log writes, shadow scoring):
    its CPU is counted (all threads of this process), its wall time is not, so `us_per_row`
    is what a caller waits and `cpu_us_per_row` all the work.
    """
    t0 = time.perf_counter()
    block(50)  # warm-up, and the size of a block
    if finish is not None:
        finish()
    rows = max(100, min(10_000, round(block_s * 50 / (time.perf_counter() - t0))))
    walls, cpus = [], []
    for _ in range(5):
        c0, w0 = time.process_time(), time.perf_counter()
        block(rows)
        walls.append((time.perf_counter() - w0) / rows)
        if finish is not None:
            finish()
        cpus.append((time.process_time() - c0) / rows)
    wall = statistics.median(walls)
    return {
        "us_per_row": round(wall * 1e6, 1),
        "cpu_us_per_row": round(statistics.median(cpus) * 1e6, 1),
        "rows_per_s": round(1 / wall),
    }


def loop(work: Callable[[int], object]) -> Callable[[int], None]:
    def block(rows: int) -> None:
        for i in range(rows):
            work(i)

    return block


def asgi_posts(app: Any, texts: list[bytes]) -> Callable[[int], None]:
    """POST /predict to an ASGI app without a server: one body per call, 200 expected."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {API_KEY}".encode()),
    ]

    async def calls(rows: int) -> None:
        for i in range(rows):
            body = texts[i % len(texts)]
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/predict",
                "raw_path": b"/predict",
                "query_string": b"",
                "root_path": "",
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 80),
            }
            statuses: list[int] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], statuses: list[int] = statuses) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(scope, receive, send)
            if statuses != [200]:
                raise RuntimeError(f"in-process POST /predict answered {statuses}")

    return lambda rows: asyncio.run(calls(rows))


def measure_raw(
    config: Any, schema: Any, champion: Any, challenger: Any, bodies: list[str], tmp: Path
) -> dict[str, Any]:
    """In-process cost of one row, from the bare booster up to the FastAPI apps."""
    from prometheus_client import CollectorRegistry

    from pipelines.features import RowEncoder
    from services.app import ServiceState, create_app
    from services.assembly import guardrails
    from services.auth import Keys
    from services.metrics import ServingMetrics
    from services.policy import CanaryWatch, TrafficPolicy
    from services.prediction_log.policy_store import PolicyStore
    from services.prediction_log.writer import PredictionLog
    from services.request_models import delivery_model
    from services.router import Router
    from services.served_model import ServedModel

    delivery = delivery_model(schema)
    encoder = RowEncoder(schema, champion.encoder)
    texts = [b.encode() for b in bodies]
    rows = [vars(delivery.model_validate_json(t)) for t in texts]
    matrices = [encoder.encode([r]) for r in rows]
    n = len(rows)
    gc.collect()
    gc.freeze()  # as the service does after start-up

    def booster(model: Any) -> Callable[[int], object]:
        return lambda i: model.predict_matrix(matrices[i % n], threads=1)

    def encode_predict(i: int) -> object:
        return champion.predict_matrix(encoder.encode([rows[i % n]]), threads=1)

    def validate_encode_predict(i: int) -> object:
        row = vars(delivery.model_validate_json(texts[i % n]))
        return champion.predict_matrix(encoder.encode([row]), threads=1)

    results = {
        "champion_predict_matrix": per_row(loop(booster(champion))),
        "challenger_predict_matrix": per_row(loop(booster(challenger))),
        "encode_predict": per_row(loop(encode_predict)),
        "validate_encode_predict": per_row(loop(validate_encode_predict)),
    }
    sys.path.insert(0, str(tmp))
    try:
        peer = importlib.import_module("peer_app")  # reads PEER_* from the environment
    finally:
        sys.path.remove(str(tmp))
    results["asgi_peer_app"] = per_row(asgi_posts(peer.app, texts))

    url = f"sqlite:///{tmp / 'raw-predictions.db'}"
    serve = config.params.serve
    log = PredictionLog(
        url, batch_rows=serve.log_batch_rows, flush_interval_s=serve.log_flush_seconds
    )
    policies = PolicyStore(url)
    log.open()
    policies.open()
    router = Router(
        schema,
        {
            CHAMPION: ServedModel.build(CHAMPION, THRESHOLD, champion, schema),
            CHALLENGER: ServedModel.build(CHALLENGER, THRESHOLD, challenger, schema),
        },
        TrafficPolicy(champion=CHAMPION, challenger=CHALLENGER),
        log,
        policies,
        ServingMetrics(CollectorRegistry()),
        CanaryWatch(guardrails(config)),
        shadow_capacity=serve.shadow_queue,
        refresh_seconds=serve.policy_refresh_seconds,
    )
    router.start()
    state = ServiceState(router=router, keys=Keys(API_KEY, ADMIN_KEY))
    app = create_app(schema, serve, state)
    try:
        for mode, policy in MODES.items():
            router.set_policy(TrafficPolicy(**policy), "benchmark", "raw")
            results[f"router_predict_{mode}"] = per_row(
                loop(lambda i: router.predict([rows[i % n]])), router.flush
            )
        router.set_policy(TrafficPolicy(mode="champion"), "benchmark", "raw")
        results["asgi_service_app_champion"] = per_row(asgi_posts(app, texts), router.flush)
    finally:
        router.close()
        gc.unfreeze()
    limit = results["champion_predict_matrix"]["rows_per_s"]
    for figures in results.values():
        figures["share_of_limit"] = round(figures["rows_per_s"] / limit, 3)
    return results


# ----------------------------------------------------------------------------- servers

PEER_APP = '''
"""The peer: the smallest hand-written FastAPI app that answers like the service."""

import os
from pathlib import Path

import joblib
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from pipelines.config import load
from pipelines.features import RowEncoder
from pipelines.schema import build_schema
from services.request_models import delivery_model

SCHEMA = build_schema(load(Path(os.environ["PEER_ROOT"])))
MODEL = joblib.load(os.environ["PEER_MODEL"])
ROWS = RowEncoder(SCHEMA, MODEL.encoder)
THRESHOLD = float(os.environ["PEER_THRESHOLD"])
Delivery = delivery_model(SCHEMA)
app = FastAPI()


@app.post("/predict")
async def predict(body: Delivery) -> JSONResponse:
    p = float(MODEL.predict_matrix(ROWS.encode([vars(body)]), threads=1)[0])
    return JSONResponse(
        {"delivery_id": body.delivery_id, "delay_probability": p, "delayed": p >= THRESHOLD}
    )


@app.get("/ready")
async def ready() -> dict:
    return {"ready": True}
'''

STORE_MODELS = textwrap.dedent(
    """
    import sys, bentoml, joblib
    from pathlib import Path
    for path, name, version in zip(*[iter(sys.argv[2:])] * 3):
        meta = {"registry_version": version, "threshold": float(sys.argv[1])}
        with bentoml.models.create(name, labels={}, metadata=meta) as m:
            joblib.dump(joblib.load(path), Path(m.path) / "model.joblib")
        print(m.tag)
    """
)


def store_models(env: dict[str, str], models: list[tuple[Path, str, str]]) -> list[str]:
    """Write joblib'd DelayModels to the BentoML store as `mlops package` does; their tags."""
    argv = [str(x) for model in models for x in model]
    done = subprocess.run(
        [sys.executable, "-c", STORE_MODELS, str(THRESHOLD), *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()[-len(models) :]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen[bytes]:
    """A server in a process group of its own, so that stopping it stops its children."""
    with logfile.open("ab") as out:
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], logfile: Path, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{logfile.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {deadline_s}s:\n{logfile.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM to the server (the service flushes its log), then SIGKILL to its group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever the server left behind
    return proc.returncode


def http(method: str, url: str, body: dict[str, Any] | None = None) -> str:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("X-API-Key", ADMIN_KEY)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.read().decode()


def metric_sum(base: str, prefix: str) -> dict[str, float]:
    """The service's /metrics samples whose line starts with `prefix`, by their labels."""
    found: dict[str, float] = {}
    for line in http("GET", f"{base}/metrics").splitlines():
        if line.startswith(prefix):
            labels, _, value = line[len(prefix) :].rpartition(" ")
            found[labels] = found.get(labels, 0.0) + float(value)
    return found


def shadow_outcomes(base: str) -> dict[str, float]:
    counts = metric_sum(base, "mlops_shadow_predictions_total")
    return {k.split('outcome="')[1].split('"')[0]: v for k, v in counts.items()}


def settle(base: str, deadline_s: float = 20.0) -> None:
    """Wait until the service's log queue is empty and its shadow work has stopped."""
    end, last = time.monotonic() + deadline_s, None
    while time.monotonic() < end:
        pending = sum(metric_sum(base, "mlops_prediction_log_pending ").values())
        shadow = sum(shadow_outcomes(base).values())
        if pending == 0 and shadow == last:
            return
        last = shadow
        time.sleep(0.25)


# -------------------------------------------------------------------------------- main


def measure_servers(args: argparse.Namespace, tmp: Path, tags: list[str]) -> dict[str, Any]:
    """Start the service and the peer once; run every load; stop both."""
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "DO_NOT_TRACK": "true",
    }
    service_env = {
        **env,
        "MLOPS_CHAMPION_TAG": tags[0],
        "MLOPS_CHALLENGER_TAG": tags[1],
        "MLOPS_STATE_ROOT": str(tmp),
        "MLOPS_API_KEY": API_KEY,
        "MLOPS_ADMIN_KEY": ADMIN_KEY,
        "MLOPS_PREDICTION_LOG_URL": f"sqlite:///{tmp / 'predictions.db'}",
    }
    peer_env = {
        **env,
        "PEER_ROOT": str(ROOT),
        "PEER_MODEL": str(tmp / "champion.joblib"),
        "PEER_THRESHOLD": str(THRESHOLD),
    }
    service_port, peer_port = free_port(), free_port()
    service_url, peer_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{peer_port}"
    service_cmd = [str(BIN / "bentoml"), "serve", "services.bento_service:DelayService"]
    service_cmd += ["--host", "127.0.0.1", "--port", str(service_port), "--working-dir", str(ROOT)]
    peer_cmd = [str(BIN / "uvicorn"), "peer_app:app", "--app-dir", str(tmp), "--workers", "1"]
    peer_cmd += ["--host", "127.0.0.1", "--port", str(peer_port), "--no-access-log"]
    peer_cmd += ["--log-level", "warning"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        service = start(service_cmd, service_env, tmp / "service.log")
        procs.append(service)
        peer = start(peer_cmd, peer_env, tmp / "peer.log")
        procs.append(peer)
        wait_ready(f"{peer_url}/ready", peer, tmp / "peer.log", 120)
        startup = {"peer_s": round(time.perf_counter() - t0, 1)}
        wait_ready(f"{service_url}/ready", service, tmp / "service.log", 180)
        startup["service_s"] = round(time.perf_counter() - t0, 1)
        startup["note"] = "started together: each shared the two cores with the other"

        base = {"bodies": str(tmp / "bodies.json"), "warmup": args.warmup}
        base["duration"] = args.duration
        peer_runs: dict[str, Any] = {}
        service_runs: dict[str, dict[str, Any]] = {mode: {} for mode in MODES}
        for conc in args.concurrency:
            at = {**base, "concurrency": conc}
            run = run_load(
                {**at, "port": peer_port, "server_pid": peer.pid, "other_pid": service.pid}
            )
            del run["challenger_share"]
            peer_runs[str(conc)] = run
            for mode, policy in MODES.items():
                http("PUT", f"{service_url}/admin/policy", {**policy, "reason": "benchmark"})
                settle(service_url)
                before = shadow_outcomes(service_url)
                service_runs[mode][str(conc)] = run = run_load(
                    {**at, "port": service_port, "server_pid": service.pid, "other_pid": peer.pid}
                )
                settle(service_url)
                if mode == "shadow":
                    after = shadow_outcomes(service_url)
                    run["shadow_rows_incl_warmup"] = {
                        k: int(v - before.get(k, 0)) for k, v in after.items()
                    }
        dropped = sum(metric_sum(service_url, "mlops_prediction_log_dropped_total ").values())
        exit_code = stop(service)
    finally:
        for proc in procs:
            stop(proc)
    with contextlib.closing(sqlite3.connect(tmp / "predictions.db")) as db:
        logged, shadowed = db.execute(
            "SELECT count(*), count(shadow_version) FROM predictions"
        ).fetchone()
    answered = sum(r.pop("answered_incl_warmup") for m in service_runs.values() for r in m.values())
    for run in peer_runs.values():
        del run["answered_incl_warmup"]
    peer_cpu = {c: r["server_cpu_us_per_req"] for c, r in peer_runs.items()}
    return {
        "startup": startup,
        "peer": {
            "server": "uvicorn peer_app:app --workers 1 --no-access-log (uvloop, httptools); "
            "FastAPI async route: Delivery model, RowEncoder, champion",
            "runs": peer_runs,
        },
        "service": {
            "server": "bentoml serve services.bento_service:DelayService (1 worker), champion "
            "+ challenger, SQLite prediction log; policy set by PUT /admin/policy",
            "runs": service_runs,
            "service_to_peer_req_per_s": {
                mode: {
                    c: round(r["req_per_s"] / peer_runs[c]["req_per_s"], 3)
                    if peer_runs[c]["req_per_s"]
                    else None
                    for c, r in runs.items()
                }
                for mode, runs in service_runs.items()
            },
            "service_minus_peer_cpu_us_per_req": {
                mode: {
                    c: r["server_cpu_us_per_req"] - peer_cpu[c]
                    if r["server_cpu_us_per_req"] and peer_cpu[c]
                    else None
                    for c, r in runs.items()
                }
                for mode, runs in service_runs.items()
            },
            "prediction_log": {
                "answered_incl_warmup": answered,
                "rows": logged,
                "rows_with_shadow": shadowed,
                "dropped": int(dropped),
            },
            "exit_code": exit_code,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rows", type=int, default=20_000, help="generated training rows")
    parser.add_argument("--bodies", type=int, default=2000, help="distinct request bodies")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)  # the load-generator process
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(json.loads(args.loadgen))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the servers
    sys.path.insert(0, str(ROOT))
    from pipelines import io

    began = time.perf_counter()
    phases: dict[str, float] = {}
    loadavg = os.getloadavg()[0]
    config, schema, frame, champion, challenger = train_models(args.rows)
    bodies = request_bodies(frame, schema, args.bodies)
    del frame
    phases["train_s"] = round(time.perf_counter() - began, 1)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-serving-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "bodies.json").write_text(json.dumps(bodies))
        (tmp / "peer_app.py").write_text(PEER_APP)
        (tmp / "bentoml").mkdir()
        io.write_joblib(tmp / "champion.joblib", champion)
        io.write_joblib(tmp / "challenger.joblib", challenger)
        os.environ.update(
            PEER_ROOT=str(ROOT),
            PEER_MODEL=str(tmp / "champion.joblib"),
            PEER_THRESHOLD=str(THRESHOLD),
        )
        t0 = time.perf_counter()
        raw = measure_raw(config, schema, champion, challenger, bodies, tmp)
        phases["raw_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        tags = store_models(
            {**os.environ, "BENTOML_HOME": str(tmp / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"},
            [
                (tmp / "champion.joblib", "delay-champion", CHAMPION),
                (tmp / "challenger.joblib", "delay-challenger", CHALLENGER),
            ],
        )
        served = measure_servers(args, tmp, tags)
        phases["servers_s"] = round(time.perf_counter() - t0, 1)
    lgbm = config.params.train.lgbm
    print(
        json.dumps(
            {
                "benchmark": "serving",
                "host": {"cpus": os.cpu_count(), "loadavg_1m_before": round(loadavg, 2)},
                "settings": {
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "concurrency": args.concurrency,
                    "distinct_bodies": len(bodies),
                    "client": "closed loop, keep-alive HTTP/1.1 on asyncio streams (uvloop) "
                    "in a process of its own; runs interleaved per concurrency",
                },
                "model": {
                    "champion": {
                        "trees": lgbm.n_estimators,
                        "num_leaves": lgbm.num_leaves,
                        "trained_on_rows": args.rows,
                    },
                    "challenger": {**CHALLENGER_PARAMS, "trained_on_rows": args.rows},
                },
                "baseline": "peer (HTTP) and raw.champion_predict_matrix (in process)",
                "raw": raw,
                **served,
                "batch": "see benchmarks/scoring.py",
                "phases": {**phases, "total_s": round(time.perf_counter() - began, 1)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
