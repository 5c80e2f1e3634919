"""Areal layers of a map: LISA, Gi*, bivariate LISA, local Geary, local join counts,
choropleth and cluster outlines (internal API).

Each is a :class:`~geocluster.viz.layers.GeoclusterLayer` of kind ``"features"``: GeoJSON
with a colour code per feature, drawn by the runtime on the map's shared canvas.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base import plotting
from geocluster.clusters.local_plots import (
    GEARY_COLORS,
    GEARY_LABELS,
    JOIN_COUNT_COLORS,
    JOIN_COUNT_LABELS,
    join_count_classes,
)
from geocluster.errors import InputError
from geocluster.viz.frames import check_frame, frame_bounds, index_label, name_column
from geocluster.viz.layers import (
    MAX_LABEL,
    GeoclusterLayer,
    check_colour,
    clip_text,
    feature_collection,
    info_specs,
    is_scalar_column,
)
from geocluster.viz.legend import bin_labels, legend_items, with_missing

#: Keys of a ``choropleth=`` dict.
_CHOROPLETH_KEYS = {"data", "column", "scheme", "k", "cmap", "name", "tooltip"}


def _feature_layer(gdf, *, codes, colours, name, legend, fields, show=True, outline=False,
                   fill_opacity=0.7, weight=0.5, stroke="#ffffff") -> GeoclusterLayer:
    columns, specs = info_specs(gdf, {"tooltip": fields}, index_label=index_label(gdf))
    payload = {
        "palette": colours,
        "stroke": stroke,
        "weight": weight,
        "fillOpacity": fill_opacity,
        "outline": outline,
        "radius": 5,
        "count": len(gdf),
        "columns": columns,
        "tooltip": specs["tooltip"],
        "popup": None,
        "legend": legend,
    }
    geojson = feature_collection(gdf.geometry.to_numpy(), codes)
    return GeoclusterLayer(
        "features", payload, name=name, show=show, extra=geojson, bounds=frame_bounds(gdf)
    )


def _category_layer(gdf, column, colours_of, labels_of, *, arg, producer, name, title, extra):
    gdf = check_frame(gdf, arg)
    if column not in gdf.columns:
        raise InputError(
            f"{arg}= needs the column {column!r}: pass the frame returned by {producer}."
        )
    values = gdf[column].astype("object")
    bad = sorted({str(v) for v in values.dropna().unique()} - set(colours_of))
    if bad or values.isna().any():
        shown = [clip_text(v, 60) for v in bad[:5]] + (["missing"] if values.isna().any() else [])
        raise InputError(
            f"{arg}= column {column!r} has values {shown} outside {list(colours_of)}; pass the "
            f"frame returned by {producer}."
        )
    keys = list(colours_of)
    codes = values.map({k: i for i, k in enumerate(keys)}).to_numpy(dtype=np.int64)
    counts = np.bincount(codes, minlength=len(keys))
    labels = [f"{labels_of(k)} ({c:,})" for k, c in zip(keys, counts, strict=True)]
    colours = [check_colour(colours_of[k]) for k in keys]
    fields = [c for c in dict.fromkeys((name_column(gdf), *extra)) if c in gdf.columns]
    legend = {"id": arg, "title": title, "items": legend_items(colours, labels)}
    return _feature_layer(gdf, codes=codes, colours=colours, name=name, legend=legend,
                          fields=fields)


def lisa_layer(lisa) -> GeoclusterLayer:
    """The ``lisa=`` layer: units in GeoDa's colours of ``lisa_cluster``."""
    return _category_layer(
        lisa, "lisa_cluster", plotting.LISA_COLORS,
        lambda k: f"{plotting.LISA_LABELS[k]} ({k})" if k != "ns" else plotting.LISA_LABELS[k],
        arg="lisa", producer="gc.local_moran()", name="LISA clusters",
        title="Local Moran's I clusters",
        extra=("lisa_cluster", "lisa_I", "lisa_p", "lisa_q", "lisa_region"),
    )


