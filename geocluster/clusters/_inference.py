"""Shared inference helpers for the areal cluster statistics (LISA, Gi*).

Private module: validation of the analysed column, the isolates / missing-value
policies, the seed handed to esda, p-value conventions and the multiple-testing
cut-off. ``local_moran``, ``global_moran`` and ``getis_ord`` all use these, so the
three functions share one meaning of ``p``, ``alpha`` and ``correction``.

P-values
--------
Every permutation p-value counts ties on both sides (see
:mod:`geocluster.clusters._permutation`): with ``P`` permutations, ``ge`` draws at
least and ``le`` draws at most as large as the observed statistic (equal within a
relative tolerance of 1e-10 of the statistic's scale), the folded pseudo p-value is
``(min(ge, le) + 1) / (P + 1)``, ``"greater"`` is ``(ge + 1)/(P + 1)``, ``"less"``
``(le + 1)/(P + 1)`` and ``"two-sided"`` ``min(1, 2 p_folded)``. For data without
ties the folded value is esda's ``p_sim``; with ties esda reports the most extreme
value ``1/(P+1)`` where every draw ties. Without permutations the normal
approximation is used with the same convention: ``norm.sf(|z|)`` (folded),
``2 norm.sf(|z|)`` (two-sided), ``norm.sf(z)`` (greater), ``norm.cdf(z)`` (less).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import stats

from geocluster._base.validate import check_alpha, check_seed, make_rng, seed_label
from geocluster.errors import GeoclusterWarning, InputError, WeightsError
from geocluster.weights import build_graph

__all__ = [
    "check_options", "check_frame_column", "split_missing", "restrict", "handle_isolates",
    "check_values", "permutation_seed", "policy_attrs", "esda_moran", "quiet_esda",
    "finish_p", "normal_p", "p_label", "cutoff", "warn_unreachable", "warn_fdr_resolution",
    "significance", "full_length", "Prepared", "prepare", "check_seed", "seed_label",
    "make_rng",
]

Correction = Literal["fdr", "bonferroni"] | None
Alternative = Literal["folded", "two-sided", "greater", "less"]

CORRECTIONS = (None, "fdr", "bonferroni")
ALTERNATIVES = ("folded", "two-sided", "greater", "less")
ISOLATE_POLICIES = ("raise", "drop", "keep")
MISSING_POLICIES = ("raise", "drop")


def check_options(
    *,
    permutations: int,
    alpha: float,
    correction,
    alternative: str,
    isolates: str,
    missing: str,
    n_jobs: int = 1,
    where: str = "",
) -> None:
    """Validate the options shared by the local statistics (``where`` names the caller)."""
    if isinstance(permutations, bool) or not isinstance(permutations, int | np.integer):
        raise InputError(f"permutations={permutations!r} must be a whole number (0 or e.g. 999).")
    if permutations < 0:
        raise InputError(f"permutations={permutations} must be 0 (analytic only) or positive.")
    check_alpha(alpha, where=where)
    if correction not in CORRECTIONS:
        raise InputError(
            f"correction={correction!r} must be None, 'fdr' (Benjamini-Hochberg) or 'bonferroni'."
        )
    if alternative not in ALTERNATIVES:
        raise InputError(
            f"alternative={alternative!r} must be 'folded' (one-sided in the direction of "
            "the observed value, as GeoDa), 'two-sided', 'greater' or 'less'."
        )
    if isolates not in ISOLATE_POLICIES:
        raise InputError(f"isolates={isolates!r} must be one of {ISOLATE_POLICIES}.")
    if missing not in MISSING_POLICIES:
        raise InputError(f"missing={missing!r} must be 'raise' or 'drop'.")
    if (isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0
            or n_jobs < -1):
        raise InputError(
            f"n_jobs={n_jobs!r} must be -1 (all cores) or a positive integer: the number "
            "of threads for the permutation inference, e.g. n_jobs=1 or n_jobs=-1."
        )


def check_frame_column(gdf, column: str, what: str) -> pd.Series:
    """Return ``gdf[column]`` as float after checking type, presence and dtype."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} needs a GeoDataFrame, got {type(gdf).__name__}.")
    if not isinstance(column, str):
        raise InputError(f"column must be a column name (a string), got {column!r}.")
    if column not in gdf.columns:
        close = [c for c in gdf.columns if str(c).lower() == column.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"column {column!r} is not in the frame.{hint} "
            f"Available columns: {[c for c in gdf.columns if c != gdf.geometry.name][:20]}."
        )
    series = gdf[column]
    if series.dtype == bool or not pd.api.types.is_numeric_dtype(series.dtype):
        raise InputError(
            f"column {column!r} has dtype {series.dtype}, but {what} needs numbers. "
            "Convert it first, e.g. pd.to_numeric(gdf[column], errors='coerce')."
        )
    values = series.astype("float64")
    if np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).any():
        bad = gdf.index[np.isinf(values.to_numpy(dtype=float, na_value=np.nan))][:5].tolist()
        raise InputError(
            f"column {column!r} has infinite values (e.g. rows {bad}); replace them "
            "(a log of zero?) before computing spatial statistics."
        )
    return values


