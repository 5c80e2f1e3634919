"""Tests for the count and share baselines (geocluster.models.outcomes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import geocluster as gc
from geocluster._base.summary import COEF_COLUMNS, Summary
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
    assert list(res.conf_int().columns) == ["ci_low", "ci_high"]
    np.testing.assert_allclose(res.conf_int().to_numpy(), np.asarray(res.sm_results.conf_int()),
                               rtol=1e-10)
    np.testing.assert_allclose(res.pvalues, np.asarray(res.sm_results.pvalues), rtol=1e-8)
    np.testing.assert_allclose(res.bse, np.asarray(res.sm_results.bse), rtol=1e-12)
    assert "poisson" in repr(res) and repr(res).startswith("<OutcomeResult")
    summary = res.summary()
    assert isinstance(summary, Summary)
    assert "poisson_markets" in str(summary) and "<table" in summary._repr_html_()
    pd.testing.assert_frame_equal(summary.to_frame(), res.to_frame())
    assert list(res.to_frame().columns) == list(COEF_COLUMNS)


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
    with pytest.raises(InputError, match=r"groups column 'industy' not found.*did you mean "
                       r"\['industry'\].*columns available"):
        gc.count_model("poisson_markets ~ cluster", firms, cov_type="cluster", groups="industy")


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
    with pytest.raises(ModelError, match="needs the form 'outcome ~ regressors'"):
        gc.count_model("foreign_markets", firms)
    holes = firms.copy()
    holes.loc[holes.index[:4], "cluster"] = np.nan
    with pytest.raises(InputError, match=r"4 rows have missing values .*cluster: 4.*"
                       "missing='drop'"):
        gc.count_model("foreign_markets ~ cluster", holes)
    with pytest.warns(gc.GeoclusterWarning, match=r"4 of \d+ rows dropped .*cluster: 4"):
        dropped = gc.count_model("foreign_markets ~ cluster", holes, missing="drop")
    assert dropped.nobs == len(holes) - 4 and dropped.n_dropped == 4
    assert dropped.data.index.equals(holes.index[4:])
    with pytest.raises(InputError, match="cov_type must be one of"):
        gc.share_model("export_share ~ cluster", firms, cov_type="robust")
    const = firms.assign(z=1.0)
    with pytest.raises(ModelError, match="regressor 'z' is constant.*Remove it"):
        gc.count_model("foreign_markets ~ cluster + z", const, family="negbin")
    with pytest.raises(ModelError, match=r"cannot parse formula.*at character 27 \('\+\*'\)"):
        gc.count_model("foreign_markets ~ cluster +* age", firms)
    with pytest.raises(ModelError, match="'clustr', not a column.*did you mean 'cluster'"):
        gc.count_model("foreign_markets ~ clustr", firms)


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


# ---------------------------------------------------------------------------
# effects on the response scale (geocluster.models.effects through OutcomeResults)
# ---------------------------------------------------------------------------
def _reference_frame(data, group, cluster):
    rows = data[data["serial"] == group]
    return pd.DataFrame(
        {
            "cluster": [cluster],
            "serial": [group],
            "age": [rows["age"].mean()],
            "industry": [rows["industry"].mode().iloc[0]],
        }
    )


def test_count_marginal_effects_response_scale(firms):
    res = gc.count_model(f"poisson_markets ~ {FORMULA_RHS}", firms)
    me = res.marginal_effects("cluster", by="serial", at=[0.5], effects="total")
    beta = res.params.to_numpy()
    V = res.cov_params().to_numpy()
    for g in (0, 1):
        x0 = np.asarray(res.model_spec.get_model_matrix(_reference_frame(firms, g, 0.5)), float)[0]
        names = list(res.params.index)
        d = np.zeros(len(names))
        d[names.index("cluster")] = 1
        d[names.index("I(cluster ** 2)")] = 2 * 0.5
        d[names.index("serial:cluster")] = g
        d[names.index("serial:I(cluster ** 2)")] = 2 * 0.5 * g

        def f(b, x0=x0, d=d):
            return np.exp(x0 @ b) * (d @ b)

        row = me[me["group"] == g].iloc[0]
        assert row["estimate"] == pytest.approx(f(beta), rel=1e-6)
        eps = 1e-6
        grad = np.array(
            [(f(beta + eps * e) - f(beta - eps * e)) / (2 * eps) for e in np.eye(len(beta))]
        )
        assert row["std_error"] == pytest.approx(np.sqrt(grad @ V @ grad), rel=1e-4)


def test_share_effects_observed_covariates(firms):
    res = gc.share_model(f"export_share ~ {FORMULA_RHS}", firms)
    me = res.marginal_effects(
        "cluster", by="serial", at=[0.0], effects="direct", covariates="observed"
    )
    rows = firms[firms["serial"] == 1].assign(cluster=0.0)
    X = np.asarray(res.model_spec.get_model_matrix(rows), float)
    p = res.params
    mu = 1 / (1 + np.exp(-(X @ p.to_numpy())))
    slope = p["cluster"] + p["serial:cluster"]  # at cluster = 0 for serial firms
    expected = np.mean(mu * (1 - mu) * slope)
    assert me.set_index("group").loc[1, "estimate"] == pytest.approx(expected, rel=1e-6)
    from geocluster.models import effects_plot

    pred = effects_plot.predicted(res, "cluster", by="serial", n_points=7)
    assert pred["predicted"].between(0, 1).all()
    fig = res.plot_effects("cluster", by="serial")
    assert "fractional logit" in fig.axes[0].get_title()


@pytest.mark.slow
def test_make_firms_turning_points_of_counts_and_shares(synthetic):
    truth = synthetic.attrs["truth"]
    for key, fit in (
        ("foreign_markets", lambda f, d: gc.count_model(f, d, family="negbin")),
        ("export_share", gc.share_model),
    ):
        res = fit(truth[key]["formula"], synthetic)
        tp = res.turning_point("cluster", by="serial").set_index("group")
        assert tp.loc[0, "inside"] and tp.loc[0, "shape"] == "inverse-U"
        assert tp.loc[0, "ci_low"] < truth[key]["turning_point_nonserial"] < tp.loc[0, "ci_high"]
        assert not tp.loc[1, "inside"]
        ut = res.u_test("cluster", by="serial").set_index("group")
        assert not ut.loc[1, "reject"]
