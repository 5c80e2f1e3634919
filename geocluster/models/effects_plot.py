"""Predicted outcome curves by group and their figure (Libaers & Meyer 2011).

:func:`predicted` gives the curve of the outcome over the clustering variable for each
group (reference firm as in :mod:`geocluster.models.effects`), :func:`plot_effects`
draws it with confidence bands and the turning points.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from geocluster._base.plotting import INNOVATOR_COLORS, new_figure
from geocluster._base.summary import CI_HIGH, CI_LOW
from geocluster._base.validate import check_alpha, check_positive_int
from geocluster.errors import InputError, ModelError
from geocluster.models.effects import turning_point
from geocluster.models.effects_context import EffectsContext, group_label

__all__ = ["predicted", "plot_effects", "MAX_POINTS"]

#: Most points of a predicted curve (a figure cannot show more).
MAX_POINTS = 100_000
_WHERE = "predicted"


# ---------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------
def predicted(
    results,
    variable: str,
    by: str | None = None,
    *,
    n_points: int = 50,
    covariates: Literal["mean", "observed"] = "mean",
    multiplier: Literal["total", "none"] = "total",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Predicted outcome over the observed range of ``variable`` for each group.

    The data behind :func:`plot_effects`. For the lag and Durbin models with
    ``multiplier="total"`` the prediction is the outcome if every firm had the reference
    firm's design row: ``x'beta / (1 - rho)`` (Durbin: ``(x'beta + x'theta)/(1 - rho)``);
    ``multiplier="none"`` gives ``x'beta``. For count and share models the prediction is
    the expected outcome ``g(x'beta)`` (``exp`` or logistic). Bands by the delta method.

    Returns
    -------
    DataFrame
        ``group``, ``x``, ``predicted``, ``std_error``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.models import effects_plot
    >>> firms = gc.datasets.make_firms(400, seed=1)
    >>> res = gc.regress("intl ~ serial * (cluster + I(cluster**2)) + age", firms, model="ols")
    >>> pred = effects_plot.predicted(res, "cluster", by="serial", n_points=5)
    >>> pred.groupby("group").size().tolist()
    [5, 5]
    """
    alpha = check_alpha(alpha, where=_WHERE)
    if multiplier not in ("total", "none"):
        raise InputError(f"multiplier must be 'total' or 'none', got {multiplier!r}.")
    n_points = check_positive_int(n_points, where=_WHERE, name="n_points", minimum=2)
    if n_points > MAX_POINTS:
        raise InputError(
            f"n_points={n_points:,} is more points than a curve needs (each one evaluates "
            f"the formula on the reference rows; {n_points:,} x {len(results.params)} design "
            f"values per group alone take about "
            f"{n_points * len(results.params) * 8 / 1024**3:.1f} GiB of memory); use "
            f"n_points=50 (the default), at most {MAX_POINTS:,}."
        )
    ctx = EffectsContext(results, variable, by, covariates)
    zcrit = ctx.reference_dist().ppf(1 - alpha / 2)
    frames = []
    for g, mask in ctx.groups:
        lo, hi = ctx.group_range(mask)
        grid = np.linspace(lo, hi, int(n_points)) if hi > lo else np.array([lo])
        base = ctx.reference(mask, g)
        if ctx.model == "glm":
            est, G = ctx.glm_level(base, grid)
        else:
            Lb, Lt = ctx.full(ctx.mean_rows(base, grid))
            if ctx.model in ("lag", "durbin") and multiplier == "total":
                est, G = ctx.combine(Lb, Lt, "total")
            else:
                est, G = Lb @ ctx.p, Lb
        se = ctx.se(G)
        frames.append(
            pd.DataFrame(
                {
                    "group": [g] * len(grid),
                    "x": grid,
                    "predicted": est,
                    "std_error": se,
                    CI_LOW: est - zcrit * se,
                    CI_HIGH: est + zcrit * se,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(
        model=ctx.model, variable=variable, by=by, outcome=ctx.outcome, multiplier=multiplier,
        label=ctx.inputs.label,
    )
    return out


def plot_effects(
    results,
    variable: str,
    by: str | None = None,
    *,
    n_points: int = 50,
    covariates: Literal["mean", "observed"] = "mean",
    multiplier: Literal["total", "none"] = "total",
    alpha: float = 0.05,
    turning_points: bool = True,
    ax=None,
):
    """Predicted outcome over ``variable`` for each group, with confidence bands.

    The central figure of Libaers & Meyer (2011): one curve per innovator type over
    the group's observed range of clustering, with ``1 - alpha`` delta-method bands.
    Colours come from :data:`geocluster._base.plotting.INNOVATOR_COLORS` (``serial``,
    ``non-serial``, ``large``; a 0/1 ``serial`` column is labelled the same way). For
    spatial lag and Durbin models the curve includes the total multiplier
    ``1 / (1 - rho)`` (see :func:`predicted`); ``multiplier="none"`` shows ``x'beta``.

    Parameters
    ----------
    results, variable, by, covariates, alpha
        As in :func:`marginal_effects`.
    n_points
        Points per curve.
    multiplier
        ``"total"`` or ``"none"``.
    turning_points
        Mark with a dotted vertical line the turning point of each group whose curve
        has one inside its observed range (quadratic formulas only; see
        :func:`turning_point`).
    ax
        A matplotlib Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(400, seed=1)
    >>> res = gc.regress("intl ~ serial * (cluster + I(cluster**2)) + age", firms, model="ols")
    >>> from geocluster.models import effects_plot
    >>> fig = effects_plot.plot_effects(res, "cluster", by="serial")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['non-serial', 'serial']
    """
    pred = predicted(
        results,
        variable,
        by,
        n_points=n_points,
        covariates=covariates,
        multiplier=multiplier,
        alpha=alpha,
    )
    if ax is None:
        fig, ax = new_figure()
    else:
        fig = ax.figure
    cycle = iter(["#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000"])
    tps = {}
    if turning_points:
        try:
            table = turning_point(results, variable, by, covariates=covariates, alpha=alpha)
            tps = {
                g: tp
                for g, tp, ok in table[["group", "turning_point", "inside"]].itertuples(index=False)
                if ok
            }
        except ModelError:  # no quadratic: nothing to mark
            tps = {}
    for g, part in pred.groupby("group", sort=False):
        label = group_label(by, g)
        color = INNOVATOR_COLORS.get(label) or next(cycle, None)
        ax.plot(part["x"], part["predicted"], color=color, lw=2, label=label)
        ax.fill_between(part["x"], part[CI_LOW], part[CI_HIGH], color=color, alpha=0.2, lw=0)
        if g in tps:
            ax.axvline(tps[g], color=color, ls=":", lw=1.2)
    outcome = pred.attrs["outcome"]
    model = pred.attrs["model"]
    if model == "glm":
        model = pred.attrs["label"] or "glm"
    note = ""
    if model in ("lag", "durbin") and multiplier == "total":
        note = " (incl. spatial multiplier)"
    ax.set_xlabel(variable)
    ax.set_ylabel(f"predicted {outcome}{note}")
    level = int(round(100 * (1 - alpha)))
    title = f"Predicted {outcome} by {variable}"
    if by is not None:
        title += f" and {by}"
    ax.set_title(f"{title}\n({model} model, {level}% confidence bands)")
    ax.legend(title=by if by not in (None, "serial") else None)
    return fig
