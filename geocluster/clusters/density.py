"""Monte Carlo density clusters: :func:`density_clusters`.

The KDE of the firms (:func:`geocluster.kde`) becomes cluster polygons where a statistic
surface exceeds a global Monte Carlo envelope from simulations of a null hypothesis
(complete spatial randomness, or random relabelling of all firm sites).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.engine import is_dask_frame
from geocluster._base.validate import (
    PointData,
    check_alpha,
    check_positive_int,
    make_rng,
    read_points,
    seed_label,
    subset_mask,
)
from geocluster.clusters import _kde, partitioned
from geocluster.clusters import _permutation as _perm
from geocluster.clusters.kde import (
    M2_PER_KM2,
    DensitySurface,  # noqa: F401 - transitional: the facade still maps kde here (see kde.py)
    check_kernel,
    grid_for,
    kde,  # noqa: F401 - transitional re-export, to drop once geocluster/__init__ names kde.py
    resolve_bandwidth,
    resolve_bandwidth_dask,
    surface_from,
    surface_of,
    warn_coarse_grid,
)
from geocluster.errors import ConfigError, CRSError, GeoclusterWarning, InputError

__all__ = ["density_clusters", "label_points", "polygon_tally", "study_polygon",
           "MAX_CLUSTER_SHARE"]


def _study_polygon(study_area, pts: PointData):
    return study_polygon(
        study_area, pts.crs,
        lambda: shapely.convex_hull(shapely.multipoints(np.column_stack([pts.x, pts.y]))))


def study_polygon(study_area, crs, hull: Callable[[], shapely.Geometry]) -> shapely.Geometry:
    """The CSR null's study area in ``crs``: ``study_area``, or ``hull()`` of the points.

    Examples
    --------
    >>> study_polygon(None, None, lambda: shapely.box(0, 0, 1, 1)).area
    1.0
    """
    if study_area is None:
        hull_polygon = hull()
        if not isinstance(hull_polygon, shapely.Polygon) or hull_polygon.area <= 0:
            raise InputError(
                "density_clusters: the points' convex hull has no area (all points on a line "
                "or at one location), so CSR has nowhere to place points; give study_area=."
            )
        return hull_polygon
    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        if study_area.crs is None:
            raise CRSError("density_clusters: study_area has no CRS; set it first.")
        geom = shapely.union_all(study_area.to_crs(crs).geometry.values)
    elif isinstance(study_area, shapely.Geometry):
        geom = study_area
    else:
        raise InputError(
            "density_clusters: study_area must be a GeoDataFrame/GeoSeries of polygons or a "
            "shapely polygon in the working metric CRS."
        )
    if geom.is_empty or geom.area <= 0:
        raise InputError("density_clusters: study_area has no area.")
    return shapely.make_valid(geom)


def _uniform_in(polygon, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` points uniformly distributed in ``polygon`` (rejection from its bounding box)."""
    xmin, ymin, xmax, ymax = polygon.bounds
    shapely.prepare(polygon)
    frac = max(polygon.area / ((xmax - xmin) * (ymax - ymin)), 1e-3)
    xs, ys, got = [], [], 0
    while got < m:
        k = int((m - got) / frac * 1.2) + 16
        x = rng.uniform(xmin, xmax, k)
        y = rng.uniform(ymin, ymax, k)
        keep = shapely.contains_xy(polygon, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        got += int(keep.sum())
    return np.concatenate(xs)[:m], np.concatenate(ys)[:m]


#: density_clusters warns when one cluster (or all together) cover more than this share
#: of the study area.
MAX_CLUSTER_SHARE = 0.25


def _warn_large_clusters(records, study, h: float) -> None:
    """Warn when one cluster, or all together, cover more than a quarter of the study area."""
    total = float(study.area)
    # the polygons' own areas (as in area_km2): a cluster reaching far beyond the study
    # area is a symptom of the same too-large bandwidth
    shares = [r[0].area / total for r in records]
    big = [(i + 1, share) for i, share in enumerate(shares) if share > MAX_CLUSTER_SHARE]
    if big:
        what = ", ".join(f"cluster {cid} covers {share:.0%}" for cid, share in big)
    elif sum(shares) > MAX_CLUSTER_SHARE:
        what = f"the {len(shares)} clusters together cover {sum(shares):.0%}"
    else:
        return
    warnings.warn(
        f"density_clusters: {what} of the study area ({total / M2_PER_KM2:,.0f} km^2) "
        f"with a bandwidth of {h / 1000:,.3g} km; clusters that large are regions, not "
        "metropolitan clusters. Use bandwidth='cv' (likelihood cross-validation, the "
        "default) or a smaller distance such as '20km'.",
        GeoclusterWarning,
        stacklevel=3,
    )


def label_points(x: np.ndarray, y: np.ndarray, polygons, ids) -> np.ndarray:
    """Id of the polygon each point falls in (boundary included), or -1; first match wins.

    Examples
    --------
    >>> import shapely
    >>> squares = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    >>> label_points(np.array([0.5, 1.0, 5.0]), np.array([0.5, 0.5, 0.5]), squares,
    ...              [10, 20]).tolist()
    [10, 10, -1]
    """
    out = np.full(len(x), -1, dtype=np.int64)
    if len(polygons) == 0 or len(x) == 0:
        return out
    tree = shapely.STRtree(polygons)
    pts = shapely.points(x, y)
    p_idx, g_idx = tree.query(pts, predicate="intersects")
    if len(p_idx) == 0:  # no point in any polygon
        return out
    order = np.lexsort((g_idx, p_idx))
    p_idx, g_idx = p_idx[order], g_idx[order]
    first = np.r_[True, p_idx[1:] != p_idx[:-1]]
    out[p_idx[first]] = np.asarray(ids)[g_idx[first]]
    return out


def density_clusters(
    points: gpd.GeoDataFrame,
    *,
    bandwidth: str | float = "cv",
    alpha: float = 0.05,
    null: str = "csr",
    simulations: int = 99,
    seed: int | np.random.Generator | None = None,
    min_firms: int = 5,
    subset: np.ndarray | pd.Series | str | tuple[str, object] | None = None,
    weight: str | None = None,
    study_area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    cell_size: str | float | None = None,
    kernel: str = "gaussian",
    crs: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Density clusters: areas where the KDE exceeds a Monte Carlo threshold.

    The threshold is the ``1 - alpha`` quantile of the *maximum* over the grid of a
    statistic surface in ``simulations`` draws from the null (a global envelope): with
    ``k = ceil((1 - alpha) * (simulations + 1))``, it is the ``k``-th smallest simulated
    maximum, and the areas where the observed statistic exceeds it are clusters. Under
    the null the chance that any cluster appears anywhere is then at most ``alpha``
    (family-wise), whatever the number of cells.

    The statistic is the industry's density ``f`` (``null="csr"``), or its *excess
    density* ``f - (W / N) g`` (``null="firms"``), where ``g`` is the unweighted
    density of all ``N`` firm sites and ``W`` the industry's total weight: the
    expected industry density if its label were placed at random among the sites.
    With the excess, a cluster is where the industry is over-represented relative to
    all firms, so places dense in every industry do not count; the raw density
    would only flag places denser than the densest spot of all activity.

    Against CSR, large cities show up as clusters of almost any industry, because all
    activity concentrates there; use ``null="firms"`` to ask whether an industry is
    more concentrated than firms in general (Duranton & Overman 2005). A hub shared
    with other industries can then fail to stand out, which is the point of that null.

    Parameters
    ----------
    points
        GeoDataFrame of firm points (any CRS; projected automatically or to ``crs``).
        For ``null="csr"`` the clusters are of the ``subset`` of points (default all);
        for ``null="firms"`` ``points`` must be *all* firm sites and ``subset`` the
        industry.
        A ``dask_geopandas.GeoDataFrame`` works with ``null="csr"``: the observed surface
        is binned by partition (as :func:`kde`), the simulations are drawn in the study
        area and binned here without touching the points again, and one more pass
        counts the firms in the clusters; same clusters and p-value as in memory for
        the same seed. ``subset`` is then a query string or a ``(column, value)`` pair,
        the bandwidth a distance, ``"scott"`` or (unweighted) ``"silverman"``; with ``weight`` the weights (8 bytes a
        firm) are collected for the shuffles.
    bandwidth
        As in :func:`kde` (default ``"cv"``, likelihood cross-validation); a rule is
        applied to the (subset) points and the same bandwidth is used for every
        simulation. A warning says when one cluster, or all of them together, cover more
        than a quarter of the study area (the bandwidth is then likely too large for
        metropolitan clusters).
    alpha
        Significance of the envelope, in (0, 1) (default 0.05: a 95% global envelope).
    null
        ``"csr"``: the same number of points (with the same weights, shuffled) placed
        uniformly in the study area. ``"firms"``: the industry's label (and weights)
        given to a random set of the same size of all firm sites, without replacement,
        which controls for the overall concentration of activity (Duranton & Overman 2005).
    simulations
        Number of null draws; must be at least ``ceil(1 / alpha) - 1``.
    seed
        Seed (int or Generator) for the simulations.
    min_firms
        Drop cluster polygons holding fewer (subset) firms than this.
    subset
        Which points form the industry: a boolean mask aligned to ``points``, the name
        of a boolean column, a ``(column, value)`` pair such as
        ``("industry", "biotech")`` or a pandas query string. Required for
        ``null="firms"``.
    weight
        Column of firm weights (e.g. employment).
    study_area
        Polygon(s) for the CSR null; default the convex hull of all ``points``.
    cell_size, kernel, crs
        As in :func:`kde`. The grid covers the study area (CSR) or all sites, padded
        by 4 bandwidths.

    Returns
    -------
    GeoDataFrame
        One row per cluster, largest total weight first: ``cluster_id`` (1, 2, ...),
        ``area_km2``, ``n_firms``, ``total_weight``, ``peak_density`` (weight per km^2)
        and the polygon, in the working metric CRS. ``attrs`` records ``threshold``
        (of the statistic, weight per km^2), ``statistic`` (``"density"`` or
        ``"excess density"``), ``p_value`` (Monte Carlo p of the observed maximum:
        ``(1 + #{simulated maxima >= observed}) / (S + 1)``, a simulated maximum within
        ``1e-10`` of the surface's scale of the observed one counting as a tie, i.e.
        as at least as large),
        ``alpha``, ``null``, ``simulations``, ``seed``, ``bandwidth_m`` and ``kernel``.
        To give each firm its cluster id use
        ``gc.exposure(firms, method="region", regions=clusters)``.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(1)
    >>> xy = np.vstack([rng.uniform(0, 100_000, (300, 2)), rng.normal(50_000, 2_000, (60, 2))])
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=3857)
    >>> cl = gc.density_clusters(pts, bandwidth="3km", simulations=19, seed=0)
    >>> len(cl), int(cl["n_firms"].iloc[0]) >= 50
    (1, True)
    """
    kernel, k, simulations, min_firms, rng = _check_options(
        kernel, alpha, null, simulations, min_firms, seed
    )
    if is_dask_frame(points):
        return _density_dask(
            points, bandwidth=bandwidth, k=k, alpha=alpha, null=null, simulations=simulations,
            seed=seed, rng=rng, min_firms=min_firms, subset=subset, weight=weight,
            study_area=study_area, cell_size=cell_size, kernel=kernel, crs=crs)
    every, pts = _read_input(points, subset, weight, crs, null)
    h, method = resolve_bandwidth(bandwidth, kernel, pts)
    area = _study_polygon(study_area, every) if null == "csr" else None
    b = area.bounds if area is not None else (
        every.x.min(), every.y.min(), every.x.max(), every.y.max())
    pad = 4.0 * h if kernel == "gaussian" else h
    grid = grid_for((b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad), h, cell_size, kernel)
    observed = surface_from(pts, h, method, kernel, grid)
    base = _null_base(every, pts, h, kernel, grid) if null == "firms" else 0.0
    statistic = observed.values - base
    maxima = _simulated_maxima(every, len(pts.x), pts.w, area, base, h, kernel, grid,
                               simulations, rng)
    threshold, p_value = _envelope(statistic, maxima, k)
    records = _cluster_records(observed, statistic, threshold, min_firms,
                               lambda shapes: polygon_tally(pts.x, pts.y, pts.w, shapes))
    _warn_large_clusters(records, area if area is not None else _study_polygon(None, every), h)
    return _finish(records, pts.crs, threshold=threshold, p_value=p_value, alpha=alpha,
                   null=null, simulations=simulations, seed=seed, h=h, kernel=kernel)


def _finish(records, crs, *, threshold, p_value, alpha, null, simulations, seed, h,
            kernel) -> gpd.GeoDataFrame:
    out = _clusters_frame(records, crs)
    out.attrs.update(
        threshold=threshold, p_value=p_value, alpha=float(alpha), null=null,
        statistic="density" if null == "csr" else "excess density",
        simulations=simulations, seed=seed_label(seed),
        bandwidth_m=h, kernel=kernel,
    )
    return out


def _check_options(kernel, alpha, null, simulations, min_firms, seed):
    """Validated options: the kernel, the envelope's rank ``k``, counts and the generator."""
    where = "density_clusters"
    kernel = check_kernel(kernel)
    alpha = check_alpha(alpha, where=where)
    if null not in ("csr", "firms"):
        raise InputError(f"{where}: null={null!r} is not supported; choose 'csr' or 'firms'.")
    simulations = check_positive_int(simulations, where=where, name="simulations")
    _perm.check_size(simulations, 1, what=where, name="simulations", bytes_each=8,
                     kind="simulated maxima")
    min_firms = check_positive_int(min_firms, where=where, name="min_firms")
    rng = make_rng(seed, where)
    k = math.ceil((1.0 - alpha) * (simulations + 1) - 1e-9)
    if k > simulations:
        need = math.ceil(1 / alpha - 1e-9) - 1
        raise ConfigError(
            f"{where}: simulations={simulations} is too few for alpha={alpha:g}: the envelope "
            f"needs at least {need} simulations (99 or 999 are usual)."
        )
    return kernel, k, simulations, min_firms, rng


def _read_input(points, subset, weight, crs, null) -> tuple[PointData, PointData]:
    """All sites and the (subset) points whose clusters are sought."""
    every = read_points(points, where="density_clusters", weight=weight, crs=crs)
    mask = subset_mask(points, subset, where="density_clusters")
    if null == "firms" and mask is None:
        raise InputError(
            "density_clusters: null='firms' relabels the industry among all firm sites: pass "
            "all sites as points and select the industry with subset=(column, value) or a "
            "boolean mask."
        )
    if mask is None:
        return every, every
    return every, PointData(every.x[mask], every.y[mask],
                            None if every.w is None else every.w[mask], every.crs,
                            every.index[mask])


def _surface_values(xs, ys, ws, h: float, kernel: str, grid) -> np.ndarray:
    x0, y0, cell, nx, ny = grid
    return _kde.binned_density(xs, ys, ws, x0=x0, y0=y0, cell=cell, nx=nx, ny=ny, h=h,
                               kernel=kernel) * M2_PER_KM2


def _null_base(every: PointData, pts: PointData, h, kernel, grid) -> np.ndarray:
    """Expected industry density under random relabelling: its total weight spread over
    all sites in proportion to the all-sites density."""
    return _surface_values(every.x, every.y, None, h, kernel, grid) * (
        pts.total_weight / len(every.x))


def _simulated_maxima(every, m, w, area, base, h, kernel, grid, simulations,
                      rng) -> np.ndarray:
    """The grid maximum of the statistic in each draw from the null (``m`` points of
    weights ``w``; ``every`` site is only used by the relabelling null)."""
    maxima = np.empty(simulations)
    for s in range(simulations):
        w_sim = None if w is None else rng.permutation(w)
        if area is not None:
            xs, ys = _uniform_in(area, m, rng)
        else:
            pick = rng.choice(len(every.x), size=m, replace=False)
            xs, ys = every.x[pick], every.y[pick]
        maxima[s] = (_surface_values(xs, ys, w_sim, h, kernel, grid) - base).max()
    return maxima


def _envelope(statistic: np.ndarray, maxima: np.ndarray, k: int) -> tuple[float, float]:
    """The threshold (k-th smallest simulated maximum) and the Monte Carlo p of the observed
    maximum; a simulated maximum equal to it (within 1e-10 of the surface's scale) counts
    as at least as large."""
    threshold = float(np.sort(maxima)[k - 1])
    observed_max = float(statistic.max())
    scale = max(abs(observed_max), float(np.abs(maxima).max()))
    ge, _ = _perm.count_ties(maxima, observed_max, scale)
    return threshold, float((1 + ge) / (len(maxima) + 1))


def polygon_tally(x: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                  shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number and total weight of the points in each polygon (first match wins).

    Examples
    --------
    >>> squares = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> n, w = polygon_tally(np.array([0.5, 1.5, 1.6, 9.0]), np.full(4, 0.5), None, squares)
    >>> n.tolist(), w.tolist()
    ([1, 2], [1.0, 2.0])
    """
    lab = label_points(x, y, shapes, np.arange(len(shapes)))
    w = np.ones(len(x)) if w is None else w
    n_in = np.bincount(lab[lab >= 0], minlength=len(shapes))
    w_in = np.bincount(lab[lab >= 0], weights=w[lab >= 0], minlength=len(shapes))
    return n_in, w_in


def _cluster_records(observed, statistic, threshold, min_firms: int,
                     tally: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> list:
    """(polygon, firms, weight, peak) of each cluster with at least ``min_firms`` firms,
    largest total weight first; ``tally(shapes)`` counts the (subset) firms in each."""
    stat_surface = replace(observed, values=statistic)
    polys = list(shapely.get_parts(stat_surface.contour_polygon(threshold)))
    records = []
    if polys:
        ids = np.arange(len(polys))
        shapes = np.array(polys, dtype=object)
        n_in, w_in = tally(shapes)
        cx, cy = np.meshgrid(observed.x, observed.y)
        hot = statistic > threshold
        cell_lab = label_points(cx[hot], cy[hot], shapes, ids)
        peak = np.zeros(len(polys))
        np.maximum.at(peak, cell_lab[cell_lab >= 0], observed.values[hot][cell_lab >= 0])
        for i, poly in enumerate(polys):
            if n_in[i] >= min_firms:
                records.append((poly, int(n_in[i]), float(w_in[i]), float(peak[i])))
    records.sort(key=lambda r: (-r[2], -r[3]))
    return records


def _dask_tally(points, info, subset, weight):
    def tally(shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = partitioned.map_points(points, info, polygon_tally, shapes,
                                       where="density_clusters", weight=weight,
                                       subset=subset, label="density_clusters: clusters")
        return (sum(p[0] for p in parts), sum(p[1] for p in parts))
    return tally


def _density_dask(points, *, bandwidth, k, alpha, null, simulations, seed, rng, min_firms,
                  subset, weight, study_area, cell_size, kernel, crs) -> gpd.GeoDataFrame:
    """:func:`density_clusters` of a dask frame (CSR null): the simulations are drawn and
    binned here, never touching the points. One read of the partitions (a second with
    ``subset=``: the study area comes from every point); the projected points stay on the
    workers for the binning, the weights and the count of firms in the clusters."""
    where = "density_clusters"
    if null != "csr":
        partitioned.refuse_option(
            where, "null", null, "relabelling draws sites from every point in each "
            "simulation. Use null='csr', or .compute() the frame if it fits in memory.")
    every = partitioned.summarize(points, where=where, weight=weight, crs=crs)
    info = every if subset is None else partitioned.summarize(
        points, where=where, weight=weight, crs=every.crs, subset=subset)
    h, method = resolve_bandwidth_dask(bandwidth, kernel, info, where=where, points=points,
                                       subset=subset)
    area = study_polygon(study_area, every.crs,
                         lambda: partitioned.convex_hull(points, every, where=where))
    b = area.bounds
    pad = 4.0 * h if kernel == "gaussian" else h
    grid = grid_for((b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad), h, cell_size, kernel)
    warn_coarse_grid(grid, h, kernel)
    values = partitioned.binned_surface(points, info, grid, h, kernel, where=where,
                                        weight=weight, subset=subset)
    observed = surface_of(values, grid, h, method, kernel, info.crs, info.total_weight, info.n)
    w = None if weight is None else partitioned.gather_weights(
        points, info, where=where, weight=weight, subset=subset)
    maxima = _simulated_maxima(None, info.n, w, area, 0.0, h, kernel, grid, simulations, rng)
    threshold, p_value = _envelope(observed.values, maxima, k)
    records = _cluster_records(observed, observed.values, threshold, min_firms,
                               _dask_tally(points, info, subset, weight))
    _warn_large_clusters(records, area, h)
    return _finish(records, info.crs, threshold=threshold, p_value=p_value, alpha=alpha,
                   null=null, simulations=simulations, seed=seed, h=h, kernel=kernel)


def _clusters_frame(records: list, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "cluster_id": np.arange(1, len(records) + 1, dtype=np.int64),
            "area_km2": [r[0].area / M2_PER_KM2 for r in records],
            "n_firms": np.array([r[1] for r in records], dtype=np.int64),
            "total_weight": np.array([r[2] for r in records], dtype=float),
            "peak_density": np.array([r[3] for r in records], dtype=float),
        },
        geometry=[r[0] for r in records],
        crs=crs,
    )
