"""geocluster: industrial clusters from geocoded firms."""

from geocluster import datasets
from geocluster.areal import aggregate, grid, location_quotient
from geocluster.clusters.hotspots import getis_ord
from geocluster.clusters.lisa import cluster_regions
from geocluster.clusters.lisa import global_moran
from geocluster.clusters.lisa import local_moran
from geocluster.clusters.localization import k_density
from geocluster.clusters.density import DensitySurface, density_clusters, kde
from geocluster.exposure import exposure
from geocluster.errors import (
    ConfigError,
    CRSError,
    GeoclusterError,
    GeoclusterWarning,
    InputError,
    ModelError,
    WeightsError,
)
from geocluster.io import read_firms
from geocluster.maps import make_map, map, save_map
from geocluster.models.matching import classify_innovators, match
from geocluster.models.outcomes import count_model, share_model
from geocluster.robustness import cluster_sensitivity, robustness
from geocluster.units import parse_distance, to_metric
from geocluster.weights import weights
from geocluster.models.regress import regress

__version__ = "0.1.0"
