"""The steps of :func:`geocluster.pipeline.study.run_study`, one module each.

Each step is ``step(context, *inputs, seed) -> output``: it receives the
:class:`~geocluster.pipeline.steps.common.StepContext` (typed config, output folder) and
the typed outputs of earlier steps (:mod:`geocluster.pipeline.steps.data`), and returns its
own. The steps call the library's public functions from their defining modules, so a study
is exactly what a user could do by hand. The steps fit any firm table, not only the demo's.

**Weights.** ``[weights] coincident`` and ``isolates`` apply to every weights spec the
study builds: the areal units' Graph (also given to local Moran and Gi*), and the firms'
Graph of the model, built once on every firm as the robustness sweep builds it (so the
sweep's reference is the model exactly). With ``coincident = "jitter"`` firms sharing a
location are moved apart by at most 1 cm, drawn from the study seed, for the model and
the sweep (the written firms keep their coordinates).
"""

from geocluster.pipeline.steps.areal import areal_clusters
from geocluster.pipeline.steps.common import StepContext
from geocluster.pipeline.steps.data import (
    ArealData,
    Columns,
    DensityData,
    ExposureData,
    FirmsData,
    Focus,
    ModelData,
    ModelPlan,
    RobustnessData,
    StudyData,
)
from geocluster.pipeline.steps.density import density
from geocluster.pipeline.steps.exposure import exposure
from geocluster.pipeline.steps.firms import load_firms
from geocluster.pipeline.steps.maps import maps
from geocluster.pipeline.steps.model import model, model_plan
from geocluster.pipeline.steps.outputs import fixed_gpkg_date, write_gpkg, write_outputs
from geocluster.pipeline.steps.report import report, report_data
from geocluster.pipeline.steps.robustness import robustness
from geocluster.pipeline.steps.units import N_FOCUS, STATE_ABBREVIATIONS, TECH_NAICS, StudyUnits

__all__ = ["load_firms", "areal_clusters", "density", "exposure", "model", "model_plan",
           "robustness", "write_outputs", "write_gpkg", "fixed_gpkg_date", "maps", "report",
           "report_data", "StepContext", "StudyUnits", "Columns", "FirmsData", "Focus",
           "ArealData", "DensityData", "ExposureData", "ModelPlan", "ModelData",
           "RobustnessData", "StudyData", "TECH_NAICS", "N_FOCUS", "STATE_ABBREVIATIONS"]
