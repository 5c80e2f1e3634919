"""Step 2, areal clusters: local Moran's I and Gi* on the study's units, cluster regions.

``[areal] data = "us_patents"`` analyses the bundled USPTO patents by county; ``"firms"``
the study's firms counted in its units. Regions list their largest metros (else counties).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.clusters.hotspots import getis_ord, plot_hotspot_map
from geocluster.clusters.lisa import local_moran
from geocluster.clusters.lisa_plots import plot_lisa_map, plot_moran_scatter
from geocluster.clusters.regions import cluster_regions
from geocluster.pipeline.steps.common import (
    StepContext,
    arguments,
    config_key,
    seed_int,
    study_graph,
)
from geocluster.pipeline.steps.data import ArealData
from geocluster.pipeline.steps.units import StudyUnits, us_patent_units

__all__ = ["areal_clusters"]


def areal_clusters(context: StepContext, units: StudyUnits, *,
                   seed: np.random.Generator) -> ArealData:
    """Local Moran (and Gi*) of the units' analysed column, regions, figures."""
    config = context.config
    cfg = config.areal
    if cfg.data == "us_patents":
        frame = us_patent_units(cfg.years)
        column, totals, lq_column = "log_patents", ["patents"], "tech_lq"
    else:
        frame, column = units.with_focus_lq(), "log_firms"
        totals, lq_column = ["n_firms"], None
    graph = study_graph(config, frame, cfg.weights, "areal", "weights")
    common = dict(weights=graph, permutations=cfg.permutations, alpha=cfg.alpha,
                  correction=None if cfg.correction == "none" else cfg.correction,
                  isolates=config.weights.isolates, missing=cfg.missing)
    # cluster_sensitivity draws its local_moran seed from its seed this way, so its
    # reference map (the study's own weights) is the areal step's map, unit for unit
    areal_seed = seed_int(seed)
    lisa_seed = int(np.random.default_rng(areal_seed).integers(0, 2**31 - 1))
    args = arguments(cfg, "permutations", "alpha", "correction", "missing")
    with config_key("areal", "weights", cfg.weights, args=args):
        lisa = local_moran(frame, column, seed=lisa_seed, **common)
        regions = cluster_regions(lisa, sum_columns=totals, lq_column=lq_column)
    regions = _regions_with_places(lisa, regions, totals[0])
    hotspots = None
    if cfg.getis_ord:
        with config_key("areal", "weights", cfg.weights, args=args):
            hotspots = getis_ord(frame, column, seed=seed_int(seed), **common)
    context.save_figure(plot_lisa_map(lisa, title=f"LISA clusters of {column}"), "lisa_map")
    context.save_figure(plot_moran_scatter(lisa), "moran_scatter")
    if hotspots is not None:
        context.save_figure(plot_hotspot_map(hotspots), "hotspots_map")
    summary = _summary(context, lisa, regions, column, totals[0])
    if cfg.data != "us_patents":
        summary["firms_outside"] = units.outside
    return ArealData(units=lisa, regions=regions, column=column, seed=areal_seed,
                     hotspots=hotspots, graph=graph, summary=summary)


def _summary(context: StepContext, lisa, regions, column: str, weight: str) -> dict:
    cfg = context.config.areal
    counts = lisa["lisa_cluster"].value_counts(dropna=False)
    # local_moran gives its effective p cut-off only in .attrs (read here, once, for the summary)
    return {
        "units": int(len(lisa)),
        "column": column,
        "cutoff": float(lisa.attrs.get("cutoff", cfg.alpha)),
        "clusters": {str(k): int(v) for k, v in counts.items()},
        "regions": int(len(regions)),
        "hh_regions_total": int((regions["cluster"] == "HH").sum()) if len(regions) else 0,
        "hh_title": ("High-high innovation cluster regions" if cfg.data == "us_patents"
                     else "High-high cluster regions"),
        "hh_regions": _region_digest(lisa, regions, weight),
    }


def _places_of(members: pd.DataFrame, weight: str, k: int = 3) -> list[str]:
    """The ``k`` largest places of a region by ``weight``: its metros (a unit outside every
    metro counts as its "County, ST"), else its "County, ST" names, else unit ids."""
    if "place" not in members.columns:
        return [str(i) for i in members[weight].sort_values(ascending=False).index[:k]]
    label = members["place"].astype(str)
    if "metro" in members.columns:
        label = members["metro"].where(members["metro"].notna(), label).astype(str)
    ranked = members[weight].groupby(label.to_numpy()).sum().sort_values(ascending=False,
                                                                          kind="stable")
    return ranked.index[:k].astype(str).tolist()


def _regions_with_places(lisa, regions, weight: str) -> gpd.GeoDataFrame:
    if not len(regions):
        return regions
    regions = regions.copy()
    regions["places"] = [
        "; ".join(_places_of(lisa.loc[list(units)], weight)) for units in regions["units"]
    ]
    return regions


def _region_digest(lisa: gpd.GeoDataFrame, regions: gpd.GeoDataFrame, weight: str) -> list[dict]:
    """The 20 largest HH regions with their main places (metros, else "County, ST")."""
    out = []
    hh = regions[regions["cluster"] == "HH"] if len(regions) else regions
    for region_id, row in hh.head(20).iterrows():
        members = lisa.loc[list(row["units"])]
        out.append({"region": str(region_id), "units": int(row["n_units"]),
                    "total": float(members[weight].sum()),
                    "places": _places_of(members, weight)})
    return out
