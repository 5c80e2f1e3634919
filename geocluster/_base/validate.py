"""The checks every floor shares: seeds, alpha, counts, subsets, point frames, weight columns.

One copy of each check. ``where`` names the calling function (``"k_density"``; a trailing
``": "`` is accepted too) and prefixes every message, so an error says which call and which
argument is wrong and what to do.

Rows are named as the user counts them: by their index label (``e.g. rows ['u04', 7]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster.errors import CRSError, InputError
from geocluster.units import target_metric_crs

__all__ = [
    "PointData",
    "check_alpha",
    "check_points",
    "check_positive_int",
    "check_seed",
    "check_weight_column",
    "make_rng",
    "read_points",
    "seed_label",
    "spawn_seeds",
    "subset_mask",
]

#: How many offending row labels a message names.
_EXAMPLES = 5


def _prefix(where: str) -> str:
    """``"kde"`` or ``"kde: "`` -> ``"kde: "``; ``""`` -> ``""``."""
    where = where.strip().rstrip(":").strip()
    return f"{where}: " if where else ""


def _examples(index: pd.Index, bad: np.ndarray) -> str:
    """``"e.g. rows [3, 7]"``: the first offending index labels."""
    return f"e.g. rows {index[bad][:_EXAMPLES].tolist()}"


# ----------------------------------------------------------------------------- seeds


def _is_seed(seed) -> bool:
    return bool(seed is None or isinstance(seed, np.random.Generator | np.random.SeedSequence) or (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0
    ))


def check_seed(seed, where: str = "") -> None:
    """Refuse a seed :func:`numpy.random.default_rng` would reject, with a geocluster error.

    A seed is None (fresh entropy), a non-negative int (numpy integers too), a
    :class:`numpy.random.Generator` or a :class:`numpy.random.SeedSequence`.

    Examples
    --------
    >>> check_seed(np.int64(7))
    >>> check_seed(-1, "k_density")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: k_density: seed=-1 must be None, a non-negative int or a numpy Generator ...
    """
    if not _is_seed(seed):
        raise InputError(
            f"{_prefix(where)}seed={seed!r} must be None, a non-negative int or a numpy "
            "Generator (or SeedSequence)."
        )


def make_rng(seed, where: str = "") -> np.random.Generator:
    """The random generator of a seed (checked by :func:`check_seed`).

    A Generator is returned as it is (its stream goes on); anything else seeds a new one.

    Examples
    --------
    >>> int(make_rng(7).integers(1000)) == int(make_rng(7).integers(1000))
    True
    >>> g = np.random.default_rng(1)
    >>> make_rng(g) is g
    True
    """
    check_seed(seed, where)
    return np.random.default_rng(seed)


def spawn_seeds(seed, n: int, where: str = "") -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed``, one per task of a sweep.

    The same int (or SeedSequence state) gives the same children; a Generator gives the
    children of the SeedSequence it was made from (``Generator.spawn``'s convention), so
    ``seed=default_rng(7)`` and ``seed=7`` give the same children the first time, and a
    second call on the same Generator gives new ones; None gives fresh entropy.

    Examples
    --------
    >>> a = spawn_seeds(3, 2)
    >>> [int(np.random.default_rng(s).integers(1000)) for s in a] == [
    ...     int(np.random.default_rng(s).integers(1000)) for s in spawn_seeds(3, 2)]
    True
    >>> len(spawn_seeds(None, 4)), spawn_seeds(3, 0)
    (4, [])
    >>> spawn_seeds(np.random.default_rng(3), 1)[0].spawn_key == spawn_seeds(3, 1)[0].spawn_key
    True
    """
    check_seed(seed, where)
    n = check_positive_int(n, where=where, name="n", minimum=0)
    if isinstance(seed, np.random.SeedSequence):
        root = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key,
                                      pool_size=seed.pool_size)
    elif isinstance(seed, np.random.Generator):
        seed_seq = getattr(seed.bit_generator, "seed_seq", None)
        if isinstance(seed_seq, np.random.SeedSequence):
            return seed_seq.spawn(n)  # advances its spawn counter, like Generator.spawn
        root = np.random.SeedSequence(seed.integers(0, 2**63 - 1, size=4).tolist())
    else:
        root = np.random.SeedSequence(None if seed is None else int(seed))
    return root.spawn(n)


