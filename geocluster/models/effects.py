"""Marginal effects, turning points and the U-test, by innovator type.

The questions of Libaers & Meyer (2011): does the outcome (internationalisation) rise
with the clustering of a firm's location, does it rise faster for serial innovators,
and does it turn down (an inverted U) for other firms? The functions here take a fitted
regression (``gc.regress(...)``; its methods ``marginal_effects``, ``turning_point``,
``u_test`` and ``plot_effects`` call them) and answer them for each group of ``by``.

How the effects are computed
----------------------------
* **Reference firm.** For group ``g`` of ``by`` the design row is built from the
  formula (formulaic's ``model_spec``) at the clustering level ``x = c`` with
  ``by = g`` and, by default (``covariates="mean"``), every other variable of the
  formula at its mean among the group's firms (raw columns, so ``np.log(employees)``
  is evaluated at the mean number of employees; categorical, boolean and text columns,
  and numeric columns used inside ``C(...)``, at their mode). ``covariates="observed"``
  instead averages over the group's firms with their own covariates (average marginal
  effects, "predictive margins"); it costs one design evaluation per firm and level.
* **Slope.** ``dX/dx`` is the central difference of the design row at ``c +- h`` with
  ``h = 1e-4 * sd(x)``: exact (up to rounding) for polynomials up to degree two and
  interactions, accurate to ``O(h^2)`` otherwise. The slope is ``dX/dx . beta``.
* **Spatial multipliers** (LeSage & Pace 2009, scalar summaries). For the spatial
  lag model the *direct* effect is ``slope * tr((I - rho W)^-1) / n`` and the *total*
  effect ``slope / (1 - rho)`` (``results.mean_multipliers()``). For the spatial
  Durbin model, with ``theta`` the coefficients of the ``W_<column>`` terms, the direct
  effect is ``m_d slope + (m_d - 1) / rho * slope_theta`` (because
  ``(I - rho W)^-1 W = ((I - rho W)^-1 - I) / rho``) and the total effect
  ``(slope + slope_theta) / (1 - rho)``. OLS and the spatial error model have no
  multiplier: direct = total = slope.
* **Count and share baselines** (``gc.count_model``, ``gc.share_model``; ``model="glm"``):
  marginal effects and predictions are on the response scale, ``d E[y] / dx =
  g'(eta) * slope`` with ``g`` the inverse link (``exp`` or the logistic function),
  averaged over the group's firms with ``covariates="observed"``; turning points and the
  U-test use the linear predictor, whose turning point is that of ``E[y]`` for the
  reference firm because the link is monotone.
* **Standard errors** by the delta method with the full covariance matrix of
  ``(beta, rho)``. The derivative of the direct multiplier with respect to ``rho`` is
  numerical (central differences of the multipliers the result provides at any
  ``rho``, see :class:`~geocluster.models.protocol.EffectsInputs`).
  p-values and intervals use Student's t (residual df) for OLS and the normal
  distribution for the spatial models, as the coefficient tables do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from geocluster._base.summary import CI_HIGH, CI_LOW, P_VALUE
from geocluster._base.validate import check_alpha
from geocluster.errors import InputError, ModelError
from geocluster.models.effects_context import EffectsContext, group_label

__all__ = ["marginal_effects", "turning_point", "u_test"]

_WHERE = "effects"


# ---------------------------------------------------------------------------
# marginal effects
# ---------------------------------------------------------------------------
def marginal_effects(
    results,
    variable: str,
    by: str | None = None,
    at: float | Sequence[float] | None = None,
    *,
    effects: Sequence[str] = ("direct", "total"),
    covariates: Literal["mean", "observed"] = "mean",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Slope of the outcome in ``variable`` for each group of ``by`` at chosen levels.

    See the module docstring for the reference firm, the spatial multipliers and the
    delta-method standard errors.

    Parameters
    ----------
    results
        A fitted model (``gc.regress``, ``gc.count_model``, ``gc.share_model``): any
        object whose ``effects_inputs()`` returns
        :class:`~geocluster.models.protocol.EffectsInputs`.
    variable
        The column whose effect is wanted (e.g. ``"cluster"``).
    by
        Column defining the groups (e.g. ``"serial"`` or ``"innovator_type"``); None for
        one group, ``"all"``.
    at
        Levels of ``variable``; default its quartiles over all firms in the model
        (the same levels for every group, so groups can be compared).
    effects
        Any of ``"direct"`` and ``"total"`` (identical for OLS, the error model and the
        count/share models, which have no spatial multiplier).
    covariates
        ``"mean"`` (other variables at the group's means/modes) or ``"observed"``
        (average over the group's firms).
    alpha
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per group, level and effect type: ``group``, ``at``, ``effect``,
        ``estimate``, ``std_error``, ``statistic`` (estimate / std_error), ``p_value``
        (two-sided), ``ci_low``, ``ci_high``; for OLS the statistic is referred to
        Student's t with the residual degrees of freedom (as the coefficients'
        p-values), for the spatial and count/share models to the normal. ``attrs``
        records the model, the multipliers and how the multiplier's derivative was
        obtained.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(400, seed=1)
    >>> res = gc.regress("intl ~ serial * (cluster + I(cluster**2)) + age", firms, model="ols")
    >>> from geocluster.models import effects
    >>> me = effects.marginal_effects(res, "cluster", by="serial", at=[0.0])
    >>> me[["group", "at", "effect"]].to_dict("records")[0]
    {'group': 0, 'at': 0.0, 'effect': 'direct'}
    """
    alpha = check_alpha(alpha, where=_WHERE)
    effects = _check_effects(effects)
    ctx = EffectsContext(results, variable, by, covariates)
    levels = _check_at(ctx, at)
    dist = ctx.reference_dist()
    rows = []
    for g, mask in ctx.groups:
        base = ctx.reference(mask, g)
        if ctx.model == "glm":
            glm = ctx.glm_slope(base, levels)
        else:
            Lb, Lt = ctx.full(ctx.slope_rows(base, levels))
        for kind in effects:
            est, G = glm if ctx.model == "glm" else ctx.combine(Lb, Lt, kind)
            rows += _effect_rows(g, levels, kind, est, ctx.se(G), dist, alpha)
    out = pd.DataFrame(rows)
    m = ctx.multipliers()
    out.attrs.update(
        model=ctx.model,
        variable=variable,
        by=by,
        covariates=covariates,
        direct_multiplier=m["direct"],
        total_multiplier=m["total"],
        multiplier_derivative=m["how"],
        alpha=alpha,
    )
    return out


