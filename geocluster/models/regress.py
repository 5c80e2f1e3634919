"""``gc.regress``: formulas to spatial regression (OLS, lag, error, Durbin; ML or GMM).

Estimation routes
-----------------
``method="ml"``
    *Exact* maximum likelihood with spreg (``BaseML_Lag`` / ``BaseML_Error``, sparse LU
    log-determinant, analytic information matrix) while ``n <= ML_EXACT_MAX_N`` (1000);
    beyond, the sparse estimator of :mod:`geocluster.models._sparse_ml`. Up to
    n = 20,000 it is exact too: sparse-LU log-determinant and exact information-matrix
    traces (derivatives of sparse log-determinants, no dense matrix), so its estimates,
    standard errors and log-likelihood equal R spatialreg's ``lagsarlm`` /
    ``errorsarlm`` / ``lagsarlm(Durbin=TRUE)`` with ``method="eigen"`` and analytic
    standard errors: tested to 1e-6 relative at n = 4,000 (knn:8,
    tests/test_ml_se_reference.py); measured: coefficients within 4e-8, standard errors
    within 1.5e-8 (both limited by the tolerance of the rho search), log-likelihood
    within 2e-15. Above 20,000 rows the log-determinant is the Barry-Pace Monte Carlo
    series and the traces are Monte Carlo estimates; their probes are added until the
    estimated relative Monte Carlo error of every standard error is at most 2e-5,
    reported in ``results.extra["se_rel_error"]`` and in the estimator note. Measured
    at n = 50,000 (knn:8, rho 0.5): 192 probes, reported error 1.9e-5 for the SE of
    rho, actual 1.5e-5 against exact traces at the same estimate; the Monte Carlo
    log-determinant also moves the estimate (rho by 2.4e-5), so the SE differs from the
    fully exact fit's by 6.3e-5. ``logdet=`` forces a
    log-determinant method (``"lu"``, ``"eigen"``, ``"mc"``, ``"chebyshev"``). Why
    spreg only to 1000: its variance step inverts ``I - rho W`` densely (O(n^3) time,
    n^2 memory: 8 s at 5k and > 20 GB at 20k per DESIGN.md). spreg stays the small-n
    route because it is the estimator checked against R on Columbus; the sparse route
    is checked against it in the tests. On Columbus the spreg route equals R
    spatialreg's ``lagsarlm`` / ``errorsarlm`` (Durbin: ``lagsarlm(Durbin=TRUE)``) to
    better than 1e-6 relative: same concentrated likelihood, ``sigma2 = e'e/n``,
    asymptotic (information-matrix) standard errors.
``method="gmm"``
    Spatial two-stage least squares for lag and Durbin (instruments ``W X`` resp.
    ``W^2 X`` of the non-constant columns, spreg's defaults), Kelejian-Prucha / Drukker
    GM for the error model (homoskedastic; ``robust="white"`` gives the
    heteroskedasticity-robust GM of Arraiz et al. 2010). Fast at any n.
``model="ols"``
    spreg's OLS; ``sigma2 = e'e/(n-k)``, t-based p-values (as R's ``lm``).

Weights are always built on (or restricted to) the rows left after dropping missing
values, and row-standardised.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic.utils.context import capture_context
from libpysal.graph import Graph

from geocluster._base.validate import make_rng, seed_label
from geocluster.errors import GeoclusterWarning, InputError, ModelError, WeightsError
from geocluster.models import _sparse_ml
from geocluster.models._design import build_design, check_full_rank, warn_dropped
from geocluster.models.diagnostics import ols_loglik
from geocluster.models.graph import graph_for_rows
from geocluster.models.results import RegressionResult

__all__ = ["regress", "ML_EXACT_MAX_N"]

MODELS = ("ols", "lag", "error", "durbin")
METHODS = ("ml", "gmm")
#: Largest n estimated by exact ML with spreg under ``method="ml", logdet="auto"``.
ML_EXACT_MAX_N = 1000
#: |rho| or |lambda| closer than this to 1 is treated as a boundary solution.
BOUNDARY = 0.995


def regress(
    formula: str,
    data: pd.DataFrame,
    *,
    model: Literal["ols", "lag", "error", "durbin"] = "lag",
    weights: str | Graph | None = "knn:8",
    method: Literal["ml", "gmm"] = "ml",
    robust: Literal["white"] | None = None,
    logdet: str = "auto",
    missing: Literal["raise", "drop"] = "raise",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    crs: str | int | None = None,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
) -> RegressionResult:
    """Fit a (spatial) regression from a statsmodels-style formula.

    Parameters
    ----------
    formula
        ``"outcome ~ regressors"`` as in statsmodels (formulaic): interactions ``a * b``,
        ``I(x**2)``, ``np.log(x)``, ``C(industry)``, ``- 1`` for no intercept.
    data
        A GeoDataFrame (weights are built from its geometry) or a DataFrame together with
        a ready ``libpysal.graph.Graph`` in ``weights`` (ids = the frame's index). Not
        modified.
    model
        ``"ols"``, ``"lag"`` (SAR, ``y = rho W y + X b + e``), ``"error"`` (SEM,
        ``u = lambda W u + e``) or ``"durbin"`` (SDM: lag model plus ``W x`` of every
        non-constant column, named ``W_x``).
    weights
        A spec for :func:`geocluster.weights` (``"knn:8"``, ``"queen"``,
        ``"distance:25km"``, ...) or a Graph. Row-standardised; built on the rows used.
        ``None`` is allowed for ``model="ols"`` (then without spatial diagnostics).
    method
        ``"ml"`` (maximum likelihood) or ``"gmm"`` (spatial 2SLS / GM, via spreg).
    robust
        ``None`` or ``"white"`` (heteroskedasticity-robust; OLS: White/HC1 with the
        n/(n-k) factor, as spreg and Stata; GMM lag: White; GMM error: the
        heteroskedasticity-robust GM estimator). Not available for ML spatial models.
    logdet
        ML spatial models only (another value with ``model="ols"`` or ``method="gmm"`` is
        an error naming it): ``"auto"`` (exact spreg up to ``ML_EXACT_MAX_N`` = 1000 rows, the sparse
        estimator beyond: exact LU and exact traces to 20,000 rows, Monte Carlo above),
        ``"spreg"`` (force
        spreg), or a log-determinant method of the sparse estimator, which forces it:
        ``"exact"``/``"lu"``, ``"eigen"``, ``"mc"`` or ``"chebyshev"``.
    missing
        ``"raise"`` (default): a missing value in a column the formula uses is an
        :class:`~geocluster.errors.InputError` naming the columns and counts; ``"drop"``:
        those rows are dropped and counted in a :class:`~geocluster.GeoclusterWarning`
        (the weights are built on the remaining rows).
    isolates
        Units without neighbours under ``weights``: ``"raise"`` (default), ``"drop"``
        them (with a warning) or ``"keep"`` them (their spatial lag is 0).
    crs
        Metric CRS for weights built from a spec string (default: automatic); with a
        ready Graph or ``weights=None`` it is an error naming ``crs``.
    seed
        Seed (int, numpy Generator or SeedSequence; None: fresh entropy) of every random
        draw on this fit, through independent children of it: the probe vectors of the
        Monte Carlo log-determinant (``logdet="mc"``/``"chebyshev"``, the default above
        20,000 rows) and of the Monte Carlo information-matrix traces behind the
        standard errors (above 20,000 rows), the Monte Carlo trace multipliers of the
        impacts (large n) and the draws of ``results.impacts()`` when it is given no
        seed of its own. Fits up to 20,000 rows (and OLS, GMM) draw nothing, so the seed
        does not change their estimates. Recorded (``seed_label``) in ``results.seed``.

    Returns
    -------
    RegressionResult
        ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``, ``loglik``,
        ``aic``, ``nobs``, ``sigma2``, ``summary()``, ``to_frame()``, ``diagnostics``,
        ``impacts()``, ``predict()``, ``marginal_effects()``, ...

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> res = gc.regress("CRIME ~ INC + HOVAL", columbus, model="lag", weights="queen")
    >>> res.params.round(4).to_dict()
    {'Intercept': 45.6032, 'INC': -1.0487, 'HOVAL': -0.2663, 'rho': 0.4233}
    >>> round(res.loglik, 3)
    -182.674
    >>> round(float(res.diagnostics.loc["lm_lag", "statistic"]), 3)
    8.898
    """
    _check_options(data, model, method, robust, missing, isolates, logdet, weights, crs)
    # independent children for the fit, the trace multipliers and the impacts, spawned
    # from the generator's SeedSequence: an int and default_rng(int) give the same ones
    root = make_rng(seed, "regress").bit_generator.seed_seq
    assert isinstance(root, np.random.SeedSequence)  # numpy's generators are seeded so
    fit_seed, trace_seed, impacts_seed = root.spawn(3)
    design, graph, label, n_isolated = _design_and_graph(
        formula,
        data,
        weights,
        context=capture_context(1),
        missing=missing,
        isolates=isolates,
        crs=crs,
    )
    W = sp.csr_matrix(graph.sparse, dtype=float) if graph is not None else None
    X, slx_sources, slx_columns = (
        _with_slx(design.X, W) if model == "durbin" else (design.X.copy(), [], [])
    )
    _check_design(X, design, model)
    fit = _estimate(
        model, method, design.y, X.to_numpy(dtype=float), W, robust, logdet, design.X.shape[1],
        fit_seed,
    )
    names = list(X.columns) + ([fit["spatial_name"]] if fit["spatial_name"] else [])
    params = pd.Series(fit["params"], index=names, name="estimate")
    _check_spatial(model, method, fit, params)
    return RegressionResult(
        model=model,
        method=method,
        formula=formula,
        params=params,
        vcov=fit["vcov"],
        y=design.y,
        X=X,
        design_columns=list(design.X.columns),
        slx_columns=slx_columns,
        slx_sources=slx_sources,
        model_spec=design.model_spec,
        data=data.loc[design.index].copy(),
        graph=graph,
        W=W,
        weights_label=label,
        loglik=fit["loglik"],
        sigma2=fit["sigma2"],
        resid=fit["resid"],
        y_name=design.y_name,
        n_dropped=design.n_dropped,
        robust=robust,
        estimator=fit["estimator"],
        converged=fit.get("converged", True),
        message=fit.get("message", ""),
        extra={
            "weights_spec": weights if isinstance(weights, str) else None,
            "traces": fit.get("traces"),
            "n_isolated_dropped": n_isolated,
            "seed": seed_label(seed),
            "se_rel_error": (
                pd.Series(fit["se_rel_error"], index=names, name="se_rel_error")
                if fit.get("se_rel_error") is not None
                else None
            ),
        },
        seeds=(trace_seed, impacts_seed),
    )


def _design_and_graph(formula, data, weights, *, context, missing, isolates, crs):
    """The design on the complete rows and the weights on exactly those rows."""
    design = build_design(formula, data, context=context, missing=missing)
    warn_dropped(design, len(data), stacklevel=3)
    if weights is None:  # OLS without weights (checked in _check_options)
        return design, None, "none", 0
    graph, label = graph_for_rows(data.loc[design.index], weights, isolates=isolates, crs=crs)
    n_isolated = len(design.index) - graph.n
    if n_isolated:  # isolates="drop": rebuild the design on the remaining rows
        keep = pd.Index(graph.unique_ids)
        warnings.warn(
            f"{n_isolated} units without neighbours under weights {label} dropped "
            f"(e.g. {design.index.difference(keep)[:5].tolist()}).",
            GeoclusterWarning,
            stacklevel=3,
        )
        n_missing = design.n_dropped
        design = build_design(formula, data.loc[keep], context=context, missing=missing)
        design.n_dropped = n_missing
    return design, graph, label, n_isolated


def _with_slx(X: pd.DataFrame, W: sp.csr_matrix):
    """Add ``W_<column>`` = W x for every non-constant design column (Durbin)."""
    sources = [c for c in X.columns if c != "Intercept"]
    if not sources:
        raise ModelError("the Durbin model needs at least one non-constant regressor.")
    out = X.copy()
    lagged = W @ X[sources].to_numpy()
    columns = [f"W_{name}" for name in sources]
    for name, col in zip(columns, lagged.T, strict=True):
        out[name] = col
    return out, sources, columns


def _check_design(X: pd.DataFrame, design, model: str) -> None:
    check_full_rank(X, what=f"the {model} model's design")
    n, k = X.shape
    n_params = k + (model != "ols") + 1  # + spatial parameter + sigma2
    if n < n_params + 1:
        raise ModelError(
            f"{n} rows are too few for the {n_params} parameters of this {model} model "
            f"({k} coefficients{', the spatial parameter' if model != 'ols' else ''} and "
            "sigma2); use more rows or fewer regressors."
        )
    if np.ptp(design.y) == 0:
        raise InputError(
            f"the outcome {design.y_name!r} is constant in every used row "
            f"({len(design.y)} rows, all {design.y[0]:g}); nothing to explain. Check the "
            "outcome column (and the rows left after dropping missing values)."
        )


# ---------------------------------------------------------------------------------------
# validation and weights
# ---------------------------------------------------------------------------------------
def _check_options(data, model, method, robust, missing, isolates, logdet, weights,
                   crs) -> None:
    if not isinstance(data, pd.DataFrame):
        raise InputError(
            f"data must be a (Geo)DataFrame, got {type(data).__name__}; "
            "use gc.read_firms(...) or pandas.read_csv(...) first."
        )
    if len(data) == 0:
        raise InputError("data is empty (0 rows): there is nothing to fit.")
    if not data.index.is_unique:
        raise InputError(
            "data's index has duplicate labels; the weights use it as unit ids. "
            "Use reset_index() or set_index() on a unique id column."
        )
    if model in ("probit", "tobit"):
        raise ModelError(
            f"model={model!r}: binary and censored outcomes have their own functions, "
            f"geocluster.models.{model}.spatial_{model}(formula, data, spatial='lag' | "
            "'error' | None) (Bayesian SAR/SEM by MCMC, or method='ml' without spatial "
            "dependence)."
        )
    if not isinstance(model, str) or model not in MODELS:
        raise ModelError(
            f"model={model!r} is not a model geocluster fits; choose one of {MODELS} "
            "('ols', 'lag': spatial lag, 'error': spatial error, 'durbin': spatial Durbin)."
        )
    if not isinstance(method, str) or method not in METHODS:
        raise ModelError(
            f"method={method!r} is not an estimation method; choose one of {METHODS} "
            "('ml': maximum likelihood, 'gmm': spatial two-stage least squares / "
            "generalised moments)."
        )
    if weights is None and model != "ols":
        raise WeightsError(
            f"the {model} model needs spatial weights: pass weights='knn:8' (or another "
            "spec) with a GeoDataFrame, or a libpysal Graph on the rows."
        )
    if robust not in (None, "white"):
        raise ModelError(f"robust={robust!r} must be None or 'white'.")
    if robust is not None and method == "ml" and model != "ols":
        raise ModelError(
            "robust standard errors are not available for maximum likelihood spatial models; "
            "use method='gmm' with robust='white' (heteroskedasticity-robust)."
        )
    if missing not in ("drop", "raise"):
        raise ModelError(f"missing={missing!r} must be 'drop' or 'raise'.")
    if isolates not in ("raise", "drop", "keep"):
        raise ModelError(f"isolates={isolates!r} must be 'raise', 'drop' or 'keep'.")
    if not isinstance(logdet, str):
        raise ModelError(f"logdet={logdet!r} must be a string such as 'auto', 'spreg' or 'mc'.")
    _check_applicable(model, method, logdet, weights, crs)


def _check_applicable(model, method, logdet, weights, crs) -> None:
    """An option that does not apply to the chosen model, method or weights is an error."""
    if logdet != "auto" and (model == "ols" or method == "gmm"):
        raise ModelError(
            f"logdet={logdet!r} applies to maximum likelihood spatial models only; "
            f"model={model!r} with method={method!r} has no log-determinant: drop logdet=."
        )
    if crs is not None and not isinstance(weights, str):
        raise InputError(
            f"crs={crs!r} applies only to weights built from a spec string (e.g. "
            "'distance:25km'); with "
            + ("weights=None" if weights is None else "a ready Graph")
            + " nothing is projected: drop crs= (or build the Graph with gc.weights(data, "
            "spec, crs=...))."
        )


# ---------------------------------------------------------------------------------------
# estimation
# ---------------------------------------------------------------------------------------
def _estimate(model, method, y, X, W, robust, logdet, n_design, seed) -> dict:
    if model == "ols":
        return _fit_ols(y, X, robust)
    if method == "gmm":
        return (
            _fit_gmm_error(y, X, W, robust)
            if model == "error"
            else _fit_gmm_lag(y, X, W, robust, n_design=n_design)
        )
    if logdet == "spreg" or (logdet == "auto" and len(y) <= ML_EXACT_MAX_N):
        return _fit_ml_spreg(model, y, X, W)
    return _fit_ml_sparse(model, y, X, W, logdet, seed)


def _fit_ols(y, X, robust) -> dict:
    from spreg.ols import BaseOLS

    ols = BaseOLS(y=y[:, None], x=X, robust=robust, sig2n_k=True)
    resid = ols.u.ravel()
    return {
        "params": ols.betas.ravel(),
        "vcov": ols.vm,
        "loglik": ols_loglik(resid),
        "sigma2": float(ols.sig2),
        "resid": resid,
        "spatial_name": None,
        "estimator": "spreg OLS" + (" (White SE)" if robust else ""),
    }


def _w_object(W: sp.csr_matrix):
    from libpysal.weights import WSP

    w = WSP(W, id_order=list(range(W.shape[0]))).to_W(silence_warnings=True)
    w.transform = "O"
    return w


def _fit_ml_spreg(model, y, X, W) -> dict:
    from spreg.ml_error import BaseML_Error
    from spreg.ml_lag import BaseML_Lag

    if model in ("lag", "durbin"):
        # spreg's BaseML_Lag computes the reduced form by a power series that does not
        # converge when rho sits at -1 or 1 (minutes of iterations even at n = 150), so
        # the boundary is screened first with the same likelihood (exact LU, no SEs).
        screen = _sparse_ml.fit_lag(y, X, W, logdet="lu", se=False)
        if abs(screen.rho) >= BOUNDARY:
            return {
                "params": np.r_[screen.beta, screen.rho],
                "spatial_name": "rho",
                "vcov": np.full((X.shape[1] + 1,) * 2, np.nan),
                "converged": True,
            }
    w = _w_object(W)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", sp.SparseEfficiencyWarning)
        try:
            if model in ("lag", "durbin"):
                fit = BaseML_Lag(y[:, None], X, w, method="LU")
                spatial, name = float(fit.rho), "rho"
            else:
                fit = BaseML_Error(y[:, None], X, w, method="LU")
                spatial, name = float(np.ravel(fit.lam)[0]), "lambda"
        except (np.linalg.LinAlgError, RuntimeError) as exc:
            raise ModelError(
                f"maximum likelihood failed ({exc}); the weights may make I - rho W "
                "singular. Try method='gmm' or another weights spec."
            ) from None
    resid = np.ravel(fit.u)  # lag: y - X b - rho W y (spreg's u); error: y - X b
    return {
        "params": np.ravel(fit.betas),
        "vcov": np.asarray(fit.vm),
        "loglik": float(np.ravel(fit.logll)[0]),
        "sigma2": float(np.ravel(fit.sig2)[0]),
        "resid": resid,
        "spatial_name": name,
        "spatial": spatial,
        "estimator": f"spreg {'BaseML_Lag' if name == 'rho' else 'BaseML_Error'} "
        "(exact sparse-LU log-determinant, analytic information matrix)",
    }


def _fit_ml_sparse(model, y, X, W, logdet, seed) -> dict:
    fitter = _sparse_ml.fit_lag if model in ("lag", "durbin") else _sparse_ml.fit_error
    fit = fitter(y, X, W, logdet=logdet, seed=seed)
    beta = np.asarray(fit.beta, dtype=float)
    spatial = float(fit.rho)  # rho or lambda (fit.param_name)
    if model in ("lag", "durbin"):
        resid = np.asarray(fit.resid, dtype=float)  # y - rho W y - X b, as spreg's u
    else:
        resid = y - X @ beta  # spreg's u for the error model
    return {
        "params": np.concatenate([beta, [spatial]]),
        "vcov": np.asarray(fit.vcov, dtype=float),
        "loglik": float(fit.loglik),
        "sigma2": float(fit.sigma2),
        "resid": resid,
        "spatial_name": "rho" if model in ("lag", "durbin") else "lambda",
        "spatial": spatial,
        "estimator": f"geocluster sparse ML (log-determinant {fit.logdet_method}"
        + (f" with {fit.n_vectors} probe vectors" if fit.n_vectors else "")
        + ", information-matrix traces "
        + (
            f"Monte Carlo with {fit.se_probes} probe vectors: estimated relative error "
            f"of the standard errors at most "
            f"{np.nanmax(np.asarray(fit.se_rel_error, dtype=float)):.1g}, see "
            "results.extra['se_rel_error'])"
            if fit.trace_method == "hutchinson"
            else f"{fit.trace_method})"
        ),
        "se_rel_error": np.asarray(fit.se_rel_error, dtype=float),
        "converged": bool(fit.converged),
        "message": "" if fit.converged else str(fit.message),
        "traces": fit.traces,
    }


def _fit_gmm_lag(y, X, W, robust, *, n_design: int) -> dict:
    from spreg.twosls import BaseTSLS

    # instruments: W X (lag) or W^2 X (Durbin, whose X already holds W X) of the
    # non-constant design columns, as spreg's GM_Lag with w_lags=1
    design = X[:, :n_design]
    base = design[:, ~np.all(design == design[:1], axis=0)]
    durbin = X.shape[1] > n_design
    q = W @ (W @ base) if durbin else W @ base
    yend = (W @ y)[:, None]
    fit = BaseTSLS(y[:, None], X, yend, q=q, robust=robust, sig2n_k=False)
    resid = np.ravel(fit.u)
    return {
        "params": np.ravel(fit.betas),
        "vcov": np.asarray(fit.vm),
        "loglik": np.nan,
        "sigma2": float(np.ravel(fit.sig2)[0]) if np.ndim(fit.sig2) else float(fit.sig2),
        "resid": resid,
        "spatial_name": "rho",
        "spatial": float(np.ravel(fit.betas)[-1]),
        "estimator": "spreg spatial two-stage least squares (instruments "
        + ("W^2 X" if durbin else "W X")
        + ")"
        + (", White SE" if robust else ""),
    }


def _fit_gmm_error(y, X, W, robust) -> dict:
    if robust:
        from spreg.error_sp_het import BaseGM_Error_Het as Estimator

        label = "heteroskedasticity-robust GM (Arraiz et al. 2010)"
    else:
        from spreg.error_sp_hom import BaseGM_Error_Hom as Estimator

        label = "homoskedastic GM (Drukker et al. 2013)"
    fit = Estimator(y[:, None], X, W.tocsr())
    betas = np.ravel(fit.betas)
    resid = y - X @ betas[:-1]
    filtered = resid - betas[-1] * (W @ resid)
    return {
        "params": betas,
        "vcov": np.asarray(fit.vm),
        "loglik": np.nan,
        "sigma2": float(filtered @ filtered / len(y)),
        "resid": resid,
        "spatial_name": "lambda",
        "spatial": float(betas[-1]),
        "estimator": f"spreg {label}",
    }


def _check_spatial(model, method, fit, params) -> None:
    if model == "ols":
        return
    name = fit["spatial_name"]
    value = float(params[name])
    if not np.isfinite(value) or abs(value) >= BOUNDARY:
        if method == "ml":
            where = "is at the boundary of its search interval (-1, 1)"
            fix = "model='error' or method='gmm'"
        else:
            where = "is outside the stationary range (-1, 1)"
            fix = "method='ml' (which keeps it inside), or more rows (weak spatial instruments)"
        raise ModelError(
            f"the estimated {name} = {value:.4f} {where}: the {model} model has no "
            "valid solution for these data and weights. Usually a strong spatial trend or a "
            "misspecified model: add regressors that capture the trend (e.g. C(region)), "
            "try another weights spec (e.g. 'knn:8' instead of a dense distance band), or "
            f"{fix}."
        )
    if not fit.get("converged", True):
        raise ModelError(
            f"the {model} model did not converge ({fit.get('message', '')}). Try "
            "logdet='lu' (exact sparse LU, fine to n = 20,000 or more), another logdet method "
            "('mc', 'chebyshev'), or method='gmm'."
        )
    if not np.all(np.isfinite(np.diag(fit["vcov"]))) or np.any(np.diag(fit["vcov"]) < 0):
        raise ModelError(
            f"the {model} model's covariance matrix is not positive (information matrix "
            "singular); check for near-collinear regressors or try method='gmm'."
        )
