"""Spatial probit (Bayesian SAR / SEM, LeSage & Pace 2009 ch. 10) and its ML baseline.

References: R ``glm(binomial("probit"))`` for the baseline
(``tests/data/limited_dependent_reference.R``); exact truth of generated data
(``datasets.synthetic.export_outcomes``: ``exports = 1[intl > c]`` is exactly a SAR
probit); closed forms for the truncated normal, the ESS of an AR(1) chain and the
impacts' multipliers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

from geocluster._base.summary import COEF_COLUMNS, Summary
from geocluster.datasets.synthetic import export_outcomes, simulate_firms
from geocluster.errors import GeoclusterError, GeoclusterWarning
from geocluster.models import _mcmc
from geocluster.models._logdet import LULogDet
from geocluster.models.probit import spatial_probit
from geocluster.weights import weights

DATA = Path(__file__).parent / "data"
FAST = {"draws": 400, "burn_in": 150, "progress": False}


@pytest.fixture(scope="module")
def table():
    return pd.read_csv(DATA / "limited_dependent.csv")


@pytest.fixture(scope="module")
def reference():
    ref = pd.read_csv(DATA / "limited_dependent_reference.csv")
    return ref[ref.model == "probit"].set_index("term")


@pytest.fixture(scope="module")
def sim500():
    return export_outcomes(simulate_firms(500, seed=11))


@pytest.fixture(scope="module")
def fit500(sim500):
    return spatial_probit("exports ~ cluster + np.log(employees)", sim500.firms, seed=5,
                          **FAST)


def _knn(sim):
    with pytest.warns(GeoclusterWarning, match="connected components"):
        return sp.csr_matrix(weights(sim.firms, "knn:8").sparse, dtype=float)


def _z_scores(res, truth: dict) -> pd.Series:
    frame = res.to_frame()
    t = pd.Series(truth).reindex(frame.index)
    return (frame["estimate"] - t) / frame["std_error"]


# -- the ML baseline against R ----------------------------------------------------------
def test_ml_baseline_equals_r_glm_probit(table, reference):
    res = spatial_probit("y_bin ~ x1 + x2", table, spatial=None, method="ml")
    names = {"Intercept": "(Intercept)", "x1": "x1", "x2": "x2"}
    for ours, theirs in names.items():
        assert res.params[ours] == pytest.approx(reference.loc[theirs, "estimate"], rel=1e-6)
        assert res.bse[ours] == pytest.approx(reference.loc[theirs, "std_error"], rel=1e-5)
    assert res.extra["loglik"] == pytest.approx(reference.loc["loglik", "estimate"], rel=1e-9)


def test_bayesian_non_spatial_probit_agrees_with_ml(table):
    """Flat prior, n = 400: the posterior mean and sd are close to the MLE and its SE."""
    ml = spatial_probit("y_bin ~ x1 + x2", table, spatial=None, method="ml")
    bayes = spatial_probit("y_bin ~ x1 + x2", table, spatial=None, draws=2000, burn_in=200,
                           seed=1, progress=False)
    z = (bayes.params - ml.params) / ml.bse
    assert z.abs().max() < 0.25, z
    assert np.allclose(bayes.bse, ml.bse, rtol=0.15)


# -- known truth ----------------------------------------------------------------------
def test_sar_probit_recovers_the_truth_fast(sim500):
    res = spatial_probit(sim500.truth["exports"]["formula"], sim500.firms, seed=2, **FAST)
    z = _z_scores(res, {**sim500.truth["exports"]["params"], "rho": 0.4})
    assert z.abs().max() < 3, z


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22])
def test_sar_probit_recovers_the_truth_at_2000(seed):
    sim = export_outcomes(simulate_firms(2000, seed=seed))
    res = spatial_probit(sim.truth["exports"]["formula"], sim.firms, draws=800,
                         burn_in=200, seed=seed, progress=False)
    z = _z_scores(res, {**sim.truth["exports"]["params"], "rho": 0.4})
    assert z.abs().max() < 3, z
    assert (res.diagnostics()["rhat"] < 1.1).all()


@pytest.mark.slow
def test_sar_probit_recovers_the_truth_at_20000_and_its_time():
    sim = export_outcomes(simulate_firms(20_000, seed=31))
    start = time.perf_counter()
    res = spatial_probit(sim.truth["exports"]["formula"], sim.firms, draws=2000,
                         burn_in=0, chains=1, seed=31, progress=False)
    elapsed = time.perf_counter() - start
    z = _z_scores(res, {**sim.truth["exports"]["params"], "rho": 0.4})
    assert z.abs().max() < 3, z
    # target: under a minute; measured 37 s on the 2-core machine at load ~3, 181 s at
    # load ~10 (not asserted: wall time depends on the machine's load)
    print(f"SAR probit, n = 20,000, 2,000 draws: {elapsed:.1f} s")


@pytest.mark.slow
def test_credible_intervals_cover_at_the_nominal_rate():
    """50 replications at n = 150: 95% intervals cover the truth about 95% of the time."""
    hits = []
    for rep in range(50):
        sim = export_outcomes(simulate_firms(150, seed=1000 + rep,
                                             beta={"serial": 0.0, "serial:cluster": 0.0,
                                                   "serial:I(cluster ** 2)": 0.0,
                                                   "I(cluster ** 2)": 0.0}))
        res = spatial_probit("exports ~ cluster + np.log(employees) + age", sim.firms,
                             draws=300, burn_in=100, chains=1, seed=rep, progress=False)
        truth = pd.Series({**sim.truth["exports"]["params"], "rho": 0.4})[res.params.index]
        ci = res.conf_int()
        hits.append(((ci["ci_low"] <= truth) & (truth <= ci["ci_high"])).to_numpy())
    rate = np.mean(hits, axis=0)
    print("coverage of the 95% intervals:", dict(zip(res.params.index, rate, strict=True)))
    assert 0.88 <= rate.mean() <= 0.99, rate
    assert rate.min() >= 0.82, rate


# -- the sampler's pieces --------------------------------------------------------------
def test_truncated_normal_matches_the_closed_form_mean():
    rng = np.random.default_rng(0)
    m, s = 0.7, 1.3
    n = 200_000
    up = _mcmc.truncated_normal(np.full(n, m), np.full(n, s), np.ones(n, bool), rng)
    down = _mcmc.truncated_normal(np.full(n, m), np.full(n, s), np.zeros(n, bool), rng)
    a = -m / s
    assert (up > 0).all() and (down < 0).all()
    assert up.mean() == pytest.approx(m + s * stats.norm.pdf(a) / stats.norm.sf(a), abs=0.01)
    assert down.mean() == pytest.approx(m - s * stats.norm.pdf(a) / stats.norm.cdf(a), abs=0.01)
    far = _mcmc.truncated_normal(np.array([-40.0]), np.array([1.0]), np.array([True]), rng)
    assert far[0] >= 0 and np.isfinite(far[0])
    far = _mcmc.truncated_normal(np.full(n, 40.0), np.ones(n), np.zeros(n, bool), rng)
    assert (far < 0).all() and far.mean() == pytest.approx(-1 / 40, rel=0.05)


def test_ess_and_rhat_of_known_chains():
    """AR(1) with phi: ESS = n (1 - phi) / (1 + phi); chains with different means: R-hat > 1."""
    rng = np.random.default_rng(1)
    phi, n = 0.8, 20_000
    x = np.empty((4, n))
    x[:, 0] = rng.normal(size=4)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=4)
    assert _mcmc.effective_sample_size(x) == pytest.approx(4 * n * (1 - phi) / (1 + phi),
                                                           rel=0.12)
    assert _mcmc.split_rhat(x) == pytest.approx(1.0, abs=0.01)
    assert _mcmc.split_rhat(x + np.arange(4)[:, None]) > 1.5


def test_colours_are_conditionally_independent(sim500):
    W = _knn(sim500)
    H = (sp.identity(W.shape[0]) - 0.5 * W).T @ (sp.identity(W.shape[0]) - 0.5 * W)
    colours = _mcmc.colour_classes(W, np.arange(W.shape[0]))
    assert sorted(np.concatenate(colours).tolist()) == list(range(W.shape[0]))
    for c in colours:
        block = H[c][:, c].toarray()
        assert np.count_nonzero(block - np.diag(np.diag(block))) == 0


def test_logdet_grid_matches_exact_lu(sim500):
    W = _knn(sim500)
    grid = np.round(np.arange(-0.999, 0.9995, 0.001), 10)
    values, _ = _mcmc.logdet_grid(W, grid, np.random.default_rng(0))
    lu = LULogDet(W)
    for rho in (-0.9, -0.3, 0.111, 0.5, 0.9, 0.99):
        i = int(np.argmin(np.abs(grid - rho)))
        assert values[i] == pytest.approx(lu(grid[i]), abs=2e-3)


# -- the results protocol, impacts, effects by group ------------------------------------
def test_results_protocol(fit500):
    frame = fit500.to_frame()
    assert tuple(frame.columns) == COEF_COLUMNS and frame.index.name == "term"
    assert frame.index.tolist() == ["Intercept", "cluster", "np.log(employees)", "rho"]
    sample = fit500.sample()
    assert len(sample) == 2 * FAST["draws"]
    assert np.allclose(frame["estimate"], sample.mean())
    assert np.allclose(frame["std_error"], sample.std(ddof=1))
    assert np.allclose(frame["ci_low"], sample.quantile(0.025))
    tail = np.minimum((sample > 0).mean(), (sample < 0).mean())
    assert np.allclose(frame["p_value"], np.minimum(2 * tail, 1))
    assert fit500.pvalues.name == "p_value"
    summary = fit500.summary()
    assert isinstance(summary, Summary) and "posterior mean" in str(summary)
    assert "SAR probit" in repr(fit500)
    assert set(fit500.diagnostics().columns) == {"ess", "rhat"}


def test_impacts_equal_the_lesage_pace_formula(fit500, sim500):
    """direct = phi(Phi^-1(mean y)) beta tr((I - rho W)^-1)/n, total = ... beta/(1 - rho)."""
    W = _knn(sim500).toarray()
    lam = np.linalg.eigvals(W)
    beta = fit500.draws["beta"].reshape(-1, 3)[:, 1]
    rho = fit500.draws["rho"].ravel()
    pdf = stats.norm.pdf(stats.norm.ppf(sim500.firms["exports"].mean()))
    direct = pdf * beta * np.array([np.mean(1 / (1 - r * lam)).real for r in rho])
    total = pdf * beta / (1 - rho)
    imp = fit500.impacts().loc["cluster"]
    assert imp.loc["direct", "estimate"] == pytest.approx(direct.mean(), rel=1e-4)
    assert imp.loc["total", "estimate"] == pytest.approx(total.mean(), rel=1e-10)
    assert imp.loc["indirect", "estimate"] == pytest.approx((total - direct).mean(), rel=1e-3)
    assert imp.loc["total", "ci_low"] == pytest.approx(np.quantile(total, 0.025), rel=1e-10)


def test_effects_by_innovator_type_on_the_probability(table):
    """The ML probit's marginal effect at a reference row is phi(x'b) b (the probit link)."""
    df = table.assign(group=np.where(table.x2 > 1, "high", "low"))
    res = spatial_probit("y_bin ~ x1 + x2", df, spatial=None, method="ml")
    me = res.marginal_effects("x1", by="group", at=[0.0], effects=("direct",))
    for _, row in me.iterrows():
        x2 = df.loc[df.group == row["group"], "x2"].mean()
        eta = res.params["Intercept"] + res.params["x2"] * x2
        assert row["estimate"] == pytest.approx(stats.norm.pdf(eta) * res.params["x1"],
                                                rel=1e-5)
    fig = res.plot_effects("x1", by="group")
    assert len(fig.axes[0].lines) >= 2


def test_sem_probit_runs_and_names_lambda(sim500):
    res = spatial_probit("exports ~ cluster", sim500.firms, spatial="error", seed=1,
                         draws=150, burn_in=50, chains=1, progress=False)
    assert res.params.index[-1] == "lambda" and -1 < res.params["lambda"] < 1


def test_same_seed_same_draws_and_input_untouched(sim500):
    before = sim500.firms.copy()
    a = spatial_probit("exports ~ cluster", sim500.firms, seed=3, draws=50, burn_in=10,
                       chains=1, progress=False)
    b = spatial_probit("exports ~ cluster", sim500.firms, seed=3, draws=50, burn_in=10,
                       chains=1, progress=False)
    assert np.array_equal(a.sample(), b.sample())
    pd.testing.assert_frame_equal(sim500.firms, before)
    assert a.extra["seed"] == 3
    thinned = spatial_probit("exports ~ cluster", sim500.firms, seed=3, draws=20, thin=3,
                             burn_in=5, chains=2, progress=False)
    assert thinned.draws["beta"].shape == (2, 20, 2) and len(thinned.sample()) == 40


def test_regress_points_to_the_probit_function(sim500):
    from geocluster.models.regress import regress

    with pytest.raises(GeoclusterError, match="spatial_probit"):
        regress("exports ~ cluster", sim500.firms, model="probit")


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spatial": "durbin"}, "spatial='durbin'"),
        ({"method": "ml"}, "method='ml' is the non-spatial baseline"),
        ({"draws": 0}, "draws"),
        ({"thin": -1}, "thin"),
        ({"weights": None}, "needs weights="),
        ({"missing": "ignore"}, "missing='ignore'"),
    ],
)
def test_bad_options_name_the_argument(sim500, kwargs, match):
    with pytest.raises(GeoclusterError, match=match):
        spatial_probit("exports ~ cluster", sim500.firms, progress=False, **kwargs)


def test_a_non_binary_outcome_is_refused(sim500):
    with pytest.raises(GeoclusterError, match="'intl' must hold 0 and 1"):
        spatial_probit("intl ~ cluster", sim500.firms, progress=False)
    with pytest.raises(GeoclusterError, match="all rows are 1"):
        spatial_probit("one ~ cluster", sim500.firms.assign(one=1), progress=False)


def test_the_ml_baseline_has_no_draws_to_diagnose(table):
    res = spatial_probit("y_bin ~ x1 + x2", table, spatial=None, method="ml")
    with pytest.raises(GeoclusterError, match="no posterior draws"):
        res.diagnostics()
    assert "maximum likelihood" in repr(res)
    imp = res.impacts().loc["x1"]
    assert imp.loc["indirect", "estimate"] == 0.0
