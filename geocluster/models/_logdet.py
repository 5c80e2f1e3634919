"""Log-determinants and traces of spatial weights for large-n maximum likelihood.

The spatial lag and error likelihoods need ``log det(I - rho W)`` at every trial
value of ``rho`` and, for standard errors, traces of ``W_A = W (I - rho W)^-1``.
This module holds the engines; :mod:`geocluster.models._sparse_ml` uses them.

Log-determinant methods (``logdet=``)
-------------------------------------
``"auto"`` is ``"lu"`` for n <= 20,000 (``LU_MAX_N``) and ``"mc"`` above. Monte Carlo
estimates use ``clip(2e6 / n, 10, 200)`` probe vectors (the variance of a trace
estimate falls like 1 / (n p)) and are reproducible with ``seed``.

``"lu"`` (alias ``"exact"``)
    Sparse LU of ``I - rho W`` (SuperLU, COLAMD ordering) at every trial
    ``rho``; ``log|det| = sum(log|diag(U)|)``. Exact; one factorisation per
    evaluation (about 0.03 s at n = 5,000, 0.4 s at 20,000 and 1-3 s at n = 50,000
    for ``knn:8`` on a loaded 2-core machine).
``"eigen"``
    Dense eigenvalues of W once (Ord 1975); exact but O(n^3): for n up to a few
    thousand.
``"mc"``
    Barry & Pace (1999): ``log det(I - rho W) = -n sum_k rho^k t_k / k`` with
    ``t_k = tr(W^k) / n``. ``t_1`` and ``t_2`` (and ``t_3``, ``t_4`` for
    n <= 200,000) are exact; higher ``t_k`` are Hutchinson estimates
    ``mean(v' W^k v) / n`` over Rademacher vectors ``v``. Powers are added until the
    truncated tail is below 1e-9 per observation at the estimate (at least 40).
``"chebyshev"``
    Pace & LeSage (2004): ``log(1 - rho x)`` is replaced by its Chebyshev
    interpolant of degree q on [-1, 1]; ``tr(T_j(W))`` come from the same exact
    low-order traces plus Hutchinson estimates. Accurate when the eigenvalues of W
    are real (symmetric or row-standardised symmetric weights) or close to the real
    axis; ``"mc"`` makes no such assumption.

The series methods assume the spectral radius of W is at most 1 (row-standardised
weights, ``rho`` in (-1, 1)); other weights are scaled by their spectral radius.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from geocluster._base.validate import make_rng
from geocluster.errors import ModelError, WeightsError

__all__ = [
    "LOGDET_METHODS",
    "LU_MAX_N",
    "EXACT_TRACES_MAX_N",
    "DENSE_MAX_N",
    "EIGEN_MAX_N",
    "resolve_logdet_method",
    "as_weights_matrix",
    "spectral_radius",
    "PowerTraces",
    "trace_powers",
    "mean_direct_multiplier",
    "exact_information_traces",
]

LOGDET_METHODS = ("auto", "exact", "lu", "eigen", "mc", "chebyshev")
#: ``logdet="auto"`` uses the exact sparse LU up to this n, Monte Carlo above.
LU_MAX_N = 20_000
#: Information-matrix traces for standard errors are exact (sparse-LU derivatives of
#: log-determinants, :func:`exact_information_traces`) up to this n under ``"auto"``.
EXACT_TRACES_MAX_N = 20_000
#: ``trace_powers`` / ``mean_direct_multiplier`` are exact, from dense matrices, up to
#: this n.
DENSE_MAX_N = 2_000
#: ``logdet="eigen"`` refuses larger problems (dense n x n eigenproblem).
EIGEN_MAX_N = 8_000
#: Exact t_3, t_4 (via the sparse W @ W) up to this n.
EXACT_T4_MAX_N = 200_000
#: Default number of powers of the Barry-Pace series and degree of the Chebyshev fit.
DEFAULT_POWERS = 40
DEFAULT_CHEB_DEGREE = 40
MAX_POWERS = 2_000


def default_n_vectors(n: int) -> int:
    """Hutchinson probe vectors by n: the estimator's variance falls like 1/(n p)."""
    return int(min(200, max(10, math.ceil(2_000_000 / n))))


