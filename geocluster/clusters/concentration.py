"""Ellison-Glaeser (1997) indices of agglomeration and co-agglomeration by areal unit.

Notation (Ellison and Glaeser 1997, J. Political Economy 105(5), 889-927):
``M`` areal units; ``x_k`` the share of *all* firms' employment (or of all firms, without
``weight=``) in unit ``k``; for an industry with ``N`` plants of employment shares
``z_j``, ``s_k`` its share of employment in unit ``k``.

* raw concentration ``G = sum_k (s_k - x_k)^2``;
* plant Herfindahl ``H = sum_j z_j^2`` (``1 / N`` without ``weight=``);
* agglomeration index ``gamma = (G - (1 - sum_k x_k^2) H) / ((1 - sum_k x_k^2)(1 - H))``.

Under EG's null of random location (each plant independently in unit ``k`` with
probability ``x_k``) ``E[G] = (1 - sum x_k^2) H``, so ``E[gamma] = 0`` exactly; EG call
``gamma > 0.05`` highly and ``gamma < 0.02`` not very concentrated.

Co-agglomeration of a pair ``(a, b)`` (EG 1997's index for a group, with two industries of
employment weights ``w_a, w_b``) reduces exactly to the form Ellison, Glaeser and Kerr
(2010, AER 100(3)) use::

    gamma_c = sum_k (s_ka - x_k)(s_kb - x_k) / (1 - sum_k x_k^2)

(the plant Herfindahls and the own indices cancel for two industries), which is what is
computed; ``E[gamma_c] = 0`` when the two industries locate independently at random.

Inference: ``simulations`` draws of EG's null (plants placed independently with
probabilities ``x``, their sizes kept) give a Monte Carlo p-value, tie-aware (a draw
within ``1e-10`` of the statistic's scale counts on both sides, as everywhere in
geocluster), and the 2.5-97.5% range of the simulated index (``null_low``, ``null_high``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from geocluster._base.plotting import new_figure
from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import (
    check_positive_int,
    check_weight_column,
    make_rng,
    seed_label,
)
from geocluster.clusters import _permutation as _perm
from geocluster.errors import InputError

__all__ = [
    "ellison_glaeser",
    "coagglomeration",
    "EllisonGlaeserResult",
    "CoagglomerationResult",
]

#: Plant draws held at once by the simulations (int64 + float64: about 64 MB).
_DRAWS_PER_BLOCK = 4_000_000
_ALTERNATIVES = ("greater", "less", "two-sided", "folded")


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class EllisonGlaeserResult:
    """Result of :func:`ellison_glaeser`: one row per industry.

    Attributes
    ----------
    table
        Index = industry; columns ``n_plants``, ``employment``, ``raw_concentration``
        (G), ``plant_herfindahl`` (H), ``gamma``, ``null_low``, ``null_high`` (2.5% and
        97.5% of the simulated gamma) and ``p_value``.
    sum_x2
        ``sum_k x_k^2`` of the aggregate shares.
    n_units
        Number of areal units ``M``.
    simulations, alternative, seed, weighted
        How the p-values were made (``seed`` as :func:`~geocluster._base.validate.seed_label`).

    Examples
    --------
    >>> import pandas as pd
    >>> from geocluster.clusters.concentration import ellison_glaeser
    >>> firms = pd.DataFrame({"ind": list("aaabbb"), "unit": list("xxxyyz")})
    >>> res = ellison_glaeser(firms, by="ind", units="unit", simulations=0)
    >>> round(float(res.table.loc["a", "gamma"]), 4)  # (14/36 - 22/36 / 3) / (22/36 * 2/3)
    0.4545
    """

    table: pd.DataFrame
    sum_x2: float
    n_units: int
    simulations: int
    alternative: str
    seed: int | str | None
    weighted: bool
    simulated: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`table` (index ``industry``, a ``p_value`` column)."""
        return self.table.copy()

    def summary(self) -> Summary:
        """The set-up and the table as a :class:`~geocluster._base.summary.Summary`."""
        top = [
            ("industries", f"{len(self.table):,}"),
            ("areal units", f"{self.n_units:,}"),
            ("weighted (employment)", str(self.weighted)),
            ("sum of x_k^2", format_number(self.sum_x2)),
            ("simulations", f"{self.simulations:,}"),
            ("alternative", self.alternative),
            ("seed", str(self.seed)),
        ]
        notes = ["gamma > 0.05: highly, gamma < 0.02: not very concentrated (EG 1997); "
                 "E[gamma] = 0 under random location of plants with probabilities x_k."]
        return Summary("Ellison-Glaeser agglomeration index", top=top, table=self.to_frame(),
                       notes=notes)

    def plot(self, *, alpha: float = 0.05, title: str | None = None, width: float = 7.0,
             height: float | None = None):
        """Bars of gamma per industry with the null's 95% range; returns a ``Figure``.

        Bars with ``p_value <= alpha`` are dark; EG's thresholds 0.02 and 0.05 are
        dotted lines.
        """
        tab = self.table.sort_values("gamma")
        fig, ax = new_figure(width=width, height=height or max(2.5, 0.35 * len(tab) + 1.2))
        pos = np.arange(len(tab))
        sig = (tab["p_value"] <= alpha).to_numpy()
        colors = np.where(sig, "#d7191c", "#fdae61")
        ax.barh(pos, tab["gamma"].to_numpy(), color=colors, height=0.7)
        if self.simulations:
            lo, hi = tab["null_low"].to_numpy(), tab["null_high"].to_numpy()
            ax.hlines(pos, lo, hi, color="#404040", linewidth=2, label="null 95% range")
        for t in (0.02, 0.05):
            ax.axvline(t, color="#7f7f7f", linestyle=":", linewidth=1)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(pos, [str(i) for i in tab.index])
        ax.set_xlabel("Ellison-Glaeser gamma")
        ax.set_title(title or f"Agglomeration by industry ({self.n_units:,} units)")
        if self.simulations:
            ax.legend(loc="lower right", frameon=False)
        return fig

    def __repr__(self) -> str:
        tab = self.table
        top = tab["gamma"].idxmax() if tab["gamma"].notna().any() else None
        best = f", most agglomerated {top!r} (gamma={tab.loc[top, 'gamma']:.4g})" if top \
            is not None else ""
        return (f"<EllisonGlaeserResult: {len(tab):,} industries over {self.n_units:,} units"
                f"{best}, {self.simulations} simulations>")


