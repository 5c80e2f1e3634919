"""Colour classes, circle sizes and legend entries of the map layers (internal API).

:func:`classify_column` turns a column into colour codes, a palette and legend labels
(categories, or quintiles of a numeric column); :func:`circle_radii` sizes the firms'
circles by a numeric column and describes the sizes for the legend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geocluster._base import plotting
from geocluster.errors import InputError
from geocluster.viz.layers import MAX_LABEL, check_colour, clip_text, is_missing

#: Most categories given their own colour; the rest are lumped into "other".
MAX_CATEGORIES = 12
#: Label of the lumped categories beyond MAX_CATEGORIES.
OTHER = "other (lumped)"
#: Circle radii in pixels when ``size=`` is given.
MIN_RADIUS, MAX_RADIUS = 2.0, 10.0


def classify_column(series: pd.Series, *, palette: dict[str, str] | None):
    """Codes, colours and legend labels for a category or a numeric column."""
    s = series.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if numeric and not isinstance(s.dtype, pd.CategoricalDtype) and s.nunique() > MAX_CATEGORIES:
        import mapclassify  # deferred: slow to import, needed for numeric colours only

        y = s.to_numpy(dtype="float64", na_value=np.nan)
        ok = np.isfinite(y)
        classifier = mapclassify.Quantiles(y[ok], k=5)
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[ok] = classifier.yb
        colours = plotting.sample_cmap("viridis", len(classifier.bins))
        labels = bin_labels(y[ok].min(), classifier.bins)
        counts = np.bincount(codes[ok], minlength=len(labels))
        labels = [f"{lab} ({c:,})" for lab, c in zip(labels, counts, strict=True)]
        return with_missing(codes, colours, labels)
    text = pd.Series([None if is_missing(v) else str(v) for v in s], dtype="object")
    counts = text.value_counts()
    if isinstance(s.dtype, pd.CategoricalDtype):
        order = [str(c) for c in s.cat.categories if str(c) in counts.index]
    elif numeric or pd.api.types.is_bool_dtype(s):
        order = [str(v) for v in sorted(s.dropna().unique())]
    else:
        known = [k for k in (palette or {}) if k in counts.index]
        order = known + [k for k in counts.index if k not in known]
    lumped = len(order) > MAX_CATEGORIES
    if lumped:
        keep = set(counts.index[: MAX_CATEGORIES - 1])
        order = [k for k in order if k in keep]
        text = text.map(lambda v: v if v is None or v in keep else OTHER)
        order.append(OTHER)
        counts = text.value_counts()
    colour_of = plotting.category_colors(order, palette=palette)
    if lumped:
        colour_of[OTHER] = plotting.OTHER_COLOR
    lookup = {k: i for i, k in enumerate(order)}
    codes = text.map(lambda v: -1 if v is None else lookup[v]).to_numpy(dtype=np.int64)
    labels = [f"{clip_text(k, MAX_LABEL)} ({int(counts[k]):,})" for k in order]
    return with_missing(codes, [colour_of[k] for k in order], labels)


def with_missing(codes: np.ndarray, colours: list[str], labels: list[str]):
    """Missing rows (code -1) as one more class, coloured MISSING_COLOR, with its count."""
    n_missing = int((codes < 0).sum())
    if n_missing:
        codes = np.where(codes < 0, len(colours), codes)
        colours = [*colours, plotting.MISSING_COLOR]
        labels = [*labels, f"missing ({n_missing:,})"]
    return codes, [check_colour(c) for c in colours], labels


def bin_labels(low: float, bins: Sequence[float]) -> list[str]:
    """Legend labels "low – high" of classes with upper bounds ``bins``."""
    edges = [float(low), *(float(b) for b in bins)]
    return [f"{edges[i]:,.4g} – {edges[i + 1]:,.4g}" for i in range(len(bins))]


def legend_items(colours: list[str], labels: list[str], shape: str = "box") -> list[dict]:
    """Legend rows (colour, label, swatch shape) for the runtime."""
    return [
        {"color": c, "label": lab, "shape": shape} for c, lab in zip(colours, labels, strict=True)
    ]


def circle_radii(values: pd.Series, column: str):
    """Circle radii (px) whose areas grow with ``values`` (capped at the 99th
    percentile), and the size legend."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(
            f"size={column!r} must be a numeric column (e.g. employees); it has dtype {values.dtype}."
        )
    v = values.to_numpy(dtype="float64", na_value=np.nan)
    if np.nanmin(v, initial=0.0) < 0:
        raise InputError(
            f"size={column!r} has negative values (min {np.nanmin(v):g}); circle areas need "
            "values >= 0."
        )
    finite = v[np.isfinite(v)]
    cap = float(np.quantile(finite, 0.99)) if finite.size else 0.0
    if cap <= 0:
        cap = float(finite.max()) if finite.size and finite.max() > 0 else 1.0

    def radius(x):
        return MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * np.sqrt(np.clip(x, 0, cap) / cap)

    r = np.where(np.isfinite(v), radius(np.nan_to_num(v)), MIN_RADIUS)
    samples = sorted({nice_number(cap * f) for f in (0.05, 0.3, 1.0)} - {0})
    sizes = {
        "title": f"circle area ∝ {clip_text(column, MAX_LABEL)}" + (" (capped at the 99th percentile)" if finite.size and finite.max() > cap else ""),
        "items": [{"radius": round(float(radius(x)), 1), "label": f"{x:,g}"} for x in samples],
    }
    return np.round(r, 1).tolist(), sizes


def nice_number(x: float) -> float:
    """``x`` rounded up to 1, 2 or 5 times a power of ten (0 for ``x <= 0``)."""
    if x <= 0:
        return 0.0
    mag = 10 ** np.floor(np.log10(x))
    for step in (1, 2, 5, 10):
        if x <= step * mag * 1.0001:
            return float(step * mag)
    return float(10 * mag)
