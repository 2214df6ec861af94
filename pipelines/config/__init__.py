"""The one entry to configuration: params.yaml, project.yaml and the runtime profile.

Import from here: `load` reads and cross-checks both files into a `Config`,
`load_runtime` reads the MLOPS_* profile. The models live by file
(`params`, `project`, `runtime`); `loading` reads and checks them.
"""

from pipelines.config.loading import (
    PARAMS_FILE,
    PROJECT_FILE,
    Config,
    ConfigError,
    cross_check,
    load,
    load_params,
    load_project,
    load_runtime,
)
from pipelines.config.params import (
    BaselineParams,
    DataParams,
    EvaluateParams,
    GenerateParams,
    LgbmParams,
    LogRegParams,
    NumericRange,
    Params,
    Rule,
    SearchParams,
    ServeParams,
    SplitParams,
    TargetRate,
    TrainParams,
    ValidateParams,
)
from pipelines.config.project import (
    Acceptance,
    Canary,
    Framing,
    Monitoring,
    Privacy,
    Project,
    Release,
    Requirements,
    Retrain,
)
from pipelines.config.runtime import Runtime

__all__ = [
    "PARAMS_FILE",
    "PROJECT_FILE",
    "Acceptance",
    "BaselineParams",
    "Canary",
    "Config",
    "ConfigError",
    "DataParams",
    "EvaluateParams",
    "Framing",
    "GenerateParams",
    "LgbmParams",
    "LogRegParams",
    "Monitoring",
    "NumericRange",
    "Params",
    "Privacy",
    "Project",
    "Release",
    "Requirements",
    "Retrain",
    "Rule",
    "Runtime",
    "SearchParams",
    "ServeParams",
    "SplitParams",
    "TargetRate",
    "TrainParams",
    "ValidateParams",
    "cross_check",
    "load",
    "load_params",
    "load_project",
    "load_runtime",
]