def _check_effects(effects) -> list[str]:
    effects = [effects] if isinstance(effects, str) else list(effects)
    bad = [e for e in effects if e not in ("direct", "total")]
    if bad or not effects:
        raise InputError(f"effects must be 'direct' and/or 'total', got {bad or effects}.")
    return effects


def _check_at(ctx: EffectsContext, at) -> np.ndarray:
    """The levels of the variable: default its quartiles, else finite numbers."""
    if at is None:
        at = np.quantile(ctx.x, [0.25, 0.5, 0.75])
    try:
        at = np.atleast_1d(np.asarray(at, dtype=float))
    except (TypeError, ValueError):
        raise InputError(f"at must be one or more finite numbers, got {at!r}.") from None
    if at.ndim != 1 or len(at) == 0 or not np.all(np.isfinite(at)):
        raise InputError(f"at must be one or more finite numbers, got {at!r}.")
    return at


def _effect_rows(g, at, kind, est, se, dist, alpha) -> list[dict]:
    """One table row per level: estimate, std_error, statistic, p_value, ci_low/high."""
    zcrit = dist.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    return [
        {
            "group": g,
            "at": float(c),
            "effect": kind,
            "estimate": float(est[i]),
            "std_error": float(se[i]),
            "statistic": float(z[i]),
            P_VALUE: float(2 * dist.sf(abs(z[i]))),
            CI_LOW: float(est[i] - zcrit * se[i]),
            CI_HIGH: float(est[i] + zcrit * se[i]),
        }
        for i, c in enumerate(at)
    ]


