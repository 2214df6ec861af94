"""The Bento: the HTTP app over the router, with the packaged models pinned by tag.

`mlops package` writes services/model_pins.json into the build context, so a
built Bento always loads the exact versions it was built with. Served from
source (`bentoml serve services.bento_service:DelayService`), the pins come from
MLOPS_CHAMPION_TAG / MLOPS_CHALLENGER_TAG or, failing that, reports/package.json.

Only what the service cannot do without is left on in BentoML: its access log,
its own metrics middleware and tracing cost more than the model (see
benchmarks/serving.py); our metrics are on /metrics, our logs are the
prediction log.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

import bentoml

from pipelines.config import Runtime, load
from pipelines.schema import build_schema
from services.app import ServiceState, create_app
from services.assembly import assemble, load_served, registry_aliases
from services.metrics import use_process_local_values
from services.pins import resolve_pins
from services.served_model import ServedModel

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
"""The project (from source) or the Bento's src directory: both hold params.yaml."""
CONFIG = load(ROOT)
SCHEMA = build_schema(CONFIG)
STATE = ServiceState()
APP = create_app(SCHEMA, CONFIG.params.serve, STATE)
PINS = resolve_pins(ROOT)

SERVICE_CONFIG: dict[str, Any] = {
    # BentoML keeps one timer per request alive for `timeout` seconds: keep it short
    "traffic": {"timeout": 10},
    "workers": 1,
    "logging": {"access": {"enabled": False}},
    "metrics": {"enabled": False},
    "tracing": {"excluded_urls": [".*"]},
}


@bentoml.service(name="parcel-delay-service", **SERVICE_CONFIG)
@bentoml.asgi_app(APP, path="/")
class DelayService:
    """Champion and challenger in one process; the router decides who answers."""

    champion_ref = bentoml.models.BentoModel(PINS["champion"])
    if PINS.get("challenger"):
        challenger_ref = bentoml.models.BentoModel(PINS["challenger"])

    def __init__(self) -> None:
        """Load the pinned models, the keys, the stored policy; open the prediction log."""
        use_process_local_values()
        refs = {"champion": self.champion_ref}
        if hasattr(self, "challenger_ref"):
            refs["challenger"] = self.challenger_ref
        state_root = Path(os.environ.get("MLOPS_STATE_ROOT", Path.cwd()))
        runtime = Runtime()
        STATE.router, STATE.keys = assemble(CONFIG, SCHEMA, refs, runtime, state_root)
        STATE.load_model = self.load_packaged
        STATE.registry = registry_aliases(runtime, state_root)

    @staticmethod
    def load_packaged(tag: str) -> ServedModel:
        """A model from this machine's BentoML store (written by `mlops package`)."""
        try:
            ref = bentoml.models.get(tag)
        except bentoml.exceptions.NotFound as exc:
            raise LookupError(str(exc)) from None
        return load_served(ref, SCHEMA)

    def __is_ready__(self) -> bool:
        """Ready once the models are loaded and the router runs."""
        return STATE.router is not None and STATE.keys is not None

    @bentoml.on_startup
    def freeze_startup_objects(self) -> None:
        """Move everything loaded so far out of the GC's view: no more 0.1-0.4 s gen-2 pauses."""
        gc.collect()
        gc.freeze()

    @bentoml.on_shutdown
    def stop(self) -> None:
        """Finish shadow work and write every accepted request before the process ends."""
        router, STATE.router = STATE.router, None
        if router is not None:
            router.close()
            log.info("prediction log flushed and closed")
