"""Local and global Moran's I on areal units, LISA cluster regions and their figures.

The analytic parts come from :class:`esda.moran.Moran_Local` and
:class:`esda.moran.Moran` (weights from :func:`geocluster.weights`); the permutation
inference is geocluster's own tie-aware engine
(:mod:`geocluster.clusters._permutation`).

What ``lisa_p`` is
------------------
``lisa_p`` is a conditional-permutation pseudo p-value that counts ties on both
sides. With ``P`` permutations (the unit's value kept, its neighbours given values
drawn without replacement from the other units), ``ge`` the number of simulated
``I_i >= `` the observed one and ``le`` the number ``<=`` it (a draw within
``1e-10`` of the statistic's scale counting as equal), the folded pseudo p-value is
``p = (min(ge, le) + 1) / (P + 1)``: one-sided in the direction of the tail the
observed ``I_i`` lies in, at most about 0.5 for continuous data (GeoDa's and esda's
convention). ``alternative="two-sided"`` gives ``min(1, 2 p)``; ``"greater"``
(``(ge + 1)/(P + 1)``, clustering) and ``"less"`` (``(le + 1)/(P + 1)``,
dispersion) are one-sided.

How this differs from esda and spdep: for continuous data (no ties) it equals esda's
``p_sim``. With ties it does not: esda counts ``sim >= obs`` and folds with ``P``
minus that count, so a unit where every draw ties the observed value (a county with
no firms among neighbours with none, the usual case with sparse counts) gets the most
extreme value ``1/(P+1)``; here it gets 1. R's ``spdep::localmoran_perm`` ranks the
observed value among the draws (``rank()``, ties averaged; it also draws with
replacement) and so gives tied units a middle p-value. :func:`geocluster.getis_ord`
uses the same convention for ``gi_p``.

Scaling of ``I_i``
------------------
esda computes ``I_i = (n - 1) z_i lag(z)_i / sum(z^2)``; R's ``spdep::localmoran``
computes ``I_i = z_i lag(z)_i / m2`` with ``m2 = sum(z^2) / n``, i.e. esda's value
times ``n / (n - 1)``. esda's analytic conditional moments (``EIc``, ``VIc``, Sokal
et al. 1998) are on spdep's scale, so a z-value built from esda's ``Is`` and
``EIc`` would be off. ``local_moran`` puts ``lisa_I``, ``lisa_EI`` and ``lisa_VI``
on one scale (``scaling="esda"``, default, or ``"spdep"``); ``lisa_z`` is the same
under both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse, stats

from geocluster._base.summary import P_VALUE, Summary, format_number
from geocluster.clusters import _inference as inf
from geocluster.clusters import _permutation as _perm
from geocluster.clusters.regions import cluster_regions, region_labels
from geocluster.errors import InputError

__all__ = [
    "local_moran",
    "global_moran",
    "GlobalMoranResult",
    "LISA_COLUMNS",
    "cluster_regions",
]

#: Columns ``local_moran`` adds to the frame.
LISA_COLUMNS = (
    "lisa_I",
    "lisa_EI",
    "lisa_VI",
    "lisa_z",
    "lisa_p",
    "lisa_q",
    "lisa_cluster",
    "lisa_region",
    "lisa_std",
    "lisa_lag",
)
_QUADS = np.array(["", "HH", "LH", "LL", "HL"], dtype=object)  # esda: 1 HH, 2 LH, 3 LL, 4 HL


def local_moran(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    alternative: Literal["folded", "two-sided"] = "folded",
    scaling: Literal["esda", "spdep"] = "esda",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """Local Moran's I (LISA) with conditional permutation inference and cluster regions.

    Parameters
    ----------
    gdf
        Areal units (or points with a point-based ``weights`` spec). Not modified.
    column
        Numeric column to analyse (e.g. log patents, a location quotient).
    weights
        A :func:`geocluster.weights` spec (``"queen"``, ``"knn:6"``, ...) or a ready
        ``libpysal.graph.Graph`` whose ids equal ``gdf.index``. Row-standardised
        here; the given Graph is not changed.
    permutations
        Conditional permutations for the pseudo p-value; 0 uses the analytic
        normal approximation (``lisa_z``) instead.
    seed
        Int or ``numpy.random.Generator``; the same seed gives identical output.
        One integer is drawn from ``default_rng(seed)`` for the permutation table
        (recorded in ``attrs["permutation_seed"]``). numpy's global random state is
        left untouched.
    alpha
        Significance level for ``lisa_cluster`` and the regions.
    correction
        ``None``, ``"fdr"`` (Benjamini-Hochberg over the tested units) or
        ``"bonferroni"``; the cut-off used is ``attrs["cutoff"]``.
    alternative
        ``"folded"`` (default; the tie-aware version of the esda/GeoDa pseudo
        p-value, see the module docstring), ``"two-sided"`` (twice that, capped at
        1), ``"greater"`` (positive autocorrelation) or ``"less"`` (negative).
    scaling
        ``"esda"`` (default) or ``"spdep"`` (R's ``localmoran``: ``n / (n - 1)``
        times esda's ``I_i``). Applies to ``lisa_I``, ``lisa_EI`` and ``lisa_VI``.
    isolates
        Units without neighbours: ``"raise"`` (default, names them), ``"drop"``
        (analysed without them; they get NaN and ``"ns"``), ``"keep"`` (they stay
        in the mean, variance and the permutation draws of the others but their own
        statistic is NaN and ``"ns"``; esda alone would give them ``p = 1/(P+1)``).
    missing
        Missing values in ``column``: ``"raise"`` (default) or ``"drop"`` (those
        units leave the weights and get NaN; a warning gives the count).
    n_jobs
        Threads for the permutation inference (``-1``: every core available);
        units are split into blocks whose draws come from one shared table, so the
        results are identical for any ``n_jobs``.

    Returns
    -------
    GeoDataFrame
        A copy of ``gdf`` (same index) with the :data:`LISA_COLUMNS`:
        ``lisa_I`` local Moran's I; ``lisa_EI``, ``lisa_VI``, ``lisa_z`` its analytic
        expectation, variance and z-value under conditional randomisation (Sokal et
        al. 1998, as R ``spdep::localmoran``); ``lisa_p`` the p-value described
        above; ``lisa_q`` quadrant ``HH``/``LH``/``LL``/``HL`` (value / spatial lag
        above or below the mean); ``lisa_cluster`` the quadrant where
        ``lisa_p <= attrs["cutoff"]``, else ``"ns"``; ``lisa_region`` ids
        ``"HH-1"``, ``"HH-2"``, ... (``"LL-k"``) shared by significant HH (LL)
        units connected in the weights graph, numbered by size (largest first),
        missing elsewhere; ``lisa_std`` the standardised value and ``lisa_lag`` its
        spatial lag (the Moran scatterplot axes). ``attrs`` records the column,
        weights, permutations, seeds, alpha, correction, cut-off, alternative,
        scaling, and counts and example ids of dropped units.

    Examples
    --------
    US innovation hubs: log patents 2011-2015 by county. Queen contiguity leaves
    Nantucket and San Juan County WA without neighbours, so use 6 nearest
    neighbours. (``weights="queen", isolates="drop"`` also runs, but there Seattle's
    King County has large rural Cascade neighbours and, at p = 0.02, misses the
    FDR cut-off of about 0.009; with 6 nearest neighbours it is HH at p = 0.002.)

    >>> import numpy as np
    >>> import geocluster as gc
    >>> counties = gc.datasets.load_counties("conus")
    >>> patents = gc.datasets.load_patents(years=(2011, 2015)).groupby("fips")["patents"].sum()
    >>> counties["log_patents"] = np.log1p(patents.reindex(counties.index).fillna(0))
    >>> lisa = gc.local_moran(counties, "log_patents", weights="knn:6", seed=42,
    ...                       correction="fdr")
    >>> lisa.attrs["correction"], lisa.attrs["cutoff"] < 0.05
    ('fdr', True)
    >>> lisa.loc[["06085", "25017", "53033"], "lisa_cluster"].tolist()
    ['HH', 'HH', 'HH']
    >>> lisa.loc["06085", "lisa_region"].startswith("HH-")
    True
    """
    inf.check_options(
        permutations=permutations,
        alpha=alpha,
        correction=correction,
        alternative=alternative,
        isolates=isolates,
        missing=missing,
        n_jobs=n_jobs,
        where="local_moran",
    )
    if scaling not in ("esda", "spdep"):
        raise InputError(f"scaling={scaling!r} must be 'esda' or 'spdep' (R's localmoran).")
    perm_seed = inf.permutation_seed(seed, "local_moran")
    prep = inf.prepare(gdf, column, weights, isolates=isolates, missing=missing, what="local_moran")
    graph = prep.graph.transform("R")
    if permutations:
        _perm.check_size(
            permutations, int(graph.cardinalities.max()), what="local_moran"
        )
        _perm.warn_coarse(prep.y, column, "local_moran")
    stat = _run_moran_local(prep.y, graph)
    cols = _lisa_columns(stat, graph, prep, permutations, alternative, scaling, perm_seed,
                         n_jobs)

    tested = prep.tested
    p_all = inf.full_length(cols.pop("p"), prep.analysed)
    p_all[~tested] = np.nan
    sig, cut = inf.significance(p_all, alpha, correction)
    inf.warn_unreachable(cut, permutations, correction)
    inf.warn_fdr_resolution(p_all, cut, alpha, permutations, correction, "local_moran")
    quad = inf.full_length(cols.pop("q"), prep.analysed, fill=None, dtype=object)
    quad[~tested] = None
    cluster = np.where(sig, quad, "ns").astype(object)

    out = gdf.copy()
    for name in ("I", "EI", "VI", "z"):
        values = inf.full_length(cols[name], prep.analysed)
        values[~tested] = np.nan
        out[f"lisa_{name}"] = values
    out["lisa_p"] = p_all
    out["lisa_q"] = pd.Series(quad, index=out.index, dtype="object")
    out["lisa_cluster"] = pd.Series(cluster, index=out.index, dtype="object")
    out["lisa_region"] = pd.Series(
        region_labels(graph, cluster[prep.analysed], prep.analysed), index=out.index, dtype="object"
    )
    out["lisa_std"] = inf.full_length(cols["std"], prep.analysed)
    out["lisa_lag"] = inf.full_length(cols["lag"], prep.analysed)
    out.attrs = dict(gdf.attrs)
    out.attrs.update(
        statistic="local_moran",
        column=column,
        weights=prep.label,
        transform="R",
        permutations=int(permutations),
        seed=inf.seed_label(seed),
        permutation_seed=perm_seed,
        alpha=float(alpha),
        correction=correction,
        cutoff=cut,
        alternative=alternative,
        p_value=inf.p_label(permutations, alternative),
        scaling=scaling,
        n_tested=int(tested.sum()),
        **inf.policy_attrs(prep, isolates),
    )
    return out


def _run_moran_local(y, graph):
    """esda's analytic local Moran (statistic, conditional moments, quadrants); no draws."""
    with inf.quiet_esda():
        return inf.esda_moran().Moran_Local(y, graph, transformation="r", permutations=0)


def _lisa_columns(stat, graph, prep, permutations, alternative, scaling, perm_seed,
                  n_jobs=1) -> dict:
    n = len(prep.y)
    esda_to_spdep = n / (n - 1)
    has = prep.tested_in_graph
    vi = np.asarray(stat.VIc, dtype=float)
    # a unit whose conditional variance is 0 (e.g. the only non-zero count: every draw
    # gives the same I_i) has no z; rounding would make it +-inf or NaN by row order
    scale = np.nanmax(np.abs(vi[has])) if has.any() else 0.0
    degenerate = ~(vi > 1e-12 * scale) if scale > 0 else np.ones(len(vi), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (stat.Is * esda_to_spdep - stat.EIc) / np.sqrt(vi)
    z = np.where(degenerate, np.nan, z)
    if scaling == "spdep":
        i_val, e_val, v_val = stat.Is * esda_to_spdep, stat.EIc, stat.VIc
    else:
        i_val, e_val, v_val = stat.Is, stat.EIc / esda_to_spdep, stat.VIc / esda_to_spdep**2
    if permutations:
        # I_i = (n - 1) z_i lag(z)_i / z'z: the lag's factor has the sign of z_i
        ge, le = _perm.conditional_counts(
            np.asarray(stat.z, dtype=float),
            graph.sparse,
            np.asarray(stat.z, dtype=float),
            permutations,
            inf.make_rng(perm_seed),
            units=np.flatnonzero(has),
            n_jobs=n_jobs,
        )
        p = _perm.pseudo_p(ge, le, permutations, alternative)
    else:
        p = inf.normal_p(z, alternative)
    p = np.where(has, p, np.nan)
    lag = graph.lag(stat.z)
    return {
        "I": i_val,
        "EI": e_val,
        "VI": v_val,
        "z": z,
        "p": p,
        "q": _QUADS[np.asarray(stat.q, dtype=int)],
        "std": stat.z,
        "lag": lag,
    }


# --------------------------------------------------------------------- global Moran


@dataclass(frozen=True)
class GlobalMoranResult:
    """Global Moran's I with its moments under normality and randomisation.

    ``p_norm`` and ``p_rand`` are two-sided analytic p-values; ``p_sim`` is the folded
    one-sided permutation pseudo p-value with ties counted on both sides (see the
    module docstring), NaN without permutations. :attr:`p_value` is the headline one
    (``p_sim`` with permutations, else ``p_rand``); :meth:`to_frame` gives all three in
    one table with a ``p_value`` column.

    Attributes
    ----------
    I : float
        Moran's I.
    expected, variance, z : float
        Its expectation under the null, variance and z-score (randomisation).
    p_norm, p_rand, p_sim : float
        Two-sided p-values under normality and randomisation, and the permutation
        pseudo p-value (NaN without permutations).
    p_value : float
        The headline p-value (``p_sim`` with permutations, else ``p_rand``).

    Examples
    --------
    >>> import geocluster as gc
    >>> mi = gc.global_moran(gc.datasets.load_columbus(), "CRIME", seed=1)
    >>> mi.to_frame().columns.tolist()
    ['I', 'expected', 'variance', 'z', 'p_value']
    >>> mi.to_frame().index.tolist()
    ['normality', 'randomisation', 'permutation']
    >>> mi.p_value == mi.p_sim
    True
    """

    I: float  # noqa: E741
    EI: float
    VI_norm: float
    VI_rand: float
    z_norm: float
    z_rand: float
    p_norm: float
    p_rand: float
    p_sim: float
    permutations: int
    n: int
    column: str
    weights: str
    seed: int | str | None = None
    sim_mean: float = float("nan")
    sim_sd: float = float("nan")
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def p_value(self) -> float:
        """The permutation pseudo p-value with permutations, else the randomisation one."""
        return self.p_sim if self.permutations else self.p_rand

    def __repr__(self) -> str:
        sim = (
            f", pseudo p = {self.p_sim:.4g} ({self.permutations} permutations)"
            if self.permutations
            else ""
        )
        return (
            f"<GlobalMoranResult of {self.column!r} on {self.n} units, weights {self.weights}: "
            f"I = {self.I:.4f}, E[I] = {self.EI:.4f}, z(rand) = {self.z_rand:.3f}, "
            f"p(rand) = {self.p_rand:.4g}{sim}>"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per inference (normality, randomisation, permutation): ``I``,
        ``expected``, ``variance``, ``z`` and ``p_value`` (the permutation row's moments are
        those of the simulated I; NaN without permutations)."""
        sim_z = (self.I - self.sim_mean) / self.sim_sd if self.sim_sd > 0 else float("nan")
        return pd.DataFrame(
            {
                "I": [self.I, self.I, self.I],
                "expected": [self.EI, self.EI, self.sim_mean],
                "variance": [self.VI_norm, self.VI_rand, self.sim_sd**2],
                "z": [self.z_norm, self.z_rand, sim_z],
                P_VALUE: [self.p_norm, self.p_rand, self.p_sim],
            },
            index=pd.Index(["normality", "randomisation", "permutation"], name="inference"),
        )

    def summary(self) -> Summary:
        """The statistic and its three inferences as a :class:`~geocluster._base.summary.Summary`.

        Examples
        --------
        >>> import geocluster as gc
        >>> s = gc.global_moran(gc.datasets.load_columbus(), "CRIME", seed=1).summary()
        >>> s.title, s.to_frame().shape
        ("Global Moran's I of 'CRIME'", (3, 5))
        """
        top = [
            ("units", f"{self.n:,}"),
            ("weights", str(self.weights)),
            ("Moran's I", format_number(self.I)),
            ("E[I]", format_number(self.EI)),
            ("permutations", f"{self.permutations:,}"),
            ("seed", str(self.seed)),
        ]
        notes = [
            "normality and randomisation: two-sided analytic p-values; permutation: folded "
            "one-sided pseudo p-value, ties counted on both sides."
        ]
        return Summary(f"Global Moran's I of {self.column!r}", top=top, table=self.to_frame(),
                       notes=notes)

    def to_dict(self) -> dict:
        """Plain dict of the numbers (for tables and JSON)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}


def global_moran(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
) -> GlobalMoranResult:
    """Global Moran's I: analytic moments (esda) and a seeded permutation test.

    Parameters
    ----------
    gdf, column, weights, isolates, missing
        As in :func:`local_moran` (weights row-standardised; ``isolates="keep"``
        keeps units without neighbours in ``n`` and the variance).
    permutations
        Random permutations of the values for ``p_sim`` (0: none).
    seed
        Int or ``numpy.random.Generator`` for the permutations. esda's ``Moran``
        draws from numpy's global state, so the permutations are drawn here from
        ``default_rng(seed)``; the statistic itself is esda's.

    Returns
    -------
    GlobalMoranResult
        ``I``, ``EI``, ``VI_norm``, ``VI_rand``, ``z_norm``, ``z_rand``, two-sided
        ``p_norm`` and ``p_rand``, folded one-sided ``p_sim``, and the mean and sd of
        the permutation distribution. ``p_sim = (min(ge, le) + 1) / (P + 1)`` with
        ``ge`` (``le``) the permutations whose I is at least (at most) the observed
        one, a difference within ``1e-10`` of the statistic's scale counting as a
        tie on both sides; esda's ``Moran.p_sim`` counts only ``>=`` and folds with
        ``P`` minus that count, R's ``spdep::moran.mc`` reports the one-sided rank
        of the observed value.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> mi = gc.global_moran(columbus, "CRIME", seed=1)
    >>> round(mi.I, 4), round(mi.EI, 4), mi.p_sim
    (0.5002, -0.0208, 0.001)
    """
    Moran = inf.esda_moran().Moran

    inf.check_options(
        permutations=permutations,
        alpha=0.05,
        correction=None,
        alternative="folded",
        isolates=isolates,
        missing=missing,
        where="global_moran",
    )
    rng = inf.make_rng(seed, "global_moran")
    prep = inf.prepare(
        gdf, column, weights, isolates=isolates, missing=missing, what="global_moran"
    )
    graph = prep.graph.transform("R")
    with inf.quiet_esda():
        mi = Moran(prep.y, graph, transformation="r", permutations=0, two_tailed=True)
    p_sim = sim_mean = sim_sd = float("nan")
    if permutations:
        _perm.check_size(
            permutations, 1, what="global_moran", bytes_each=8, kind="simulated statistics"
        )
        sims = _permuted_moran(prep.y, graph, permutations, rng)
        # |I| <= max row sum of |W| (= 1, row-standardised) times n / S0: scale of I
        ge, le = _perm.count_ties(sims, float(mi.I), scale=max(1.0, abs(float(mi.I))))
        p_sim = float(_perm.pseudo_p(ge, le, permutations, "folded"))
        sim_mean, sim_sd = float(sims.mean()), float(sims.std())
    return GlobalMoranResult(
        I=float(mi.I),
        EI=float(mi.EI),
        VI_norm=float(mi.VI_norm),
        VI_rand=float(mi.VI_rand),
        z_norm=float(mi.z_norm),
        z_rand=float(mi.z_rand),
        p_norm=float(2 * stats.norm.sf(abs(mi.z_norm))),
        p_rand=float(2 * stats.norm.sf(abs(mi.z_rand))),
        p_sim=p_sim,
        permutations=int(permutations),
        n=len(prep.y),
        column=column,
        weights=prep.label,
        seed=inf.seed_label(seed),
        sim_mean=sim_mean,
        sim_sd=sim_sd,
        extra={"isolate_ids": prep.isolate_ids, "missing_dropped": prep.missing_ids},
    )


def _permuted_moran(y, graph, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Moran's I of ``permutations`` random permutations of y, in memory-bounded blocks."""
    z = y - y.mean()
    w = sparse.csr_array(graph.sparse)
    factor = len(z) / w.sum() / (z @ z)
    block = max(1, min(permutations, int(4e6 // max(len(z), 1))))
    out = np.empty(permutations)
    done = 0
    while done < permutations:
        b = min(block, permutations - done)
        zp = rng.permuted(np.broadcast_to(z, (b, len(z))), axis=1).T  # n x b
        out[done : done + b] = factor * np.einsum("ij,ij->j", zp, w @ zp)
        done += b
    return out
