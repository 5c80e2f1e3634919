"""The result of the large-n ML estimator (:mod:`geocluster.models._sparse_ml`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SparseMLFit"]


@dataclass(frozen=True, repr=False)
class SparseMLFit:
    """Result of :func:`fit_lag` or :func:`fit_error`.

    Attributes
    ----------
    model
        ``"lag"`` or ``"error"``.
    beta
        Coefficients of X, shape (k,).
    rho
        The spatial parameter: rho (lag) or lambda (error); see ``param_name``.
    param_name
        ``"rho"`` or ``"lambda"``.
    sigma2
        ML innovation variance (SSE / n).
    loglik
        Maximised log-likelihood (with the approximate log-determinant for the
        Monte Carlo methods).
    vcov
        (k+1) x (k+1) covariance of (beta, spatial parameter) from the analytic
        information matrix.
    vcov_full
        (k+2) x (k+2) covariance of (beta, spatial parameter, sigma2).
    logdet_method
        ``"exact-lu"``, ``"exact-eigen"``, ``"mc"`` or ``"chebyshev"``.
    trace_method
        How the information-matrix traces were computed: ``"exact"`` (dense for
        n <= 1,000, sparse-LU derivatives of log-determinants above) or
        ``"hutchinson"`` (Monte Carlo).
    converged, iterations, message
        Optimiser status.
    n, seconds
        Observations and wall-clock time of the fit.
    bounds
        The search interval of the spatial parameter.
    n_vectors, n_powers
        Hutchinson probe vectors and powers of W of the Monte Carlo log-determinant
        (0 when it is exact).
    se_probes
        Probe vectors of the Monte Carlo information-matrix traces (0 when exact).
    se_rel_error
        Estimated relative Monte Carlo error (one standard error, delta method) of each
        standard error in ``se`` (beta, spatial parameter): 0 for exact traces, NaN
        when ``se=False``. It covers the traces at the estimate, not the Monte Carlo
        error of the estimate itself under ``logdet="mc"``.
    information_traces
        ``(tr(W_A), tr(W_A W_A), tr(W_A' W_A))`` at the estimate, or None.
    traces
        ``tr(W^j)/n`` for j = 0..n_powers when computed (series methods), else None;
        pass them to :func:`mean_direct_multiplier` for impacts.
    resid
        Innovations: ``(I - rho W) y - X beta`` (lag) or ``(I - lambda W)(y - X beta)``
        (error), in the input row order.
    """

    model: str
    beta: np.ndarray
    rho: float
    param_name: str
    sigma2: float
    loglik: float
    vcov: np.ndarray
    vcov_full: np.ndarray
    logdet_method: str
    trace_method: str
    converged: bool
    iterations: int
    message: str
    n: int
    seconds: float
    bounds: tuple[float, float]
    n_vectors: int = 0
    n_powers: int = 0
    traces: np.ndarray | None = None
    resid: np.ndarray | None = field(default=None)
    se_probes: int = 0
    se_rel_error: np.ndarray | None = None
    information_traces: tuple[float, float, float] | None = None

    @property
    def spatial(self) -> float:
        """Alias of ``rho``: the spatial parameter of either model."""
        return self.rho

    @property
    def se(self) -> np.ndarray:
        """Standard errors of (beta, spatial parameter)."""
        return np.sqrt(np.diag(self.vcov))

    @property
    def k(self) -> int:
        return int(self.beta.shape[0])

    def __repr__(self) -> str:
        se = self.se
        return (
            f"<SparseMLFit spatial {self.model}: n={self.n:,}, k={self.k}, "
            f"{self.param_name}={self.rho:.4f} (se {se[-1]:.4f}), sigma2={self.sigma2:.4g}, "
            f"loglik={self.loglik:.3f}, logdet={self.logdet_method}, "
            f"traces={self.trace_method}"
            + (
                f" ({self.se_probes} probes, SE rel. error <= {np.nanmax(np.asarray(self.se_rel_error, dtype=float)):.1g})"
                if self.trace_method == "hutchinson"
                else ""
            )
            + f", converged={self.converged}, {self.seconds:.2f} s>"
        )
