"""The permutation engine's blocks, threads and shared-row counting (geocluster.clusters._permutation).

Every count here is compared with a plain loop over units and table rows (the
definition in the module docstring), which knows nothing about blocks, threads,
sorted shared rows or mixed rows. The draw scheme itself (uniform draws of the
other units) is checked against full enumeration in ``test_ties.py``.
"""

from __future__ import annotations

import tracemalloc
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse

import geocluster as gc
from geocluster.clusters import _permutation as perm
from geocluster.errors import GeoclusterWarning, InputError


@pytest.fixture(autouse=True)
def threads_even_for_small_problems(monkeypatch):
    """n_jobs > 1 uses threads here whatever the size (the engine skips them below 2e7 draws)."""
    monkeypatch.setattr(perm, "PARALLEL_DRAWS", 0)


def test_threads_really_run(monkeypatch):
    used = []
    real = perm.ThreadPoolExecutor

    class Spy(real):
        def __init__(self, *args, **kwargs):
            used.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(perm, "ThreadPoolExecutor", Spy)
    v, w, coef = make_case("ties_moran")
    counts(v, w, coef, 61, 4, n_jobs=2, block_units=3)
    assert used == [2]
    monkeypatch.setattr(perm, "PARALLEL_DRAWS", 10**9)
    counts(v, w, coef, 61, 4, n_jobs=2, block_units=3)
    assert used == [2]  # a small problem stays in one thread


def brute_force(v, w, coef, permutations, seed, units=None, rtol=perm.RTOL):
    """Counts by the definition: each tested unit, each row of the shared table."""
    w = sparse.csr_array(w, dtype=float).toarray()
    np.fill_diagonal(w, 0.0)
    n = len(v)
    nbrs = [np.flatnonzero(w[i]) for i in range(n)]
    todo = sorted(set(range(n) if units is None else np.asarray(units).tolist()))
    todo = [i for i in todo if len(nbrs[i])]
    ge = np.zeros(n, dtype=np.int64)
    le = np.zeros(n, dtype=np.int64)
    if not todo:
        return ge, le
    k_max = max(len(nbrs[i]) for i in todo)
    table = perm.permutation_table(n, k_max, permutations, np.random.default_rng(seed))
    scale = (max(abs(coef[i]) for i in todo) * max(np.abs(w[i]).sum() for i in todo)
             * np.abs(v).max())
    tol = rtol * scale
    for i in todo:
        js = nbrs[i]
        obs = coef[i] * sum(w[i, j] * v[j] for j in js)
        for row in table:
            drawn = [int(t) + (int(t) >= i) for t in row[: len(js)]]
            assert i not in drawn and len(set(drawn)) == len(js)
            sim = coef[i] * sum(w[i, j] * v[d] for j, d in zip(js, drawn, strict=True))
            ge[i] += sim - obs >= -tol
            le[i] += sim - obs <= tol
    return ge, le


def random_graph(n, k_lo, k_hi, seed, weights="equal"):
    """CSR with k_lo..k_hi neighbours per unit: 'equal' (1/k), 'binary', 'negative' or 'kernel'."""
    rng = np.random.default_rng(seed)
    card = rng.integers(k_lo, k_hi + 1, size=n)
    rows, cols, vals = [], [], []
    for i, k in enumerate(card):
        js = rng.choice(np.delete(np.arange(n), i), size=k, replace=False)
        rows += [i] * k
        cols += js.tolist()
        if weights == "equal":
            vals += [1.0 / k] * k
        elif weights == "binary":
            vals += [1.0] * k
        elif weights == "negative":  # equal but negative: the statistic falls with the sum
            vals += [-1.0 / k] * k
        else:
            vals += rng.uniform(0.1, 1.0, size=k).tolist()
    return sparse.csr_array((vals, (rows, cols)), shape=(n, n))


def counts(v, w, coef, permutations, seed, **kw):
    return perm.conditional_counts(v, w, coef, permutations, np.random.default_rng(seed), **kw)


CASES = {
    # values, coefficient a_i, weights
    "ties_moran": (lambda r, n: r.choice([0.0, 0.0, 0.0, 1.0, 2.0], n), "centred", "equal"),
    "continuous_moran": (lambda r, n: r.normal(size=n), "centred", "equal"),
    "sparse_counts_gi": (lambda r, n: r.poisson(0.4, n).astype(float), "one", "binary"),
    "kernel": (lambda r, n: r.normal(size=n), "centred", "kernel"),
    "zero_coef": (lambda r, n: r.choice([0.0, 1.0], n), "zeros", "equal"),
    "negative_weights": (lambda r, n: r.choice([0.0, 1.0, 3.0], n), "centred", "negative"),
}


def make_case(name, n=40, seed=0):
    values, coef_kind, weights = CASES[name]
    rng = np.random.default_rng(seed)
    v = values(rng, n)
    coef = {"centred": v - v.mean(), "one": np.ones(n), "zeros": np.zeros(n)}[coef_kind]
    if coef_kind == "centred":
        coef[::7] = -np.abs(coef[::7])  # both directions of the statistic
    return v, random_graph(n, 1, 7, seed, weights), coef


