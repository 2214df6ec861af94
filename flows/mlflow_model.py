"""Where registered versions logged before the layout change look for their pyfunc class.

MLflow pickled `flows.mlflow_model.DelayModelPyfunc` by module path into every
version registered before it moved to `flows.adapters.mlflow_model`; this name
keeps `mlflow.pyfunc.load_model` working on them. New code imports the adapter.
"""

from flows.adapters.mlflow_model import ARTIFACT_KEY, DelayModelPyfunc

__all__ = ["ARTIFACT_KEY", "DelayModelPyfunc"]
