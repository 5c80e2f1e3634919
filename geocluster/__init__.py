"""geocluster: industrial clusters from geocoded firms."""

from geocluster import datasets
from geocluster.errors import (
    ConfigError,
    CRSError,
    GeoclusterError,
    GeoclusterWarning,
    InputError,
    ModelError,
    WeightsError,
)
from geocluster.units import parse_distance, to_metric
from geocluster.weights import weights

__version__ = "0.1.0"