# ---------------------------------------------------------------------------
# turning points
# ---------------------------------------------------------------------------
def _slopes_at_three(ctx: EffectsContext, base: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
    """Parameter vectors of the slope at ``lo``, the midpoint and ``hi``."""
    D = ctx.slope_rows(base, np.array([lo, (lo + hi) / 2, hi]))
    return ctx.linear_slope(*ctx.full(D))


def _affine_slope(ctx: EffectsContext, L: np.ndarray, lo: float, hi: float, g):
    """Return (L0, L1): slope(c) = (L0 + c L1) . params, checking the slope is affine.

    ``L`` holds the slope vectors at ``lo``, the midpoint and ``hi``.
    """
    scale = max(np.abs(L).max(), 1.0)
    L1 = (L[2] - L[0]) / (hi - lo)
    label = group_label(ctx.by, g)
    if np.abs(L1).max() * (hi - lo) < 1e-7 * scale:
        raise ModelError(
            f"the slope of {ctx.outcome!r} in {ctx.variable!r} does not change with "
            f"{ctx.variable!r} (group {label!r}), so there is no turning point: add a "
            f"quadratic term such as I({ctx.variable}**2) (interacted with {ctx.by!r} for "
            "group-specific curves)."
        )
    if np.abs(L[1] - (L[0] + L[2]) / 2).max() > 1e-5 * scale:
        raise ModelError(
            f"the slope of {ctx.outcome!r} in {ctx.variable!r} is not linear in "
            f"{ctx.variable!r} (group {label!r}); turning points need a quadratic in "
            f"{ctx.variable!r} (terms {ctx.variable} and I({ctx.variable}**2))."
        )
    L0 = L[0] - lo * L1
    return L0, L1


def _fieller(a, b, v00, v01, v11, tcrit) -> tuple[float, float]:
    """Fieller interval for -a/b; NaN when unbounded (b not significant)."""
    A = b**2 - tcrit**2 * v11
    B = 2 * (a * b - tcrit**2 * v01)
    C = a**2 - tcrit**2 * v00
    disc = B**2 - 4 * A * C
    if A <= 0 or disc < 0:
        return np.nan, np.nan
    r1 = (-B - np.sqrt(disc)) / (2 * A)
    r2 = (-B + np.sqrt(disc)) / (2 * A)
    # the roots solve for c with a + b c = 0 shifted: slope(c) = a + b c, tp = -a/b
    return float(min(r1, r2)), float(max(r1, r2))


def _turning(ctx: EffectsContext, L0, L1, alpha):
    a, b = L0 @ ctx.p, L1 @ ctx.p
    tp = -a / b
    grad = -L0 / b + a * L1 / b**2
    se = float(ctx.se(grad)[0])
    zcrit = ctx.reference_dist().ppf(1 - alpha / 2)
    v00 = float(L0 @ ctx.V @ L0)
    v01 = float(L0 @ ctx.V @ L1)
    v11 = float(L1 @ ctx.V @ L1)
    f_lo, f_hi = _fieller(a, b, v00, v01, v11, zcrit)
    return float(tp), se, zcrit, f_lo, f_hi, float(b), float(np.sqrt(v11))


def turning_point(
    results,
    variable: str,
    by: str | None = None,
    *,
    covariates: Literal["mean", "observed"] = "mean",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Turning point of a quadratic in ``variable`` for each group, with intervals.

    With slope ``s(x) = a + b x`` (a quadratic in ``x``, possibly interacted with
    ``by``), the turning point is ``-a / b``: a maximum (inverted U) if ``b < 0``. The
    spatial multiplier scales the slope by a positive constant and leaves the turning
    point unchanged (for the Durbin model, the turning point of the total effect).

    Parameters
    ----------
    results, variable, by, covariates
        As in :func:`marginal_effects`.
    alpha
        1 - confidence level.

    Returns
    -------
    DataFrame
        One row per group: ``turning_point``, its delta-method ``std_error``, ``ci_low`` and
        ``ci_high``; the Fieller interval ``fieller_low``, ``fieller_high`` (NaN when
        unbounded, i.e. when the curvature is not significant at ``alpha``); ``shape``
        (``"inverse-U"`` or ``"U"``), ``curvature`` (``b``, the change in slope per unit
        of ``variable``) and its two-sided ``p_value`` (is there a curvature, hence a
        turning point, at all?); the group's observed range
        ``x_min``, ``x_max`` and ``inside`` (is the turning point within it?).

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(600, seed=2)
    >>> res = gc.regress("intl ~ serial * (cluster + I(cluster**2)) + age", firms, model="ols")
    >>> from geocluster.models import effects
    >>> tp = effects.turning_point(res, "cluster", by="serial")
    >>> tp["shape"].tolist()[0]
    'inverse-U'
    """
    alpha = check_alpha(alpha, where=_WHERE)
    ctx = EffectsContext(results, variable, by, covariates)
    rows = []
    for g, mask in ctx.groups:
        lo, hi = ctx.group_range(mask)
        if hi <= lo:
            lo, hi = float(ctx.x.min()), float(ctx.x.max())
        base = ctx.reference(mask, g)
        L0, L1 = _affine_slope(ctx, _slopes_at_three(ctx, base, lo, hi), lo, hi, g)
        tp, se, zcrit, f_lo, f_hi, b, se_b = _turning(ctx, L0, L1, alpha)
        rows.append(
            {
                "group": g,
                "turning_point": tp,
                "std_error": se,
                CI_LOW: tp - zcrit * se,
                CI_HIGH: tp + zcrit * se,
                "fieller_low": f_lo,
                "fieller_high": f_hi,
                "shape": "inverse-U" if b < 0 else "U",
                "curvature": b,
                P_VALUE: float(2 * ctx.reference_dist().sf(abs(b / se_b)))
                if se_b > 0
                else np.nan,
                "x_min": lo,
                "x_max": hi,
                "inside": bool(lo <= tp <= hi),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(model=ctx.model, variable=variable, by=by, alpha=alpha)
    return out


# ---------------------------------------------------------------------------
# Lind-Mehlum U-test
# ---------------------------------------------------------------------------
def u_test(
    results,
    variable: str,
    by: str | None = None,
    *,
    shape: Literal["inverse_u", "u", "decreasing_returns"] = "inverse_u",
    bounds: tuple[float, float] | None = None,
    covariates: Literal["mean", "observed"] = "mean",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Lind & Mehlum (2010) test for an inverted U (or U, or decreasing returns).

    Over an interval ``[x_low, x_high]`` (default: the group's observed range of
    ``variable``) the test of an **inverted U** is

    * H0: the relation is monotone or U-shaped: ``s(x_low) <= 0`` or ``s(x_high) >= 0``;
    * H1: it rises and then falls: ``s(x_low) > 0`` and ``s(x_high) < 0``,

    with ``s`` the slope. By the intersection-union principle (Sasabuchi 1980) the
    statistic is the smaller of the one-sided t-statistics ``t_low = s(x_low)/se`` and
    ``-t_high``, and the p-value is that of the smaller one. ``shape="u"`` reverses the
    signs. ``shape="decreasing_returns"`` tests H1: the slope is positive at ``x_low``
    and smaller at ``x_high`` than at ``x_low`` (gains from clustering that flatten
    out), with ``-t`` of the slope difference as the second statistic.

    The slope is that of the linear predictor (for the Durbin model, the numerator of
    the total effect): the spatial multiplier is a positive constant and changes no sign.
    OLS uses Student's t with the residual degrees of freedom, the ML spatial models the
    normal distribution.

    Parameters
    ----------
    results, variable, by, covariates
        As in :func:`marginal_effects`.
    shape
        ``"inverse_u"`` (default), ``"u"`` or ``"decreasing_returns"``.
    bounds
        ``(x_low, x_high)`` for every group; default each group's observed range.
    alpha
        Level for the ``reject`` column and the Fieller interval.

    Returns
    -------
    DataFrame
        One row per group: ``x_low``, ``x_high``, ``slope_low``, ``std_error_low``,
        ``t_low``, ``slope_high``, ``std_error_high``, ``t_high``, ``statistic``,
        ``p_value`` (one-sided),
        ``reject`` (``p_value < alpha``), and for quadratics the ``turning_point`` with
        its Fieller interval.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(600, seed=2)
    >>> res = gc.regress("intl ~ serial * (cluster + I(cluster**2)) + age", firms, model="ols")
    >>> from geocluster.models import effects
    >>> ut = effects.u_test(res, "cluster", by="serial")
    >>> list(ut.columns[:4])
    ['group', 'shape', 'x_low', 'x_high']
    """
    alpha = check_alpha(alpha, where=_WHERE)
    if shape not in ("inverse_u", "u", "decreasing_returns"):
        raise InputError(f"shape must be 'inverse_u', 'u' or 'decreasing_returns', got {shape!r}.")
    if bounds is not None:
        try:
            lo_b, hi_b = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise InputError(f"bounds must be (x_low, x_high), got {bounds!r}.") from None
        if not (np.isfinite(lo_b) and np.isfinite(hi_b) and lo_b < hi_b):
            raise InputError(f"bounds must be finite with x_low < x_high, got {bounds!r}.")
    ctx = EffectsContext(results, variable, by, covariates)
    dist = ctx.reference_dist()
    zcrit = dist.ppf(1 - alpha / 2)
    rows = []
    for g, mask in ctx.groups:
        lo, hi = (lo_b, hi_b) if bounds is not None else ctx.group_range(mask)
        if hi <= lo:
            raise ModelError(
                f"group {group_label(by, g)!r} has a single value of {variable!r}; "
                "pass bounds=(x_low, x_high)."
            )
        base = ctx.reference(mask, g)
        L3 = _slopes_at_three(ctx, base, lo, hi)
        L = L3[[0, 2]]
        s = L @ ctx.p
        se = ctx.se(L)
        t = s / se
        if shape == "inverse_u":
            parts = (t[0], -t[1])
        elif shape == "u":
            parts = (-t[0], t[1])
        else:
            Ld = L[1] - L[0]
            t_diff = (Ld @ ctx.p) / ctx.se(Ld)[0]
            parts = (t[0], -t_diff)
        stat = float(min(parts))
        p = float(dist.sf(stat))
        tp = f_lo = f_hi = np.nan
        try:
            L0, L1 = _affine_slope(ctx, L3, lo, hi, g)
            a, b = L0 @ ctx.p, L1 @ ctx.p
            tp = float(-a / b)
            f_lo, f_hi = _fieller(a, b, L0 @ ctx.V @ L0, L0 @ ctx.V @ L1, L1 @ ctx.V @ L1, zcrit)
        except ModelError:
            pass
        rows.append(
            {
                "group": g,
                "shape": shape,
                "x_low": lo,
                "x_high": hi,
                "slope_low": float(s[0]),
                "std_error_low": float(se[0]),
                "t_low": float(t[0]),
                "slope_high": float(s[1]),
                "std_error_high": float(se[1]),
                "t_high": float(t[1]),
                "statistic": stat,
                "p_value": p,
                "reject": bool(p < alpha),
                "turning_point": tp,
                "fieller_low": f_lo,
                "fieller_high": f_hi,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(model=ctx.model, variable=variable, by=by, alpha=alpha, shape=shape)
    return out
