"""Step 3, density clusters: KDE and Monte Carlo density clusters per focus industry, K-density.

Without industries the density step tests all firms against complete spatial randomness
(``null = "firms"`` relabels an industry among all sites and needs one); a CSR null places
its firms in the study's areal units (their union), not in the convex hull of the firms.
Density clusters are named by the county at their representative point.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.clusters.density import density_clusters
from geocluster.clusters.kde import kde
from geocluster.clusters.localization import k_density
from geocluster.datasets import CONUS_EXCLUDED_STATES, load_counties, load_states
from geocluster.exposure import exposure as firm_exposure
from geocluster.pipeline.steps.common import (
    StepContext,
    arguments,
    config_key,
    finite_or_none,
    note,
    seed_int,
)
from geocluster.pipeline.steps.data import ArealData, DensityData
from geocluster.pipeline.steps.units import StudyUnits, with_places

__all__ = ["density"]


def density(context: StepContext, firms: gpd.GeoDataFrame, units: StudyUnits,
            areal: ArealData | None, *, seed: np.random.Generator) -> DensityData:
    """Density clusters (and K-densities) of every focus group of firms."""
    cfg = context.config.density
    industry = units.columns.industry
    groups = _groups(firms, industry, units.focus.industries)
    seed_clusters, seed_kd = seed_int(seed), seed_int(seed)
    null = cfg.null
    if industry is None and null == "firms":
        null = "csr"
        note("no industry column: the density clusters test all firms against complete "
             "spatial randomness ([density] null = \"firms\" relabels an industry among all "
             "firm sites and needs one).")
    # CSR places firms in the study's units (not the convex hull of the firms, which for a
    # national file with a Hawaiian or Alaskan firm spans the ocean)
    study_area = units.study_area() if null == "csr" else None
    frames, surfaces, kds, thresholds = [], {}, {}, []
    member = pd.Series(0, index=firms.index, dtype=int)
    member_id = pd.Series(np.nan, index=firms.index, dtype=float)
    next_id = 1
    for number, (label, subset) in enumerate(groups, start=1):
        chosen = firms if subset is None else firms[subset]
        clusters, surface, threshold = _clusters(context, firms, chosen, subset, null,
                                                 study_area, seed_clusters)
        thresholds.append(threshold)
        if len(clusters):
            clusters["cluster_id"] = np.arange(next_id, next_id + len(clusters))
            next_id += len(clusters)
            clusters.insert(0, "industry", label)
            clusters["places"] = _cluster_places(clusters, units)
            labelled = firm_exposure(chosen, method="region", regions=clusters,
                                     name="density_cluster")
            member.loc[labelled.index] = labelled["density_cluster"].fillna(0).astype(int)
            member_id.loc[labelled.index] = labelled["density_cluster_id"].astype(float)
        else:
            clusters.insert(0, "industry", pd.Series([], dtype=object))
        frames.append(clusters)
        surfaces[label] = surface
        suffix = "" if number == 1 else f"_{number}"
        _plot_surface(context, surface, clusters, areal, label if subset is not None else "all",
                      suffix)
        if cfg.k_density and subset is not None:
            kds[label] = _k_density(context, firms, subset, seed_kd)
            context.save_figure(kds[label].plot(), f"k_density{suffix}")
    combined = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True),
                                geometry=frames[0].geometry.name, crs=frames[0].crs)
    summary = _summary(firms, industry, groups, combined, member, kds, units)
    summary["threshold_per_km2"] = finite_or_none(thresholds[0])
    summary["bandwidth_m"] = finite_or_none(next(iter(surfaces.values())).bandwidth)
    return DensityData(
        clusters=combined, surfaces=surfaces, groups=tuple(label for label, _ in groups),
        null=null, firms=firms.assign(density_cluster=member, density_cluster_id=member_id),
        k_density=kds, summary=summary,
    )


def _groups(firms, industry: str | None, focus: tuple[str, ...]) -> list[tuple[str, Any]]:
    """``(label, mask)`` per focus industry, or one group of all firms (mask None)."""
    if industry is None:
        return [("all firms", None)]
    # boolean masks on the industries as text, so a config's "5415" (or 5415) matches an
    # integer NAICS column too
    as_text = firms[industry].astype(str).where(firms[industry].notna())
    return [(f, (as_text == f).to_numpy()) for f in focus]


def _clusters(context: StepContext, firms, chosen, subset, null: str, study_area,
              seed: int) -> tuple[gpd.GeoDataFrame, Any, float]:
    """The group's density clusters, its surface and the clusters' density threshold."""
    cfg = context.config.density
    with config_key("density", "bandwidth", cfg.bandwidth,
                    args=arguments(cfg, "bandwidth", "alpha", "simulations", "min_firms",
                                   "cell_size", "null")):
        clusters = density_clusters(
            firms, bandwidth=cfg.bandwidth, alpha=cfg.alpha, null=null,
            simulations=cfg.simulations, seed=seed, min_firms=cfg.min_firms,
            subset=subset, cell_size=cfg.cell_size, study_area=study_area,
        )
        surface = kde(chosen, bandwidth=cfg.bandwidth, cell_size=cfg.cell_size)
    # density_clusters gives its threshold only in .attrs (read here, once, for the summary)
    threshold = float(clusters.attrs.get("threshold", float("nan")))
    clusters = clusters.copy()
    clusters.attrs = {}
    return clusters, surface, threshold


def _k_density(context: StepContext, firms, subset, seed: int):
    cfg = context.config.density
    with config_key("density", "k_density_bandwidth", cfg.k_density_bandwidth,
                    args=arguments(cfg, "simulations", bandwidth="k_density_bandwidth",
                                   max_distance="k_density_max_distance")):
        return k_density(firms, subset=subset, bandwidth=cfg.k_density_bandwidth,
                         max_distance=cfg.k_density_max_distance,
                         simulations=cfg.simulations, seed=seed)


def _plot_surface(context: StepContext, surface, clusters, areal: ArealData | None,
                  what: str, suffix: str) -> None:
    context_layer = areal.units if areal is not None else None  # outlines, or US states
    if context.config.areal.data == "us_patents" or context_layer is None:
        states = load_states()
        context_layer = states[~states.index.isin(CONUS_EXCLUDED_STATES)]
    fig = surface.plot(clusters=clusters if len(clusters) else None, context=context_layer,
                       scale="sqrt", title=f"Kernel density of {what} firms and density clusters")
    context.save_figure(fig, f"kde_clusters{suffix}")


def _cluster_places(clusters: gpd.GeoDataFrame, units: StudyUnits) -> list[str]:
    """The county ("Montgomery, MD") at each cluster's representative point, when in the US."""
    counties = units.counted if units.is_read else None
    if counties is None or "place" not in counties.columns:
        counties = with_places(load_counties("conus"))
    points = clusters.geometry.representative_point().to_crs(counties.crs)
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points.to_numpy(), crs=counties.crs),
                       counties[["place", counties.geometry.name]], how="left",
                       predicate="within")
    joined = joined[~joined.index.duplicated()]
    return joined["place"].fillna("").astype(str).tolist()


def _summary(firms, industry, groups, combined, member, kds, units: StudyUnits) -> dict:
    per = []
    for label, _ in groups:
        part = combined[combined["industry"] == label] if len(combined) else combined
        in_group = firms.index if industry is None else firms.index[
            firms[industry].astype(str) == label]
        per.append({
            "industry": label,
            "firms": int(len(in_group)),
            "clusters": int(len(part)),
            "firms_in_clusters": int((member.loc[in_group] != 0).sum()),
            "places": [p for p in (part["places"].tolist() if len(part) else []) if p][:5],
        })
    summary: dict[str, Any] = {
        "industry": ", ".join(label for label, _ in groups),
        "clusters": int(len(combined)),
        "firms_in_clusters": int(sum(p["firms_in_clusters"] for p in per)),
        "by_industry": per,
        "focus_rule": units.focus.rule,
    }
    if kds:
        summary["k_density"] = {
            label: {"localised": bool(kd.is_localised),
                    "localisation_index": finite_or_none(kd.localisation_index),
                    "dispersion_index": finite_or_none(kd.dispersion_index)}
            for label, kd in kds.items()
        }
    return summary
