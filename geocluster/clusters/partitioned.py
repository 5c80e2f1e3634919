"""The dask side of :func:`geocluster.kde` and :func:`geocluster.density_clusters`.

A ``dask_geopandas.GeoDataFrame`` of points is never collected. :func:`summarize` reads the
register ONCE (the geometry, weight and subset columns): each partition is validated and
projected to the one metric CRS on its worker, and its ``x, y, w`` (16-24 bytes a point)
stay there, persisted in the :class:`DaskPoints` it returns, for the later passes
(:func:`binned_surface`, :func:`map_points`, ...). Only small results come back: moments,
ONE sparse set of binned node sums (the partitions' summed pairwise on the workers), or what
a per-partition function returns. The work runs on the active ``dask.distributed.Client``
when there is one (dask's default scheduler otherwise).

Why the numbers match the in-memory path: every point is projected, validated and binned
by the same code as in memory; bounds, counts and the grid are exact. Only the order of
floating-point sums differs: in memory ``np.bincount`` adds the points of a node one after
another, here each partition adds its own and the partition sums are added pairwise. Each
binned node differs by a few units in the last place of the largest values summed into
it, the surface (linear in the grid) by about ``1e-15`` of its peak; one partition gives
the in-memory surface bit for bit. The moments behind ``bandwidth="scott"`` are combined
with Chan's pairwise update: the bandwidth differs from ``np.var``'s in the 16th digit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely

from geocluster._base.engine import dask_progress, is_dask_frame, require_dask
from geocluster._base.optional import import_optional
from geocluster._base.validate import check_weight_column, read_points, subset_mask
from geocluster.clusters import _kde
from geocluster.clusters._kde import dense_bins, sparse_bin
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
    "hull_candidates",
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
    parts
        The partitions' projected ``(x, y, w)`` (``w`` None unweighted) as persisted
        ``dask.delayed`` objects: what later passes read instead of the register.
    weight_column, subset
        The ``weight`` and ``subset`` that ``parts`` hold.
    """

    crs: pyproj.CRS
    n: int
    total_weight: float
    sum_w2: float
    bounds: tuple[float, float, float, float]
    mean: tuple[float, float]
    m2: tuple[float, float]
    weighted: bool
    parts: tuple = field(default=(), repr=False, compare=False)
    weight_column: str | None = field(default=None, repr=False, compare=False)
    subset: Any = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"<DaskPoints of {self.n:,} points in {self.crs.name}, "
                f"total weight {self.total_weight:,.6g}>")

    @property
    def diagonal(self) -> float:
        """Diagonal of the points' extent (metres)."""
        xmin, ymin, xmax, ymax = self.bounds
        return float(np.hypot(xmax - xmin, ymax - ymin))

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
    raise InputError(f"{where}: {name}={value!r} is not available for a dask GeoDataFrame: "
                     f"{why}")


def _compute(tasks: Sequence, label: str) -> list:
    dask = _dask(label)
    if not tasks:
        return []
    dask_progress(tasks, label=label)
    return list(dask.compute(*tasks))


#: The CRS the first pass declares geographic coordinates to be in, so that
#: :func:`read_points` validates them as they are (nothing is projected before the one
#: metric CRS is chosen from all of them).
AS_IS_CRS = pyproj.CRS.from_epsg(3857)


def partitions(points, weight: str | None = None, subset=None) -> list:
    """``points.to_delayed()`` of only the columns a pass needs: the geometry, ``weight``
    and a ``(column, value)`` or column-name ``subset`` (all columns for a query string)."""
    columns = [points.geometry.name] + ([] if weight is None else [weight])
    if isinstance(subset, tuple) and subset and subset[0] in points.columns:
        columns.append(subset[0])
    elif isinstance(subset, str) and subset in points.columns:
        columns.append(subset)
    elif subset is not None:  # a query string or a bad subset: whatever it names
        columns = list(points.columns)
    columns = list(dict.fromkeys(columns))
    if len(columns) < len(points.columns):
        points = points[columns]
    return points.to_delayed()


