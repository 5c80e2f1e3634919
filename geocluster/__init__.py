"""geocluster: industrial clusters from geocoded firms.

``import geocluster as gc`` gives the whole public API: reading firms, spatial weights,
areal units and location quotients, local Moran's I and Getis-Ord Gi*, kernel density
and density clusters, Duranton-Overman K-density, cluster exposure, spatial regression
with effects by innovator type, robustness checks, maps and the study pipeline.
"""

from geocluster import datasets
from geocluster.areal import aggregate, grid, location_quotient
from geocluster.clusters.density import DensitySurface, density_clusters, kde
from geocluster.clusters.hotspots import getis_ord
from geocluster.clusters.lisa import cluster_regions, global_moran, local_moran
from geocluster.clusters.localization import k_density
from geocluster.errors import (
    ConfigError,
    CRSError,
    GeoclusterError,
    GeoclusterWarning,
    InputError,
    ModelError,
    WeightsError,
)
from geocluster.exposure import exposure
from geocluster.io import read_firms
from geocluster.maps import make_map, map, save_map
from geocluster.models.matching import classify_innovators, match
from geocluster.models.outcomes import count_model, share_model
from geocluster.models.regress import regress
from geocluster.robustness import cluster_sensitivity, robustness
from geocluster.units import auto_metric_crs, parse_distance, to_metric
from geocluster.weights import check_spec, weights

__version__ = "0.1.0"

__all__ = [
    "datasets",
    # input, units, weights
    "read_firms",
    "to_metric",
    "auto_metric_crs",
    "parse_distance",
    "weights",
    "check_spec",
    # areal units
    "grid",
    "aggregate",
    "location_quotient",
    # clusters
    "local_moran",
    "global_moran",
    "getis_ord",
    "cluster_regions",
    "kde",
    "DensitySurface",
    "density_clusters",
    "k_density",
    "exposure",
    # models
    "regress",
    "classify_innovators",
    "match",
    "count_model",
    "share_model",
    # robustness
    "robustness",
    "cluster_sensitivity",
    # maps
    "map",
    "make_map",
    "save_map",
    # errors
    "GeoclusterError",
    "InputError",
    "CRSError",
    "WeightsError",
    "ModelError",
    "ConfigError",
    "GeoclusterWarning",
]
