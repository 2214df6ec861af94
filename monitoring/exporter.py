"""The exporter (`mlops exporter`): the flows' directory of `*.prom` files served to Prometheus.

GET /metrics reads every `<job>.prom` file of the directory (written atomically by
`monitoring.metrics`) at each request and merges them into one exposition: a family
that several files hold (the `mlops_flow_*` ones) is written once, with all their
samples. GET /health answers for liveness probes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

log = logging.getLogger(__name__)

EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The text format 0.0.4 the files are written in, served as it is."""


class _Families:
    """A collector of already built metric families (what `generate_latest` renders)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def merge_exposition(texts: Iterable[str]) -> str:
    """Merge Prometheus text expositions: one HELP/TYPE per family, its samples together.

    A family present in several texts is written once (with the first text's HELP and
    TYPE) with all their samples; a series present in several texts keeps its last value.
    prometheus_client parses the texts and renders the result, so a text it wrote comes
    out as it went in.

    Args:
        texts: Expositions in the text format 0.0.4 (as `write_to_textfile` writes).

    Returns:
        One exposition.

    Raises:
        ValueError: A text is not in the exposition format.
    """
    families: dict[str, Metric] = {}
    samples: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Sample]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
                samples[family.name] = {}
            for sample in family.samples:
                samples[family.name][(sample.name, tuple(sample.labels.items()))] = sample
    for name, family in families.items():
        family.samples = list(samples[name].values())
    return generate_latest(_Families(families.values())).decode("utf-8")


def read_directory(directory: Path) -> str:
    """The merged exposition of every `*.prom` file in `directory`, read now."""
    texts = []
    for path in sorted(Path(directory).glob("*.prom")):
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except FileNotFoundError:  # removed between listing and reading
            continue
    return merge_exposition(texts)


# prometheus_client's own server (start_http_server / make_wsgi_app over a collector of
# the directory) is not used: it negotiates the format with the scraper (Prometheus 3
# asks for OpenMetrics or text 1.0.0, which change the page), gzips, and answers every
# path with the metrics; this exporter serves the files' text 0.0.4 as written, has
# /health for probes, and answers 404 elsewhere and 500 with the reason when the
# directory cannot be read.


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = read_directory(self.server.directory).encode("utf-8")
            except (OSError, ValueError) as exc:
                self._send(500, f"cannot read {self.server.directory}: {exc}\n".encode())
                return
            self._send(200, body, EXPOSITION_CONTENT_TYPE)
        elif path == "/health":
            self._send(200, b'{"status": "alive"}\n', "application/json")
        else:
            self._send(404, b"not found: try /metrics or /health\n")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], directory: Path) -> None:
        self.directory = directory
        super().__init__(address, _Handler)


class MetricsDirectoryExporter:
    """HTTP server: GET /metrics merges the directory's `*.prom` files at each request.

    Use `start()`/`stop()` (or `with`) to run it in a background thread, or
    `serve_exporter` to run it in the foreground.
    """

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 9108) -> None:
        """Bind the socket now (port 0 picks a free one); serve after `start`."""
        self.directory = Path(directory)
        self._server = _Server((host, port), self.directory)
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:9108`."""
        host = self._server.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in this thread until `stop` is called from another one."""
        self._serving.set()
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()

    def start(self) -> MetricsDirectoryExporter:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._serving.is_set():
            self._server.shutdown()  # waits for serve_forever to return
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> MetricsDirectoryExporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_exporter(directory: Path, host: str = "127.0.0.1", port: int = 9108) -> None:
    """Serve `directory` on http://host:port/metrics until interrupted (blocking).

    Args:
        directory: The directory of `*.prom` files (created when missing).
        host: Interface to bind.
        port: Port to bind (9108 is the one infra/prometheus/prometheus.yml scrapes).
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    exporter = MetricsDirectoryExporter(directory, host, port)
    log.info("serving %s on %s/metrics", directory, exporter.url)
    try:
        exporter.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        exporter.stop()