def split_missing(values: pd.Series, column: str, missing: str) -> np.ndarray:
    """Boolean mask of rows to analyse; raises or warns about missing values."""
    nan = values.isna().to_numpy()
    if nan.all():
        raise InputError(
            f"column {column!r} has no values: all {len(nan)} are missing, so there is "
            "nothing to analyse. Check the join or aggregation that filled it (e.g. fill "
            "units without firms with 0: gdf[column].fillna(0)) or choose another column."
        )
    if nan.any():
        ids = values.index[nan][:5].tolist()
        if missing == "raise":
            raise InputError(
                f"column {column!r} has {int(nan.sum())} missing values (e.g. rows {ids}). "
                "Fill them, or pass missing='drop' to analyse the other units (the dropped "
                "units get NaN results and are removed from the weights)."
            )
        warnings.warn(
            f"column {column!r}: dropped {int(nan.sum())} units with missing values "
            f"(e.g. rows {ids}); their results are NaN.",
            GeoclusterWarning,
            stacklevel=3,
        )
    return ~nan


def restrict(graph: Graph, keep: np.ndarray) -> Graph:
    """The Graph on the units where ``keep`` is True (all units: the Graph itself)."""
    if keep.all():
        return graph
    return graph.subgraph(graph.unique_ids[keep])


def handle_isolates(graph: Graph, policy: str, spec_label: str) -> np.ndarray:
    """Mask of units that have at least one neighbour; raise under ``policy='raise'``."""
    card = graph.cardinalities.to_numpy()
    has = card > 0
    if (~has).any() and policy == "raise":
        ids = graph.unique_ids[~has][:10].tolist()
        raise WeightsError(
            f"weights {spec_label}: {int((~has).sum())} of {graph.n} units have no neighbours "
            f"(ids {ids}); a local statistic is undefined for them. Pass isolates='drop' "
            "(analyse the others; isolates get NaN and 'ns'), isolates='keep' (they stay in "
            "the mean, variance and permutation draws but get NaN and 'ns'), or use a "
            "spec such as 'knn:6' that gives every unit neighbours."
        )
    return has


def check_values(y: np.ndarray, column: str, n_min: int = 3) -> None:
    """Enough units and some variation."""
    if len(y) < n_min:
        raise InputError(
            f"column {column!r}: only {len(y)} usable units; spatial autocorrelation "
            f"needs at least {n_min}. Use more (or smaller) units, e.g. counties instead "
            "of states, or fill the missing values."
        )
    if np.ptp(y) == 0:
        raise InputError(
            f"column {column!r} is constant ({y[0]!r}) over the analysed units, so it has no "
            "spatial pattern to test. Choose a column that varies."
        )


def permutation_seed(seed: int | np.random.Generator | None, where: str = "") -> int:
    """One integer seed for the permutation table, drawn from ``make_rng(seed)``.

    ``seed=7`` and ``seed=np.random.default_rng(7)`` give the same integer (recorded in
    ``attrs["permutation_seed"]``); ``where`` names the caller in the error for a bad seed.

    Examples
    --------
    >>> permutation_seed(7) == permutation_seed(np.random.default_rng(7))
    True
    """
    return int(make_rng(seed, where).integers(1, 2**31 - 1))


