"""The Gibbs sampler of the Bayesian SAR / SEM probit and tobit (LeSage & Pace 2009, ch. 10).

The latent variable ``z`` is Gaussian with precision ``H = S'S / sigma2``, ``S = I - rho W``
(``sigma2 = 1`` for probit), and mean ``S^-1 X b`` (lag) or ``X b`` (error). Its full
conditional of one element is a truncated normal with mean ``z_i - [H (z - mu)]_i / H_ii``
and variance ``1 / H_ii``; ``H (z - mu) = S' r / sigma2`` with the residual ``r = S z - X b``
(lag) or ``S (z - X b)`` (error), so no inverse of ``S`` is ever formed. Elements with
``H_ij = 0`` are conditionally independent; a greedy colouring of the sparsity pattern of
``W + W' + W'W`` groups them, and each colour is drawn at once (a chromatic Gibbs sweep:
exactly the one-at-a-time sampler of R spatialprobit / LeSage's ``sarp_g``, in another
order). Probit: every ``z_i`` is drawn (above 0 where ``y = 1``, below where ``y = 0``);
tobit (censored at 0 from below): only the censored ones (below 0).

``rho`` (``lambda``) is drawn by griddy Gibbs on a grid of step 0.001 in (-1, 1) with the
log-determinant precomputed: exact sparse LU at about 40 values (21 up to 0.8, denser towards 1, where the
other eigenvalues near 1 bend it) and a cubic
spline of ``log det(I - rho W) - log(1 - rho)`` in between (as LeSage's ``lndetfull`` +
``lndetint``), or the Barry-Pace Monte Carlo series above 20,000 rows. For the lag model
``rho`` is drawn with ``beta`` integrated out (its flat prior), then ``beta | rho``.
``sigma2`` (tobit) has the prior ``1 / sigma2``. Priors: flat on ``beta``, uniform on
``rho`` in (-1, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import special
from scipy.interpolate import CubicSpline

from geocluster.models._logdet import LU_MAX_N, LULogDet, PowerTraces, SeriesLogDet

__all__ = ["Problem", "run_chain", "colour_classes", "logdet_grid", "truncated_normal",
           "split_rhat", "effective_sample_size", "GRID_STEP"]

#: Step of the griddy-Gibbs grid of rho.
GRID_STEP = 0.001


def colour_classes(W: sp.csr_matrix, rows: np.ndarray) -> list[np.ndarray]:
    """Greedy colouring of ``rows`` so that no two rows of a colour have ``H_ij != 0``."""
    n = W.shape[0]
    pattern = (abs(W) + abs(W.T) + abs(W.T) @ abs(W)).tocsr()
    pattern.setdiag(0)
    pattern.eliminate_zeros()
    sel = np.zeros(n, dtype=bool)
    sel[rows] = True
    colour = np.full(n, -1, dtype=np.int64)
    indptr, indices = pattern.indptr, pattern.indices
    for i in rows:
        nb = indices[indptr[i] : indptr[i + 1]]
        used = set(colour[nb[sel[nb]]].tolist())
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return [rows[colour[rows] == c] for c in range(int(colour[rows].max()) + 1)] \
        if len(rows) else []


def logdet_grid(W: sp.csr_matrix, grid: np.ndarray, rng: np.random.Generator) -> tuple[
        np.ndarray, str]:
    """``log det(I - rho W)`` on ``grid`` and how it was computed."""
    n = W.shape[0]
    if W.nnz == 0:
        return np.zeros_like(grid), "none (no spatial parameter)"
    if n > LU_MAX_N:
        pt = PowerTraces(W, rng=rng, n_vectors=50)
        series = SeriesLogDet(pt, 1.0)
        series.use_powers(pt.powers_for(float(np.max(np.abs(grid))), tol=1e-6))
        return np.array([series(r) for r in grid]), f"Barry-Pace series ({series.m} powers)"
    lu = LULogDet(W)
    knots = np.union1d(np.r_[np.linspace(grid[0], 0.8, 21), np.arange(0.8, 0.95, 0.025),
                             np.arange(0.95, 0.995, 0.005),
                             np.arange(0.995, grid[-1], 0.001)], [grid[-1]])
    values = np.array([lu(r) for r in knots]) - np.log1p(-knots)
    spline = CubicSpline(knots, values)
    return spline(grid) + np.log1p(-grid), (
        f"exact sparse LU at {len(knots)} values, cubic spline in between")


def truncated_normal(mean: np.ndarray, sd: np.ndarray, above: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Draws of N(mean, sd^2) truncated to > 0 where ``above``, < 0 elsewhere.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = truncated_normal(np.zeros(4), np.ones(4), np.array([1, 0, 1, 0], bool), rng)
    >>> bool(((x > 0) == [True, False, True, False]).all())
    True
    """
    a = -mean / sd  # the bound 0, standardised
    u = 1.0 - rng.random(len(mean))
    with np.errstate(divide="ignore"):
        up = -special.ndtri(u * special.ndtr(-a))  # x > a
        down = special.ndtri(u * special.ndtr(a))  # x < a
    # far tails (the inverse CDF under- or overflows): the tail's limiting law,
    # x = sqrt(a^2 - 2 log u) beyond |a| (exact as |a| -> infinity)
    far = np.sqrt(a * a - 2 * np.log(u))
    up = np.where(np.isfinite(up) & (a < 30), up, far)
    down = np.where(np.isfinite(down) & (a > -30), down, -far)
    x = np.where(above, np.maximum(up, a), np.minimum(down, a))
    return mean + sd * x


