"""Blocked bilateral distances, their histograms and the K-density smoother.

The machinery behind :func:`geocluster.k_density` (see the docstring of
:mod:`geocluster.clusters.localization` for the method): distances are computed in
blocks of rows and accumulated into histograms, so the n x n matrix is never held.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import sparse
from scipy.spatial.distance import cdist, pdist

from geocluster.errors import InputError
from geocluster.units import parse_distance

__all__ = ["BLOCK_PAIRS", "pair_blocks", "cross_blocks", "diameter_bound", "median_distance",
           "pair_bandwidth", "Smoother", "distance_bands", "global_level"]

#: Distances computed per block (rows x columns); 4M float64 = 32 MB.
BLOCK_PAIRS = 4_000_000
#: Bins of the histogram used for quantiles (median of all sites, IQR for Silverman).
_COARSE_BINS = 16_384
#: Kernel support in bandwidths (the Gaussian beyond 6 sd is below 1e-8 of its peak).
_KERNEL_SUPPORT = 6.0
#: Most bins of the fine histogram (the smoothing matrix is grid_points x bins).
_MAX_FINE_BINS = 32_768


def pair_blocks(xy: np.ndarray, w: np.ndarray | None):
    """Yield (distances, pair weights or None) for all pairs i < j, a block of rows at a time.

    Each block of rows gives two chunks: its own upper triangle and the full rectangle
    against the rows after it (contiguous, so it needs no mask or copy).
    """
    n = len(xy)
    rows = max(1, min(n, BLOCK_PAIRS // max(n, 1)))
    for start in range(0, n - 1, rows):
        stop = min(n, start + rows)
        block = xy[start:stop]
        if w is None:
            yield pdist(block), None
        else:
            wb = w[start:stop]
            iu, ju = _triu(stop - start)
            yield pdist(block), wb[iu] * wb[ju]
        if stop < n:
            rect = cdist(block, xy[stop:]).ravel()
            yield rect, (None if w is None else np.multiply.outer(w[start:stop], w[stop:]).ravel())


@functools.lru_cache(maxsize=4)
def _triu(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle of an m x m block, in pdist order."""
    return np.triu_indices(m, k=1)


