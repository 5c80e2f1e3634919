"""Ellison-Glaeser agglomeration and co-agglomeration (geocluster.clusters.concentration).

References: Ellison and Glaeser (1997): gamma and the co-agglomeration index of a
group, computed here independently with exact fractions on hand examples.
"""

from __future__ import annotations

import itertools
from fractions import Fraction as F

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from geocluster._base.summary import Summary
from geocluster.clusters import concentration as conc
from geocluster.clusters.concentration import coagglomeration, ellison_glaeser
from geocluster.errors import InputError


def _eg_exact(units_emp: dict, plants: list[tuple[str, int]]):
    """EG gamma with Fractions: units_emp = total employment per unit, plants = (unit, emp)."""
    total = sum(units_emp.values())
    x = {k: F(v, total) for k, v in units_emp.items()}
    emp = sum(e for _, e in plants)
    s = {k: F(sum(e for u, e in plants if u == k), emp) for k in units_emp}
    g = sum((s[k] - x[k]) ** 2 for k in units_emp)
    h = sum(F(e, emp) ** 2 for _, e in plants)
    sx2 = sum(v**2 for v in x.values())
    return g, h, (g - (1 - sx2) * h) / ((1 - sx2) * (1 - h)), s, x


@pytest.fixture()
def hand():
    # three counties; industry "a" has 4 plants, "b" 3 and "c" (the rest) 3
    rows = [("a", "k1", 40), ("a", "k1", 30), ("a", "k2", 20), ("a", "k1", 10),
            ("b", "k2", 50), ("b", "k3", 25), ("b", "k2", 25),
            ("c", "k3", 100), ("c", "k1", 60), ("c", "k2", 20)]
    return pd.DataFrame(rows, columns=["ind", "county", "emp"], index=[f"p{i}" for i in range(10)])


def test_gamma_equals_the_published_formula(hand):
    before = hand.copy()
    res = ellison_glaeser(hand, by="ind", units="county", weight="emp", simulations=0)
    pd.testing.assert_frame_equal(hand, before)
    units_emp = hand.groupby("county")["emp"].sum().to_dict()
    for ind in "abc":
        plants = list(hand.loc[hand["ind"] == ind, ["county", "emp"]].itertuples(index=False))
        g, h, gamma, _, _ = _eg_exact(units_emp, [tuple(p) for p in plants])
        row = res.table.loc[ind]
        assert row["raw_concentration"] == pytest.approx(float(g), rel=1e-12)
        assert row["plant_herfindahl"] == pytest.approx(float(h), rel=1e-12)
        assert row["gamma"] == pytest.approx(float(gamma), rel=1e-12, abs=1e-15)
    # a by hand: x = (140, 115, 125)/380... H_a = (16+9+4+1)/100 = 0.3
    assert res.table.loc["a", "plant_herfindahl"] == pytest.approx(0.3)
    assert res.table.loc["a", "n_plants"] == 4 and res.table.loc["a", "employment"] == 100
    # without weights every plant counts 1: H = 1/N and shares are plant counts
    plain = ellison_glaeser(hand, by="ind", units="county", simulations=0)
    assert plain.table.loc["b", "plant_herfindahl"] == pytest.approx(1 / 3)
    counts = hand.groupby("county").size().to_dict()
    g, h, gamma, _, _ = _eg_exact(counts, [(u, 1) for u in hand.loc[hand["ind"] == "b", "county"]])
    assert plain.table.loc["b", "gamma"] == pytest.approx(float(gamma), rel=1e-12)


def test_gamma_is_zero_in_expectation_exactly():
    # EG's null: each plant in unit k with probability x_k. Enumerate all 3^4 placements
    # of a 4-plant industry (sizes 5, 3, 1, 1) and weight them by their probabilities:
    # E[gamma] = 0 exactly (the x_k are held fixed, as in EG's model).
    x = np.array([0.5, 0.3, 0.2])
    z = np.array([5.0, 3.0, 1.0, 1.0])
    h = float(((z / z.sum()) ** 2).sum())
    expectation = 0.0
    for placement in itertools.product(range(3), repeat=4):
        prob = float(np.prod(x[list(placement)]))
        shares = np.bincount(placement, weights=z, minlength=3) / z.sum()
        expectation += prob * conc._gamma_from_shares(shares[None, :], x, float(x @ x), h)[0]
    assert expectation == pytest.approx(0.0, abs=1e-12)


