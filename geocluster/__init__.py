"""geocluster: industrial clusters from geocoded firms.

``import geocluster as gc`` gives the whole public API: reading firms, spatial weights,
areal units and location quotients, local Moran's I and Getis-Ord Gi*, kernel density
and density clusters, Duranton-Overman K-density, cluster exposure, spatial regression
with effects by innovator type, robustness checks, maps and the study pipeline.

The names are loaded on first use (PEP 562), so ``import geocluster`` and the command
line's ``--help``, ``--version`` and ``config`` do not import the scientific stack; the
first ``gc.local_moran`` (say) imports what it needs.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from geocluster.errors import (
    ConfigError,
    CRSError,
    GeoclusterError,
    GeoclusterWarning,
    InputError,
    ModelError,
    WeightsError,
)

__version__ = "0.1.0"

#: Public submodules.
_SUBMODULES = {"datasets"}
#: Public name -> the module that defines it.
_LAZY = {
    "datasets": "geocluster.datasets",
    # input, units, weights
    "read_firms": "geocluster.io",
    "to_metric": "geocluster.units",
    "auto_metric_crs": "geocluster.units",
    "parse_distance": "geocluster._distance",
    "weights": "geocluster.weights",
    "check_spec": "geocluster.weights.spec",
    # areal units
    "grid": "geocluster.areal.grid",
    "aggregate": "geocluster.areal.aggregate",
    "location_quotient": "geocluster.areal.lq",
    # clusters
    "local_moran": "geocluster.clusters.lisa",
    "global_moran": "geocluster.clusters.lisa",
    "GlobalMoranResult": "geocluster.clusters.lisa",
    "cluster_regions": "geocluster.clusters.regions",
    "getis_ord": "geocluster.clusters.hotspots",
    "kde": "geocluster.clusters.kde",
    "DensitySurface": "geocluster.clusters.surface",
    "density_clusters": "geocluster.clusters.density",
    "k_density": "geocluster.clusters.localization",
    "KDensityResult": "geocluster.clusters.localization",
    "local_moran_bv": "geocluster.clusters.bivariate",
    "local_geary": "geocluster.clusters.geary",
    "local_join_counts": "geocluster.clusters.joincounts",
    "join_counts": "geocluster.clusters.joincounts",
    "JoinCountResult": "geocluster.clusters.joincounts",
    # concentration and co-agglomeration of industries
    "ellison_glaeser": "geocluster.clusters.concentration",
    "EllisonGlaeserResult": "geocluster.clusters.concentration",
    "coagglomeration": "geocluster.clusters.concentration",
    "CoagglomerationResult": "geocluster.clusters.concentration",
    "m_function": "geocluster.clusters.mfunction",
    "MFunctionResult": "geocluster.clusters.mfunction",
    "colocation_quotient": "geocluster.clusters.colocation",
    "local_colocation_quotient": "geocluster.clusters.colocation",
    "ColocationResult": "geocluster.clusters.colocation",
    "k_density_pair": "geocluster.clusters.colocalization",
    "hdbscan_clusters": "geocluster.clusters.hdbscan",
    "HDBSCANResult": "geocluster.clusters.hdbscan",
    "KDensityPairResult": "geocluster.clusters.colocalization",
    "exposure": "geocluster.exposure",
    # models
    "regress": "geocluster.models.regress",
    "RegressionResult": "geocluster.models.results",
    "spatial_probit": "geocluster.models.probit",
    "spatial_tobit": "geocluster.models.tobit",
    "LimitedDependentResult": "geocluster.models.bayes_result",
    "classify_innovators": "geocluster.models.innovators",
    "match": "geocluster.models.matching",
    "MatchResult": "geocluster.models.match_result",
    "count_model": "geocluster.models.outcomes",
    "share_model": "geocluster.models.outcomes",
    "OutcomeResult": "geocluster.models.outcomes",
    # robustness
    "robustness": "geocluster.robustness.sweep",
    "RobustnessResult": "geocluster.robustness.result",
    "cluster_sensitivity": "geocluster.robustness.sensitivity",
    "SensitivityResult": "geocluster.robustness.result",
    # maps
    "map": "geocluster.viz.maps",
    "make_map": "geocluster.viz.maps",
    "save_map": "geocluster.viz.maps",
    # the study pipeline
    "load_config": "geocluster.pipeline.config",
    "run_study": "geocluster.pipeline.study",
    "StudyResult": "geocluster.pipeline.study",
    # the one summary type every result's summary() returns
    "Summary": "geocluster._base.summary",
}

__all__ = [
    *_LAZY,
    # errors
    "GeoclusterError",
    "InputError",
    "CRSError",
    "WeightsError",
    "ModelError",
    "ConfigError",
    "GeoclusterWarning",
]


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'geocluster' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if name in _SUBMODULES else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Facade(types.ModuleType):
    """The package module, whose public functions keep their names.

    Importing a submodule binds it as an attribute of its package, so the first import
    of ``geocluster.weights`` (say) would hide the function ``gc.weights`` behind the
    module of the same name. The module is in ``sys.modules`` either way; the public
    name stays the function's.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY and name not in _SUBMODULES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade


