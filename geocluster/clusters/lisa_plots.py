"""Figures of a :func:`geocluster.local_moran` result: Moran scatterplot, LISA cluster map."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from geocluster._base.plotting import LISA_COLORS, new_figure
from geocluster.errors import InputError

__all__ = ["plot_moran_scatter", "plot_lisa_map"]


def _check_lisa(result) -> None:
    missing = [c for c in ("lisa_std", "lisa_lag", "lisa_cluster") if c not in result]
    if missing:
        raise InputError(
            f"expected the frame returned by gc.local_moran; columns {missing} are missing."
        )


def _label(result) -> str:
    """The analysed column's name recorded by local_moran (labels only), else "value"."""
    name = result.attrs.get("column")
    return name if isinstance(name, str) else "value"


def plot_moran_scatter(
    lisa_result: gpd.GeoDataFrame, *, column: str | None = None, title: str | None = None
):
    """Moran scatterplot: standardised value against its spatial lag, coloured by cluster.

    The fitted line's slope is the global Moran's I (row-standardised weights).

    Parameters
    ----------
    lisa_result
        The frame returned by :func:`local_moran`.
    column
        The analysed column's name for the axis labels (default: the one recorded in
        ``lisa_result.attrs``, used for labels only, else ``"value"``).
    title
        Figure title (default names the column).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> lisa = gc.local_moran(gc.datasets.load_columbus(), "CRIME", seed=1)
    >>> fig = plot_moran_scatter(lisa)
    >>> fig.axes[0].get_xlabel()
    'CRIME (standardised)'
    """
    _check_lisa(lisa_result)
    column = column or _label(lisa_result)
    ok = lisa_result["lisa_std"].notna() & lisa_result["lisa_lag"].notna()
    x = lisa_result.loc[ok, "lisa_std"].to_numpy()
    y = lisa_result.loc[ok, "lisa_lag"].to_numpy()
    cluster = lisa_result.loc[ok, "lisa_cluster"].to_numpy()
    fig, ax = new_figure(width=6.0, height=5.5)
    for kind in ("ns", "HH", "LL", "LH", "HL"):
        sel = cluster == kind
        if sel.any():
            ax.scatter(
                x[sel],
                y[sel],
                s=14,
                color=LISA_COLORS[kind],
                edgecolor="#555555" if kind == "ns" else "none",
                linewidth=0.3,
                label=f"{kind} ({int(sel.sum())})",
                zorder=3 if kind != "ns" else 2,
            )
    slope = float((x @ y) / (x @ x))
    grid = np.linspace(x.min(), x.max(), 2)
    ax.plot(grid, slope * grid, color="black", linewidth=1, label=f"slope = {slope:.3f}")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_xlabel(f"{column} (standardised)")
    ax.set_ylabel(f"spatial lag of {column}")
    ax.set_title(title or f"Moran scatterplot of {column}")
    ax.legend(title="LISA cluster", fontsize=8, loc="best")
    return fig


def plot_lisa_map(
    lisa_result: gpd.GeoDataFrame,
    *,
    column: str | None = None,
    title: str | None = None,
    regions: bool = True,
):
    """LISA cluster map in GeoDa's colours, optionally outlining the cluster regions.

    Parameters
    ----------
    lisa_result
        The frame returned by :func:`local_moran`.
    column
        The analysed column's name for the title (default as in
        :func:`plot_moran_scatter`).
    title
        Figure title (default names the column, and the alpha and correction recorded in
        ``attrs``; without them a plainer title).
    regions
        Outline the dissolved ``lisa_region`` polygons.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> lisa = gc.local_moran(gc.datasets.load_columbus(), "CRIME", seed=1)
    >>> fig = plot_lisa_map(lisa)
    >>> fig.axes[0].get_title()
    'LISA clusters of CRIME (alpha = 0.05, no correction)'
    """
    from matplotlib.patches import Patch

    _check_lisa(lisa_result)
    attrs = lisa_result.attrs
    column = column or _label(lisa_result)
    fig, ax = new_figure(width=7.0, height=5.5)
    cluster = lisa_result["lisa_cluster"].fillna("ns")
    colours = cluster.map(LISA_COLORS).fillna(LISA_COLORS["ns"])
    lisa_result.plot(ax=ax, color=colours.to_numpy(), edgecolor="white", linewidth=0.2)
    if regions and lisa_result["lisa_region"].notna().any():
        outline = lisa_result[lisa_result["lisa_region"].notna()].dissolve(by="lisa_region")
        outline.boundary.plot(ax=ax, color="black", linewidth=0.6)
    handles = [
        Patch(
            facecolor=LISA_COLORS[k],
            edgecolor="#777777",
            label=f"{k} ({int((cluster == k).sum())})",
        )
        for k in ("HH", "LL", "LH", "HL", "ns")
    ]
    ax.legend(handles=handles, title="LISA cluster", fontsize=8, loc="lower left")
    corr = attrs.get("correction")
    corr_text = "no correction" if corr is None else f"{corr}, cut-off {attrs.get('cutoff', 0):.3g}"
    ax.set_title(
        title or f"LISA clusters of {column} (alpha = {attrs.get('alpha', 0.05):g}, {corr_text})"
    )
    ax.set_axis_off()
    return fig