def resolve_logdet_method(method: str, n: int) -> str:
    """Map ``"auto"``/``"exact"`` to a concrete method and validate the name."""
    if not isinstance(method, str) or method.lower() not in LOGDET_METHODS:
        raise ModelError(
            f"logdet={method!r} is not one of {LOGDET_METHODS}. 'auto' uses the exact sparse "
            f"LU for n <= {LU_MAX_N:,} and the Monte Carlo series ('mc') above."
        )
    method = method.lower()
    if method == "auto":
        return "lu" if n <= LU_MAX_N else "mc"
    if method == "exact":
        return "lu"
    if method == "eigen" and n > EIGEN_MAX_N:
        raise ModelError(
            f"logdet='eigen' needs a dense {n:,} x {n:,} eigenproblem (limit n <= "
            f"{EIGEN_MAX_N:,}); use logdet='lu' (exact, sparse) or 'mc'."
        )
    return method


def as_weights_matrix(W, n: int | None = None) -> sp.csr_matrix:
    """Validate W (scipy sparse, ndarray or libpysal Graph) -> float64 CSR with sorted indices."""
    if hasattr(W, "sparse") and not sp.issparse(W) and not isinstance(W, np.ndarray):
        W = W.sparse  # libpysal Graph / W
    if isinstance(W, np.ndarray):
        W = sp.csr_matrix(W)
    if not sp.issparse(W):
        raise WeightsError(
            f"W must be a scipy sparse matrix (or a libpysal Graph), got {type(W).__name__}."
        )
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise WeightsError(f"W must be square; its shape is {W.shape}.")
    if n is not None and W.shape[0] != n:
        raise WeightsError(
            f"W is {W.shape[0]} x {W.shape[1]} but the data have {n} rows; build the weights "
            "from the same rows, in the same order."
        )
    W = sp.csr_matrix(W, dtype=np.float64, copy=True)
    W.sum_duplicates()
    W.sort_indices()
    if not np.all(np.isfinite(W.data)):
        raise WeightsError("W contains NaN or infinite weights.")
    return W


def spectral_radius(W: sp.csr_matrix) -> float:
    """Spectral radius of W; 1 (an upper bound) for non-negative W with row sums <= 1."""
    if W.nnz == 0:
        raise WeightsError("W has no non-zero weights: every unit is an island.")
    rows = np.abs(W).sum(axis=1).A1
    if W.data.min() >= 0 and rows.max() <= 1 + 1e-10:
        return 1.0
    try:
        val = sla.eigs(W, k=1, which="LM", return_eigenvectors=False, tol=1e-8, maxiter=5000)
        radius = float(np.abs(val[0]))
    except Exception:  # ARPACK failure: the infinity norm bounds the radius
        radius = float(rows.max())
    if not radius > 0:
        raise WeightsError("W has spectral radius 0 (nilpotent weights); no spatial model.")
    return radius


