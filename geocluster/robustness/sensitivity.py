"""Cluster-map sensitivity: how much do the clusters change with their definition?

:func:`cluster_sensitivity` draws the high-high units of local Moran's I under several
weights specs, the density-cluster polygons under several bandwidths and envelope
significance levels, or the HDBSCAN cluster outlines under several minimum cluster sizes,
and compares every pair of maps by their Jaccard overlap
(:class:`~geocluster.robustness.result.SensitivityResult`). The overlap of two empty maps
is undefined (NaN), not 1.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.validate import check_alpha, check_positive_int, make_rng, seed_label
from geocluster.clusters.density import density_clusters
from geocluster.clusters.hdbscan import hdbscan_clusters
from geocluster.clusters.lisa import local_moran
from geocluster.errors import InputError
from geocluster.robustness.result import SensitivityResult

__all__ = ["cluster_sensitivity", "jaccard_sets", "jaccard_area"]

_WHERE = "cluster_sensitivity"
_DEFAULT_WEIGHTS = ("queen", "knn:6", "knn:10")
_DEFAULT_PERMUTATIONS, _DEFAULT_ALPHA = 999, 0.05
_DEFAULT_BANDWIDTHS, _DEFAULT_ALPHAS, _DEFAULT_SIMULATIONS = ("cv",), (0.05,), 99
_DEFAULT_MIN_FIRMS = (10, 20, 40)
#: The options of each method (the other methods' are refused by name).
_OPTIONS = {"lisa": ("weights", "permutations", "alpha"),
            "density": ("bandwidths", "alphas", "simulations"),
            "hdbscan": ("min_firms",)}
#: Arguments set by cluster_sensitivity itself, not passed through ``**options``.
_MANAGED = {"lisa": {"gdf", "column", "weights", "permutations", "alpha", "correction", "seed"},
            "density": {"points", "bandwidth", "alpha", "simulations", "seed", "min_firms"},
            "hdbscan": {"firms", "min_firms"}}
_FUNCTIONS: dict[str, Callable] = {"lisa": local_moran, "density": density_clusters,
                                   "hdbscan": hdbscan_clusters}
_TAKES = {"lisa": "LISA maps take weights=, permutations=, alpha= and correction=.",
          "density": "density clusters take bandwidths=, alphas= and simulations=.",
          "hdbscan": "HDBSCAN clusters take min_firms= (a list of minimum cluster sizes)."}


def cluster_sensitivity(
    data: gpd.GeoDataFrame,
    column: str | None = None,
    *,
    method: str = "lisa",
    weights: Sequence[str] | str | None = None,
    bandwidths: Sequence | str | float | None = None,
    alphas: Sequence[float] | float | None = None,
    reference: str | Mapping | Sequence | None = None,
    permutations: int | None = None,
    simulations: int | None = None,
    alpha: float | None = None,
    min_firms: Sequence[int] | int | None = None,
    correction: str | None = "fdr",
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    **options: Any,
) -> SensitivityResult:
    """Overlap of cluster maps across weights (LISA), bandwidths and alphas (KDE), or sizes.

    Parameters
    ----------
    data
        Areal units with ``column`` (``method="lisa"``) or firm points (``"density"``,
        ``"hdbscan"``).
    column
        The variable for :func:`geocluster.local_moran` (LISA only).
    method
        ``"lisa"``: the HH units of ``local_moran`` under each ``weights`` spec.
        ``"density"``: the polygons of ``density_clusters`` for each bandwidth x alpha.
        ``"hdbscan"``: the outlines of :func:`geocluster.clusters.hdbscan.hdbscan_clusters`
        for each ``min_firms``, an alternative density-based definition beside the KDE
        clusters (no bandwidth, no envelope; deterministic, so ``seed`` plays no part).
    weights, permutations, alpha, correction
        LISA only: the weights specs compared (default ``("queen", "knn:6", "knn:10")``),
        the permutations (999), the significance of the HH units (0.05) and the
        multiple-testing correction (``"fdr"``).
    bandwidths, alphas, simulations
        Density clusters only: the bandwidths compared (default ``("cv",)``), the
        significance levels of the Monte Carlo envelope (``(0.05,)``) and the
        simulations (99). An option of another method is an error naming it.
    min_firms
        HDBSCAN: the minimum cluster sizes compared, in firms (default ``(10, 20, 40)``).
        Density clusters: one value, passed on to ``density_clusters`` (its smallest
        cluster polygon).
    reference
        The definition the others are compared with, normally the study's own: a
        weights spec for LISA (e.g. ``"queen"``), ``{"bandwidth": ..., "alpha": ...}``
        or a ``(bandwidth, alpha)`` pair for density clusters, a ``min_firms`` for
        HDBSCAN. Added to the
        alternatives when it is not among them; it comes first in the table. ``None``:
        the first definition.
    seed
        One seed for every definition (so differences come from the definitions);
        recorded as :func:`~geocluster._base.validate.seed_label` says.
    **options
        Passed on (e.g. ``isolates="drop"`` to ``local_moran``; ``subset=``,
        ``null=``, ``cell_size=`` to ``density_clusters``; ``subset=``, ``min_samples=``,
        ``hull=`` to ``hdbscan_clusters``).

    Returns
    -------
    SensitivityResult
        The Jaccard overlap of two empty maps is undefined and reported as NaN.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen", "rook", "knn:4"],
    ...                               permutations=99, correction=None, seed=1)
    >>> sens.overlap.shape
    (3, 3)
    """
    seed_int = int(make_rng(seed, _WHERE).integers(0, 2**31 - 1))
    given = {"weights": weights, "permutations": permutations, "alpha": alpha,
             "bandwidths": bandwidths, "alphas": alphas, "simulations": simulations,
             "min_firms": min_firms}
    _check_method_options(method, given, correction, options)
    if method == "lisa":
        maps, rows, overlap = _lisa_maps(data, column, weights, reference, seed_int, permutations,
                                         alpha, correction, options)
    elif method == "hdbscan":
        maps, rows, overlap = _hdbscan_maps(data, column, min_firms, reference, options)
    else:
        if min_firms is not None:
            options = {**options, "min_firms": min_firms}
        maps, rows, overlap = _density_maps(data, bandwidths, alphas, reference, seed_int,
                                            simulations, options)
    table = pd.DataFrame(rows)
    table.insert(1, "reference", np.arange(len(table)) == 0)
    table["jaccard_vs_reference"] = overlap.iloc[0].to_numpy()
    return SensitivityResult(method=method, table=table, overlap=overlap, maps=maps,
                             seed=seed_label(seed), reference=str(table["label"].iloc[0]))


def _check_method_options(method: str, given: dict, correction, options: Mapping) -> None:
    """Refuse an unknown method, the other methods' options and unknown ``**options``."""
    if method not in _MANAGED:
        raise InputError(f"cluster_sensitivity: method={method!r} must be 'lisa' or 'density' "
                         "(KDE density clusters) or 'hdbscan'.")
    other = [name for m in _OPTIONS if m != method for name in _OPTIONS[m]
             if not (method == "density" and name == "min_firms")]
    wrong = [name for name in other if given[name] is not None]
    if method != "lisa" and correction != "fdr":
        wrong.append("correction")
    if wrong:
        raise InputError(
            f"cluster_sensitivity(method={method!r}): option(s) {wrong} do not apply to this "
            "method; " + _TAKES[method]
        )
    func = _FUNCTIONS[method]
    allowed = sorted(set(inspect.signature(func).parameters) - _MANAGED[method])
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise InputError(
            f"cluster_sensitivity(method={method!r}): unknown option(s) {bad}; "
            f"{func.__name__} options passed on are {allowed}."
        )