def cross_blocks(xy_a: np.ndarray, w_a: np.ndarray | None, xy_b: np.ndarray,
                 w_b: np.ndarray | None):
    """Yield (distances, pair weights or None) for all pairs (i in a, j in b), in blocks of rows.

    The co-localisation counterpart of :func:`pair_blocks` (two different sets of points,
    every one of the ``len(a) x len(b)`` pairs once); ``w_a`` and ``w_b`` are both None or
    both given.
    """
    n_b = len(xy_b)
    rows = max(1, min(len(xy_a), BLOCK_PAIRS // max(n_b, 1)))
    for start in range(0, len(xy_a), rows):
        stop = min(len(xy_a), start + rows)
        d = cdist(xy_a[start:stop], xy_b).ravel()
        if w_a is None or w_b is None:
            yield d, None
        else:
            yield d, np.multiply.outer(w_a[start:stop], w_b).ravel()


def diameter_bound(xy: np.ndarray) -> float:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return float(np.hypot(*(hi - lo)))


def _coarse_histogram(xy, w, span, *, moments: bool = True, blocks=None):
    """Histogram of all pair distances over [0, span] with moments (for quantiles, sd).

    ``blocks`` (an iterable of (distances, weights)) replaces ``pair_blocks(xy, w)``.
    """
    width = span / _COARSE_BINS
    hist = np.zeros(_COARSE_BINS)
    s0 = s1 = s2 = 0.0
    for d, pw in (pair_blocks(xy, w) if blocks is None else blocks):
        if d.size == 0:
            continue
        t = np.multiply(d, 1.0 / width)
        np.minimum(t, _COARSE_BINS - 0.5, out=t)
        hist += np.bincount(t.astype(np.intp), weights=pw, minlength=_COARSE_BINS)
        if not moments:
            continue
        if pw is None:
            s0 += d.size
            s1 += float(d.sum())
            s2 += float(np.dot(d, d))
        else:
            s0 += float(pw.sum())
            s1 += float(np.dot(pw, d))
            s2 += float(np.dot(pw, d * d))
    return hist, width, (s0, s1, s2)


def _hist_quantile(hist, width, q):
    cum = np.cumsum(hist)
    total = cum[-1]
    target = q * total
    k = int(np.searchsorted(cum, target, side="left"))
    below = cum[k - 1] if k > 0 else 0.0
    frac = (target - below) / hist[k] if hist[k] > 0 else 0.5
    return (k + frac) * width


def median_distance(xy, w, span) -> float:
    """The (weighted) median of all pair distances, from a fine histogram over [0, span]."""
    hist, width, _ = _coarse_histogram(xy, w, span, moments=False)
    return float(_hist_quantile(hist, width, 0.5))


def pair_bandwidth(bandwidth, xy, w, span, *, blocks=None, n_pairs: float | None = None,
                   where: str = "k_density") -> float:
    """Silverman's rule on the pair distances, or the distance given (metres).

    ``blocks`` and ``n_pairs`` give other pairs than those of ``xy`` (the cross pairs of
    two industries); ``where`` names the caller in the messages.
    """
    if isinstance(bandwidth, str) and bandwidth.strip().lower() == "silverman":
        hist, width, (s0, s1, s2) = _coarse_histogram(xy, w, span, blocks=blocks)
        if s0 <= 0:
            raise InputError(f"{where}: the weights of the subset's firms sum to 0.")
        mean = s1 / s0
        sd = math.sqrt(max(s2 / s0 - mean * mean, 0.0))
        iqr = _hist_quantile(hist, width, 0.75) - _hist_quantile(hist, width, 0.25)
        spread = min(sd, iqr / 1.34) if iqr > 0 else sd
        m = len(xy) * (len(xy) - 1) / 2 if n_pairs is None else n_pairs
        h = 0.9 * spread * m ** (-0.2)
        if not h > 0:
            raise InputError(
                f"{where}: Silverman's bandwidth is 0 (the subset's firms share one "
                "location); give bandwidth= as a distance."
            )
        return float(h)
    try:
        return parse_distance(bandwidth, name="bandwidth")
    except InputError:
        raise InputError(
            f"{where}: bandwidth={bandwidth!r} must be 'silverman' or a distance such as "
            "'5km' (a number means metres)."
        ) from None


class Smoother:
    """Fine histogram of pair distances on [0, max + 6h], smoothed onto the evaluation grid."""

    def __init__(self, dmax: float, h: float, n_grid: int):
        self.grid = np.linspace(0.0, dmax, n_grid)
        self.h = h
        self.upper = dmax + _KERNEL_SUPPORT * h
        self.width = max(min(h / 50.0, dmax / 1000.0), self.upper / _MAX_FINE_BINS)
        self.nbins = int(math.ceil(self.upper / self.width))
        # Gaussian kernel reflected at 0, f(d - x) + f(d + x) per metre, as a sparse band:
        # grid point d only sees bins within 6 bandwidths (the reflected term matters
        # only for d < 6h, whose band starts at bin 0 and so contains it).
        reach = _KERNEL_SUPPORT * h
        lo = np.clip(np.floor((self.grid - reach) / self.width), 0, self.nbins).astype(np.int64)
        hi = np.clip(np.ceil((self.grid + reach) / self.width) + 1, 0, self.nbins + 1)
        hi = hi.astype(np.int64)
        counts = hi - lo
        rows = np.repeat(np.arange(n_grid), counts)
        cols = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        centres = cols * self.width
        d = self.grid[rows]
        u, v = (d - centres) / h, (d + centres) / h
        values = (np.exp(-0.5 * u * u) + np.exp(-0.5 * v * v)) / (h * math.sqrt(2 * math.pi))
        self.kernel = sparse.csr_matrix((values, (rows, cols)), shape=(n_grid, self.nbins + 1))

    def histogram(self, xy, w, blocks=None):
        # ``blocks`` (an iterable of (distances, weights)) replaces pair_blocks(xy, w).
        # Linear binning (Wand 1994): a distance between nodes k and k + 1 (nodes at
        # multiples of the bin width) gives each a share by proximity, which makes the
        # smoothing error second order in width / bandwidth. Distances beyond the last
        # node are clipped into two overflow nodes that are dropped.
        size = self.nbins + 3
        mass = np.zeros(size)  # sum of (weights of) pairs with floor index k
        ahead = np.zeros(size)  # the share of them that goes to node k + 1
        total = 0.0
        inv = 1.0 / self.width
        for d, pw in (pair_blocks(xy, w) if blocks is None else blocks):
            if d.size == 0:
                continue
            t = np.multiply(d, inv, out=d)
            np.minimum(t, self.nbins + 1.5, out=t)
            k = t.astype(np.intp)
            frac = np.subtract(t, k, out=t)
            if pw is None:
                total += frac.size
                mass += np.bincount(k, minlength=size)
                ahead += np.bincount(k, weights=frac, minlength=size)
            else:
                total += float(pw.sum())
                mass += np.bincount(k, weights=pw, minlength=size)
                ahead += np.bincount(k, weights=np.multiply(pw, frac, out=frac), minlength=size)
        hist = mass - ahead
        hist[1:] += ahead[:-1]
        return hist[: self.nbins + 1], total

    def density(self, xy, w, blocks=None) -> np.ndarray:
        """K-density per km at the grid: all pairs (also beyond the range) in the denominator.

        ``blocks`` (e.g. :func:`cross_blocks`) replaces the pairs of ``xy``.
        """
        hist, total = self.histogram(xy, w, blocks)
        if total <= 0:
            return np.full(len(self.grid), np.nan)
        return self.kernel @ hist / total * 1000.0


def distance_bands(simulated: np.ndarray, alpha: float, n_grid: int):
    """Pointwise (``alpha``, ``1 - alpha``) and global bands of simulated curves.

    Returns ``(local_lower, local_upper, global_lower, global_upper, q_lo, q_hi)``; the
    global bands are the pointwise quantiles at the levels ``q_lo``, ``q_hi`` of
    :func:`global_level` (each side crossed anywhere by at most ``alpha`` of the curves).
    NaN everywhere without simulations.
    """
    sims = simulated.shape[0]
    if sims == 0:
        nan = np.full(n_grid, np.nan)
        return nan, nan, nan, nan, math.nan, math.nan
    local_lower = np.quantile(simulated, alpha, axis=0)
    local_upper = np.quantile(simulated, 1 - alpha, axis=0)
    q_hi = global_level(simulated, alpha, upper=True)
    q_lo = global_level(simulated, alpha, upper=False)
    global_upper = np.quantile(simulated, q_hi, axis=0)
    global_lower = np.quantile(simulated, q_lo, axis=0)
    return local_lower, local_upper, global_lower, global_upper, q_lo, q_hi


def global_level(simulated: np.ndarray, alpha: float, *, upper: bool) -> float:
    """The pointwise quantile level whose band at most ``alpha`` of the simulations cross.

    D-O (2005, section 4): the global upper band is the local quantile band, with the
    same level at every distance, that is exceeded somewhere over the whole range by
    only ``alpha`` of the simulated K-densities (the lower band likewise from below).
    The crossing share falls in steps as the level moves to the extreme, so the level
    is found by bisection (linear interpolation between order statistics).
    """

    def crossing(q: float) -> float:
        band = np.quantile(simulated, q, axis=0)
        hits = simulated > band if upper else simulated < band
        return float(hits.any(axis=1).mean())

    # upper: find the smallest q in [1 - alpha, 1] with crossing(q) <= alpha.
    # lower: find the largest q in [0, alpha] with crossing(q) <= alpha.
    good, bad = (1.0, 1.0 - alpha) if upper else (0.0, alpha)
    if crossing(bad) <= alpha:
        return bad
    for _ in range(40):
        mid = 0.5 * (good + bad)
        if crossing(mid) <= alpha:
            good = mid
        else:
            bad = mid
        if abs(good - bad) < 1e-6:
            break
    return good
