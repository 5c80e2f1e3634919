"""The dask side of :func:`geocluster.kde` and :func:`geocluster.density_clusters`.

A ``dask_geopandas.GeoDataFrame`` of points is never collected: each partition is read
(validated and projected to the one metric CRS) on its worker, and only small results
come back: counts, bounds and moments (:func:`summarize`), one linearly binned grid per
partition, summed (:func:`binned_surface`), or whatever a per-partition function returns
(:func:`map_points`). The work runs on the active ``dask.distributed.Client`` when there
is one (dask's default scheduler otherwise); nothing is started here.

Why the numbers match the in-memory path: every point is projected, validated and binned
by the same code as in memory; bounds, counts and the grid are exact (minima, maxima and
integer counts do not depend on the order of summation). What differs is only the order
in which floating-point sums are added: the in-memory ``np.bincount`` adds the points of
a node one after another, here each partition adds its own and the partition grids are
added afterwards. Each binned node therefore differs by a few units in the last place of
the largest values summed into it, and the surface (a linear function of the grid) by
about ``1e-15`` of its peak. The moments behind ``bandwidth="scott"`` are combined across
partitions with Chan's pairwise update; the bandwidth differs from ``np.var``'s by a few
units in the 16th digit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely

from geocluster._base.engine import dask_progress, is_dask_frame, require_dask
from geocluster._base.optional import import_optional
from geocluster._base.validate import check_weight_column, read_points, subset_mask
from geocluster.clusters import _kde
from geocluster.errors import CRSError, InputError
from geocluster.units import is_metric, metric_crs, target_metric_crs

__all__ = [
    "DaskPoints",
    "summarize",
    "map_points",
    "binned_surface",
    "sparse_bin",
    "dense_bins",
    "gather_weights",
    "quartile_spread",
    "convex_hull",
    "refuse_option",
]


@dataclass(frozen=True)
class DaskPoints:
    """What one pass over a dask frame of points found: CRS, size, extent and moments.

    Attributes
    ----------
    crs
        The metric CRS every partition is projected to.
    n
        Number of points (after ``subset``).
    total_weight
        Sum of the weights (``n`` when unweighted).
    sum_w2
        Sum of the squared weights (``n`` when unweighted), for Kish's effective size.
    bounds
        ``(xmin, ymin, xmax, ymax)`` in metres of ``crs`` (exact).
    mean
        Weighted mean of x and of y.
    m2
        Weighted sums of squared deviations from the mean, of x and of y.
    weighted
        Whether a weight column was given.
    """

    crs: pyproj.CRS
    n: int
    total_weight: float
    sum_w2: float
    bounds: tuple[float, float, float, float]
    mean: tuple[float, float]
    m2: tuple[float, float]
    weighted: bool

    def __repr__(self) -> str:
        return (f"<DaskPoints of {self.n:,} points in {self.crs.name}, "
                f"total weight {self.total_weight:,.6g}>")

    @property
    def diagonal(self) -> float:
        """Diagonal of the points' extent (metres)."""
        xmin, ymin, xmax, ymax = self.bounds
        return float(np.hypot(xmax - xmin, ymax - ymin))

    def scott_sigma(self) -> float:
        """The pooled per-axis standard deviation and the ``n_eff**(-1/6)`` of Scott's rule.

        Returns ``sigma * n_eff**(-1/6)``, as :func:`geocluster.clusters._kde.rule_bandwidth`
        with ``"scott"`` on all points.
        """
        return self.rule_sigma(None)

    def rule_sigma(self, iqr: float | None) -> float:
        """Scott's rule (``iqr`` None) or Silverman's with the pooled ``iqr``
        (:func:`quartile_spread`): as :func:`geocluster.clusters._kde.rule_bandwidth`."""
        var = 0.5 * (self.m2[0] + self.m2[1]) / self.total_weight
        n_eff = float(self.n) if not self.weighted else self.total_weight**2 / self.sum_w2
        sd = float(np.sqrt(var))
        sigma = sd if iqr is None else (min(sd, iqr / 1.349) if iqr > 0 else sd)
        return float(sigma * n_eff ** (-1.0 / 6.0))