def rademacher(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    return rng.integers(0, 2, size=(n, p), dtype=np.int8).astype(np.float64) * 2.0 - 1.0


def exact_low_traces(W: sp.csr_matrix, upto: int) -> np.ndarray:
    """Exact ``tr(W^k)/n`` for k = 0..upto (upto <= 4), sparse products only."""
    n = W.shape[0]
    out = [1.0]
    if upto >= 1:
        out.append(float(W.diagonal().sum()) / n)
    if upto >= 2:
        WT = W.T.tocsr()
        out.append(float(W.multiply(WT).sum()) / n)
    if upto >= 3:
        W2 = W @ W
        out.append(float(W2.multiply(WT).sum()) / n)
    if upto >= 4:
        out.append(float(W2.multiply(W2.T.tocsr()).sum()) / n)
    return np.asarray(out[: upto + 1])


class PowerTraces:
    """Lazy ``t_k = tr(W^k)/n`` for k = 0, 1, ...: exact low orders, Hutchinson above.

    The probe block ``U = W^k V`` is kept so that more powers can be added later.
    """

    def __init__(self, W: sp.csr_matrix, *, rng: np.random.Generator, n_vectors: int):
        self.W = W
        self.n = W.shape[0]
        self.n_vectors = int(n_vectors)
        upto = 4 if self.n <= EXACT_T4_MAX_N else 2
        self._exact = exact_low_traces(W, upto)
        self._V = rademacher(rng, self.n, self.n_vectors)
        self._U = self._V.copy()
        self._power = 0
        self._t = [1.0]
        self._se = [0.0]

    @property
    def m(self) -> int:
        """Highest power computed."""
        return len(self._t) - 1

    def ensure(self, m: int) -> None:
        """Compute powers up to ``m`` (capped at MAX_POWERS)."""
        m = min(int(m), MAX_POWERS)
        while self.m < m:
            self._U = self.W @ self._U
            self._power += 1
            k = self._power
            if k < len(self._exact):
                self._t.append(float(self._exact[k]))
                self._se.append(0.0)
            else:
                est = np.einsum("ij,ij->j", self._V, self._U) / self.n
                self._t.append(float(est.mean()))
                self._se.append(float(est.std(ddof=1) / math.sqrt(len(est))))

    def traces(self, m: int | None = None) -> np.ndarray:
        if m is not None:
            self.ensure(m)
        return np.asarray(self._t)

    def standard_errors(self) -> np.ndarray:
        """Monte Carlo standard errors of the t_k (0 where exact)."""
        return np.asarray(self._se)

    def powers_for(self, rho: float, tol: float = 1e-7, extra: int = 0) -> int:
        """Powers needed so that the series tail at ``rho`` is below ``tol`` (per n)."""
        r = abs(rho)
        if r == 0:
            return max(4, extra)
        if r >= 1:
            return MAX_POWERS
        # t_k <= 1 in absolute value; the (k+1) factor of the second-derivative series
        # is covered by `extra` for the caller that needs it.
        m = math.ceil(math.log(tol * (1 - r)) / math.log(r)) + extra
        return max(4, min(m, MAX_POWERS))


def trace_powers(
    W,
    max_power: int = DEFAULT_POWERS,
    *,
    method: str = "auto",
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    n_vectors: int | None = None,
) -> np.ndarray:
    """``tr(W^j) / n`` for j = 0..max_power.

    Parameters
    ----------
    W
        Square spatial weights (scipy sparse matrix or libpysal Graph).
    max_power
        Highest power j.
    method
        ``"exact"`` (dense ``W^j``, one sparse product per power), ``"mc"`` (exact
        for j <= 2, or j <= 4 when n <= 200,000, Hutchinson estimates with
        Rademacher vectors above) or ``"auto"``: exact for n <= 2,000, ``"mc"`` above.
    seed
        Seed (int or Generator) for the Monte Carlo vectors.
    n_vectors
        Number of probe vectors; default ``clip(2e6 / n, 10, 200)``.

    Returns
    -------
    numpy.ndarray
        Array of length ``max_power + 1``; element 0 is 1.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))
    >>> trace_powers(W, 4).round(6).tolist()
    [1.0, 0.0, 1.0, 0.0, 1.0]
    """
    W = as_weights_matrix(W)
    n = W.shape[0]
    max_power = int(max_power)
    if max_power < 0:
        raise ModelError(f"max_power={max_power} must be >= 0.")
    if method not in ("auto", "exact", "mc"):
        raise ModelError(f"method={method!r} must be 'auto', 'exact' or 'mc'.")
    if method == "auto":
        method = "exact" if n <= DENSE_MAX_N else "mc"
    if method == "exact":
        if n > EIGEN_MAX_N:
            raise ModelError(
                f"exact traces need dense {n:,} x {n:,} matrix powers (limit {EIGEN_MAX_N:,}); "
                "use method='mc'."
            )
        # W^j as a dense block, one sparse product per power: O(nnz * n) each
        P = np.eye(n)
        out = np.empty(max_power + 1)
        out[0] = 1.0
        for j in range(1, max_power + 1):
            P = W @ P
            out[j] = np.trace(P) / n
        return out
    rng = make_rng(seed, "trace_powers")
    p = default_n_vectors(n) if n_vectors is None else int(n_vectors)
    pt = PowerTraces(W, rng=rng, n_vectors=p)
    return pt.traces(max_power)[: max_power + 1].copy()


def mean_direct_multiplier(
    W,
    rho: float,
    *,
    method: str = "auto",
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    traces: np.ndarray | None = None,
) -> float:
    """``tr((I - rho W)^-1) / n``, the average direct-effect multiplier of a lag model.

    Parameters
    ----------
    W
        Square spatial weights (scipy sparse matrix or libpysal Graph).
    rho
        Spatial lag parameter, inside the stable range (|rho| < 1 for row-standardised W).
    method
        ``"exact"`` (dense inverse), ``"mc"`` (the series ``sum_j rho^j tr(W^j)/n`` with
        :func:`trace_powers`) or ``"auto"``: exact for n <= 2,000.
    seed
        Seed for the Monte Carlo traces.
    traces
        Precomputed ``tr(W^j)/n`` (e.g. ``SparseMLFit.traces``); used for the series
        and extended if too short.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))
    >>> round(mean_direct_multiplier(W, 0.5), 6)  # (1 - 0.25)^-1
    1.333333
    """
    W = as_weights_matrix(W)
    n = W.shape[0]
    rho = float(rho)
    if not np.isfinite(rho):
        raise ModelError(f"rho={rho} must be finite.")
    if method not in ("auto", "exact", "mc"):
        raise ModelError(f"method={method!r} must be 'auto', 'exact' or 'mc'.")
    if method == "auto":
        method = "exact" if n <= DENSE_MAX_N and traces is None else "mc"
    if method == "exact":
        A = np.eye(n) - rho * W.toarray()
        return float(np.trace(np.linalg.inv(A)) / n)
    scale = spectral_radius(W)
    if abs(rho) * scale >= 1:
        raise ModelError(
            f"rho={rho} is outside the range where the series converges "
            f"(|rho| < {1 / scale:.4g}); use method='exact'."
        )
    m = (
        math.ceil(math.log(1e-10 * (1 - abs(rho) * scale)) / math.log(abs(rho) * scale))
        if rho
        else 1
    )
    m = min(max(m, 1), MAX_POWERS)
    if traces is None or len(traces) <= m:
        traces = trace_powers(W, m, method="mc", seed=seed)
    t = np.asarray(traces, dtype=float)[: m + 1]
    return float(np.sum(rho ** np.arange(len(t)) * t))


# --------------------------------------------------------------------------------------
# log-determinant engines: callables rho -> log det(I - rho W) (the full value, not / n)
# --------------------------------------------------------------------------------------


class LULogDet:
    name = "exact-lu"

    def __init__(self, W: sp.csr_matrix):
        self.W = W.tocsc()
        self.n = W.shape[0]
        self.eye = sp.identity(self.n, format="csc")
        self.evaluations = 0

    def factor(self, rho: float):
        A = (self.eye - rho * self.W).tocsc()
        try:
            return sla.splu(A, permc_spec="COLAMD")
        except RuntimeError as exc:  # exactly singular
            raise ModelError(
                f"I - rho W is singular at rho={rho:.6g} ({exc}); the weights have an "
                "eigenvalue 1/rho. Try another weights specification."
            ) from None

    def __call__(self, rho: float) -> float:
        self.evaluations += 1
        lu = self.factor(rho)
        d = lu.U.diagonal()
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(np.abs(d))))


