"""The result of :func:`geocluster.regress`, in the statsmodels manner.

:class:`RegressionResult` follows the results protocol of
:mod:`geocluster.models.protocol` (``params``, ``bse``, ``tvalues``, ``pvalues``,
``conf_int``, ``to_frame``) and the effect methods of
:class:`~geocluster.models.base.ModelResult`; ``summary()`` returns the shared
:class:`~geocluster._base.summary.Summary`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geocluster._base.linalg import neumann_solve
from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import (
    check_alpha,
    check_positive_int,
    make_rng,
    seed_label,
)
from geocluster.errors import InputError, ModelError
from geocluster.models._design import evaluate_spec, formulaic_message
from geocluster.models._limits import check_size
from geocluster.models.base import ModelResult
from geocluster.models.diagnostics import spatial_diagnostics
from geocluster.models.graph import graph_for_rows
from geocluster.models.impacts import Multipliers, impacts_table, multipliers
from geocluster.models.protocol import EffectsInputs

__all__ = ["RegressionResult"]

_TITLES = {
    "ols": "Ordinary least squares (no spatial term)",
    "lag": "Spatial lag model (SAR)",
    "error": "Spatial error model (SEM)",
    "durbin": "Spatial Durbin model (SDM)",
}
_METHODS = {"ml": "maximum likelihood", "gmm": "GMM / spatial two-stage least squares"}
_DIAGNOSTICS = (
    ("moran_i", "Moran's I"),
    ("lm_lag", "LM lag"),
    ("lm_error", "LM error"),
    ("rlm_lag", "robust LM lag"),
    ("rlm_error", "robust LM error"),
)


class RegressionResult(ModelResult):
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
    bse, tvalues, pvalues : pandas.Series
        Standard errors (``"std_error"``), ``params / bse`` (``"t"`` for OLS, whose
        inference is Student t with ``df_resid`` degrees of freedom; ``"z"`` for the
        spatial models) and two-sided p-values (``"p_value"``); ``params`` is named
        ``"estimate"``. ``conf_int(alpha)`` has columns ``ci_low``, ``ci_high``;
        ``to_frame(alpha)`` is the coefficient table (index ``term``, columns
        ``estimate, std_error, statistic, p_value, ci_low, ci_high``); ``summary()``
        the shared :class:`~geocluster._base.summary.Summary`.
    X, y
        The regressors (Durbin: with the ``W_x`` columns) and the outcome of the fit.
    seed
        The seed given to :func:`geocluster.regress`, as recorded (int, None,
        ``"Generator"`` or ``"SeedSequence"``).

    Examples
    --------
    >>> import geocluster as gc
    >>> res = gc.regress("CRIME ~ INC + HOVAL", gc.datasets.load_columbus(),
    ...                  model="error", weights="queen")
    >>> res
    <RegressionResult error (ml) of 'CRIME': n=49, weights='queen', lambda=0.5468, loglik=-183.749>
    >>> res.to_frame().loc["lambda", ["estimate", "p_value"]].round(4).tolist()
    [0.5468, 0.0]
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
        seeds: tuple[np.random.SeedSequence, np.random.SeedSequence] | None = None,
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
        # later Monte Carlo work on this fit (trace multipliers, simulated impacts)
        # draws from children of regress's seed
        self._trace_seed, self._impacts_seed = seeds if seeds is not None else (
            np.random.SeedSequence(), np.random.SeedSequence())
        self._mult: Multipliers | None = None

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

    def _t_df(self) -> int | None:
        """OLS: Student t with n - k df (as R's ``lm``); spatial models: normal."""
        return self.df_resid if self.model == "ols" else None

    @property
    def seed(self) -> int | str | None:
        """The seed given to :func:`geocluster.regress` (as recorded by ``seed_label``)."""
        return self.extra.get("seed")

    @property
    def X(self) -> pd.DataFrame:
        """The regressors of the fit (Durbin: with the ``W_x`` columns), index of ``data``."""
        return self._X.copy()

    @property
    def y(self) -> pd.Series:
        """The outcome of the fit, index of ``data``."""
        return pd.Series(self._y, index=self.data.index, name=self.y_name)

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
    def summary(self, alpha: float = 0.05) -> Summary:
        """Coefficients, weights, n, fit statistics and residual diagnostics.

        ``print(summary)`` gives text, notebooks render HTML, ``summary.to_frame()`` the
        coefficient table (as :meth:`to_frame`).

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
        table = self.to_frame(check_alpha(alpha, where="summary"))
        title = _TITLES[self.model]
        if self.model != "ols":
            title += f", {_METHODS[self.method]}"
        return Summary(title=title, top=self._summary_top(), table=table,
                       notes=self._summary_notes(), statistic=self.statistic_name)

    def _summary_top(self) -> list[tuple[str, str]]:
        card = np.asarray(self.graph.cardinalities) if self.graph is not None else np.nan
        method = ("ols" if self.model == "ols" else self.method) + (
            f" ({self.robust} SE)" if self.robust else "")
        top = [
            ("Dep. variable", self.y_name),
            ("Model", self.model),
            ("Method", method),
            ("Weights", _short(self.weights, 20)),
            ("Mean neighbours", f"{np.mean(card):.2f}"),
            ("No. observations", f"{self.nobs}"),
            ("Dropped (missing)", f"{self.n_dropped}"),
        ]
        if self.extra.get("n_isolated_dropped"):
            top.append(("Dropped (isolates)", str(self.extra["n_isolated_dropped"])))
        top += [("Log-likelihood", format_number(self.loglik)),
                ("AIC", format_number(self.aic)), ("sigma^2", format_number(self.sigma2))]
        if self.rho is not None:
            top.append(("rho", f"{self.rho:.4f}"))
        if self.lam is not None:
            top.append(("lambda", f"{self.lam:.4f}"))
        return top

    def _summary_notes(self) -> list[str]:
        notes = [f"Estimator: {self.estimator}."]
        if self.slx_columns:
            notes.append("W_<x> = spatial lag (W x) of the design column x.")
        d = self.diagnostics if self.W is not None else pd.DataFrame()
        parts = [
            f"{label} {d.loc[key, 'statistic']:.3f} (p {d.loc[key, 'p_value']:.3g})"
            for key, label in _DIAGNOSTICS if key in d.index
        ]
        if parts:
            notes.append("OLS residual diagnostics: " + "; ".join(parts) + ".")
        if self.message:
            notes.append(self.message)
        return notes

    def __repr__(self) -> str:
        spatial = ""
        if self.rho is not None:
            spatial = f", rho={self.rho:.4f}"
        elif self.lam is not None:
            spatial = f", lambda={self.lam:.4f}"
        return (
            f"<RegressionResult {self.model} ({self.method}) of {self.y_name!r}: "
            f"n={self.nobs}, weights={_short(self.weights, 40)}{spatial}, "
            f"loglik={self.loglik:.3f}>"
        )

    # -- diagnostics ------------------------------------------------------------------
    @cached_property
    def diagnostics(self) -> pd.DataFrame:
        """Moran's I and LM tests of the OLS residuals; LR test of rho/lambda (ML)."""
        if self.W is None:
            raise ModelError(
                "diagnostics need spatial weights; fit with weights='knn:8' (or a Graph)."
            )
        return spatial_diagnostics(self._y, self._X.to_numpy(dtype=float), self.W,
                                   model=self.model, method=self.method, loglik=self.loglik)

    # -- multipliers and impacts -------------------------------------------------------
    def _multipliers(self):
        if self._mult is None:
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
                self._mult = multipliers(self.W, max_power=powers, seed=self._trace_seed)
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

        Point impacts are computed at the estimates; standard errors, statistics,
        p-values and the
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
            ``std_error``, ``statistic`` (estimate / std_error), ``p_value``, ``ci_low``,
            ``ci_high``; ``attrs`` records the method (exact or traces), draws and seed.

        Parameters
        ----------
        simulations
            Draws of the estimates (0: point impacts only, for lag and Durbin models).
        seed
            Seed of the draws; default None draws from a child of the seed given to
            :func:`geocluster.regress` (so a fit's impacts are reproducible).
        alpha
            1 - level of the percentile intervals.

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
        simulations = check_positive_int(simulations, where="impacts", name="simulations",
                                         minimum=0)
        # without a seed of its own, impacts draw from a child of regress's seed
        rng = make_rng(self._impacts_seed if seed is None else seed, where="impacts")
        alpha = check_alpha(alpha, where="impacts")
        self._check_simulations(simulations)
        mult = self._multipliers() if self.model in ("lag", "durbin") else None
        table = impacts_table(self.params, self._vcov, model=self.model, mult=mult,
                              simulations=simulations, rng=rng, alpha=alpha)
        table.attrs.update({
            "multipliers": mult.method if mult is not None else "none",
            "simulations": simulations,
            "seed": seed_label(seed) if seed is not None else self.seed,
        })
        return table

    def _check_simulations(self, simulations: int) -> None:
        """Refuse a number of draws whose arrays would not fit in memory (before drawing)."""
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
            out = _solve_lag(W, float(self.params["rho"]), trend)
        return pd.Series(out, index=index, name="predicted")

    def _new_design(self, data, weights):
        try:
            Xd = evaluate_spec(self.model_spec, data)
        except Exception as exc:  # formulaic raises several types
            raise InputError(
                f"cannot evaluate the formula on the new data: {formulaic_message(exc)}. The "
                "new data need every column the formula uses, with the fitted data's types "
                "and category levels."
            ) from None
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
                W = graph_for_rows(data, spec, isolates="keep")[0].sparse.tocsr()
        if self.slx_columns:
            lagged = W @ Xd[self.slx_sources].to_numpy()
            for name, col in zip(self.slx_columns, lagged.T, strict=True):
                Xd[name] = col
        names = [c for c in self.params.index if c not in ("rho", "lambda")]
        return Xd[names].to_numpy(dtype=float), W, data.index

    # -- effects (the protocol of geocluster.models.effects) ---------------------------
    def effects_inputs(self) -> EffectsInputs:
        """What :mod:`geocluster.models.effects` needs from this fit."""
        spatial = self.model in ("lag", "durbin")
        return EffectsInputs(
            model=self.model,
            formula=self.formula,
            params=self.params,
            cov=self.cov_params(),
            model_spec=self.model_spec,
            data=self.data,
            nobs=self.nobs,
            slx_pairs=tuple(zip(self.slx_sources, self.slx_columns, strict=True)),
            label=self.model,
            multipliers=(lambda rho: self.mean_multipliers(rho)) if spatial else None,
            t_df=self._t_df(),
        )


def _short(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "~"



def _solve_lag(W: sp.spmatrix, rho: float, v: np.ndarray) -> np.ndarray:
    """``(I - rho W)^-1 v`` (the reduced form) by the one Neumann solver (|rho| < 1)."""
    if not -1 < rho < 1:
        raise ModelError(f"rho={rho} outside (-1, 1): the reduced form does not exist.")
    return neumann_solve(W, v, rho)