def test_simulated_null_is_centred_and_p_values_are_calibrated():
    # Data generated under the null by the test itself: a large background fixes x; the
    # industry's 30 plants fall in unit k with probability x_k.
    rng = np.random.default_rng(11)
    m = 40
    x = rng.dirichlet(np.full(m, 2.0))
    background = rng.choice(m, size=20_000, p=x)
    p_values, gammas = [], []
    for rep in range(60):
        plants = rng.choice(m, size=30, p=x)
        firms = pd.DataFrame({"ind": np.r_[np.full(20_000, "rest"), np.full(30, "x")],
                              "unit": np.r_[background, plants]})
        res = ellison_glaeser(firms, by="ind", units="unit", industries=["x"],
                              simulations=99, seed=rep)
        p_values.append(res.table.loc["x", "p_value"])
        gammas.append(res.table.loc["x", "gamma"])
        if rep == 0:
            sim = res.simulated[0]
            assert abs(sim.mean()) < 4 * sim.std() / np.sqrt(len(sim))
    gammas = np.array(gammas)
    assert abs(gammas.mean()) < 4 * gammas.std() / np.sqrt(len(gammas))
    # at 5%: expected 3 of 60; more than 9 has probability < 0.2%
    assert np.mean(np.array(p_values) <= 0.05) <= 9 / 60


def test_planted_concentration_is_detected_and_seeded():
    rng = np.random.default_rng(3)
    units = rng.integers(0, 30, 3000)
    ind = rng.choice(["a", "b", "c"], 3000).astype(object)
    units[:200] = 7  # industry "hub" packed in unit 7
    ind[:200] = "hub"
    firms = pd.DataFrame({"ind": ind, "unit": units, "emp": rng.integers(1, 50, 3000)})
    a = ellison_glaeser(firms, by="ind", units="unit", weight="emp", simulations=49, seed=5)
    b = ellison_glaeser(firms, by="ind", units="unit", weight="emp", simulations=49, seed=5)
    c = ellison_glaeser(firms, by="ind", units="unit", weight="emp", simulations=49, seed=6)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.array_equal(a.simulated, c.simulated)
    assert a.table.loc["hub", "gamma"] > 0.05 and a.table.loc["hub", "p_value"] == 1 / 50
    assert a.seed == 5 and a.alternative == "greater"
    assert (a.table["null_low"] <= a.table["null_high"]).all()
    assert "most agglomerated 'hub'" in repr(a)
    s = a.summary()
    assert isinstance(s, Summary) and "p_value" in s.to_frame().columns
    fig = a.plot()
    assert isinstance(fig, Figure) and fig.axes[0].get_xlabel() == "Ellison-Glaeser gamma"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "hub"


def test_coagglomeration_equals_eg_1997_group_formula(hand):
    res = coagglomeration(hand, by="ind", units="county", weight="emp", simulations=0)
    eg = ellison_glaeser(hand, by="ind", units="county", weight="emp", simulations=0)
    units_emp = hand.groupby("county")["emp"].sum().to_dict()
    for a, b in [("a", "b"), ("a", "c"), ("b", "c")]:
        # EG (1997) co-agglomeration of the group {a, b}, with exact fractions
        group = [tuple(p) for p in hand.loc[hand["ind"].isin([a, b]), ["county", "emp"]]
                 .itertuples(index=False)]
        g_grp, h_grp_plants, _, _, x = _eg_exact(units_emp, group)
        sx2 = sum(v**2 for v in x.values())
        parts = {}
        for i in (a, b):
            plants = [tuple(p) for p in hand.loc[hand["ind"] == i, ["county", "emp"]]
                      .itertuples(index=False)]
            g_i, h_i, gamma_i, s_i, _ = _eg_exact(units_emp, plants)
            parts[i] = (F(sum(e for _, e in plants)), h_i, gamma_i)
        total = parts[a][0] + parts[b][0]
        w = {i: parts[i][0] / total for i in (a, b)}
        h = sum(w[i] ** 2 * parts[i][1] for i in (a, b))
        assert h == h_grp_plants  # the group's plant Herfindahl
        gamma_c = (g_grp / (1 - sx2) - h - sum(parts[i][2] * w[i] ** 2 * (1 - parts[i][1])
                                               for i in (a, b))) / (1 - sum(v**2 for v in w.values()))
        row = res.table.loc[(a, b)]
        assert row["gamma_c"] == pytest.approx(float(gamma_c), rel=1e-12, abs=1e-15)
        assert row["gamma_a"] == pytest.approx(eg.table.loc[a, "gamma"], rel=1e-12)
    mat = res.matrix()
    assert mat.loc["a", "b"] == mat.loc["b", "a"] == res.table.loc[("a", "b"), "gamma_c"]
    assert mat.loc["c", "c"] == pytest.approx(eg.table.loc["c", "gamma"])