if TYPE_CHECKING:  # what type checkers and IDEs see: the eager imports
    from geocluster import datasets  # noqa: F401
    from geocluster._base.summary import Summary  # noqa: F401
    from geocluster._distance import parse_distance  # noqa: F401
    from geocluster.areal.aggregate import aggregate  # noqa: F401
    from geocluster.areal.grid import grid  # noqa: F401
    from geocluster.areal.lq import location_quotient  # noqa: F401
    from geocluster.clusters.bivariate import local_moran_bv  # noqa: F401
    from geocluster.clusters.colocalization import KDensityPairResult, k_density_pair  # noqa: F401
    from geocluster.clusters.colocation import (  # noqa: F401
        ColocationResult,
        colocation_quotient,
        local_colocation_quotient,
    )
    from geocluster.clusters.concentration import (  # noqa: F401
        CoagglomerationResult,
        EllisonGlaeserResult,
        coagglomeration,
        ellison_glaeser,
    )
    from geocluster.clusters.density import density_clusters  # noqa: F401
    from geocluster.clusters.geary import local_geary  # noqa: F401
    from geocluster.clusters.hdbscan import HDBSCANResult, hdbscan_clusters  # noqa: F401
    from geocluster.clusters.hotspots import getis_ord  # noqa: F401
    from geocluster.clusters.joincounts import JoinCountResult, join_counts, local_join_counts  # noqa: F401,E501
    from geocluster.clusters.kde import kde  # noqa: F401
    from geocluster.clusters.lisa import GlobalMoranResult, global_moran, local_moran  # noqa: F401
    from geocluster.clusters.localization import KDensityResult, k_density  # noqa: F401
    from geocluster.clusters.mfunction import MFunctionResult, m_function  # noqa: F401
    from geocluster.clusters.regions import cluster_regions  # noqa: F401
    from geocluster.clusters.surface import DensitySurface  # noqa: F401
    from geocluster.exposure import exposure  # noqa: F401
    from geocluster.io import read_firms  # noqa: F401
    from geocluster.models.bayes_result import LimitedDependentResult  # noqa: F401
    from geocluster.models.innovators import classify_innovators  # noqa: F401
    from geocluster.models.match_result import MatchResult  # noqa: F401
    from geocluster.models.matching import match  # noqa: F401
    from geocluster.models.outcomes import OutcomeResult, count_model, share_model  # noqa: F401
    from geocluster.models.probit import spatial_probit  # noqa: F401
    from geocluster.models.regress import regress  # noqa: F401
    from geocluster.models.results import RegressionResult  # noqa: F401
    from geocluster.models.tobit import spatial_tobit  # noqa: F401
    from geocluster.pipeline.config import load_config  # noqa: F401
    from geocluster.pipeline.study import StudyResult, run_study  # noqa: F401
    from geocluster.robustness.result import RobustnessResult, SensitivityResult  # noqa: F401
    from geocluster.robustness.sensitivity import cluster_sensitivity  # noqa: F401
    from geocluster.robustness.sweep import robustness  # noqa: F401
    from geocluster.units import auto_metric_crs, to_metric  # noqa: F401
    from geocluster.viz.maps import make_map, map, save_map  # noqa: F401
    from geocluster.weights import weights  # noqa: F401
    from geocluster.weights.spec import check_spec  # noqa: F401
