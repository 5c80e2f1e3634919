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
  numerical when ``results.mean_multipliers`` accepts ``rho=``; otherwise it uses
  ``2 (m_d - 1) / rho`` (the leading term of the trace series
  ``m_d = 1 + sum_k rho^k tr(W^k) / n``, a slight under-statement for large ``rho``);
  ``marginal_effects(...).attrs["multiplier_derivative"]`` says which was used.
  p-values and intervals use Student's t (residual df) for OLS and the normal
  distribution for the spatial models, as the coefficient tables do.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from geocluster.errors import InputError, ModelError

__all__ = ["marginal_effects", "turning_point", "u_test", "predicted", "plot_effects"]

_MODELS = ("ols", "lag", "error", "durbin", "glm")
_LINKS = ("identity", "log", "logit")
_MAX_GROUPS = 20
#: Most points of a predicted curve (a figure cannot show more).
MAX_POINTS = 100_000


# ---------------------------------------------------------------------------
# set-up
# ---------------------------------------------------------------------------
class _Context:
    """Everything the effect computations need from a results object, checked once."""

    def __init__(self, results, variable: str, by: str | None, covariates: str):
        for attr in ("params", "cov_params", "model", "formula", "model_spec", "data"):
            if not hasattr(results, attr):
                raise ModelError(
                    f"effects need a fitted geocluster regression (gc.regress); the object "
                    f"given ({type(results).__name__}) has no {attr!r} attribute."
                )
        model = str(results.model)
        if model not in _MODELS:
            raise ModelError(f"unknown model {model!r}; expected one of {_MODELS}.")
        if covariates not in ("mean", "observed"):
            raise InputError(f"covariates must be 'mean' or 'observed', got {covariates!r}.")
        self.link = "identity"
        if model == "glm":
            self.link = str(getattr(results, "link", "identity"))
            if self.link not in _LINKS:
                raise ModelError(f"unsupported link {self.link!r}; expected one of {_LINKS}.")
        self.results = results
        self.model = model
        self.variable = variable
        self.by = by
        self.covariates = covariates
        self.spec = results.model_spec
        self.formula = str(results.formula)
        self.outcome = self.formula.split("~")[0].strip()

        params = results.params
        self.names = list(params.index)
        self.p = np.asarray(params, dtype=float)
        cov = results.cov_params()
        self.V = np.asarray(pd.DataFrame(cov).loc[self.names, self.names], dtype=float)

        used = set(getattr(self.spec, "variables_by_source", {}).get("data", set()))
        data = results.data
        geom = getattr(data, "_geometry_column_name", None)
        if geom is not None and geom in data.columns:
            data = pd.DataFrame(data.drop(columns=geom))
        missing = sorted(v for v in used if v not in data.columns)
        if missing:
            raise ModelError(f"results.data lacks the formula's column(s) {missing}.")
        if not isinstance(variable, str) or variable not in used:
            raise ModelError(
                f"variable {variable!r} is not a column used by the formula {self.formula!r}; "
                f"its columns are {sorted(used)}. Name one of them."
            )
        if by is not None and (not isinstance(by, str) or by not in data.columns):
            import difflib

            close = difflib.get_close_matches(str(by), sorted(map(str, data.columns)), n=3)
            raise InputError(
                f"by={by!r} is not a column of the model's data"
                + (f" (did you mean {close}?)" if close else "")
                + f"; name one of the columns available: {sorted(map(str, data.columns))}, "
                "or by=None for one group."
            )
        keep = sorted(used | ({by} if by is not None else set()))
        self.data = pd.DataFrame(data[keep])
        x = pd.to_numeric(self.data[variable], errors="coerce")
        if x.isna().any():
            raise ModelError(f"variable {variable!r} must be numeric and complete.")
        self.x = x.to_numpy(float)
        sd = float(np.std(self.x))
        self.h = 1e-4 * (sd if sd > 0 else 1.0)
        self.categorical = self._categorical_variables(used)

        # parameter bookkeeping
        columns = getattr(self.spec, "column_names", None)
        if columns is None:
            columns = self._design(self.data.iloc[:1]).columns
        columns = list(columns)
        self.design_cols = [c for c in columns if c in self.names]
        absent = [c for c in columns if c not in self.names]
        if absent:
            raise ModelError(f"design columns {absent} have no coefficient in results.params.")
        pos = {n: i for i, n in enumerate(self.names)}
        self.beta_pos = np.array([pos[c] for c in self.design_cols], dtype=int)
        # Durbin: W_x columns and the design columns they lag
        slx_cols = list(getattr(results, "slx_columns", None) or [])
        slx_src = list(getattr(results, "slx_sources", None) or [])
        if slx_cols and len(slx_cols) == len(slx_src):
            pairs = [(s, c) for s, c in zip(slx_src, slx_cols, strict=True) if s in pos]
        else:
            pairs = [(c, f"W_{c}") for c in self.design_cols if f"W_{c}" in pos]
        pairs = [(s, c) for s, c in pairs if s in self.design_cols and c in pos]
        self.theta_cols = [s for s, _ in pairs]
        self.theta_pos = np.array([pos[c] for _, c in pairs], dtype=int)
        self.theta_from = np.array([self.design_cols.index(c) for c in self.theta_cols], dtype=int)
        self.rho_pos = None
        if model in ("lag", "durbin"):
            if "rho" not in pos:
                raise ModelError(f"a {model} model's params must include 'rho'.")
            self.rho_pos = pos["rho"]
        self.rho = float(self.p[self.rho_pos]) if self.rho_pos is not None else 0.0
        self._multipliers = None

        # groups
        if by is None:
            self.groups = [("all", np.ones(len(self.data), dtype=bool))]
        else:
            col = self.data[by]
            if isinstance(col.dtype, pd.CategoricalDtype):
                values = [v for v in col.cat.categories if (col == v).any()]
            else:
                values = sorted(pd.unique(col.dropna()), key=lambda v: (str(type(v)), v))
            if len(values) > _MAX_GROUPS:
                raise InputError(
                    f"by={by!r} has {len(values)} distinct values; effects by group need a "
                    f"categorical column such as the innovator type (at most {_MAX_GROUPS} "
                    "groups). Bin a continuous variable first, e.g. with pandas.qcut."
                )
            if not values:
                raise InputError(f"by={by!r} has no non-missing values among the model's rows.")
            self.groups = [(v, (col == v).to_numpy()) for v in values]

    # -- design -------------------------------------------------------------------
    def _categorical_variables(self, used: set[str]) -> set[str]:
        out: set[str] = set()
        for key, state in getattr(self.spec, "encoder_state", {}).items():
            kind = str(state[0]).lower() if isinstance(state, tuple) else ""
            if "categorical" in kind:
                out |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", str(key))) & used
        for v in used:
            s = self.data[v] if hasattr(self, "data") and v in self.data else None
            if s is not None and not (
                pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            ):
                out.add(v)
        return out

    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        try:
            with np.errstate(all="ignore"):  # NaN from e.g. np.log(<= 0) is checked later
                X = self.spec.get_model_matrix(frame, na_action="ignore")
        except Exception as exc:
            from geocluster.models._design import formulaic_message

            raise ModelError(
                f"cannot evaluate the formula's design at the requested values "
                f"({formulaic_message(exc)}); "
                "with covariates='mean' a numeric code used as a category may be the cause: "
                "try covariates='observed'."
            ) from exc
        return pd.DataFrame(np.asarray(X, dtype=float), columns=list(X.columns))

    def reference(self, mask: np.ndarray, group) -> pd.DataFrame:
        """The group's reference frame: one row at means/modes, or its observed rows."""
        rows = self.data.loc[mask]
        if self.covariates == "observed":
            return rows.reset_index(drop=True)
        ref = {}
        for col in rows.columns:
            s = rows[col]
            numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            if col in self.categorical or not numeric:
                # categories, text (e.g. innovator_type when grouping on serial) and
                # booleans take their most common value in the group
                modes = s.mode(dropna=True)
                ref[col] = [modes.iloc[0] if len(modes) else s.iloc[0]]
            else:
                ref[col] = [float(s.mean())]
        out = pd.DataFrame(ref)
        for col in out.columns:  # keep dtypes (categoricals, bools, text)
            if col in self.categorical or not pd.api.types.is_numeric_dtype(rows[col]) or \
                    pd.api.types.is_bool_dtype(rows[col]):
                out[col] = out[col].astype(rows[col].dtype)
        if self.by is not None:
            out[self.by] = pd.Series([group], dtype=rows[self.by].dtype)
        return out

    def mean_rows(
        self, base: pd.DataFrame, values: np.ndarray, *, check: bool = True
    ) -> np.ndarray:
        """Mean design row (over ``base``'s rows) with the variable set to each value."""
        return self.rows(base, values, check=check, average=True)

    def rows(
        self, base: pd.DataFrame, values: np.ndarray, *, check: bool = True, average: bool = False
    ) -> np.ndarray:
        """Design rows with the variable set to each value: ``(values, rows, columns)``,
        or averaged over ``base``'s rows: ``(values, columns)``."""
        values = np.asarray(values, dtype=float)
        nb = len(base)
        p = len(self.design_cols)
        out = np.empty((len(values), p) if average else (len(values), nb, p))
        chunk = max(1, 200_000 // max(nb, 1))
        for start in range(0, len(values), chunk):
            vals = values[start : start + chunk]
            frame = pd.concat([base] * len(vals), ignore_index=True)
            frame[self.variable] = np.repeat(vals, nb)
            X = self._design(frame)[self.design_cols].to_numpy()
            if len(X) != len(frame):  # a results.model_spec that drops NaN rows anyway
                raise ModelError(
                    f"the formula's design is undefined (NaN) at some {self.variable} levels "
                    f"among {vals[:3].tolist()}; choose levels inside the domain of the "
                    "formula's transformations."
                )
            X = X.reshape(len(vals), nb, -1)
            out[start : start + len(vals)] = X.mean(axis=1) if average else X
        if check:
            self._check_finite(out if average else out.mean(axis=1), values)
        return out

    def _check_finite(self, rows: np.ndarray, values: np.ndarray) -> None:
        if not np.isfinite(rows).all():
            bad = values[~np.isfinite(rows).all(axis=1)]
            raise ModelError(
                f"the formula's design is undefined (NaN or infinite) at {self.variable} = "
                f"{bad[:3].tolist()} (e.g. np.log of a value <= 0); choose levels inside "
                f"the domain of the formula's transformations."
            )

    def slope_rows(self, base: pd.DataFrame, at: np.ndarray) -> np.ndarray:
        """``d(design row)/dx`` at each level (central difference)."""
        at = np.asarray(at, dtype=float)
        rows = self.mean_rows(base, np.concatenate([at + self.h, at - self.h]), check=False)
        k = len(at)
        D = (rows[:k] - rows[k:]) / (2 * self.h)
        self._check_finite(D, at)
        return D

    # -- generalised linear models (count and share baselines) --------------------------
    def _inverse_link(self, eta: np.ndarray):
        """Mean and its first two derivatives with respect to the linear predictor."""
        if self.link == "log":
            mu = np.exp(eta)
            return mu, mu, mu
        if self.link == "logit":
            mu = 1 / (1 + np.exp(-eta))
            d1 = mu * (1 - mu)
            return mu, d1, d1 * (1 - 2 * mu)
        return eta, np.ones_like(eta), np.zeros_like(eta)

    def glm_slope(self, base: pd.DataFrame, at: np.ndarray):
        """Response-scale slope ``d E[y] / dx`` (averaged over ``base``) and its gradient."""
        at = np.asarray(at, dtype=float)
        k = len(at)
        R = self.rows(base, np.concatenate([at, at + self.h, at - self.h]), check=False)
        X0, D = R[:k], (R[k : 2 * k] - R[2 * k :]) / (2 * self.h)
        self._check_finite(D.mean(axis=1), at)
        beta = self.p[self.beta_pos]
        eta, s = X0 @ beta, D @ beta
        _, m1, m2 = self._inverse_link(eta)
        est = (m1 * s).mean(axis=1)
        G = (m1[..., None] * D + (m2 * s)[..., None] * X0).mean(axis=1)
        return est, self.full(G)[0]

    def glm_level(self, base: pd.DataFrame, values: np.ndarray):
        """Response-scale prediction ``E[y]`` (averaged over ``base``) and its gradient."""
        X0 = self.rows(base, values)
        mu, m1, _ = self._inverse_link(X0 @ self.p[self.beta_pos])
        return mu.mean(axis=1), self.full((m1[..., None] * X0).mean(axis=1))[0]

    def full(self, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Design-space vectors -> parameter-space vectors for beta and theta parts."""
        D = np.atleast_2d(D)
        Lb = np.zeros((D.shape[0], len(self.p)))
        Lb[:, self.beta_pos] = D
        Lt = np.zeros_like(Lb)
        if len(self.theta_pos):
            Lt[:, self.theta_pos] = D[:, self.theta_from]
        return Lb, Lt

    # -- multipliers --------------------------------------------------------------
    def multipliers(self) -> dict:
        if self._multipliers is not None:
            return self._multipliers
        if self.model in ("ols", "error", "glm"):
            self._multipliers = dict(
                direct=1.0, total=1.0, wx=0.0, d_direct=0.0, d_total=0.0, d_wx=0.0, how="none"
            )
            return self._multipliers
        res = self.results
        rho = self.rho

        def get(mm: dict) -> tuple[float, float, float]:
            m_d, m_t = float(mm["direct"]), float(mm["total"])
            if "direct_wx" in mm:  # tr((I - rho W)^-1 W) / n
                wx = float(mm["direct_wx"])
            else:  # = ((I - rho W)^-1 - I) W / rho
                wx = (m_d - 1) / rho if rho != 0 else 0.0
            return m_d, m_t, wx

        m_d, m_t, wx = get(res.mean_multipliers())
        try:
            accepts_rho = "rho" in inspect.signature(res.mean_multipliers).parameters
        except (TypeError, ValueError):
            accepts_rho = False
        if accepts_rho:
            eps = 1e-5
            up = get(res.mean_multipliers(rho=rho + eps))
            dn = get(res.mean_multipliers(rho=rho - eps))
            d_d, d_t, d_wx = ((u - d) / (2 * eps) for u, d in zip(up, dn, strict=True))
            how = "numerical"
        else:
            d_d = 2 * (m_d - 1) / rho if rho != 0 else 0.0
            d_t = m_t**2
            d_wx = wx / rho if rho != 0 else 0.0  # wx = rho tr(W^2)/n + ...
            how = "approximate"
        self._multipliers = dict(
            direct=m_d, total=m_t, wx=wx, d_direct=d_d, d_total=d_t, d_wx=d_wx, how=how
        )
        return self._multipliers

    def combine(self, Lb: np.ndarray, Lt: np.ndarray, kind: str):
        """Estimate and gradient (w.r.t. all params) of the direct or total effect."""
        sb, st = Lb @ self.p, Lt @ self.p
        if self.model in ("ols", "error", "glm"):
            return sb, Lb.copy()
        m = self.multipliers()
        e = np.zeros(len(self.p))
        e[self.rho_pos] = 1.0
        if kind == "total":
            est = (sb + st) * m["total"]
            grad = (Lb + Lt) * m["total"] + np.outer((sb + st) * m["d_total"], e)
            return est, grad
        # direct
        m_d, d_d = m["direct"], m["d_direct"]
        if self.model == "lag" or len(self.theta_pos) == 0:
            return sb * m_d, Lb * m_d + np.outer(sb * d_d, e)
        c, dc = m["wx"], m["d_wx"]
        est = sb * m_d + st * c
        grad = Lb * m_d + Lt * c + np.outer(sb * d_d + st * dc, e)
        return est, grad

    def linear_slope(self, Lb: np.ndarray, Lt: np.ndarray) -> np.ndarray:
        """Parameter vectors whose product with params is proportional to the effect.

        The spatial multiplier is a positive scalar, so the sign and zero of the slope are
        those of ``slope`` (lag) or of ``slope + slope_theta`` (Durbin, total effect).
        """
        return Lb + Lt if self.model == "durbin" else Lb

    def se(self, G: np.ndarray) -> np.ndarray:
        G = np.atleast_2d(G)
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, self.V, G), 0.0))

    def group_range(self, mask: np.ndarray) -> tuple[float, float]:
        x = self.x[mask]
        return float(x.min()), float(x.max())

    def reference_dist(self):
        """t for OLS (residual df), normal for the ML spatial models."""
        if self.model == "ols":
            nobs = int(getattr(self.results, "nobs", len(self.data)))
            return stats.t(df=max(nobs - len(self.p), 1))
        return stats.norm()


def _check_alpha(alpha: float) -> float:
    if not np.isscalar(alpha) or not 0 < float(alpha) < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha!r}.")
    return float(alpha)


def _group_label(by: str | None, g) -> str:
    if by is None:
        return "all"
    if isinstance(g, bool | np.bool_) or (isinstance(g, int | np.integer) and g in (0, 1)):
        if by == "serial":
            return "serial" if g else "non-serial"
        return f"{by}={int(g)}"
    return str(g)


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
        A fitted regression (``gc.regress``) with ``params``, ``cov_params()``,
        ``model``, ``formula``, ``model_spec``, ``data`` and, for the lag and Durbin
        models, ``mean_multipliers()``.
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
        ``estimate``, ``se``, ``z``, ``p_value`` (two-sided), ``ci_low``, ``ci_high``;
        for OLS ``z`` is referred to Student's t with the residual degrees of freedom
        (as the coefficients' p-values), for the ML spatial models to the normal. ``attrs`` records the model, the multipliers and how the
        multiplier's derivative was obtained.

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
    alpha = _check_alpha(alpha)
    effects = [effects] if isinstance(effects, str) else list(effects)
    bad = [e for e in effects if e not in ("direct", "total")]
    if bad or not effects:
        raise InputError(f"effects must be 'direct' and/or 'total', got {bad or effects}.")
    ctx = _Context(results, variable, by, covariates)
    if at is None:
        at = np.quantile(ctx.x, [0.25, 0.5, 0.75])
    try:
        at = np.atleast_1d(np.asarray(at, dtype=float))
    except (TypeError, ValueError):
        raise InputError(f"at must be one or more finite numbers, got {at!r}.") from None
    if at.ndim != 1 or len(at) == 0 or not np.all(np.isfinite(at)):
        raise InputError(f"at must be one or more finite numbers, got {at!r}.")
    dist = ctx.reference_dist()
    zcrit = dist.ppf(1 - alpha / 2)
    rows = []
    for g, mask in ctx.groups:
        base = ctx.reference(mask, g)
        if ctx.model == "glm":
            glm = ctx.glm_slope(base, at)
        else:
            Lb, Lt = ctx.full(ctx.slope_rows(base, at))
        for kind in effects:
            est, G = glm if ctx.model == "glm" else ctx.combine(Lb, Lt, kind)
            se = ctx.se(G)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = est / se
            for i, c in enumerate(at):
                rows.append(
                    {
                        "group": g,
                        "at": float(c),
                        "effect": kind,
                        "estimate": float(est[i]),
                        "se": float(se[i]),
                        "z": float(z[i]),
                        "p_value": float(2 * dist.sf(abs(z[i]))),
                        "ci_low": float(est[i] - zcrit * se[i]),
                        "ci_high": float(est[i] + zcrit * se[i]),
                    }
                )
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


# ---------------------------------------------------------------------------
# turning points
# ---------------------------------------------------------------------------
def _slopes_at_three(ctx: _Context, base: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
    """Parameter vectors of the slope at ``lo``, the midpoint and ``hi``."""
    D = ctx.slope_rows(base, np.array([lo, (lo + hi) / 2, hi]))
    return ctx.linear_slope(*ctx.full(D))


def _affine_slope(ctx: _Context, L: np.ndarray, lo: float, hi: float, g):
    """Return (L0, L1): slope(c) = (L0 + c L1) . params, checking the slope is affine.

    ``L`` holds the slope vectors at ``lo``, the midpoint and ``hi``.
    """
    scale = max(np.abs(L).max(), 1.0)
    L1 = (L[2] - L[0]) / (hi - lo)
    label = _group_label(ctx.by, g)
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


def _turning(ctx: _Context, L0, L1, alpha):
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
        One row per group: ``turning_point``, its delta-method ``se``, ``ci_low`` and
        ``ci_high``; the Fieller interval ``fieller_low``, ``fieller_high`` (NaN when
        unbounded, i.e. when the curvature is not significant at ``alpha``); ``shape``
        (``"inverse-U"`` or ``"U"``), ``curvature`` (``b``, the change in slope per unit
        of ``variable``) and its two-sided ``curvature_p``; the group's observed range
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
    alpha = _check_alpha(alpha)
    ctx = _Context(results, variable, by, covariates)
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
                "se": se,
                "ci_low": tp - zcrit * se,
                "ci_high": tp + zcrit * se,
                "fieller_low": f_lo,
                "fieller_high": f_hi,
                "shape": "inverse-U" if b < 0 else "U",
                "curvature": b,
                "curvature_p": float(2 * ctx.reference_dist().sf(abs(b / se_b)))
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
        One row per group: ``x_low``, ``x_high``, ``slope_low``, ``se_low``, ``t_low``,
        ``slope_high``, ``se_high``, ``t_high``, ``stat``, ``p_value`` (one-sided),
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
    alpha = _check_alpha(alpha)
    if shape not in ("inverse_u", "u", "decreasing_returns"):
        raise InputError(f"shape must be 'inverse_u', 'u' or 'decreasing_returns', got {shape!r}.")
    if bounds is not None:
        try:
            lo_b, hi_b = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise InputError(f"bounds must be (x_low, x_high), got {bounds!r}.") from None
        if not (np.isfinite(lo_b) and np.isfinite(hi_b) and lo_b < hi_b):
            raise InputError(f"bounds must be finite with x_low < x_high, got {bounds!r}.")
    ctx = _Context(results, variable, by, covariates)
    dist = ctx.reference_dist()
    zcrit = dist.ppf(1 - alpha / 2)
    rows = []
    for g, mask in ctx.groups:
        lo, hi = (lo_b, hi_b) if bounds is not None else ctx.group_range(mask)
        if hi <= lo:
            raise ModelError(
                f"group {_group_label(by, g)!r} has a single value of {variable!r}; "
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
                "se_low": float(se[0]),
                "t_low": float(t[0]),
                "slope_high": float(s[1]),
                "se_high": float(se[1]),
                "t_high": float(t[1]),
                "stat": stat,
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
        ``group``, ``x``, ``predicted``, ``se``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.models import effects
    >>> firms = gc.datasets.make_firms(400, seed=1)
    >>> res = gc.regress("intl ~ serial * (cluster + I(cluster**2)) + age", firms, model="ols")
    >>> pred = effects.predicted(res, "cluster", by="serial", n_points=5)
    >>> pred.groupby("group").size().tolist()
    [5, 5]
    """
    alpha = _check_alpha(alpha)
    if multiplier not in ("total", "none"):
        raise InputError(f"multiplier must be 'total' or 'none', got {multiplier!r}.")
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 2:
        raise InputError(f"n_points must be an integer >= 2, got {n_points!r}.")
    if n_points > MAX_POINTS:
        raise InputError(
            f"n_points={n_points:,} is more points than a curve needs (each one evaluates "
            f"the formula on the reference rows; {n_points:,} x {len(results.params)} design "
            f"values per group alone take about "
            f"{n_points * len(results.params) * 8 / 1024**3:.1f} GiB of memory); use "
            f"n_points=50 (the default), at most {MAX_POINTS:,}."
        )
    ctx = _Context(results, variable, by, covariates)
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
                    "se": se,
                    "ci_low": est - zcrit * se,
                    "ci_high": est + zcrit * se,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(
        model=ctx.model, variable=variable, by=by, outcome=ctx.outcome, multiplier=multiplier
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
    >>> from geocluster.models import effects
    >>> fig = effects.plot_effects(res, "cluster", by="serial")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['non-serial', 'serial']
    """
    from geocluster._base.plotting import INNOVATOR_COLORS, new_figure

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
        label = _group_label(by, g)
        color = INNOVATOR_COLORS.get(label) or next(cycle, None)
        ax.plot(part["x"], part["predicted"], color=color, lw=2, label=label)
        ax.fill_between(part["x"], part["ci_low"], part["ci_high"], color=color, alpha=0.2, lw=0)
        if g in tps:
            ax.axvline(tps[g], color=color, ls=":", lw=1.2)
    outcome = pred.attrs["outcome"]
    model = pred.attrs["model"]
    if model == "glm":
        model = str(getattr(results, "family", "glm"))
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
