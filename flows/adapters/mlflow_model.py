"""The MLflow pyfunc face of a DelayModel: featurised rows in, delay probabilities out.

Imported only when a model is logged or loaded through MLflow (it imports mlflow).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

ARTIFACT_KEY = "delay_model"


class DelayModelPyfunc(PythonModel):
    """Loads the joblib DelayModel logged beside it; predicts delay probabilities."""

    def load_context(self, context: Any) -> None:
        """Load the DelayModel artifact (our own file, written by the train stage)."""
        from pipelines.io import read_joblib

        self.model = read_joblib(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """Delay probability per featurised row."""
        return self.model.predict_proba(model_input)
