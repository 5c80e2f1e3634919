"""The firms layer of a map: circles on one canvas (internal API of :mod:`geocluster.viz.maps`).

:func:`firm_layer` checks the firms and encodes them as compact columns (coordinates
rounded to 1e-5 degrees, categories as codes) for the runtime's canvas layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geocluster._base import plotting
from geocluster.errors import InputError
from geocluster.viz.frames import check_frame, field_list, frame_bounds, index_label, name_column
from geocluster.viz.layers import MAX_LABEL, GeoclusterLayer, clip_text, info_specs
from geocluster.viz.legend import circle_radii, classify_column, legend_items


def firm_layer(firms, *, color, size, popup, tooltip) -> GeoclusterLayer:
    """The ``firms=`` layer: points coloured by ``color``, sized by ``size``, with
    tooltips and popups."""
    gdf = check_frame(firms, "firms",
                       {k: v for k, v in (("color=", color), ("size=", size)) if v is not None})
    kinds = set(gdf.geometry.geom_type.unique())
    if not kinds <= {"Point"}:
        raise InputError(
            f"firms= must hold points; found {sorted(kinds - {'Point'})}. Use "
            "firms.representative_point() (or centroids) to place each firm at one point."
        )
    n = len(gdf)
    lon = np.round(gdf.geometry.x.to_numpy(), 5)
    lat = np.round(gdf.geometry.y.to_numpy(), 5)
    if color is None and "innovator_type" in gdf.columns:
        color = "innovator_type"
    legend: dict[str, Any] = {"id": "firms", "title": f"Firms ({n:,})", "items": []}
    if color is None:
        codes, colours = None, [plotting.POINT_COLOR]
        legend["items"] = [{"color": plotting.POINT_COLOR, "label": "firm", "shape": "circle"}]
    else:
        levels = set(gdf[color].dropna().astype(str).unique())
        palette = (
            plotting.INNOVATOR_COLORS
            if color == "innovator_type" or (levels and levels <= set(plotting.INNOVATOR_COLORS))
            else None
        )
        codes, colours, labels = classify_column(gdf[color], palette=palette)
        legend["title"] = f"Firms ({n:,}) by {clip_text(color, MAX_LABEL)}"
        legend["items"] = legend_items(colours, labels, "circle")
    default_radius = 4.0 if n <= 10_000 else 3.0
    radius: float | list[float] = default_radius
    if size is not None:
        radius, legend["sizes"] = circle_radii(gdf[size], size)
    default = [c for c in dict.fromkeys([name_column(gdf), color, size]) if c is not None]
    tip_fields = field_list("tooltip", tooltip, gdf, default)
    pop_fields = field_list("popup", popup, gdf, default)
    columns, specs = info_specs(
        gdf,
        {"tooltip": tip_fields if tooltip is not False else None,
         "popup": pop_fields if pop_fields else None},
        index_label=index_label(gdf),
    )
    payload = {
        "lat": lat.tolist(),
        "lon": lon.tolist(),
        "codes": None if codes is None else codes.tolist(),
        "palette": colours,
        "radius": radius,
        "stroke": "#ffffff",
        "weight": 0.6 if n <= 20_000 else 0.0,
        "fillOpacity": 0.8,
        "columns": columns,
        "tooltip": specs["tooltip"],
        "popup": specs["popup"],
        "legend": legend,
    }
    return GeoclusterLayer("points", payload, name="Firms", bounds=frame_bounds(gdf))
