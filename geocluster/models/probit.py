"""``gc.spatial_probit``: the Bayesian SAR / SEM probit (LeSage & Pace 2009, ch. 10).

``y = 1[z > 0]`` with the latent ``z = rho W z + X b + e`` (``spatial="lag"``), ``z = X b +
u, u = lambda W u + e`` (``"error"``) or ``z = X b + e`` (None), ``e ~ N(0, I)``. Fitted by
the Gibbs sampler of R spatialprobit (:mod:`geocluster.models._mcmc`), or, for
``spatial=None, method="ml"``, by statsmodels' ``Probit`` (the non-spatial baseline, with
the expected-information standard errors of R's ``glm``, checked against it).

A separate function rather than ``gc.regress(model="probit")``: ``regress``'s ``model=``
already names the spatial structure (lag, error, Durbin) of a linear model, and a Bayesian
fit has its own options (``draws``, ``burn_in``, ``thin``, ``chains``, ``progress``) and a
result with posterior draws and diagnostics.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from formulaic.utils.context import capture_context
from libpysal.graph import Graph
from scipy import stats

from geocluster.errors import InputError
from geocluster.models.bayes_result import LimitedDependentResult
from geocluster.models.limited import (
    check_options,
    design_and_weights,
    fit_limited,
    sampler_options,
)

__all__ = ["spatial_probit"]

_WHERE = "spatial_probit"


def spatial_probit(
    formula: str,
    data: pd.DataFrame,
    *,
    spatial: Literal["lag", "error"] | None = "lag",
    weights: str | Graph | None = "knn:8",
    method: Literal["mcmc", "ml"] = "mcmc",
    draws: int = 2000,
    burn_in: int = 500,
    thin: int = 1,
    chains: int = 2,
    missing: Literal["raise", "drop"] = "raise",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    crs: str | int | None = None,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    progress: bool = True,
) -> LimitedDependentResult:
    """Fit a (spatial) probit model of a binary outcome.

    Parameters
    ----------
    formula
        ``"outcome ~ regressors"`` (formulaic, as :func:`geocluster.regress`); the outcome
        holds 0/1 (or booleans).
    data
        A GeoDataFrame (weights from its geometry) or a DataFrame with a Graph in
        ``weights``. Not modified.
    spatial
        ``"lag"`` (SAR probit), ``"error"`` (SEM probit) or None (no spatial dependence).
    weights
        A weights spec (``"knn:8"``, ...) or a Graph; row-standardised, on the rows used.
        Ignored when ``spatial`` is None (may be None then).
    method
        ``"mcmc"`` (Gibbs sampling) or ``"ml"`` (statsmodels ``Probit``; ``spatial=None``
        only).
    draws, burn_in, thin, chains
        Kept draws per chain, iterations discarded first, keep every ``thin``-th
        iteration, number of chains (independent seeds; R-hat needs 2 or more).
    missing, isolates, crs
        As in :func:`geocluster.regress`.
    seed
        Seeds the log-determinant set-up and the chains (one child seed each).
    progress
        Show a tqdm progress bar over all iterations of all chains.

    Returns
    -------
    LimitedDependentResult
        Posterior means, sds, credible intervals (results protocol; see
        :mod:`geocluster.models.bayes_result` for what ``statistic`` and ``p_value``
        mean), ``impacts()``, ``diagnostics()``, effects by group.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(300, seed=1)
    >>> firms["exports"] = (firms["intl"] > firms["intl"].median()).astype(int)
    >>> from geocluster.models.probit import spatial_probit
    >>> res = spatial_probit("exports ~ cluster + age", firms, draws=200, burn_in=100,
    ...                      seed=1, progress=False)
    >>> res.params.index.tolist()
    ['Intercept', 'cluster', 'age', 'rho']
    >>> res.diagnostics().columns.tolist()
    ['ess', 'rhat']
    """
    check_options(data, spatial=spatial, method=method, weights=weights, missing=missing,
                  isolates=isolates, crs=crs, where=_WHERE)
    draws, burn_in, thin, chains = sampler_options(draws, burn_in, thin, chains, _WHERE)
    design, W = design_and_weights(formula, data, spatial=spatial, weights=weights,
                                   missing=missing, isolates=isolates, crs=crs,
                                   context=capture_context(1))
    y = np.asarray(design.y, dtype=float)
    if not np.isin(y, (0.0, 1.0)).all() or len(np.unique(y)) < 2:
        bad = np.unique(y[~np.isin(y, (0.0, 1.0))])[:5].tolist()
        raise InputError(
            f"spatial_probit: the outcome {design.y_name!r} must hold 0 and 1 (both"
            + (f"; found {bad}" if bad else f"; all rows are {y[0]:g}")
            + "). Code it as (column > threshold).astype(int) first.")
    if method == "ml":
        return _probit_ml(design, data)
    return fit_limited("probit", design, W, data=data, spatial=spatial, draws=draws,
                       burn_in=burn_in, thin=thin, chains=chains, seed=seed,
                       progress=progress, extra={"weights_spec": weights
                                                 if isinstance(weights, str) else None})


def _probit_ml(design, data) -> LimitedDependentResult:
    X = design.X.to_numpy(dtype=float)
    fit = sm.Probit(design.y, X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    # the expected (Fisher) information, as R's glm: sum phi^2 / (Phi (1 - Phi)) x x'
    eta = X @ np.asarray(fit.params)
    w = stats.norm.pdf(eta) ** 2 / (stats.norm.cdf(eta) * stats.norm.sf(eta))
    vcov = np.linalg.inv(X.T @ (w[:, None] * X))
    return LimitedDependentResult(
        kind="probit", spatial=None, names=list(design.X.columns), params=fit.params,
        vcov=vcov, draws=None, design=design,
        data=pd.DataFrame(data.loc[design.index]), W=None,
        y=np.asarray(design.y, dtype=float),
        extra={"estimator": "maximum likelihood (statsmodels Probit; expected-information "
                            "standard errors, as R glm)",
               "loglik": float(fit.llf)},
    )
