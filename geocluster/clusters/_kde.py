"""Numerics for binned kernel density estimation (private).

Everything here works on plain arrays in metres. The public facade is
:mod:`geocluster.clusters.density`.

The estimator is Wand's (1994) binned KDE: points are spread onto the nodes of a
regular grid with *linear binning* (each point's weight is split between the four
surrounding nodes in proportion to the bilinear weights), and the binned counts are
convolved with the kernel evaluated at the grid offsets, by FFT. The cost is
``O(n + G log G)`` for ``n`` points and ``G`` grid nodes instead of ``O(n G)``.

The binning helpers (:func:`node_offsets`, :func:`node_sums`, :func:`merge_node_sums`) run
on dask workers too; they need numpy only, and scipy (``ndimage``, ``signal``,
``spatial``: 1.8 s to import cold, per worker process) is imported by the functions that
convolve or query neighbours, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KERNELS = ("gaussian", "quartic", "epanechnikov")

#: Gaussian kernels are truncated at this many bandwidths; the neglected mass is
#: exp(-TRUNCATE**2 / 2) = 3.7e-6 of each point's weight.
TRUNCATE = 5.0

#: Gaussian kernels up to this many taps a side are applied as two 1-D convolutions;
#: longer ones by a 2-D FFT.
SEPARABLE_MAX_TAPS = 81

#: Ratio of the support radius of the compact kernels to a Gaussian standard
#: deviation with the same per-axis variance (quartic: R^2/8, Epanechnikov: R^2/6).
EQUIVALENT_RADIUS = {"gaussian": 1.0, "quartic": np.sqrt(8.0), "epanechnikov": np.sqrt(6.0)}


def kernel_support(kernel: str, h: float) -> float:
    """Distance beyond which the kernel is treated as zero (metres)."""
    return TRUNCATE * h if kernel == "gaussian" else h


def kernel_values(kernel: str, d2: np.ndarray, h: float) -> np.ndarray:
    """Kernel at squared distances ``d2`` (m^2); integrates to 1 over the plane (1/m^2).

    ``h`` is the standard deviation for ``"gaussian"`` and the support radius for the
    compact kernels.
    """
    if kernel == "gaussian":
        return np.exp(-0.5 * d2 / (h * h)) / (2.0 * np.pi * h * h)
    u2 = d2 / (h * h)
    inside = u2 < 1.0
    if kernel == "quartic":
        k = 3.0 / (np.pi * h * h) * (1.0 - u2) ** 2
    else:  # epanechnikov
        k = 2.0 / (np.pi * h * h) * (1.0 - u2)
    return np.where(inside, k, 0.0)


def binning_corrected_scale(kernel: str, h: float, cell: float, interpolated: bool = False) -> float:
    """Kernel scale to convolve binned counts with, correcting linear binning's smoothing.

    Linear binning replaces a point at fractional offset ``t`` between two nodes by
    weights ``1 - t`` and ``t`` on them: a distribution with the point's mean and
    variance ``t (1 - t) cell^2`` per axis, ``cell^2 / 6`` on average over offsets. The
    binned estimate is therefore the kernel smoothed once more; convolving with a
    kernel whose per-axis variance is smaller by ``cell^2 / 6`` removes that on average
    (for cell = h/4 this cuts the maximum error on 2,000 points from 8e-3 to 2e-4 of the
    peak). Bilinear interpolation between nodes at a random position smooths by the
    same amount again, so ``interpolated=True`` (values read at the points, not at the
    nodes) removes ``cell^2 / 3``. The reduction is capped at a quarter of the variance
    for coarse grids.
    Only the Gaussian is corrected: the compact kernels' kinks at the support edge
    make the correction overshoot there (measured), so they rely on finer grids.
    """
    if kernel != "gaussian":
        return h
    var = (h / EQUIVALENT_RADIUS[kernel]) ** 2  # per-axis variance of the kernel
    reduced = max(var - cell * cell / (3.0 if interpolated else 6.0), 0.75 * var)
    return float(np.sqrt(reduced) * EQUIVALENT_RADIUS[kernel])


def _raw_kernel_grid(kernel: str, h: float, cell: float) -> np.ndarray:
    half = int(np.ceil(kernel_support(kernel, h) / cell))
    offsets = np.arange(-half, half + 1) * cell
    if kernel == "gaussian":  # separable: an outer product of 1-D factors is exact
        g = np.exp(-0.5 * (offsets / h) ** 2)
        return np.outer(g, g) / (2.0 * np.pi * h * h)
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    return kernel_values(kernel, d2, h)


def kernel_norm(kernel: str, h: float, cell: float) -> float:
    """Factor that makes the discrete kernel on ``cell`` offsets sum to 1 / cell^2.

    On a fine grid it is 1 to rounding (the Gaussian) or within about ``(cell/h)^2``
    (compact kernels); on a coarse grid (cell comparable to the bandwidth) the discrete
    kernel misses or double counts mass, and without this factor the surface's mass
    is off (measured: +3% for the Epanechnikov kernel at cell = 0.4 h, several times
    the true mass for the Gaussian at cell = 3 h). With it the surface always
    integrates to the total weight.
    """
    total = float(_raw_kernel_grid(kernel, h, cell).sum()) * cell * cell
    return 1.0 / total if total > 0 else 1.0


def kernel_grid(kernel: str, h: float, cell: float) -> np.ndarray:
    """The kernel at the offsets of a square grid of ``cell`` metres, out to its support.

    Normalised (:func:`kernel_norm`) so that it sums to ``1 / cell^2``: the binned
    surface integrates to the total weight on any grid.
    """
    return _raw_kernel_grid(kernel, h, cell) * kernel_norm(kernel, h, cell)


def node_offsets(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    gx0: float,
    gy0: float,
    cell: float,
    nx: int,
    ny: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Each point's lower-left node and its fractional offsets, for linear binning.

    Returns ``(idx, tx, ty, w)``: ``idx`` the flat index of the lower-left node on the
    ``(ny + 1) x (nx + 1)`` grid (padded by one node on the far sides, so the point at the
    last node is in range), ``tx``/``ty`` the offsets in [0, 1) and the weights of the
    points kept. Points outside the node range are dropped (callers pad the grid by the
    kernel support so that dropped points cannot reach the output).

    Examples
    --------
    The second point lies outside the 3 x 2 nodes and is dropped; the first sits half-way
    along the bottom-left cell, a quarter of the way up, of row 0 (the grid is 4 wide):

    >>> idx, tx, ty, w = node_offsets(np.array([1.5, 9.0]), np.array([0.25, 0.0]), None,
    ...                               0.0, 0.0, 1.0, 3, 2)
    >>> idx.tolist(), tx.tolist(), ty.tolist()
    ([1], [0.5], [0.25])
    """
    inv = 1.0 / cell
    fx = np.subtract(x, gx0)
    fx *= inv
    fy = np.subtract(y, gy0)
    fy *= inv
    # cheap range checks first; build a mask only if some point is outside
    if len(fx) and (fx.min() < 0 or fy.min() < 0 or fx.max() > nx - 1 or fy.max() > ny - 1):
        keep = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
        fx, fy = fx[keep], fy[keep]
        if w is not None:
            w = w[keep]
    idx = fy.astype(np.intp)
    fy -= idx  # fy is now ty, the fractional offset
    j0 = fx.astype(np.intp)
    fx -= j0  # fx is now tx
    idx *= nx + 1
    idx += j0
    return idx, fx, fy, w


