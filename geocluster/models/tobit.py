"""``gc.spatial_tobit``: the Bayesian SAR / SEM tobit (LeSage & Pace 2009, ch. 10.3).

``y = max(z, 0)`` with the latent ``z = rho W z + X b + e`` (``spatial="lag"``), ``z = X b +
u, u = lambda W u + e`` (``"error"``) or ``z = X b + e`` (None), ``e ~ N(0, sigma2 I)``:
censored at zero from below, as a share of sales abroad that is zero for non-exporters.
Fitted by Gibbs sampling (:mod:`geocluster.models._mcmc`: the censored ``z`` are drawn from
truncated normals, the observed ones are the data), or, for ``spatial=None,
method="ml"``, by maximum likelihood (the non-spatial baseline; statsmodels has no tobit),
equal to R ``AER::tobit`` (``tests/test_tobit.py``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from formulaic.utils.context import capture_context
from libpysal.graph import Graph
from scipy import optimize, special
from statsmodels.tools.numdiff import approx_hess3

from geocluster.errors import InputError, ModelError
from geocluster.models.bayes_result import LimitedDependentResult
from geocluster.models.limited import (
    check_options,
    design_and_weights,
    fit_limited,
    sampler_options,
)

__all__ = ["spatial_tobit", "tobit_loglik"]

_WHERE = "spatial_tobit"


def spatial_tobit(
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
    """Fit a (spatial) tobit model of an outcome censored at zero from below.

    Parameters
    ----------
    formula
        ``"outcome ~ regressors"``; the outcome is >= 0, with zeros (the censored rows)
        and positive values.
    data, spatial, weights, method, draws, burn_in, thin, chains, missing, isolates, crs, \
seed, progress
        As in :func:`geocluster.models.probit.spatial_probit`; ``method="ml"`` is the
        non-spatial maximum likelihood tobit.

    Returns
    -------
    LimitedDependentResult
        Coefficients, ``rho``/``lambda`` and ``sigma2`` (posterior means for MCMC).

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(300, seed=1)
    >>> firms["abroad"] = firms["intl"].clip(lower=firms["intl"].median())
    >>> firms["abroad"] -= firms["abroad"].min()
    >>> from geocluster.models.tobit import spatial_tobit
    >>> res = spatial_tobit("abroad ~ cluster + age", firms, draws=200, burn_in=100,
    ...                     seed=1, progress=False)
    >>> res.params.index.tolist()
    ['Intercept', 'cluster', 'age', 'rho', 'sigma2']
    """
    check_options(data, spatial=spatial, method=method, weights=weights, missing=missing,
                  isolates=isolates, crs=crs, where=_WHERE)
    draws, burn_in, thin, chains = sampler_options(draws, burn_in, thin, chains, _WHERE)
    design, W = design_and_weights(formula, data, spatial=spatial, weights=weights,
                                   missing=missing, isolates=isolates, crs=crs,
                                   context=capture_context(1))
    y = np.asarray(design.y, dtype=float)
    if (y < 0).any():
        raise InputError(
            f"spatial_tobit: the outcome {design.y_name!r} has {int((y < 0).sum())} negative "
            f"values (e.g. {y[y < 0][0]:g}); the tobit is censored at 0 from below: shift "
            "or clip the outcome so that the censored rows are 0.")
    if not (y == 0).any() or (y > 0).sum() <= design.X.shape[1]:
        raise InputError(
            f"spatial_tobit: the outcome {design.y_name!r} needs censored rows (== 0) and "
            f"more positive rows than coefficients; it has {int((y == 0).sum())} zeros and "
            f"{int((y > 0).sum())} positive values. Without zeros use gc.regress.")
    if method == "ml":
        return _tobit_ml(design, data, y)
    return fit_limited("tobit", design, W, data=data, spatial=spatial, draws=draws,
                       burn_in=burn_in, thin=thin, chains=chains, seed=seed,
                       progress=progress, extra={"weights_spec": weights
                                                 if isinstance(weights, str) else None})


def tobit_loglik(theta: np.ndarray, y: np.ndarray, X: np.ndarray) -> float:
    """Log-likelihood of the tobit censored at 0 at ``theta = (beta, log sigma)``.

    Examples
    --------
    One censored row (``log Phi(0) = log 1/2``) and one at ``y = 1`` (``log phi(1)``):

    >>> import numpy as np
    >>> from scipy import stats
    >>> ll = tobit_loglik(np.array([0.0, 0.0]), np.array([0.0, 1.0]), np.ones((2, 1)))
    >>> bool(np.isclose(ll, np.log(0.5) + stats.norm.logpdf(1.0)))
    True
    """
    beta, log_sigma = theta[:-1], theta[-1]
    sigma = np.exp(log_sigma)
    xb = X @ beta
    pos = y > 0
    ll_pos = -0.5 * np.log(2 * np.pi) - log_sigma - 0.5 * ((y[pos] - xb[pos]) / sigma) ** 2
    return float(ll_pos.sum() + special.log_ndtr(-xb[~pos] / sigma).sum())


def _tobit_ml(design, data, y) -> LimitedDependentResult:
    X = design.X.to_numpy(dtype=float)
    start = np.r_[np.linalg.lstsq(X, y, rcond=None)[0], np.log(np.std(y) + 1e-12)]
    fit = optimize.minimize(lambda t: -tobit_loglik(t, y, X), start, method="BFGS",
                            options={"gtol": 1e-8, "maxiter": 2000})
    if not fit.success and not np.isfinite(fit.fun):
        raise ModelError(f"spatial_tobit: maximum likelihood failed ({fit.message}).")
    beta, sigma2 = fit.x[:-1], float(np.exp(2 * fit.x[-1]))
    theta = np.r_[beta, sigma2]  # report sigma2, as the Bayesian fit

    def nll(t):
        return -tobit_loglik(np.r_[t[:-1], 0.5 * np.log(t[-1])], y, X)

    vcov = np.linalg.inv(approx_hess3(theta, nll))
    return LimitedDependentResult(
        kind="tobit", spatial=None, names=[*design.X.columns, "sigma2"], params=theta,
        vcov=vcov, draws=None, design=design, data=pd.DataFrame(data.loc[design.index]),
        W=None, y=y,
        extra={"estimator": "maximum likelihood (BFGS, numerical Hessian)",
               "loglik": -float(fit.fun)},
    )
