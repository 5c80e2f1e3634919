"""Tests for the count and share baselines (geocluster.models.outcomes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import geocluster as gc
from geocluster.errors import InputError, ModelError

FORMULA_RHS = "serial * (cluster + I(cluster**2)) + age + C(industry)"


@pytest.fixture(scope="module")
def firms():
    """Simulated firms with known count and share DGPs."""
    rng = np.random.default_rng(11)
    n = 4000
    cluster = rng.normal(size=n)
    serial = (rng.random(n) < 0.3).astype(int)
    age = rng.gamma(2, 5, n)
    industry = rng.choice(["a", "b", "c"], n)
    eta = (
        0.2
        + 0.3 * serial
        + 0.4 * cluster
        - 0.15 * cluster**2
        + 0.2 * serial * cluster
        + 0.1 * serial * cluster**2
        + 0.02 * age
        + 0.3 * (industry == "b")
        - 0.2 * (industry == "c")
    )
    mu = np.exp(eta)
    alpha = 0.8
    lam = rng.gamma(1 / alpha, alpha * mu)  # NB2: mean mu, var mu + alpha mu^2
    share_mean = 1 / (1 + np.exp(-(eta - 1.0)))
    phi = 12.0
    return pd.DataFrame(
        {
            "cluster": cluster,
            "serial": serial,
            "age": age,
            "industry": industry,
            "poisson_markets": rng.poisson(mu),
            "foreign_markets": rng.poisson(lam),
            "export_share": rng.beta(share_mean * phi, (1 - share_mean) * phi),
        }
    )


TRUE = {
    "serial": 0.3,
    "cluster": 0.4,
    "I(cluster ** 2)": -0.15,
    "serial:cluster": 0.2,
    "serial:I(cluster ** 2)": 0.1,
    "age": 0.02,
    "C(industry)[T.b]": 0.3,
    "C(industry)[T.c]": -0.2,
}


def _check_recovery(res, truth, *, z=4.0):
    for name, value in truth.items():
        est, se = res.params[name], res.bse[name]
        assert abs(est - value) < z * se, (name, est, value, se)


def test_poisson_recovers_coefficients(firms):
    res = gc.count_model(f"poisson_markets ~ {FORMULA_RHS}", firms)
    _check_recovery(res, {**TRUE, "Intercept": 0.2})
    assert res.nobs == len(firms)
    assert list(res.conf_int().columns) == ["lower", "upper"]
    assert "poisson" in repr(res)
    assert "poisson_markets" in str(res.summary())


def test_negbin_recovers_coefficients_and_dispersion(firms):
    res = gc.count_model(f"foreign_markets ~ {FORMULA_RHS}", firms, family="negbin")
    _check_recovery(res, {**TRUE, "Intercept": 0.2, "alpha": 0.8})
    assert res.params.index[-1] == "alpha"
    # the Poisson QMLE is consistent for the same mean: its estimates agree with truth too,
    # and its robust SEs are larger than the NB ones (overdispersion)
    pois = gc.count_model(f"foreign_markets ~ {FORMULA_RHS}", firms)
    _check_recovery(pois, TRUE)
    assert pois.bse["cluster"] > res.bse["cluster"] * 0.9


def test_fractional_logit_recovers_coefficients(firms):
    res = gc.share_model(f"export_share ~ {FORMULA_RHS}", firms)
    _check_recovery(res, {**TRUE, "Intercept": 0.2 - 1.0})
    assert res.cov_type == "HC0"
    assert res.family == "fractional logit"
    # robust (sandwich) SEs differ from the Bernoulli model-based ones
    naive = gc.share_model(f"export_share ~ {FORMULA_RHS}", firms, cov_type="nonrobust")
    assert np.allclose(naive.params, res.params)
    assert not np.allclose(naive.bse, res.bse)


def test_fractional_logit_handles_exact_zeros_and_ones(firms):
    df = firms.copy()
    df.loc[df.index[:100], "export_share"] = 0.0
    df.loc[df.index[100:150], "export_share"] = 1.0
    res = gc.share_model("export_share ~ cluster + age", df)
    assert np.all(np.isfinite(res.params))


def test_cluster_robust_errors(firms):
    res = gc.count_model(
        "poisson_markets ~ cluster + age", firms, cov_type="cluster", groups="industry"
    )
    assert res.cov_type == "cluster"
    with pytest.raises(InputError, match="cov_type='cluster' needs groups="):
        gc.count_model("poisson_markets ~ cluster", firms, cov_type="cluster")


def test_inputs_not_mutated_and_geodataframe(firms):
    import geopandas as gpd

    before = firms.copy()
    g = gpd.GeoDataFrame(
        firms, geometry=gpd.points_from_xy(firms["cluster"], firms["age"]), crs="EPSG:3857"
    )
    res = gc.share_model("export_share ~ cluster", g)
    pd.testing.assert_frame_equal(firms, before)
    assert res.nobs == len(firms)


def test_outcome_errors(firms):
    neg = firms.assign(foreign_markets=firms["foreign_markets"] - 5)
    with pytest.raises(InputError, match="'foreign_markets' has \\d+ negative value"):
        gc.count_model("foreign_markets ~ cluster", neg)
    frac = firms.assign(foreign_markets=firms["foreign_markets"] + 0.5)
    with pytest.raises(InputError, match="non-integer values; the negative binomial"):
        gc.count_model("foreign_markets ~ cluster", frac, family="negbin")
    gc.count_model("foreign_markets ~ cluster", frac)  # Poisson QMLE accepts them
    with pytest.raises(InputError, match="outside \\[0, 1\\]"):
        gc.share_model("foreign_markets ~ cluster", firms)
    with pytest.raises(InputError, match="family must be 'poisson' or 'negbin'"):
        gc.count_model("foreign_markets ~ cluster", firms, family="zip")
    with pytest.raises(InputError, match="formula must be a string like"):
        gc.count_model("foreign_markets", firms)
    holes = firms.copy()
    holes.loc[holes.index[:4], "cluster"] = np.nan
    with pytest.raises(InputError, match="missing values; geocluster does not drop rows"):
        gc.count_model("foreign_markets ~ cluster", holes)
    with pytest.raises(InputError, match="cov_type must be one of"):
        gc.share_model("export_share ~ cluster", firms, cov_type="robust")
    const = firms.assign(z=1.0)
    with pytest.raises(ModelError, match="could not be estimated|non-finite"):
        gc.count_model("foreign_markets ~ cluster + z", const, family="negbin")


# ---------------------------------------------------------------------------
# the synthetic firms' planted count and share outcomes
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic():
    return gc.datasets.make_firms(3000, seed=4)


@pytest.mark.slow
def test_make_firms_outcomes_recovered(synthetic):
    truth = synthetic.attrs["truth"]
    fm = truth["foreign_markets"]
    nb = gc.count_model(fm["formula"], synthetic, family="negbin")
    _check_recovery(nb, {**fm["params"], "alpha": fm["alpha"]})
    es = truth["export_share"]
    frac = gc.share_model(es["formula"], synthetic)
    _check_recovery(frac, es["params"])
    # the planted decreasing returns for non-serial firms show in both baselines
    for res in (nb, frac):
        assert res.params["I(cluster ** 2)"] < 0
        assert res.params["serial:cluster"] > 0
