"""The figures of the robustness results: specification curve, map panels, overlap heat map.

Called by :meth:`RobustnessResult.plot <geocluster.robustness.result.RobustnessResult.plot>`,
:meth:`SensitivityResult.plot <geocluster.robustness.result.SensitivityResult.plot>` and
``plot_overlap``; each returns a new :class:`matplotlib.figure.Figure` (no pyplot state).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from geocluster._base.plotting import LISA_COLORS
from geocluster._base.summary import CI_HIGH, CI_LOW, P_VALUE

__all__ = ["specification_curve", "sensitivity_panels", "overlap_heatmap", "jaccard_text"]

_SIGNIFICANT, _NOT_SIGNIFICANT, _REFERENCE = "#1b4f72", "#aab7b8", "#c0392b"


def jaccard_text(value: float) -> str:
    """A Jaccard overlap as text: ``"0.67"``, or ``"n/a"`` when undefined (NaN).

    Examples
    --------
    >>> jaccard_text(2 / 3), jaccard_text(float("nan"))
    ('0.67', 'n/a')
    """
    return f"{value:.2f}" if np.isfinite(value) else "n/a"


def specification_curve(part: pd.DataFrame, term: str, varying: Sequence[str],
                        alpha: float) -> Figure:
    """Estimates of ``term`` sorted (``part``, one row per specification) above the settings.

    ``varying`` names the dimensions drawn in the lower panel.
    """
    labels = [(d, v) for d in varying for v in sorted(part[d].astype(str).unique())]
    height = 4.5 + 0.22 * len(labels)
    fig = Figure(figsize=(max(7.0, 0.18 * len(part) + 3), height), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True,
                               gridspec_kw={"height_ratios": [3, max(1, 0.35 * len(labels))]})
    x = np.arange(len(part))
    significant = (part[P_VALUE] <= alpha).to_numpy()
    other = part["same_sample"].eq(False).fillna(False).to_numpy(dtype=bool)
    colours = np.where(significant, _SIGNIFICANT, _NOT_SIGNIFICANT)
    estimate = part["estimate"].to_numpy()
    top.vlines(x, part[CI_LOW], part[CI_HIGH], colors=colours, linewidth=1.2)
    top.scatter(x[~other], estimate[~other], c=colours[~other], s=18, zorder=3)
    if other.any():
        top.scatter(x[other], estimate[other], c=colours[other], s=28, marker="^", zorder=3)
    ref = part.index[part["reference"]]
    if len(ref):
        top.scatter(ref, part.loc[ref, "estimate"], s=90, facecolors="none",
                    edgecolors=_REFERENCE, linewidths=1.5, zorder=4, label="reference")
    top.axhline(0, color="#555", linewidth=0.8, linestyle="--")
    level = round(100 * (1 - alpha), 6)
    top.set_ylabel(f"estimate of {term}\n({level:g}% CI)")
    top.set_title(f"Specification curve: {term} over {len(part)} specifications")
    top.legend(handles=_curve_legend(alpha, bool(len(ref)), bool(other.any())),
               loc="upper left", fontsize=8)
    for row, (dim, value) in enumerate(labels):
        hit = (part[dim].astype(str) == value).to_numpy()
        bottom.scatter(x[hit], np.full(hit.sum(), row), marker="s", s=14, color="#34495e")
    bottom.set_yticks(range(len(labels)), [f"{d}: {v}" for d, v in labels], fontsize=8)
    bottom.set_ylim(-0.7, len(labels) - 0.3)
    bottom.invert_yaxis()
    bottom.set_xlabel("specifications, sorted by estimate")
    return fig


def _curve_legend(alpha: float, reference: bool, other: bool) -> list[Line2D]:
    handles = [Line2D([], [], marker="o", color=_SIGNIFICANT, linestyle="",
                      label=f"p <= {alpha}"),
               Line2D([], [], marker="o", color=_NOT_SIGNIFICANT, linestyle="",
                      label="not significant")]
    if reference:
        handles.append(Line2D([], [], marker="o", markerfacecolor="none", color=_REFERENCE,
                              linestyle="", label="reference"))
    if other:
        handles.append(Line2D([], [], marker="^", color="#555", linestyle="",
                              label="other sample than the reference"))
    return handles


def sensitivity_panels(method: str, maps: Mapping, jaccard: Mapping, reference: str | None,
                       columns: int) -> Figure:
    """One panel per cluster map (HH units of a LISA map, or density-cluster polygons)."""
    labels = list(maps)
    ncols = min(columns, len(labels))
    nrows = int(np.ceil(len(labels) / ncols))
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, label in zip(axes, labels, strict=False):
        frame = maps[label]
        jac = jaccard_text(float(jaccard[label]))
        tag = " (reference)" if label == reference else ""
        if method == "lisa":
            frame.plot(ax=ax, color=LISA_COLORS["ns"], linewidth=0)
            hh = frame[frame["lisa_cluster"] == "HH"]
            if len(hh):
                hh.plot(ax=ax, color=LISA_COLORS["HH"], linewidth=0)
            ax.set_title(f"{label}{tag}\nHH units {len(hh)}, Jaccard {jac}", fontsize=9)
        else:
            if len(frame):
                frame.plot(ax=ax, color=LISA_COLORS["HH"], alpha=0.8, linewidth=0)
            ax.set_title(f"{label}{tag}\n{len(frame)} clusters, Jaccard {jac}", fontsize=9)
        ax.set_axis_off()
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    fig.suptitle("Cluster-map sensitivity (Jaccard overlap with the reference definition)")
    return fig


def overlap_heatmap(overlap: pd.DataFrame) -> Figure:
    """The pairwise overlaps, coloured 0 to 1 and labelled; undefined pairs blank, "n/a"."""
    values = overlap.to_numpy(dtype=float)
    labels = [str(v) for v in overlap.index]
    size = 1.2 + 0.9 * len(labels)
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis")
    ax.set_facecolor("white")
    for i, j in itertools.product(range(len(labels)), repeat=2):
        v = values[i, j]
        ax.text(j, i, jaccard_text(v), ha="center", va="center", fontsize=8,
                color="black" if not np.isfinite(v) or v > 0.6 else "white")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    fig.colorbar(image, ax=ax, label="Jaccard overlap")
    ax.set_title("Pairwise overlap of the cluster maps (n/a: both empty)", fontsize=9)
    return fig