def _dask(purpose: str):
    require_dask(purpose)
    return import_optional("dask", "dask", purpose)


def refuse_option(where: str, name: str, value, why: str) -> None:
    """Raise :class:`InputError`: option ``name=value`` is not available for dask frames."""
    raise InputError(
        f"{where}: {name}={value!r} is not available for a dask GeoDataFrame: {why}"
    )


def _compute(tasks: Sequence, label: str) -> list:
    dask = _dask(label)
    if not tasks:
        return []
    dask_progress(tasks, label=label)
    return list(dask.compute(*tasks))


def _target_crs(points, crs, where: str) -> pyproj.CRS:
    """The metric CRS: ``crs``, the frame's own if metric, else the automatic choice.

    The automatic choice (:func:`geocluster.units.auto_metric_crs`) depends on quantiles
    of all longitudes and latitudes, so for it the coordinates (16 bytes a point) are
    collected once; name ``crs=`` to avoid that pass.
    """
    if points.crs is None:
        raise CRSError(
            f"{where}: points has no CRS, so distances cannot be measured. Set the CRS the "
            "coordinates are in, e.g. frame.set_crs('EPSG:4326') for longitude/latitude."
        )
    if crs is not None:
        return metric_crs(crs)
    src = pyproj.CRS.from_user_input(points.crs)
    if is_metric(src):
        return src
    dask = _dask(where)
    parts = points.geometry.to_delayed()
    xy = _compute([dask.delayed(_coords)(p) for p in parts], f"{where}: metric CRS")
    x = np.concatenate([a for a, _ in xy]) if xy else np.empty(0)
    y = np.concatenate([b for _, b in xy]) if xy else np.empty(0)
    return target_metric_crs(src, x, y, None)


def _coords(geoms) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(geoms.values)
    return shapely.get_x(values), shapely.get_y(values)


def read_partition(part, *, where: str, weight: str | None, crs: pyproj.CRS, subset=None):
    """One partition's points: ``(x, y, w)`` in metres of ``crs``, validated as in memory.

    Weights are checked per partition (numeric, finite, >= 0); that they do not all sum to
    zero is checked once over all partitions. ``subset`` is a query string or a
    ``(column, value)`` pair applied to the partition.
    """
    if len(part) == 0:
        return np.empty(0), np.empty(0), None if weight is None else np.empty(0)
    pts = read_points(part, where=where, crs=crs)
    w = None if weight is None else check_weight_column(part, weight, where=where)
    x, y = pts.x, pts.y
    if subset is not None:
        mask = _partition_mask(part, subset, where)
        x, y = x[mask], y[mask]
        w = None if w is None else w[mask]
    return x, y, w


def _partition_mask(part, subset, where: str) -> np.ndarray:
    """:func:`subset_mask` of one partition, where selecting no row is allowed (the
    subset selects nothing only if no partition selects a row: :func:`summarize`)."""
    try:
        mask = subset_mask(part, subset, where=where)
    except InputError:
        if _selects_nothing(part, subset):
            return np.zeros(len(part), dtype=bool)
        raise
    return np.ones(len(part), dtype=bool) if mask is None else mask


def _selects_nothing(part, subset) -> bool:
    try:
        if isinstance(subset, tuple):
            return not bool((part[subset[0]] == subset[1]).any())
        if subset in part.columns:
            return not bool(part[subset].any())
        return not bool(part.eval(subset).any())
    except Exception:  # an invalid subset: let subset_mask's own error stand
        return False


def _moments(part, where, weight, crs, subset) -> tuple:
    x, y, w = read_partition(part, where=where, weight=weight, crs=crs, subset=subset)
    n = len(x)
    if n == 0:
        return (0, 0.0, 0.0, None, (0.0, 0.0), (0.0, 0.0))
    bounds = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    if w is None:
        mx, my = float(np.mean(x)), float(np.mean(y))
        m2 = (float(np.var(x) * n), float(np.var(y) * n))
        return (n, float(n), float(n), bounds, (mx, my), m2)
    tot = float(w.sum())
    if tot <= 0:
        return (n, 0.0, 0.0, bounds, (0.0, 0.0), (0.0, 0.0))
    mx, my = float(np.dot(w, x) / tot), float(np.dot(w, y) / tot)
    m2 = (float(np.dot(w, (x - mx) ** 2)), float(np.dot(w, (y - my) ** 2)))
    return (n, tot, float(np.dot(w, w)), bounds, (mx, my), m2)


