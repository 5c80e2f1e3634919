"""The effects context: one fitted model, one variable, one grouping, checked once.

:class:`EffectsContext` is built from the :class:`~geocluster.models.protocol.EffectsInputs`
a result provides through ``effects_inputs()``; :mod:`geocluster.models.effects` and
:mod:`geocluster.models.effects_plot` compute on it (design rows at chosen levels of the
variable, slopes, spatial multipliers, delta-method standard errors).
"""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd
from scipy import stats

from geocluster.errors import InputError, ModelError
from geocluster.models._design import evaluate_spec, formulaic_message
from geocluster.models.protocol import EffectsInputs

__all__ = ["EffectsContext", "effects_inputs_of", "group_label", "MAX_GROUPS"]

MODELS = ("ols", "lag", "error", "durbin", "glm")
LINKS = ("identity", "log", "logit", "probit")
#: Most groups of ``by`` (effects by group need a categorical column).
MAX_GROUPS = 20


def effects_inputs_of(results) -> EffectsInputs:
    """The :class:`EffectsInputs` of a fitted model (its ``effects_inputs()``), checked."""
    provide = getattr(results, "effects_inputs", None)
    inputs = provide() if callable(provide) else None
    if not isinstance(inputs, EffectsInputs):
        raise ModelError(
            "effects need a fitted geocluster model (gc.regress, gc.count_model, "
            f"gc.share_model); the object given ({type(results).__name__}) does not "
            "provide effects_inputs()."
        )
    if inputs.model not in MODELS:
        raise ModelError(f"unknown model {inputs.model!r}; expected one of {MODELS}.")
    if inputs.link not in LINKS:
        raise ModelError(f"unsupported link {inputs.link!r}; expected one of {LINKS}.")
    return inputs


def group_label(by: str | None, g) -> str:
    """How a group of ``by`` is labelled in figures (``serial``/``non-serial`` for 0/1)."""
    if by is None:
        return "all"
    if isinstance(g, bool | np.bool_) or (isinstance(g, int | np.integer) and g in (0, 1)):
        if by == "serial":
            return "serial" if g else "non-serial"
        return f"{by}={int(g)}"
    return str(g)


def _model_frame(inputs: EffectsInputs, variable, by) -> tuple[pd.DataFrame, set[str]]:
    """The formula's columns (and ``by``) of the fitted rows, checked."""
    spec = inputs.model_spec
    used = set(getattr(spec, "variables_by_source", {}).get("data", set()))
    data = inputs.data
    geom = getattr(data, "_geometry_column_name", None)
    if geom is not None and geom in data.columns:
        data = pd.DataFrame(data.drop(columns=geom))
    missing = sorted(v for v in used if v not in data.columns)
    if missing:
        raise ModelError(f"the model's data lack the formula's column(s) {missing}.")
    if not isinstance(variable, str) or variable not in used:
        raise ModelError(
            f"variable {variable!r} is not a column used by the formula {inputs.formula!r}; "
            f"its columns are {sorted(used)}. Name one of them."
        )
    if by is not None and (not isinstance(by, str) or by not in data.columns):
        close = difflib.get_close_matches(str(by), sorted(map(str, data.columns)), n=3)
        raise InputError(
            f"by={by!r} is not a column of the model's data"
            + (f" (did you mean {close}?)" if close else "")
            + f"; name one of the columns available: {sorted(map(str, data.columns))}, "
            "or by=None for one group."
        )
    keep = sorted(used | ({by} if by is not None else set()))
    return pd.DataFrame(data[keep]), used


