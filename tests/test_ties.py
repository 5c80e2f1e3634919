"""Ties in permutation inference: exact answers, brute-force counts, memory bounds.

With sparse counts most units hold 0 firms. A unit at 0 whose k neighbours are all 0
ties the observed statistic in every draw that gives its neighbours k zeros, which
under conditional permutation (n0 zero units among n) happens with probability
C(n0 - 1, k) / C(n - 1, k). Counting ties on both sides, its folded pseudo p-value
estimates that probability (the observed value is the most extreme possible, so every
other draw lies on one side); esda's p_sim calls such units as extreme as possible.
"""

from __future__ import annotations

import itertools
import warnings
from math import comb

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geocluster as gc
from geocluster.clusters import _permutation as perm
from geocluster.errors import GeoclusterWarning, InputError


def grid(nx: int, ny: int) -> gpd.GeoDataFrame:
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(ny) for i in range(nx)]
    return gpd.GeoDataFrame(geometry=cells, crs="EPSG:3857")


def sparse_counts(n: int, share_zero: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, n) + 1
    counts[rng.random(n) < share_zero] = 0
    return counts.astype(float)


def zero_among_zeros(frame, column, spec):
    """Positions of units at 0 whose neighbours are all 0, and their neighbour counts."""
    g = gc.weights(frame, spec, transform=None)
    y = frame[column].to_numpy()
    w = g.sparse.tocsr()
    card = np.diff(w.indptr)
    nb_max = np.maximum.reduceat(y[w.indices], w.indptr[:-1])
    mask = (y == 0) & (nb_max == 0) & (card > 0)
    return np.flatnonzero(mask), card


# ----------------------------------------------------------- the exact answer


@pytest.mark.parametrize("statistic", ["getis_ord", "local_moran"])
def test_zero_among_zeros_matches_exact_tie_probability(statistic):
    frame = grid(20, 20)
    frame["firms"] = sparse_counts(len(frame), 0.8, seed=3)
    n = len(frame)
    n0 = int((frame["firms"] == 0).sum())
    units, card = zero_among_zeros(frame, "firms", "rook")
    assert len(units) > 40  # the case is common, as with county counts
    permutations = 1999
    with pytest.warns(GeoclusterWarning, match=r"\d+ of 400 units .* share the value 0"):
        res = getattr(gc, statistic)(frame, "firms", weights="rook", seed=11,
                                     permutations=permutations)
    p = res[{"getis_ord": "gi_p", "local_moran": "lisa_p"}[statistic]].to_numpy()[units]
    exact = np.array([comb(n0 - 1, k) / comb(n - 1, k) for k in card[units]])
    assert exact.min() > 0.2  # nothing here should look significant
    # p = (ties + 1)/(P + 1): a binomial share of the draws, within 5 standard errors
    se = np.sqrt(exact * (1 - exact) / permutations)
    assert np.all(np.abs(p - exact) < 5 * se + 1 / (permutations + 1))
    assert (p >= 0.05).all()


def test_esda_calls_zero_among_zeros_extreme_and_we_do_not():
    """The bug this engine fixes: esda's p_sim is 1/(P+1) where every draw ties."""
    from esda.getisord import G_Local

    frame = grid(12, 12)
    frame["firms"] = 0.0
    frame.loc[[0, 1, 12, 13, 140], "firms"] = [5.0, 3.0, 4.0, 2.0, 1.0]  # almost all zero
    units, _ = zero_among_zeros(frame, "firms", "queen")
    g = gc.weights(frame, "queen", transform="B").assign_self_weight(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda_gi = G_Local(frame["firms"].to_numpy(), g, transform="B", permutations=999,
                          star=True, seed=1, keep_simulations=False)
    assert (esda_gi.p_sim[units] < 0.01).mean() > 0.9
    with pytest.warns(GeoclusterWarning, match="share the value 0"):
        gi = gc.getis_ord(frame, "firms", weights="queen", seed=1)
    assert (gi["gi_p"].to_numpy()[units] > 0.5).all()
    assert not gi["gi_hotspot"].iloc[units].str.startswith("cold").any()


@pytest.mark.slow
def test_share_significant_among_zero_units_over_many_seeds():
    frame = grid(16, 16)
    shares = []
    for seed in range(12):
        frame["firms"] = sparse_counts(len(frame), 0.75, seed=seed)
        units, _ = zero_among_zeros(frame, "firms", "queen")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GeoclusterWarning)
            gi = gc.getis_ord(frame, "firms", weights="queen", seed=seed, permutations=499)
            lm = gc.local_moran(frame, "firms", weights="queen", seed=seed, permutations=499)
        shares.append((gi["gi_p"].to_numpy()[units] < 0.05).mean())
        shares.append((lm["lisa_p"].to_numpy()[units] < 0.05).mean())
    assert max(shares) == 0.0


