"""Labelled production predictions as training rows: what monitoring hands to the ingest stage.

When the retraining policy fires, every prediction of the log with a true outcome
becomes a row of the training data, in the schema's columns: the delivery's id
(the request's when the caller sent none), the request key, the raw inputs as
logged, and the outcome as the target. The ingest stage reads them beside the
source data (`params.yaml` `data.labelled_dir`).
"""

from __future__ import annotations

import pandas as pd

from pipelines.schema import Schema


def training_rows(log_rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The log's labelled predictions as training rows, one per delivery (its latest).

    Args:
        log_rows: Prediction-log rows with outcomes joined (`PredictionLog.read_predictions`).
        schema: The project schema.

    Returns:
        `schema.id_column`, the key column (when the schema has one), the input columns and
        `schema.target` (int64); empty when no prediction has an outcome yet.
    """
    labelled = log_rows[log_rows["outcome"].notna()].drop_duplicates("request_id")
    key = schema.key_column
    if labelled.empty:  # the log may lack the input columns then (no prediction yet)
        keys = [key] if key else []
        return pd.DataFrame(columns=[schema.id_column, *keys, *schema.input_columns, schema.target])
    frame = pd.DataFrame(
        {
            schema.id_column: labelled["delivery_id"].fillna(labelled["request_id"]).to_numpy(),
            **({key: labelled["request_key"].to_numpy()} if key else {}),
            **{c: labelled[c].to_numpy() for c in schema.input_columns},
            schema.target: labelled["outcome"].astype("int64").to_numpy(),
        }
    )
    return frame.drop_duplicates(schema.id_column, keep="last")
