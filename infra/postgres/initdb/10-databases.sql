-- Runs once, when the postgres volume is initialised (docker-entrypoint-initdb.d), as
-- POSTGRES_USER: one database per consumer, all owned by that user.
--   mlflow       MLflow tracking + model registry (backend store)
--   prefect      Prefect server (flow runs, deployments, events, automations)
--   predictions  the service's prediction log and traffic-policy history
--                (MLOPS_PREDICTION_LOG_URL); the monitoring flow reads it
-- A database added here later needs `CREATE DATABASE` by hand on an existing volume.
SELECT 'CREATE DATABASE mlflow' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow')\gexec
SELECT 'CREATE DATABASE prefect' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'prefect')\gexec
SELECT 'CREATE DATABASE predictions' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'predictions')\gexec
