"""Tests for geocluster.clusters.joincounts: local and global join counts.

References: R spdep 1.2-7 ``local_joincount_uni``, ``local_joincount_bv``,
``joincount.test``, ``joincount.multi`` and ``joincount.mc`` (tests/data/make_r_local_stats.R)
on Columbus and 120 generated points; exact computations: the hypergeometric null of a
local join count, and all labellings of a small graph for the global moments.
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
from scipy import sparse, stats

import geocluster as gc
from geocluster._base.summary import Summary
from geocluster.clusters.joincounts import (
    JC_COLUMNS,
    JoinCountResult,
    join_counts,
    local_join_counts,
    nonfree_moments,
)
from geocluster.errors import InputError
from geocluster.weights import build_graph

DATA = Path(__file__).parent / "data"


def load_points() -> gpd.GeoDataFrame:
    d = pd.read_csv(DATA / "r_local_stats_points.csv").set_index("id")
    return gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["x"], d["y"]), crs="EPSG:3857")


@pytest.fixture(scope="module")
def cases():
    out = {}
    for name, spec in (("columbus", "queen"), ("points", "knn:6")):
        with open(DATA / f"r_local_stats_{name}.json") as fh:
            ref = json.load(fh)
        if name == "columbus":
            frame = gc.datasets.load_columbus()
            frame["b1"] = ref["binary"]["HI_CRIME"]
            frame["b2"] = ref["binary"]["LOW_INC"]
        else:
            frame = load_points()
        frame["not_b1"] = 1 - frame["b1"]
        out[name] = (frame, spec, ref)
    return out


def grid(nx: int, ny: int, labels) -> gpd.GeoDataFrame:
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(ny) for i in range(nx)]
    return gpd.GeoDataFrame({"b": labels}, geometry=cells, crs="EPSG:3857")


# ------------------------------------------------------------------ local, against R


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_local_counts_match_spdep(cases, name):
    frame, spec, ref = cases[name]
    uni = local_join_counts(frame, "b1", weights=spec, permutations=0)
    np.testing.assert_allclose(uni["jc_count"], ref["local_joincount_uni"]["BB"], atol=1e-12)
    clc = local_join_counts(frame, "b1", "b2", weights=spec, permutations=0)
    np.testing.assert_allclose(clc["jc_count"], ref["local_joincount_clc"]["join_count"],
                               atol=1e-12)
    bjc = local_join_counts(frame, "b1", "not_b1", kind="bivariate", weights=spec,
                            permutations=0)
    np.testing.assert_allclose(bjc["jc_count"], ref["local_joincount_bjc"]["join_count"],
                               atol=1e-12)


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_spdep_p_is_the_lower_mid_rank_of_a_binomial(cases, name):
    # spdep 1.2-7's local_joincount_uni(alternative = "greater") reports the rank of the
    # observed count among draws *with* replacement, ties averaged: P(H < c) + P(H = c)/2
    # with H binomial. Ours is P(H >= c), H hypergeometric (draws without replacement).
    frame, spec, ref = cases[name]
    x = np.asarray(frame["b1"], dtype=float)
    n = len(x)
    k = np.array([len(v) for v in ref["neighbours"]])
    c = np.asarray(ref["local_joincount_uni"]["BB"])
    r = np.array([np.nan if v == "NA" else v for v in ref["local_joincount_uni"]["p_sim"]],
                 dtype=float)
    ok = ~np.isnan(r)
    prob = (x.sum() - 1) / (n - 1)
    mid = stats.binom.cdf(c - 1, k, prob) + 0.5 * stats.binom.pmf(c, k, prob)
    assert np.abs(mid[ok] - r[ok]).max() < 0.02  # 9999 draws: se <= 0.005
    ours = local_join_counts(frame, "b1", weights=spec, permutations=0)
    exact = stats.hypergeom.sf(c - 1, n - 1, x.sum() - 1, k)
    np.testing.assert_allclose(ours["jc_p"].to_numpy()[ok], exact[ok], atol=1e-12)


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_permutation_p_matches_exact_hypergeometric(cases, name):
    frame, spec, _ = cases[name]
    perms = 9999
    mc = local_join_counts(frame, "b1", weights=spec, permutations=perms, seed=1)
    exact = local_join_counts(frame, "b1", weights=spec, permutations=0)
    tested = mc["jc_event"].to_numpy()
    p = exact["jc_p"].to_numpy()[tested]
    se = np.sqrt(p * (1 - p) / perms) + 1 / perms
    assert (np.abs(mc["jc_p"].to_numpy()[tested] - p) < 5 * se).all()
    assert mc["jc_p"][~mc["jc_event"]].isna().all()
    # a B unit without B neighbours: every draw has at least as many joins, p = 1
    zero = tested & (mc["jc_count"].to_numpy() == 0)
    assert (mc["jc_p"].to_numpy()[zero] == 1).all()


def test_local_outputs_seed_and_range(cases):
    frame, spec, _ = cases["columbus"]
    before = frame.copy()
    a = local_join_counts(frame, "b1", permutations=199, seed=5, correction="fdr")
    b = local_join_counts(frame, "b1", permutations=199, seed=np.random.default_rng(5),
                          correction="fdr")
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_series_equal(a["jc_p"], b["jc_p"])
    assert set(JC_COLUMNS) <= set(a.columns)
    assert a["jc_p"].dropna().between(1 / 200, 1).all()
    sig = a["jc_cluster"] == "cluster"
    assert (a.loc[sig, "jc_p"] <= a.attrs["cutoff"]).all()
    assert set(a["jc_cluster"]) <= {"cluster", "ns"}
    boolean = frame.assign(b1=frame["b1"].astype(bool))
    c = local_join_counts(boolean, "b1", permutations=199, seed=5, correction="fdr")
    pd.testing.assert_series_equal(a["jc_p"], c["jc_p"])


def test_local_bad_inputs(cases):
    frame, _, _ = cases["columbus"]
    with pytest.raises(InputError, match="only 0 and 1"):
        local_join_counts(frame, "CRIME")
    with pytest.raises(InputError, match="kind='bivariate' applies to two columns"):
        local_join_counts(frame, "b1", kind="bivariate")
    with pytest.raises(InputError, match="never occur together"):
        local_join_counts(frame, "b1", "b2", kind="bivariate")
    with pytest.raises(InputError, match="kind="):
        local_join_counts(frame, "b1", "b2", kind="both")
    text = frame.assign(s=np.where(frame["b1"] > 0, "yes", "no"))
    with pytest.raises(InputError, match="binary column"):
        local_join_counts(text, "s")


# ------------------------------------------------------------------ global


@pytest.mark.parametrize("name", ["columbus", "points"])
def test_global_matches_spdep(cases, name):
    frame, spec, ref = cases[name]
    res = join_counts(frame, "b1", weights=spec, permutations=0)
    for key in ("BB", "WW"):
        r = ref["joincount_test_nonfree"][key]
        assert res.counts[key] == pytest.approx(r["statistic"], abs=1e-8)
        assert res.expected[key] == pytest.approx(r["expected"], abs=1e-8)
        assert res.variance[key] == pytest.approx(r["variance"], abs=1e-8)
        assert res.z[key] == pytest.approx(r["z"], abs=1e-8)
        assert res.p_norm[key] == pytest.approx(r["p_greater"], abs=1e-8)
    jm = ref["joincount_multi"]
    row = jm["rows"].index("1:0")
    assert res.counts["BW"] == pytest.approx(jm["joincount"][row], abs=1e-8)
    assert res.expected["BW"] == pytest.approx(jm["expected"][row], abs=1e-8)
    assert res.variance["BW"] == pytest.approx(jm["variance"][row], abs=1e-8)
    assert res.z["BW"] == pytest.approx(jm["z"][row], abs=1e-8)


@pytest.mark.parametrize("labels", [[1, 1, 0, 0, 1, 0, 0, 0, 0], [1, 0, 1, 1, 0, 1, 0, 1, 0]])
def test_nonfree_moments_are_the_permutation_moments(labels):
    # every labelling with the same number of B units: the exact randomisation moments
    g = grid(3, 3, labels)
    w = sparse.csr_array(build_graph(g, "rook", transform="B").graph.sparse)
    n, nb = 9, sum(labels)
    sims = {"BB": [], "WW": [], "BW": []}
    for black in itertools.combinations(range(n), nb):
        x = np.zeros(n)
        x[list(black)] = 1
        bb = 0.5 * x @ (w @ x)
        ww = 0.5 * (1 - x) @ (w @ (1 - x))
        sims["BB"].append(bb)
        sims["WW"].append(ww)
        sims["BW"].append(0.5 * w.sum() - bb - ww)
    res = join_counts(g, "b", weights="rook", permutations=0)
    for key, values in sims.items():
        assert res.expected[key] == pytest.approx(np.mean(values), abs=1e-10)
        assert res.variance[key] == pytest.approx(np.var(values), abs=1e-10)


def test_permutation_test(cases):
    frame, spec, ref = cases["columbus"]
    res = join_counts(frame, "b1", permutations=9999, seed=3)
    # the permutation moments converge to the non-free ones
    for key in ("BB", "WW", "BW"):
        sd = np.sqrt(res.variance[key])
        assert abs(res.sim_mean[key] - res.expected[key]) < 5 * sd / np.sqrt(9999)
    # R's joincount.mc ranks the observed count with ties averaged: P(> c) + P(= c)/2; ours
    # is P(>= c). The same draws with alternative="less" give P(<= c), hence P(= c).
    less = join_counts(frame, "b1", permutations=9999, seed=3, alternative="less")
    for key in ("BB", "WW"):
        ties = res.p_sim[key] + less.p_sim[key] - 1 - 1 / 10000
        mid = res.p_sim[key] - ties / 2
        p = ref["joincount_mc"][f"{key}_p"]
        se = np.sqrt(p * (1 - p) / 9999) * np.sqrt(2) + 2 / 10000
        assert abs(mid - p) < 5 * se
    again = join_counts(frame, "b1", permutations=9999, seed=np.random.default_rng(3))
    assert again.p_sim == res.p_sim
    assert all(1 / 10000 <= v <= 1 for v in res.p_sim.values())


def test_result_protocol(cases):
    frame, _, _ = cases["columbus"]
    res = join_counts(frame, "b1", permutations=99, seed=1)
    assert isinstance(res, JoinCountResult)
    table = res.to_frame()
    assert table.columns.tolist() == ["join_count", "expected", "variance", "z", "p_value"]
    assert table.index.get_level_values(0).unique().tolist() == ["BB", "WW", "BW"]
    assert isinstance(res.summary(), Summary)
    assert "JoinCountResult of 'b1'" in repr(res)
    assert res.p_value == res.p_sim
    assert join_counts(frame, "b1", permutations=0).p_value["BB"] == pytest.approx(
        join_counts(frame, "b1", permutations=0).p_norm["BB"])


def test_global_bad_inputs(cases):
    frame, _, _ = cases["columbus"]
    with pytest.raises(InputError, match="only 0 and 1"):
        join_counts(frame, "INC")
    with pytest.raises(InputError, match="constant"):
        join_counts(frame.assign(one=1), "one")
    with pytest.raises(InputError, match="alternative="):
        join_counts(frame, "b1", alternative="up")


def test_nonfree_moments_docstring_cycle():
    # 4-cycle, 2 B units: of the 6 labellings 4 have BB = 1 and 2 have BB = 0
    e, v = nonfree_moments(2, 2, 8.0, 16.0, 64.0)["BB"]
    assert e == pytest.approx(4 / 6) and v == pytest.approx(4 / 6 - (4 / 6) ** 2)
