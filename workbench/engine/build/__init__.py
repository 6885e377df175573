"""The build: run it with progress (runner), parse its stages (stages), check _output (output)."""

from workbench.engine.build.output import (
    OutputUsage,
    measure_output,
    output_bloat_alert,
    prune_output,
)
from workbench.engine.build.runner import BuildResult, BuildRunner, BuildSettings, run_build
from workbench.engine.build.stages import (
    Estimator,
    StageParser,
    StageTiming,
    planned_stages,
    stage_of,
)

__all__ = [
    "BuildResult",
    "BuildRunner",
    "BuildSettings",
    "Estimator",
    "OutputUsage",
    "StageParser",
    "StageTiming",
    "measure_output",
    "output_bloat_alert",
    "planned_stages",
    "prune_output",
    "run_build",
    "stage_of",
]
