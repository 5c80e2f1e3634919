"""The results object of :func:`geocluster.regress`, in the statsmodels manner."""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from geocluster.errors import InputError, ModelError

__all__ = ["SpatialResults", "Summary"]

_TITLES = {
    "ols": "Ordinary least squares (no spatial term)",
    "lag": "Spatial lag model (SAR)",
    "error": "Spatial error model (SEM)",
    "durbin": "Spatial Durbin model (SDM)",
}
_METHODS = {"ml": "maximum likelihood", "gmm": "GMM / spatial two-stage least squares"}


@dataclass
class Summary:
    """A printable summary: ``str()`` / :meth:`as_text` for text, HTML in notebooks."""

    title: str
    top: list[tuple[str, str]]
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        tab = self.table
        stat = tab.columns[2]
        name_w = max(14, min(34, max(len(str(t)) for t in tab.index) + 1))
        head = (
            f"{'':<{name_w}}{'coef':>10}{'std err':>11}{stat:>9}{'P>|' + stat + '|':>9}"
            f"{'[' + tab.columns[4]:>11}{tab.columns[5] + ']':>11}"
        )
        width = max(78, len(head))
        lines = [self.title.center(width).rstrip(), "=" * width]
        half = (len(self.top) + 1) // 2
        left, right = self.top[:half], self.top[half:]
        for i in range(half):
            a = f"{left[i][0] + ':':<18}{left[i][1]:>20}"
            b = f"{right[i][0] + ':':<18}{right[i][1]:>20}" if i < len(right) else ""
            lines.append(f"{a}  {b}".rstrip())
        lines += ["=" * width, head, "-" * width]
        for term, row in tab.iterrows():
            label = str(term) if len(str(term)) < name_w else str(term)[: name_w - 2] + "~"
            lines.append(
                f"{label:<{name_w}}{_num(row.iloc[0]):>10}{_num(row.iloc[1]):>11}"
                f"{row.iloc[2]:>9.3f}{row.iloc[3]:>9.3f}{_num(row.iloc[4]):>11}"
                f"{_num(row.iloc[5]):>11}"
            )
        lines.append("=" * width)
        for note in self.notes:
            lines += textwrap.wrap(note, width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def as_html(self) -> str:
        top = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.top
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (
            f"<div><h4>{html.escape(self.title)}</h4><table>{top}</table>"
            f"{self.table.to_html(float_format=lambda v: f'{v:.4g}')}{notes}</div>"
        )

    def _repr_html_(self) -> str:
        return self.as_html()


def _num(value: float) -> str:
    if not np.isfinite(value):
        return "nan"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


class SpatialResults:
    """A fitted :func:`geocluster.regress` model.

    Attributes
    ----------
    params : pandas.Series
        Coefficients named as formulaic names the design columns (``Intercept``,
        ``I(cluster ** 2)``, ``serial:cluster``, ``C(industry)[T.b]``); the spatial Durbin
        model adds ``W_<column>`` for the spatial lag of each non-constant column
        (listed in ``slx_columns``); the spatial parameter comes last, named ``rho``
        (lag, durbin) or ``lambda`` (error).
    model, method : str
        ``"ols"``, ``"lag"``, ``"error"`` or ``"durbin"``; ``"ml"`` or ``"gmm"``.
    formula : str
        The formula as given.
    model_spec : formulaic.ModelSpec
        The right-hand side: ``model_spec.get_model_matrix(new_frame)`` builds the design
        columns (not the ``W_`` columns, which are ``W @ X[slx_sources]`` for the graph
        of the rows concerned).
    slx_columns, slx_sources : list of str
        For durbin, the names of the lagged columns (``W_x``) and the design columns they
        lag (``x``), in the same order; empty otherwise.
    data : DataFrame or GeoDataFrame
        The rows used (after dropping missing values), with the input's index.
    graph : libpysal.graph.Graph
        Weights on the rows used; ``W`` is its row-standardised sparse matrix (CSR),
        rows and columns in the order of ``data``. Both None for OLS fitted with
        ``weights=None``.
    nobs, loglik, sigma2, aic, bic
        Number of rows, log-likelihood (NaN for GMM), residual variance, and information
        criteria counting every estimated parameter including ``sigma2`` (as R does).
    diagnostics : pandas.DataFrame
        Tests on the OLS residuals of the same design (for durbin including the ``W_x``
        columns, i.e. of the SLX model): Moran's I (value in ``statistic``, normal
        approximation in ``z``), LM lag, LM error, their robust forms and SARMA; for ML
        spatial models also the likelihood-ratio test of the spatial parameter against
        that OLS.
    """

    def __init__(
        self,
        *,
        model: str,
        method: str,
        formula: str,
        params: pd.Series,
        vcov: np.ndarray,
        y: np.ndarray,
        X: pd.DataFrame,
        design_columns: list[str],
        slx_columns: list[str],
        slx_sources: list[str],
        model_spec,
        data: pd.DataFrame,
        graph,
        W: sp.csr_matrix,
        weights_label: str,
        loglik: float,
        sigma2: float,
        resid: np.ndarray,
        y_name: str,
        n_dropped: int = 0,
        robust: str | None = None,
        estimator: str = "",
        converged: bool = True,
        message: str = "",
        extra: dict | None = None,
    ):
        self.model = model
        self.method = method
        self.formula = formula
        self.params = params
        self._vcov = np.asarray(vcov, dtype=float)
        self._y = np.asarray(y, dtype=float)
        self._X = X
        self.design_columns = list(design_columns)
        self.slx_columns = list(slx_columns)
        self.slx_sources = list(slx_sources)
        self.model_spec = model_spec
        self.data = data
        self.graph = graph
        self.W = W
        self.weights = weights_label
        self.loglik = float(loglik)
        self.sigma2 = float(sigma2)
        self.resid = pd.Series(np.asarray(resid, dtype=float).ravel(), index=data.index)
        self.y_name = y_name
        self.n_dropped = int(n_dropped)
        self.robust = robust
        self.estimator = estimator
        self.converged = bool(converged)
        self.message = message
        self.extra = dict(extra or {})
        self._mult = None

    # -- basic quantities -------------------------------------------------------------
    @property
    def nobs(self) -> int:
        return int(len(self._y))

    @property
    def llf(self) -> float:
        """Alias of ``loglik`` (statsmodels' name)."""
        return self.loglik

    @property
    def df_resid(self) -> int:
        return self.nobs - len(self.params)

    @property
    def rho(self) -> float | None:
        """The spatial autoregressive parameter (lag, durbin), else None."""
        return float(self.params["rho"]) if "rho" in self.params.index else None

    @property
    def lam(self) -> float | None:
        """The spatial error parameter lambda (error model), else None."""
        return float(self.params["lambda"]) if "lambda" in self.params.index else None

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of ``params`` (same index and columns)."""
        names = self.params.index
        return pd.DataFrame(self._vcov, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._vcov)), index=self.params.index, name="se")

    @property
    def _uses_t(self) -> bool:
        return self.model == "ols"

    @property
    def tvalues(self) -> pd.Series:
        """``params / bse`` (t for OLS, z for the spatial models)."""
        return (self.params / self.bse).rename("z")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values: Student t (n - k df) for OLS, normal otherwise (as R)."""
        t = self.tvalues.to_numpy()
        if self._uses_t:
            p = 2 * stats.t.sf(np.abs(t), self.df_resid)
        else:
            p = 2 * stats.norm.sf(np.abs(t))
        return pd.Series(p, index=self.params.index, name="p")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals (columns ``ci_low``, ``ci_high``) at level ``1 - alpha``."""
        _check_alpha(alpha)
        if self._uses_t:
            q = stats.t.ppf(1 - alpha / 2, self.df_resid)
        else:
            q = stats.norm.ppf(1 - alpha / 2)
        se = self.bse
        return pd.DataFrame(
            {"ci_low": self.params - q * se, "ci_high": self.params + q * se},
            index=self.params.index,
        )

    @property
    def _n_estimated(self) -> int:
        return len(self.params) + 1  # + sigma2

    @property
    def aic(self) -> float:
        """``-2 loglik + 2 p`` with p counting every coefficient, the spatial parameter and
        sigma2 (R's convention for ``lm`` and ``spatialreg``); NaN for GMM."""
        return -2 * self.loglik + 2 * self._n_estimated

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.nobs) * self._n_estimated

    @property
    def fittedvalues(self) -> pd.Series:
        """``y - resid``: the model's in-sample fit (for the lag model including
        ``rho W y``; for the error model ``X beta``)."""
        return pd.Series(self._y - self.resid.to_numpy(), index=self.data.index, name="fitted")

    # -- tables -------------------------------------------------------------------------
    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy coefficients: term, estimate, se, z (t for OLS), p, ci_low, ci_high."""
        ci = self.conf_int(alpha)
        return pd.DataFrame(
            {
                "term": self.params.index,
                "estimate": self.params.to_numpy(),
                "se": self.bse.to_numpy(),
                "z": self.tvalues.to_numpy(),
                "p": self.pvalues.to_numpy(),
                "ci_low": ci["ci_low"].to_numpy(),
                "ci_high": ci["ci_high"].to_numpy(),
            }
        )

    def summary(self, alpha: float = 0.05) -> Summary:
        """A readable table: coefficients, weights, n, fit statistics, diagnostics.

        ``str(summary)`` or ``summary.as_text()`` give text, notebooks render HTML.

        Examples
        --------
        >>> import geocluster as gc
        >>> res = gc.regress("CRIME ~ INC + HOVAL", gc.datasets.load_columbus(),
        ...                  model="lag", weights="queen")
        >>> print(res.summary())  # doctest: +ELLIPSIS
                         Spatial lag model (SAR), maximum likelihood
        ...
        rho               0.4233     0.1195    3.542    0.000     0.1891     0.6576
        ...
        """
        ci = self.conf_int(alpha)
        stat = "t" if self._uses_t else "z"
        lo, hi = f"{alpha / 2:.3f}", f"{1 - alpha / 2:.3f}"
        table = pd.DataFrame(
            {
                "coef": self.params,
                "std err": self.bse,
                stat: self.tvalues,
                f"P>|{stat}|": self.pvalues,
                lo: ci["ci_low"],
                hi: ci["ci_high"],
            }
        )
        card = np.asarray(self.graph.cardinalities) if self.graph is not None else np.nan
        top = [
            ("Dep. variable", self.y_name),
            ("Model", self.model),
            (
                "Method",
                ("ols" if self.model == "ols" else self.method)
                + (f" ({self.robust} SE)" if self.robust else ""),
            ),
            ("Weights", _short(self.weights, 20)),
            ("Mean neighbours", f"{np.mean(card):.2f}"),
            ("No. observations", f"{self.nobs}"),
            ("Dropped (missing)", f"{self.n_dropped}"),
            *(
                [("Dropped (isolates)", str(self.extra["n_isolated_dropped"]))]
                if self.extra.get("n_isolated_dropped")
                else []
            ),
            ("Log-likelihood", _num(self.loglik)),
            ("AIC", _num(self.aic)),
            ("sigma^2", _num(self.sigma2)),
        ]
        if self.rho is not None:
            top.append(("rho", f"{self.rho:.4f}"))
        if self.lam is not None:
            top.append(("lambda", f"{self.lam:.4f}"))
        notes = [f"Estimator: {self.estimator}."]
        if self.slx_columns:
            notes.append("W_<x> = spatial lag (W x) of the design column x.")
        d = self.diagnostics if self.W is not None else pd.DataFrame()
        parts = []
        for key, label in (
            ("moran_i", "Moran's I"),
            ("lm_lag", "LM lag"),
            ("lm_error", "LM error"),
            ("rlm_lag", "robust LM lag"),
            ("rlm_error", "robust LM error"),
        ):
            if key in d.index:
                parts.append(
                    f"{label} {d.loc[key, 'statistic']:.3f} (p {d.loc[key, 'p_value']:.3g})"
                )
        if parts:
            notes.append("OLS residual diagnostics: " + "; ".join(parts) + ".")
        if self.message:
            notes.append(self.message)
        title = _TITLES[self.model]
        if self.model != "ols":
            title += f", {_METHODS[self.method]}"
        return Summary(title=title, top=top, table=table, notes=notes)

    def __repr__(self) -> str:
        spatial = ""
        if self.rho is not None:
            spatial = f", rho={self.rho:.4f}"
        elif self.lam is not None:
            spatial = f", lambda={self.lam:.4f}"
        return (
            f"<SpatialResults {self.model} ({self.method}) of {self.y_name!r}: "
            f"n={self.nobs}, weights={_short(self.weights, 40)}{spatial}, "
            f"loglik={self.loglik:.3f}>"
        )

    # -- diagnostics ------------------------------------------------------------------
    @cached_property
    def diagnostics(self) -> pd.DataFrame:
        from geocluster.models.regress import _ols_diagnostics

        if self.W is None:
            raise ModelError(
                "diagnostics need spatial weights; fit with weights='knn:8' (or a Graph)."
            )
        table = _ols_diagnostics(self._y, self._X.to_numpy(dtype=float), self.W)
        ols_ll = table.attrs.pop("ols_loglik")
        if self.method == "ml" and self.model != "ols" and np.isfinite(self.loglik):
            lr = 2 * (self.loglik - ols_ll)
            name = "lambda" if self.model == "error" else "rho"
            table.loc[f"lr_{name}"] = [lr, np.nan, 1.0, stats.chi2.sf(max(lr, 0.0), 1)]
        return table

    # -- multipliers and impacts -------------------------------------------------------
    def _multipliers(self):
        if self._mult is None:
            from geocluster.models.impacts import Multipliers, multipliers

            # powers of the trace series (large n): enough that |rho|^P < 1e-6 for rho up
            # to the estimate + 4 standard errors (the simulation draws), 20 to 100
            rho = self.rho if self.rho is not None else 0.0
            se = float(self.bse.get("rho", 0.0)) if self.rho is not None else 0.0
            reach = min(0.99, abs(rho) + 4 * (se if np.isfinite(se) else 0.0))
            powers = int(np.clip(np.ceil(np.log(1e-6) / np.log(max(reach, 1e-3))), 20, 100))
            traces = self.extra.get("traces")
            if traces is not None and len(traces) > powers:
                # tr(W^j)/n already estimated by the large-n ML fit (same estimator)
                self._mult = Multipliers(
                    f"traces (power {len(traces) - 1}, from the fit)",
                    traces=np.asarray(traces, dtype=float),
                    zero_rows=float(np.mean(np.asarray(abs(self.W).sum(axis=1)).ravel() == 0)),
                )
            else:
                self._mult = multipliers(self.W, max_power=powers,
                                         seed=self.extra.get("trace_seed", 0))
        return self._mult

    def mean_multipliers(self, rho: float | None = None) -> dict:
        """Scalar spatial multipliers at ``rho`` (default: the estimate).

        Returns ``dict(direct=tr(S)/n, total=1/(1 - rho), direct_wx=tr(S W)/n)`` with
        ``S = (I - rho W)^-1`` and row-standardised ``W``: exact (eigenvalues of W) for
        small n, a Monte Carlo trace series for large n (see
        :mod:`geocluster.models.impacts`). OLS and the error model have no multiplier:
        ``direct = total = 1``, ``direct_wx = 0``.

        Examples
        --------
        >>> import geocluster as gc
        >>> res = gc.regress("CRIME ~ INC + HOVAL", gc.datasets.load_columbus(),
        ...                  model="lag", weights="queen")
        >>> {k: round(v, 4) for k, v in res.mean_multipliers().items()}
        {'direct': 1.0497, 'total': 1.734, 'direct_wx': 0.1175}
        """
        if rho is None:
            rho = self.rho
        if rho is None:
            return {"direct": 1.0, "total": 1.0, "direct_wx": 0.0}
        m = self._multipliers()
        return {
            "direct": float(m.direct(rho)),
            "total": float(m.total(rho)),
            "direct_wx": float(m.direct_wx(rho)),
        }

    def impacts(
        self,
        simulations: int = 1000,
        seed: int | np.random.Generator | None = None,
        *,
        alpha: float = 0.05,
    ) -> pd.DataFrame:
        """Direct, indirect and total impacts per regressor (LeSage & Pace 2009).

        Point impacts are computed at the estimates; standard errors, z, p and the
        percentile intervals from ``simulations`` draws of the coefficients from their
        estimated normal sampling distribution (draws with ``|rho| >= 1`` are left out).
        For OLS and the error model the impacts are the coefficients (no spillovers).
        One row per (variable, effect); every non-constant design column is a variable
        (so ``cluster`` and ``I(cluster ** 2)`` appear separately: for the effect of
        the clustering level itself use :meth:`marginal_effects`).

        Returns
        -------
        pandas.DataFrame
            Columns ``variable``, ``effect`` (direct/indirect/total), ``estimate``,
            ``se``, ``z``, ``p``, ``ci_low``, ``ci_high``; ``attrs`` records the method
            (exact or traces), draws and seed.

        Examples
        --------
        >>> import geocluster as gc
        >>> res = gc.regress("CRIME ~ INC + HOVAL", gc.datasets.load_columbus(),
        ...                  model="lag", weights="queen")
        >>> imp = res.impacts(simulations=200, seed=1)
        >>> imp.loc[imp["variable"] == "INC", ["effect", "estimate"]].round(4)
             effect  estimate
        0    direct   -1.1009
        1  indirect   -0.7177
        2     total   -1.8186
        """
        from geocluster.models.impacts import impacts_table

        if isinstance(simulations, bool) or not isinstance(simulations, int | np.integer):
            raise InputError(f"simulations={simulations!r} must be a non-negative integer.")
        if simulations < 0:
            raise InputError(f"simulations={simulations!r} must be a non-negative integer.")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer | np.random.Generator)
        ):
            raise InputError(f"seed={seed!r} must be an integer, a numpy Generator or None.")
        _check_alpha(alpha)
        self._check_simulations(simulations)
        mult = self._multipliers() if self.model in ("lag", "durbin") else None
        table = impacts_table(
            self.params,
            self._vcov,
            model=self.model,
            mult=mult,
            simulations=int(simulations),
            seed=seed,
            alpha=alpha,
        )
        table.attrs.update(
            {
                "multipliers": mult.method if mult is not None else "none",
                "simulations": int(simulations),
                "seed": int(seed)
                if isinstance(seed, int | np.integer)
                else (None if seed is None else "Generator"),
            }
        )
        return table

    def _check_simulations(self, simulations: int) -> None:
        """Refuse a number of draws whose arrays would not fit in memory (before drawing)."""
        from geocluster.models._limits import check_size

        p = len(self.params)
        v = sum(1 for c in self.params.index
                if c not in ("Intercept", "rho", "lambda") and not str(c).startswith("W_"))
        traces = self.extra.get("traces")
        powers = len(traces) if traces is not None else 101 if self.nobs > 1000 else 0
        # per draw: the normal draws and their transform (2p), the effects and the
        # sorted copies behind the quantiles (6v), the rho power series (2 x powers)
        per_draw = 8.0 * (2 * p + 6 * v + 2 * powers + 8)
        check_size(
            "impacts(simulations=)", simulations, per_draw,
            what=f"draws of the {p} estimates",
            suggestion="simulations=1000 (the default; 10,000 makes the percentile "
            "intervals stable to about 1%)",
        )

    # -- prediction ---------------------------------------------------------------------
    def predict(
        self,
        data: pd.DataFrame | None = None,
        *,
        kind: str | None = None,
        weights=None,
    ) -> pd.Series:
        """Predicted outcomes.

        Parameters
        ----------
        data
            New rows (default: the rows used in the fit). The formula's right-hand side
            is evaluated on them with ``model_spec``; lag and Durbin models need
            weights for them: ``weights`` (a spec or a Graph on ``data``), default the
            fit's spec when it was a string.
        kind
            ``"reduced"`` (default for lag/durbin): ``(I - rho W)^-1 (X beta + W X
            theta)``; ``"trend"``: ``X beta (+ W X theta)`` (default for OLS and the
            error model); ``"signal"`` (in-sample only): ``X beta + rho W y`` for
            lag/durbin, ``X beta + lambda W (y - X beta)`` for the error model.

        Examples
        --------
        >>> import geocluster as gc
        >>> columbus = gc.datasets.load_columbus()
        >>> res = gc.regress("CRIME ~ INC + HOVAL", columbus, model="lag", weights="queen")
        >>> res.predict().head(3).round(3).tolist()
        [16.825, 25.748, 36.314]
        >>> res.predict(columbus.iloc[:10], weights="knn:3").shape
        (10,)
        """
        default = "reduced" if self.model in ("lag", "durbin") else "trend"
        kind = default if kind is None else kind
        if kind not in ("reduced", "trend", "signal"):
            raise InputError(f"kind={kind!r} must be 'reduced', 'trend' or 'signal'.")
        if data is None:
            X, W, index, y = self._X.to_numpy(dtype=float), self.W, self.data.index, self._y
        else:
            if kind == "signal":
                raise InputError("kind='signal' needs the observed outcome: in-sample only.")
            X, W, index = self._new_design(data, weights)
            y = None
        names = [c for c in self.params.index if c not in ("rho", "lambda")]
        beta = self.params[names].to_numpy(dtype=float)
        trend = X @ beta
        if kind == "trend" or self.model == "ols":
            out = trend
        elif self.model == "error":
            if kind == "reduced":
                out = trend
            else:
                out = trend + self.lam * (W @ (y - trend))
        elif kind == "signal":
            out = trend + self.rho * (W @ y)
        else:
            out = _solve_lag(W, self.rho, trend)
        return pd.Series(out, index=index, name="predicted")

    def _new_design(self, data, weights):
        from geocluster.models.regress import _graph_for_rows

        try:
            Xd = self.model_spec.get_model_matrix(data, na_action="ignore")
        except Exception as exc:  # formulaic raises several types
            from geocluster.models._design import formulaic_message

            raise InputError(
                f"cannot evaluate the formula on the new data: {formulaic_message(exc)}. The "
                "new data need every column the formula uses, with the fitted data's types "
                "and category levels."
            ) from None
        Xd = pd.DataFrame(np.asarray(Xd, dtype=float), columns=list(Xd.columns), index=data.index)
        if not np.isfinite(Xd.to_numpy()).all():
            raise InputError("the new data give missing or infinite regressors; drop those rows.")
        W = None
        if self.model != "ols":
            spec = weights
            if spec is None and isinstance(self.extra.get("weights_spec"), str):
                spec = self.extra["weights_spec"]
            if spec is None and (self.model in ("lag", "durbin") or self.slx_columns):
                raise InputError(
                    "predicting a lag/durbin model on new rows needs weights for them: "
                    "pass weights='knn:8' (a spec) or a Graph on the new rows."
                )
            if spec is not None:
                W = _graph_for_rows(data, spec, isolates="keep")[0].sparse.tocsr()
        if self.slx_columns:
            lagged = W @ Xd[self.slx_sources].to_numpy()
            for name, col in zip(self.slx_columns, lagged.T, strict=True):
                Xd[name] = col
        names = [c for c in self.params.index if c not in ("rho", "lambda")]
        return Xd[names].to_numpy(dtype=float), W, data.index

    # -- effects (delegated to geocluster.models.effects) ------------------------------
    def marginal_effects(self, variable: str, by: str | None = None, at=None, **kwargs):
        """Marginal effects of ``variable`` by group; see
        :func:`geocluster.models.effects.marginal_effects`."""
        from geocluster.models import effects

        return effects.marginal_effects(self, variable, by=by, at=at, **kwargs)

    def turning_point(self, variable: str, by: str | None = None, **kwargs):
        """Turning point of a quadratic in ``variable``; see
        :func:`geocluster.models.effects.turning_point`."""
        from geocluster.models import effects

        return effects.turning_point(self, variable, by=by, **kwargs)

    def u_test(self, *args, **kwargs):
        """Lind & Mehlum U-test; see :func:`geocluster.models.effects.u_test`."""
        from geocluster.models import effects

        return effects.u_test(self, *args, **kwargs)

    def plot_effects(self, variable: str, by: str | None = None, **kwargs):
        """Plot marginal effects; see :func:`geocluster.models.effects.plot_effects`."""
        from geocluster.models import effects

        return effects.plot_effects(self, variable, by=by, **kwargs)


def _check_alpha(alpha) -> None:
    real = isinstance(alpha, int | float | np.integer | np.floating) and not isinstance(alpha, bool)
    if not real or not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r} must be a number between 0 and 1, e.g. 0.05.")


def _short(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "~"


def _solve_lag(W: sp.spmatrix, rho: float, v: np.ndarray) -> np.ndarray:
    """``(I - rho W)^-1 v`` for row-standardised W by the power series (|rho| < 1)."""
    if not -1 < rho < 1:
        raise ModelError(f"rho={rho} outside (-1, 1): the reduced form does not exist.")
    out = v.copy()
    term = v.copy()
    scale = max(np.abs(v).max(), 1e-300)
    for _ in range(10_000):
        term = rho * (W @ term)
        out += term
        if np.abs(term).max() <= 1e-13 * scale:
            break
    return out