# ----------------------------------------------------------- brute force


def brute_force_counts(v, w_dense, coef, table, rtol=perm.RTOL):
    """Loop over units and draws: the lag of each draw, compared with the observed one."""
    n = len(v)
    ge = np.zeros(n, dtype=int)
    le = np.zeros(n, dtype=int)
    scale = np.abs(coef).max() * np.abs(w_dense).sum(1).max() * np.abs(v).max()
    for i in range(n):
        js = [j for j in range(n) if j != i and w_dense[i, j] != 0]
        if not js:
            continue
        obs = coef[i] * sum(w_dense[i, j] * v[j] for j in js)
        for row in table:
            drawn = [t + (t >= i) for t in row[: len(js)]]
            sim = coef[i] * sum(w_dense[i, j] * v[d] for j, d in zip(js, drawn, strict=True))
            ge[i] += sim - obs >= -rtol * scale
            le[i] += sim - obs <= rtol * scale
    return ge, le


@pytest.mark.parametrize("values", ["ties", "continuous"])
def test_engine_equals_brute_force_count(values):
    frame = grid(5, 4)
    rng = np.random.default_rng(0)
    if values == "ties":
        v = rng.choice([0.0, 0.0, 0.0, 1.0, 2.0], size=20)
    else:
        v = rng.normal(size=20)
    w = gc.weights(frame, "queen").sparse.toarray()
    coef = v - v.mean()
    permutations = 97
    table = perm.permutation_table(20, 8, permutations, np.random.default_rng(5))
    expected = brute_force_counts(v, w, coef, table)
    # small blocks force many blocks and permutation chunks
    for block in (1, 7, 1 << 22):
        got = perm.conditional_counts(v, w, coef, permutations, np.random.default_rng(5),
                                      block_elements=block)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    if values == "ties":
        assert (expected[0] + expected[1] > permutations).any()


def test_local_moran_p_equals_brute_force_from_its_table(columbus):
    """lisa_p is (min(ge, le) + 1)/(P + 1) of I_i over the recorded permutation table."""
    lisa = gc.local_moran(columbus, "CRIME", seed=8, permutations=199)
    g = gc.weights(columbus, "queen")
    w = g.sparse.toarray()
    y = columbus["CRIME"].to_numpy()
    z = (y - y.mean()) / y.std()
    k_max = int(g.cardinalities.max())
    table = perm.permutation_table(len(y), k_max, 199,
                                   np.random.default_rng(lisa.attrs["permutation_seed"]))
    ge, le = brute_force_counts(z, w, z, table)
    np.testing.assert_allclose(lisa["lisa_p"], (np.minimum(ge, le) + 1) / 200, rtol=1e-12)
    assert lisa["lisa_p"].max() <= 0.5 + 1e-12


def test_permutation_distribution_matches_full_enumeration():
    """On 7 units the share of draws >= observed equals the exact enumeration."""
    v = np.array([0.0, 0.0, 1.0, 0.0, 3.0, 0.0, 2.0])
    n = len(v)
    w = np.zeros((n, n))
    for i in range(n - 1):  # a path: inner units have 2 neighbours
        w[i, i + 1] = w[i + 1, i] = 1.0
    coef = np.ones(n)
    permutations = 40000
    ge, le = perm.conditional_counts(v, w, coef, permutations, np.random.default_rng(2))
    for i in range(n):
        js = np.flatnonzero(w[i])
        others = [j for j in range(n) if j != i]
        obs = v[js].sum()
        tuples = list(itertools.permutations(others, len(js)))
        p_ge = np.mean([v[list(t)].sum() >= obs for t in tuples])
        p_le = np.mean([v[list(t)].sum() <= obs for t in tuples])
        tol = 5 * np.sqrt(0.25 / permutations)
        assert ge[i] / permutations == pytest.approx(p_ge, abs=tol)
        assert le[i] / permutations == pytest.approx(p_le, abs=tol)


def test_rounding_noise_counts_as_a_tie():
    # 0.1 + 0.2 != 0.3 in floating point: the draws that sum to the observed value in a
    # different order must still tie
    v = np.array([0.1, 0.2, 0.3, 0.0])
    w = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], dtype=float)
    ge, le = perm.conditional_counts(v, w, np.ones(4), 2000, np.random.default_rng(0))
    # unit 3 (value 0) has one neighbour (0.1) among {0.1, 0.2, 0.3}: 1/3 of the draws tie
    assert ge[3] + le[3] - 2000 == pytest.approx(2000 / 3, abs=120)


