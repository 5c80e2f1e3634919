"""Tests for geocluster.clusters.geary: local Geary's c, univariate and multivariate.

References: R spdep 1.2-7 ``localC`` / ``localC_perm`` (tests/data/make_r_local_stats.R)
on Columbus and 120 generated points; exact enumeration of the conditional permutation
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

import geocluster as gc
from geocluster.clusters.geary import GEARY_CLASSES, GEARY_COLUMNS, local_geary
from geocluster.errors import InputError
from geocluster.weights import build_graph

DATA = Path(__file__).parent / "data"


def load_points() -> gpd.GeoDataFrame:
    d = pd.read_csv(DATA / "r_local_stats_points.csv").set_index("id")
    return gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["x"], d["y"]), crs="EPSG:3857")


@pytest.fixture(scope="module")
def cases():
    out = {}
    for name, frame, spec in (("columbus", gc.datasets.load_columbus(), "queen"),
                              ("points", load_points(), "knn:6")):
        with open(DATA / f"r_local_stats_{name}.json") as fh:
            out[name] = (frame, spec, json.load(fh))
    return out


def grid3() -> gpd.GeoDataFrame:
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)]
    return gpd.GeoDataFrame(
        {"a": [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.5],
         "b": [2.0, 7.0, 1.0, 8.0, 2.5, 8.5, 3.0, 0.5, 4.0]},
        geometry=cells, crs="EPSG:3857")


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_univariate_matches_spdep(cases, name):
    frame, spec, ref = cases[name]
    r = ref["localC_uni"]
    out = local_geary(frame, r["column"], weights=spec, scaling="spdep", permutations=1)
    np.testing.assert_allclose(out["geary_C"], r["Ci"], rtol=0, atol=1e-8)
    n = len(frame)
    esda = local_geary(frame, r["column"], weights=spec, permutations=1)
    np.testing.assert_allclose(esda["geary_C"] * (n - 1) / n, r["Ci"], atol=1e-8)


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_multivariate_matches_spdep(cases, name):
    frame, spec, ref = cases[name]
    r = ref["localC_mv"]
    out = local_geary(frame, r["columns"], weights=spec, scaling="spdep", permutations=1)
    np.testing.assert_allclose(out["geary_C"], r["Ci"], rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_permutation_close_to_spdep(cases, name):
    # spdep draws with replacement: Monte Carlo error plus that (small) difference
    frame, spec, ref = cases[name]
    r = ref["localC_uni"]
    out = local_geary(frame, r["column"], weights=spec, scaling="spdep", permutations=9999,
                      seed=2)
    diff = np.abs(out["geary_p"].to_numpy() - np.asarray(r["p_folded_sim"]))
    assert diff.mean() < 0.01 and diff.max() < 0.06
    # the exact conditional mean against spdep's mean of 9999 draws
    np.testing.assert_allclose(out["geary_EC"], r["E_sim"], rtol=0.05)
    rm = ref["localC_mv"]
    mv = local_geary(frame, rm["columns"], weights=spec, permutations=9999, seed=2)
    diff = np.abs(mv["geary_p"].to_numpy() - np.asarray(rm["p_folded_sim"]))
    assert diff.mean() < 0.01 and diff.max() < 0.06


@pytest.mark.parametrize("columns", [["a"], ["a", "b"]])
def test_expectation_and_p_by_enumeration(columns):
    g = grid3()
    perms = 20000
    out = local_geary(g, columns, permutations=perms, seed=4)
    z = ((g[columns] - g[columns].mean()) / g[columns].std(ddof=0)).to_numpy()
    graph = build_graph(g, "queen", transform=None).graph
    for i in range(len(g)):
        nbrs = graph.sparse[[i]].indices
        k = len(nbrs)
        others = [m for m in range(len(g)) if m != i]
        d = ((z[others] - z[i]) ** 2).sum(axis=1) / len(columns)
        sims = np.array([d[list(c)].sum() / k for c in itertools.combinations(range(8), k)])
        obs = ((z[nbrs] - z[i]) ** 2).sum() / len(columns) / k
        assert out["geary_C"].iloc[i] == pytest.approx(obs, abs=1e-12)
        assert out["geary_EC"].iloc[i] == pytest.approx(sims.mean(), abs=1e-12)
        exact = min(np.mean(sims >= obs - 1e-9), np.mean(sims <= obs + 1e-9))
        se = np.sqrt(exact * (1 - exact) / perms) + 1 / perms
        assert abs(out["geary_p"].iloc[i] - exact) < 5 * se


def test_clusters_follow_definition(cases):
    frame, spec, _ = cases["columbus"]
    out = local_geary(frame, "CRIME", permutations=999, seed=1)
    assert set(GEARY_COLUMNS) <= set(out.columns)
    assert set(out["geary_cluster"]) <= set(GEARY_CLASSES)
    sig = out["geary_cluster"] != "ns"
    assert (out.loc[sig, "geary_p"] <= out.attrs["cutoff"]).all()
    neg = out["geary_cluster"] == "NEG"
    assert (out.loc[neg, "geary_C"] > out.loc[neg, "geary_EC"]).all()
    pos = sig & ~neg
    assert (out.loc[pos, "geary_C"] < out.loc[pos, "geary_EC"]).all()
    z = (frame["CRIME"] - frame["CRIME"].mean())
    hh = out["geary_cluster"] == "HH"
    assert (z[hh] > 0).all()
    mv = local_geary(frame, ["CRIME", "INC"], permutations=199, seed=1)
    assert set(mv["geary_cluster"]) <= {"POS", "NEG", "ns"}


def test_ties_seed_and_range():
    g = grid3()
    g["flat"] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0]
    out = local_geary(g, "flat", permutations=499, seed=1)
    # unit 0's neighbours (1, 3, 4) equal it; 3 of the 8 others drawn: only draws with
    # unit 8 differ, P(no 8) = C(7,3)/C(8,3) = 35/56 tie the observed C = 0
    # (every draw >= 0 ties or exceeds it: the folded p is the "less" side, not 1/(P+1))
    exact = min(1.0, 35 / 56)
    assert abs(out["geary_p"].iloc[0] - exact) < 5 * np.sqrt(exact * (1 - exact) / 499)
    a = local_geary(g, "a", permutations=99, seed=3)
    b = local_geary(g, "a", permutations=99, seed=np.random.default_rng(3))
    pd.testing.assert_series_equal(a["geary_p"], b["geary_p"])
    assert a["geary_p"].between(1 / 100, 1).all()


def test_bad_inputs_and_input_untouched(cases):
    frame, _, _ = cases["columbus"]
    before = frame.copy()
    local_geary(frame, "CRIME", permutations=9, seed=1)
    pd.testing.assert_frame_equal(frame, before)
    with pytest.raises(InputError, match="permutations >= 1"):
        local_geary(frame, "CRIME", permutations=0)
    with pytest.raises(InputError, match="scaling="):
        local_geary(frame, "CRIME", scaling="geoda")
    with pytest.raises(InputError, match="non-empty list"):
        local_geary(frame, [])
    with pytest.raises(InputError, match="'NOPE' is not in the frame"):
        local_geary(frame, ["CRIME", "NOPE"])