class EigenLogDet:
    name = "exact-eigen"

    def __init__(self, W: sp.csr_matrix):
        self.eigenvalues = np.linalg.eigvals(W.toarray())

    def __call__(self, rho: float) -> float:
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(np.abs(1.0 - rho * self.eigenvalues))))


class SeriesLogDet:
    """Barry & Pace (1999): -n sum_k (rho s)^k t_k / k, t_k of W / s."""

    name = "mc"

    def __init__(self, traces: PowerTraces, scale: float):
        self.pt = traces
        self.scale = scale
        self.n = traces.n
        self.m = DEFAULT_POWERS
        self.pt.ensure(self.m)

    def use_powers(self, m: int) -> None:
        self.pt.ensure(m)
        self.m = min(max(self.m, m), self.pt.m)

    def __call__(self, rho: float) -> float:
        t = self.pt.traces()[1 : self.m + 1]
        k = np.arange(1, len(t) + 1)
        r = rho * self.scale
        return float(-self.n * np.sum(r**k * t / k))


class ChebyshevLogDet:
    """Pace & LeSage (2004): Chebyshev interpolant of log(1 - rho x) on [-1, 1]."""

    name = "chebyshev"

    def __init__(
        self,
        W: sp.csr_matrix,
        scale: float,
        *,
        rng: np.random.Generator,
        n_vectors: int,
        degree: int = DEFAULT_CHEB_DEGREE,
    ):
        n = W.shape[0]
        self.n, self.scale, self.q = n, scale, int(degree)
        Ws = W / scale if scale != 1 else W
        upto = 4 if n <= EXACT_T4_MAX_N else 2
        t = exact_low_traces(Ws, upto)
        # exact tr(T_j(W))/n from the power traces for j <= upto
        exact = [1.0, t[1] if upto >= 1 else None]
        if upto >= 2:
            exact.append(2 * t[2] - 1)
        if upto >= 3:
            exact.append(4 * t[3] - 3 * t[1])
        if upto >= 4:
            exact.append(8 * t[4] - 8 * t[2] + 1)
        V = rademacher(rng, n, n_vectors)
        tau = np.empty(self.q + 1)
        prev, cur = V, Ws @ V
        tau[0], tau[1] = 1.0, exact[1]
        for j in range(2, self.q + 1):
            prev, cur = cur, 2 * (Ws @ cur) - prev
            if j < len(exact):
                tau[j] = exact[j]
            else:
                tau[j] = float(np.einsum("ij,ij->j", V, cur).mean() / n)
        self.tau = tau
        N = self.q + 1
        self._nodes = np.cos(np.pi * (np.arange(N) + 0.5) / N)
        self._T = np.cos(np.outer(np.arange(N), np.pi * (np.arange(N) + 0.5) / N))

    def __call__(self, rho: float) -> float:
        N = self.q + 1
        f = np.log1p(-rho * self.scale * self._nodes)
        c = (2.0 / N) * (self._T @ f)
        c[0] /= 2.0
        return float(self.n * np.dot(c, self.tau))


