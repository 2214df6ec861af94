"""Which BentoML model tags the service loads as champion and challenger."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import UserError

PINS_FILE = Path("services") / "model_pins.json"
PACKAGE_REPORT = Path("reports") / "package.json"


class PinsError(UserError, RuntimeError):
    """No model to serve has been packaged."""


@dataclass(frozen=True)
class PinnedModel:
    """A registry version as packaged: its BentoML store tag and decision threshold."""

    tag: str
    version: str
    threshold: float


@dataclass(frozen=True)
class PackageReport:
    """What the package step built: reports/package.json."""

    bento: str
    """The Bento's tag (name:version, the version a hash of its pins and files)."""
    models: dict[str, PinnedModel]
    """Role (champion, challenger) -> the model pinned in the Bento."""
    service: str
    """The service's import path inside the Bento."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form (reports/package.json)."""
        return {
            "bento": self.bento,
            "models": {role: asdict(m) for role, m in self.models.items()},
            "service": self.service,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> PackageReport:
        """Read the JSON form back."""
        models = {role: PinnedModel(**m) for role, m in payload["models"].items() if m}
        return cls(payload["bento"], models, payload["service"])


def read_package_report(root: Path) -> PackageReport | None:
    """The last package report under `root`, or None when nothing was packaged."""
    report = root / PACKAGE_REPORT
    return PackageReport.from_json(json.loads(report.read_text())) if report.is_file() else None


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
    report = read_package_report(root)
    if report is not None and "champion" in report.models:
        challenger = report.models.get("challenger")
        return {
            "champion": report.models["champion"].tag,
            "challenger": None if challenger is None else challenger.tag,
        }
    raise PinsError(
        f"no packaged model: run `mlops package` (looked for {pins_file}, "
        f"MLOPS_CHAMPION_TAG and {root / PACKAGE_REPORT})"
    )
