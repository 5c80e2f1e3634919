"""Maximum likelihood for spatial lag (SAR) and spatial error (SEM) models at large n.

spreg's ML estimators need a dense n x n matrix for the variance step, which limits
them to a few thousand observations. This engine keeps W sparse throughout:

* the spatial parameter maximises the likelihood concentrated in it (bounded Brent
  search over (-1, 1) / spectral radius of W, the range spreg also searches), with
  ``log det(I - rho W)`` from :mod:`geocluster.models._logdet`;
* standard errors come from the analytic information matrix (Anselin 1988, ch. 6;
  LeSage & Pace 2009, sec. 3.2 and 4.1), which needs the traces ``tr(W_A)``,
  ``tr(W_A W_A)`` and ``tr(W_A' W_A)`` with ``W_A = W (I - rho W)^-1``.

Traces (``traces=``)
--------------------
``"exact"`` (the default up to n = 20,000, ``EXACT_TRACES_MAX_N``)
    Dense for n <= 1,000; above, derivatives of sparse log-determinants
    (:func:`~geocluster.models._logdet.exact_information_traces`): ``tr(W_A)`` and
    ``tr(W_A W_A)`` are minus the first and second derivatives of
    ``log det(I - rho W)``, ``tr(W_A' W_A)`` the derivative at 0 of
    ``log det(I + u W_A' W_A)``, a 2n x 2n sparse determinant. Seven sparse LU
    factorisations; accurate to about 1e-10 relative (tested against dense traces), so
    the standard errors equal R spatialreg's analytic ones (``lagsarlm`` /
    ``errorsarlm``, ``method="eigen"``) to the precision of the estimate itself: 1e-6
    relative is tested at n = 4,000 (tests/test_ml_se_reference.py).
``"mc"`` (the default above 20,000)
    Hutchinson estimates with Rademacher probes ``v`` of the remainders after exact
    low-order terms: ``tr(W^j)`` for j <= 6 and ``tr((W^i)' W^j)`` for i + j <= 6 (sparse
    products of W, n <= 200,000; ``tr(W)``, ``tr(W^2)``, ``|W|_F^2`` above), the probes'
    ``W_A v`` and ``W_A^2 v`` from the sparse LU (n <= 20,000) or the Neumann series.
    Probes are added 32 at a time until the delta-method Monte Carlo error of every
    standard error is at most ``se_tol`` (2e-5 by default, relative, one standard
    error; at most 4,096 probes); the estimate is reported per parameter in
    ``SparseMLFit.se_rel_error``.

``logdet="auto"`` picks by n: the exact sparse LU for n <= 20,000, the Barry & Pace
(1999) Monte Carlo series above. Force another with ``logdet="lu"`` (``"exact"``),
``"eigen"``, ``"mc"`` or ``"chebyshev"``.

Every random draw (log-determinant and trace probes) comes from ``seed``; the exact
routes draw nothing.

For the Monte Carlo methods the rows are first put in reverse Cuthill-McKee order (a
permutation that leaves every estimate unchanged) so that the sparse products with W
run from cache; residuals are returned in the input order.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.sparse.csgraph import reverse_cuthill_mckee

from geocluster._base.validate import make_rng
from geocluster.errors import ModelError
from geocluster.models._logdet import (
    DEFAULT_CHEB_DEGREE,
    DENSE_MAX_N,
    EXACT_TRACES_MAX_N,
    LU_MAX_N,
    MAX_POWERS,
    ChebyshevLogDet,
    EigenLogDet,
    LULogDet,
    PowerTraces,
    SeriesLogDet,
    as_weights_matrix,
    default_n_vectors,
    mean_direct_multiplier,
    resolve_logdet_method,
    spectral_radius,
    trace_powers,
)
from geocluster.models._ml_fit import SparseMLFit
from geocluster.models._ml_traces import (
    DEFAULT_MAX_SE_PROBES,
    DEFAULT_SE_TOL,
    information_terms,
    resolve_traces,
)

__all__ = [
    "SparseMLFit",
    "fit_lag",
    "fit_error",
    "trace_powers",
    "mean_direct_multiplier",
    "LU_MAX_N",
    "DENSE_MAX_N",
    "EXACT_TRACES_MAX_N",
]

_LOG2PI1 = math.log(2 * math.pi) + 1.0
#: Reorder rows (reverse Cuthill-McKee) for the series methods above this n.
_REORDER_MIN_N = 5_000


# --------------------------------------------------------------------------------------
# validation and set-up
# --------------------------------------------------------------------------------------


def _validate(y, X, W):
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ModelError(f"y must be one column; its shape is {y.shape}.")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ModelError(f"X must be n x k with n = len(y) = {y.shape[0]}; its shape is {X.shape}.")
    n, k = X.shape
    if n <= k + 1:
        raise ModelError(
            f"{n} observations are too few for {k} regressors and a spatial parameter."
        )
    for name, arr in (("y", y), ("X", X)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            raise ModelError(
                f"{name} has {rows.size} rows with NaN or infinite values (e.g. rows "
                f"{rows[:5].tolist()}); drop them and rebuild the weights for the remaining rows."
            )
    W = as_weights_matrix(W, n)
    if np.linalg.matrix_rank(X) < k:
        raise ModelError(
            f"the {k} columns of X are linearly dependent; drop a redundant regressor "
            "(e.g. a dummy for every category alongside the constant)."
        )
    return y, X, W


class _Setup:
    """Weights, ordering and log-determinant engine shared by both models."""

    def __init__(
        self, y, X, W, *, logdet, seed, n_vectors, degree, traces, se_tol, se_probes,
        max_se_probes,
    ):
        self.n = n = y.shape[0]
        self.method = resolve_logdet_method(logdet, n)
        self.traces = resolve_traces(traces, n)
        if not (isinstance(se_tol, int | float) and se_tol > 0):
            raise ModelError(f"se_tol={se_tol!r} must be a positive number (e.g. 1e-5).")
        for name, value in (("se_probes", se_probes), ("max_se_probes", max_se_probes)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2
            ):
                raise ModelError(f"{name}={value!r} must be an integer of at least 2.")
        self.se_tol = float(se_tol)
        self.se_probes = None if se_probes is None else int(se_probes)
        self.max_se_probes = int(max_se_probes)
        self.rng = make_rng(seed, "regress")
        self.scale = spectral_radius(W)
        self.perm = None
        series = self.method in ("mc", "chebyshev")
        if series and n > _REORDER_MIN_N:
            perm = reverse_cuthill_mckee(W, symmetric_mode=False)
            W = W[perm][:, perm].tocsr()
            W.sort_indices()
            y, X = y[perm], X[perm]
            self.perm = perm
        self.W, self.y, self.X = W, y, X
        self.p = default_n_vectors(n) if n_vectors is None else int(n_vectors)
        if self.p < 2 and series:
            raise ModelError(f"n_vectors={n_vectors} must be at least 2.")
        self.powers: PowerTraces | None = None
        if self.method == "lu":
            self.logdet = LULogDet(W)
        elif self.method == "eigen":
            self.logdet = EigenLogDet(W)
        elif self.method == "mc":
            self.logdet = SeriesLogDet(self._power_traces(), self.scale)
        else:
            self.logdet = ChebyshevLogDet(
                W, self.scale, rng=self.rng, n_vectors=self.p, degree=degree
            )
        lim = 1.0 / self.scale
        eps = 1e-6 * lim
        self.bounds = (-lim + eps, lim - eps)

    def _power_traces(self) -> PowerTraces:
        if self.powers is None:
            Ws = self.W if self.scale == 1 else self.W / self.scale
            self.powers = PowerTraces(Ws, rng=self.rng, n_vectors=self.p)
        return self.powers

    def unpermute(self, v: np.ndarray) -> np.ndarray:
        if self.perm is None:
            return v
        out = np.empty_like(v)
        out[self.perm] = v
        return out


def _maximise(setup: _Setup, negll, tol: float, label: str):
    """Bounded Brent search; for the MC series, add powers until the tail is negligible."""
    lo, hi = setup.bounds
    res = minimize_scalar(
        negll, bounds=(lo, hi), method="bounded", options={"xatol": tol, "maxiter": 500}
    )
    iterations = int(res.nfev)
    if isinstance(setup.logdet, SeriesLogDet):
        assert setup.powers is not None  # the series log-determinant has its traces
        for _ in range(10):
            need = _series_powers(setup.powers, res.x * setup.scale, 1e-9)
            if need <= setup.logdet.m or setup.logdet.m >= MAX_POWERS:
                break
            setup.logdet.use_powers(need)
            res = minimize_scalar(
                negll, bounds=(lo, hi), method="bounded", options={"xatol": tol, "maxiter": 500}
            )
            iterations += int(res.nfev)
    rho = float(res.x)
    width = hi - lo
    if min(rho - lo, hi - rho) < 1e-4 * width:
        side = "upper" if hi - rho < rho - lo else "lower"
        raise ModelError(
            f"the ML estimate of {label} is at the {side} bound of its range "
            f"({lo:.4g}, {hi:.4g}): {label}={rho:.6f}, so the likelihood has no interior "
            "maximum. Check the model and data, or try another weights specification "
            "(e.g. more neighbours, 'knn:8' instead of a distance band)."
        )
    if not res.success:
        raise ModelError(
            f"the search for {label} did not converge ({res.message}); try logdet='lu' "
            "or another weights specification."
        )
    return rho, iterations, bool(res.success), str(res.message)


def _series_powers(pt: PowerTraces, r: float, tol: float, weight_power: int = 0) -> int:
    """Smallest m with (m+1)^w |r|^m / (1 - |r|)^(1+w) below tol (t_k bounded by 1)."""
    r = abs(r)
    if r == 0:
        return 4
    m = 4
    while m < MAX_POWERS and (m + 1) ** weight_power * r**m / (1 - r) ** (1 + weight_power) > tol:
        m += 1
    return m


def _invert(info: np.ndarray, label: str) -> np.ndarray:
    try:
        vc = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        raise ModelError(
            f"the information matrix of the {label} model is singular; the regressors or "
            "the weights do not identify the parameters."
        ) from None
    if not np.all(np.isfinite(vc)) or np.any(np.diag(vc) <= 0):
        raise ModelError(
            f"the information matrix of the {label} model is not positive definite at the "
            "estimate; try logdet='lu' or another weights specification."
        )
    return vc


# --------------------------------------------------------------------------------------
# public fits
# --------------------------------------------------------------------------------------


def fit_lag(
    y: np.ndarray,
    X: np.ndarray,
    W: sp.spmatrix,
    *,
    logdet: str = "auto",
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    tol: float = 1e-8,
    n_vectors: int | None = None,
    degree: int = DEFAULT_CHEB_DEGREE,
    se: bool = True,
    traces: str = "auto",
    se_tol: float = DEFAULT_SE_TOL,
    se_probes: int | None = None,
    max_se_probes: int = DEFAULT_MAX_SE_PROBES,
) -> SparseMLFit:
    """Maximum-likelihood spatial lag model ``y = rho W y + X beta + e``.

    Parameters
    ----------
    y
        Response, shape (n,).
    X
        Regressors, shape (n, k), including the constant column if wanted.
    W
        Spatial weights, n x n scipy sparse matrix in the row order of y and X
        (row-standardised weights give the search range (-1, 1)).
    logdet
        ``"auto"`` (exact sparse LU for n <= 20,000, Monte Carlo series above),
        ``"exact"``/``"lu"``, ``"eigen"``, ``"mc"`` or ``"chebyshev"``; see
        :mod:`geocluster.models._logdet`.
    seed
        Seed (int or Generator) of every random draw: the probe vectors of the Monte
        Carlo log-determinant (``logdet="mc"``/``"chebyshev"``, the default above
        n = 20,000) and of the Monte Carlo information-matrix traces (``traces="mc"``,
        the default above n = 20,000). Exact routes draw nothing.
    tol
        Absolute tolerance of rho in the bounded search.
    n_vectors
        Hutchinson probe vectors; default ``clip(2e6 / n, 10, 200)``.
    degree
        Chebyshev degree for ``logdet="chebyshev"``.
    se
        Compute the covariance matrix (set False to skip the trace step).
    traces
        Information-matrix traces: ``"auto"`` (exact for n <= 20,000, Monte Carlo
        above), ``"exact"`` (sparse-LU derivatives of log-determinants, see
        :func:`~geocluster.models._logdet.exact_information_traces`; seven sparse
        factorisations) or ``"mc"`` (Hutchinson with control variates).
    se_tol
        Monte Carlo traces: add probe vectors (batches of 32) until the estimated
        relative error of every standard error is at most this.
    se_probes
        Monte Carlo traces: use exactly this many probe vectors instead.
    max_se_probes
        Monte Carlo traces: the most probe vectors used under ``se_tol``; stopping
        there short of ``se_tol`` is reported by a ``GeoclusterWarning`` with the
        error reached.

    Returns
    -------
    SparseMLFit

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> rng = np.random.default_rng(1)
    >>> n = 400
    >>> W = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")
    >>> W = sp.csr_matrix(W.multiply(1 / W.sum(axis=1)))  # a row-standardised chain
    >>> X = np.column_stack([np.ones(n), rng.normal(size=n)])
    >>> y = sp.linalg.spsolve((sp.identity(n) - 0.5 * W).tocsc(), X @ [1.0, 2.0] + rng.normal(size=n))
    >>> fit = fit_lag(y, X, W)
    >>> fit.param_name, fit.logdet_method, round(fit.rho, 1), fit.beta.round(0).tolist()
    ('rho', 'exact-lu', 0.5, [1.0, 2.0])
    """
    t0 = time.perf_counter()
    y, X, W = _validate(y, X, W)
    setup = _Setup(
        y, X, W, logdet=logdet, seed=seed, n_vectors=n_vectors, degree=degree, traces=traces,
        se_tol=se_tol, se_probes=se_probes, max_se_probes=max_se_probes,
    )
    y, X, W, n = setup.y, setup.X, setup.W, setup.n
    Wy = W @ y
    coef, *_ = np.linalg.lstsq(X, np.column_stack([y, Wy]), rcond=None)
    E = np.column_stack([y, Wy]) - X @ coef
    e0, eL = E[:, 0], E[:, 1]
    a, b_, c = float(e0 @ e0), float(e0 @ eL), float(eL @ eL)

    def sse(rho: float) -> float:
        return max(a - 2 * rho * b_ + rho * rho * c, 1e-300)

    def negll(rho: float) -> float:
        return 0.5 * n * math.log(sse(rho) / n) - setup.logdet(rho)

    rho, iterations, converged, message = _maximise(setup, negll, tol, "rho")
    beta = coef[:, 0] - rho * coef[:, 1]
    resid = e0 - rho * eL
    sigma2 = float(resid @ resid) / n
    loglik = -0.5 * n * (_LOG2PI1 + math.log(sigma2)) + setup.logdet(rho)
    k = X.shape[1]
    XtX = X.T @ X

    def info_of(tr1, tr2, tr3, wab):
        info = np.zeros((k + 2, k + 2))
        info[:k, :k] = XtX / sigma2
        info[:k, k] = info[k, :k] = X.T @ wab / sigma2
        info[k, k] = tr2 + tr3 + float(wab @ wab) / sigma2
        info[k, k + 1] = info[k + 1, k] = tr1 / sigma2
        info[k + 1, k + 1] = n / (2 * sigma2**2)
        return info

    if se:
        tr = information_terms(setup, rho, X @ beta, info_of)
        vcov_full = _invert(info_of(tr.tr1, tr.tr2, tr.tr3, tr.wab), "lag")
    else:
        tr = None
        vcov_full = np.full((k + 2, k + 2), np.nan)
    return _result(
        "lag",
        "rho",
        setup,
        beta,
        rho,
        sigma2,
        loglik,
        vcov_full,
        tr,
        converged,
        iterations,
        message,
        resid,
        t0,
    )


def fit_error(
    y: np.ndarray,
    X: np.ndarray,
    W: sp.spmatrix,
    *,
    logdet: str = "auto",
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    tol: float = 1e-8,
    n_vectors: int | None = None,
    degree: int = DEFAULT_CHEB_DEGREE,
    se: bool = True,
    traces: str = "auto",
    se_tol: float = DEFAULT_SE_TOL,
    se_probes: int | None = None,
    max_se_probes: int = DEFAULT_MAX_SE_PROBES,
) -> SparseMLFit:
    """Maximum-likelihood spatial error model ``y = X beta + u``, ``u = lambda W u + e``.

    The likelihood is concentrated in lambda: for each trial lambda the betas are the
    GLS (spatially filtered OLS) estimates, computed from a QR factor of
    ``[X, WX, y, Wy]`` so each evaluation costs O(k^3) after one pass over the data.
    Parameters as in :func:`fit_lag`; the result's ``rho`` is lambda
    (``param_name="lambda"``).

    Returns
    -------
    SparseMLFit

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> rng = np.random.default_rng(2)
    >>> n = 400
    >>> W = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")
    >>> W = sp.csr_matrix(W.multiply(1 / W.sum(axis=1)))
    >>> X = np.column_stack([np.ones(n), rng.normal(size=n)])
    >>> u = sp.linalg.spsolve((sp.identity(n) - 0.6 * W).tocsc(), rng.normal(size=n))
    >>> fit = fit_error(X @ [1.0, 2.0] + u, X, W)
    >>> fit.param_name, round(fit.rho, 1), fit.beta.round(0).tolist()
    ('lambda', 0.6, [1.0, 2.0])
    """
    t0 = time.perf_counter()
    y, X, W = _validate(y, X, W)
    setup = _Setup(
        y, X, W, logdet=logdet, seed=seed, n_vectors=n_vectors, degree=degree, traces=traces,
        se_tol=se_tol, se_probes=se_probes, max_se_probes=max_se_probes,
    )
    y, X, W, n = setup.y, setup.X, setup.W, setup.n
    k = X.shape[1]
    WX = W @ X
    Wy = W @ y
    # column scaling keeps R well conditioned; scale back at the end
    Z = np.column_stack([X, WX, y, Wy])
    colscale = np.sqrt(np.einsum("ij,ij->j", Z, Z))
    colscale[colscale == 0] = 1.0
    sx = colscale[:k]
    R = np.linalg.qr(Z / colscale, mode="r")
    Rs = R * colscale  # R of the unscaled Z (Q Rs = Z)
    RX, RWX, Ry, RWy = Rs[:, :k], Rs[:, k : 2 * k], Rs[:, 2 * k], Rs[:, 2 * k + 1]

    def gls(lam: float):
        A = (RX - lam * RWX) / sx
        rhs = Ry - lam * RWy
        g, *_ = np.linalg.lstsq(A, rhs, rcond=None)
        res = rhs - A @ g
        return g / sx, float(res @ res)

    def negll(lam: float) -> float:
        return 0.5 * n * math.log(max(gls(lam)[1], 1e-300) / n) - setup.logdet(lam)

    lam, iterations, converged, message = _maximise(setup, negll, tol, "lambda")
    ys = y - lam * Wy
    Xs = X - lam * WX
    beta, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
    resid = ys - Xs @ beta
    sigma2 = float(resid @ resid) / n
    loglik = -0.5 * n * (_LOG2PI1 + math.log(sigma2)) + setup.logdet(lam)
    XsXs = Xs.T @ Xs

    def info_of(tr1, tr2, tr3, wab):
        info = np.zeros((k + 2, k + 2))
        info[:k, :k] = XsXs / sigma2
        info[k, k] = tr2 + tr3
        info[k, k + 1] = info[k + 1, k] = tr1 / sigma2
        info[k + 1, k + 1] = n / (2 * sigma2**2)
        return info

    if se:
        tr = information_terms(setup, lam, None, info_of)
        vcov_full = _invert(info_of(tr.tr1, tr.tr2, tr.tr3, None), "error")
    else:
        tr = None
        vcov_full = np.full((k + 2, k + 2), np.nan)
    return _result(
        "error",
        "lambda",
        setup,
        beta,
        lam,
        sigma2,
        loglik,
        vcov_full,
        tr,
        converged,
        iterations,
        message,
        resid,
        t0,
    )


def _result(
    model,
    pname,
    setup,
    beta,
    rho,
    sigma2,
    loglik,
    vcov_full,
    tr,
    converged,
    iterations,
    message,
    resid,
    t0,
) -> SparseMLFit:
    k = beta.shape[0]
    powers = setup.powers
    trace_method = tr.method if tr is not None else "none"
    uses_mc = setup.method in ("mc", "chebyshev")
    if tr is None:
        rel = np.full(k + 1, np.nan)
    elif tr.rel_error is None:
        rel = np.zeros(k + 1)
    else:
        rel = np.asarray(tr.rel_error, dtype=float)
    return SparseMLFit(
        model=model,
        beta=np.asarray(beta, dtype=float),
        rho=float(rho),
        param_name=pname,
        sigma2=float(sigma2),
        loglik=float(loglik),
        vcov=vcov_full[: k + 1, : k + 1].copy(),
        vcov_full=vcov_full,
        logdet_method=setup.logdet.name,
        trace_method=trace_method,
        converged=converged,
        iterations=iterations,
        message=message,
        n=setup.n,
        seconds=time.perf_counter() - t0,
        bounds=(float(setup.bounds[0]), float(setup.bounds[1])),
        n_vectors=setup.p if uses_mc else 0,
        n_powers=powers.m if powers is not None else 0,
        se_probes=tr.probes if tr is not None else 0,
        se_rel_error=rel,
        information_traces=(tr.tr1, tr.tr2, tr.tr3) if tr is not None else None,
        traces=powers.traces().copy() if powers is not None and setup.scale == 1 else None,
        resid=setup.unpermute(resid),
    )
