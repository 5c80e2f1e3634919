"""Co-location quotient (geocluster.clusters.colocation): closed form, local sums, tests."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.spatial.distance import cdist

from geocluster._base.summary import Summary
from geocluster.clusters.colocation import (
    colocation_quotient,
    local_colocation_quotient,
    neighbour_weights,
    plot_local_colocation,
)
from geocluster.errors import CRSError, InputError

UTM = "EPSG:32610"


def _pts(x, y, labels, crs=UTM):
    return gpd.GeoDataFrame({"t": list(labels)}, geometry=gpd.points_from_xy(x, y), crs=crs)


def _brute_clq(xy, labels, a, b):
    """L&K (2011) eq. 2 by brute force: nearest neighbours from the full distance matrix,
    equidistant nearest neighbours sharing one count."""
    d = cdist(xy, xy)
    np.fill_diagonal(d, np.inf)
    labels = np.asarray(labels)
    n = len(labels)
    n_ab = 0.0
    for i in np.flatnonzero(labels == a):
        nearest = np.flatnonzero(d[i] == d[i].min())
        n_ab += np.mean(labels[nearest] == b)
    n_a = (labels == a).sum()
    n_b = (labels == b).sum() - (a == b)
    return (n_ab / n_a) / (n_b / (n - 1))


def test_global_clq_closed_form_by_hand():
    # A at 0 and 3, B at 1, 10, 11, C at 20 on a line. Nearest neighbours: A0->B1,
    # A3->B1, B1->A0, B10->B11, B11->B10, C20->B11. N=6, N_A=2, N_B=3.
    pts = _pts([0, 3, 1, 10, 11, 20], [0] * 6, "AABBBC")
    before = pts.copy()
    res = colocation_quotient(pts, by="t", permutations=0)
    pd.testing.assert_frame_equal(pts, before)
    clq = res.table["clq"]
    assert clq[("A", "B")] == pytest.approx((2 / 2) / (3 / 5))  # 5/3
    assert clq[("B", "A")] == pytest.approx((1 / 3) / (2 / 5))  # 5/6
    assert clq[("B", "B")] == pytest.approx((2 / 3) / (2 / 5))  # N'_B = N_B - 1
    assert clq[("C", "B")] == pytest.approx(1 / (3 / 5))
    assert clq[("A", "A")] == 0.0
    assert res.matrix().loc["A", "B"] == clq[("A", "B")]
    assert res.table.loc[("A", "B"), "n_reference"] == 2
    assert np.isnan(res.table["p_value"]).all()


def test_equidistant_nearest_neighbours_share():
    # A at 0 has B at +1 and C at -1: half a B neighbour (L&K's tie rule)
    pts = _pts([0, 1, -1, 9, 30], [0] * 5, "ABCBC")
    res = colocation_quotient(pts, by="t", reference="A", neighbor="B", permutations=0)
    assert res.table["clq"].iloc[0] == pytest.approx(0.5 / (2 / 4))
    w = neighbour_weights(np.column_stack([[0, 1, -1, 9, 30], [0] * 5]).astype(float), 1)
    assert w[[0], :].toarray().ravel().tolist() == [0, 0.5, 0.5, 0, 0]
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_global_clq_equals_brute_force_with_coincident_points():
    rng = np.random.default_rng(4)
    xy = np.round(rng.uniform(0, 2_000, (150, 2)), -2)  # 100-m grid: many ties and duplicates
    labels = rng.choice(list("ABC"), 150)
    pts = _pts(xy[:, 0], xy[:, 1], labels)
    res = colocation_quotient(pts, by="t", permutations=0)
    for a in "ABC":
        for b in "ABC":
            assert res.table.loc[(a, b), "clq"] == pytest.approx(_brute_clq(xy, labels, a, b),
                                                                 rel=1e-12)


def test_k_neighbours_and_local_clq_sum_to_global():
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 10_000, (300, 2))
    labels = rng.choice(list("ABCD"), 300, p=[0.2, 0.3, 0.3, 0.2])
    pts = _pts(xy[:, 0], xy[:, 1], labels)
    for k in (1, 4):
        glob = colocation_quotient(pts, by="t", k=k, permutations=0).table["clq"]
        for a, b in [("A", "B"), ("B", "B"), ("D", "A")]:
            loc = local_colocation_quotient(pts, by="t", reference=a, neighbor=b, k=k,
                                            permutations=0)
            vals = loc.loc[loc["t"] == a, "clq_local"]
            assert vals.notna().all() and loc.loc[loc["t"] != a, "clq_local"].isna().all()
            assert vals.mean() == pytest.approx(glob[(a, b)], rel=1e-12)
    # k=4: each point's 4 nearest neighbours weigh 1/4 (no ties in continuous data)
    w = neighbour_weights(xy, 4)
    assert set(np.unique(w.data)) == {0.25}


def test_global_permutation_test_seeds_and_detects_colocation():
    rng = np.random.default_rng(6)
    centres = rng.uniform(0, 50_000, (40, 2))
    a = centres + rng.normal(0, 50, (40, 2))
    b = centres + rng.normal(0, 50, (40, 2))  # each A has a B next door
    other = rng.uniform(0, 50_000, (200, 2))
    xy = np.vstack([a, b, other])
    pts = _pts(xy[:, 0], xy[:, 1], ["A"] * 40 + ["B"] * 40 + ["O"] * 200)
    r1 = colocation_quotient(pts, by="t", reference="A", neighbor="B", permutations=199, seed=3)
    r2 = colocation_quotient(pts, by="t", reference="A", neighbor="B", permutations=199, seed=3)
    r3 = colocation_quotient(pts, by="t", reference="A", neighbor="B", permutations=199, seed=4)
    pd.testing.assert_frame_equal(r1.table, r2.table)
    assert not np.array_equal(r1.simulated, r3.simulated)
    assert r1.table["clq"].iloc[0] > 3 and r1.table["p_value"].iloc[0] == pytest.approx(2 / 200)
    assert r1.seed == 3 and "1 pairs among 280 points" in repr(r1)
    # the relabelled CLQs centre on 1 (E[CLQ] = 1 under random labelling)
    sim = r1.simulated[0]
    assert abs(sim.mean() - 1) < 4 * sim.std() / np.sqrt(len(sim))
    full = colocation_quotient(pts, by="t", permutations=19, seed=1)
    assert len(full.table) == 9 and isinstance(full.summary(), Summary)
    assert isinstance(full.plot(), Figure)


def test_ties_with_every_draw_give_p_one():
    # With k = n - 1 every other point is a neighbour, so every relabelling gives CLQ = 1
    # (up to rounding): a tie with all draws is p = 1, not the smallest p.
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 1_000, (12, 2))
    pts = _pts(xy[:, 0], xy[:, 1], list("AAAABBBBCCCC"))
    res = colocation_quotient(pts, by="t", reference="A", neighbor="B", k=11, permutations=99,
                              seed=1)
    assert res.table["clq"].iloc[0] == pytest.approx(1.0)
    assert res.table["p_value"].iloc[0] == 1.0
    loc = local_colocation_quotient(pts, by="t", reference="A", neighbor="B", k=11,
                                    permutations=99, seed=1)
    assert (loc.loc[loc["t"] == "A", "clq_p"] == 1.0).all()


def test_local_p_value_matches_the_exact_conditional_distribution():
    # k = 1, no ties: under conditional permutation the neighbour of an A point is B with
    # probability N'_B / (N - 1), so P(LCLQ_sim >= LCLQ_obs) for an A next to a B is exactly
    # N_B / (N - 1). The pseudo p ("greater") estimates (ge + 1) / (S + 1).
    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 10_000, (60, 2))
    labels = np.array(list("A" * 10 + "B" * 20 + "C" * 30))
    pts = _pts(xy[:, 0], xy[:, 1], labels)
    s = 4999
    loc = local_colocation_quotient(pts, by="t", reference="A", neighbor="B",
                                    permutations=s, alternative="greater", seed=2)
    w = neighbour_weights(xy, 1)
    nb_is_b = (w @ (labels == "B").astype(float))[labels == "A"]
    p = loc.loc[loc["t"] == "A", "clq_p"].to_numpy()
    exact = np.where(nb_is_b > 0, 20 / 59, 1.0)
    se = np.sqrt(exact * (1 - exact) / s)
    assert (np.abs(p - (exact * s + 1) / (s + 1)) <= 4 * se + 1e-12).all()
    assert nb_is_b.any() and (~(nb_is_b > 0)).any()
    again = local_colocation_quotient(pts, by="t", reference="A", neighbor="B",
                                      permutations=s, alternative="greater", seed=2)
    pd.testing.assert_series_equal(loc["clq_p"], again["clq_p"])
    fdr = local_colocation_quotient(pts, by="t", reference="A", neighbor="B", permutations=99,
                                    seed=2, correction="fdr")
    assert fdr["clq_significant"].dtype == bool
    fig = plot_local_colocation(loc)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    n_sig = int(loc["clq_significant"].sum())
    assert labels[3] == "other points (50)" and sum(
        int(lab.rsplit("(", 1)[1].rstrip(")")) for lab in labels[:3]) == 10
    assert n_sig == sum(int(lab.rsplit("(", 1)[1].rstrip(")")) for lab in labels[:2])
    with pytest.raises(InputError, match="local_colocation_quotient"):
        plot_local_colocation(pts)


def test_bad_input():
    pts = _pts([0, 1, 2, 3], [0] * 4, "AABB")
    with pytest.raises(InputError, match="by='kind' is not a column"):
        colocation_quotient(pts, by="kind")
    with pytest.raises(InputError, match="neighbor='Z' is not a category"):
        colocation_quotient(pts, by="t", reference="A", neighbor="Z")
    with pytest.raises(InputError, match="give both reference= and neighbor="):
        colocation_quotient(pts, by="t", reference="A")
    with pytest.raises(InputError, match="give both reference= and neighbor="):
        local_colocation_quotient(pts, by="t", reference=None, neighbor=None)
    with pytest.raises(InputError, match="k=4 must be below"):
        colocation_quotient(pts, by="t", k=4)
    with pytest.raises(InputError, match="k=0"):
        colocation_quotient(pts, by="t", k=0)
    with pytest.raises(InputError, match="permutations=-1"):
        colocation_quotient(pts, by="t", permutations=-1)
    with pytest.raises(InputError, match="alternative='up'"):
        local_colocation_quotient(pts, by="t", reference="A", neighbor="B", alternative="up")
    with pytest.raises(InputError, match="correction='holm'"):
        local_colocation_quotient(pts, by="t", reference="A", neighbor="B", correction="holm")
    with pytest.raises(InputError, match="missing values"):
        colocation_quotient(pts.assign(t=["A", None, "B", "B"]), by="t")
    with pytest.raises(CRSError, match="no CRS"):
        colocation_quotient(pts.set_crs(None, allow_override=True), by="t")
    with pytest.raises(InputError, match="has one point"):
        colocation_quotient(_pts([0, 1, 2], [0] * 3, "ABB"), by="t", reference="A",
                            neighbor="A")