def test_pseudo_p_definitions():
    ge = np.array([999, 0, 400, 999])
    le = np.array([0, 999, 600, 999])
    np.testing.assert_allclose(perm.pseudo_p(ge, le, 999, "folded"),
                               [0.001, 0.001, 0.401, 1.0])
    np.testing.assert_allclose(perm.pseudo_p(ge, le, 999, "two-sided"),
                               [0.002, 0.002, 0.802, 1.0])
    np.testing.assert_allclose(perm.pseudo_p(ge, le, 999, "greater"), [1.0, 0.001, 0.401, 1.0])
    np.testing.assert_allclose(perm.pseudo_p(ge, le, 999, "less"), [0.001, 1.0, 0.601, 1.0])


def test_greater_and_less_alternatives(columbus):
    folded = gc.local_moran(columbus, "CRIME", seed=4)
    greater = gc.local_moran(columbus, "CRIME", seed=4, alternative="greater")
    less = gc.local_moran(columbus, "CRIME", seed=4, alternative="less")
    # ge + le = P + ties, so greater + less = 1 + (1 + ties)/(P + 1); a tie here is a draw
    # of the unit's own neighbour set (equal row weights), rare with 49 units
    extra = np.round((greater["lisa_p"] + less["lisa_p"]) * 1000 - 1000).astype(int)
    assert extra.min() == 1 and extra.max() <= 4 and (extra == 1).mean() > 0.8
    np.testing.assert_allclose(folded["lisa_p"], np.minimum(greater["lisa_p"], less["lisa_p"]))
    assert greater.attrs["p_value"].startswith("one-sided (greater)")


def test_coarse_warning_counts_units():
    frame = grid(6, 6)
    frame["firms"] = 0.0
    frame.loc[:9, "firms"] = np.arange(1, 11)
    with pytest.warns(GeoclusterWarning, match=r"26 of 36 units \(72%\).*rate.*smoothed"):
        gc.local_moran(frame, "firms", seed=1, permutations=99)
    frame["firms"] = np.arange(36.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoclusterWarning)
        gc.local_moran(frame, "firms", seed=1, permutations=99)


# ----------------------------------------------------------- memory


def test_memory_is_bounded_and_results_do_not_depend_on_blocks():
    """Blocks change the memory, not the counts: the same seed gives the same p."""
    frame = grid(30, 30)
    frame["v"] = np.random.default_rng(1).normal(size=len(frame))
    g = gc.weights(frame, "queen")
    v = frame["v"].to_numpy()
    a = perm.conditional_counts(v, g.sparse, v, 299, np.random.default_rng(9))
    b = perm.conditional_counts(v, g.sparse, v, 299, np.random.default_rng(9),
                                block_elements=5000)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "call",
    [
        lambda f: gc.local_moran(f, "v", permutations=10**9),
        lambda f: gc.getis_ord(f, "w", permutations=10**9),
        lambda f: gc.global_moran(f, "v", permutations=10**9),
    ],
)
def test_permutations_that_cannot_fit_are_refused(call):
    frame = grid(5, 5)
    frame["v"] = np.arange(25.0)
    frame["w"] = np.arange(25.0) + 1
    with pytest.raises(InputError, match=r"permutations=1,000,000,000 is too many.*GiB.*999"):
        call(frame)


def test_same_seed_same_bytes_with_ties():
    frame = grid(10, 10)
    frame["firms"] = sparse_counts(100, 0.6, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        a = gc.getis_ord(frame, "firms", seed=5)
        b = gc.getis_ord(frame, "firms", seed=5)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_memory_at_100k_units_stays_modest():
    """100,000 units with 6 neighbours, 999 permutations: the engine allocates < 200 MB."""
    import tracemalloc

    from scipy import sparse

    n, k = 100_000, 6
    rng = np.random.default_rng(0)
    cols = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, k))) % n
    w = sparse.csr_array((np.full(n * k, 1 / k), cols.ravel(), np.arange(0, n * k + 1, k)),
                         shape=(n, n))
    v = rng.normal(size=n)
    tracemalloc.start()
    ge, le = perm.conditional_counts(v, w, v, 999, np.random.default_rng(1))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 200 * 1024**2, f"{peak / 1024**2:.0f} MB"
    assert ((ge + le) >= 999).all() and (ge <= 999).all()