def _groups(data: pd.DataFrame, by: str | None) -> list[tuple[object, np.ndarray]]:
    """(value, row mask) per group of ``by``; one group ``"all"`` for None."""
    if by is None:
        return [("all", np.ones(len(data), dtype=bool))]
    col = data[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        values = [v for v in col.cat.categories if (col == v).any()]
    else:
        values = sorted(pd.unique(col.dropna()), key=lambda v: (str(type(v)), v))
    if len(values) > MAX_GROUPS:
        raise InputError(
            f"by={by!r} has {len(values)} distinct values; effects by group need a "
            f"categorical column such as the innovator type (at most {MAX_GROUPS} "
            "groups). Bin a continuous variable first, e.g. with pandas.qcut."
        )
    if not values:
        raise InputError(f"by={by!r} has no non-missing values among the model's rows.")
    return [(v, (col == v).to_numpy()) for v in values]


class EffectsContext:
    """Everything the effect computations need from a fitted model, checked once.

    Parameters
    ----------
    results
        A fitted model providing ``effects_inputs()``.
    variable, by, covariates
        As in :func:`geocluster.models.effects.marginal_effects`.
    """

    def __init__(self, results, variable: str, by: str | None, covariates: str):
        if covariates not in ("mean", "observed"):
            raise InputError(f"covariates must be 'mean' or 'observed', got {covariates!r}.")
        inputs = effects_inputs_of(results)
        self.inputs = inputs
        self.model = inputs.model
        self.link = inputs.link if inputs.model == "glm" else "identity"
        self.variable = variable
        self.by = by
        self.covariates = covariates
        self.spec = inputs.model_spec
        self.formula = str(inputs.formula)
        self.outcome = self.formula.split("~")[0].strip()
        self.names = list(inputs.params.index)
        self.p = np.asarray(inputs.params, dtype=float)
        self.V = np.asarray(pd.DataFrame(inputs.cov).loc[self.names, self.names], dtype=float)
        self.data, used = _model_frame(inputs, variable, by)
        x = pd.to_numeric(self.data[variable], errors="coerce")
        if x.isna().any():
            raise ModelError(f"variable {variable!r} must be numeric and complete.")
        self.x = x.to_numpy(float)
        sd = float(np.std(self.x))
        self.h = 1e-4 * (sd if sd > 0 else 1.0)
        self.categorical = self._categorical_variables(used)
        self._positions()
        self._multipliers: dict | None = None
        self.groups = _groups(self.data, by)

    def _positions(self) -> None:
        """Where the design columns, the Durbin ``W_x`` terms and ``rho`` sit in params."""
        columns = getattr(self.spec, "column_names", None)
        if columns is None:
            columns = self._design(self.data.iloc[:1]).columns
        columns = list(columns)
        self.design_cols = [c for c in columns if c in self.names]
        absent = [c for c in columns if c not in self.names]
        if absent:
            raise ModelError(f"design columns {absent} have no coefficient in the params.")
        pos = {n: i for i, n in enumerate(self.names)}
        self.beta_pos = np.array([pos[c] for c in self.design_cols], dtype=int)
        pairs = [(s, c) for s, c in self.inputs.slx_pairs if s in self.design_cols and c in pos]
        self.theta_cols = [s for s, _ in pairs]
        self.theta_pos = np.array([pos[c] for _, c in pairs], dtype=int)
        self.theta_from = np.array([self.design_cols.index(c) for c in self.theta_cols], dtype=int)
        self.rho_pos = None
        if self.model in ("lag", "durbin"):
            if "rho" not in pos:
                raise ModelError(f"a {self.model} model's params must include 'rho'.")
            if self.inputs.multipliers is None:
                raise ModelError(f"a {self.model} model needs its spatial multipliers.")
            self.rho_pos = pos["rho"]
        self.rho = float(self.p[self.rho_pos]) if self.rho_pos is not None else 0.0

    # -- design -------------------------------------------------------------------
    def _categorical_variables(self, used: set[str]) -> set[str]:
        out: set[str] = set()
        for key, state in getattr(self.spec, "encoder_state", {}).items():
            kind = str(state[0]).lower() if isinstance(state, tuple) else ""
            if "categorical" in kind:
                out |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", str(key))) & used
        for v in used:
            s = self.data[v] if v in self.data else None
            if s is not None and not (
                pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            ):
                out.add(v)
        return out

    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        try:
            X = evaluate_spec(self.spec, frame)
        except Exception as exc:  # formulaic raises several types
            raise ModelError(
                f"cannot evaluate the formula's design at the requested values "
                f"({formulaic_message(exc)}); "
                "with covariates='mean' a numeric code used as a category may be the cause: "
                "try covariates='observed'."
            ) from exc
        return X.reset_index(drop=True)

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
        if self.link == "probit":  # spatial_probit / probit baselines
            d1 = stats.norm.pdf(eta)
            return stats.norm.cdf(eta), d1, -eta * d1
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
        """Direct/total/W x multipliers at rho and their derivatives in rho."""
        if self._multipliers is not None:
            return self._multipliers
        if self.model in ("ols", "error", "glm"):
            self._multipliers = dict(
                direct=1.0, total=1.0, wx=0.0, d_direct=0.0, d_total=0.0, d_wx=0.0, how="none"
            )
            return self._multipliers
        rho = self.rho
        at = self.inputs.multipliers
        assert at is not None  # checked in _positions for lag and Durbin models

        def get(r: float) -> tuple[float, float, float]:
            mm = at(r)
            return float(mm["direct"]), float(mm["total"]), float(mm["direct_wx"])

        m_d, m_t, wx = get(rho)
        eps = 1e-5  # dm/drho by central differences of the multipliers
        up, dn = get(rho + eps), get(rho - eps)
        d_d, d_t, d_wx = ((u - d) / (2 * eps) for u, d in zip(up, dn, strict=True))
        how = "numerical"
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
        """Student t (residual df) for t-based models (OLS), else the normal."""
        if self.inputs.t_df is not None:
            return stats.t(df=max(int(self.inputs.t_df), 1))
        return stats.norm()