# ------------------------------------------------------ counts equal the definition


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"n_jobs": 2},
        {"n_jobs": -1},
        {"block_units": 1},
        {"block_units": 2, "n_jobs": 2},
        {"block_units": 5, "block_elements": 13},
        {"block_elements": 1},
        {"block_units": 1000, "block_elements": 1 << 22},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults",
)
def test_counts_equal_brute_force_for_any_blocks_and_threads(name, options):
    v, w, coef = make_case(name)
    expected = brute_force(v, w, coef, 61, seed=4)
    ge, le = counts(v, w, coef, 61, 4, **options)
    np.testing.assert_array_equal(ge, expected[0])
    np.testing.assert_array_equal(le, expected[1])


def test_the_cases_exercise_ties_and_both_paths():
    """Guard for the test above: ties occur, and both the equal and other-weights paths run."""
    v, w, coef = make_case("sparse_counts_gi")
    ge, le = brute_force(v, w, coef, 61, seed=4)
    assert (ge + le > 61).mean() > 0.5  # many draws tie the observed value
    v, w, coef = make_case("zero_coef")
    ge, le = brute_force(v, w, coef, 61, seed=4)
    assert (ge == 61).all() and (le == 61).all()  # a_i = 0: every draw is a tie
    _, w, _ = make_case("kernel")
    w = w.tocsr()
    row_min = np.minimum.reduceat(w.data, w.indptr[:-1])
    row_max = np.maximum.reduceat(w.data, w.indptr[:-1])
    # units with one neighbour take the equal-weights path, the others the general one
    assert 0.5 < (row_min < row_max).mean() < 1


def test_tie_counting_at_block_edges():
    """Blocks of 3 nearby units: draws that fall between a block's units are unit-specific.

    Values 0/1 make most draws ties; in a block [first, last] a draw t with
    first <= t < last means unit t + 1 for some of its units and unit t for others
    (the 'mixed' rows). With 12 units and 5 neighbours nearly every row is mixed for
    some block, so shared and mixed rows are both counted at every block edge.
    """
    n = 12
    v = np.array([0.0, 1.0] * 6)
    w = random_graph(n, 5, 5, seed=3, weights="binary")
    coef = np.ones(n)
    expected = brute_force(v, w, coef, 301, seed=9)
    for block in (1, 2, 3, 4, 12):
        for jobs in (1, 2):
            ge, le = counts(v, w, coef, 301, 9, block_units=block, n_jobs=jobs)
            np.testing.assert_array_equal(ge, expected[0])
            np.testing.assert_array_equal(le, expected[1])
    # every unit has tied draws (same number of ones among its 5 drawn neighbours)
    assert (expected[0] + expected[1] - 301 > 0).all()


def test_units_subset_self_weights_and_isolates():
    v, w, coef = make_case("ties_moran", n=30)
    w = w.tolil()
    w[3, 3] = 0.5  # a self weight is ignored under conditional permutation
    w[7, :] = 0.0  # an isolate: counts 0
    w = w.tocsr()
    units = [0, 3, 3, 7, 8, 29, 15]  # unsorted, repeated
    expected = brute_force(v, w, coef, 53, seed=1, units=units)
    for options in ({}, {"block_units": 1, "n_jobs": 2}):
        ge, le = counts(v, w, coef, 53, 1, units=np.array(units), **options)
        np.testing.assert_array_equal(ge, expected[0])
        np.testing.assert_array_equal(le, expected[1])
    assert ge[7] == le[7] == 0 and ge[1] == le[1] == 0  # isolate; unit not asked for


def test_input_matrix_is_not_modified():
    """Explicit zeros, a diagonal and unsorted indices are handled on a copy."""
    data = np.array([0.5, 0.0, 0.25, 1.0, 0.3, 0.7])
    indices = np.array([2, 1, 0, 1, 0, 1])  # row 0 unsorted, an explicit zero
    indptr = np.array([0, 3, 4, 6])
    w = sparse.csr_array((data, indices, indptr), shape=(3, 3))
    before = (w.data.copy(), w.indices.copy(), w.indptr.copy())
    counts(np.array([1.0, 2.0, 4.0]), w, np.ones(3), 20, 0)
    for a, b in zip(before, (w.data, w.indices, w.indptr), strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------ seeds, threads, blocks at scale


@pytest.mark.parametrize("weights", ["equal", "kernel"])
def test_same_seed_same_counts_for_n_jobs_1_and_2(weights):
    rng = np.random.default_rng(5)
    n = 3000
    v = np.round(rng.normal(size=n), 1)  # ties as well
    w = random_graph(n, 3, 8, seed=6, weights=weights)
    a = counts(v, w, v, 199, 11)
    b = counts(v, w, v, 199, 11, n_jobs=2)
    c = counts(v, w, v, 199, 12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])  # the seed matters