def seed_label(seed) -> int | str | None:
    """How a seed is recorded in results: the int, None, "Generator" or "SeedSequence".

    Examples
    --------
    >>> seed_label(np.int64(7)), seed_label(None), seed_label(np.random.default_rng(1))
    (7, None, 'Generator')
    >>> seed_label(np.random.SeedSequence(1))
    'SeedSequence'
    """
    if seed is None:
        return None
    if isinstance(seed, np.random.SeedSequence):
        return "SeedSequence"
    if isinstance(seed, np.random.Generator):
        return "Generator"
    return int(seed)


# ----------------------------------------------------------------------------- numbers


def _is_real(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)


def check_alpha(alpha, *, where: str, name: str = "alpha", upper: float = 1.0) -> float:
    """``alpha`` as a float strictly between 0 and ``upper``, or :class:`InputError`.

    Examples
    --------
    >>> check_alpha(0.05, where="regress")
    0.05
    >>> check_alpha(0.7, where="k_density", upper=0.5)
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: k_density: alpha=0.7 must be a number between 0 and 0.5, e.g. 0.05.
    """
    if not _is_real(alpha) or not 0 < float(alpha) < upper:
        raise InputError(
            f"{_prefix(where)}{name}={alpha!r} must be a number between 0 and {upper:g}, "
            "e.g. 0.05."
        )
    return float(alpha)