def _combine(a: tuple, b: tuple) -> tuple:
    """Chan et al.'s pairwise update of (n, sum w, sum w^2, bounds, mean, m2)."""
    if a[0] == 0:
        return b
    if b[0] == 0:
        return a
    n = a[0] + b[0]
    wa, wb = a[1], b[1]
    tot = wa + wb
    ba, bb = a[3], b[3]
    bounds = (min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3]))
    if tot <= 0:
        return (n, 0.0, 0.0, bounds, (0.0, 0.0), (0.0, 0.0))
    mean, m2 = [], []
    for k in (0, 1):
        delta = b[4][k] - a[4][k]
        mean.append(a[4][k] + delta * wb / tot)
        m2.append(a[5][k] + b[5][k] + delta * delta * wa * wb / tot)
    return (n, tot, a[2] + b[2], bounds, tuple(mean), tuple(m2))


def _check_frame(points, where: str) -> None:
    if not is_dask_frame(points):
        raise InputError(f"{where}: expected a dask GeoDataFrame, got {type(points).__name__}.")
    if not hasattr(points, "crs") or not hasattr(points, "geometry"):
        raise InputError(
            f"{where}: points must be a dask_geopandas.GeoDataFrame of points, got a dask "
            f"{type(points).__name__} without geometry; build one with "
            "dask_geopandas.from_dask_dataframe(frame, geometry=...) or "
            "geocluster.read_firms(path, engine='dask')."
        )


def summarize(points, *, where: str, weight: str | None = None, crs=None,
              subset=None) -> DaskPoints:
    """One pass over a dask frame of points: validation, CRS, count, bounds and moments.

    Parameters
    ----------
    points
        A ``dask_geopandas.GeoDataFrame`` of points with a CRS.
    where
        The calling function, for the messages.
    weight
        A numeric column of non-negative weights, or None.
    crs
        The metric CRS to work in (default: the frame's if metric, else automatic).
    subset
        A query string or ``(column, value)`` pair selecting points, or None.

    Returns
    -------
    DaskPoints

    Examples
    --------
    >>> import dask_geopandas, geopandas as gpd
    >>> gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 10, 20], [0, 0, 5]), crs=3857)
    >>> summarize(dask_geopandas.from_geopandas(gdf, npartitions=2), where="example").bounds
    (0.0, 0.0, 20.0, 5.0)
    """
    _check_frame(points, where)
    if isinstance(subset, np.ndarray | list) or hasattr(subset, "dtype"):
        refuse_option(where, "subset", "<mask>", "give a query string or a (column, value) "
                      "pair, which each partition applies to itself.")
    if weight is not None and weight not in points.columns:
        raise InputError(
            f"{where}: weight={weight!r} is not a column of points; columns are "
            f"{[c for c in points.columns if c != 'geometry'][:20]}."
        )
    target = _target_crs(points, crs, where)
    dask = _dask(where)
    tasks = [dask.delayed(_moments)(p, where, weight, target, subset)
             for p in points.to_delayed()]
    acc: tuple = (0, 0.0, 0.0, None, (0.0, 0.0), (0.0, 0.0))
    for part in _compute(tasks, f"{where}: reading points"):
        acc = _combine(acc, part)
    n, tot, w2, bounds, mean, m2 = acc
    if n == 0:
        if subset is not None:
            raise InputError(f"{where}: subset={subset!r} selects no points.")
        raise InputError(f"{where}: points is empty: there is nothing to analyse.")
    if weight is not None and not tot > 0:
        raise InputError(f"{where}: weight column {weight!r} sums to zero: there is nothing "
                         "to measure.")
    return DaskPoints(crs=target, n=int(n), total_weight=float(tot), sum_w2=float(w2),
                      bounds=bounds, mean=mean, m2=m2, weighted=weight is not None)