@dataclass(frozen=True, repr=False, eq=False)
class CoagglomerationResult:
    """Result of :func:`coagglomeration`: one row per pair of industries.

    Attributes
    ----------
    table
        Index = (``industry_a``, ``industry_b``); columns ``gamma_c``, ``gamma_a``,
        ``gamma_b`` (the EG indices of each), ``null_low``, ``null_high`` and ``p_value``.
    sum_x2, n_units, simulations, alternative, seed, weighted
        As in :class:`EllisonGlaeserResult`.

    Examples
    --------
    >>> import pandas as pd
    >>> from geocluster.clusters.concentration import coagglomeration
    >>> firms = pd.DataFrame({"ind": list("aabbcc"), "unit": list("xyxyzz")})
    >>> res = coagglomeration(firms, by="ind", units="unit", simulations=0)
    >>> bool(res.matrix().loc["a", "b"] > 0 > res.matrix().loc["a", "c"])
    True
    """

    table: pd.DataFrame
    sum_x2: float
    n_units: int
    simulations: int
    alternative: str
    seed: int | str | None
    weighted: bool

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`table` (a ``p_value`` column)."""
        return self.table.copy()

    def matrix(self) -> pd.DataFrame:
        """The symmetric industry x industry matrix of ``gamma_c`` (own gamma on the diagonal)."""
        tab = self.table
        names = list(dict.fromkeys([*tab.index.get_level_values(0),
                                    *tab.index.get_level_values(1)]))
        out = pd.DataFrame(np.nan, index=names, columns=names)
        for (a, b), row in tab.iterrows():
            out.loc[a, b] = out.loc[b, a] = row["gamma_c"]
            out.loc[a, a], out.loc[b, b] = row["gamma_a"], row["gamma_b"]
        return out

    def summary(self) -> Summary:
        """The set-up and the pairs as a :class:`~geocluster._base.summary.Summary`."""
        top = [
            ("pairs", f"{len(self.table):,}"),
            ("areal units", f"{self.n_units:,}"),
            ("weighted (employment)", str(self.weighted)),
            ("sum of x_k^2", format_number(self.sum_x2)),
            ("simulations", f"{self.simulations:,}"),
            ("alternative", self.alternative),
            ("seed", str(self.seed)),
        ]
        notes = ["gamma_c = sum_k (s_ka - x_k)(s_kb - x_k) / (1 - sum x_k^2) (EG 1997's "
                 "group index for two industries; Ellison, Glaeser and Kerr 2010); "
                 "E[gamma_c] = 0 when the two locate independently at random."]
        return Summary("Ellison-Glaeser co-agglomeration index", top=top,
                       table=self.to_frame(), notes=notes)

    def plot(self, *, title: str | None = None, width: float = 6.5, height: float = 5.5):
        """Heat map of :meth:`matrix` (diverging around 0); returns a ``Figure``."""
        mat = self.matrix()
        fig, ax = new_figure(width=width, height=height)
        vals = mat.to_numpy(dtype=float)
        off = vals[~np.eye(len(vals), dtype=bool)]
        lim = float(np.nanmax(np.abs(off))) if off.size and np.isfinite(off).any() else 1.0
        image = ax.imshow(vals, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks(range(len(mat)), [str(c) for c in mat.columns], rotation=45, ha="right")
        ax.set_yticks(range(len(mat)), [str(c) for c in mat.index])
        fig.colorbar(image, ax=ax, label="gamma_c (diagonal: gamma)")
        ax.set_title(title or "Ellison-Glaeser co-agglomeration")
        return fig

    def __repr__(self) -> str:
        tab = self.table
        best = ""
        if len(tab) and tab["gamma_c"].notna().any():
            a, b = tab["gamma_c"].idxmax()
            best = f", strongest {a!r}-{b!r} (gamma_c={tab.loc[(a, b), 'gamma_c']:.4g})"
        return (f"<CoagglomerationResult: {len(tab):,} pairs over {self.n_units:,} units{best}, "
                f"{self.simulations} simulations>")


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------


def ellison_glaeser(
    firms: pd.DataFrame,
    *,
    by: str,
    units: str,
    weight: str | None = None,
    industries: list | None = None,
    simulations: int = 99,
    alternative: Literal["greater", "less", "two-sided", "folded"] = "greater",
    seed: int | np.random.Generator | None = None,
) -> EllisonGlaeserResult:
    """Ellison-Glaeser (1997) agglomeration index of each industry, with the plant Herfindahl.

    Parameters
    ----------
    firms
        One row per plant (a DataFrame or GeoDataFrame); not modified. The aggregate
        shares ``x_k`` come from *all* its rows.
    by
        Industry column.
    units
        Column with the areal unit of each plant (county, metro, grid-cell id). For
        polygons, attach it first, e.g. ``geopandas.sjoin(firms, counties[["geometry"]])``.
    weight
        Employment column: ``s``, ``x`` and the Herfindahl are employment shares.
        Without it every plant counts 1 (``H = 1/N``).
    industries
        Industries to report (default all values of ``by``).
    simulations
        Draws of EG's random-location null for the p-value (0: none).
    alternative
        ``"greater"`` (default: more agglomerated than random), ``"less"``,
        ``"two-sided"`` or ``"folded"`` (see :mod:`geocluster.clusters._permutation`).
    seed
        Seed or Generator of the simulations.

    Returns
    -------
    EllisonGlaeserResult
        ``to_frame()`` (``gamma``, ``p_value``, ...), ``summary()``, ``plot()``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.concentration import ellison_glaeser
    >>> firms = gc.datasets.make_firms(2000, seed=1)
    >>> firms["state"] = firms["fips"].str[:2]
    >>> res = ellison_glaeser(firms, by="industry", units="state", weight="employees",
    ...                       simulations=49, seed=1)
    >>> res.to_frame().columns.tolist()[-2:]
    ['null_high', 'p_value']
    """
    data = _read(firms, by, units, weight, "ellison_glaeser")
    sims, alt, rng = _inference_options(simulations, alternative, seed, "ellison_glaeser")
    names = _industries(data, industries, "ellison_glaeser")
    rows, draws = [], []
    for name in names:
        plants = data.industry == name
        shares = _industry_shares(data, plants)
        g, h, gamma = _gamma(shares, data.x, data.sum_x2, data.z[plants])
        sim = _simulate_shares(data.x, data.z[plants], sims, rng)
        sim_gamma = _gamma_from_shares(sim, data.x, data.sum_x2, h) if sims else sim[:, 0]
        lo, hi, p = _mc_summary(gamma, sim_gamma, sims, alt)
        rows.append((int(plants.sum()), float(data.w[plants].sum()), g, h, gamma, lo, hi, p))
        draws.append(sim_gamma)
    table = pd.DataFrame(rows, index=pd.Index(names, name="industry"),
                         columns=["n_plants", "employment", "raw_concentration",
                                  "plant_herfindahl", "gamma", "null_low", "null_high",
                                  "p_value"])
    return EllisonGlaeserResult(table=table, sum_x2=data.sum_x2, n_units=len(data.x),
                                simulations=sims, alternative=alt, seed=seed_label(seed),
                                weighted=weight is not None,
                                simulated=np.array(draws).reshape(len(names), sims))


def coagglomeration(
    firms: pd.DataFrame,
    *,
    by: str,
    units: str,
    weight: str | None = None,
    pairs: list[tuple] | None = None,
    simulations: int = 99,
    alternative: Literal["greater", "less", "two-sided", "folded"] = "two-sided",
    seed: int | np.random.Generator | None = None,
) -> CoagglomerationResult:
    """Ellison-Glaeser co-agglomeration index of pairs of industries.

    Parameters
    ----------
    firms, by, units, weight
        As in :func:`ellison_glaeser`.
    pairs
        ``[(a, b), ...]`` pairs of industries (default every pair of values of ``by``).
    simulations
        Draws of the null in which the two industries' plants locate independently at
        random with probabilities ``x_k`` (0: none).
    alternative
        ``"two-sided"`` (default), ``"greater"`` (co-agglomerated), ``"less"``, ``"folded"``.
    seed
        Seed or Generator of the simulations.

    Returns
    -------
    CoagglomerationResult
        ``to_frame()`` (``gamma_c``, ``p_value``, ...), ``matrix()``, ``summary()``,
        ``plot()``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.concentration import coagglomeration
    >>> firms = gc.datasets.make_firms(2000, seed=1)
    >>> firms["state"] = firms["fips"].str[:2]
    >>> res = coagglomeration(firms, by="industry", units="state", simulations=19, seed=1)
    >>> res.to_frame().index.names
    FrozenList(['industry_a', 'industry_b'])
    """
    data = _read(firms, by, units, weight, "coagglomeration")
    sims, alt, rng = _inference_options(simulations, alternative, seed, "coagglomeration")
    pairs = _pairs(data, pairs)
    needed = list(dict.fromkeys(itertools.chain.from_iterable(pairs)))
    one_minus = 1.0 - data.sum_x2
    dev, sim_dev, own = {}, {}, {}
    for name in needed:
        plants = data.industry == name
        shares = _industry_shares(data, plants)
        own[name] = _gamma(shares, data.x, data.sum_x2, data.z[plants])[2]
        dev[name] = shares - data.x
        sim_dev[name] = _simulate_shares(data.x, data.z[plants], sims, rng) - data.x
    rows = []
    for a, b in pairs:
        gc_obs = float(dev[a] @ dev[b]) / one_minus
        sim = np.einsum("sk,sk->s", sim_dev[a], sim_dev[b]) / one_minus
        lo, hi, p = _mc_summary(gc_obs, sim, sims, alt)
        rows.append((gc_obs, own[a], own[b], lo, hi, p))
    index = pd.MultiIndex.from_tuples(pairs, names=["industry_a", "industry_b"])
    table = pd.DataFrame(rows, index=index, columns=["gamma_c", "gamma_a", "gamma_b",
                                                     "null_low", "null_high", "p_value"])
    return CoagglomerationResult(table=table, sum_x2=data.sum_x2, n_units=len(data.x),
                                 simulations=sims, alternative=alt, seed=seed_label(seed),
                                 weighted=weight is not None)


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    industry: np.ndarray  # the by value of each plant
    unit: np.ndarray  # position of each plant's unit in 0..M-1
    w: np.ndarray  # plant employment (1 without weight=)
    z: np.ndarray  # plant employment (shares are formed per industry)
    x: np.ndarray  # aggregate shares of the M units
    sum_x2: float
    levels: list


def _read(firms, by, units, weight, where) -> _Data:
    if not isinstance(firms, pd.DataFrame):
        raise InputError(f"{where}: firms must be a DataFrame (or GeoDataFrame) with one row "
                         f"per plant, got {type(firms).__name__}.")
    if len(firms) == 0:
        raise InputError(f"{where}: firms is empty; there is nothing to measure.")
    for arg, col in (("by", by), ("units", units)):
        if not isinstance(col, str) or col not in firms.columns:
            raise InputError(f"{where}: {arg}={col!r} is not a column of firms; give the "
                             f"column with each plant's {'industry' if arg == 'by' else 'areal unit'}"
                             f" (columns: {list(firms.columns)[:20]}).")
        missing = firms[col].isna().to_numpy()
        if missing.any():
            raise InputError(f"{where}: column {col!r} ({arg}=) has {int(missing.sum())} missing "
                             f"values (e.g. rows {firms.index[missing][:5].tolist()}); fill or "
                             "drop them first.")
    w = (np.ones(len(firms)) if weight is None
         else check_weight_column(firms, weight, where=where, what="firms"))
    if w.sum() <= 0:
        raise InputError(f"{where}: weight column {weight!r} sums to zero.")
    codes, labels = pd.factorize(firms[units], sort=True)
    if len(labels) < 2:
        raise InputError(f"{where}: all plants are in one areal unit ({labels[0]!r}); "
                         "concentration across units needs at least two.")
    x = np.bincount(codes, weights=w, minlength=len(labels)) / w.sum()
    industry = firms[by].to_numpy()
    levels = list(pd.unique(firms[by]))
    try:
        levels = sorted(levels)
    except TypeError:
        pass
    return _Data(industry=industry, unit=codes, w=w, z=w, x=x, sum_x2=float(x @ x),
                 levels=levels)


def _inference_options(simulations, alternative, seed, where):
    sims = check_positive_int(simulations, where=where, name="simulations", minimum=0)
    if alternative not in _ALTERNATIVES:
        raise InputError(f"{where}: alternative={alternative!r} must be one of "
                         f"{list(_ALTERNATIVES)}.")
    return sims, alternative, make_rng(seed, where)


def _industries(data: _Data, industries, where) -> list:
    if industries is None:
        return data.levels
    unknown = [i for i in industries if i not in set(data.levels)]
    if unknown:
        raise InputError(f"{where}: industries {unknown[:5]} are not values of the by column "
                         f"(values: {data.levels[:10]}).")
    return list(industries)


def _pairs(data: _Data, pairs) -> list[tuple]:
    if pairs is None:
        if len(data.levels) < 2:
            raise InputError("coagglomeration: the by column has one industry; a pair needs two.")
        return list(itertools.combinations(data.levels, 2))
    known = set(data.levels)
    out = []
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise InputError(f"coagglomeration: pairs must be (a, b) tuples, got {pair!r}.")
        a, b = pair
        bad = [v for v in (a, b) if v not in known]
        if bad:
            raise InputError(f"coagglomeration: pair {tuple(pair)!r} names {bad}, not values of "
                             f"the by column (values: {data.levels[:10]}).")
        if a == b:
            raise InputError(f"coagglomeration: pair {tuple(pair)!r} has the same industry "
                             "twice; use ellison_glaeser for one industry.")
        out.append((a, b))
    return out


# --------------------------------------------------------------------------------------
# computation
# --------------------------------------------------------------------------------------


def _industry_shares(data: _Data, plants: np.ndarray) -> np.ndarray:
    """``s_k``: the industry's employment share in each unit."""
    w = data.w[plants]
    total = w.sum()
    if total <= 0:
        return np.full(len(data.x), np.nan)
    return np.bincount(data.unit[plants], weights=w, minlength=len(data.x)) / total