def test_block_sizes_do_not_change_counts_with_many_blocks():
    rng = np.random.default_rng(2)
    n = 5000
    v = rng.poisson(1.0, n).astype(float)
    w = random_graph(n, 2, 6, seed=3, weights="binary")
    base = counts(v, w, np.ones(n), 99, 7)
    for options in ({"block_units": 1}, {"block_units": 17, "n_jobs": 2},
                    {"block_units": 5000}, {"block_elements": 500}):
        got = counts(v, w, np.ones(n), 99, 7, **options)
        np.testing.assert_array_equal(got[0], base[0])
        np.testing.assert_array_equal(got[1], base[1])


@pytest.mark.parametrize("weights", ["equal", "kernel"])
def test_memory_is_bounded_by_the_block_size(weights):
    """20,000 units, 199 draws: the working memory follows block_elements, not n x S.

    Keeping the n x S simulated values would need 32 MB; the bound below counts the
    table (int32 draw plus the two gathered float64 values, also stored transposed:
    40 bytes a draw), 20 float64 arrays of length n, 16 bytes per stored weight (the
    copies made to drop the diagonal and sum absolute weights), and 12 working arrays
    of ``block_elements`` float64 numbers per thread.
    """
    rng = np.random.default_rng(0)
    n, k, s = 20_000, 6, 199
    data = np.full(n * k, 1 / k) if weights == "equal" else rng.uniform(0.1, 1, n * k)
    w = sparse.csr_array(
        (data, ((np.arange(n)[:, None] + np.arange(1, k + 1)) % n).ravel(),
         np.arange(0, n * k + 1, k)), shape=(n, n))
    v = rng.normal(size=n)
    peaks = {}
    for block, jobs in ((1 << 14, 1), (1 << 14, 2), (1 << 21, 1)):
        tracemalloc.start()
        counts(v, w, v, s, 1, block_elements=block, n_jobs=jobs)
        peaks[block, jobs] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    for (block, jobs), peak in peaks.items():
        bound = 40 * s * k + 20 * 8 * n + 16 * n * k + jobs * 12 * 8 * block
        assert peak < bound, (block, jobs, peak / 2**20, bound / 2**20)
    assert max(peaks[1 << 14, 1], peaks[1 << 14, 2]) < 0.2 * n * s * 8
    if weights == "kernel":
        # unit-by-unit lags: the block size is what moves the peak (16 MB arrays at 2**21)
        assert peaks[1 << 21, 1] > peaks[1 << 14, 1] + 16 * 2**20


def test_n_threads():
    import os

    assert perm.n_threads(1) == 1 and perm.n_threads(3) == 3
    assert perm.n_threads(-1) == len(os.sched_getaffinity(0))


# ------------------------------------------------------ through the public functions


def grid_frame(nx=14, ny=12, seed=0):
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(ny) for i in range(nx)]
    frame = gpd.GeoDataFrame(geometry=cells, crs="EPSG:3857")
    rng = np.random.default_rng(seed)
    frame["v"] = rng.normal(size=len(frame)) + np.arange(len(frame)) / 50
    frame["firms"] = rng.poisson(0.7, len(frame)).astype(float)
    return frame


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_public_functions_identical_for_any_n_jobs(n_jobs):
    frame = grid_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        for fn, col, kw in ((gc.local_moran, "v", {}), (gc.getis_ord, "firms", {}),
                            (gc.local_moran, "v", {"weights": "kernel:gaussian:3m"})):
            a = fn(frame, col, seed=3, permutations=199, **kw)
            b = fn(frame, col, seed=3, permutations=199, n_jobs=n_jobs, **kw)
            pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("bad", [0, -2, True, 1.5, "2"])
def test_bad_n_jobs_is_refused_with_the_remedy(bad):
    frame = grid_frame()
    with pytest.raises(InputError, match=r"n_jobs=.* must be -1 \(all cores\) or a positive "
                                         r"integer.*e\.g\. n_jobs=1"):
        gc.local_moran(frame, "v", n_jobs=bad)


def test_non_finite_values_are_refused():
    w = random_graph(10, 2, 3, seed=0)
    v = np.arange(10.0)
    v[4] = np.nan
    with pytest.raises(InputError, match=r"finite values.*1 units \(rows \[5\].*missing='drop'"):
        counts(v, w, np.ones(10), 9, 0)


def test_equal_weights_never_take_the_unit_by_unit_path(monkeypatch):
    """Row-standardised and binary graphs (local Moran, Gi*) use the shared-row path only."""
    def refuse(*args, **kwargs):
        raise AssertionError("unit-by-unit path used")

    monkeypatch.setattr(perm, "_weighted_task", refuse)
    for name in ("ties_moran", "sparse_counts_gi", "negative_weights"):
        v, w, coef = make_case(name)
        ge, le = counts(v, w, coef, 61, 4)
        expected = brute_force(v, w, coef, 61, seed=4)
        np.testing.assert_array_equal(ge, expected[0])
        np.testing.assert_array_equal(le, expected[1])
    v, w, coef = make_case("kernel")
    with pytest.raises(AssertionError, match="unit-by-unit path used"):
        counts(v, w, coef, 61, 4)