def policy_attrs(prep: Prepared, isolates: str, examples: int = 20) -> dict:
    """Counts and (at most ``examples``) ids of the units left out, for ``attrs``."""
    return {
        "n_missing_dropped": len(prep.missing_ids),
        "missing_ids": list(prep.missing_ids[:examples]),
        "isolates": isolates,
        "n_isolates": len(prep.isolate_ids),
        "isolate_ids": list(prep.isolate_ids[:examples]),
    }


def esda_moran():
    """``esda.moran``, imported without tqdm's "IProgress not found" notice in notebooks."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import esda.moran
    return esda.moran


@contextlib.contextmanager
def quiet_esda() -> Iterator[None]:
    """Keep numpy's global random state and silence esda's API deprecation chatter.

    Without numba, esda's permutation kernel calls ``np.random.seed``; the caller's
    global random state is restored afterwards.
    """
    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning, module="esda")
            yield
    finally:
        np.random.set_state(state)


def p_label(permutations: int, alternative: str) -> str:
    """What a p-value column holds, for ``attrs["p_value"]`` (e.g. "folded one-sided
    pseudo p-value, conditional permutation, ties counted on both sides").

    Examples
    --------
    >>> p_label(0, "two-sided")
    'two-sided normal approximation'
    """
    kind = (
        "pseudo p-value, conditional permutation, ties counted on both sides"
        if permutations
        else "normal approximation"
    )
    side = {"folded": "folded one-sided", "two-sided": "two-sided"}.get(
        alternative, f"one-sided ({alternative})"
    )
    return f"{side} {kind}"


def finish_p(p_folded: np.ndarray, alternative: str) -> np.ndarray:
    """Folded one-sided p as given, or ``min(1, 2 p)`` for two-sided."""
    if alternative == "two-sided":
        return np.minimum(1.0, 2.0 * p_folded)
    return p_folded


def normal_p(z: np.ndarray, alternative: str) -> np.ndarray:
    """Normal-approximation p-value of z with the same convention as the pseudo p."""
    if alternative == "greater":
        return stats.norm.sf(z)
    if alternative == "less":
        return stats.norm.cdf(z)
    p = stats.norm.sf(np.abs(z))
    return finish_p(p, alternative)


def cutoff(p: np.ndarray, alpha: float, correction) -> float:
    """The effective p-value cut-off: units with ``p <= cutoff`` are significant.

    ``None``: ``alpha``. ``"bonferroni"``: ``alpha / m``. ``"fdr"`` (Benjamini-Hochberg
    1995): ``k alpha / m`` with ``k`` the largest rank whose sorted p-value is at most
    ``k alpha / m`` (0.0 when no p-value qualifies). ``m`` counts the non-missing p.

    Examples
    --------
    >>> cutoff(np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]), 0.05, "fdr")
    0.0125
    >>> cutoff(np.array([0.01, 0.2]), 0.05, "bonferroni")
    0.025
    """
    p = np.asarray(p, dtype=float)
    p = p[~np.isnan(p)]
    m = len(p)
    if correction is None or m == 0:
        return float(alpha)
    if correction == "bonferroni":
        return float(alpha / m)
    ranked = np.sort(p)
    ok = np.nonzero(ranked <= np.arange(1, m + 1) * alpha / m)[0]
    if len(ok) == 0:
        return 0.0
    return float((ok[-1] + 1) * alpha / m)


def warn_unreachable(cut: float, permutations: int, correction, stacklevel: int = 3) -> None:
    """Warn when the smallest attainable pseudo p-value cannot pass the cut-off."""
    if permutations and correction == "bonferroni" and cut < 1.0 / (permutations + 1):
        need = int(np.ceil(1.0 / cut)) - 1
        warnings.warn(
            f"with permutations={permutations} the smallest pseudo p-value is "
            f"{1 / (permutations + 1):.2g}, above the Bonferroni cut-off {cut:.3g}, so no unit "
            f"can be significant. Use permutations>={need} or correction='fdr'.",
            GeoclusterWarning,
            stacklevel=stacklevel,
        )


def warn_fdr_resolution(
    p: np.ndarray,
    cut: float,
    level: float,
    permutations: int,
    correction,
    what: str,
    stacklevel: int = 3,
) -> None:
    """Warn when FDR rejects nothing although units sit at the smallest pseudo p-value.

    With ``P`` permutations no pseudo p-value is below ``1/(P+1)``; Benjamini-Hochberg at
    ``level`` over ``m`` tests then needs at least ``m/(level (P+1))`` such units.
    """
    if correction != "fdr" or not permutations or cut > 0:
        return
    floor = 1.0 / (permutations + 1)
    n_floor = int(np.sum(np.asarray(p) <= floor * (1 + 1e-9)))
    if n_floor == 0:
        return
    m = int(np.sum(~np.isnan(p)))
    warnings.warn(
        f"{what}: {n_floor} units have the smallest attainable pseudo p-value {floor:.2g} "
        f"(permutations={permutations}), but FDR at {level:g} over {m} units needs more "
        "evidence than that, so none is significant at this level. More permutations "
        f"(e.g. {10 * (permutations + 1) - 1}) resolve smaller p-values.",
        GeoclusterWarning,
        stacklevel=stacklevel,
    )


def significance(p: np.ndarray, alpha: float, correction) -> tuple[np.ndarray, float]:
    """Significance mask (NaN p -> False) and the cut-off used."""
    cut = cutoff(p, alpha, correction)
    with np.errstate(invalid="ignore"):
        sig = np.asarray(p) <= cut
    return sig & ~np.isnan(p), cut


def full_length(values: np.ndarray, mask: np.ndarray, fill=np.nan, dtype=float) -> np.ndarray:
    """Spread ``values`` computed on ``mask`` back over all rows."""
    out = np.full(len(mask), fill, dtype=dtype)
    out[mask] = values
    return out


class Prepared:
    """The analysed values, the masks over the frame's rows and the raw Graph."""

    def __init__(self, y, analysed, tested, graph, label, missing_ids, isolate_ids):
        self.y = y  # values of the analysed units, in Graph order
        self.analysed = analysed  # rows in the Graph (bool over all rows)
        self.tested = tested  # rows that get a statistic (analysed and with neighbours)
        self.graph = graph  # Graph on the analysed units, weights as built
        self.label = label
        self.missing_ids = missing_ids
        self.isolate_ids = isolate_ids

    @property
    def tested_in_graph(self) -> np.ndarray:
        """``tested`` restricted to the analysed units (Graph order)."""
        return self.tested[self.analysed]