def _gamma(shares, x, sum_x2, plant_w) -> tuple[float, float, float]:
    """``(G, H, gamma)`` of one industry (gamma NaN for one plant, H = 1)."""
    total = plant_w.sum()
    h = float(((plant_w / total) ** 2).sum()) if total > 0 else np.nan
    g = float(((shares - x) ** 2).sum())
    one = 1.0 - sum_x2
    gamma = (g - one * h) / (one * (1.0 - h)) if h < 1 else np.nan
    return g, h, float(gamma)


def _gamma_from_shares(sim_shares, x, sum_x2, h) -> np.ndarray:
    g = ((sim_shares - x) ** 2).sum(axis=1)
    one = 1.0 - sum_x2
    if not h < 1:
        return np.full(len(g), np.nan)
    return (g - one * h) / (one * (1.0 - h))


def _simulate_shares(x, plant_w, sims, rng) -> np.ndarray:
    """``(sims, M)`` industry shares with each plant in unit k with probability ``x_k``."""
    m = len(x)
    out = np.zeros((sims, m))
    n = len(plant_w)
    total = plant_w.sum()
    if sims == 0 or n == 0 or total <= 0:
        return out if total > 0 or sims == 0 else np.full((sims, m), np.nan)
    z = plant_w / total
    cdf = np.cumsum(x)
    cdf[-1] = 1.0
    rows = max(1, _DRAWS_PER_BLOCK // n)
    for start in range(0, sims, rows):
        stop = min(sims, start + rows)
        u = rng.random((stop - start, n))
        units = np.minimum(np.searchsorted(cdf, u, side="right"), m - 1)
        flat = (np.arange(stop - start)[:, None] * m + units).ravel()
        out[start:stop] = np.bincount(flat, weights=np.tile(z, stop - start),
                                      minlength=(stop - start) * m).reshape(stop - start, m)
    return out


def _mc_summary(observed: float, sims: np.ndarray, n_sims: int, alternative: str):
    """``(null_low, null_high, p_value)`` of a statistic against its simulated null."""
    if n_sims == 0 or not np.isfinite(observed) or not np.isfinite(sims).all():
        return np.nan, np.nan, np.nan
    scale = max(abs(observed), float(np.abs(sims).max()))
    ge, le = _perm.count_ties(sims, observed, scale)
    p = float(_perm.pseudo_p(np.array([ge]), np.array([le]), n_sims, alternative)[0])
    lo, hi = np.quantile(sims, [0.025, 0.975])
    return float(lo), float(hi), p
