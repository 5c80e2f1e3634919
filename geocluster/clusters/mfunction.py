"""Marcon and Puech (2010) M function, univariate and intertype, with random-labelling envelopes.

For reference points of type T, neighbours of type N and point weights ``w`` (employment,
or 1), the M function at distance ``r`` is (Marcon and Puech 2010, J. Econ. Geogr. 10(5);
as R ``dbmss::Mhat``)::

    M(r) = sum_{i in T} [ sum_{j != i, d_ij <= r, j in N} w_j / sum_{j != i, d_ij <= r} w_j ]
           / sum_{i in T} [ W'_N(i) / (W - w_i) ]

with ``W`` the total weight and ``W'_N(i) = W_N - w_i`` when N is T (intra-type), else
``W_N``. Reference points with no neighbour at all within ``r`` are left out of both sums
(dbmss does the same). ``M = 1``: the share of N around T is the global share; ``M > 1``
relative concentration (intra-type) or attraction (intertype).

Envelopes come from random labelling (``dbmss::rRandomLabelingM``): the types are permuted
over the points, the points keep their locations and weights. The pointwise envelope is the
``alpha/2`` and ``1 - alpha/2`` quantiles of the simulated M; the global envelope is
Duranton and Overman's (each side crossed anywhere by at most ``alpha/2`` of the
simulations; :func:`geocluster.clusters._pairs.distance_bands`, the same as
:func:`geocluster.k_density`). ``p_value`` at each distance is the tie-aware pointwise
Monte Carlo p-value (two-sided by default).

Computation: all pairs within the largest distance are found once (a k-d tree) and binned
by distance; each simulation is then one sparse product, so the cost is the number of
pairs times ``simulations + 1``. More than :data:`MAX_PAIRS` pairs is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy import sparse
from scipy.spatial import cKDTree

from geocluster._base.plotting import new_figure
from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import (
    check_alpha,
    check_positive_int,
    make_rng,
    read_points,
    seed_label,
)
from geocluster.clusters import _permutation as _perm
from geocluster.clusters._pairs import diameter_bound, distance_bands
from geocluster.errors import InputError
from geocluster.units import parse_distance

__all__ = ["m_function", "MFunctionResult", "DBMSS_STEPS"]

#: dbmss's default distances as fractions of the largest (63 values, dbmss's
#: ``c(0, 1:20, seq(22, 40, 2), seq(45, 100, 5), seq(110, 200, 10), seq(220, 400, 20)) / 800``
#: of the window's diameter, here scaled to ``max_distance``).
DBMSS_STEPS = np.r_[0, np.arange(1, 21), np.arange(22, 41, 2), np.arange(45, 101, 5),
                    np.arange(110, 201, 10), np.arange(220, 401, 20)] / 400.0
#: Most point pairs (both directions) held for the simulations (about 1.2 GB).
MAX_PAIRS = 100_000_000
#: Numbers in one block of simulated neighbourhood sums (32 MB).
_BLOCK = 4_000_000


@dataclass(frozen=True, repr=False, eq=False)
class MFunctionResult:
    """Result of :func:`m_function`.

    Attributes
    ----------
    distance
        Distances ``r`` in metres.
    m
        The observed M(r) (NaN where no reference point has a neighbour within ``r``).
    local_lower, local_upper
        Pointwise ``alpha/2`` and ``1 - alpha/2`` quantiles of the simulated M.
    global_lower, global_upper
        Global envelope: each side crossed anywhere by at most ``alpha/2`` of the
        simulations.
    p_value
        Pointwise Monte Carlo p-value of M(r) against the simulations. Envelopes and
        p-values are NaN at distances where M or a simulated M is undefined (no
        reference point with a neighbour within r, usually only the smallest r).
    simulated
        Simulated M (simulations x distances).

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from geocluster.clusters.mfunction import m_function
    >>> pts = gpd.GeoDataFrame({"t": list("AABB")},
    ...     geometry=gpd.points_from_xy([0, 1, 10, 11], [0, 0, 0, 0]), crs="EPSG:32610")
    >>> res = m_function(pts, by="t", reference="A", distances=[1, 20], simulations=0)
    >>> res.m.tolist()  # within 1 m each A sees only the other A: (1/1 + 1/1) / (1/3 + 1/3)
    [3.0, 1.0]
    """

    distance: np.ndarray
    m: np.ndarray
    local_lower: np.ndarray
    local_upper: np.ndarray
    global_lower: np.ndarray
    global_upper: np.ndarray
    p_value: np.ndarray
    reference: object
    neighbor: object
    n_reference: int
    n_neighbor: int
    n_points: int
    simulations: int
    alpha: float
    alternative: str
    weighted: bool
    seed: int | str | None
    crs: pyproj.CRS | None
    simulated: np.ndarray = field(repr=False)

    @property
    def intertype(self) -> bool:
        """Whether the neighbour type differs from the reference type."""
        return bool(self.neighbor != self.reference)

    def to_frame(self) -> pd.DataFrame:
        """One row per distance: ``distance``, ``distance_km``, ``m``, the envelopes, ``p_value``."""
        return pd.DataFrame({
            "distance": self.distance, "distance_km": self.distance / 1000.0, "m": self.m,
            "local_lower": self.local_lower, "local_upper": self.local_upper,
            "global_lower": self.global_lower, "global_upper": self.global_upper,
            "p_value": self.p_value,
        })

    def outside_ranges(self) -> list[tuple[str, float, float]]:
        """``(kind, from_m, to_m)`` where M leaves the global envelope ("above"/"below")."""
        out = []
        for kind, mask in (("above", self.m > self.global_upper),
                           ("below", self.m < self.global_lower)):
            edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1,
                            strict=True):
                out.append((kind, float(self.distance[a]), float(self.distance[b])))
        return out

    def summary(self) -> Summary:
        """Set-up and the ranges outside the global envelope as a ``Summary``."""
        rows = self.outside_ranges() if self.simulations else []
        table = pd.DataFrame({"kind": [r[0] for r in rows],
                              "from_km": [r[1] / 1000 for r in rows],
                              "to_km": [r[2] / 1000 for r in rows]})
        top = [("reference", str(self.reference)), ("neighbor", str(self.neighbor)),
               ("reference points", f"{self.n_reference:,}"),
               ("neighbor points", f"{self.n_neighbor:,}"), ("points", f"{self.n_points:,}"),
               ("weighted", str(self.weighted)), ("simulations", f"{self.simulations:,}"),
               ("alpha", format_number(self.alpha)), ("seed", str(self.seed))]
        return Summary("Marcon-Puech M function", top=top, table=table,
                       notes=["Envelopes from random labelling of the types (weights and "
                              "locations kept); the global envelope is D-O's."])

    def plot(self, *, title: str | None = None, width: float = 7.0, height: float = 4.5):
        """M(r) with its pointwise and global envelopes and the line M = 1; a ``Figure``."""
        fig, ax = new_figure(width=width, height=height)
        km = self.distance / 1000.0
        if self.simulations:
            level = 100 * (1 - self.alpha)
            ax.fill_between(km, self.global_lower, self.global_upper, color="#9ecae1",
                            alpha=0.45, linewidth=0, label=f"global {level:.0f}% envelope")
            ax.fill_between(km, self.local_lower, self.local_upper, color="#3182bd",
                            alpha=0.35, linewidth=0, label=f"pointwise {level:.0f}% envelope")
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label="M = 1")
        ax.plot(km, self.m, color="#d7191c", linewidth=2, label="M(r), observed")
        ax.set_xlim(0, km[-1])
        ax.set_xlabel("distance r (km)")
        ax.set_ylabel("M(r)")
        pair = (f"{self.reference} -> {self.neighbor}" if self.intertype
                else str(self.reference))
        ax.set_title(title or f"Marcon-Puech M: {pair}")
        ax.legend(loc="upper right", frameon=False)
        return fig

    def __repr__(self) -> str:
        pair = (f"{self.reference!r} -> {self.neighbor!r}" if self.intertype
                else repr(self.reference))
        ranges = [f"{k} {a / 1000:.3g}-{b / 1000:.3g} km" for k, a, b in self.outside_ranges()
                  ] if self.simulations else []
        verdict = (", outside the global envelope: " + ", ".join(ranges)) if ranges else (
            ", inside the global envelope" if self.simulations else " (no test)")
        return (f"<MFunctionResult: {pair}, {self.n_reference:,} of {self.n_points:,} points, "
                f"0-{self.distance[-1] / 1000:.4g} km, {self.simulations} simulations{verdict}>")


def m_function(
    points: gpd.GeoDataFrame,
    *,
    by: str,
    reference: object,
    neighbor: object | None = None,
    weight: str | None = None,
    distances: list | np.ndarray | None = None,
    max_distance: str | float | None = None,
    simulations: int = 99,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater", "less", "folded"] = "two-sided",
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
) -> MFunctionResult:
    """Marcon-Puech M(r) of a type (or of neighbours N around T) with random-labelling envelopes.

    Parameters
    ----------
    points
        All firm points with a CRS (measured in a metric CRS).
    by
        Type column (industry).
    reference, neighbor
        Reference type T and neighbour type N (default N = T: the univariate M).
    weight
        Point weights (employment); default 1 each.
    distances
        Distances r (metres or strings such as ``"5km"``), increasing. Default: dbmss's
        63 distances up to ``max_distance``.
    max_distance
        Largest default distance; default half the diagonal of the points' bounding box
        (dbmss: half the window's diameter).
    simulations
        Random labellings for the envelopes and p-values (0: none).
    alpha
        The envelopes are ``100 (1 - alpha)%`` (two-sided).
    alternative
        Of ``p_value``: ``"two-sided"`` (default), ``"greater"`` (concentration),
        ``"less"``, ``"folded"``.
    crs, seed
        Metric CRS to measure in; seed or Generator of the labellings.

    Returns
    -------
    MFunctionResult
        ``m``, envelopes, ``p_value``, ``to_frame()``, ``summary()``, ``plot()``.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from geocluster.clusters.mfunction import m_function
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0, 50_000, (400, 2))
    >>> xy[:40] = rng.normal(10_000, 1_000, (40, 2))   # an industry packed together
    >>> pts = gpd.GeoDataFrame({"ind": np.where(np.arange(400) < 40, "bio", "other")},
    ...     geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32610")
    >>> res = m_function(pts, by="ind", reference="bio", max_distance="10km",
    ...                  simulations=39, seed=1)
    >>> bool(res.m[20] > res.global_upper[20])  # at 2.5 km
    True
    """
    where = "m_function"
    pts = read_points(points, where=where, weight=weight, crs=crs)
    codes, ref, nb = _types(points, by, reference, neighbor, where)
    sims = check_positive_int(simulations, where=where, name="simulations", minimum=0)
    alpha = check_alpha(alpha, where=where, upper=0.5)
    if alternative not in _perm.ALTERNATIVES:
        raise InputError(f"{where}: alternative={alternative!r} must be one of "
                         f"{list(_perm.ALTERNATIVES)}.")
    rng = make_rng(seed, where)
    xy = np.column_stack([pts.x, pts.y])
    r = _distances(distances, max_distance, xy, where)
    w = np.ones(len(xy)) if pts.w is None else pts.w
    nbhd = _Neighbourhoods(xy, w, r)
    m_obs = nbhd.m(codes == ref, codes == nb, ref == nb)
    simulated = np.empty((sims, len(r)))
    perm = codes.copy()
    for s in range(sims):
        rng.shuffle(perm)
        simulated[s] = nbhd.m(perm == ref, perm == nb, ref == nb)
    bands, p = _envelopes(m_obs, simulated, alpha, alternative)
    return MFunctionResult(
        distance=r, m=m_obs, local_lower=bands[0], local_upper=bands[1],
        global_lower=bands[2], global_upper=bands[3], p_value=p,
        reference=reference, neighbor=reference if neighbor is None else neighbor,
        n_reference=int((codes == ref).sum()), n_neighbor=int((codes == nb).sum()),
        n_points=len(xy), simulations=sims, alpha=alpha, alternative=alternative,
        weighted=weight is not None, seed=seed_label(seed), crs=pts.crs, simulated=simulated)


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------


def _types(points, by, reference, neighbor, where):
    if not isinstance(by, str) or by not in points.columns:
        raise InputError(f"{where}: by={by!r} is not a column of points; give the type "
                         f"(industry) column (columns: {list(points.columns)[:20]}).")
    col = points[by]
    if col.isna().any():
        bad = points.index[col.isna().to_numpy()][:5].tolist()
        raise InputError(f"{where}: column {by!r} (by=) has {int(col.isna().sum())} missing "
                         f"values (e.g. rows {bad}); fill or drop them first.")
    codes, levels = pd.factorize(col)
    pos = {v: i for i, v in enumerate(levels)}
    neighbor = reference if neighbor is None else neighbor
    for name, value in (("reference", reference), ("neighbor", neighbor)):
        if value not in pos:
            raise InputError(f"{where}: {name}={value!r} is not a value of column {by!r} "
                             f"(values: {list(levels)[:10]}).")
    ref, nb = pos[reference], pos[neighbor]
    if ref == nb and (codes == ref).sum() < 2:
        raise InputError(f"{where}: type {reference!r} has one point; M of a type needs two.")
    if (codes == ref).sum() == len(codes):
        raise InputError(f"{where}: every point is of type {reference!r}; M compares a type "
                         "with all points, so pass the points of all types.")
    return codes, ref, nb


def _distances(distances, max_distance, xy, where) -> np.ndarray:
    if distances is not None and max_distance is not None:
        raise InputError(f"{where}: give distances= or max_distance=, not both.")
    if distances is None:
        top = (parse_distance(max_distance, name="max_distance") if max_distance is not None
               else diameter_bound(xy) / 2.0)
        if not top > 0:
            raise InputError(f"{where}: all points are at one location; give max_distance=.")
        return DBMSS_STEPS * top
    r = np.array([0.0 if isinstance(d, int | float | np.number) and d == 0
                  else parse_distance(d, name="distances") for d in np.atleast_1d(distances)],
                 dtype=float)
    if len(r) == 0 or (np.diff(r) <= 0).any() or r[0] < 0:
        raise InputError(f"{where}: distances={list(np.atleast_1d(distances))!r} must be "
                         "non-negative and strictly increasing.")
    return r


# --------------------------------------------------------------------------------------
# computation
# --------------------------------------------------------------------------------------


class _Neighbourhoods:
    """Pairs within the largest distance, binned by distance, as one sparse operator."""

    def __init__(self, xy: np.ndarray, w: np.ndarray, r: np.ndarray):
        tree = cKDTree(xy)
        pairs = tree.query_pairs(float(r[-1]), output_type="ndarray")
        if 2 * len(pairs) > MAX_PAIRS:
            raise InputError(
                f"m_function: {2 * len(pairs):,} point pairs lie within "
                f"{r[-1] / 1000:.4g} km, more than the {MAX_PAIRS:,} held in memory; use a "
                "smaller max_distance= (or distances=) or a sample of the points.")
        i = np.r_[pairs[:, 0], pairs[:, 1]]
        j = np.r_[pairs[:, 1], pairs[:, 0]]
        d = np.hypot(*(xy[i] - xy[j]).T)
        bins = np.searchsorted(r, d, side="left")  # the first r_k >= d
        keep = bins < len(r)
        i, j, bins = i[keep], j[keep], bins[keep]
        self.n, self.nr, self.w = len(xy), len(r), w
        # row i * nr + k sums the weights w_j of the neighbours j of i in distance bin k
        self.op = sparse.csr_array((w[j], (i * self.nr + bins, j)),
                                   shape=(self.n * self.nr, self.n))
        self.total = np.cumsum(self._binned(np.ones(self.n)), axis=1)  # all neighbours

    def _binned(self, v: np.ndarray) -> np.ndarray:
        return (self.op @ v).reshape(self.n, self.nr)

    def m(self, is_ref: np.ndarray, is_nb: np.ndarray, intra: bool) -> np.ndarray:
        w = self.w
        total_w = w.sum()
        if intra:
            global_ratio = (w[is_ref].sum() - w[is_ref]) / (total_w - w[is_ref])
        else:
            global_ratio = w[is_nb].sum() / (total_w - w[is_ref])
        local_n = np.cumsum(self._binned(is_nb.astype(float)), axis=1)[is_ref]
        local_all = self.total[is_ref]
        has = local_all > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(has, local_n / np.where(has, local_all, 1.0), 0.0)
        denom = (has * global_ratio[:, None]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, ratio.sum(axis=0) / np.where(denom > 0, denom, 1), np.nan)


def _envelopes(m_obs, simulated, alpha, alternative):
    """Pointwise/global envelopes and pointwise p-values, on the distances with finite M."""
    n_r = len(m_obs)
    bands = [np.full(n_r, np.nan) for _ in range(4)]
    p = np.full(n_r, np.nan)
    sims = simulated.shape[0]
    if sims == 0:
        return bands, p
    ok = np.isfinite(simulated).all(axis=0) & np.isfinite(m_obs)
    if ok.any():
        lo, hi, glo, ghi, _, _ = distance_bands(simulated[:, ok], alpha / 2.0, int(ok.sum()))
        for band, values in zip(bands, (lo, hi, glo, ghi), strict=True):
            band[ok] = values
        scale = max(float(np.abs(simulated[:, ok]).max()), float(np.abs(m_obs[ok]).max()))
        tol = _perm.RTOL * scale
        diff = simulated[:, ok] - m_obs[ok]
        ge = (diff >= -tol).sum(axis=0)
        le = (diff <= tol).sum(axis=0)
        p[ok] = _perm.pseudo_p(ge, le, sims, alternative)
    return bands, p
