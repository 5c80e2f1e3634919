"""Spatial tobit (Bayesian SAR / SEM, LeSage & Pace 2009 ch. 10.3) and its ML baseline.

References: R ``AER::tobit`` (survreg, left = 0) for the baseline
(``tests/data/limited_dependent_reference.R``); exact truth of generated data
(``sales_abroad = max(intl - c, 0)`` is exactly a SAR tobit, checked as an identity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from formulaic import model_matrix

from geocluster._base.summary import COEF_COLUMNS
from geocluster.datasets.synthetic import export_outcomes, simulate_firms
from geocluster.datasets.truth import EXPORT_THRESHOLD
from geocluster.errors import GeoclusterError, GeoclusterWarning
from geocluster.models.tobit import spatial_tobit
from geocluster.weights import weights

DATA = Path(__file__).parent / "data"
FAST = {"draws": 400, "burn_in": 150, "progress": False}


@pytest.fixture(scope="module")
def table():
    return pd.read_csv(DATA / "limited_dependent.csv")


@pytest.fixture(scope="module")
def reference():
    ref = pd.read_csv(DATA / "limited_dependent_reference.csv")
    return ref[ref.model == "tobit"].set_index("term")


@pytest.fixture(scope="module")
def sim500():
    return export_outcomes(simulate_firms(500, seed=12))


def _z_scores(res, truth: dict) -> pd.Series:
    frame = res.to_frame()
    return (frame["estimate"] - pd.Series(truth).reindex(frame.index)) / frame["std_error"]


def _truth(sim) -> dict:
    t = sim.truth["sales_abroad"]
    return {**t["params"], "rho": t["rho"], "sigma2": t["sigma2"]}


def test_ml_baseline_equals_r_aer_tobit(table, reference):
    res = spatial_tobit("y_cens ~ x1 + x2", table, spatial=None, method="ml")
    for ours, theirs in {"Intercept": "(Intercept)", "x1": "x1", "x2": "x2"}.items():
        assert res.params[ours] == pytest.approx(reference.loc[theirs, "estimate"], rel=1e-5)
        assert res.bse[ours] == pytest.approx(reference.loc[theirs, "std_error"], rel=1e-4)
    log_scale = reference.loc["Log(scale)"]
    assert res.params["sigma2"] == pytest.approx(np.exp(2 * log_scale["estimate"]), rel=1e-5)
    # delta method: se(sigma2) = 2 sigma2 se(log sigma)
    assert res.bse["sigma2"] == pytest.approx(
        2 * np.exp(2 * log_scale["estimate"]) * log_scale["std_error"], rel=1e-4)
    assert res.extra["loglik"] == pytest.approx(reference.loc["loglik", "estimate"], rel=1e-9)


def test_bayesian_non_spatial_tobit_agrees_with_ml(table):
    ml = spatial_tobit("y_cens ~ x1 + x2", table, spatial=None, method="ml")
    bayes = spatial_tobit("y_cens ~ x1 + x2", table, spatial=None, draws=2000, burn_in=200,
                          seed=1, progress=False)
    z = (bayes.params - ml.params) / ml.bse
    assert z.abs().max() < 0.3, z
    assert np.allclose(bayes.bse, ml.bse, rtol=0.15)


def test_sales_abroad_is_exactly_a_sar_tobit(sim500):
    """(I - rho W)(intl - c) - X beta' equals (I - rho W) intl - X beta: the same eps."""
    firms, t = sim500.firms, sim500.truth
    with pytest.warns(GeoclusterWarning, match="connected components"):
        W = sp.csr_matrix(weights(firms, "knn:8").sparse, dtype=float)
    X = model_matrix(t["formula"].split("~")[1], firms)
    beta = pd.Series(t["beta"])[X.columns].to_numpy()
    shifted = pd.Series(t["sales_abroad"]["params"])[X.columns].to_numpy()
    S = sp.identity(len(firms)) - t["rho"] * W
    intl = firms["intl"].to_numpy()
    eps = S @ intl - X.to_numpy() @ beta
    assert np.allclose(S @ (intl - EXPORT_THRESHOLD) - X.to_numpy() @ shifted, eps,
                       atol=1e-10)
    assert np.array_equal(firms["sales_abroad"], np.maximum(intl - EXPORT_THRESHOLD, 0))
    assert np.array_equal(firms["exports"], (intl > EXPORT_THRESHOLD).astype(int))
    assert abs(eps.std() - 1) < 0.1