def _as_list(values, default: Sequence, scalar: tuple[type, ...]) -> list:
    if values is None:
        return list(default)
    return [values] if isinstance(values, scalar) else list(values)


def _lisa_maps(data, column, weights, reference, seed_int, permutations, alpha, correction,
               options) -> tuple[dict, list, pd.DataFrame]:
    if column is None:
        raise InputError("cluster_sensitivity(method='lisa') needs column=, the variable "
                         "of the LISA map (e.g. the units' location quotients).")
    specs = _as_list(weights, _DEFAULT_WEIGHTS, (str,))
    if not specs:
        raise InputError("cluster_sensitivity: weights= is empty; give at least one "
                         "weights spec, e.g. ['queen', 'knn:6'].")
    if reference is not None:
        if not isinstance(reference, str):
            raise InputError(
                f"cluster_sensitivity: reference={reference!r} must be a weights spec "
                "string for method='lisa', e.g. 'queen' (the study's areal weights)."
            )
        specs = [reference] + [w for w in specs if w != reference]
    permutations = _DEFAULT_PERMUTATIONS if permutations is None else permutations
    alpha = _DEFAULT_ALPHA if alpha is None else alpha
    maps, rows, sets = {}, [], {}
    for spec in specs:
        result = local_moran(data, column, weights=spec, permutations=permutations, alpha=alpha,
                             correction=correction, seed=seed_int, **options)
        maps[spec] = result
        sets[spec] = set(result.index[result["lisa_cluster"] == "HH"])
        rows.append({"label": spec, "weights": spec, "hh_units": len(sets[spec])})
    return maps, rows, _pairwise(list(maps), lambda a, b: jaccard_sets(sets[a], sets[b]))