def hotspot_layer(hotspots) -> GeoclusterLayer:
    """The ``hotspots=`` layer: hot and cold spots of ``gi_hotspot``."""
    return _category_layer(
        hotspots, "gi_hotspot", plotting.HOTSPOT_COLORS,
        lambda k: {"ns": "Not significant"}.get(k, k.replace("%", "% confidence")),
        arg="hotspots", producer="gc.getis_ord()", name="Gi* hot and cold spots",
        title="Getis-Ord Gi* hot and cold spots", extra=("gi_hotspot", "gi_z", "gi_p"),
    )


def bivariate_layer(bv) -> GeoclusterLayer:
    """The ``bivariate=`` layer: bivariate LISA clusters of ``bilisa_cluster``, GeoDa's colours."""
    return _category_layer(
        bv, "bilisa_cluster", plotting.LISA_COLORS,
        lambda k: f"{plotting.LISA_LABELS[k]} ({k})" if k != "ns" else plotting.LISA_LABELS[k],
        arg="bivariate", producer="local_moran_bv()", name="Bivariate LISA clusters",
        title="Bivariate local Moran clusters (x, lag of y)",
        extra=("bilisa_cluster", "bilisa_I", "bilisa_p", "bilisa_q"),
    )


def geary_layer(lg) -> GeoclusterLayer:
    """The ``geary=`` layer: local Geary classes of ``geary_cluster`` (GeoDa's colours)."""
    gdf = check_frame(lg, "geary")
    values = set(gdf["geary_cluster"].dropna()) if "geary_cluster" in gdf.columns else set()
    keys = ("POS", "NEG", "ns") if "POS" in values else ("HH", "LL", "OP", "NEG", "ns")
    return _category_layer(
        gdf, "geary_cluster", {k: GEARY_COLORS[k] for k in keys}, GEARY_LABELS.__getitem__,
        arg="geary", producer="local_geary()", name="Local Geary clusters",
        title="Local Geary clusters", extra=("geary_cluster", "geary_C", "geary_p"),
    )


def join_count_layer(jc) -> GeoclusterLayer:
    """The ``join_counts=`` layer: significant join-count cores, other event units, the rest."""
    gdf = check_frame(jc, "join_counts")
    missing = [c for c in ("jc_cluster", "jc_event") if c not in gdf.columns]
    if missing:
        raise InputError(
            f"join_counts= needs the columns {missing}: pass the frame returned by "
            "local_join_counts()."
        )
    gdf = gdf.assign(jc_class=join_count_classes(gdf))
    return _category_layer(
        gdf, "jc_class", JOIN_COUNT_COLORS, JOIN_COUNT_LABELS.__getitem__,
        arg="join_counts", producer="local_join_counts()", name="Local join counts",
        title="Local join counts", extra=("jc_class", "jc_count", "jc_p"),
    )


def choropleth_layer(spec) -> GeoclusterLayer:
    """The ``choropleth=`` layer: a numeric column classified by a mapclassify scheme."""
    opts = _choropleth_options(spec)
    column = opts["column"]
    gdf = check_frame(opts["data"], "choropleth", {"the choropleth's column": column})
    y, classifier = _classify(gdf[column], column, str(opts.get("scheme", "quantiles")),
                              opts.get("k", 5))
    cmap = str(opts.get("cmap", plotting.SEQUENTIAL_CMAP))
    from matplotlib import colormaps  # deferred: matplotlib is slow to import

    if cmap not in colormaps:
        raise InputError(f"choropleth cmap={cmap!r} is not a matplotlib colormap (e.g. 'YlOrRd').")
    ok = np.isfinite(y)
    nb = len(classifier.bins)
    codes = np.full(len(y), -1, dtype=np.int64)
    codes[ok] = classifier.yb
    colours = plotting.sample_cmap(cmap, nb)
    counts = np.bincount(codes[ok], minlength=nb)
    labels = [
        f"{lab} ({c:,})"
        for lab, c in zip(bin_labels(y[ok].min(), classifier.bins), counts, strict=True)
    ]
    codes, colours, labels = with_missing(codes, colours, labels)
    labels = [lab.replace("missing", "no data", 1) if lab.startswith("missing") else lab
              for lab in labels]
    extra = opts.get("tooltip") or []
    extra = [extra] if isinstance(extra, str) else list(extra)
    for col in extra:
        if col not in gdf.columns:
            raise InputError(f"choropleth tooltip column {col!r} is not in the frame.")
    name_col = name_column(gdf)
    fields = [c for c in (name_col,) if c is not None and c != column] + [column, *extra]
    legend = {
        "id": "choropleth",
        "title": clip_text(column, MAX_LABEL),
        "items": legend_items(colours, labels),
        "note": f"{type(classifier).__name__}, {nb} classes",
    }
    name = str(opts.get("name") or f"Choropleth: {column}")
    return _feature_layer(gdf, codes=codes, colours=colours, name=name, legend=legend,
                          fields=fields, stroke="#ffffff", weight=0.4, fill_opacity=0.75)


