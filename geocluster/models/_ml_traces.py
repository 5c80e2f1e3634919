"""The information-matrix traces of the large-n ML estimator (standard errors).

The asymptotic variance of the spatial ML estimates needs ``tr W_A``, ``tr W_A W_A``
and ``tr W_A' W_A`` with ``W_A = W (I - rho W)^-1`` (and ``W_A b``):
:func:`information_terms` gives them exactly (dense below 1,000 rows, derivatives of
sparse log-determinants up to ``EXACT_TRACES_MAX_N``) or by Hutchinson's estimator with
exact control variates, adding probe vectors until the Monte Carlo error of every
standard error is below a target. ``setup`` is the estimator's set-up object
(:mod:`geocluster.models._sparse_ml`): ``W``, ``n``, ``traces``, ``scale``, ``logdet``,
``rng``, ``se_tol``, ``se_probes``, ``max_se_probes``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from geocluster._base.linalg import neumann_solve
from geocluster.errors import GeoclusterWarning, ModelError
from geocluster.models._logdet import (
    EXACT_T4_MAX_N,
    EXACT_TRACES_MAX_N,
    LULogDet,
    exact_information_traces,
    rademacher,
)

__all__ = ["InformationTraces", "information_terms", "resolve_traces", "exact_series_terms",
           "DEFAULT_SE_TOL", "DEFAULT_MAX_SE_PROBES", "DENSE_TRACES_MAX_N"]



#: Information-matrix traces from dense matrices up to this n (exact to rounding).
DENSE_TRACES_MAX_N = 1_000
#: Default target of the Monte Carlo traces: the relative Monte Carlo error (one standard
#: error) of every reported standard error.
DEFAULT_SE_TOL = 2e-5
#: Probe vectors per batch of the Monte Carlo traces, and the most used by default.
_SE_BATCH = 32
DEFAULT_MAX_SE_PROBES = 4096


@dataclass
class InformationTraces:
    """The three information-matrix traces at rho and how they were obtained."""

    tr1: float
    tr2: float
    tr3: float
    wab: np.ndarray | None
    method: str
    probes: int = 0
    cov: np.ndarray | None = None  # Monte Carlo covariance of (tr1, tr2, tr3)
    rel_error: np.ndarray | None = None  # of each standard error, relative


def resolve_traces(traces: str, n: int) -> str:
    if not isinstance(traces, str) or traces not in ("auto", "exact", "mc"):
        raise ModelError(
            f"traces={traces!r} must be 'auto' (exact up to n = {EXACT_TRACES_MAX_N:,}, "
            "Monte Carlo above), 'exact' or 'mc'."
        )
    if traces == "auto":
        return "exact" if n <= EXACT_TRACES_MAX_N else "mc"
    return traces


def information_terms(setup, rho: float, b: np.ndarray | None, info_of) -> InformationTraces:
    """The traces tr W_A, tr W_A W_A, tr W_A'W_A and W_A b at rho.

    ``info_of(tr1, tr2, tr3, wab)`` builds the information matrix; the Monte Carlo route
    uses it for the error of the standard errors.
    """
    W, n = setup.W, setup.n
    if setup.traces == "exact" and n <= DENSE_TRACES_MAX_N:
        D = W.toarray()
        WA = D @ np.linalg.inv(np.eye(n) - rho * D)
        wab = WA @ b if b is not None else None
        return InformationTraces(
            float(np.trace(WA)), float(np.sum(WA * WA.T)), float(np.sum(WA * WA)), wab, "exact"
        )
    if setup.traces == "exact":
        tr1, tr2, tr3, lu = exact_information_traces(W, rho, scale=setup.scale)
        wab = W @ lu.solve(b) if b is not None else None
        return InformationTraces(tr1, tr2, tr3, wab, "exact")
    return _mc_traces(setup, rho, b, info_of)


def _mc_traces(setup, rho: float, b: np.ndarray | None, info_of) -> InformationTraces:
    """Hutchinson estimates of the three traces with high-order control variates.

    With ``W_A = sum_k rho^k W^(k+1)``, the first terms of each trace are exact
    (``tr(W^j)`` for j <= 4 and the Frobenius products ``tr((W^a)' W^b)`` for
    a, b <= 3, sparse products of W) and only the remainders are estimated from
    Rademacher probes ``v``: ``v' W_A v``, ``v' W_A^2 v`` and ``|W_A v|^2`` minus their
    truncated series. Probes are added in batches until the delta-method Monte Carlo
    error of every standard error is below ``setup.se_tol`` (or ``setup.max_se_probes``).
    """
    W, n = setup.W, setup.n
    if isinstance(setup.logdet, LULogDet):
        lu = setup.logdet.factor(rho)

        def solve(B):
            return lu.solve(B)
    else:

        def solve(B):
            return neumann_solve(W, B, rho, tol=1e-11)

    T, gram = exact_series_terms(W)
    top = len(T) - 1  # highest power j with exact tr(W^j)
    exact1 = sum(rho ** (j - 1) * T[j] for j in range(1, top + 1))
    exact2 = sum((k + 1) * rho**k * T[k + 2] for k in range(top - 1))
    exact3 = sum(
        (1 if i == j else 2) * rho ** (i + j - 2) * g for (i, j), g in gram.items()
    )
    orders = max(top, max(j for _, j in gram))
    wab = W @ solve(b) if b is not None else None

    def se_of(tr1, tr2, tr3):
        with np.errstate(all="ignore"):
            vc = np.linalg.inv(info_of(tr1, tr2, tr3, wab))
        return np.sqrt(np.abs(np.diag(vc)))[:-1]

    samples: list[np.ndarray] = []
    target = setup.se_tol
    fixed = setup.se_probes
    total = 0
    while True:
        p = _SE_BATCH if fixed is None else fixed
        if fixed is None:
            p = min(p, setup.max_se_probes - total)
        V = rademacher(setup.rng, n, p)
        U = [V]
        for _ in range(orders):
            U.append(W @ U[-1])
        X = solve(U[1])  # W_A v = (I - rho W)^-1 W v
        Y = solve(W @ X)  # W_A^2 v
        vu = [np.einsum("ij,ij->j", V, U[j]) for j in range(top + 1)]
        a1 = np.einsum("ij,ij->j", V, X) - sum(rho ** (j - 1) * vu[j] for j in range(1, top + 1))
        a2 = np.einsum("ij,ij->j", V, Y) - sum(
            (k + 1) * rho**k * vu[k + 2] for k in range(top - 1)
        )
        a3 = np.einsum("ij,ij->j", X, X) - sum(
            (1 if i == j else 2) * rho ** (i + j - 2) * np.einsum("ij,ij->j", U[i], U[j])
            for (i, j) in gram
        )
        samples.append(np.column_stack([a1, a2, a3]))
        total += p
        S = np.vstack(samples)
        mean = S.mean(axis=0)
        cov = np.cov(S, rowvar=False) / S.shape[0]
        est = InformationTraces(
            exact1 + mean[0], exact2 + mean[1], exact3 + mean[2], wab, "hutchinson", total, cov
        )
        est.rel_error = _se_relative_error(se_of, est)
        if fixed is not None or np.nanmax(est.rel_error) <= target:
            break
        if total >= setup.max_se_probes:
            warnings.warn(
                f"the Monte Carlo information-matrix traces stopped at max_se_probes="
                f"{setup.max_se_probes} probe vectors with an estimated relative error of "
                f"up to {np.nanmax(est.rel_error):.2g} in the {est.rel_error.size} standard "
                f"errors (se_tol={target:g}); they are usable with that error. For more "
                "precision raise max_se_probes or use traces='exact' (sparse LU).",
                GeoclusterWarning,
                stacklevel=4,
            )
            break
    return est


def exact_series_terms(W: sp.csr_matrix) -> tuple[list[float], dict]:
    """Exact ``tr(W^j)`` and ``tr((W^i)' W^j)`` for the Monte Carlo control variates.

    Up to n = 200,000 (``EXACT_T4_MAX_N``): ``tr(W^j)`` for j <= 6 and the Frobenius
    products for i <= j, i + j <= 6, all from the sparse W^2, W^3, W W' and W^2 W'
    (``tr(W^(3+c) (W^i)') = sum(W^3 .* (W^i (W^c)'))``). Above: ``tr(W)``, ``tr(W^2)``
    and ``|W|_F^2`` only.
    """
    WT = W.T.tocsr()
    if W.shape[0] > EXACT_T4_MAX_N:
        t2 = float(W.multiply(WT).sum())
        return [float(W.shape[0]), float(W.diagonal().sum()), t2], {
            (1, 1): float(W.multiply(W).sum())
        }
    P = {1: W, 2: (W @ W).tocsr()}
    P[3] = (P[2] @ W).tocsr()
    T = [float(W.shape[0])] + [float(P[j].diagonal().sum()) for j in (1, 2, 3)]
    T.append(float(P[3].multiply(WT).sum()))  # tr(W^4) = tr(W^3 W)
    T.append(float(P[3].multiply(P[2].T).sum()))
    T.append(float(P[3].multiply(P[3].T).sum()))
    gram = {}
    for i in (1, 2, 3):
        for j in range(i, 4):
            if i + j <= 6:
                gram[(i, j)] = float(P[i].multiply(P[j]).sum())
    WWt = (W @ WT).tocsr()  # (W (W)')
    W2Wt = (P[2] @ WT).tocsr()  # W^2 W'
    gram[(1, 4)] = float(P[3].multiply(WWt).sum())  # c = 1, i = 1
    gram[(2, 4)] = float(P[3].multiply(W2Wt).sum())  # c = 1, i = 2
    gram[(1, 5)] = float(P[3].multiply(W2Wt.T).sum())  # c = 2, i = 1: W (W^2)'
    return T, gram


def _se_relative_error(se_of, traces: InformationTraces) -> np.ndarray:
    """Delta-method Monte Carlo error of each standard error, relative to it."""
    base = se_of(traces.tr1, traces.tr2, traces.tr3)
    t = np.array([traces.tr1, traces.tr2, traces.tr3])
    grad = np.empty((base.size, 3))
    for j in range(3):
        step = 1e-6 * max(abs(t[j]), 1.0)
        up, down = t.copy(), t.copy()
        up[j] += step
        down[j] -= step
        grad[:, j] = (se_of(*up) - se_of(*down)) / (2 * step)
    assert traces.cov is not None  # Monte Carlo traces carry their covariance
    var = np.einsum("ij,jk,ik->i", grad, traces.cov, grad)
    return np.sqrt(np.maximum(var, 0.0)) / base


