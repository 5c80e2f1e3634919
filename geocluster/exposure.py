"""One clustering measure per firm (cluster exposure), ready to use in the models.

:func:`exposure` returns a copy of the firms with one new column (default
``"exposure"``; name it with ``name=``, e.g. ``name="cluster"`` for
``gc.regress("intl ~ cluster + ...", firms)``). Methods and the options each takes
(an option that does not apply to the chosen method is an :class:`InputError` naming it):

``"kde"`` (``bandwidth``; ``kernel``, ``by``, ``weight``, ``crs``)
    Kernel density at the firm from the *other* firms (leave-one-out), in firms (or
    weight) per km^2: ``sum_{j != i} w_j K_h(x_i - x_j)`` with the kernel of
    :func:`geocluster.kde` (a Gaussian with standard deviation ``bandwidth`` by
    default). Exact from a KD-tree of the pairs within the kernel support; beyond
    20 million such pairs it switches to the binned estimate minus the firm's own
    binned contribution (accuracy as :func:`geocluster.kde`).
``"count"`` (``radius``; ``by``, ``weight``, ``crs``)
    Number of other firms (or their total weight) within ``radius`` (distance
    ``<=``), optionally only those of the firm's own industry (``by``).
``"lq"`` (``units``, ``by``; ``weight``, ``lq``, ``min_total``)
    The location quotient of the firm's unit in the firm's industry, computed from the
    firms themselves with :func:`geocluster.location_quotient`, or read from a column
    ``lq`` of ``units``.
``"region"`` (``regions``; ``region_id``)
    1 if the firm lies in one of the ``regions`` polygons (the output of
    :func:`geocluster.density_clusters` or the HH rows of
    :func:`geocluster.cluster_regions`), else 0; the region's id goes to a second
    column ``<name>_id`` (missing outside).

A ``dask_geopandas.GeoDataFrame`` (metric CRS, or name ``crs=``) takes ``"count"`` and
``"kde"``: each partition runs on its firms plus its *halo* (the firms of other partitions
within the radius or kernel support, :mod:`geocluster.weights.halo`), so every firm gets
the in-memory value (also the binned one past the exact-pair limit); the values are
computed, the result is a lazy dask GeoDataFrame. Other methods: an error naming them.

``log=True`` takes the natural log (all values must be positive; ``log="log1p"``
takes ``log(1 + x)`` and keeps zeros), then ``standardize=True`` subtracts the mean
and divides by the population standard deviation (``ddof=0``); neither applies to
``"region"``.
"""

from __future__ import annotations

import warnings
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree

from geocluster._base.engine import is_dask_frame
from geocluster._base.validate import PointData, check_weight_column, read_points
from geocluster.areal.lq import location_quotient
from geocluster.clusters import _kde
from geocluster.clusters._kde import convolve_binned, kernel_support, kernel_values
from geocluster.clusters.density import label_points
from geocluster.clusters.kde import (
    M2_PER_KM2,
    check_kernel,
    check_scale,
    leave_one_out_density,
    resolve_bandwidth,
)
from geocluster.clusters.partitioned import dense_bins, sparse_bin
from geocluster.errors import GeoclusterWarning, InputError
from geocluster.units import parse_distance
from geocluster.weights.halo import BlockSet, block_bounds, extent_points, with_column
from geocluster.weights.halo_sums import strip_counts
from geocluster.weights.partitioned import group_pair_counts, map_blocks, neighbour_sums
from geocluster.weights.tiles import tiled_blocks

__all__ = ["exposure", "DASK_METHODS", "METHODS", "METHOD_OPTIONS"]

METHODS = ("kde", "count", "lq", "region")
#: The methods that run on a ``dask_geopandas.GeoDataFrame`` (by partition halos).
DASK_METHODS = ("count", "kde")

#: The options each method takes (besides ``name``, ``log`` and ``standardize``).
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "kde": ("bandwidth", "kernel", "by", "weight", "crs"),
    "count": ("radius", "by", "weight", "crs"),
    "lq": ("units", "by", "weight", "lq", "min_total"),
    "region": ("regions", "region_id"),
}

