"""Step 8, the interactive map (``map.html``)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.errors import ConfigError
from geocluster.pipeline.steps.common import StepContext, column_list, config_key, note, seed_int
from geocluster.pipeline.steps.data import StudyData
from geocluster.viz.maps import make_map, save_map

__all__ = ["maps"]


def _map_fields(firms: gpd.GeoDataFrame, key: str, value) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    bad = [n for n in names if n not in firms.columns]
    if bad:
        raise ConfigError(
            f"[maps] {key} = {list(value)!r}: {', '.join(map(repr, bad))} not column(s) of the "
            f"firm table; its columns are {column_list(firms)}. Name existing columns."
        )
    return names


def maps(context: StepContext, data: StudyData, *, seed: np.random.Generator) -> None:
    """The firms, areal clusters, density surface and cluster outlines on one map."""
    cfg = context.config.maps
    firms = data.table
    if len(firms) > cfg.max_firms:
        note(f"[maps] max_firms = {cfg.max_firms:,}: the map shows a random sample of "
             f"{cfg.max_firms:,} of {len(firms):,} firms.")
        firms = firms.sample(cfg.max_firms, random_state=seed_int(seed))
    columns = data.firms.columns
    industry, size, name = columns.industry, columns.employees, columns.name
    color = "innovator_type" if "innovator_type" in firms.columns else industry
    if size is not None and not pd.api.types.is_numeric_dtype(firms[size]):
        size = None
    popup = _map_fields(firms, "popup", cfg.popup)
    tooltip = _map_fields(firms, "tooltip", cfg.tooltip)
    # Defaults: the tooltip shows the name (and the id, which the map always shows); a click
    # adds the firm's industry, size, exposure and density cluster.
    if popup is None:
        popup = [c for c in (name, industry, "innovator_type", size,
                             context.config.exposure.name, "density_cluster")
                 if c and c in firms.columns]
    if tooltip is None and name is not None:
        tooltip = [name]
    tiles = None if cfg.tiles in ("none", "") else cfg.tiles
    areal, density = data.areal, data.density
    with config_key("maps", "tiles", cfg.tiles):
        m = make_map(
            firms=firms, color=color, size=size, popup=popup or None,
            tooltip=tooltip or None, lisa=areal.units if areal else None,
            hotspots=areal.hotspots if areal else None,
            density=density.surface if density else None,
            clusters=_outlines(data) or None, tiles=tiles,
        )
    save_map(m, context.folder / "map.html", self_contained=cfg.self_contained)


def _outlines(data: StudyData) -> dict[str, gpd.GeoDataFrame]:
    clusters = {}
    if data.density is not None and len(data.density.clusters):
        clusters["Density clusters"] = data.density.clusters
    regions = data.areal.regions if data.areal is not None else None
    if regions is not None and len(regions) and (regions["cluster"] == "HH").any():
        clusters["High-high cluster regions"] = regions[regions["cluster"] == "HH"]
    return clusters
