"""Bundled real data and the synthetic firm generator with known truth.

:mod:`geocluster.datasets.bundled` loads the real public data shipped with the package
(``data/SOURCES.md`` gives their provenance); :mod:`geocluster.datasets.synthetic` draws
synthetic firms (:func:`make_firms`; :func:`simulate_firms` also returns the truth) from a known data-generating process, placed on that
geography by :mod:`geocluster.datasets.geography` (ZIP areas, technology hubs, jitter),
with the true parameters in :mod:`geocluster.datasets.truth`;
:func:`write_firms_dataset` (:mod:`geocluster.datasets.register`) writes large partitioned
GeoParquet registers of that process, partition by partition.

Examples
--------
>>> import geocluster as gc
>>> gc.datasets.load_columbus().shape
(49, 21)
"""

from __future__ import annotations

from geocluster.datasets.bundled import (
    CONUS_EXCLUDED_STATES,
    NAICS_TITLES,
    data_path,
    load_cbp,
    load_columbus,
    load_counties,
    load_crosswalk,
    load_patents,
    load_states,
    load_zcta,
)
from geocluster.datasets.register import write_firms_dataset
from geocluster.datasets.synthetic import (
    SyntheticFirms,
    export_outcomes,
    make_firms,
    simulate_firms,
)

__all__ = [
    "data_path",
    "load_counties",
    "load_states",
    "load_patents",
    "load_cbp",
    "load_crosswalk",
    "load_zcta",
    "load_columbus",
    "make_firms",
    "simulate_firms",
    "export_outcomes",
    "SyntheticFirms",
    "write_firms_dataset",
    "NAICS_TITLES",
    "CONUS_EXCLUDED_STATES",
]
