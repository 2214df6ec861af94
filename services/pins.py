"""Which BentoML model tags the service loads as champion and challenger."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.errors import UserError

PINS_FILE = Path("services") / "model_pins.json"
PACKAGE_REPORT = Path("reports") / "package.json"


class PinsError(UserError, RuntimeError):
    """No model to serve has been packaged."""


def resolve_pins(root: Path) -> dict[str, str | None]:
    """Role -> model tag: the Bento's pins file, else environment, else the last package report."""
    pins_file = root / PINS_FILE
    if pins_file.is_file():
        return json.loads(pins_file.read_text())
    if os.environ.get("MLOPS_CHAMPION_TAG"):
        return {
            "champion": os.environ["MLOPS_CHAMPION_TAG"],
            "challenger": os.environ.get("MLOPS_CHALLENGER_TAG") or None,
        }
    report = root / PACKAGE_REPORT
    if report.is_file():
        models = json.loads(report.read_text()).get("models", {})
        if "champion" in models:
            return {
                "champion": models["champion"]["tag"],
                "challenger": (models.get("challenger") or {}).get("tag"),
            }
    raise PinsError(
        f"no packaged model: run `mlops package` (looked for {pins_file}, "
        f"MLOPS_CHAMPION_TAG and {report})"
    )