def _choropleth_options(spec) -> dict[str, Any]:
    """``choropleth=`` as a dict with at least ``data`` and ``column``."""
    if isinstance(spec, tuple) and len(spec) == 2:
        opts: dict[str, Any] = {"data": spec[0], "column": spec[1]}
    elif isinstance(spec, Mapping):
        opts = dict(spec)
        unknown = sorted(set(opts) - _CHOROPLETH_KEYS)
        if unknown or "data" not in opts or "column" not in opts:
            raise InputError(
                f"choropleth= dict needs keys 'data' and 'column' (optional: scheme, k, cmap, "
                f"name, tooltip); got {sorted(opts)}."
            )
    else:
        raise InputError(
            "choropleth= must be (frame, column) or a dict with 'data' and 'column'; got "
            f"{type(spec).__name__}."
        )
    return opts


def _classify(y_series: pd.Series, column: str, scheme: str, k):
    """The column's values as floats and their mapclassify classifier (finite values)."""
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 2:
        raise InputError(f"choropleth k={k!r} must be an integer >= 2 (the number of classes).")
    if not pd.api.types.is_numeric_dtype(y_series) or pd.api.types.is_bool_dtype(y_series):
        raise InputError(
            f"choropleth column {column!r} must be numeric to classify; it has dtype "
            f"{y_series.dtype}. Colour categories with color= on firms instead."
        )
    y = y_series.to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(y)
    if not ok.any():
        raise InputError(f"choropleth column {column!r} has no finite values to classify.")
    import mapclassify  # deferred: slow to import, needed for choropleths only

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = mapclassify.classify(y[ok], scheme, k=int(k))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"choropleth scheme={scheme!r} failed ({exc}). Use a mapclassify scheme such as "
            "'quantiles', 'fisher_jenks', 'natural_breaks', 'equal_interval' or 'std_mean'."
        ) from None
    return y, classifier


def cluster_layers(clusters) -> list[GeoclusterLayer]:
    """The ``clusters=`` layers: one outline layer per GeoDataFrame, each in its colour."""
    if isinstance(clusters, gpd.GeoDataFrame):
        named = {"Clusters": clusters}
    elif isinstance(clusters, Mapping) and clusters:
        named = {str(k): v for k, v in clusters.items()}
    else:
        raise InputError(
            "clusters= must be a GeoDataFrame of cluster polygons or a dict "
            f"{{layer name: GeoDataFrame}}; got {type(clusters).__name__}."
        )
    layers = []
    for k, (name, frame) in enumerate(named.items()):
        gdf = check_frame(frame, "clusters")
        colour = check_colour(plotting.CLUSTER_COLORS[k % len(plotting.CLUSTER_COLORS)])
        scalar = [
            c for c in gdf.columns
            if c != gdf.geometry.name and not isinstance(gdf[c].dtype, gpd.array.GeometryDtype)
            and is_scalar_column(gdf[c])
        ][:8]
        n = len(gdf)
        legend = {
            "id": f"clusters-{k}",
            "title": clip_text(name, MAX_LABEL),
            "items": [{"color": colour, "label": f"{n:,} polygon{'s' if n != 1 else ''}",
                       "shape": "outline"}],
        }
        layers.append(_feature_layer(
            gdf, codes=np.zeros(n, dtype=np.int64), colours=[colour], name=name, legend=legend,
            fields=scalar, outline=True, fill_opacity=0.12, weight=2.0,
        ))
    return layers
