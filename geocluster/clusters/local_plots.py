"""Figures of the bivariate local Moran, local Geary and local join counts, and their colours.

The colours are shared with the map layers (:mod:`geocluster.viz.area_layers`): the
bivariate LISA uses GeoDa's LISA colours, local Geary GeoDa's local Geary colours.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.plotting import LISA_COLORS, LISA_LABELS, new_figure
from geocluster.errors import InputError

__all__ = [
    "GEARY_COLORS", "GEARY_LABELS", "JOIN_COUNT_COLORS", "JOIN_COUNT_LABELS",
    "join_count_classes", "plot_bivariate_scatter", "plot_bivariate_map", "plot_geary_map",
    "plot_join_count_map",
]

#: GeoDa's local Geary cluster colours (multivariate: positive / negative).
GEARY_COLORS = {
    "HH": "#b2182b", "LL": "#ef8a62", "OP": "#fddbc7", "POS": "#b2182b", "NEG": "#67adc7",
    "ns": "#eeeeee",
}
GEARY_LABELS = {
    "HH": "High-High", "LL": "Low-Low", "OP": "Other positive", "POS": "Positive",
    "NEG": "Negative", "ns": "Not significant",
}
#: Local join counts: significant cluster cores, other units with the event, the rest.
JOIN_COUNT_COLORS = {"cluster": "#b30000", "event": "#fdbb84", "none": "#eeeeee"}
JOIN_COUNT_LABELS = {"cluster": "Significant join-count cluster",
                     "event": "Event, not significant", "none": "No event / not tested"}


def _need(frame, columns, producer: str) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"expected the GeoDataFrame returned by {producer}; got "
                         f"{type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"expected the frame returned by {producer}; columns {missing} are "
                         "missing.")


def join_count_classes(jc: gpd.GeoDataFrame) -> pd.Series:
    """``"cluster"``, ``"event"`` (tested, not significant) or ``"none"`` for each unit.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.joincounts import local_join_counts
    >>> col = gc.datasets.load_columbus()
    >>> col["hi"] = col["CRIME"] > col["CRIME"].quantile(0.6)
    >>> join_count_classes(local_join_counts(col, "hi", permutations=0)).value_counts().to_dict()
    {'none': 29, 'event': 14, 'cluster': 6}
    """
    _need(jc, ("jc_cluster", "jc_event"), "local_join_counts")
    cls = np.where(jc["jc_cluster"] == "cluster", "cluster",
                   np.where(jc["jc_event"].fillna(False).astype(bool), "event", "none"))
    return pd.Series(cls, index=jc.index, dtype="object", name="jc_class")


def _legend_map(ax, frame, classes: pd.Series, colours: dict, labels: dict, title: str) -> None:
    from matplotlib.patches import Patch

    frame.plot(ax=ax, color=classes.map(colours).fillna(colours["ns" if "ns" in colours
                                                                 else "none"]).to_numpy(),
               edgecolor="white", linewidth=0.2)
    present = [k for k in colours if (classes == k).any()]
    handles = [Patch(facecolor=colours[k], edgecolor="#777777",
                     label=f"{labels[k]} ({int((classes == k).sum())})") for k in present]
    ax.legend(handles=handles, title=title, fontsize=8, loc="lower left")
    ax.set_axis_off()


def _cut_text(attrs) -> str:
    corr = attrs.get("correction")
    cut = attrs.get("cutoff", attrs.get("alpha", 0.05))
    return f"alpha = {attrs.get('alpha', 0.05):g}, " + (
        "no correction" if corr is None else f"{corr}, cut-off {cut:.3g}")


def plot_bivariate_scatter(bv: gpd.GeoDataFrame, *, title: str | None = None):
    """Bivariate Moran scatterplot: standardised ``x`` against the lag of standardised ``y``.

    Parameters
    ----------
    bv
        The frame returned by :func:`geocluster.clusters.bivariate.local_moran_bv`.
    title
        Figure title (default names the columns recorded in ``attrs``, labels only).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.bivariate import local_moran_bv
    >>> bv = local_moran_bv(gc.datasets.load_columbus(), "CRIME", "INC", seed=1)
    >>> plot_bivariate_scatter(bv).axes[0].get_ylabel()
    'spatial lag of INC (standardised)'
    """
    _need(bv, ("bilisa_x", "bilisa_lag", "bilisa_cluster"), "local_moran_bv")
    xname, yname = bv.attrs.get("x", "x"), bv.attrs.get("y", "y")
    ok = bv["bilisa_x"].notna() & bv["bilisa_lag"].notna()
    x = bv.loc[ok, "bilisa_x"].to_numpy()
    y = bv.loc[ok, "bilisa_lag"].to_numpy()
    cluster = bv.loc[ok, "bilisa_cluster"].to_numpy()
    fig, ax = new_figure(width=6.0, height=5.5)
    for kind in ("ns", "HH", "LL", "LH", "HL"):
        sel = cluster == kind
        if sel.any():
            ax.scatter(x[sel], y[sel], s=14, color=LISA_COLORS[kind],
                       edgecolor="#555555" if kind == "ns" else "none", linewidth=0.3,
                       label=f"{kind} ({int(sel.sum())})", zorder=2 if kind == "ns" else 3)
    slope = float((x @ y) / (x @ x))
    grid = np.linspace(x.min(), x.max(), 2)
    ax.plot(grid, slope * grid, color="black", linewidth=1, label=f"slope = {slope:.3f}")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_xlabel(f"{xname} (standardised)")
    ax.set_ylabel(f"spatial lag of {yname} (standardised)")
    ax.set_title(title or f"Bivariate Moran scatterplot: {xname} and lag of {yname}")
    ax.legend(title="Bivariate LISA", fontsize=8, loc="best")
    return fig


def plot_bivariate_map(bv: gpd.GeoDataFrame, *, title: str | None = None):
    """Bivariate LISA cluster map in GeoDa's colours.

    Parameters
    ----------
    bv
        The frame returned by :func:`geocluster.clusters.bivariate.local_moran_bv`.
    title
        Figure title (default names the analysed columns recorded in ``attrs``, labels
        only, and the significance level and correction).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.bivariate import local_moran_bv
    >>> bv = local_moran_bv(gc.datasets.load_columbus(), "CRIME", "INC", seed=1)
    >>> plot_bivariate_map(bv).axes[0].get_title()
    'Bivariate LISA: CRIME and lag of INC (alpha = 0.05, no correction)'
    """
    _need(bv, ("bilisa_cluster",), "local_moran_bv")
    fig, ax = new_figure(width=7.0, height=5.5)
    classes = bv["bilisa_cluster"].fillna("ns")
    _legend_map(ax, bv, classes, LISA_COLORS, LISA_LABELS, "Bivariate LISA")
    ax.set_title(title or f"Bivariate LISA: {bv.attrs.get('x', 'x')} and lag of "
                          f"{bv.attrs.get('y', 'y')} ({_cut_text(bv.attrs)})")
    return fig


def plot_geary_map(lg: gpd.GeoDataFrame, *, title: str | None = None):
    """Local Geary cluster map (GeoDa's classes and colours).

    Parameters
    ----------
    lg
        The frame returned by :func:`geocluster.clusters.geary.local_geary`.
    title
        Figure title (default names the analysed columns recorded in ``attrs``, labels
        only, and the significance level and correction).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.geary import local_geary
    >>> lg = local_geary(gc.datasets.load_columbus(), ["CRIME", "INC"], seed=1)
    >>> plot_geary_map(lg).axes[0].get_title()
    'Local Geary: CRIME, INC (alpha = 0.05, no correction)'
    """
    _need(lg, ("geary_cluster",), "local_geary")
    fig, ax = new_figure(width=7.0, height=5.5)
    classes = lg["geary_cluster"].fillna("ns")
    _legend_map(ax, lg, classes, GEARY_COLORS, GEARY_LABELS, "Local Geary")
    cols = lg.attrs.get("columns", ["value"])
    ax.set_title(title or f"Local Geary: {', '.join(map(str, cols))} ({_cut_text(lg.attrs)})")
    return fig


def plot_join_count_map(jc: gpd.GeoDataFrame, *, title: str | None = None):
    """Local join count map: significant cluster cores, other event units, the rest.

    Parameters
    ----------
    jc
        The frame returned by :func:`geocluster.clusters.joincounts.local_join_counts`.
    title
        Figure title (default names the analysed columns recorded in ``attrs``, labels
        only, and the significance level and correction).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.joincounts import local_join_counts
    >>> col = gc.datasets.load_columbus()
    >>> col["hi"] = col["CRIME"] > col["CRIME"].quantile(0.6)
    >>> fig = plot_join_count_map(local_join_counts(col, "hi", seed=1))
    >>> fig.axes[0].get_title()
    'Local join counts of hi (alpha = 0.05, no correction)'
    """
    classes = join_count_classes(jc)
    fig, ax = new_figure(width=7.0, height=5.5)
    _legend_map(ax, jc, classes, JOIN_COUNT_COLORS, JOIN_COUNT_LABELS, "Local join counts")
    what = jc.attrs.get("column", "event")
    if jc.attrs.get("other"):
        what = f"{what} and {jc.attrs['other']} ({jc.attrs.get('kind')})"
    ax.set_title(title or f"Local join counts of {what} ({_cut_text(jc.attrs)})")
    return fig
