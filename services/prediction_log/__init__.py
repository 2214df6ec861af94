"""Prediction log: every answered request, both models' scores and true outcomes, in SQL.

Serving appends records to an in-memory queue (`writer`, O(1), no I/O on the request
path); one background thread writes them in batches, keeping them through database
outages. Monitoring reads windows back as DataFrames (`reader`). The traffic-policy
history lives in the same database (`policy_store`), so every replica and the CLI see one
policy. `tables` holds the schema and the one way to connect. SQLite by default (WAL, so a
reader and the writer coexist), PostgreSQL (`postgresql+psycopg://...`) in production.
"""