@dataclass
class Problem:
    """One sampling problem: data, weights, what is latent, precomputed pieces."""

    y: np.ndarray
    X: np.ndarray
    W: sp.csr_matrix
    kind: str  # "probit" or "tobit"
    spatial: str | None  # "lag", "error" or None
    grid: np.ndarray
    logdet: np.ndarray
    colours: list[np.ndarray]
    latent: np.ndarray  # rows whose z is drawn

    @classmethod
    def build(cls, y, X, W, kind, spatial, rng) -> Problem:
        n = len(y)
        if spatial is None:
            W = sp.csr_matrix((n, n))
        grid = np.round(np.arange(-1 + GRID_STEP, 1 - GRID_STEP / 2, GRID_STEP), 10)
        logdet, _ = logdet_grid(W, grid, rng)
        latent = np.arange(n) if kind == "probit" else np.flatnonzero(y <= 0)
        colours = [latent] if spatial is None else colour_classes(W, latent)
        return cls(y=y, X=X, W=W, kind=kind, spatial=spatial, grid=grid, logdet=logdet,
                   colours=colours, latent=latent)

    def precompute(self) -> dict:
        X, W = self.X, self.W
        xtx_inv = np.linalg.inv(X.T @ X)
        WX = W @ X
        pre = {"xtx_inv": xtx_inv, "chol": np.linalg.cholesky(xtx_inv),
               "proj": xtx_inv @ X.T, "WX": WX, "Wt": W.T.tocsr(),
               "colsq": np.asarray(W.multiply(W).sum(axis=0)).ravel(),
               "diag": W.diagonal()}
        pre["A1"] = X.T @ WX + WX.T @ X
        pre["A2"] = WX.T @ WX
        pre["cols"] = [(W[:, c].tocsr(), W[:, c].T.tocsr()) for c in self.colours]
        return pre


def _draw_grid(logp: np.ndarray, grid: np.ndarray, rng: np.random.Generator) -> float:
    p = np.exp(logp - logp.max())
    cdf = np.cumsum(p)
    i = int(np.searchsorted(cdf, rng.random() * cdf[-1]))
    return float(np.clip(grid[min(i, len(grid) - 1)] + (rng.random() - 0.5) * GRID_STEP,
                         grid[0], grid[-1]))


def _residual(prob: Problem, z, beta, rho, Wz) -> np.ndarray:
    if prob.spatial == "error":
        a = z - prob.X @ beta
        return a - rho * (prob.W @ a)
    return z - rho * Wz - prob.X @ beta


def _sweep(prob: Problem, pre: dict, z, r, rho, sigma2, rng) -> None:
    """One chromatic Gibbs sweep over the latent rows (z and r updated in place)."""
    above = prob.y > 0
    for c, (Wc, WcT) in zip(prob.colours, pre["cols"], strict=True):
        h = 1 - 2 * rho * pre["diag"][c] + rho * rho * pre["colsq"][c]
        g = r[c] - rho * (WcT @ r) if rho != 0 else r[c]
        mean = z[c] - g / h
        new = truncated_normal(mean, np.sqrt(sigma2 / h), above[c], rng)
        delta = new - z[c]
        z[c] = new
        r[c] += delta
        if rho != 0:
            r -= rho * (Wc @ delta)