def check_positive_int(value, *, where: str, name: str, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (numpy integers too), or :class:`InputError`.

    Examples
    --------
    >>> check_positive_int(np.int32(99), where="kde", name="simulations")
    99
    >>> check_positive_int(19.5, where="density_clusters", name="simulations")
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: density_clusters: simulations=19.5 must be an integer >= 1.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or (
            value < minimum):
        raise InputError(f"{_prefix(where)}{name}={value!r} must be an integer >= {minimum}.")
    return int(value)


# ----------------------------------------------------------------------------- subsets


def subset_mask(frame: pd.DataFrame, subset, *, where: str,
                what: str = "points") -> np.ndarray | None:
    """The rows of ``frame`` that ``subset`` selects, as a boolean array (None for None).

    ``subset`` is one of

    * a boolean mask (array or Series aligned to ``frame``'s index);
    * the name of a boolean column without missing values;
    * a ``(column, value)`` pair: the rows where ``column == value``;
    * a pandas query string, e.g. ``"naics == '3254' and employees > 10"``.

    A subset that selects no row is an error.

    Examples
    --------
    >>> frame = pd.DataFrame({"hub": [True, False, True], "naics": ["31", "32", "31"]})
    >>> subset_mask(frame, "hub", where="kde").tolist()
    [True, False, True]
    >>> subset_mask(frame, ("naics", "32"), where="kde").tolist()
    [False, True, False]
    >>> subset_mask(frame, "naics != '31'", where="kde").tolist()
    [False, True, False]
    >>> subset_mask(frame, ("naics", "99"), where="k_density")
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: k_density: subset=('naics', '99') selects no points: no point has naics == '99'.
    """
    if subset is None:
        return None
    p = _prefix(where)
    if isinstance(subset, str):
        mask = _string_mask(frame, subset, p, what)
    elif isinstance(subset, tuple):
        mask = _pair_mask(frame, subset, p, what)
    else:
        mask = _array_mask(frame, subset, p, what)
    if not mask.any():
        raise InputError(f"{p}subset={subset!r} selects no {what}.")
    return mask


def _string_mask(frame: pd.DataFrame, subset: str, p: str, what: str) -> np.ndarray:
    """A boolean column's name, or else a pandas query string."""
    if subset in frame.columns:
        col = frame[subset]
        if not pd.api.types.is_bool_dtype(col) or col.isna().any():
            raise InputError(
                f"{p}column {subset!r} must be boolean without missing values to be used as "
                f"subset; for a category write subset=({subset!r}, value)."
            )
        return col.to_numpy(dtype=bool)
    if subset.isidentifier():
        raise InputError(
            f"{p}subset={subset!r} is not a column of {what}; give a boolean column name, a "
            "boolean mask, a (column, value) pair, e.g. subset=('naics', '3254'), or a query "
            "such as subset=\"naics == '3254'\"."
        )
    try:
        result = frame.eval(subset)
    except Exception as exc:  # pandas raises many kinds for a bad query
        raise InputError(
            f"{p}subset={subset!r} is neither a column of {what} nor a query pandas can "
            f"evaluate ({type(exc).__name__}: {exc})."
        ) from None
    if not isinstance(result, pd.Series) or not pd.api.types.is_bool_dtype(result):
        raise InputError(
            f"{p}the query subset={subset!r} must give True/False per row, e.g. "
            "subset=\"naics == '3254'\"."
        )
    return result.to_numpy(dtype=bool, na_value=False)


def _pair_mask(frame: pd.DataFrame, subset: tuple, p: str, what: str) -> np.ndarray:
    if len(subset) != 2 or not isinstance(subset[0], str):
        raise InputError(
            f"{p}subset={subset!r} as a tuple must be a (column, value) pair, e.g. "
            "subset=('naics', '3254')."
        )
    column, value = subset
    if column not in frame.columns:
        raise InputError(
            f"{p}subset column {column!r} is not a column of {what}; give a (column, value) "
            "pair naming a column, e.g. subset=('naics', '3254')."
        )
    mask = (frame[column] == value).to_numpy(dtype=bool, na_value=False)
    if not mask.any():
        one = what[:-1] if what.endswith("s") else what
        raise InputError(
            f"{p}subset={subset!r} selects no {what}: no {one} has {column} == {value!r}."
        )
    return mask


def _array_mask(frame: pd.DataFrame, subset, p: str, what: str) -> np.ndarray:
    n = len(frame)
    if isinstance(subset, pd.Series):
        if not subset.index.equals(frame.index):
            raise InputError(
                f"{p}the subset Series' index differs from the {what}' index; align it "
                f"(subset.reindex({what}.index)) or pass a plain array."
            )
        subset = subset.to_numpy()
    arr = np.asarray(subset)
    if arr.dtype != bool or arr.shape != (n,):
        given = repr(subset) if arr.ndim == 0 else f"{arr.dtype} values of shape {arr.shape}"
        raise InputError(
            f"{p}subset must be a boolean mask of length {n}, a boolean column name, a "
            f"(column, value) pair or a query string; got {given}."
        )
    return arr


# ----------------------------------------------------------------------------- points


def check_points(frame, *, where: str, what: str = "points") -> None:
    """Raise :class:`InputError` unless ``frame`` is a non-empty GeoDataFrame of points.

    ``where`` names the calling function and ``what`` the argument in the messages.

    Examples
    --------
    >>> from shapely.geometry import Point, LineString
    >>> check_points(gpd.GeoDataFrame(geometry=[Point(0, 0)]), where="kde")
    >>> check_points(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])]), where="kde")
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: kde: points must be points, but the geometries are ...
    """
    p = _prefix(where)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(
            f"{p}{what} must be a GeoDataFrame of points, got {type(frame).__name__}; "
            "build one with geocluster.read_firms or geopandas.points_from_xy."
        )
    if len(frame) == 0:
        raise InputError(f"{p}{what} is empty; there is nothing to analyse.")
    geoms = frame.geometry
    bad = (geoms.isna() | geoms.is_empty).to_numpy()
    if bad.any():
        raise InputError(
            f"{p}{int(bad.sum())} {what} have missing or empty geometries "
            f"({_examples(frame.index, bad)}); drop them first."
        )
    # type ids, not geom_type strings (one string a point: 0.1 s per 500k points)
    if (shapely.get_type_id(geoms.to_numpy()) != 0).any():
        kinds = set(geoms.geom_type.unique())
        raise InputError(
            f"{p}{what} must be points, but the geometries are {sorted(kinds)}; "
            "use .representative_point() or .centroid first."
        )


@dataclass(frozen=True)
class PointData:
    """Points read for a computation: metric coordinates, weights, CRS and index.

    Attributes
    ----------
    x, y
        Coordinates in metres in :attr:`crs` (fresh arrays, safe to modify).
    w
        The weight of each point, or None when every point counts 1.
    crs
        The metric CRS of ``x`` and ``y``.
    index
        The input frame's index (the firm ids).
    """

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    crs: pyproj.CRS
    index: pd.Index

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        weighted = "unweighted" if self.w is None else f"total weight {self.total_weight:,.6g}"
        return f"<PointData of {len(self.x):,} points in {self.crs.name}, {weighted}>"

    @property
    def total_weight(self) -> float:
        """The number of points, or the sum of their weights."""
        return float(len(self.x)) if self.w is None else float(self.w.sum())


def read_points(
    frame: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    where: str,
    weight: str | np.ndarray | pd.Series | None = None,
    crs: str | int | pyproj.CRS | None = None,
    what: str = "points",
    allow_empty: bool = False,
) -> PointData:
    """Validate a frame of points and return their metric coordinates (and weights).

    The metric CRS is ``crs``, else the frame's own when it is metric, else the automatic
    choice (:func:`geocluster.units.target_metric_crs`). ``weight`` is a column name
    (checked by :func:`check_weight_column`) or one value per point; weights that sum to
    zero are refused.

    Examples
    --------
    >>> pts = gpd.GeoDataFrame({"emp": [1.0, 3.0]},
    ...                        geometry=gpd.points_from_xy([-71.06, -71.1], [42.36, 42.4]),
    ...                        crs=4326)
    >>> data = read_points(pts, where="kde", weight="emp")
    >>> data.crs.to_epsg(), data.total_weight
    (32619, 4.0)
    >>> read_points(pts.set_crs(None, allow_override=True), where="kde")
    Traceback (most recent call last):
    ...
    geocluster.errors.CRSError: kde: points has no CRS, so distances cannot be measured. ...
    """
    p = _prefix(where)
    if isinstance(frame, gpd.GeoSeries):
        frame = gpd.GeoDataFrame(geometry=frame)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(
            f"{p}{what} must be a GeoDataFrame of points, got {type(frame).__name__}; "
            "build one with geocluster.read_firms or geopandas.points_from_xy."
        )
    if len(frame) == 0 and not allow_empty:
        raise InputError(f"{p}{what} is empty: there is nothing to analyse.")
    if frame.crs is None:
        raise CRSError(
            f"{p}{what} has no CRS, so distances cannot be measured. Set the CRS the "
            "coordinates are in, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude."
        )
    x, y = _point_xy(np.asarray(frame.geometry.values), frame.index, p, what)
    src = pyproj.CRS.from_user_input(frame.crs)
    target = target_metric_crs(src, x, y, crs)
    if not target.equals(src):
        transformer = pyproj.Transformer.from_crs(src, target, always_xy=True)
        transformer.transform(x, y, inplace=True)  # x, y are our own fresh arrays
    if len(x) and not np.isfinite(x.sum() + y.sum()):
        bad = ~np.isfinite(x) | ~np.isfinite(y)
        raise CRSError(
            f"{p}{int(bad.sum())} {what} have no finite coordinates in {target.name} "
            f"({_examples(frame.index, bad)}); check the CRS the data are in."
        )
    w = None if weight is None else _point_weights(frame, weight, p, what)
    return PointData(x=x, y=y, w=w, crs=target, index=frame.index)


def _point_xy(geoms: np.ndarray, index: pd.Index, p: str,
              what: str) -> tuple[np.ndarray, np.ndarray]:
    """x and y of point geometries (fresh arrays); a fast path, diagnosed only on failure."""
    try:
        x = shapely.get_x(geoms)
        y = shapely.get_y(geoms)
    except shapely.errors.GEOSException:  # empty points raise
        _diagnose_geometries(geoms, index, p, what)
    if len(x) and np.isnan(x.sum() + y.sum()):
        _diagnose_geometries(geoms, index, p, what)
    return x, y


def _diagnose_geometries(geoms: np.ndarray, index: pd.Index, p: str, what: str) -> None:
    type_id = shapely.get_type_id(geoms)
    missing = type_id == -1
    if missing.any():
        raise InputError(
            f"{p}{what} has {int(missing.sum())} rows with a missing geometry "
            f"({_examples(index, missing)}); drop them first (gdf[gdf.geometry.notna()])."
        )
    other = type_id != 0
    if other.any():
        raise InputError(
            f"{p}{what} must hold Point geometries; {int(other.sum())} rows are not points "
            f"({_examples(index, other)}). Use gdf.representative_point() (or .centroid) to "
            "reduce polygons to points."
        )
    empty = shapely.is_empty(geoms)
    if not empty.any():  # points with NaN coordinates
        empty = np.isnan(shapely.get_coordinates(geoms, include_z=False)).any(axis=1)
    raise InputError(
        f"{p}{what} has {int(empty.sum())} empty points or points with NaN coordinates "
        f"({_examples(index, empty)}); drop them first (gdf[~gdf.geometry.is_empty])."
    )


def _point_weights(frame: gpd.GeoDataFrame, weight, p: str, what: str) -> np.ndarray:
    if isinstance(weight, str):
        w = check_weight_column(frame, weight, where=p, what=what)
        label = f"weight column {weight!r}"
    else:
        values = weight if isinstance(weight, pd.Series) else np.asarray(weight)
        if values.ndim != 1 or len(values) != len(frame):
            raise InputError(f"{p}weight has {len(values)} values for {len(frame)} {what}.")
        if not isinstance(values, pd.Series):
            values = pd.Series(values, index=frame.index)
        w = _weight_values(values, frame.index, "weight", p)
        label = "weight"
    if len(w) and w.sum() <= 0:
        raise InputError(f"{p}{label} sums to zero: there is nothing to measure.")
    return w


def check_weight_column(frame: pd.DataFrame, column: str, *, where: str,
                        what: str = "points") -> np.ndarray:
    """The values of a firm-weight column as floats: numeric, finite and non-negative.

    The messages count the offending rows and name the first of them by index label.

    Examples
    --------
    >>> frame = pd.DataFrame({"emp": [3, 0, 12]}, index=["a", "b", "c"])
    >>> check_weight_column(frame, "emp", where="kde").tolist()
    [3.0, 0.0, 12.0]
    >>> check_weight_column(frame.assign(emp=[3, -1, 12]), "emp", where="kde")
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: kde: weight column 'emp' has 1 negative values (e.g. rows ['b']); weights must be >= 0 (e.g. employment or sales).
    """
    p = _prefix(where)
    if not isinstance(column, str) or column not in frame.columns:
        raise InputError(
            f"{p}weight={column!r} is not a column of {what}; columns are "
            f"{_data_columns(frame)[:20]}."
        )
    return _weight_values(frame[column], frame.index, f"weight column {column!r}", p)


def _data_columns(frame: pd.DataFrame) -> list:
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    return [c for c in frame.columns if c != geometry]


def _weight_values(values: pd.Series, index: pd.Index, label: str, p: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(f"{p}{label} must be numeric, got {values.dtype}.")
    w = values.to_numpy(dtype=float, na_value=np.nan)
    index = index if len(index) == len(w) else pd.RangeIndex(len(w))
    checks = (
        (np.isnan(w), "missing (NaN) values", "fill or drop those rows first"),
        (np.isinf(w), "infinite values", "weights must be finite"),
        (w < 0, "negative values", "weights must be >= 0 (e.g. employment or sales)"),
    )
    for bad, kind, fix in checks:
        if bad.any():
            raise InputError(
                f"{p}{label} has {int(bad.sum())} {kind} ({_examples(index, bad)}); {fix}."
            )
    return w
