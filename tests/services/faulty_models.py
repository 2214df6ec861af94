"""Challenger estimators that misbehave on purpose: they raise, or wait for a gate file.

They live in an importable module so that a served Bento can unpickle them too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


class Exploding:
    """Fails on every call, like a challenger with a broken artefact."""

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        raise RuntimeError("challenger exploded")


class Gated:
    """Answers like `inner`, but only once `gate` exists (or after `max_wait_s`).

    Lets a test prove an answer came back while the challenger was still busy,
    without measuring time.
    """

    def __init__(self, inner: Any, gate: Path, max_wait_s: float = 60.0) -> None:
        self.inner, self.gate, self.max_wait_s = inner, Path(gate), max_wait_s

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        deadline = time.monotonic() + self.max_wait_s
        while not self.gate.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.inner.predict_proba(matrix)