def _apply(part, func, args, where, weight, crs, subset):
    x, y, w = read_partition(part, where=where, weight=weight, crs=crs, subset=subset)
    return func(x, y, w, *args)


def map_points(points, info: DaskPoints, func: Callable[..., Any], *args, where: str,
               weight: str | None = None, subset=None, label: str = "") -> list:
    """``func(x, y, w, *args)`` on every partition's points; the results in partition order.

    ``func`` must be a module-level function (it is sent to the workers); ``args`` are
    sent once each (wrap large ones with ``dask.delayed`` first).
    """
    dask = _dask(where)
    tasks = [dask.delayed(_apply)(p, func, args, where, weight, info.crs, subset)
             for p in points.to_delayed()]
    return _compute(tasks, label or where)


def sparse_bin(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, gx0: float, gy0: float,
               cell: float, nx: int, ny: int) -> tuple[np.ndarray, ...]:
    """The four per-node sums of :func:`geocluster.clusters._kde.linear_bin`, sparse.

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
    idx, tx, ty, w = _kde.node_offsets(x, y, w, gx0, gy0, cell, nx, ny)
    nodes, local = np.unique(idx, return_inverse=True)
    c, sx, sy, sxy = _kde.node_sums(local, tx, ty, w, len(nodes))
    return nodes, c, sx, sy, sxy


def dense_bins(parts: Sequence[tuple[np.ndarray, ...]], nx: int, ny: int) -> np.ndarray:
    """The ``(ny, nx)`` linearly binned grid from the :func:`sparse_bin` of every partition.

    The partitions' sums are added node by node (in partition order), then combined into
    the four bilinear shares as :func:`geocluster.clusters._kde.linear_bin` does.
    """
    sums = [np.zeros((nx + 1) * (ny + 1)) for _ in range(4)]
    for nodes, *values in parts:
        for total, value in zip(sums, values, strict=True):
            total[nodes] += value  # nodes are unique within a partition (np.unique)
    c, sx, sy, sxy = sums
    return _kde.combine_node_sums(c, sx, sy, sxy, nx, ny)


def binning_layout(grid, h: float, kernel: str) -> tuple[float, float, float, int, int, int]:
    """``(gx0, gy0, hk, half, nx + 2 half, ny + 2 half)``: the padded node grid of
    :func:`geocluster.clusters._kde.binned_density` for ``grid = (x0, y0, cell, nx, ny)``."""
    x0, y0, cell, nx, ny = grid
    hk = _kde.binning_corrected_scale(kernel, h, cell)
    half = int(np.ceil(_kde.kernel_support(kernel, hk) / cell))
    return (x0 + 0.5 * cell - half * cell, y0 + 0.5 * cell - half * cell, hk, half,
            nx + 2 * half, ny + 2 * half)


def binned_surface(points, info: DaskPoints, grid, h: float, kernel: str, *, where: str,
                   weight: str | None = None, subset=None) -> np.ndarray:
    """The binned KDE (weight per m^2) of a dask frame on ``grid``, as ``binned_density``.

    Each partition is linearly binned onto the one padded grid and sends its occupied
    nodes (:func:`sparse_bin`); their sums are added here (:func:`dense_bins`) and
    convolved once.
    """
    dask = _dask(where)
    gx0, gy0, hk, half, nxp, nyp = binning_layout(grid, h, kernel)
    cell, nx, ny = grid[2], grid[3], grid[4]
    tasks = [dask.delayed(_apply)(p, sparse_bin, (gx0, gy0, cell, nxp, nyp), where, weight,
                                  info.crs, subset)
             for p in points.to_delayed()]
    binned = dense_bins(_compute(tasks, f"{where}: binning"), nxp, nyp)
    return _kde.convolve_binned(binned, cell=cell, hk=hk, half=half, nx=nx, ny=ny, kernel=kernel)


#: Bins of the histogram pass that brackets the quartiles (:func:`quartile_spread`).
QUARTILE_BINS = 4096


def _quartile_ranks(n: int) -> list[tuple[int, int, float]]:
    """``(k, k + 1, gamma)`` of numpy's linear percentile at 75 and 25 for ``n`` values."""
    out = []
    for q in (0.75, 0.25):
        virtual = (n - 1) * q
        k = int(np.floor(virtual))
        out.append((k, min(k + 1, n - 1), virtual - k))
    return out


