"""Diagnostics of spatial dependence for the regression models.

:func:`ols_diagnostics`: Moran's I of the OLS residuals (normal approximation) and the
Lagrange multiplier tests (Anselin 1988; Anselin, Bera, Florax & Yoon 1996) with a
sparse W, at any n; :func:`spatial_diagnostics` adds the likelihood-ratio test of the
spatial parameter of an ML spatial model against the OLS fit of the same design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from geocluster._base.summary import P_VALUE

__all__ = ["ols_diagnostics", "ols_loglik", "spatial_diagnostics"]


def ols_loglik(resid: np.ndarray) -> float:
    """Gaussian log-likelihood of OLS residuals at ``sigma2 = e'e / n``.

    Examples
    --------
    >>> round(ols_loglik(np.array([1.0, -1.0])), 4)
    -2.8379
    """
    n = len(resid)
    return float(-n / 2 * (np.log(2 * np.pi) + np.log(resid @ resid / n) + 1))


def ols_diagnostics(y: np.ndarray, X: np.ndarray, W: sp.csr_matrix) -> pd.DataFrame:
    """Moran's I of OLS residuals and the LM tests, with sparse W (any n).

    Written out (instead of spreg's ``LMtests``/``MoranRes``, which need a libpysal ``W``
    object) so the large-n route needs no W conversion; checked against R's ``lm.LMtests``
    and spreg's ``MoranRes`` in the tests.
    """
    n, k = X.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    b = XtX_inv @ (X.T @ y)
    e = y - X @ b
    ee = float(e @ e)
    s2 = ee / n
    We = W @ e
    Wy = W @ y
    WX = W @ X
    WtX = W.T @ X
    S0 = float(W.sum())
    tr_ww = float(W.multiply(W).sum())  # tr(W W')
    tr_w2 = float(W.multiply(W.T).sum())  # tr(W W)
    T = tr_ww + tr_w2
    # LM tests
    WXb = WX @ b
    MWXb = WXb - X @ (XtX_inv @ (X.T @ WXb))
    D = float(WXb @ MWXb) / s2 + T
    d_err = float(e @ We) / s2
    d_lag = float(e @ Wy) / s2
    lm_err = d_err**2 / T
    lm_lag = d_lag**2 / D
    rlm_lag = (d_lag - d_err) ** 2 / (D - T)
    rlm_err = (d_err - T / D * d_lag) ** 2 / (T * (1 - T / D))
    sarma = (d_lag - d_err) ** 2 / (D - T) + lm_err
    # Moran's I of residuals, normal approximation (Cliff & Ord 1981)
    I_val = n / S0 * float(e @ We) / ee
    B = X.T @ WX  # X'WX
    AB = XtX_inv @ B
    tr_MW = float(W.diagonal().sum()) - float(np.trace(AB))
    tr_MWMWt = (
        tr_ww
        - float(np.trace(XtX_inv @ (WtX.T @ WtX)))
        - float(np.trace(XtX_inv @ (WX.T @ WX)))
        + float(np.trace(AB @ XtX_inv @ B.T))
    )
    WWX = W @ WX
    tr_MW2 = tr_w2 - 2 * float(np.trace(XtX_inv @ (X.T @ WWX))) + float(np.trace(AB @ AB))
    E_I = n / S0 * tr_MW / (n - k)
    V_I = (n / S0) ** 2 * (tr_MWMWt + tr_MW2 + tr_MW**2) / ((n - k) * (n - k + 2)) - E_I**2
    z_I = (I_val - E_I) / np.sqrt(V_I)
    rows = {
        "moran_i": [I_val, z_I, np.nan, 2 * stats.norm.sf(abs(z_I))],
        "lm_lag": [lm_lag, np.nan, 1.0, stats.chi2.sf(lm_lag, 1)],
        "lm_error": [lm_err, np.nan, 1.0, stats.chi2.sf(lm_err, 1)],
        "rlm_lag": [rlm_lag, np.nan, 1.0, stats.chi2.sf(rlm_lag, 1)],
        "rlm_error": [rlm_err, np.nan, 1.0, stats.chi2.sf(rlm_err, 1)],
        "sarma": [sarma, np.nan, 2.0, stats.chi2.sf(sarma, 2)],
    }
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["statistic", "z", "df", P_VALUE]
    )
    table.index.name = "test"
    return table


def spatial_diagnostics(
    y: np.ndarray, X: np.ndarray, W: sp.csr_matrix, *, model: str, method: str, loglik: float
) -> pd.DataFrame:
    """:func:`ols_diagnostics` plus, for ML spatial models, the LR test of rho/lambda."""
    table = ols_diagnostics(y, X, W)
    ols_ll = ols_loglik(y - X @ (np.linalg.inv(X.T @ X) @ (X.T @ y)))
    if method == "ml" and model != "ols" and np.isfinite(loglik):
        lr = 2 * (loglik - ols_ll)
        name = "lambda" if model == "error" else "rho"
        table.loc[f"lr_{name}"] = [lr, np.nan, 1.0, stats.chi2.sf(max(lr, 0.0), 1)]
    return table
