"""One clustering measure per firm (cluster exposure), ready to use in the models.

:func:`exposure` returns a copy of the firms with one new column (default
``"exposure"``; name it with ``column=``, e.g. ``column="cluster"`` for
``gc.regress("intl ~ cluster + ...", firms)``). Methods:

``"kde"``
    Kernel density at the firm from the *other* firms (leave-one-out), in firms (or
    weight) per km^2: ``sum_{j != i} w_j K_h(x_i - x_j)`` with the kernel of
    :func:`geocluster.kde` (a Gaussian with standard deviation ``bandwidth`` by
    default). Exact from a KD-tree of the pairs within the kernel support; beyond
    20 million such pairs it switches to the binned estimate minus the firm's own
    binned contribution (accuracy as :func:`geocluster.kde`).
``"count"``
    Number of other firms (or their total weight) within ``radius`` (distance
    ``<=``), optionally only those of the firm's own ``industry``.
``"lq"``
    The location quotient of the firm's unit in the firm's industry, computed from the
    firms themselves with :func:`geocluster.location_quotient` (``industry`` and
    ``units`` needed), or read from a column ``lq`` of ``units``.
``"region"``
    1 if the firm lies in one of the ``regions`` polygons (the output of
    :func:`geocluster.density_clusters` or the HH rows of
    :func:`geocluster.cluster_regions`), else 0; the region's id goes to a second
    column ``<column>_id`` (missing outside).

``log=True`` takes the natural log (all values must be positive; ``log="log1p"``
takes ``log(1 + x)`` and keeps zeros), then ``standardize=True`` subtracts the mean
and divides by the population standard deviation (``ddof=0``).
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geocluster.clusters import _kde
from geocluster.clusters.density import (
    _check_kernel,
    _read_points,
    _resolve_bandwidth,
    check_scale,
    label_points,
)
from geocluster.errors import GeoclusterWarning, InputError
from geocluster.units import parse_distance

__all__ = ["exposure"]

METHODS = ("kde", "count", "lq", "region")
_M2_PER_KM2 = 1e6


def exposure(
    firms: gpd.GeoDataFrame,
    *,
    method: str,
    column: str = "exposure",
    bandwidth: str | float | None = None,
    kernel: str = "gaussian",
    radius: str | float | None = None,
    industry: str | None = None,
    weight: str | None = None,
    units: gpd.GeoDataFrame | str | None = None,
    lq: str | None = None,
    min_total: float = 30,
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
        ``crs`` or the automatic choice of :func:`geocluster.to_metric`).
    method
        ``"kde"``, ``"count"``, ``"lq"`` or ``"region"`` (see the module docstring).
    column
        Name of the new column (``"region"`` also adds ``<column>_id``). An existing
        column of that name is replaced in the returned frame, with a warning.
    bandwidth, kernel
        ``"kde"``: the kernel scale (a distance such as ``"10km"``, or ``"scott"``,
        ``"silverman"``, ``"cv"`` applied to all firms) and kernel, as in
        :func:`geocluster.kde`. Values are weight per km^2.
    radius
        ``"count"``: the distance, e.g. ``"10km"``.
    industry
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
        ``"lq"``: units smaller than this (firms, or ``weight``) get NaN (see
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
        Metric CRS for distances.

    Returns
    -------
    GeoDataFrame
        A copy of ``firms`` (same index and columns) with ``column`` added; the input is
        not modified. ``attrs["exposure"]`` records the method and its options.

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> firms = gpd.GeoDataFrame(
    ...     {"ind": ["a", "a", "b", "a"]},
    ...     geometry=gpd.points_from_xy([0, 3000, 4000, 50000], [0, 0, 0, 0]), crs=3857)
    >>> gc.exposure(firms, method="count", radius="5km")["exposure"].tolist()
    [2.0, 2.0, 2.0, 0.0]
    >>> gc.exposure(firms, method="count", radius="5km", industry="ind")["exposure"].tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    if not isinstance(firms, gpd.GeoDataFrame):
        raise InputError(
            f"firms must be a GeoDataFrame of points, got {type(firms).__name__}; build one "
            "with geocluster.read_firms or geopandas.points_from_xy."
        )
    if method not in METHODS:
        raise InputError(f"method={method!r} is not supported; choose one of {METHODS}.")
    if not isinstance(column, str) or not column:
        raise InputError(f"column={column!r} must be a non-empty string.")
    if log not in (False, True, "log1p"):
        raise InputError(f"log={log!r} must be False, True (natural log) or 'log1p'.")
    if method == "region" and (log or standardize):
        raise InputError("method='region' gives a 0/1 membership; log and standardize do not apply.")
    if industry is not None and industry not in firms.columns:
        raise InputError(f"industry={industry!r} is not a column of firms.")

    taken = [c for c in (column, f"{column}_id" if method == "region" else None)
             if c is not None and c in firms.columns]
    if taken:
        one = len(taken) == 1
        names = " and ".join(repr(c) for c in taken)
        warnings.warn(
            f"firms already has {'a column' if one else 'columns'} {names}; the returned frame "
            f"replaces {'it' if one else 'them'} (the input is unchanged). Pass column= to "
            "choose another name.",
            GeoclusterWarning,
            stacklevel=2,
        )
    extra: dict[str, object] = {}
    if method == "kde":
        values, extra = _kde_exposure(firms, bandwidth, kernel, industry, weight, crs)
    elif method == "count":
        values, extra = _count_exposure(firms, radius, industry, weight, crs)
    elif method == "lq":
        values, extra = _lq_exposure(firms, industry, weight, units, lq, min_total)
    else:
        member, ids, extra = _region_exposure(firms, regions, region_id)
        out = firms.copy()
        out[column] = member
        out[f"{column}_id"] = ids
        out.attrs["exposure"] = {"method": method, **extra}
        return out

    values = np.asarray(values, dtype=float)
    if log is True:
        bad = int(np.sum(values <= 0))
        if bad:
            raise InputError(
                f"log=True needs positive values, but {bad} firms have {method} exposure 0; "
                "use log='log1p' for log(1 + x)."
            )
        values = np.log(values)
    elif log == "log1p":
        values = np.log1p(values)
    if standardize:
        _check_variation(values, method, column)
        sd = np.nanstd(values)
        values = (values - np.nanmean(values)) / sd
    out = firms.copy()
    out[column] = values
    out.attrs["exposure"] = {"method": method, "log": log, "standardize": standardize, **extra}
    return out


#: With at least this many firms, an exposure with fewer than MIN_DISTINCT distinct
#: values is refused by standardize=True.
MANY_FIRMS = 30
MIN_DISTINCT = 3


def _check_variation(values: np.ndarray, method: str, column: str) -> None:
    """Refuse to standardise an exposure without usable variation (InputError says why)."""
    finite = values[np.isfinite(values)]
    n = len(finite)
    where = f"standardize=True: the {method} exposure {column!r}"
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
            "standardised (its sd is 0). Use a smaller radius or bandwidth, an industry= "
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


def _groups(firms: gpd.GeoDataFrame, industry: str | None) -> list[np.ndarray]:
    """Row positions per industry (one group of all rows without ``industry``)."""
    if industry is None:
        return [np.arange(len(firms))]
    codes = firms[industry]
    if codes.isna().any():
        raise InputError(
            f"industry column {industry!r} has {int(codes.isna().sum())} missing values; "
            "fill them (e.g. 'unknown') or drop those firms."
        )
    labels = pd.factorize(codes)[0]
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, cuts)


def _kde_exposure(firms, bandwidth, kernel, industry, weight, crs):
    if bandwidth is None:
        raise InputError("method='kde' needs bandwidth=, e.g. bandwidth='10km' or 'scott'.")
    kernel = _check_kernel(kernel)
    pts = _read_points(firms, weight=weight, crs=crs, name="firms")
    h, how = _resolve_bandwidth(bandwidth, kernel, pts)
    w = np.ones(len(pts.x)) if pts.w is None else pts.w
    values = np.zeros(len(pts.x))
    modes = set()
    for rows in _groups(firms, industry):
        if len(rows) < 2:
            continue  # a lone firm has no other firms: 0
        dens, mode = _kde.leave_one_out_density(pts.x[rows], pts.y[rows], w[rows], h, kernel)
        values[rows] = dens * _M2_PER_KM2
        modes.add(mode)
    return values, {"bandwidth_m": h, "bandwidth_method": how, "kernel": kernel,
                    "industry": industry, "weight": weight, "computation": sorted(modes),
                    "unit": "weight per km^2"}


def _count_exposure(firms, radius, industry, weight, crs):
    if radius is None:
        raise InputError("method='count' needs radius=, e.g. radius='10km'.")
    r = parse_distance(radius, name="radius")
    pts = _read_points(firms, weight=weight, crs=crs, name="firms")
    check_scale(r, pts, f"radius={radius!r}")
    values = np.zeros(len(pts.x))
    xy = np.column_stack([pts.x, pts.y])
    for rows in _groups(firms, industry):
        if len(rows) < 2:
            continue
        sub = xy[rows]
        tree = _kde.cKDTree(sub)
        if pts.w is None:
            counts = tree.query_ball_point(sub, r, return_length=True) - 1
            values[rows] = counts
        else:
            pairs = tree.query_pairs(r, output_type="ndarray")
            wr = pts.w[rows]
            i, j = pairs[:, 0], pairs[:, 1]
            values[rows] = (np.bincount(i, wr[j], minlength=len(rows))
                            + np.bincount(j, wr[i], minlength=len(rows)))
    return values, {"radius_m": r, "industry": industry, "weight": weight}


def _lq_exposure(firms, industry, weight, units, lq, min_total):
    if units is None:
        raise InputError(
            "method='lq' needs units=: a column of firms naming each firm's unit (e.g. "
            "'fips') or a GeoDataFrame of unit polygons."
        )
    if isinstance(units, str):
        if units not in firms.columns:
            raise InputError(f"units={units!r} is not a column of firms.")
        if lq is not None:
            raise InputError("lq= reads LQs from a GeoDataFrame of units; with units as a "
                             "column, leave lq=None to compute them from the firms.")
        unit_of = firms[units]
        unit_label = units
    elif isinstance(units, gpd.GeoDataFrame):
        if units.crs is None:
            raise InputError("units has no CRS; set it first.")
        if not units.index.is_unique:
            raise InputError("units must have a unique index (it is the unit id).")
        if lq is not None and lq not in units.columns:
            raise InputError(f"lq={lq!r} is not a column of units.")
        pts = _read_points(firms, name="firms")
        polys = units.to_crs(pts.crs).geometry.values
        pos = label_points(pts.x, pts.y, polys, np.arange(len(units)))
        outside = int((pos < 0).sum())
        if outside:
            warnings.warn(
                f"{outside} firms lie in none of the units; their LQ exposure is NaN.",
                GeoclusterWarning, stacklevel=3,
            )
        labels = np.asarray(units.index, dtype=object)
        unit_of = pd.Series(np.where(pos >= 0, labels[np.maximum(pos, 0)], None),
                            index=firms.index, dtype=object)
        if lq is not None:
            values = pd.to_numeric(units[lq], errors="coerce").to_numpy(dtype=float)
            out = np.where(pos >= 0, values[np.maximum(pos, 0)], np.nan)
            return out, {"units": "polygons", "lq": lq}
        unit_label = "unit"
    else:
        raise InputError(
            f"units must be a column name or a GeoDataFrame, got {type(units).__name__}."
        )
    if industry is None:
        raise InputError(
            "method='lq' needs industry= (the column with each firm's industry) to compute "
            "the LQ of the firm's unit in its industry."
        )
    from geocluster.areal import location_quotient

    table = pd.DataFrame({"_unit": unit_of.to_numpy(), "_industry": firms[industry].to_numpy()})
    if weight is not None:
        if weight not in firms.columns:
            raise InputError(f"weight={weight!r} is not a column of firms.")
        table["_value"] = firms[weight].to_numpy()
    known = table["_unit"].notna().to_numpy()
    if table.loc[known, "_industry"].isna().any():
        raise InputError(f"industry column {industry!r} has missing values; fill or drop them.")
    lqs = location_quotient(
        table[known], unit="_unit", industry="_industry",
        value="_value" if weight is not None else None, min_total=min_total, complete=True,
    )
    lookup = lqs.set_index(["_unit", "_industry"])["lq"]
    keys = pd.MultiIndex.from_arrays([table["_unit"], table["_industry"]])
    out = lookup.reindex(keys).to_numpy(dtype=float, copy=True)
    out[~known] = np.nan
    return out, {"units": unit_label, "industry": industry, "weight": weight,
                 "min_total": min_total}


def _region_exposure(firms, regions, region_id):
    if not isinstance(regions, gpd.GeoDataFrame):
        raise InputError(
            "method='region' needs regions=: a GeoDataFrame of polygons, e.g. the output "
            "of gc.density_clusters or gc.cluster_regions."
        )
    if regions.crs is None:
        raise InputError("regions has no CRS; set it first.")
    use = regions
    if "cluster" in regions.columns and (regions["cluster"] == "HH").any():
        use = regions[regions["cluster"] == "HH"]
    if region_id is None:
        region_id = "cluster_id" if "cluster_id" in use.columns else None
    if region_id is not None and region_id not in use.columns:
        raise InputError(f"region_id={region_id!r} is not a column of regions.")
    ids = use.index.to_numpy() if region_id is None else use[region_id].to_numpy()
    pts = _read_points(firms, name="firms")
    polys = use.to_crs(pts.crs).geometry.values
    pos = label_points(pts.x, pts.y, polys, np.arange(len(use)))
    member = (pos >= 0).astype(np.int64)
    region = pd.Series(ids[np.maximum(pos, 0)] if len(use) else np.full(len(pos), None),
                       index=firms.index)
    region = region.where(pos >= 0)
    if pd.api.types.is_integer_dtype(np.asarray(ids).dtype):
        region = region.astype("Int64")
    return member, region, {"n_regions": len(use), "region_id": region_id or "index"}
