"""Tests for innovator typing and matching (geocluster.models.matching)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import geocluster as gc
from geocluster._base.summary import Summary
from geocluster.errors import InputError, ModelError
from geocluster.models.matching import INNOVATOR_TYPES


# ---------------------------------------------------------------------------
# classify_innovators
# ---------------------------------------------------------------------------
@pytest.fixture
def small_firms():
    return pd.DataFrame(
        {
            "patents_5y": [0, 14, 15, 40, 100, 3, 15],
            "employees": [5, 500, 500, 501, 20000, 10, 499],
        },
        index=pd.Index(list("abcdefg"), name="firm"),
    )


def test_classify_definition_and_boundaries(small_firms):
    out = gc.classify_innovators(small_firms)
    expected = ["non-serial", "non-serial", "serial", "large", "large", "non-serial", "serial"]
    assert out["innovator_type"].tolist() == expected
    assert out.index.equals(small_firms.index)
    assert out["innovator_type"].cat.ordered
    assert list(out["innovator_type"].cat.categories) == list(INNOVATOR_TYPES)


def test_classify_does_not_mutate_and_parameters(small_firms):
    before = small_firms.copy()
    out = gc.classify_innovators(small_firms, min_patents=3, max_employees=1000, name="kind")
    pd.testing.assert_frame_equal(small_firms, before)
    assert "kind" in out and "innovator_type" not in out
    assert out["kind"].tolist() == [
        "non-serial",
        "serial",
        "serial",
        "serial",
        "large",
        "serial",
        "serial",
    ]


def test_classify_missing_values(small_firms):
    firms = small_firms.astype(float)
    firms.loc["a", "patents_5y"] = np.nan
    firms.loc["d", "patents_5y"] = np.nan  # large anyway
    firms.loc["f", "employees"] = np.nan
    with pytest.raises(
        InputError, match="2 firm\\(s\\) have a missing 'employees' or 'patents_5y'"
    ):
        gc.classify_innovators(firms)
    out = gc.classify_innovators(firms, missing="keep")
    assert out["innovator_type"].isna().tolist() == [True, False, False, False, False, True, False]
    assert out.loc["d", "innovator_type"] == "large"


def test_classify_errors(small_firms):
    with pytest.raises(InputError, match="column\\(s\\) \\['patents'\\] not found"):
        gc.classify_innovators(small_firms, patents="patents")
    bad = small_firms.assign(employees=-small_firms["employees"])
    with pytest.raises(InputError, match="'employees' has 7 negative"):
        gc.classify_innovators(bad)
    with pytest.raises(InputError, match="'patents_5y' must be numeric"):
        gc.classify_innovators(small_firms.assign(patents_5y="many"))
    with pytest.raises(InputError, match="min_patents must be a non-negative number"):
        gc.classify_innovators(small_firms, min_patents=-1)
    with pytest.raises(InputError, match="missing must be 'raise' or 'keep'"):
        gc.classify_innovators(small_firms, missing="drop")


# ---------------------------------------------------------------------------
# match
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def confounded():
    """Treatment depends on size and age (strong confounding), industry strata."""
    rng = np.random.default_rng(42)
    n = 3000
    industry = rng.choice(["software", "pharma", "instruments"], n, p=[0.5, 0.3, 0.2])
    size = rng.normal(size=n) + 0.5 * (industry == "pharma")
    age = rng.gamma(3, 4, n)
    logit = -2.0 + 1.0 * size + 0.06 * age + 0.5 * (industry == "software")
    serial = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "log_employees": size,
            "age": age,
            "industry": industry,
            "serial": serial,
        },
        index=pd.RangeIndex(1000, 1000 + n, name="firm_id"),
    )


def test_match_balances_confounded_data(confounded):
    before = confounded.copy()
    m = gc.match(
        confounded,
        treatment="serial",
        exact=["industry"],
        on=["log_employees", "age"],
        caliper=0.2,
        seed=3,
    )
    pd.testing.assert_frame_equal(confounded, before)
    bal = m.balance
    assert bal.loc["log_employees", "smd_before"] > 0.5  # real confounding to remove
    assert (bal.drop(index="distance")["smd_after"].abs() < 0.1).all()
    assert abs(bal.loc["distance", "smd_after"]) < 0.15
    assert (bal["var_ratio_after"].between(0.5, 2.0)).all()
    # before-matching means are the raw group means
    t = confounded["serial"]
    assert bal.loc["age", "mean_treated_before"] == pytest.approx(confounded.loc[t, "age"].mean())
    assert bal.loc["age", "mean_control_before"] == pytest.approx(confounded.loc[~t, "age"].mean())
    sd_t = confounded.loc[t, "age"].std()
    assert bal.loc["age", "smd_before"] == pytest.approx(
        (confounded.loc[t, "age"].mean() - confounded.loc[~t, "age"].mean()) / sd_t
    )
    # 1:1 without replacement: equal numbers, unique controls, weights 1
    mt = m.matched
    assert mt["match_treated"].sum() == (~mt["match_treated"]).sum()
    assert mt.index.is_unique and set(mt.index) <= set(confounded.index)
    assert np.allclose(mt["match_weight"], 1.0)
    assert mt.groupby("match_id").size().eq(2).all()
    assert "distance" in bal.index
    assert "MatchResult" in repr(m) and "caliper 0.2 SD" in repr(m)
    summary = m.summary()
    assert isinstance(summary, Summary)
    text = str(summary)
    assert "covariate balance" in text and "treated (matched)" in text
    pd.testing.assert_frame_equal(summary.to_frame(), m.balance[list(summary.to_frame().columns)])
    assert "<table" in summary._repr_html_()
    pd.testing.assert_frame_equal(m.to_frame(), m.balance)


def test_match_exact_strata_respected(confounded):
    m = gc.match(confounded, exact="industry", on=["log_employees", "age"], seed=0)
    pairs = m.pairs
    ind = confounded["industry"]
    assert (ind.loc[pairs["treated"]].to_numpy() == ind.loc[pairs["control"]].to_numpy()).all()
    # treated really are treated and controls really controls
    assert confounded.loc[pairs["treated"], "serial"].all()
    assert not confounded.loc[pairs["control"], "serial"].any()


def test_match_pairs_are_nearest_available(confounded):
    """With replacement each treated unit gets its nearest control on the logit score."""
    m = gc.match(confounded, on=["log_employees", "age"], replace=True, seed=0)
    lp = np.log(m.propensity / (1 - m.propensity))
    t = confounded["serial"].to_numpy()
    controls_lp = lp[~t].to_numpy()
    for _, row in m.pairs.sample(50, random_state=0).iterrows():
        best = np.abs(controls_lp - lp.loc[row["treated"]]).min()
        assert row["distance"] == pytest.approx(best, abs=1e-12)
    # controls reused -> weights differ from 1 and sum to the number of matched controls
    ctrl = m.matched.loc[~m.matched["match_treated"], "match_weight"]
    assert ctrl.sum() == pytest.approx(len(ctrl))
    assert ctrl.max() > 1


def test_caliper_drops_far_units():
    rng = np.random.default_rng(1)
    # treated units far to the right of every control cannot be matched with a caliper
    x_c = rng.normal(0, 1, 300)
    x_t = np.concatenate([rng.normal(0, 1, 50), rng.normal(8, 0.1, 10)])
    firms = pd.DataFrame({"x": np.concatenate([x_c, x_t]), "treated": [False] * 300 + [True] * 60})
    loose = gc.match(firms, treatment="treated", on=["x"], seed=1)
    tight = gc.match(firms, treatment="treated", on=["x"], caliper=0.1, seed=1)
    assert loose.counts.loc["matched", "treated"] == 60
    far = firms.index[300 + 50 :]
    assert not set(far) & set(tight.matched.index)
    assert tight.counts.loc["unmatched", "treated"] >= 10
    assert (
        tight.pairs["distance"]
        <= 0.1 * np.std(np.log(tight.propensity / (1 - tight.propensity)), ddof=1) + 1e-12
    ).all()


def test_match_deterministic_by_seed(confounded):
    kw = dict(on=["log_employees", "age"], order="random", ratio=2)
    a = gc.match(confounded, seed=7, **kw)
    b = gc.match(confounded, seed=7, **kw)
    c = gc.match(confounded, seed=8, **kw)
    pd.testing.assert_frame_equal(a.matched, b.matched)
    pd.testing.assert_frame_equal(a.pairs, b.pairs)
    assert not a.pairs.equals(c.pairs)


def test_match_ratio_and_mahalanobis(confounded):
    m = gc.match(confounded, on=["log_employees", "age"], distance="mahalanobis", ratio=2, seed=0)
    sizes = m.pairs.groupby("match_id").size()
    assert sizes.max() == 2
    assert (m.balance["smd_after"].abs() < m.balance["smd_before"].abs()).all()
    assert m.propensity is None and "distance" not in m.balance.index
    assert "Mahalanobis" in repr(m)


def test_match_on_innovator_type_category():
    rng = np.random.default_rng(5)
    n = 800
    firms = pd.DataFrame(
        {
            "patents_5y": rng.poisson(8, n),
            "employees": rng.integers(1, 900, n),
            "age": rng.gamma(2, 6, n),
        }
    )
    typed = gc.classify_innovators(firms)
    m = gc.match(typed, treatment="serial", control="non-serial", on=["age"], seed=0)
    kinds = typed.loc[m.matched.index, "innovator_type"]
    assert set(kinds) == {"serial", "non-serial"}
    assert (kinds == "serial").sum() == (typed["innovator_type"] == "serial").sum()


def test_match_errors(confounded):
    with pytest.raises(InputError, match="on must name at least one"):
        gc.match(confounded, on=[])
    with pytest.raises(InputError, match="'industry' must be numeric"):
        gc.match(confounded, on=["industry"])
    with pytest.raises(InputError, match="column\\(s\\) \\['sector'\\] not found"):
        gc.match(confounded, on=["age"], exact=["sector"])
    with pytest.raises(InputError, match="ratio must be a positive integer"):
        gc.match(confounded, on=["age"], ratio=0)
    with pytest.raises(InputError, match="caliper must be a positive number"):
        gc.match(confounded, on=["age"], caliper=-1)
    with pytest.raises(InputError, match="distance must be 'propensity' or 'mahalanobis'"):
        gc.match(confounded, on=["age"], distance="euclid")
    with pytest.raises(InputError, match="neither a column of the frame"):
        gc.match(confounded, treatment="treated", on=["age"])
    with pytest.raises(InputError, match="must be boolean or 0/1"):
        gc.match(confounded, treatment="industry", on=["age"])
    holes = confounded.copy()
    holes.iloc[:3, holes.columns.get_loc("age")] = np.nan
    with pytest.raises(InputError, match="3 row\\(s\\) have missing values"):
        gc.match(holes, on=["age"])
    sep = confounded.assign(age=confounded["serial"].astype(float))
    with pytest.raises(ModelError, match="propensity-score logit"):
        gc.match(sep, on=["age"])
    with pytest.raises(InputError, match="needs treated and control"):
        gc.match(confounded.assign(serial=True), on=["age"])


# ---------------------------------------------------------------------------
# the synthetic firms
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_make_firms_typing_and_matching():
    firms = gc.datasets.make_firms(2000, seed=3)
    typed = gc.classify_innovators(firms.drop(columns="innovator_type"))
    assert (typed["innovator_type"].astype(str) == firms["innovator_type"]).all()
    assert ((typed["innovator_type"] == "serial") == (firms["serial"] == 1)).all()
    firms = firms.assign(log_employees=np.log(firms["employees"]))
    m = gc.match(
        firms,
        treatment="serial",
        exact=["industry"],
        on=["log_employees", "age"],
        caliper=0.2,
        seed=0,
    )
    # serial innovators are larger: real imbalance before, balance after
    assert m.balance.loc["log_employees", "smd_before"] > 0.5
    assert (m.balance.drop(index="distance")["smd_after"].abs() < 0.1).all()
    assert m.matched.index.isin(firms.index).all()


def test_geodataframe_in_geodataframe_out(confounded):
    import geopandas as gpd

    rng = np.random.default_rng(0)
    g = gpd.GeoDataFrame(
        confounded.assign(patents_5y=rng.poisson(10, len(confounded)), employees=100),
        geometry=gpd.points_from_xy(rng.random(len(confounded)), rng.random(len(confounded))),
        crs="EPSG:4326",
    )
    typed = gc.classify_innovators(g)
    assert isinstance(typed, gpd.GeoDataFrame) and typed.crs == g.crs
    m = gc.match(g, on=["age"], seed=0)
    assert isinstance(m.matched, gpd.GeoDataFrame) and m.matched.crs == g.crs


def test_absent_columns_are_named_never_ignored(small_firms):
    with pytest.raises(InputError, match=r"classify_innovators\(patents=\): column\(s\) "
                       r"\['patent_5y'\] not found.*did you mean \['patents_5y'\].*available"):
        gc.classify_innovators(small_firms, patents="patent_5y")
    with pytest.raises(InputError, match=r"classify_innovators\(employees=\).*\['staff'\]"):
        gc.classify_innovators(small_firms, employees="staff")
    typed = gc.classify_innovators(small_firms)
    with pytest.raises(InputError, match=r"treatment='serail' is neither a column.*did you mean"
                       r".*available columns"):
        gc.match(typed, treatment="serail", on=["employees"])
    with pytest.raises(InputError, match=r"treatment='serial' is neither.*type_column="
                       r"'kind' \(not a column either\)"):
        gc.match(small_firms, treatment="serial", on=["employees"], type_column="kind")
    with pytest.raises(InputError, match=r"on: column\(s\) \['employes'\] not found.*did you mean"):
        gc.match(typed, treatment="serial", on=["employes"])
