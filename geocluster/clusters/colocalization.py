"""Duranton-Overman K-density of a pair of industries: co-localisation.

The cross K-density of industries A and B is the kernel-smoothed density of the
``n_A x n_B`` bilateral distances between a firm of A and a firm of B (Duranton and
Overman 2005, their test of co-localisation; weighted: each pair counts ``w_i w_j``)::

    K_AB(d) = 1 / (h sum w_i w_j) sum_{i in A} sum_{j in B} w_i w_j f((d - d_ij) / h)

computed exactly as :func:`geocluster.k_density` (blocked distances, linear binning,
Gaussian kernel reflected at 0, Silverman's bandwidth on the cross distances, per km), and
compared with counterfactual bands (the same local and global bands, ``alpha`` each side):

* ``null="relocation"`` (default; D-O): the ``n_A + n_B`` firms are redrawn together
  among the sites of *all* firms, so the overall geography of activity is controlled for;
  this also credits the pair with each industry's own localisation;
* ``null="labelling"``: the A and B firms keep their sites and the labels A and B are
  shuffled among them, so the test asks whether A and B are closer to each other than
  their joint location implies (Marcon and Puech's random labelling).

Cost: ``n_A n_B`` distances per density, times ``simulations + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import (
    check_alpha,
    check_positive_int,
    check_weight_column,
    make_rng,
    seed_label,
)
from geocluster.clusters import _permutation as _perm
from geocluster.clusters._pairs import (
    Smoother,
    cross_blocks,
    diameter_bound,
    distance_bands,
    median_distance,
    pair_bandwidth,
)
from geocluster.clusters.localization import KDensityResult, indices, tie_tolerance
from geocluster.errors import InputError
from geocluster.units import parse_distance, to_metric

__all__ = ["k_density_pair", "KDensityPairResult"]

_NULLS = ("relocation", "labelling")


@dataclass(frozen=True, repr=False, eq=False)
class KDensityPairResult(KDensityResult):
    """Result of :func:`k_density_pair`: a :class:`~geocluster.KDensityResult` of cross pairs.

    ``k`` is the cross K-density; "localised" reads *co-localised* (``localisation_index``
    is D-O's Gamma for the pair, ``dispersion_index`` Psi); ``n_firms`` is ``n_a + n_b``.

    Attributes
    ----------
    pair
        ``(A, B)``.
    n_a, n_b
        Firms of A and B.
    null
        ``"relocation"`` or ``"labelling"``.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from geocluster.clusters.colocalization import k_density_pair
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0, 100_000, (500, 2))
    >>> xy[:60] = rng.normal(30_000, 2_000, (60, 2))
    >>> ind = np.where(np.arange(500) < 30, "a", np.where(np.arange(500) < 60, "b", "o"))
    >>> pts = gpd.GeoDataFrame({"ind": ind}, geometry=gpd.points_from_xy(*xy.T), crs=32610)
    >>> res = k_density_pair(pts, by="ind", pair=("a", "b"), simulations=19, seed=1)
    >>> res.is_localised, res.n_a, res.n_b
    (True, 30, 30)
    """

    pair: tuple = ()
    n_a: int = 0
    n_b: int = 0
    null: str = "relocation"

    def _verdict(self) -> str:
        if not self.simulations:
            return "no test"
        return ("co-localised" if self.is_localised else "co-dispersed" if self.is_dispersed
                else "neither co-localised nor co-dispersed")

    def plot(self, *, title: str | None = None, width: float = 7.0, height: float = 4.5):
        """K_AB(d) with its local and global bands; returns a matplotlib ``Figure``."""
        a, b = self.pair
        fig = super().plot(title=title or f"Cross K-density {a} x {b} ({self.null}): "
                           f"{self._verdict()}", width=width, height=height)
        fig.axes[0].get_lines()[-1].set_label("K_AB(d), observed")
        fig.axes[0].legend(loc="upper right", frameon=False)
        return fig

    def summary(self) -> Summary:
        """Set-up, verdict and indices; the table lists the ranges outside the global band."""
        base = super().summary()
        top = [("pair", f"{self.pair[0]} x {self.pair[1]}"), ("firms of A", f"{self.n_a:,}"),
               ("firms of B", f"{self.n_b:,}"), ("null", self.null)]
        top += [(k, v) for k, v in base.top if k not in ("firms", "verdict")]
        top.append(("verdict", self._verdict()))
        table = base.table.replace({"kind": {"localised": "co-localised",
                                             "dispersed": "co-dispersed"}})
        return Summary("Duranton-Overman co-localisation (cross K-density)", top=top,
                       table=table, notes=[f"Counterfactual: {self.null} (see "
                                           "geocluster.clusters.colocalization)."])

    def __repr__(self) -> str:
        a, b = self.pair
        return (f"<KDensityPairResult: {a!r} x {b!r} ({self.n_a:,} x {self.n_b:,} firms of "
                f"{self.n_sites:,} sites), 0-{self.max_distance / 1000:.4g} km, bandwidth "
                f"{self.bandwidth / 1000:.3g} km, {self.simulations} simulations ({self.null}): "
                f"{self._verdict()}, Gamma={format_number(self.localisation_index)}>")


def k_density_pair(
    points: gpd.GeoDataFrame,
    *,
    by: str,
    pair: tuple,
    weight: str | None = None,
    max_distance: str | float | None = None,
    bandwidth: str | float = "silverman",
    simulations: int = 99,
    alpha: float = 0.05,
    null: Literal["relocation", "labelling"] = "relocation",
    grid_points: int = 201,
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
) -> KDensityPairResult:
    """Duranton-Overman cross K-density of two industries with counterfactual bands.

    Parameters
    ----------
    points
        Point sites of *all* firms, with a CRS.
    by
        Industry column.
    pair
        ``(A, B)``: two different values of ``by``.
    weight
        Firm weights (employment): each cross pair counts ``w_i w_j``; in the
        counterfactuals the weights go with the firms.
    max_distance, bandwidth, grid_points, crs
        As in :func:`geocluster.k_density` (``max_distance`` defaults to the median
        distance among all sites; Silverman's bandwidth is computed on the cross pairs).
    simulations
        Counterfactual draws (0: no test).
    alpha
        Level of each side of the bands (as :func:`geocluster.k_density`).
    null
        ``"relocation"`` (default) or ``"labelling"`` (see the module docstring).
    seed
        Seed or Generator of the counterfactuals.

    Returns
    -------
    KDensityPairResult
        ``k``, bands, indices, ``to_frame()``, ``summary()``, ``plot()``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.colocalization import k_density_pair
    >>> firms = gc.datasets.make_firms(600, seed=1)
    >>> res = k_density_pair(firms, by="industry", pair=("pharma", "software"),
    ...                      max_distance="300km", bandwidth="10km", simulations=9, seed=1)
    >>> res.to_frame().columns.tolist()[:3]
    ['distance', 'distance_km', 'k']
    """
    where = "k_density_pair"
    in_a, in_b, pair = _pair_masks(points, by, pair, where)
    sims = check_positive_int(simulations, where=where, name="simulations", minimum=0)
    n_grid = check_positive_int(grid_points, where=where, name="grid_points", minimum=2)
    _perm.check_size(sims, n_grid, what=where, name="simulations", bytes_each=8,
                     kind="simulated K-density values (simulations x grid_points)")
    alpha = check_alpha(alpha, where=where, upper=0.5)
    if null not in _NULLS:
        raise InputError(f"{where}: null={null!r} must be 'relocation' or 'labelling'.")
    rng = make_rng(seed, where)
    n_a, n_b, n_sites = int(in_a.sum()), int(in_b.sum()), len(points)
    if sims and null == "relocation" and n_a + n_b >= n_sites:
        raise InputError(f"{where}: A and B hold all {n_sites} sites, so relocating them among "
                         "all sites changes nothing; pass the sites of all firms, or use "
                         "null='labelling'.")
    w_all = None if weight is None else check_weight_column(points, weight, where=where)
    metric = to_metric(points[[points.geometry.name]], crs)
    xy_all = np.column_stack([metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()])
    span = diameter_bound(xy_all)
    if not span > 0:
        raise InputError(f"{where}: all sites are at the same location; there is no "
                         "distribution of distances to estimate.")
    dmax = (median_distance(xy_all, None, span) if max_distance is None
            else parse_distance(max_distance, name="max_distance"))
    xa, xb = xy_all[in_a], xy_all[in_b]
    wa = None if w_all is None else w_all[in_a]
    wb = None if w_all is None else w_all[in_b]
    h = pair_bandwidth(bandwidth, xa, wa, span, blocks=cross_blocks(xa, wa, xb, wb),
                       n_pairs=float(n_a * n_b), where=where)
    smoother = Smoother(dmax, h, n_grid)
    k_obs = smoother.density(xa, wa, cross_blocks(xa, wa, xb, wb))
    pool = np.flatnonzero(in_a | in_b)
    w_pool = None if w_all is None else np.r_[wa, wb]
    simulated = np.empty((sims, n_grid))
    for s in range(sims):
        sites = (rng.choice(n_sites, size=n_a + n_b, replace=False) if null == "relocation"
                 else rng.permutation(pool))
        wp = None
        if w_pool is not None and w_all is not None:
            wp = w_pool[rng.permutation(n_a + n_b)] if null == "relocation" else w_all[sites]
        sa, sb = xy_all[sites[:n_a]], xy_all[sites[n_a:]]
        pa, pb = (None, None) if wp is None else (wp[:n_a], wp[n_a:])
        simulated[s] = smoother.density(sa, pa, cross_blocks(sa, pa, sb, pb))
    lo, hi, glo, ghi, q_lo, q_hi = distance_bands(simulated, alpha, n_grid)
    gamma, psi = indices(smoother.grid, k_obs, glo, ghi, sims, tie_tolerance(k_obs, simulated))
    return KDensityPairResult(
        distance=smoother.grid, k=k_obs, local_lower=lo, local_upper=hi, global_lower=glo,
        global_upper=ghi, localisation_index=gamma, dispersion_index=psi, bandwidth=h,
        max_distance=dmax, n_firms=n_a + n_b, n_sites=n_sites, simulations=sims, alpha=alpha,
        global_quantiles=(q_lo, q_hi), weighted=weight is not None, seed=seed_label(seed),
        crs=metric.crs, simulated=simulated, pair=pair, n_a=n_a, n_b=n_b, null=null)


def _pair_masks(points, by, pair, where):
    if not isinstance(points, gpd.GeoDataFrame):
        raise InputError(f"{where}: points must be a GeoDataFrame of points, got "
                         f"{type(points).__name__}.")
    if not isinstance(by, str) or by not in points.columns:
        raise InputError(f"{where}: by={by!r} is not a column of points; give the industry "
                         f"column (columns: {list(points.columns)[:20]}).")
    if not (isinstance(pair, tuple | list) and len(pair) == 2) or pair[0] == pair[1]:
        raise InputError(f"{where}: pair={pair!r} must be two different industries (a, b).")
    col = points[by]
    masks = []
    for value in pair:
        mask = (col == value).to_numpy(dtype=bool, na_value=False)
        if not mask.any():
            raise InputError(f"{where}: no firm has {by} == {value!r} (values: "
                             f"{list(pd.unique(col))[:10]}).")
        masks.append(mask)
    if masks[0].sum() * masks[1].sum() < 3:
        raise InputError(f"{where}: pair {tuple(pair)!r} gives {masks[0].sum() * masks[1].sum()} "
                         "cross pairs; at least 3 are needed for a density of distances.")
    return masks[0], masks[1], tuple(pair)
