"""Duranton-Overman (2005) K-density test of localisation.

The K-density of an industry is the kernel-smoothed density of the bilateral
distances between its firms. It is compared with counterfactuals in which the
industry's firms are placed at random on the sites of *all* firms (so the general
geography of economic activity is controlled for): a K-density above the
counterfactuals' global confidence band at some distance means *localisation*,
below the lower band (and never above the upper one) *dispersion*.

How it is computed here
-----------------------
* Coordinates are projected to metres (:func:`geocluster.to_metric`).
* Bilateral distances are computed in blocks of rows (about 4 million distances,
  32 MB, at a time) and accumulated into a fine histogram; the n x n distance matrix
  is never held. Memory is therefore flat in n (about 100 MB for 20,000 sites); time
  grows with the number of pairs: n(n-1)/2 per K-density, times ``simulations + 1``,
  plus N(N-1)/2 over all N sites once when ``max_distance`` is left to its default.
  Measured (``docs/benchmarks/kdensity.md``, a loaded 2-core machine): 20,000 sites,
  an industry of 2,978 firms, 99 simulations: 33-39 s and 97 MB, about 50 ns per
  pair. An industry of 20,000 firms costs 2 x 10^8 pairs per density, so 99
  simulations take of the order of 15-20 minutes: use fewer simulations to explore.
* The linearly binned histogram (Wand 1994; bins at most ``bandwidth / 50`` wide) is
  smoothed with a Gaussian kernel reflected at 0 (D-O's boundary correction) by direct
  (sparse, banded) convolution onto ``grid_points`` distances between 0 and
  ``max_distance``. The binning error is below 10^-4 of the peak (tested against an
  exact sum over ``scipy.spatial.distance.pdist``). The denominator counts all pairs,
  also those beyond ``max_distance``, so K integrates to 1 over all distances.
* The bandwidth is Silverman's rule of thumb, ``0.9 min(sd, IQR / 1.34) m^(-1/5)``,
  on the industry's m pairwise distances (weighted with the pair weights in the
  weighted version); the same bandwidth is used for every counterfactual so that
  observed and simulated densities are smoothed alike.
* Counterfactuals draw the industry's n firms among all N sites without replacement;
  in the weighted version the industry's weights go with the drawn sites in random
  order.
* Global bands follow D-O section 4: the upper band is the pointwise quantile, at one
  level for all distances, that only ``alpha`` of the simulated densities exceed
  anywhere on ``[0, max_distance]``; the lower band likewise from below, each side
  with its own ``alpha`` (``dbmss::GlobalEnvelope`` in R instead drops ``alpha`` of the
  simulations from both sides together). With few simulations (99) the level is often
  the most extreme one, i.e. the envelope of the simulations; D-O used 1000.
* Ties: an observed K-density within ``1e-10`` of the curves' scale of a band counts
  as on the band (inside it), so rounding noise never makes an industry "localised".
* ``simulations x grid_points`` values are kept; more than 1 GiB of them is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geocluster._base.plotting import new_figure
from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import (
    check_alpha,
    check_points,
    check_positive_int,
    check_weight_column,
    make_rng,
    seed_label,
    subset_mask,
)
from geocluster.clusters import _permutation as _perm
from geocluster.clusters._pairs import (
    Smoother,
    diameter_bound,
    distance_bands,
    median_distance,
    pair_bandwidth,
)
from geocluster.errors import InputError
from geocluster.units import parse_distance, to_metric

__all__ = ["k_density", "KDensityResult"]

# --------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class KDensityResult:
    """Result of :func:`k_density`.

    Distances are in metres; densities (``k`` and the bands) are per kilometre, as in
    Duranton & Overman (2005), so that the indices (integrals over distance) are
    comparable with theirs, computed as sums over 1-km steps.

    Attributes
    ----------
    distance
        Evaluation distances in metres, ``0 .. max_distance``.
    k
        The observed K-density (per km) at ``distance``.
    local_lower, local_upper
        Pointwise 5% and 95% quantiles of the simulated K-densities.
    global_lower, global_upper
        Global bands: the pointwise quantiles such that only ``alpha`` (5%) of the
        simulated densities cross them anywhere over ``[0, max_distance]``.
    localisation_index
        Gamma = integral over d of ``max(k - global_upper, 0)`` (per km x km).
    dispersion_index
        Psi = integral of ``max(global_lower - k, 0)`` if the industry is not
        localised, else 0 (D-O's definition).
    is_localised, is_dispersed
        ``localisation_index > 0`` and ``dispersion_index > 0``.
    simulated
        The simulated K-densities (simulations x distances), per km.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(300, seed=1)
    >>> res = gc.k_density(firms, subset=("industry", firms["industry"].iloc[0]),
    ...                    max_distance="50km", simulations=19, seed=1)
    >>> type(res).__name__, float(res.distance[0])
    ('KDensityResult', 0.0)
    """

    distance: np.ndarray
    k: np.ndarray
    local_lower: np.ndarray
    local_upper: np.ndarray
    global_lower: np.ndarray
    global_upper: np.ndarray
    localisation_index: float
    dispersion_index: float
    bandwidth: float
    max_distance: float
    n_firms: int
    n_sites: int
    simulations: int
    alpha: float
    global_quantiles: tuple[float, float]
    weighted: bool
    seed: int | str | None
    crs: pyproj.CRS | None
    simulated: np.ndarray = field(repr=False)

    @property
    def is_localised(self) -> bool:
        return bool(self.localisation_index > 0)

    @property
    def is_dispersed(self) -> bool:
        return bool(self.dispersion_index > 0)

    def localised_ranges(self) -> list[tuple[float, float]]:
        """Distance intervals (metres) where ``k`` is above the global upper band."""
        tol = tie_tolerance(self.k, self.simulated)
        return _ranges(self.distance, self.k - self.global_upper > tol)

    def dispersed_ranges(self) -> list[tuple[float, float]]:
        """Distance intervals (metres) where ``k`` is below the global lower band."""
        tol = tie_tolerance(self.k, self.simulated)
        return _ranges(self.distance, self.global_lower - self.k > tol)

    def to_frame(self) -> pd.DataFrame:
        """One row per evaluation distance: ``distance`` (m), ``distance_km``, ``k`` and bands."""
        return pd.DataFrame(
            {
                "distance": self.distance,
                "distance_km": self.distance / 1000.0,
                "k": self.k,
                "local_lower": self.local_lower,
                "local_upper": self.local_upper,
                "global_lower": self.global_lower,
                "global_upper": self.global_upper,
                "localised": self.k > self.global_upper,
                "dispersed": self.k < self.global_lower,
            }
        )

    def plot(self, *, title: str | None = None, width: float = 7.0, height: float = 4.5):
        """Plot K(d) with its local and global bands; returns a matplotlib ``Figure``."""
        fig, ax = new_figure(width=width, height=height)
        km = self.distance / 1000.0
        if self.simulations:
            ax.fill_between(
                km,
                self.global_lower,
                self.global_upper,
                color="#9ecae1",
                alpha=0.45,
                linewidth=0,
                label=f"global {100 * (1 - 2 * self.alpha):.0f}% band",
            )
            ax.fill_between(
                km,
                self.local_lower,
                self.local_upper,
                color="#3182bd",
                alpha=0.35,
                linewidth=0,
                label=f"local {100 * self.alpha:.0f}-{100 * (1 - self.alpha):.0f}% band",
            )
        ax.plot(km, self.k, color="#d7191c", linewidth=2, label="K(d), observed")
        ax.set_xlim(0, km[-1])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("distance (km)")
        ax.set_ylabel("K-density (per km)")
        verdict = (
            "localised"
            if self.is_localised
            else "dispersed"
            if self.is_dispersed
            else "neither localised nor dispersed"
        )
        ax.set_title(title or f"Duranton-Overman K-density: {self.n_firms:,} firms, {verdict}")
        ax.legend(loc="upper right", frameon=False)
        return fig

    def summary(self) -> Summary:
        """The test's set-up, verdict and indices as a :class:`~geocluster._base.summary.Summary`.

        The table has one row per distance range where ``k`` leaves the global band.

        Examples
        --------
        >>> import numpy as np, geopandas as gpd, geocluster as gc
        >>> rng = np.random.default_rng(0)
        >>> xy = rng.uniform(0, 100_000, size=(300, 2))
        >>> xy[:40] = rng.normal(20_000, 2_000, size=(40, 2))
        >>> sites = gpd.GeoDataFrame({"f": np.arange(300) < 40},
        ...     geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32610")
        >>> s = gc.k_density(sites, subset="f", simulations=19, seed=1).summary()
        >>> dict(s.top)["verdict"], s.to_frame().columns.tolist()
        ('localised', ['kind', 'from_km', 'to_km'])
        """
        verdict = ("no test" if not self.simulations else "localised" if self.is_localised
                   else "dispersed" if self.is_dispersed else "neither localised nor dispersed")
        rows = [("localised", a, b) for a, b in (self.localised_ranges() if self.simulations
                                                 else [])]
        rows += [("dispersed", a, b) for a, b in (self.dispersed_ranges() if self.simulations
                                                  else [])]
        table = pd.DataFrame({"kind": [r[0] for r in rows],
                              "from_km": [r[1] / 1000.0 for r in rows],
                              "to_km": [r[2] / 1000.0 for r in rows]})
        top = [
            ("firms", f"{self.n_firms:,}"),
            ("sites", f"{self.n_sites:,}"),
            ("weighted", str(self.weighted)),
            ("range (km)", f"0-{format_number(self.max_distance / 1000.0)}"),
            ("bandwidth (km)", format_number(self.bandwidth / 1000.0)),
            ("simulations", f"{self.simulations:,}"),
            ("alpha", format_number(self.alpha)),
            ("seed", str(self.seed)),
            ("localisation index", format_number(self.localisation_index)),
            ("dispersion index", format_number(self.dispersion_index)),
            ("verdict", verdict),
        ]
        return Summary("Duranton-Overman K-density test", top=top, table=table,
                       notes=["Global bands: only alpha of the simulated K-densities cross "
                              "them anywhere over the range (D-O 2005, section 4)."])

    def __repr__(self) -> str:
        weighted = ", weighted" if self.weighted else ""
        head = (
            f"<KDensityResult: {self.n_firms:,} of {self.n_sites:,} sites{weighted}, "
            f"0-{self.max_distance / 1000:.4g} km, bandwidth {self.bandwidth / 1000:.3g} km, "
            f"{self.simulations} simulations"
        )
        if not self.simulations:
            return head + " (no test)>"
        if self.is_localised:
            spans = ", ".join(
                f"{a / 1000:.3g}-{b / 1000:.3g} km" for a, b in self.localised_ranges()
            )
            verdict = f"localised (Gamma={self.localisation_index:.4g}) at {spans}"
        elif self.is_dispersed:
            spans = ", ".join(
                f"{a / 1000:.3g}-{b / 1000:.3g} km" for a, b in self.dispersed_ranges()
            )
            verdict = f"dispersed (Psi={self.dispersion_index:.4g}) at {spans}"
        else:
            verdict = "neither localised nor dispersed"
        return f"{head}: {verdict}>"


def _ranges(x: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    if not mask.any():
        return out
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    for a, b in zip(starts, stops, strict=True):
        out.append((float(x[a]), float(x[b])))
    return out


# --------------------------------------------------------------------------------------
# public function
# --------------------------------------------------------------------------------------


def k_density(
    points: gpd.GeoDataFrame,
    *,
    subset: np.ndarray | pd.Series | str | tuple[str, object] | None = None,
    weight: str | None = None,
    max_distance: str | float | None = None,
    bandwidth: str | float = "silverman",
    simulations: int = 99,
    alpha: float = 0.05,
    grid_points: int = 201,
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
) -> KDensityResult:
    """Duranton-Overman K-density of an industry with random-relocation confidence bands.

    Parameters
    ----------
    points
        Point sites of *all* firms (the counterfactual draws among them), with a CRS.
    subset
        Which firms form the industry: a boolean mask (array, or Series aligned with
        ``points``' index), the name of a boolean column, ``(column, value)`` or a
        pandas query string.
        ``None`` uses all points; then there is no counterfactual, so
        ``simulations`` must be 0.
    weight
        Column with firm weights (e.g. employment): each pair counts ``w_i w_j``
        (D-O eq. 5). In the counterfactuals the industry's weights move with its
        firms (a random permutation over the drawn sites).
    max_distance
        Upper end of the distance range tested (``"180km"``, metres). Default: the
        median bilateral distance among all sites (D-O used 180 km for the UK, about
        that median), computed exactly in blocks.
    bandwidth
        ``"silverman"`` (default; see the module docstring) or a distance. Silverman's
        rule follows the spread of all the industry's distances, so on continent-wide
        data it is large (about 60-110 km for firms spread over the US) and blurs
        clusters a few tens of km across; give e.g. ``"10km"`` to resolve them.
    simulations
        Number of counterfactual draws (D-O used 1000; 99 gives a quick test).
    alpha
        Level of the bands: local ``alpha`` / ``1 - alpha`` quantiles; global bands
        crossed anywhere by at most ``alpha`` of the simulations (default 0.05).
    grid_points
        Number of evaluation distances from 0 to ``max_distance`` (default 201).
    crs
        Metric CRS to measure in; default :func:`geocluster.to_metric`'s choice.
    seed
        Seed or Generator for the counterfactual draws.

    Returns
    -------
    KDensityResult
        ``k``, bands, ``localisation_index``, ``dispersion_index``, ``to_frame()``,
        ``plot()``.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd, geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0, 100_000, size=(600, 2))   # 600 sites in a 100-km square
    >>> xy[:60] = rng.normal(20_000, 2_000, size=(60, 2))  # an industry packed together
    >>> sites = gpd.GeoDataFrame(
    ...     {"software": np.arange(600) < 60},
    ...     geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32610")
    >>> res = gc.k_density(sites, subset="software", simulations=49, seed=1)
    >>> res.is_localised, res.is_dispersed
    (True, False)
    """
    frame, n_sites = _check_points(points)
    mask = _industry_mask(points, subset)
    sims = check_positive_int(simulations, where="k_density", name="simulations", minimum=0)
    rng = make_rng(seed, "k_density")
    n_grid = check_positive_int(grid_points, where="k_density", name="grid_points", minimum=2)
    _perm.check_size(sims, n_grid, what="k_density", name="simulations", bytes_each=8,
                     kind="simulated K-density values (simulations x grid_points)")
    alpha = check_alpha(alpha, where="k_density", upper=0.5)
    n_firms = _check_sizes(int(mask.sum()), n_sites, sims)
    weights_all = None
    if weight is not None:
        weights_all = check_weight_column(points, weight, where="k_density")
    metric = to_metric(frame, crs)
    xy_all = np.column_stack([metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()])
    if not np.isfinite(xy_all).all():
        raise InputError("k_density: some points have non-finite coordinates; drop them.")
    xy = xy_all[mask]
    w = None if weights_all is None else weights_all[mask]
    span = diameter_bound(xy_all)
    if span <= 0:
        raise InputError("k_density: all sites are at the same location, so every pair distance "
                         "is 0 and there is no distribution to estimate. Check the geocoding "
                         "(a register's fallback address?) or use firms at distinct sites.")
    if max_distance is None:
        dmax = median_distance(xy_all, None, span)
    else:
        dmax = parse_distance(max_distance, name="max_distance")
    h = pair_bandwidth(bandwidth, xy, w, span)

    smoother = Smoother(dmax, h, n_grid)
    k_obs = smoother.density(xy, w)
    simulated = np.empty((sims, n_grid))
    for r in range(sims):
        idx = rng.choice(n_sites, size=n_firms, replace=False)
        simulated[r] = smoother.density(xy_all[idx], w)
    local_lower, local_upper, global_lower, global_upper, q_lo, q_hi = _bands(
        simulated, alpha, k_obs.shape[0])
    gamma, psi = indices(smoother.grid, k_obs, global_lower, global_upper, sims,
                         tie_tolerance(k_obs, simulated))
    return KDensityResult(
        distance=smoother.grid,
        k=k_obs,
        local_lower=local_lower,
        local_upper=local_upper,
        global_lower=global_lower,
        global_upper=global_upper,
        localisation_index=gamma,
        dispersion_index=psi,
        bandwidth=h,
        max_distance=dmax,
        n_firms=n_firms,
        n_sites=n_sites,
        simulations=sims,
        alpha=alpha,
        global_quantiles=(q_lo, q_hi),
        weighted=weight is not None,
        seed=seed_label(seed),
        crs=metric.crs,
        simulated=simulated,
    )


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------


def _check_points(points):
    check_points(points, where="k_density")
    return points[[points.geometry.name]], len(points)


def _industry_mask(points, subset) -> np.ndarray:
    """The industry's rows (all rows without ``subset``)."""
    mask = subset_mask(points, subset, where="k_density")
    return np.ones(len(points), dtype=bool) if mask is None else mask


def _check_sizes(n_firms: int, n_sites: int, sims: int) -> int:
    if n_firms < 3:
        raise InputError(
            f"k_density: the subset selects {n_firms} firms; at least 3 are needed for a "
            "density of bilateral distances."
        )
    if sims > 0 and n_firms >= n_sites:
        raise InputError(
            f"k_density: the subset selects all {n_sites} sites, so drawing it at random "
            "among all sites changes nothing. Pass the sites of all firms with subset= "
            "selecting the industry, or simulations=0 for the K-density alone."
        )
    return n_firms


# --------------------------------------------------------------------------------------
# bands and indices
# --------------------------------------------------------------------------------------


def _bands(simulated: np.ndarray, alpha: float, n_grid: int):
    """Local and global bands of the simulated K-densities (:func:`_pairs.distance_bands`)."""
    return distance_bands(simulated, alpha, n_grid)


def tie_tolerance(k: np.ndarray, simulated: np.ndarray) -> float:
    """K-densities within ``1e-10`` of their scale of a band are ties (not outside it)."""
    scale = max(float(np.nanmax(np.abs(k))), float(np.nanmax(np.abs(simulated))) if
                simulated.size else 0.0)
    return _perm.RTOL * scale


def indices(distance, k, lower, upper, sims, tol: float = 0.0):
    """Localisation (Gamma) and dispersion (Psi) indices; a tie with a band is inside it."""
    if sims == 0:
        return math.nan, math.nan
    km = distance / 1000.0
    above = np.where(k - upper > tol, k - upper, 0.0)
    below = np.where(lower - k > tol, lower - k, 0.0)
    gamma = float(np.trapezoid(above, km)) if above.any() else 0.0
    if gamma > 0:
        return gamma, 0.0
    psi = float(np.trapezoid(below, km)) if below.any() else 0.0
    return gamma, psi


# the names the tests and older callers use
_tie_tolerance = tie_tolerance
_indices = indices
