"""Bundled real data and the synthetic firm generator with known truth.

:mod:`geocluster.datasets.bundled` loads the real public data shipped with the package
(``data/SOURCES.md`` gives their provenance); :mod:`geocluster.datasets.synthetic` draws
synthetic firms on that geography from a known data-generating process.

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
from geocluster.datasets.synthetic import make_firms

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
    "NAICS_TITLES",
    "CONUS_EXCLUDED_STATES",
]