def test_coagglomeration_null_and_figure():
    rng = np.random.default_rng(8)
    m = 25
    units = rng.integers(0, m, 4000)
    ind = rng.choice(["c", "d", "e"], 4000).astype(object)
    ind[:150], units[:150] = "a", rng.choice([3, 4], 150)
    ind[150:300], units[150:300] = "b", rng.choice([3, 4], 150)  # b sits with a
    firms = pd.DataFrame({"ind": ind, "unit": units})
    res = coagglomeration(firms, by="ind", units="unit", simulations=99, seed=2)
    again = coagglomeration(firms, by="ind", units="unit", simulations=99, seed=2)
    pd.testing.assert_frame_equal(res.table, again.table)
    assert res.table.loc[("a", "b"), "p_value"] == pytest.approx(2 / 100)  # two-sided
    assert res.table.loc[("a", "b"), "gamma_c"] > 0.2
    assert res.table.loc[("a", "b"), "gamma_c"] > res.table.loc[("a", "b"), "null_high"]
    assert abs(res.table.loc[("c", "d"), "gamma_c"]) < 0.01  # both merely avoid units 3-4
    one = coagglomeration(firms, by="ind", units="unit", pairs=[("d", "c")], simulations=0)
    assert one.table.index.tolist() == [("d", "c")] and np.isnan(one.table["p_value"].iloc[0])
    assert one.table["gamma_c"].iloc[0] == pytest.approx(res.table.loc[("c", "d"), "gamma_c"])
    assert isinstance(res.plot(), Figure)
    assert "strongest 'a'-'b'" in repr(res)
    assert "co-agglomeration" in str(res.summary())


def test_single_plant_industry_has_no_index(hand):
    firms = pd.concat([hand, pd.DataFrame({"ind": ["solo"], "county": ["k1"], "emp": [5]},
                                          index=["p99"])])
    res = ellison_glaeser(firms, by="ind", units="county", weight="emp", simulations=9, seed=1)
    assert np.isnan(res.table.loc["solo", "gamma"]) and np.isnan(res.table.loc["solo", "p_value"])
    assert res.table.loc["solo", "plant_herfindahl"] == 1.0


def test_bad_input(hand):
    with pytest.raises(InputError, match="firms must be a DataFrame"):
        ellison_glaeser([1, 2], by="ind", units="county")
    with pytest.raises(InputError, match="by='sector' is not a column"):
        ellison_glaeser(hand, by="sector", units="county")
    with pytest.raises(InputError, match="units='fips' is not a column"):
        ellison_glaeser(hand, by="ind", units="fips")
    with pytest.raises(InputError, match="column 'county' .units=. has 1 missing"):
        ellison_glaeser(hand.assign(county=[None, *hand["county"][1:]]), by="ind", units="county")
    with pytest.raises(InputError, match="weight column 'emp' has 1 negative"):
        ellison_glaeser(hand.assign(emp=[-1, *hand["emp"][1:]]), by="ind", units="county",
                        weight="emp")
    with pytest.raises(InputError, match="all plants are in one areal unit"):
        ellison_glaeser(hand.assign(county="k1"), by="ind", units="county")
    with pytest.raises(InputError, match="industries \\['z'\\]"):
        ellison_glaeser(hand, by="ind", units="county", industries=["z"])
    with pytest.raises(InputError, match="simulations=-1"):
        ellison_glaeser(hand, by="ind", units="county", simulations=-1)
    with pytest.raises(InputError, match="alternative='up'"):
        ellison_glaeser(hand, by="ind", units="county", alternative="up")
    with pytest.raises(InputError, match="seed=-3"):
        ellison_glaeser(hand, by="ind", units="county", seed=-3)
    with pytest.raises(InputError, match="same industry twice"):
        coagglomeration(hand, by="ind", units="county", pairs=[("a", "a")])
    with pytest.raises(InputError, match="names \\['q'\\]"):
        coagglomeration(hand, by="ind", units="county", pairs=[("a", "q")])