def _density_maps(data, bandwidths, alphas, reference, seed_int, simulations,
                  options) -> tuple[dict, list, pd.DataFrame]:
    bandwidths = _as_list(bandwidths, _DEFAULT_BANDWIDTHS, (str, int, float))
    alphas = _as_list(alphas, _DEFAULT_ALPHAS, (int, float))
    if not bandwidths or not alphas:
        raise InputError("cluster_sensitivity: bandwidths= and alphas= must not be empty; "
                         "give e.g. bandwidths=['scott', '25km'], alphas=[0.05].")
    alphas = [check_alpha(a, where=_WHERE, name="alphas item") for a in alphas]
    simulations = check_positive_int(
        _DEFAULT_SIMULATIONS if simulations is None else simulations,
        where=_WHERE, name="simulations")
    pairs = list(itertools.product(bandwidths, alphas))
    if reference is not None:
        ref = _density_reference(reference)
        pairs = [ref] + [p for p in pairs if p != ref]
    maps, rows = {}, []
    for bw, a in pairs:
        label = f"bandwidth {bw}, alpha {a:g}"
        polys = density_clusters(data, bandwidth=bw, alpha=a, simulations=simulations,
                                 seed=seed_int, **options)
        maps[label] = polys
        rows.append({"label": label, "bandwidth": bw, "alpha": a, "clusters": len(polys),
                     "area_km2": float(polys.geometry.area.sum() / 1e6) if len(polys) else 0.0})
    crs = next(iter(maps.values())).crs
    return maps, rows, _pairwise(list(maps), lambda a, b: jaccard_area(maps[a], maps[b], crs))