# --------------------------------------------------------------------------------------
# exact traces of W_A = W (I - rho W)^-1 for the information matrix
# --------------------------------------------------------------------------------------

#: Step of the 5-point stencils in rho, as a fraction of the distance from rho to the
#: nearest possible singularity of log det(I - z W) (|z| = 1 / spectral radius).
_RHO_STEP = 1e-3
#: Step u of the central difference of log det(I + u W_A'W_A), times ||W_A||_2^2.
_GRAM_STEP = 1e-5


def _logabsdet(M: sp.spmatrix, what: str) -> float:
    try:
        lu = sla.splu(M.tocsc(), permc_spec="COLAMD")
    except RuntimeError as exc:  # exactly singular
        raise ModelError(
            f"{what} is singular ({exc}); the weights have an eigenvalue 1/rho at the "
            "estimate. Try another weights specification."
        ) from None
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(np.abs(lu.U.diagonal()))))


def gram_norm_estimate(solve_c, solve_ct, n: int, iterations: int = 20) -> float:
    """``||W_A||_2^2`` (largest eigenvalue of ``W_A' W_A``) by power iteration.

    ``solve_c(v)`` returns ``W_A v`` and ``solve_ct(v)`` returns ``W_A' v``. The start
    vector is fixed, so the estimate is deterministic; a Rayleigh quotient, it is a lower
    bound that the callers only use to scale a step.
    """
    v = 1.0 + 0.5 * np.sin(np.arange(n, dtype=float))
    v /= np.linalg.norm(v)
    mu = 0.0
    for _ in range(iterations):
        w = solve_ct(solve_c(v))
        mu = float(v @ w)
        norm = float(np.linalg.norm(w))
        if not norm > 0:
            break
        v = w / norm
    return max(mu, 1e-12)