def _draw_beta(prob: Problem, pre: dict, z, Wz, rho, sigma2, rng) -> np.ndarray:
    k = prob.X.shape[1]
    if prob.spatial == "error":
        X, WX = prob.X, pre["WX"]
        A = X.T @ X - rho * pre["A1"] + rho**2 * pre["A2"]
        b = X.T @ z - rho * (X.T @ Wz + WX.T @ z) + rho**2 * (WX.T @ Wz)
        V = np.linalg.inv(A)
        return V @ b + np.sqrt(sigma2) * np.linalg.cholesky(V) @ rng.standard_normal(k)
    mean = pre["proj"] @ (z - rho * Wz)
    return mean + np.sqrt(sigma2) * pre["chol"] @ rng.standard_normal(k)


def _draw_rho(prob: Problem, pre: dict, z, Wz, beta, sigma2, rng) -> float:
    if prob.spatial == "lag":  # beta integrated out
        a = z - prob.X @ (pre["proj"] @ z)
        b = Wz - prob.X @ (pre["proj"] @ Wz)
    else:
        a = z - prob.X @ beta
        b = prob.W @ a
    aa, ab, bb = a @ a, a @ b, b @ b
    g = prob.grid
    return _draw_grid(prob.logdet - (aa - 2 * g * ab + g * g * bb) / (2 * sigma2), g, rng)


def run_chain(prob: Problem, *, draws: int, burn_in: int, thin: int,
              rng: np.random.Generator, progress=None) -> dict[str, np.ndarray]:
    """One chain: ``draws`` kept draws after ``burn_in``, every ``thin``-th iteration."""
    pre = prob.precompute()
    n, k = prob.X.shape
    y = prob.y.astype(float)
    z = np.where(y > 0, 0.5, -0.5) if prob.kind == "probit" else y.copy()
    if prob.kind == "tobit":
        z[prob.latent] = -0.5 * max(float(np.std(y)), 1e-3)
    beta = pre["proj"] @ z
    rho = 0.0
    sigma2 = 1.0 if prob.kind == "probit" else max(float(np.var(z - prob.X @ beta)), 1e-8)
    out = {"beta": np.empty((draws, k)), "rho": np.empty(draws), "sigma2": np.empty(draws)}
    total = burn_in + draws * thin
    kept = 0
    for it in range(total):
        Wz = prob.W @ z
        if prob.spatial is not None:
            rho = _draw_rho(prob, pre, z, Wz, beta, sigma2, rng)
        beta = _draw_beta(prob, pre, z, Wz, rho, sigma2, rng)
        r = _residual(prob, z, beta, rho, Wz)
        if prob.kind == "tobit":
            sigma2 = float(r @ r / 2) / rng.gamma(n / 2)
        _sweep(prob, pre, z, r, rho, sigma2, rng)
        if it >= burn_in and (it - burn_in) % thin == thin - 1:
            out["beta"][kept], out["rho"][kept], out["sigma2"][kept] = beta, rho, sigma2
            kept += 1
        if progress is not None:
            progress.update(1)
    return out


# ---------------------------------------------------------------------------------------
# convergence diagnostics (Gelman et al. 2013, BDA3 ch. 11; Vehtari et al. 2021)
# ---------------------------------------------------------------------------------------
def split_rhat(chains: np.ndarray) -> float:
    """Split-R-hat of draws ``(n_chains, n_draws)`` (BDA3 eq. 11.4 on split chains).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(split_rhat(rng.normal(size=(4, 1000))), 2)
    1.0
    """
    m, n = chains.shape
    half = n // 2
    s = np.vstack([chains[:, :half], chains[:, half : 2 * half]])
    w = s.var(axis=1, ddof=1).mean()
    b = half * s.mean(axis=1).var(ddof=1)
    var_plus = (half - 1) / half * w + b / half
    return float(np.sqrt(var_plus / w)) if w > 0 else float("nan")


def effective_sample_size(chains: np.ndarray) -> float:
    """Multi-chain effective sample size with Geyer's initial monotone sequence.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 3000 < effective_sample_size(rng.normal(size=(4, 1000))) < 5000
    True
    """
    m, n = chains.shape
    x = chains - chains.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, size, axis=1)
    acov = np.fft.irfft(f * np.conj(f), size, axis=1)[:, :n] / n
    w = chains.var(axis=1, ddof=1).mean()
    var_plus = w * (n - 1) / n + (chains.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    if var_plus <= 0:
        return float("nan")
    rho = 1 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    pairs = rho[: n - n % 2].reshape(-1, 2).sum(axis=1)
    positive = np.flatnonzero(pairs <= 0)
    pairs = pairs[: positive[0]] if len(positive) else pairs
    pairs = np.minimum.accumulate(pairs)
    tau = -1 + 2 * pairs.sum()
    return float(m * n / max(tau, 1.0 / np.log10(m * n + 10)))