def _hdbscan_maps(data, column, min_firms, reference,
                  options) -> tuple[dict, list, pd.DataFrame]:
    if column is not None:
        raise InputError("cluster_sensitivity(method='hdbscan') clusters firm points and "
                         f"takes no column (got column={column!r}).")
    sizes = _as_list(min_firms, _DEFAULT_MIN_FIRMS, (int, np.integer))
    if not sizes:
        raise InputError("cluster_sensitivity: min_firms= is empty; give at least one "
                         "minimum cluster size, e.g. [10, 20, 40].")
    sizes = [check_positive_int(m, where=_WHERE, name="min_firms item", minimum=2)
             for m in sizes]
    if reference is not None:
        ref = check_positive_int(reference, where=_WHERE, name="reference", minimum=2)
        sizes = [ref] + [m for m in sizes if m != ref]
    maps, rows, firm_sets = {}, [], []
    for size in dict.fromkeys(sizes):
        label = f"min_firms {size}"
        result = hdbscan_clusters(data, min_firms=size, **options)
        maps[label] = result.clusters
        member = result.membership["hdbscan_cluster"] >= 0
        firm_sets.append(set(result.membership.index[member.to_numpy()]))
        rows.append({"label": label, "min_firms": size, "clusters": result.n_clusters,
                     "clustered_firms": int(member.sum()), "noise_share": result.noise_share,
                     "area_km2": float(result.clusters["area_km2"].sum())})
    for row, firms in zip(rows, firm_sets, strict=True):
        row["firm_jaccard_vs_reference"] = jaccard_sets(firm_sets[0], firms)
    crs = next(iter(maps.values())).crs
    return maps, rows, _pairwise(list(maps), lambda a, b: jaccard_area(maps[a], maps[b], crs))


def _density_reference(reference) -> tuple:
    if isinstance(reference, Mapping):
        if set(reference) != {"bandwidth", "alpha"}:
            raise InputError(
                f"cluster_sensitivity: reference={dict(reference)!r} for method='density' needs "
                "exactly the keys 'bandwidth' and 'alpha', e.g. {'bandwidth': '25km', "
                "'alpha': 0.05}."
            )
        pair = (reference["bandwidth"], reference["alpha"])
    elif isinstance(reference, Sequence) and not isinstance(reference, str) and len(reference) == 2:
        pair = tuple(reference)
    else:
        raise InputError(
            f"cluster_sensitivity: reference={reference!r} for method='density' must be "
            "{'bandwidth': ..., 'alpha': ...} or a (bandwidth, alpha) pair."
        )
    return pair[0], check_alpha(pair[1], where=_WHERE, name="reference alpha")


def _pairwise(labels: list, func: Callable) -> pd.DataFrame:
    """Symmetric matrix of ``func`` over label pairs; the diagonal is ``func(a, a)`` (1, or
    NaN for an empty map)."""
    values = np.full((len(labels), len(labels)), np.nan)
    for i, j in itertools.combinations_with_replacement(range(len(labels)), 2):
        values[i, j] = values[j, i] = func(labels[i], labels[j])
    return pd.DataFrame(values, index=labels, columns=labels)


def jaccard_sets(a: set, b: set) -> float:
    """``|a & b| / |a | b|``; NaN when both are empty (0/0 is undefined, not a perfect match).

    Examples
    --------
    >>> jaccard_sets({1, 2, 3}, {2, 3, 4}), jaccard_sets(set(), set())
    (0.5, nan)
    """
    union = a | b
    return float(len(a & b) / len(union)) if union else float("nan")


def jaccard_area(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, crs: Any) -> float:
    """Shared area of two polygon maps over the area of their union (in ``crs``); NaN for two
    empty maps, 0 when one is empty.

    Examples
    --------
    >>> import shapely
    >>> sq = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2)], crs="EPSG:5070")
    >>> right = gpd.GeoDataFrame(geometry=[shapely.box(1, 0, 3, 2)], crs="EPSG:5070")
    >>> round(jaccard_area(sq, right, "EPSG:5070"), 4)
    0.3333
    """
    ua = a.to_crs(crs).geometry.union_all() if len(a) else None
    ub = b.to_crs(crs).geometry.union_all() if len(b) else None
    if ua is None and ub is None:
        return float("nan")  # two empty maps: undefined
    if ua is None or ub is None:
        return 0.0
    union = ua.union(ub).area
    return float(ua.intersection(ub).area / union) if union > 0 else float("nan")