def _frozen(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple:
    """Read-only views (the caller's weights stay writeable) of a partition's kept arrays."""
    x, y, w = x.view(), y.view(), None if w is None else w.view()
    for a in (x, y) if w is None else (x, y, w):
        a.flags.writeable = False
    return x, y, w


def _read_source(part, where: str, weight: str | None, subset) -> tuple:
    """``(x, y, w, index, mask)`` in the points' own CRS, validated as :func:`read_points`
    does (the subset ``mask`` is applied after the projection, as in memory)."""
    if len(part) == 0:
        return np.empty(0), np.empty(0), None if weight is None else np.empty(0), None, None
    pts = read_points(part.geometry.set_crs(AS_IS_CRS, allow_override=True), where=where)
    w = None if weight is None else check_weight_column(part, weight, where=where)
    mask = None if subset is None else _partition_mask(part, subset, where)
    return pts.x, pts.y, w, part.index, mask


def _project(raw: tuple, src: pyproj.CRS, target: pyproj.CRS, where: str) -> tuple:
    """:func:`_read_source`'s points in ``target``: projected by the same call as
    :func:`read_points`, checked for finite coordinates, subset."""
    x, y, w, index, mask = raw
    if len(x) == 0:
        return _frozen(x, y, w)
    x, y = x.copy(), y.copy()
    pyproj.Transformer.from_crs(src, target, always_xy=True).transform(x, y, inplace=True)
    if not np.isfinite(x.sum() + y.sum()):
        bad = ~np.isfinite(x) | ~np.isfinite(y)
        raise CRSError(
            f"{where}: {int(bad.sum())} points have no finite coordinates in {target.name} "
            f"(e.g. rows {index[bad][:5].tolist()}); check the CRS the data are in."
        )
    if mask is not None:
        x, y, w = x[mask], y[mask], None if w is None else w[mask]
    return _frozen(x, y, w)


def _persist(tasks: list, label: str) -> list:
    dask = _dask(label)
    kept = list(dask.persist(*tasks))
    dask_progress(kept, label=label)
    return kept


def read_once(points, *, where: str, weight: str | None, crs, subset) -> tuple:
    """``(metric CRS, parts)``: the register read once, each partition's projected
    ``(x, y, w)`` persisted on the workers.

    The CRS is ``crs``, the frame's own if metric, else the automatic choice
    (:func:`geocluster.units.auto_metric_crs`), which depends on quantiles of all
    longitudes and latitudes: then the partitions' source coordinates are persisted
    first, collected (16 bytes a point) to choose it, and projected where they are.
    """
    if points.crs is None:
        raise CRSError(
            f"{where}: points has no CRS, so distances cannot be measured. Set the CRS the "
            "coordinates are in, e.g. frame.set_crs('EPSG:4326') for longitude/latitude."
        )
    src = pyproj.CRS.from_user_input(points.crs)
    dask = _dask(where)
    delayed = partitions(points, weight, subset)
    if crs is not None or is_metric(src):
        target = metric_crs(crs) if crs is not None else src
        tasks = [dask.delayed(read_partition)(p, where, weight, target, subset) for p in delayed]
        return target, _persist(tasks, f"{where}: reading points")
    raw = _persist([dask.delayed(_read_source)(p, where, weight, subset) for p in delayed],
                   f"{where}: reading points")
    xy = _compute([dask.delayed(operator.itemgetter(0, 1))(r) for r in raw], f"{where}: metric CRS")
    x = np.concatenate([a for a, _ in xy]) if xy else np.empty(0)
    y = np.concatenate([b for _, b in xy]) if xy else np.empty(0)
    target = target_metric_crs(src, x, y, None)
    del xy, x, y
    parts = [dask.delayed(_project)(r, src, target, where) for r in raw]
    return target, _persist(parts, f"{where}: projecting points")


def read_partition(part, where: str, weight: str | None, crs: pyproj.CRS, subset=None):
    """One partition's points: ``(x, y, w)`` in metres of ``crs``, validated as in memory
    (read-only: :func:`_frozen`).

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
    return _frozen(x, y, w)


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


def _moments(part: tuple) -> tuple:
    x, y, w = part
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
    """One read of a dask frame of points: validation, CRS, count, bounds and moments.

    The partitions' projected points stay persisted on the workers for the later passes
    with the same ``weight`` and ``subset`` (:attr:`DaskPoints.parts`).

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
    target, parts = read_once(points, where=where, weight=weight, crs=crs, subset=subset)
    dask = _dask(where)
    tasks = [dask.delayed(_moments)(part) for part in parts]
    acc: tuple = (0, 0.0, 0.0, None, (0.0, 0.0), (0.0, 0.0))
    for part in _compute(tasks, f"{where}: moments"):
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
                      bounds=bounds, mean=mean, m2=m2, weighted=weight is not None,
                      parts=tuple(parts), weight_column=weight, subset=subset)


def _same(a, b) -> bool:
    try:
        return a is b or (type(a) is type(b) and bool(a == b))
    except (TypeError, ValueError):
        return False


def points_of(points, info: DaskPoints, *, where: str, weight: str | None = None,
              subset=None) -> list:
    """Every partition's projected ``(x, y, w)`` as ``dask.delayed`` objects: those kept
    in ``info`` when it holds this ``subset`` and ``weight`` (or ``weight`` is None: then
    without their weights), else read from ``points``."""
    dask = _dask(where)
    if info.parts and _same(info.subset, subset):
        if info.weight_column == weight:
            return list(info.parts)
        if weight is None:
            return [dask.delayed(_unweighted)(part) for part in info.parts]
    return [dask.delayed(read_partition)(p, where, weight, info.crs, subset)
            for p in partitions(points, weight, subset)]


def _unweighted(part: tuple) -> tuple:
    return part[0], part[1], None


def _apply(part: tuple, func, args):
    return func(*part, *args)