def test_sar_tobit_recovers_the_truth_fast(sim500):
    res = spatial_tobit(sim500.truth["sales_abroad"]["formula"], sim500.firms, seed=2,
                        **FAST)
    assert tuple(res.to_frame().columns) == COEF_COLUMNS
    assert res.params.index[-2:].tolist() == ["rho", "sigma2"]
    z = _z_scores(res, _truth(sim500))
    assert z.abs().max() < 3, z


@pytest.mark.slow
@pytest.mark.parametrize("seed", [41, 42])
def test_sar_tobit_recovers_the_truth_at_2000(seed):
    sim = export_outcomes(simulate_firms(2000, seed=seed))
    res = spatial_tobit(sim.truth["sales_abroad"]["formula"], sim.firms, draws=800,
                        burn_in=200, seed=seed, progress=False)
    z = _z_scores(res, _truth(sim))
    assert z.abs().max() < 3, z
    assert (res.diagnostics()["rhat"] < 1.1).all()


@pytest.mark.slow
def test_sar_tobit_recovers_the_truth_at_20000():
    sim = export_outcomes(simulate_firms(20_000, seed=51))
    res = spatial_tobit(sim.truth["sales_abroad"]["formula"], sim.firms, draws=400,
                        burn_in=100, chains=1, seed=51, progress=False)
    z = _z_scores(res, _truth(sim))
    assert z.abs().max() < 3, z


@pytest.mark.slow
def test_tobit_credible_intervals_cover_at_the_nominal_rate():
    hits = []
    for rep in range(50):
        sim = export_outcomes(simulate_firms(150, seed=2000 + rep,
                                             beta={"serial": 0.0, "serial:cluster": 0.0,
                                                   "serial:I(cluster ** 2)": 0.0,
                                                   "I(cluster ** 2)": 0.0}))
        res = spatial_tobit("sales_abroad ~ cluster + np.log(employees) + age", sim.firms,
                            draws=300, burn_in=100, chains=1, seed=rep, progress=False)
        truth = pd.Series(_truth(sim))[res.params.index]
        ci = res.conf_int()
        hits.append(((ci["ci_low"] <= truth) & (truth <= ci["ci_high"])).to_numpy())
    rate = np.mean(hits, axis=0)
    print("coverage of the 95% intervals:", dict(zip(res.params.index, rate, strict=True)))
    assert 0.88 <= rate.mean() <= 0.99, rate
    assert rate.min() >= 0.82, rate


def test_sem_tobit_and_impacts(sim500):
    res = spatial_tobit("sales_abroad ~ cluster", sim500.firms, spatial="error", seed=1,
                        draws=150, burn_in=50, chains=1, progress=False)
    assert res.params.index.tolist() == ["Intercept", "cluster", "lambda", "sigma2"]
    imp = res.impacts()
    beta = res.draws["beta"].reshape(-1, 2)[:, 1]
    assert imp.loc[("cluster", "direct"), "estimate"] == pytest.approx(beta.mean())
    assert imp.loc[("cluster", "indirect"), "estimate"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("column", "match"),
    [("intl", "negative values"), ("ones", "needs censored rows")],
)
def test_bad_outcomes_are_refused(sim500, column, match):
    firms = sim500.firms.assign(ones=1.0)
    with pytest.raises(GeoclusterError, match=match):
        spatial_tobit(f"{column} ~ cluster", firms, progress=False)


def test_bad_sampler_option(sim500):
    with pytest.raises(GeoclusterError, match="chains"):
        spatial_tobit("sales_abroad ~ cluster", sim500.firms, chains=0, progress=False)
