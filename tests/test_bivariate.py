"""Tests for geocluster.clusters.bivariate: the bivariate local Moran's I.

References: R spdep 1.2-7 ``localmoran_bv`` (tests/data/make_r_local_stats.R) on Columbus
and on 120 generated points; exact enumeration of the conditional permutation
distribution on a 3 x 3 grid.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse

import geocluster as gc
from geocluster.clusters.bivariate import BILISA_COLUMNS, conditional_moments, local_moran_bv
from geocluster.errors import InputError, WeightsError
from geocluster.weights import build_graph

DATA = Path(__file__).parent / "data"


def load_points() -> gpd.GeoDataFrame:
    d = pd.read_csv(DATA / "r_local_stats_points.csv").set_index("id")
    return gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["x"], d["y"]), crs="EPSG:3857")


@pytest.fixture(scope="module")
def cases():
    """(frame, weights spec, R reference) for Columbus (queen) and the points (knn:6)."""
    out = {}
    for name, frame, spec in (("columbus", gc.datasets.load_columbus(), "queen"),
                              ("points", load_points(), "knn:6")):
        with open(DATA / f"r_local_stats_{name}.json") as fh:
            out[name] = (frame, spec, json.load(fh))
    return out


def grid3() -> gpd.GeoDataFrame:
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)]
    values = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.5])
    other = np.array([2.0, 7.0, 1.0, 8.0, 2.5, 8.5, 3.0, 0.5, 4.0])
    return gpd.GeoDataFrame({"x": values, "y": other}, geometry=cells, crs="EPSG:3857",
                            index=pd.Index([f"c{k}" for k in range(9)]))


def exact_lag_distribution(pool: np.ndarray, k: int) -> np.ndarray:
    """Every sum of k distinct values of ``pool`` (equal weights): the exact null of the lag."""
    return np.array([sum(c) for c in itertools.combinations(pool, k)])


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_neighbours_are_rs(cases, name):
    frame, spec, ref = cases[name]
    graph = build_graph(frame, spec, transform=None).graph
    for i, nb in enumerate(ref["neighbours"]):
        ours = frame.index.get_indexer(graph[frame.index[i]].index) + 1
        assert sorted(ours.tolist()) == sorted(nb)


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_statistic_matches_spdep(cases, name):
    frame, spec, ref = cases[name]
    r = ref["localmoran_bv"]
    bv = local_moran_bv(frame, r["x"], r["y"], weights=spec, permutations=0)
    np.testing.assert_allclose(bv["bilisa_I"], r["Ibvi"], rtol=0, atol=1e-8)


def test_moments_match_spdep_localmoran_with_y_equal_x(columbus, columbus_reference):
    # y = x: the univariate local Moran; spdep's Ii, E.Ii, Var.Ii are n/(n-1) times ours
    r = columbus_reference["local_moran_crime"]
    n = len(columbus)
    bv = local_moran_bv(columbus, "CRIME", "CRIME", permutations=0)
    f = n / (n - 1)
    np.testing.assert_allclose(bv["bilisa_I"] * f, r["Ii"], atol=1e-8)
    np.testing.assert_allclose(bv["bilisa_EI"] * f, r["E_Ii"], atol=1e-8)
    np.testing.assert_allclose(bv["bilisa_VI"] * f**2, r["Var_Ii"], atol=1e-8)
    np.testing.assert_allclose(bv["bilisa_z"], r["Z_Ii"], atol=1e-8)


def test_conditional_moments_by_enumeration():
    g = grid3()
    bv = local_moran_bv(g, "x", "y", permutations=0)
    n = len(g)
    zx = (g["x"] - g["x"].mean()) / g["x"].std(ddof=0)
    zy = ((g["y"] - g["y"].mean()) / g["y"].std(ddof=0)).to_numpy()
    graph = build_graph(g, "queen", transform=None).graph
    for i, uid in enumerate(g.index):
        k = int(graph.cardinalities[uid])
        sums = exact_lag_distribution(np.delete(zy, i), k)
        stat = (n - 1) / n * zx.iloc[i] * sums / k
        assert bv["bilisa_EI"].iloc[i] == pytest.approx(stat.mean(), abs=1e-12)
        assert bv["bilisa_VI"].iloc[i] == pytest.approx(stat.var(), abs=1e-12)


def test_permutation_p_matches_exact_distribution():
    g = grid3()
    perms = 20000
    bv = local_moran_bv(g, "x", "y", permutations=perms, seed=3)
    zy = ((g["y"] - g["y"].mean()) / g["y"].std(ddof=0)).to_numpy()
    graph = build_graph(g, "queen", transform=None).graph
    for i, uid in enumerate(g.index):
        k = int(graph.cardinalities[uid])
        sums = exact_lag_distribution(np.delete(zy, i), k)
        obs = zy[graph.sparse[[i]].indices].sum()
        sign = np.sign(bv["bilisa_x"].iloc[i])
        d = sign * (sums - obs)
        exact = min(np.mean(d >= -1e-9), np.mean(d <= 1e-9))
        se = np.sqrt(exact * (1 - exact) / perms) + 1 / perms
        assert abs(bv["bilisa_p"].iloc[i] - exact) < 5 * se


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_permutation_p_close_to_spdep(cases, name):
    # spdep draws with replacement (ours without): agreement within Monte Carlo error
    # plus that difference, small at k = 4 to 6 of n = 49 to 120
    frame, spec, ref = cases[name]
    r = ref["localmoran_bv"]
    bv = local_moran_bv(frame, r["x"], r["y"], weights=spec, permutations=9999, seed=5)
    diff = np.abs(bv["bilisa_p"].to_numpy() - np.asarray(r["p_folded_sim"]))
    assert diff.mean() < 0.01
    assert diff.max() < 0.05


def test_seed_reproduces_and_range(columbus):
    a = local_moran_bv(columbus, "CRIME", "INC", permutations=199, seed=7)
    b = local_moran_bv(columbus, "CRIME", "INC", permutations=199,
                       seed=np.random.default_rng(7))
    c = local_moran_bv(columbus, "CRIME", "INC", permutations=199, seed=8)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert not np.array_equal(a["bilisa_p"], c["bilisa_p"])
    assert a["bilisa_p"].between(1 / 200, 1).all()
    assert a.attrs["permutation_seed"] == b.attrs["permutation_seed"]


def test_output_columns_input_untouched_and_index_follows_rows(columbus):
    before = columbus.copy()
    bv = local_moran_bv(columbus, "CRIME", "INC", permutations=0)
    pd.testing.assert_frame_equal(columbus, before)
    assert set(BILISA_COLUMNS) <= set(bv.columns)
    assert set(bv["bilisa_q"]) <= {"HH", "LH", "LL", "HL"}
    assert set(bv["bilisa_cluster"]) <= {"HH", "LH", "LL", "HL", "ns"}
    shuffled = columbus.sample(frac=1, random_state=1)
    shuffled.index = [f"u{i}" for i in shuffled["POLYID"]]
    bs = local_moran_bv(shuffled, "CRIME", "INC", permutations=0)
    by_id = bv.set_index("POLYID")["bilisa_I"]
    np.testing.assert_allclose(bs["bilisa_I"].to_numpy(),
                               by_id.loc[shuffled["POLYID"]].to_numpy(), atol=1e-12)


def test_significant_clusters_follow_quadrants(columbus):
    bv = local_moran_bv(columbus, "CRIME", "INC", permutations=999, seed=1,
                        correction="fdr")
    sig = bv["bilisa_cluster"] != "ns"
    assert (bv.loc[sig, "bilisa_cluster"] == bv.loc[sig, "bilisa_q"]).all()
    assert (bv.loc[sig, "bilisa_p"] <= bv.attrs["cutoff"]).all()
    hh = bv["bilisa_q"] == "HH"
    assert ((bv.loc[hh, "bilisa_x"] > 0) & (bv.loc[hh, "bilisa_lag"] > 0)).all()


def test_bad_inputs(columbus):
    with pytest.raises(InputError, match="'NOPE' is not in the frame"):
        local_moran_bv(columbus, "CRIME", "NOPE")
    bad = columbus.copy()
    bad.loc[bad.index[3], "INC"] = np.nan
    with pytest.raises(InputError, match="'INC' has 1 missing values"):
        local_moran_bv(bad, "CRIME", "INC")
    with pytest.warns(gc.GeoclusterWarning, match="dropped 1 units"):
        out = local_moran_bv(bad, "CRIME", "INC", missing="drop", permutations=0)
    assert np.isnan(out["bilisa_I"].iloc[3]) and out["bilisa_cluster"].iloc[3] == "ns"
    with pytest.raises(InputError, match="alternative="):
        local_moran_bv(columbus, "CRIME", "INC", alternative="both")
    with pytest.raises(InputError, match="seed"):
        local_moran_bv(columbus, "CRIME", "INC", seed="x")


def test_isolates_policy():
    g = grid3()
    far = gpd.GeoDataFrame({"x": [1.0], "y": [2.0]}, geometry=[shapely.box(10, 10, 11, 11)],
                           crs=g.crs, index=["far"])
    frame = pd.concat([g, far])
    with pytest.raises(WeightsError, match="no neighbours"):
        local_moran_bv(frame, "x", "y")
    out = local_moran_bv(frame, "x", "y", isolates="keep", permutations=0)
    assert np.isnan(out.loc["far", "bilisa_I"]) and out.loc["far", "bilisa_cluster"] == "ns"


def test_conditional_moments_docstring_case():
    w = sparse.csr_array(np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0.0]]))
    e, v = conditional_moments(np.array([1.0, 2.0, 3.0, 6.0]), w, np.ones(4))
    sums = exact_lag_distribution(np.array([2.0, 3.0, 6.0]), 2)
    assert e[0] == pytest.approx(sums.mean()) and v[0] == pytest.approx(sums.var())