#: ``min_total`` of the ``"lq"`` method when it is not given.
DEFAULT_MIN_TOTAL = 30


def exposure(
    firms: gpd.GeoDataFrame,
    *,
    method: str,
    name: str = "exposure",
    bandwidth: str | float | None = None,
    kernel: str | None = None,
    radius: str | float | None = None,
    by: str | None = None,
    weight: str | None = None,
    units: gpd.GeoDataFrame | str | None = None,
    lq: str | None = None,
    min_total: float | None = None,
    regions: gpd.GeoDataFrame | None = None,
    region_id: str | None = None,
    log: bool | str = False,
    standardize: bool = False,
    crs: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Cluster exposure of each firm: a new frame with the measure as a column.

    Parameters
    ----------
    firms
        GeoDataFrame of firm points (any CRS; distances are measured in a metric CRS,
        ``crs`` or the automatic choice of :func:`geocluster.units.target_metric_crs`).
    method
        ``"kde"``, ``"count"``, ``"lq"`` or ``"region"`` (see the module docstring for
        the options each takes; any other option given is an :class:`InputError`).
    name
        Name of the new column (``"region"`` also adds ``<name>_id``). An existing
        column of that name is replaced in the returned frame, with a warning.
    bandwidth, kernel
        ``"kde"``: the kernel scale (a distance such as ``"10km"``, or ``"scott"``,
        ``"silverman"``, ``"cv"`` applied to all firms) and kernel (default
        ``"gaussian"``), as in :func:`geocluster.kde`. Values are weight per km^2.
    radius
        ``"count"``: the distance, e.g. ``"10km"``.
    by
        Column with the firm's industry. ``"kde"``/``"count"``: only firms of the same
        industry count. ``"lq"``: the industry whose LQ is taken (required unless
        ``lq`` is given).
    weight
        ``"kde"``/``"count"``: column of non-negative weights of the *other* firms
        (e.g. employment); ``"lq"``: the size measure (default firm counts).
    units
        ``"lq"``: a column of ``firms`` naming each firm's unit (e.g. ``"fips"``), or a
        GeoDataFrame of unit polygons (a firm takes the first polygon that contains it,
        boundary included; the unit id is the polygons' index).
    lq
        ``"lq"``: a column of ``units`` (a GeoDataFrame) holding ready LQs to read
        instead of computing them.
    min_total
        ``"lq"``: units smaller than this (firms, or ``weight``) get NaN (default 30; see
        :func:`geocluster.location_quotient`; 0 switches the rule off).
    regions, region_id
        ``"region"``: the polygons and the column holding their id (default
        ``"cluster_id"`` if present, else the index). If ``regions`` has a ``cluster``
        column with ``"HH"`` values (LISA regions), only the ``"HH"`` rows are used.
    log
        ``True`` for ``log(x)`` (every value must be positive), ``"log1p"`` for
        ``log(1 + x)``.
    standardize
        Subtract the mean and divide by the standard deviation (``ddof=0``), ignoring NaN.
    crs
        ``"kde"``/``"count"``: metric CRS for distances.

    Returns
    -------
    GeoDataFrame
        A copy of ``firms`` (same index and columns) with ``name`` added; the input is
        not modified. ``attrs["exposure"]`` records the method and its options
        (information only). For a dask GeoDataFrame: a dask GeoDataFrame (lazy, same
        partitions) whose values were computed by partition halos (no ``attrs``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> firms = gpd.GeoDataFrame(
    ...     {"ind": ["a", "a", "b", "a"]},
    ...     geometry=gpd.points_from_xy([0, 3000, 4000, 50000], [0, 0, 0, 0]), crs=3857)
    >>> gc.exposure(firms, method="count", radius="5km")["exposure"].tolist()
    [2.0, 2.0, 2.0, 0.0]
    >>> gc.exposure(firms, method="count", radius="5km", by="ind")["exposure"].tolist()
    [1.0, 1.0, 0.0, 0.0]
    >>> gc.exposure(firms, method="count", radius="5km", bandwidth="5km")
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: exposure: bandwidth= does not apply to method='count', ...
    """
    options = {"bandwidth": bandwidth, "kernel": kernel, "radius": radius, "by": by,
               "weight": weight, "units": units, "lq": lq, "min_total": min_total,
               "regions": regions, "region_id": region_id, "crs": crs}
    if is_dask_frame(firms):
        return _dask_exposure(firms, method, name, log, standardize, options)
    _check_call(firms, method, name, log, standardize, options)
    if method == "region":
        member, ids, extra = _region_exposure(firms, regions, region_id)
        out = firms.copy()
        out[name] = member
        out[f"{name}_id"] = ids
        out.attrs["exposure"] = {"method": method, **extra}
        return out
    if method == "kde":
        values, extra = _kde_exposure(firms, bandwidth, kernel or "gaussian", by, weight, crs)
    elif method == "count":
        values, extra = _count_exposure(firms, radius, by, weight, crs)
    else:
        values, extra = _lq_exposure(firms, by, weight, units, lq,
                                     DEFAULT_MIN_TOTAL if min_total is None else min_total)
    values = _transform(np.asarray(values, dtype=float), method, name, log, standardize)
    out = firms.copy()
    out[name] = values
    out.attrs["exposure"] = {"method": method, "log": log, "standardize": standardize, **extra}
    return out


def _check_call(firms, method, name, log, standardize, options: dict) -> None:
    """Validate the firms, the method, the output name and which options were given."""
    if not isinstance(firms, gpd.GeoDataFrame):
        raise InputError(
            f"exposure: firms must be a GeoDataFrame of points, got {type(firms).__name__}; "
            "build one with geocluster.read_firms or geopandas.points_from_xy."
        )
    _check_options(firms.columns, method, name, log, standardize, options)


def _check_options(columns, method, name, log, standardize, options: dict) -> None:
    """Validate the method, the output name and which options were given."""
    if method not in METHODS:
        raise InputError(f"exposure: method={method!r} is not supported; choose one of {METHODS}.")
    if not isinstance(name, str) or not name:
        raise InputError(f"exposure: name={name!r} must be a non-empty string.")
    if log not in (False, True, "log1p"):
        raise InputError(f"exposure: log={log!r} must be False, True (natural log) or 'log1p'.")
    if method == "region" and (log or standardize):
        raise InputError(
            "exposure: method='region' gives a 0/1 membership; log and standardize do not apply."
        )
    given = [k for k, v in options.items() if v is not None]
    extra = [k for k in given if k not in METHOD_OPTIONS[method]]
    if extra:
        names = ", ".join(f"{k}=" for k in extra)
        takes = ", ".join(f"{k}=" for k in METHOD_OPTIONS[method])
        raise InputError(
            f"exposure: {names} {'does' if len(extra) == 1 else 'do'} not apply to "
            f"method={method!r}, which takes {takes} (and name=, log=, standardize=); "
            "remove it or choose the method it belongs to."
        )
    by = options["by"]
    if by is not None and by not in columns:
        raise InputError(f"exposure: by={by!r} is not a column of firms.")
    taken = [c for c in (name, f"{name}_id" if method == "region" else None)
             if c is not None and c in columns]
    if taken:
        one = len(taken) == 1
        names = " and ".join(repr(c) for c in taken)
        warnings.warn(
            f"firms already has {'a column' if one else 'columns'} {names}; the returned frame "
            f"replaces {'it' if one else 'them'} (the input is unchanged). Pass name= to "
            "choose another name.",
            GeoclusterWarning,
            stacklevel=4,
        )


def _transform(values: np.ndarray, method: str, name: str, log, standardize) -> np.ndarray:
    """``log`` then ``standardize`` (each checked first)."""
    if log is True:
        bad = int(np.sum(values <= 0))
        if bad:
            raise InputError(
                f"exposure: log=True needs positive values, but {bad} firms have {method} "
                "exposure 0; use log='log1p' for log(1 + x)."
            )
        values = np.log(values)
    elif log == "log1p":
        values = np.log1p(values)
    if standardize:
        _check_variation(values, method, name)
        sd = np.nanstd(values)
        values = (values - np.nanmean(values)) / sd
    return values


#: With at least this many firms, an exposure with fewer than MIN_DISTINCT distinct
#: values is refused by standardize=True.
MANY_FIRMS = 30
MIN_DISTINCT = 3


def _check_variation(values: np.ndarray, method: str, name: str) -> None:
    """Refuse to standardise an exposure without usable variation (InputError says why)."""
    finite = values[np.isfinite(values)]
    n = len(finite)
    where = f"exposure: standardize=True: the {method} exposure {name!r}"
    if n == 0:
        raise InputError(
            f"{where} has no finite values, so it cannot be standardised. Check the inputs "
            "(units, regions, radius) that define it."
        )
    mean = float(finite.mean())
    sd = float(finite.std())
    if not sd > 1e-9 * max(abs(mean), np.finfo(float).tiny):
        raise InputError(
            f"{where} is constant ({mean:g}) for all {n:,} firms, so it cannot be "
            "standardised (its sd is 0). Use a smaller radius or bandwidth, an by= "
            "subset, or leave standardize=False."
        )
    values_, counts = np.unique(finite, return_counts=True)
    # A few distinct values are fine (a 0/1 membership splits 8/22); what cannot be
    # standardised usefully is all firms but a handful sharing one value.
    minority = n - int(counts.max())
    if n >= MANY_FIRMS and len(values_) < MIN_DISTINCT and minority <= max(2, 0.01 * n):
        parts = ", ".join(f"{v:g} for {c:,}" for v, c in zip(values_, counts, strict=True))
        raise InputError(
            f"{where} takes only {len(values_)} distinct values among {n:,} firms ({parts}), "
            "so standardising would turn a handful of firms into extreme z-values: it has no "
            "usable variation. Use a larger radius or bandwidth, a 0/1 membership "
            "(method='region') without standardising, or leave standardize=False."
        )


# ----------------------------------------------------------------------------- methods


def _groups(firms: gpd.GeoDataFrame, by: str | None) -> list[np.ndarray]:
    """Row positions per industry (one group of all rows without ``by``)."""
    if by is None:
        return [np.arange(len(firms))]
    codes = firms[by]
    if codes.isna().any():
        raise InputError(
            f"exposure: by column {by!r} has {int(codes.isna().sum())} missing values; "
            "fill them (e.g. 'unknown') or drop those firms."
        )
    labels = pd.factorize(codes)[0]
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, cuts)


def _kde_exposure(firms, bandwidth, kernel, by, weight, crs):
    if bandwidth is None:
        raise InputError(
            "exposure: method='kde' needs bandwidth=, e.g. bandwidth='10km' or 'scott'."
        )
    kernel = check_kernel(kernel)
    pts = read_points(firms, where="exposure", weight=weight, crs=crs, what="firms")
    h, how = resolve_bandwidth(bandwidth, kernel, pts)
    w = np.ones(len(pts.x)) if pts.w is None else pts.w
    values = np.zeros(len(pts.x))
    modes = set()
    for rows in _groups(firms, by):
        if len(rows) < 2:
            continue  # a lone firm has no other firms: 0
        dens, mode = leave_one_out_density(pts.x[rows], pts.y[rows], w[rows], h, kernel)
        values[rows] = dens * M2_PER_KM2
        modes.add(mode)
    return values, {"bandwidth_m": h, "bandwidth_method": how, "kernel": kernel,
                    "by": by, "weight": weight, "computation": sorted(modes),
                    "unit": "weight per km^2"}


def _count_exposure(firms, radius, by, weight, crs):
    if radius is None:
        raise InputError("exposure: method='count' needs radius=, e.g. radius='10km'.")
    r = parse_distance(radius, name="radius")
    pts = read_points(firms, where="exposure", weight=weight, crs=crs, what="firms")
    check_scale(r, pts, f"radius={radius!r}")
    values = np.zeros(len(pts.x))
    xy = np.column_stack([pts.x, pts.y])
    for rows in _groups(firms, by):
        if len(rows) < 2:
            continue
        sub = xy[rows]
        if pts.w is None:  # the KD-tree's counts, by strips (3-4x faster on 1M firms)
            values[rows] = strip_counts(sub, sub, r) - 1
        else:
            pairs = cKDTree(sub).query_pairs(r, output_type="ndarray")
            wr = pts.w[rows]
            i, j = pairs[:, 0], pairs[:, 1]
            values[rows] = (np.bincount(i, wr[j], minlength=len(rows))
                            + np.bincount(j, wr[i], minlength=len(rows)))
    return values, {"radius_m": r, "by": by, "weight": weight}


def _unit_of_firms(firms, units, lq):
    """Each firm's unit label (None outside), the label's name, and read LQs (or None)."""
    if isinstance(units, str):
        if units not in firms.columns:
            raise InputError(f"exposure: units={units!r} is not a column of firms.")
        if lq is not None:
            raise InputError("exposure: lq= reads LQs from a GeoDataFrame of units; with units "
                             "as a column, leave lq=None to compute them from the firms.")
        return firms[units], units, None
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(
            f"exposure: units must be a column name or a GeoDataFrame, got "
            f"{type(units).__name__}."
        )
    if units.crs is None:
        raise InputError("exposure: units has no CRS; set it first.")
    if not units.index.is_unique:
        raise InputError("exposure: units must have a unique index (it is the unit id).")
    if lq is not None and lq not in units.columns:
        raise InputError(f"exposure: lq={lq!r} is not a column of units.")
    pts = read_points(firms, where="exposure", what="firms")
    polys = units.to_crs(pts.crs).geometry.values
    pos = label_points(pts.x, pts.y, polys, np.arange(len(units)))
    outside = int((pos < 0).sum())
    if outside:
        warnings.warn(
            f"{outside} firms lie in none of the units; their LQ exposure is NaN.",
            GeoclusterWarning, stacklevel=4,
        )
    labels = np.asarray(units.index, dtype=object)
    unit_of = pd.Series(np.where(pos >= 0, labels[np.maximum(pos, 0)], None),
                        index=firms.index, dtype=object)
    read = None
    if lq is not None:
        values = pd.to_numeric(units[lq], errors="coerce").to_numpy(dtype=float)
        read = np.where(pos >= 0, values[np.maximum(pos, 0)], np.nan)
    return unit_of, "unit", read


def _lq_exposure(firms, by, weight, units, lq, min_total):
    if units is None:
        raise InputError(
            "exposure: method='lq' needs units=: a column of firms naming each firm's unit "
            "(e.g. 'fips') or a GeoDataFrame of unit polygons."
        )
    unit_of, unit_label, read = _unit_of_firms(firms, units, lq)
    if read is not None:
        return read, {"units": "polygons", "lq": lq}
    if by is None:
        raise InputError(
            "exposure: method='lq' needs by= (the column with each firm's industry) to "
            "compute the LQ of the firm's unit in its industry."
        )
    table = pd.DataFrame({"_unit": unit_of.to_numpy(), "_industry": firms[by].to_numpy()})
    if weight is not None:
        if weight not in firms.columns:
            raise InputError(f"exposure: weight={weight!r} is not a column of firms.")
        table["_value"] = firms[weight].to_numpy()
    known = table["_unit"].notna().to_numpy()
    if table.loc[known, "_industry"].isna().any():
        raise InputError(f"exposure: by column {by!r} has missing values; fill or drop them.")
    lqs = location_quotient(
        table[known], unit="_unit", by="_industry",
        weight="_value" if weight is not None else None, min_total=min_total, complete=True,
    )
    lookup = lqs.set_index(["_unit", "_industry"])["lq"]
    keys = pd.MultiIndex.from_arrays([table["_unit"], table["_industry"]])
    out = lookup.reindex(keys).to_numpy(dtype=float, copy=True)
    out[~known] = np.nan
    return out, {"units": unit_label, "by": by, "weight": weight, "min_total": min_total}


def _region_exposure(firms, regions, region_id):
    if not isinstance(regions, gpd.GeoDataFrame):
        raise InputError(
            "exposure: method='region' needs regions=: a GeoDataFrame of polygons, e.g. the output "
            "of gc.density_clusters or gc.cluster_regions."
        )
    if regions.crs is None:
        raise InputError("exposure: regions has no CRS; set it first.")
    use = regions
    if "cluster" in regions.columns and (regions["cluster"] == "HH").any():
        use = regions[regions["cluster"] == "HH"]
    if region_id is None:
        region_id = "cluster_id" if "cluster_id" in use.columns else None
    if region_id is not None and region_id not in use.columns:
        raise InputError(f"exposure: region_id={region_id!r} is not a column of regions.")
    ids = use.index.to_numpy() if region_id is None else use[region_id].to_numpy()
    pts = read_points(firms, where="exposure", what="firms")
    polys = use.to_crs(pts.crs).geometry.values
    pos = label_points(pts.x, pts.y, polys, np.arange(len(use)))
    member = (pos >= 0).astype(np.int64)
    region = pd.Series(ids[np.maximum(pos, 0)] if len(use) else np.full(len(pos), None),
                       index=firms.index)
    region = region.where(pos >= 0)
    if pd.api.types.is_integer_dtype(np.asarray(ids).dtype):
        region = region.astype("Int64")
    return member, region, {"n_regions": len(use), "region_id": region_id or "index"}


# ----------------------------------------------------------------------------- dask


def _dask_exposure(firms, method, name, log, standardize, options: dict):
    """``count`` / ``kde`` exposure of a dask GeoDataFrame by partition halos.

    The coordinates (and ``weight``/``by``) are read once and persisted; the values are
    computed (one float per firm, on the client, so ``log``/``standardize`` see them
    all); the returned dask GeoDataFrame adds them to each partition lazily.
    """
    if method not in DASK_METHODS:
        raise InputError(
            f"exposure: method={method!r} does not run on a dask GeoDataFrame; dask frames "
            f"take method='count' or 'kde' (by partition halos). For {method!r}, compute the "
            "frame first (firms.compute()) or aggregate to units with gc.aggregate."
        )
    _check_options(firms.columns, method, name, log, standardize, options)
    by, weight = options["by"], options["weight"]
    if weight is not None and weight not in firms.columns:
        raise InputError(f"exposure: weight={weight!r} is not a column of firms.")
    bs = tiled_blocks(firms, [c for c in (weight, by) if c is not None], crs=options["crs"],
                      where="exposure", prepare=partial(_check_partition, weight=weight, by=by))
    if bs.n == 0:
        raise InputError("exposure: firms is empty; there is nothing to analyse.")
    extent = extent_points(bs)
    if method == "count":
        if options["radius"] is None:
            raise InputError("exposure: method='count' needs radius=, e.g. radius='10km'.")
        r = parse_distance(options["radius"], name="radius")
        check_scale(r, extent, f"radius={options['radius']!r}")
        values = neighbour_sums(bs, r, weight=weight, group=by)
    else:
        values = _dask_kde(bs, extent, options["bandwidth"], options["kernel"] or "gaussian",
                           by, weight)
    values = _transform(np.asarray(values, dtype=float), method, name, log, standardize)
    return with_column(firms, name, values, bs.frame_lengths)


def _check_partition(part, *, weight, by):
    """The per-partition checks of the in-memory path (weights, industry codes)."""
    if weight is not None:
        check_weight_column(part, weight, where="exposure", what="firms")
    if by is not None and part[by].isna().any():
        raise InputError(
            f"exposure: by column {by!r} has {int(part[by].isna().sum())} missing values in "
            "a partition; fill them (e.g. 'unknown') or drop those firms."
        )
    return part


#: Pairs within the kernel support above which the in-memory ``kde`` exposure switches
#: to the binned estimate (``leave_one_out_density``'s ``max_pairs`` and ``max_side``).
EXACT_MAX_PAIRS = 20_000_000
LOO_MAX_SIDE = 4000


def _dask_kde(bs: BlockSet, extent: PointData, bandwidth, kernel: str, by, weight):
    """Leave-one-out kernel sums by halos; binned past the in-memory exact limit."""
    if bandwidth is None:
        raise InputError("exposure: method='kde' needs bandwidth=, e.g. bandwidth='10km'.")
    if isinstance(bandwidth, str) and bandwidth.lower() in ("scott", "silverman", "cv"):
        raise InputError(
            f"exposure: bandwidth={bandwidth!r} is estimated from all firms at once, which a "
            "dask frame does not do; give a distance, e.g. bandwidth='10km'."
        )
    kernel = check_kernel(kernel)
    h, _ = resolve_bandwidth(bandwidth, kernel, extent)
    support = kernel_support(kernel, h)
    totals = group_pair_counts(bs, support, by)
    crowded = [g for g, t in totals.items() if t / 2 > EXACT_MAX_PAIRS]
    values = neighbour_sums(bs, support, weight=weight, group=by,
                            kernel=partial(kernel_values, kernel, h=h), skip=crowded)
    for g in crowded:  # as leave_one_out_density beyond max_pairs, on one grid
        rows, binned = _binned_group(bs, by, g, weight, h, kernel, support)
        values[rows] = binned
    return values * M2_PER_KM2


def _binned_group(bs: BlockSet, by, g, weight, h: float, kernel: str, support: float):
    """Global rows and binned leave-one-out densities of the firms of industry ``g``: the
    grid of ``leave_one_out_density`` from the industry's extent, each partition binned
    (``sparse_bin``), summed, convolved once, read back at the firms per partition."""
    box = np.array(map_blocks(bs, _group_box, by, g, label="exposure: industry extent"))
    lo, hi = np.nanmin(box[:, :2], axis=0), np.nanmax(box[:, 2:], axis=0)
    xmin, ymin = lo - support
    span = max(hi - lo) + 2 * support
    cell = max(h / _kde.EQUIVALENT_RADIUS[kernel] / 8.0, span / LOO_MAX_SIDE)
    nx, ny = (int(np.ceil((hi[i] + support - (xmin, ymin)[i]) / cell)) for i in (0, 1))
    hk = _kde.binning_corrected_scale(kernel, h, cell, True)
    half = int(np.ceil(kernel_support(kernel, hk) / cell))
    layout = (xmin + 0.5 * cell - half * cell, ymin + 0.5 * cell - half * cell, cell,
              nx + 2 * half, ny + 2 * half)
    bins = map_blocks(bs, _bin_group, by, g, weight, layout, label="exposure: binning")
    dens = convolve_binned(dense_bins(bins, layout[3], layout[4]), cell=cell, hk=hk,
                           half=half, nx=nx, ny=ny, kernel=kernel)
    parts = map_blocks(bs, _read_group, by, g, weight, dens, (xmin, ymin, cell, h, kernel),
                       label="exposure: binned densities at the firms")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _in_group(block, by, g) -> np.ndarray:
    return np.ones(len(block), dtype=bool) if by is None else block.values[by] == g


def _group_box(block, by, g) -> np.ndarray:
    return block_bounds(block.take(_in_group(block, by, g)))


def _bin_group(block, by, g, weight, layout):
    sub = block.take(_in_group(block, by, g))
    w = None if weight is None else np.asarray(sub.values[weight], dtype=float)
    return sparse_bin(sub.x, sub.y, w, *layout)


def _read_group(block, by, g, weight, dens, grid):
    xmin, ymin, cell, h, kernel = grid
    sub = block.take(_in_group(block, by, g))
    w = np.ones(len(sub)) if weight is None else np.asarray(sub.values[weight], dtype=float)
    fx, fy = (sub.x - xmin) / cell - 0.5, (sub.y - ymin) / cell - 0.5
    own = w * _kde.binned_self_weight(kernel, h, cell, fx - np.floor(fx), fy - np.floor(fy),
                                      interpolated=True)
    return sub.pos, np.maximum(_kde.bilinear(dens, fx, fy) - own, 0.0)