def _bins_of(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    edges = np.linspace(lo, hi, QUARTILE_BINS + 1)
    return np.clip(np.searchsorted(edges, v, side="right") - 1, 0, QUARTILE_BINS - 1)


def _histograms(x, y, w, bounds):
    return (np.bincount(_bins_of(x, bounds[0], bounds[2]), minlength=QUARTILE_BINS),
            np.bincount(_bins_of(y, bounds[1], bounds[3]), minlength=QUARTILE_BINS))


def _in_bins(x, y, w, bounds, keep_x, keep_y):
    return (x[np.isin(_bins_of(x, bounds[0], bounds[2]), keep_x)],
            y[np.isin(_bins_of(y, bounds[1], bounds[3]), keep_y)])


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation of percentiles (``numpy.percentile``, ``"linear"``)."""
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def quartile_spread(points, info: DaskPoints, *, where: str, subset=None) -> float:
    """``0.5 * (IQR(x) + IQR(y))`` of all points, exactly as ``numpy.percentile`` gives it.

    Two passes: a histogram of each axis (:data:`QUARTILE_BINS` bins over the exact
    extent) finds the bins holding the order statistics either side of each quartile;
    the second collects only the values in those bins, whose sorted ranks give them.
    """
    parts = map_points(points, info, _histograms, info.bounds, where=where, subset=subset,
                       label=f"{where}: quartiles")
    cums = [np.cumsum(sum(p[axis] for p in parts)) for axis in (0, 1)]
    ranks = _quartile_ranks(info.n)
    # per axis and quartile the bins [b(k), b(k + 1)]: consecutive ranks, so the values
    # in that range of bins are the ranks from (points in lower bins) on
    spans = [[(int(np.searchsorted(cum, k, side="right")),
               int(np.searchsorted(cum, k1, side="right"))) for k, k1, _ in ranks]
             for cum in cums]
    keep = [np.unique(np.concatenate([np.arange(a, b + 1) for a, b in axis]))
            for axis in spans]
    got = map_points(points, info, _in_bins, info.bounds, keep[0], keep[1], where=where,
                     subset=subset, label=f"{where}: quartiles")
    iqr = []
    for axis in (0, 1):
        values = np.concatenate([g[axis] for g in got])
        lo, hi = (info.bounds[0], info.bounds[2]) if axis == 0 else (info.bounds[1],
                                                                     info.bounds[3])
        bins = _bins_of(values, lo, hi)
        quartiles = []
        for (a, b), (k, k1, t) in zip(spans[axis], ranks, strict=True):
            span = np.sort(values[(bins >= a) & (bins <= b)])
            before = 0 if a == 0 else int(cums[axis][a - 1])
            quartiles.append(_lerp(span[k - before], span[k1 - before], t))
        iqr.append(quartiles[0] - quartiles[1])
    return 0.5 * (iqr[0] + iqr[1])


def _weights_of(x, y, w):
    return w


def gather_weights(points, info: DaskPoints, *, where: str, weight: str,
                   subset=None) -> np.ndarray:
    """The weights of all (subset) points in partition order (8 bytes a point)."""
    parts = map_points(points, info, _weights_of, where=where, weight=weight, subset=subset,
                       label=f"{where}: weights")
    return np.concatenate([p for p in parts if p is not None and len(p)])


def _hull_points(x, y, w):
    if len(x) == 0:
        return np.empty((0, 2))
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
    return shapely.get_coordinates(hull)


def convex_hull(points, info: DaskPoints, *, where: str) -> shapely.Geometry:
    """Convex hull of all points: the hull of the partitions' hull vertices."""
    parts = map_points(points, info, _hull_points, where=where, label=f"{where}: hull")
    xy = np.vstack([p for p in parts if len(p)])
    return shapely.convex_hull(shapely.multipoints(xy))