def map_points(points, info: DaskPoints, func: Callable[..., Any], *args, where: str,
               weight: str | None = None, subset=None, label: str = "") -> list:
    """``func(x, y, w, *args)`` on every partition's points; the results in partition order.

    ``func`` must be a module-level function (it is sent to the workers) that does not
    modify its arrays (the points kept in ``info`` are read-only); ``args`` are sent once
    each (wrap large ones with ``dask.delayed`` first).
    """
    dask = _dask(where)
    tasks = [dask.delayed(_apply)(part, func, args)
             for part in points_of(points, info, where=where, weight=weight, subset=subset)]
    return _compute(tasks, label or where)


def binning_layout(grid, h: float, kernel: str) -> tuple[float, float, float, int, int, int]:
    """``(gx0, gy0, hk, half, nx + 2 half, ny + 2 half)``: the padded node grid of
    :func:`geocluster.clusters._kde.binned_density` for ``grid = (x0, y0, cell, nx, ny)``."""
    x0, y0, cell, nx, ny = grid
    hk = _kde.binning_corrected_scale(kernel, h, cell)
    half = int(np.ceil(_kde.kernel_support(kernel, hk) / cell))
    return (x0 + 0.5 * cell - half * cell, y0 + 0.5 * cell - half * cell, hk, half,
            nx + 2 * half, ny + 2 * half)


def _bin_part(part: tuple, gx0: float, gy0: float, cell: float, nx: int,
              ny: int) -> tuple[np.ndarray, ...]:
    x, y, w = part
    return sparse_bin(x, y, w, gx0, gy0, cell, nx, ny)


def tree_sum(tasks: Sequence, merge: Callable[[Any, Any], Any]):
    """``merge`` the ``dask.delayed`` results pairwise (neighbours, level by level) into one
    delayed result, so the reduction runs on the workers; ``tasks`` must not be empty."""
    dask = _dask("a tree reduction")
    level = list(tasks)
    while len(level) > 1:
        pairs = [dask.delayed(merge)(level[i], level[i + 1])
                 for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(pairs) * 2:]
    return level[0]


def binned_surface(points, info: DaskPoints, grid, h: float, kernel: str, *, where: str,
                   weight: str | None = None, subset=None) -> np.ndarray:
    """The binned KDE (weight per m^2) of a dask frame on ``grid``, as ``binned_density``.

    Each partition is linearly binned onto the one padded grid (:func:`sparse_bin` of the
    points kept in ``info``); the partitions' occupied nodes are summed pairwise on the
    workers (:func:`tree_sum` of :func:`geocluster.clusters._kde.merge_node_sums`), the one
    sparse total is spread onto the grid here and convolved once.
    """
    dask = _dask(where)
    gx0, gy0, hk, half, nxp, nyp = binning_layout(grid, h, kernel)
    cell, nx, ny = grid[2], grid[3], grid[4]
    tasks = [dask.delayed(_bin_part)(part, gx0, gy0, cell, nxp, nyp)
             for part in points_of(points, info, where=where, weight=weight, subset=subset)]
    (total,) = _compute([tree_sum(tasks, _kde.merge_node_sums)], f"{where}: binning")
    nodes, c, sx, sy, sxy = total
    binned = _kde.combine_sparse_node_sums(nodes, c, sx, sy, sxy, nxp, nyp)
    del total, nodes, c, sx, sy, sxy
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
        lo, hi = info.bounds[axis], info.bounds[axis + 2]
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


def hull_candidates(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of the points not strictly inside the polygon of the extremes in eight directions
    (Akl and Toussaint 1978): every hull vertex (and any point within rounding of an edge).

    Examples
    --------
    >>> hull_candidates(np.array([0.0, 2, 2, 0, 1]), np.array([0.0, 0, 2, 2, 1])).tolist()
    [True, True, True, True, False]
    """
    s, d = x + y, x - y
    ring = [y.argmin(), d.argmax(), x.argmax(), s.argmax(), y.argmax(), d.argmin(),
            x.argmin(), s.argmin()]  # counter-clockwise
    ax, ay = x[ring], y[ring]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    edges = (ax != bx) | (ay != by)
    if edges.sum() < 3:
        return np.ones(len(x), dtype=bool)
    span = max(float(np.ptp(x)), float(np.ptp(y)))
    inside = np.ones(len(x), dtype=bool)
    for i in np.flatnonzero(edges):
        cross = (bx[i] - ax[i]) * (y - ay[i]) - (by[i] - ay[i]) * (x - ax[i])
        inside &= cross > 1e-9 * span * span
    return ~inside


def _hull_points(x, y, w):
    if len(x) == 0:
        return np.empty((0, 2))
    keep = hull_candidates(x, y)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x[keep], y[keep]])))
    return shapely.get_coordinates(hull)


def convex_hull(points, info: DaskPoints, *, where: str) -> shapely.Geometry:
    """Convex hull of all points: the hull of the partitions' hull vertices (each from its
    :func:`hull_candidates`)."""
    parts = map_points(points, info, _hull_points, where=where, label=f"{where}: hull")
    xy = np.vstack([p for p in parts if len(p)])
    return shapely.convex_hull(shapely.multipoints(xy))
