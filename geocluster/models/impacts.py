"""Direct, indirect and total impacts of spatial lag and Durbin models (LeSage & Pace 2009).

In ``y = rho W y + X beta + W X theta + e`` a change in regressor ``k`` moves the outcomes by
``S_k = (I - rho W)^-1 (I beta_k + W theta_k)``. The *direct* impact is the mean diagonal
of ``S_k``, the *total* impact the mean row sum ``(beta_k + theta_k) / (1 - rho)`` (for a
row-standardised ``W``) and the *indirect* impact (spillover) the difference.

The mean diagonal needs ``tr((I - rho W)^-1) / n`` and ``tr((I - rho W)^-1 W) / n``:

* small ``n``: exactly, from the eigenvalues ``w_i`` of ``W``:
  ``mean(1 / (1 - rho w_i))`` and ``mean(w_i / (1 - rho w_i))``;
* large ``n``: from the power series ``sum_j rho^j tr(W^j) / n`` with the low powers
  exact and higher traces estimated by Hutchinson's Monte Carlo estimator (Rademacher
  probes, seeded; the estimator of the large-n ML fit, whose traces are reused when the
  fit computed them), plus a geometric tail beyond the last power (as in spatialreg's
  ``trW(type="MC")``).

Standard errors come from simulating the estimates' sampling distribution: draws of
``(beta, theta, rho)`` from the normal with the fitted covariance; the impacts are
recomputed for every draw (only the scalar multipliers depend on ``rho``, so a draw costs
microseconds once the eigenvalues or traces are known).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from geocluster._base.summary import CI_HIGH, CI_LOW, P_VALUE
from geocluster.models._logdet import trace_powers as _logdet_trace_powers

__all__ = ["Multipliers", "multipliers", "trace_powers", "impacts_table", "EXACT_MAX_N"]

#: Largest n for which the multipliers are computed exactly from the eigenvalues of W.
#: A general (asymmetric, e.g. knn) W needs a dense nonsymmetric eigen-decomposition:
#: about 1-3 s at n = 1000 on our 2-core machine and 20-60 s at 2000. A W similar to a
#: symmetric matrix (row-standardised contiguity or distance-band) uses ``eigvalsh`` and
#: stays exact up to ``EXACT_MAX_N_SYMMETRIC``.
EXACT_MAX_N = 1000
EXACT_MAX_N_SYMMETRIC = 2000


@dataclass(frozen=True)
class Multipliers:
    """Scalar multipliers of ``(I - rho W)^-1`` for row-standardised ``W``.

    Either ``eigenvalues`` (exact) or ``traces`` (``t_j = tr(W^j)/n`` for j = 0..P,
    Monte Carlo for j >= 3) is set; ``method`` says which.
    """

    method: str
    eigenvalues: np.ndarray | None = None
    traces: np.ndarray | None = None
    zero_rows: float = 0.0

    def direct(self, rho) -> np.ndarray:
        """``tr((I - rho W)^-1) / n`` for each ``rho`` (scalar or array)."""
        return self._series(np.asarray(rho, dtype=float), shift=0)

    def direct_wx(self, rho) -> np.ndarray:
        """``tr((I - rho W)^-1 W) / n`` for each ``rho`` (the direct part of ``W x``)."""
        return self._series(np.asarray(rho, dtype=float), shift=1)

    def total(self, rho) -> np.ndarray:
        """Mean row sum of ``(I - rho W)^-1``: ``1 / (1 - rho)`` for row-standardised W.

        With isolated units kept (rows of W that are 0, a share ``s``), their rows of the
        inverse are unit rows: ``(1 - s) / (1 - rho) + s`` (exact when no unit has an
        isolate as neighbour, as with symmetric weights such as contiguity or distance
        bands).
        """
        r = np.asarray(rho, dtype=float)
        return (1.0 - self.zero_rows) / (1.0 - r) + self.zero_rows

    def _series(self, rho: np.ndarray, *, shift: int) -> np.ndarray:
        r = np.atleast_1d(rho)
        if self.eigenvalues is not None:
            lam = self.eigenvalues
            flat = r.ravel()
            out: np.ndarray = np.empty(flat.shape, dtype=float)
            for start in range(0, len(flat), 256):
                chunk = flat[start : start + 256, None]
                vals = lam**shift / (1.0 - chunk * lam[None, :])
                out[start : start + 256] = vals.mean(axis=1).real
            out = out.reshape(r.shape)
        else:
            assert self.traces is not None  # one of eigenvalues / traces is set
            t = self.traces[shift:]
            powers = r[..., None] ** np.arange(len(t))
            out = powers @ t
            # geometric tail: t_j is close to constant for large j
            out = out + t[-1] * r ** len(t) / (1.0 - r)
        return out.reshape(np.shape(rho)) if np.ndim(rho) else out.reshape(())


def _similar_to_symmetric(W: sp.csr_matrix) -> sp.csr_matrix | None:
    """``D^-1/2 B D^-1/2`` if ``W = D^-1 B`` with B binary and symmetric, else None."""
    B = W.copy()
    B.data = np.ones_like(B.data)
    if (B != B.T).nnz:
        return None
    counts = np.asarray(B.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        expect = np.where(counts > 0, 1.0 / counts, 0.0)
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    if not np.allclose(W.data, expect[rows], rtol=1e-10, atol=0):
        return None
    d = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return sp.diags(d) @ B @ sp.diags(d)


def eigenvalues(W: sp.spmatrix) -> np.ndarray:
    """Eigenvalues of ``W`` (real when ``W`` is similar to a symmetric matrix)."""
    W = sp.csr_matrix(W)
    sym = _similar_to_symmetric(W)
    if sym is not None:
        return np.linalg.eigvalsh(sym.toarray())
    return np.linalg.eigvals(W.toarray())


def trace_powers(
    W: sp.spmatrix,
    max_power: int = 50,
    *,
    probes: int | None = None,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
) -> np.ndarray:
    """Monte Carlo estimates of ``tr(W^j) / n`` for ``j = 0 .. max_power``.

    ``j <= 2`` (``j <= 4`` for n <= 200,000) are exact; higher powers use Hutchinson's
    estimator with ``probes`` Rademacher vectors, reproducible with ``seed``. This is
    the engine of the large-n ML fit (:func:`geocluster.models._logdet.trace_powers`,
    ``method="mc"``), so impacts and the fit's information matrix share one estimator.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> W = sp.csr_matrix([[0, 1.0], [1.0, 0]])
    >>> trace_powers(W, 4).round(6).tolist()
    [1.0, 0.0, 1.0, 0.0, 1.0]
    """
    return _logdet_trace_powers(W, max_power, method="mc", seed=seed, n_vectors=probes)


def multipliers(
    W: sp.spmatrix,
    *,
    method: str = "auto",
    max_power: int = 50,
    probes: int | None = None,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
) -> Multipliers:
    """Multipliers of ``W``: exact eigenvalues for small n, Monte Carlo traces for large n.

    ``method`` is ``"auto"``, ``"exact"`` or ``"traces"``. The trace series uses powers
    up to ``max_power`` plus a geometric tail; ``probes`` (default
    ``clip(2e6 / n, 16, 50)``: the estimator's variance falls like 1/n, so fewer probes
    suffice at large n) sets the Monte Carlo effort. Cost: ``max_power * probes``
    sparse products, about 10 s at n = 100k on our loaded 2-core machine.

    Examples
    --------
    >>> import geocluster as gc
    >>> W = gc.weights(gc.datasets.load_columbus(), "queen").sparse
    >>> m = multipliers(W)
    >>> m.method, round(float(m.direct(0.0)), 6), round(float(m.total(0.5)), 6)
    ('exact', 1.0, 2.0)
    """
    W = sp.csr_matrix(W, dtype=float)
    n = W.shape[0]
    if method == "auto":
        limit = EXACT_MAX_N_SYMMETRIC if _similar_to_symmetric(W) is not None else EXACT_MAX_N
        method = "exact" if n <= limit else "traces"
    zero_rows = float(np.mean(np.asarray(abs(W).sum(axis=1)).ravel() == 0))
    if method == "exact":
        return Multipliers("exact", eigenvalues=eigenvalues(W), zero_rows=zero_rows)
    if method == "traces":
        if probes is None:
            probes = int(np.clip(2_000_000 // max(n, 1), 16, 50))
        return Multipliers(
            f"traces (power {max_power}, {probes} probes)",
            traces=trace_powers(W, max_power, probes=probes, seed=seed),
            zero_rows=zero_rows,
        )
    raise ValueError(f"method={method!r} must be 'auto', 'exact' or 'traces'")


def impacts_table(
    params: pd.Series,
    vcov: np.ndarray,
    *,
    model: str,
    mult: Multipliers | None,
    simulations: int = 1000,
    rng: np.random.Generator,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Impacts per regressor as a tidy frame (see :meth:`RegressionResult.impacts`).

    ``rng`` draws the simulated estimates (lag and Durbin models with simulations > 0).
    """
    names = list(params.index)
    theta = {n[2:]: i for i, n in enumerate(names) if n.startswith("W_")}
    spatial = "rho" if model in ("lag", "durbin") else None
    variables = [
        (i, n)
        for i, n in enumerate(names)
        if n not in ("Intercept", "rho", "lambda") and not n.startswith("W_")
    ]
    est = params.to_numpy(dtype=float)

    def effects(b: np.ndarray) -> np.ndarray:
        # b: (draws, p) -> (draws, variables, 3)
        out = np.empty((b.shape[0], len(variables), 3))
        if spatial is None:
            for v, (i, _) in enumerate(variables):
                out[:, v, 0] = b[:, i]
                out[:, v, 1] = 0.0
                out[:, v, 2] = b[:, i]
            return out
        rho = b[:, names.index("rho")]
        assert mult is not None  # lag and Durbin models come with their multipliers
        m_d = np.atleast_1d(mult.direct(rho))
        m_dw = np.atleast_1d(mult.direct_wx(rho)) if theta else 0.0
        m_t = mult.total(rho)
        for v, (i, name) in enumerate(variables):
            th = b[:, theta[name]] if name in theta else 0.0
            out[:, v, 0] = b[:, i] * m_d + th * m_dw
            out[:, v, 2] = (b[:, i] + th) * m_t
            out[:, v, 1] = out[:, v, 2] - out[:, v, 0]
        return out

    point = effects(est[None, :])[0]
    se = np.full(point.shape, np.nan)
    lo = np.full(point.shape, np.nan)
    hi = np.full(point.shape, np.nan)
    if spatial is None:
        bse = np.sqrt(np.diag(vcov))
        q = stats.norm.ppf(1 - alpha / 2)
        for v, (i, _) in enumerate(variables):
            se[v, [0, 2]] = bse[i]
            se[v, 1] = 0.0
            lo[v] = point[v] - q * se[v]
            hi[v] = point[v] + q * se[v]
    elif simulations and simulations > 0:
        draws = rng.multivariate_normal(est, vcov, size=int(simulations), method="eigh")
        rho = draws[:, names.index("rho")]
        draws = draws[(rho < 1.0) & (rho > -1.0)]
        sims = effects(draws)
        se = sims.std(axis=0, ddof=1)
        lo = np.quantile(sims, alpha / 2, axis=0)
        hi = np.quantile(sims, 1 - alpha / 2, axis=0)
    rows = []
    for v, (_, name) in enumerate(variables):
        for e, effect in enumerate(("direct", "indirect", "total")):
            s = se[v, e]
            z = point[v, e] / s if np.isfinite(s) and s > 0 else np.nan
            rows.append(
                {
                    "variable": name,
                    "effect": effect,
                    "estimate": point[v, e],
                    "std_error": s,
                    "statistic": z,
                    P_VALUE: 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan,
                    CI_LOW: lo[v, e],
                    CI_HIGH: hi[v, e],
                }
            )
    return pd.DataFrame(rows)