def exact_information_traces(
    W: sp.csr_matrix, rho: float, *, scale: float = 1.0
) -> tuple[float, float, float, sla.SuperLU]:
    """``tr(W_A)``, ``tr(W_A W_A)`` and ``tr(W_A' W_A)`` with ``W_A = W (I - rho W)^-1``.

    Exact (to about 1e-10 relative) without forming ``W_A``: all three are derivatives of
    sparse log-determinants, which the sparse LU gives to machine precision.

    * ``f(z) = log|det(I - z W)|`` has ``f'(rho) = -tr(W_A)`` and
      ``f''(rho) = -tr(W_A W_A)``; both come from 5-point central differences with step
      ``h = 1e-3 (1/s - |rho|)`` (``s`` the spectral radius of W, so ``1/s - |rho|`` is
      the distance to the nearest singularity and the truncation error is of order
      ``1e-12``).
    * ``g(u) = log det(I + u W_A' W_A)`` has ``g'(0) = tr(W_A' W_A)``, and
      ``det [[A', -s W'], [s W, A]] = det(A)^2 det(I + s^2 W_A' W_A)`` with
      ``A = I - rho W`` (the sign of the ``W'`` block flips the sign of ``u = s^2``),
      so ``g(u) - g(-u)`` is the difference of two sparse 2n x 2n log-determinants;
      ``u = 1e-5 / ||W_A||_2^2`` (power iteration) keeps the truncation error near 1e-10.

    Seven sparse LU factorisations in all (five of n x n, two of 2n x 2n). Checked against
    dense traces (knn:8, n = 3,000, rho = 0.5): relative errors 6e-13, 7e-11 and 1e-11.

    Returns
    -------
    tr_wa, tr_wawa, tr_wata, lu
        The three traces and the sparse LU of ``I - rho W`` (for solves with it).
    """
    n = W.shape[0]
    Wc = W.tocsc()
    eye = sp.identity(n, format="csc")
    reach = 1.0 / scale - abs(rho)
    if not reach > 0:
        raise ModelError(
            f"rho={rho:.6g} is outside the stable range |rho| < {1 / scale:.4g}; no "
            "information matrix there."
        )
    h = _RHO_STEP * reach
    A = (eye - rho * Wc).tocsc()
    try:
        lu = sla.splu(A, permc_spec="COLAMD")
    except RuntimeError as exc:
        raise ModelError(
            f"I - rho W is singular at rho={rho:.6g} ({exc}); try another weights "
            "specification."
        ) from None
    with np.errstate(divide="ignore"):
        f0 = float(np.sum(np.log(np.abs(lu.U.diagonal()))))
    f = {j: _logabsdet(eye - (rho + j * h) * Wc, "I - rho W") for j in (-2, -1, 1, 2)}
    tr_wa = -(-f[2] + 8 * f[1] - 8 * f[-1] + f[-2]) / (12 * h)
    tr_wawa = -(-f[2] + 16 * f[1] - 30 * f0 + 16 * f[-1] - f[-2]) / (12 * h * h)
    WT = Wc.T.tocsc()
    mu = gram_norm_estimate(
        lambda v: Wc @ lu.solve(v), lambda v: lu.solve(WT @ v, trans="T"), n
    )
    u = _GRAM_STEP / mu
    s = math.sqrt(u)
    AT = A.T.tocsc()
    plus = sp.bmat([[AT, -s * WT], [s * Wc, A]], format="csc")
    minus = sp.bmat([[AT, s * WT], [s * Wc, A]], format="csc")
    what = "the augmented matrix [[A', -sW'], [sW, A]]"
    tr_wata = (_logabsdet(plus, what) - _logabsdet(minus, what)) / (2 * u)
    return float(tr_wa), float(tr_wawa), float(tr_wata), lu