def prepare(
    gdf, column: str, spec, *, isolates: str, missing: str, what: str, n_min: int = 3
) -> Prepared:
    """Validate the frame and column, build the weights, apply missing/isolate policies."""
    values = check_frame_column(gdf, column, what)
    if len(gdf) < n_min:
        raise InputError(
            f"{what} needs at least {n_min} units; the frame has {len(gdf)}. Use more (or "
            "smaller) units, e.g. counties or a grid (gc.grid) instead of a few regions."
        )
    ok = split_missing(values, column, missing)
    label = repr(spec) if isinstance(spec, str) else "(the given Graph)"
    graph = build_graph(gdf, spec, transform=None, count_components=False).graph
    graph = restrict(graph, ok)
    has = handle_isolates(graph, isolates, label)
    isolate_ids = graph.unique_ids[~has].tolist()
    analysed = ok.copy()
    tested = ok.copy()
    tested[ok] = has
    if isolates == "drop" and isolate_ids:
        warnings.warn(
            f"weights {label}: dropped {len(isolate_ids)} units without neighbours "
            f"(ids {isolate_ids[:10]}); their results are NaN and 'ns'.",
            GeoclusterWarning,
            stacklevel=3,
        )
        graph = restrict(graph, has)
        analysed = tested.copy()
    y = values.to_numpy(dtype=float)[analysed]
    check_values(y, column, n_min)
    if tested.sum() < n_min:
        raise InputError(
            f"column {column!r}: only {int(tested.sum())} units have neighbours; "
            f"{what} needs at least {n_min}. Use a weights spec that connects the units, "
            "e.g. weights='knn:6'."
        )
    missing_ids = values.index[~ok].tolist()
    return Prepared(y, analysed, tested, graph, label, missing_ids, isolate_ids)