def node_sums(
    idx: np.ndarray, tx: np.ndarray, ty: np.ndarray, w: np.ndarray | None, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per node: ``c = sum w``, ``sx = sum w tx``, ``sy = sum w ty``, ``sxy = sum w tx ty``.

    ``idx`` indexes ``size`` nodes (the grid's, or a partition's occupied ones); ``tx`` is
    overwritten. One product pass instead of four bilinear sums.
    """
    if w is None:
        c = np.bincount(idx, minlength=size).astype(float)
        txy = tx * ty
    else:
        c = np.bincount(idx, w, minlength=size)
        tx *= w
        txy = tx * ty
    sx = np.bincount(idx, tx, minlength=size)
    sy = np.bincount(idx, ty if w is None else ty * w, minlength=size)
    sxy = np.bincount(idx, txy, minlength=size)
    return c, sx, sy, sxy


def combine_node_sums(
    c: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxy: np.ndarray, nx: int, ny: int
) -> np.ndarray:
    """The ``(ny, nx)`` binned grid from the lower-left node sums of :func:`node_sums`.

    The four bilinear shares of a point are ``c - sx - sy + sxy`` (lower left),
    ``sx - sxy`` (lower right), ``sy - sxy`` (upper left) and ``sxy`` (upper right), all
    accumulated on the lower-left node and then shifted into place. ``sx`` and ``sy`` are
    overwritten.
    """
    mx, my = nx + 1, ny + 1
    out = c - sx - sy + sxy  # lower-left node
    sx -= sxy  # lower-right
    sy -= sxy  # upper-left
    out[1:] += sx[:-1]
    out[mx:] += sy[:-mx]
    out[mx + 1:] += sxy[: -(mx + 1)]
    return out.reshape(my, mx)[:ny, :nx].copy()


def merge_node_sums(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Add two sparse sets of node sums ``(nodes, c, sx, sy, sxy)`` (nodes unique in each).

    Returns the same form over the union of the nodes (sorted); a node in both gets
    ``a``'s sum plus ``b``'s.

    Examples
    --------
    >>> a = (np.array([2, 5]), *[np.array([1.0, 2.0])] * 4)
    >>> b = (np.array([5, 7]), *[np.array([0.5, 3.0])] * 4)
    >>> nodes, c, *_ = merge_node_sums(a, b)
    >>> nodes.tolist(), c.tolist()
    ([2, 5, 7], [1.0, 2.5, 3.0])
    """
    if len(a[0]) == 0:
        return b
    if len(b[0]) == 0:
        return a
    nodes, inv = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    sums = [np.bincount(inv, np.concatenate([va, vb]), minlength=len(nodes))
            for va, vb in zip(a[1:], b[1:], strict=True)]
    return (nodes, *sums)


def combine_sparse_node_sums(
    nodes: np.ndarray, c: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxy: np.ndarray,
    nx: int, ny: int,
) -> np.ndarray:
    """:func:`combine_node_sums` from the sums at the occupied ``nodes`` only.

    The same four shares, added onto one dense grid in the same order (lower left,
    right, up, diagonal), so the result equals :func:`combine_node_sums` of the dense
    sums bit for bit; only the ``(ny + 1) x (nx + 1)`` output is dense.

    Examples
    --------
    >>> one = np.array([1.0])
    >>> combine_sparse_node_sums(np.array([0]), one, 0.5 * one, 0 * one, 0 * one, 3, 2)
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 0. ]])
    """
    mx, my = nx + 1, ny + 1
    out = np.zeros(mx * my)
    out[nodes] = c - sx - sy + sxy  # lower-left node
    out[nodes + 1] += sx - sxy  # lower-right
    out[nodes + mx] += sy - sxy  # upper-left
    out[nodes + mx + 1] += sxy
    return out.reshape(my, mx)[:ny, :nx].copy()


def sparse_bin(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, gx0: float, gy0: float,
               cell: float, nx: int, ny: int) -> tuple[np.ndarray, ...]:
    """The four per-node sums of :func:`linear_bin`, sparse.

    Returns ``(nodes, c, sx, sy, sxy)``: the occupied lower-left nodes (flat indices of
    the ``(ny + 1) x (nx + 1)`` grid ``linear_bin`` accumulates on) and, per node, the
    sums of ``w``, ``w tx``, ``w ty`` and ``w tx ty``, computed with the same operations
    in the same order as ``linear_bin`` (so one partition gives its exact numbers).
    A partition sends ``5 x`` its occupied nodes instead of the whole grid.

    Examples
    --------
    >>> nodes, c, sx, sy, sxy = sparse_bin(np.array([0.5, 0.5]), np.array([0.0, 0.0]), None,
    ...                                    0.0, 0.0, 1.0, 3, 2)
    >>> nodes.tolist(), c.tolist(), sx.tolist(), sy.tolist()
    ([0], [2.0], [1.0], [0.0])
    """
    idx, tx, ty, w = node_offsets(x, y, w, gx0, gy0, cell, nx, ny)
    nodes, local = np.unique(idx, return_inverse=True)
    c, sx, sy, sxy = node_sums(local, tx, ty, w, len(nodes))
    return nodes, c, sx, sy, sxy


def dense_bins(parts: Sequence[tuple[np.ndarray, ...]], nx: int, ny: int) -> np.ndarray:
    """The ``(ny, nx)`` linearly binned grid from the :func:`sparse_bin` of every partition.

    The partitions' sums are added node by node (in partition order), then combined into
    the four bilinear shares as :func:`linear_bin` does.
    """
    sums = [np.zeros((nx + 1) * (ny + 1)) for _ in range(4)]
    for nodes, *values in parts:
        for total, value in zip(sums, values, strict=True):
            total[nodes] += value  # nodes are unique within a partition (np.unique)
    c, sx, sy, sxy = sums
    return combine_node_sums(c, sx, sy, sxy, nx, ny)


def linear_bin(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    gx0: float,
    gy0: float,
    cell: float,
    nx: int,
    ny: int,
) -> np.ndarray:
    """Linear binning onto nodes ``(gx0 + j*cell, gy0 + i*cell)``; returns ``(ny, nx)``.

    Each point's weight is split over the four nodes around it with the bilinear
    weights (:func:`node_offsets`, :func:`node_sums`, :func:`combine_node_sums`); points
    outside the node range are dropped.
    """
    idx, tx, ty, w = node_offsets(x, y, w, gx0, gy0, cell, nx, ny)
    sums = node_sums(idx, tx, ty, w, (nx + 1) * (ny + 1))
    return combine_node_sums(*sums, nx, ny)


def convolve_binned(binned: np.ndarray, *, cell: float, hk: float, half: int, nx: int,
                    ny: int, kernel: str) -> np.ndarray:
    """The kernel sums at the ``(ny, nx)`` cell centres from a binned grid padded by ``half``.

    ``binned`` is ``(ny + 2 half, nx + 2 half)``. Two 1-D passes for a short Gaussian
    kernel (it is separable), else an FFT (``scipy.signal.fftconvolve``, ``valid`` part).
    """
    from scipy import ndimage
    from scipy.signal import fftconvolve

    if kernel == "gaussian" and 2 * half + 1 <= SEPARABLE_MAX_TAPS:
        g = np.exp(-0.5 * (np.arange(-half, half + 1) * cell / hk) ** 2)
        out = ndimage.convolve1d(binned, g, axis=0, mode="constant")[half:half + ny]
        out = ndimage.convolve1d(out, g, axis=1, mode="constant")[:, half:half + nx]
        out *= 1.0 / (float(g.sum()) * cell) ** 2  # = kernel_norm / (2 pi hk^2)
    else:
        out = fftconvolve(binned, kernel_grid(kernel, hk, cell), mode="valid")
    np.maximum(out, 0.0, out=out)  # FFT round-off leaves tiny negatives
    return out


def binned_density(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    *,
    x0: float,
    y0: float,
    cell: float,
    nx: int,
    ny: int,
    h: float,
    kernel: str,
    interpolated: bool = False,
) -> np.ndarray:
    """Sum of kernel weights at the centres of an ``ny x nx`` grid (1/m^2 times weight).

    The grid's lower-left corner is ``(x0, y0)``; cell centres are at
    ``x0 + (j + 0.5) * cell``. The kernel's scale is corrected for the smoothing
    that linear binning adds (:func:`binning_corrected_scale`). Points up to the kernel support outside the grid
    still contribute: they are binned onto a grid padded by the kernel half-width,
    and the convolution keeps only the ``valid`` part. The convolution is two 1-D
    passes for a short Gaussian kernel, else an FFT (``scipy.signal.fftconvolve``).
    """
    hk = binning_corrected_scale(kernel, h, cell, interpolated)
    half = int(np.ceil(kernel_support(kernel, hk) / cell))
    gx0 = x0 + 0.5 * cell - half * cell
    gy0 = y0 + 0.5 * cell - half * cell
    binned = linear_bin(x, y, w, gx0, gy0, cell, nx + 2 * half, ny + 2 * half)
    return convolve_binned(binned, cell=cell, hk=hk, half=half, nx=nx, ny=ny, kernel=kernel)


def bilinear(values: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of node values at fractional node coordinates.

    Coordinates are clamped to the node range (callers mask points outside the grid).
    """
    ny, nx = values.shape
    fx = np.clip(fx, 0.0, nx - 1)
    fy = np.clip(fy, 0.0, ny - 1)
    j0 = np.minimum(fx.astype(np.intp), max(nx - 2, 0))
    i0 = np.minimum(fy.astype(np.intp), max(ny - 2, 0))
    tx = fx - j0
    ty = fy - i0
    j1 = np.minimum(j0 + 1, nx - 1)
    i1 = np.minimum(i0 + 1, ny - 1)
    return (
        values[i0, j0] * (1 - tx) * (1 - ty)
        + values[i0, j1] * tx * (1 - ty)
        + values[i1, j0] * (1 - tx) * ty
        + values[i1, j1] * tx * ty
    )


# ----------------------------------------------------------------------------- bandwidths


def weighted_spread(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple[float, float, float]:
    """Return ``(sd, robust_sd, n_eff)``: pooled per-axis standard deviation, the robust
    spread ``min(sd, IQR / 1.349)`` (IQR pooled over both axes) and Kish's effective
    number of points ``(sum w)^2 / sum w^2``."""
    if w is None:
        n_eff = float(len(x))
        var = 0.5 * (np.var(x) + np.var(y))
        iqr = 0.5 * (np.subtract(*np.percentile(x, [75, 25])) + np.subtract(*np.percentile(y, [75, 25])))
    else:
        tot = w.sum()
        n_eff = float(tot**2 / np.sum(w**2))
        mx, my = np.dot(w, x) / tot, np.dot(w, y) / tot
        var = 0.5 * (np.dot(w, (x - mx) ** 2) + np.dot(w, (y - my) ** 2)) / tot
        iqr = 0.5 * (_weighted_iqr(x, w) + _weighted_iqr(y, w))
    sd = float(np.sqrt(var))
    robust = min(sd, iqr / 1.349) if iqr > 0 else sd
    return sd, float(robust), n_eff


def _weighted_iqr(v: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(v)
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    q1, q3 = np.interp([0.25, 0.75], cw, v[order])
    return float(q3 - q1)


def rule_bandwidth(rule: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
    """Scott's or Silverman's rule for an isotropic 2-D Gaussian kernel (metres).

    In two dimensions both multivariate rules reduce to ``sigma * n**(-1/6)``
    (Scott 1992, Silverman 1986 eq. 4.14 with d = 2); they differ here in the spread:
    ``"scott"`` uses the pooled standard deviation, ``"silverman"`` the robust spread
    ``min(sd, IQR / 1.349)``, which is smaller for clustered data.
    """
    sd, robust, n_eff = weighted_spread(x, y, w)
    sigma = sd if rule == "scott" else robust
    return float(sigma * n_eff ** (-1.0 / 6.0))


def lcv_score(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    h: float,
    log_w_nn: np.ndarray,
    d_nn: np.ndarray,
    max_cells: int = 1024,
) -> float:
    """Leave-one-out log likelihood ``sum_i w_i log f_{-i}(x_i) / sum w`` (Gaussian kernel).

    ``f`` is the binned estimate interpolated bilinearly at each point; the point's own
    contribution through binning, convolution and interpolation is removed exactly
    (the Gaussian is separable, so it has a closed form in the bilinear weights).
    A point with no other point within the kernel truncation gets the contribution of
    its nearest neighbour instead (weight ``exp(log_w_nn)`` at distance ``d_nn``),
    so isolated points score finitely.
    """
    support = TRUNCATE * h
    xmin, xmax = x.min() - support, x.max() + support
    ymin, ymax = y.min() - support, y.max() + support
    cell = max(h / 4.0, max(xmax - xmin, ymax - ymin) / max_cells)
    nx = int(np.ceil((xmax - xmin) / cell))
    ny = int(np.ceil((ymax - ymin) / cell))
    dens = binned_density(x, y, w, x0=xmin, y0=ymin, cell=cell, nx=nx, ny=ny, h=h, kernel="gaussian")
    fx = (x - xmin) / cell - 0.5
    fy = (y - ymin) / cell - 0.5
    total = bilinear(dens, fx, fy)
    # self contribution: sum_ab l_a l_b K(g_a - g_b), separable in x and y
    tx = fx - np.floor(fx)
    ty = fy - np.floor(fy)
    hg = binning_corrected_scale("gaussian", h, cell)  # the scale binned_density used
    g1 = np.exp(-0.5 * (cell / hg) ** 2)
    sx = (1 - tx) ** 2 + tx**2 + 2 * g1 * tx * (1 - tx)
    sy = (1 - ty) ** 2 + ty**2 + 2 * g1 * ty * (1 - ty)
    own = w * sx * sy / (2 * np.pi * hg * hg) * kernel_norm("gaussian", hg, cell)
    tot_w = w.sum()
    rest = tot_w - w
    loo = np.maximum(total - own, 0.0) / rest
    with np.errstate(divide="ignore"):
        log_binned = np.log(loo)
    log_nn = log_w_nn - 0.5 * (d_nn / h) ** 2 - np.log(2 * np.pi * h * h) - np.log(rest)
    return float(np.dot(w, np.maximum(log_binned, log_nn)) / tot_w)


def lcv_bandwidth(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, h_ref: float, max_cells: int = 2048
) -> tuple[float, bool]:
    """Gaussian bandwidth maximising the leave-one-out likelihood (metres).

    Searches 13 log-spaced values from ``h_ref / 30`` to ``3 h_ref`` (never below 1.5
    cells of the coarsest grid the search can afford), then refines around the best
    by a bounded scalar search. Returns ``(h, at_bound)``.
    """
    from scipy.optimize import minimize_scalar
    from scipy.spatial import cKDTree

    w = np.ones(len(x)) if w is None else w
    tree = cKDTree(np.column_stack([x, y]))
    dist, idx = tree.query(np.column_stack([x, y]), k=2)
    d_nn, j_nn = dist[:, 1], idx[:, 1]
    w_nn = w[j_nn]
    with np.errstate(divide="ignore"):
        log_w_nn = np.log(w_nn)

    span = max(np.ptp(x), np.ptp(y))
    # keep h >= 1.5 cells of the grid lcv_score can afford (cell = (span + 10 h) / max_cells)
    lo = max(h_ref / 30.0, 1.5 * span / (max_cells - 15))

    def score(h: float) -> float:
        return lcv_score(x, y, w, h, log_w_nn, d_nn, max_cells)

    hi = 3.0 * h_ref
    if lo >= hi:
        return hi, True
    grid = np.geomspace(lo, hi, 13)
    scores = np.array([score(h) for h in grid])
    best = int(np.argmax(scores))
    a = np.log(grid[max(best - 1, 0)])
    b = np.log(grid[min(best + 1, len(grid) - 1)])
    res = minimize_scalar(lambda t: -score(np.exp(t)), bounds=(a, b), method="bounded",
                          options={"xatol": 2e-3})
    h = float(np.exp(res.x)) if -res.fun >= scores[best] else float(grid[best])
    return h, best in (0, len(grid) - 1)


def binned_self_weight(kernel: str, h: float, cell: float, tx: np.ndarray,
                       ty: np.ndarray, interpolated: bool = False) -> np.ndarray:
    """A point's own contribution to the binned estimate interpolated back at the point.

    Linear binning puts bilinear weights ``l_a`` on the four nodes around the point,
    the convolution spreads them with the grid kernel ``K``, and bilinear interpolation
    at the point reads the same four nodes, so the point sees itself with
    ``sum_ab l_a l_b K(g_a - g_b)``; the offsets between the four nodes are 0, one
    cell (edges) and a diagonal. ``tx``, ``ty`` are the fractional offsets in the
    cell. Returns the value per unit weight (1/m^2).
    """
    hg = binning_corrected_scale(kernel, h, cell, interpolated)
    k0, k1, k2 = kernel_values(kernel, np.array([0.0, cell * cell, 2 * cell * cell]), hg)
    norm = kernel_norm(kernel, hg, cell)  # as in binned_density
    k0, k1, k2 = k0 * norm, k1 * norm, k2 * norm
    p0, p1 = 1.0 - tx, tx
    q0, q1 = 1.0 - ty, ty
    l00, l10, l01, l11 = p0 * q0, p1 * q0, p0 * q1, p1 * q1
    same = l00**2 + l10**2 + l01**2 + l11**2
    edge = 2.0 * (l00 * l10 + l00 * l01 + l10 * l11 + l01 * l11)
    diag = 2.0 * (l00 * l11 + l10 * l01)
    return k0 * same + k1 * edge + k2 * diag


def leave_one_out_density(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, h: float, kernel: str, *,
    max_pairs: int = 20_000_000, max_side: int = 4000,
) -> tuple[np.ndarray, str]:
    """``sum_{j != i} w_j K(x_i - x_j)`` at every point (weight per m^2).

    Exact (pairs within the kernel support from a KD-tree) unless there are more than
    ``max_pairs`` such pairs; then binned (cell = an eighth of the kernel's standard
    deviation, at most ``max_side`` cells a side, the kernel corrected for binning and
    interpolation), interpolated at the points, minus each point's own binned
    contribution. Returns ``(values, "exact" | "binned")``.
    """
    from scipy.spatial import cKDTree

    support = kernel_support(kernel, h)
    xy = np.column_stack([x, y])
    tree = cKDTree(xy)
    n_pairs = (tree.count_neighbors(tree, support) - len(x)) // 2
    if n_pairs <= max_pairs:
        pairs = tree.query_pairs(support, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        d2 = np.sum((xy[i] - xy[j]) ** 2, axis=1)
        k = kernel_values(kernel, d2, h)
        out = np.bincount(i, w[j] * k, minlength=len(x)) + np.bincount(j, w[i] * k, minlength=len(x))
        return out, "exact"
    pad = support
    xmin, ymin = x.min() - pad, y.min() - pad
    span = max(x.max() - x.min(), y.max() - y.min()) + 2 * pad
    cell = max(h / EQUIVALENT_RADIUS[kernel] / 8.0, span / max_side)
    nx = int(np.ceil((x.max() + pad - xmin) / cell))
    ny = int(np.ceil((y.max() + pad - ymin) / cell))
    dens = binned_density(x, y, w, x0=xmin, y0=ymin, cell=cell, nx=nx, ny=ny, h=h,
                          kernel=kernel, interpolated=True)
    fx = (x - xmin) / cell - 0.5
    fy = (y - ymin) / cell - 0.5
    total = bilinear(dens, fx, fy)
    own = w * binned_self_weight(kernel, h, cell, fx - np.floor(fx), fy - np.floor(fy),
                                 interpolated=True)
    return np.maximum(total - own, 0.0), "binned"
