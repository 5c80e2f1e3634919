"""Tests for marginal effects, turning points, the U-test and the effects figure.

Most tests use small stand-in results objects (statsmodels OLS on a formulaic design,
or fixed parameters with a dense W) so that every number can be checked against an
independent computation: the analytic derivative of the polynomial, dense
``(I - rho W)^-1`` for the LeSage-Pace effects, Monte Carlo for the delta method, and
coverage / size simulations for the turning-point intervals and the Lind-Mehlum test.
The last tests run the same functions on the real ``gc.regress`` with ``make_firms``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from formulaic import model_matrix
from scipy import stats

import geocluster as gc
from geocluster._base.plotting import INNOVATOR_COLORS
from geocluster.errors import InputError, ModelError
from geocluster.models import effects, effects_plot
from geocluster.models.protocol import EffectsInputs


# ---------------------------------------------------------------------------
# stand-in results objects
# ---------------------------------------------------------------------------
class OLSStandIn:
    """The attributes effects.py relies on, from statsmodels OLS on a formulaic design."""

    model = "ols"
    rho = None

    def __init__(self, formula: str, data: pd.DataFrame):
        mm = model_matrix(formula, data)
        X = mm.rhs
        self._X = np.asarray(X, float)
        fit = sm.OLS(np.asarray(mm.lhs, float).ravel(), self._X).fit()
        self.params = pd.Series(np.asarray(fit.params), index=list(X.columns))
        self._cov = pd.DataFrame(
            np.asarray(fit.cov_params()), index=self.params.index, columns=self.params.index
        )
        self.formula = formula
        self.model_spec = X.model_spec
        self.data = data
        self.nobs = len(data)

    def refit(self, y: np.ndarray) -> None:
        """Same design, new outcome: OLS by numpy (fast for simulation loops)."""
        X = self._X
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        s2 = resid @ resid / (len(y) - X.shape[1])
        cov = s2 * np.linalg.inv(X.T @ X)
        self.params = pd.Series(beta, index=self.params.index)
        self._cov = pd.DataFrame(cov, index=self.params.index, columns=self.params.index)

    def cov_params(self):
        return self._cov

    def effects_inputs(self) -> EffectsInputs:
        return EffectsInputs(model="ols", formula=self.formula, params=self.params,
                             cov=self._cov, model_spec=self.model_spec, data=self.data,
                             nobs=self.nobs, label="ols", t_df=self.nobs - len(self.params))


class SpatialStandIn:
    """Fixed parameters, covariance and a dense W: a lag or Durbin 'fit'."""

    def __init__(self, model, formula, data, params, cov, W, *, slx=None):
        self.model = model
        self.formula = formula
        self.data = data
        self.model_spec = model_matrix(formula, data).rhs.model_spec
        self.params = pd.Series(params)
        self._cov = pd.DataFrame(cov, index=self.params.index, columns=self.params.index)
        self.W = W
        self.eig = eigenvalues(W)
        self.nobs = len(data)
        self.rho = float(self.params["rho"]) if "rho" in self.params else None
        self.slx_pairs = tuple(zip(*slx, strict=True)) if slx is not None else ()

    def cov_params(self):
        return self._cov

    def mean_multipliers(self, rho=None):
        rho = self.rho if rho is None else rho
        inv = 1 / (1 - rho * self.eig)
        return {"direct": float(np.mean(inv).real), "total": 1 / (1 - rho),
                "direct_wx": float(np.mean(inv * self.eig).real)}

    def effects_inputs(self) -> EffectsInputs:
        spatial = self.model in ("lag", "durbin")
        return EffectsInputs(model=self.model, formula=self.formula, params=self.params,
                             cov=self._cov, model_spec=self.model_spec, data=self.data,
                             nobs=self.nobs, slx_pairs=self.slx_pairs, label=self.model,
                             multipliers=self.mean_multipliers if spatial else None)


_EIG: dict[int, np.ndarray] = {}
_INV: dict[tuple[int, float], np.ndarray] = {}


def eigenvalues(W: np.ndarray) -> np.ndarray:
    """Eigenvalues of W, computed once per matrix (BLAS is slow on a loaded machine)."""
    if id(W) not in _EIG:
        _EIG[id(W)] = np.linalg.eigvals(W)
    return _EIG[id(W)]


def inverse(W: np.ndarray, rho: float) -> np.ndarray:
    key = (id(W), float(rho))
    if key not in _INV:
        _INV[key] = np.linalg.inv(np.eye(len(W)) - rho * W)
    return _INV[key]


def knn_w(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    W = np.zeros((n, n))
    nn = np.argsort(d, axis=1)[:, :k]
    W[np.repeat(np.arange(n), k), nn.ravel()] = 1.0 / k
    return W


# true curves: non-serial 0.5 x - 0.25 x^2 (top at 1), serial 0.9 x - 0.05 x^2 (top at 9)
B = {"x": 0.5, "x2": -0.25, "sx": 0.4, "sx2": 0.2}


def simulate(n: int, rng, *, noise: float = 0.5) -> pd.DataFrame:
    x = rng.normal(size=n)
    serial = (rng.random(n) < 0.35).astype(int)
    age = rng.gamma(2, 5, n)
    emp = np.exp(rng.normal(3, 1, n))
    y = (
        0.5
        + 0.6 * serial
        + B["x"] * x
        + B["x2"] * x**2
        + serial * (B["sx"] * x + B["sx2"] * x**2)
        + 0.01 * age
        + 0.2 * np.log(emp)
        + rng.normal(0, noise, n)
    )
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "serial": serial,
            "age": age,
            "employees": emp,
            "industry": rng.choice(["a", "b", "c"], n),
        }
    )


FORMULA = "y ~ serial * (x + I(x**2)) + age + np.log(employees) + C(industry)"


@pytest.fixture(scope="module")
def ols():
    data = simulate(2000, np.random.default_rng(0))
    return OLSStandIn(FORMULA, data)


def _true_slope(group: int, c: float) -> float:
    return B["x"] + 2 * B["x2"] * c + group * (B["sx"] + 2 * B["sx2"] * c)


# ---------------------------------------------------------------------------
# marginal effects
# ---------------------------------------------------------------------------
def test_ols_marginal_effects_equal_analytic_derivative(ols):
    at = [-1.0, 0.0, 0.5, 1.5]
    me = effects.marginal_effects(ols, "x", by="serial", at=at)
    assert list(me.columns) == [
        "group",
        "at",
        "effect",
        "estimate",
        "std_error",
        "statistic",
        "p_value",
        "ci_low",
        "ci_high",
    ]
    assert len(me) == 2 * len(at) * 2
    p, V = ols.params, ols.cov_params()
    names = ["x", "I(x ** 2)", "serial:x", "serial:I(x ** 2)"]
    df = ols.nobs - len(p)
    for _, row in me.iterrows():
        g, c = int(row["group"]), row["at"]
        grad = pd.Series([1.0, 2 * c, g, 2 * c * g], index=names)
        assert row["estimate"] == pytest.approx(float(grad @ p[names]), abs=1e-8)
        se = float(np.sqrt(grad @ V.loc[names, names] @ grad))
        assert row["std_error"] == pytest.approx(se, rel=1e-6)
        assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(row["statistic"]), df), rel=1e-6)
        q = stats.t.ppf(0.975, df)
        assert row["ci_low"] == pytest.approx(row["estimate"] - q * se, rel=1e-6)
    direct = me[me["effect"] == "direct"].reset_index(drop=True)
    total = me[me["effect"] == "total"].reset_index(drop=True)
    pd.testing.assert_series_equal(direct["estimate"], total["estimate"])
    assert me.attrs["multiplier_derivative"] == "none"


def test_ols_marginal_effects_recover_truth(ols):
    me = effects.marginal_effects(ols, "x", by="serial", at=[-1.0, 0.0, 1.0], effects="total")
    for _, row in me.iterrows():
        truth = _true_slope(int(row["group"]), row["at"])
        assert abs(row["estimate"] - truth) < 4 * row["std_error"]
    # serial innovators gain more from clustering above the mean
    at1 = me[me["at"] == 1.0].set_index("group")["estimate"]
    assert at1[1] > at1[0] + 0.3


def test_default_levels_are_pooled_quartiles(ols):
    me = effects.marginal_effects(ols, "x", by="serial", effects=["direct"])
    q = np.quantile(ols.data["x"], [0.25, 0.5, 0.75])
    assert np.allclose(sorted(me["at"].unique()), q)
    assert set(me["group"]) == {0, 1}


def test_covariates_mean_versus_observed():
    """With x interacted with log(employees), 'mean' uses log(mean employees) and
    'observed' the mean of log(employees): check both against the analytic values."""
    data = simulate(800, np.random.default_rng(3))
    data["y"] += 0.3 * data["x"] * np.log(data["employees"])
    res = OLSStandIn("y ~ x + I(x**2) + np.log(employees) + x:np.log(employees) + age", data)
    p = res.params
    b = p["x"] + 2 * p["I(x ** 2)"] * 0.5
    inter = [c for c in p.index if c.startswith("x:")][0]
    mean_me = effects.marginal_effects(res, "x", at=[0.5], effects="direct")
    obs_me = effects.marginal_effects(res, "x", at=[0.5], effects="direct", covariates="observed")
    log_mean = np.log(data["employees"].mean())
    mean_log = np.log(data["employees"]).mean()
    assert mean_me["estimate"].iloc[0] == pytest.approx(b + p[inter] * log_mean, rel=1e-7)
    assert obs_me["estimate"].iloc[0] == pytest.approx(b + p[inter] * mean_log, rel=1e-7)
    assert mean_me["group"].iloc[0] == "all"


def test_inputs_not_mutated(ols):
    before = ols.data.copy()
    params = ols.params.copy()
    effects.marginal_effects(ols, "x", by="serial", covariates="observed", at=[0.0])
    effects.turning_point(ols, "x", by="serial")
    pd.testing.assert_frame_equal(ols.data, before)
    pd.testing.assert_series_equal(ols.params, params)


# ---------------------------------------------------------------------------
# spatial multipliers and the delta method
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lag_setup():
    n = 150
    rng = np.random.default_rng(5)
    data = simulate(n, rng)
    W = knn_w(n, 6, seed=6)
    ols = OLSStandIn("y ~ serial * (x + I(x**2)) + age", data)
    params = {**ols.params.to_dict(), "rho": 0.45}
    k = len(params)
    cov = np.zeros((k, k))
    cov[:-1, :-1] = ols.cov_params().to_numpy()
    cov[-1, -1] = 0.05**2
    # correlation between rho and the slope coefficients, as in real fits
    idx = list(params).index("x")
    cov[idx, -1] = cov[-1, idx] = -0.4 * np.sqrt(cov[idx, idx]) * 0.05
    return data, W, params, cov


def _lp_effects(W, rho, slope, slope_theta=0.0):
    """LeSage-Pace scalar summaries from the dense inverse."""
    n = len(W)
    S = inverse(W, rho)
    direct = (np.trace(S) * slope + np.trace(S @ W) * slope_theta) / n
    total = (S.sum() * slope + (S @ W).sum() * slope_theta) / n
    return direct, total


def test_lag_effects_equal_dense_lesage_pace(lag_setup):
    data, W, params, cov = lag_setup
    res = SpatialStandIn("lag", "y ~ serial * (x + I(x**2)) + age", data, params, cov, W)
    me = effects.marginal_effects(res, "x", by="serial", at=[-0.5, 1.0])
    p = res.params
    for _, row in me.iterrows():
        g, c = int(row["group"]), row["at"]
        slope = (
            p["x"] + 2 * c * p["I(x ** 2)"] + g * (p["serial:x"] + 2 * c * p["serial:I(x ** 2)"])
        )
        direct, total = _lp_effects(W, p["rho"], slope)
        expected = direct if row["effect"] == "direct" else total
        assert row["estimate"] == pytest.approx(expected, rel=1e-9)
    assert me.attrs["multiplier_derivative"] == "numerical"
    assert me.attrs["total_multiplier"] == pytest.approx(1 / (1 - 0.45))


@pytest.mark.slow
def test_lag_delta_method_matches_monte_carlo(lag_setup):
    data, W, params, cov = lag_setup
    res = SpatialStandIn("lag", "y ~ serial * (x + I(x**2)) + age", data, params, cov, W)
    me = effects.marginal_effects(res, "x", by="serial", at=[0.8]).set_index(["group", "effect"])
    rng = np.random.default_rng(7)
    draws = rng.multivariate_normal(res.params.to_numpy(), cov, size=20000)
    names = list(res.params.index)
    col = {n: draws[:, i] for i, n in enumerate(names)}
    eig = eigenvalues(W)
    m_d = np.mean(1 / (1 - col["rho"][:, None] * eig[None, :]), axis=1).real
    m_t = 1 / (1 - col["rho"])
    c = 0.8
    for g in (0, 1):
        slope = (
            col["x"]
            + 2 * c * col["I(x ** 2)"]
            + g * (col["serial:x"] + 2 * c * col["serial:I(x ** 2)"])
        )
        sd_direct = np.std(slope * m_d)
        sd_total = np.std(slope * m_t)
        tol = 0.05
        assert me.loc[(g, "direct"), "std_error"] == pytest.approx(sd_direct, rel=tol)
        assert me.loc[(g, "total"), "std_error"] == pytest.approx(sd_total, rel=0.05)


def test_durbin_effects_equal_dense_lesage_pace(lag_setup):
    data, W, _, _ = lag_setup
    formula = "y ~ x + I(x**2) + age"
    params = {
        "Intercept": 0.3,
        "x": 0.6,
        "I(x ** 2)": -0.2,
        "age": 0.01,
        "W_x": 0.25,
        "W_I(x ** 2)": -0.1,
        "W_age": 0.0,
        "rho": 0.35,
    }
    k = len(params)
    A = np.random.default_rng(8).normal(size=(k, k)) * 0.02
    cov = A @ A.T + np.eye(k) * 1e-4
    slx = (["x", "I(x ** 2)", "age"], ["W_x", "W_I(x ** 2)", "W_age"])
    res = SpatialStandIn("durbin", formula, data, params, cov, W, slx=slx)
    me = effects.marginal_effects(res, "x", at=[-1.0, 0.5]).set_index(["at", "effect"])
    for c in (-1.0, 0.5):
        slope = params["x"] + 2 * c * params["I(x ** 2)"]
        slope_t = params["W_x"] + 2 * c * params["W_I(x ** 2)"]
        direct, total = _lp_effects(W, params["rho"], slope, slope_t)
        assert me.loc[(c, "direct"), "estimate"] == pytest.approx(direct, rel=1e-9)
        assert me.loc[(c, "total"), "estimate"] == pytest.approx(total, rel=1e-9)
    # turning point of the total effect: (b1 + t1) + 2 (b2 + t2) x = 0
    tp = effects.turning_point(res, "x")
    assert tp["turning_point"].iloc[0] == pytest.approx(-(0.6 + 0.25) / (2 * (-0.2 - 0.1)))


def test_durbin_without_slx_pairs_has_no_theta_part(lag_setup):
    """The W_x terms enter the effects only through the pairs the result declares."""
    data, W, _, _ = lag_setup
    params = {"Intercept": 0.3, "x": 0.6, "W_x": 0.25, "rho": 0.35}
    cov = np.eye(4) * 1e-3
    declared = SpatialStandIn("durbin", "y ~ x", data, params, cov, W, slx=(["x"], ["W_x"]))
    undeclared = SpatialStandIn("durbin", "y ~ x", data, params, cov, W)
    me = effects.marginal_effects(declared, "x", at=[0.0]).set_index("effect")
    bare = effects.marginal_effects(undeclared, "x", at=[0.0]).set_index("effect")
    direct, total = _lp_effects(W, 0.35, 0.6, 0.25)
    assert me.loc["direct", "estimate"] == pytest.approx(direct, rel=1e-9)
    assert me.loc["total", "estimate"] == pytest.approx(total, rel=1e-9)
    assert bare.loc["total", "estimate"] == pytest.approx(0.6 / (1 - 0.35), rel=1e-9)


def test_effects_need_the_effects_inputs_protocol(ols):
    class NotAResult:
        params = ols.params
        model = "ols"

    with pytest.raises(ModelError, match=r"NotAResult\) does not provide effects_inputs\(\)"):
        effects.marginal_effects(NotAResult(), "x")


# ---------------------------------------------------------------------------
# turning points
# ---------------------------------------------------------------------------
def test_turning_point_estimates_and_intervals(ols):
    tp = effects.turning_point(ols, "x", by="serial").set_index("group")
    p, V = ols.params, ols.cov_params()
    a, b = p["x"], 2 * p["I(x ** 2)"]
    assert tp.loc[0, "turning_point"] == pytest.approx(-a / b, rel=1e-7)
    grad = np.array([-1 / b, a / b**2 * 2])  # w.r.t. (b_x, b_x2)
    names = ["x", "I(x ** 2)"]
    se = float(np.sqrt(grad @ V.loc[names, names].to_numpy() @ grad))
    assert tp.loc[0, "std_error"] == pytest.approx(se, rel=1e-5)
    row = tp.loc[0]
    assert row["ci_low"] < 1.0 < row["ci_high"]  # truth: top at 1
    assert row["fieller_low"] < row["turning_point"] < row["fieller_high"]
    assert row["shape"] == "inverse-U" and row["inside"]
    assert row["x_min"] == pytest.approx(ols.data.loc[ols.data.serial == 0, "x"].min())
    # Fieller bounds are where the slope is exactly significant at 5%
    for bound in (row["fieller_low"], row["fieller_high"]):
        g = np.array([1.0, 2 * bound])
        s = g @ p[names].to_numpy()
        s_se = np.sqrt(g @ V.loc[names, names].to_numpy() @ g)
        assert abs(s / s_se) == pytest.approx(stats.t.ppf(0.975, ols.nobs - len(p)), rel=1e-6)
    # serial innovators: top far outside the data
    assert not tp.loc[1, "inside"]
    assert tp.loc[1, "turning_point"] > tp.loc[1, "x_max"]


@pytest.mark.slow
def test_turning_point_interval_coverage():
    """Delta and Fieller 95% intervals cover the true turning point about 95% of the time."""
    rng = np.random.default_rng(21)
    hits_delta = hits_fieller = 0
    reps = 100
    x = rng.uniform(-1, 3, 300)  # fixed design, new errors each time
    res = OLSStandIn("y ~ x + I(x**2)", pd.DataFrame({"x": x, "y": x}))
    for _ in range(reps):
        res.refit(0.5 * x - 0.25 * x**2 + rng.normal(0, 0.5, 300))  # top at 1
        tp = effects.turning_point(res, "x").iloc[0]
        hits_delta += tp["ci_low"] <= 1.0 <= tp["ci_high"]
        hits_fieller += tp["fieller_low"] <= 1.0 <= tp["fieller_high"]
    assert 0.88 <= hits_delta / reps <= 0.995
    assert 0.88 <= hits_fieller / reps <= 0.995


# ---------------------------------------------------------------------------
# Lind-Mehlum U-test
# ---------------------------------------------------------------------------
def _fit_curve(a1, a2, lo, hi, n=400, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, n)
    y = a1 * x + a2 * x**2 + rng.normal(0, noise, n)
    return OLSStandIn("y ~ x + I(x**2)", pd.DataFrame({"x": x, "y": y}))


def test_u_test_matches_lind_mehlum_formula(ols):
    ut = effects.u_test(ols, "x", by="serial").set_index("group")
    p, V = ols.params, ols.cov_params()
    names = ["x", "I(x ** 2)"]
    df = ols.nobs - len(p)
    row = ut.loc[0]
    t_ends = []
    for x0 in (row["x_low"], row["x_high"]):
        g = np.array([1.0, 2 * x0])
        t_ends.append(g @ p[names].to_numpy() / np.sqrt(g @ V.loc[names, names].to_numpy() @ g))
    assert row["t_low"] == pytest.approx(t_ends[0], rel=1e-6)
    assert row["t_high"] == pytest.approx(t_ends[1], rel=1e-6)
    assert row["statistic"] == pytest.approx(min(t_ends[0], -t_ends[1]), rel=1e-6)
    assert row["p_value"] == pytest.approx(stats.t.sf(row["statistic"], df), rel=1e-6)
    assert row["reject"]  # planted inverted U for non-serial firms
    assert not ut.loc[1, "reject"]  # serial innovators: still rising at the top
    assert ut.loc[0, "turning_point"] == pytest.approx(
        effects.turning_point(ols, "x", by="serial").set_index("group").loc[0, "turning_point"]
    )


def test_u_test_shapes():
    inv_u = _fit_curve(1.0, -0.5, -1, 3, seed=1)  # top at 1
    assert effects.u_test(inv_u, "x")["reject"].iloc[0]
    assert not effects.u_test(inv_u, "x", shape="u")["reject"].iloc[0]
    linear = _fit_curve(1.0, 0.0, 0, 3, seed=2)  # monotone
    res = effects.u_test(linear, "x").iloc[0]
    assert not res["reject"] and res["p_value"] > 0.2
    u = _fit_curve(-1.0, 0.5, -1, 3, seed=3)
    assert effects.u_test(u, "x", shape="u")["reject"].iloc[0]
    # concave and still rising over the range: decreasing returns, not an inverted U
    concave = _fit_curve(1.0, -0.1, 0, 3, seed=4, noise=0.2)
    assert not effects.u_test(concave, "x")["reject"].iloc[0]
    dr = effects.u_test(concave, "x", shape="decreasing_returns").iloc[0]
    assert dr["reject"] and dr["slope_high"] > 0
    assert not effects.u_test(linear, "x", shape="decreasing_returns")["reject"].iloc[0]
    # bounds narrow the interval: on the rising half only there is no inverted U
    assert not effects.u_test(inv_u, "x", bounds=(-1, 0.5))["reject"].iloc[0]


@pytest.mark.slow
def test_u_test_size_at_the_boundary_of_h0():
    """Top exactly at x_high (H0 true, least favourable): rejection rate about alpha."""
    rng = np.random.default_rng(31)
    reps, rejections = 150, 0
    x = np.linspace(0, 2, 200)
    res = OLSStandIn("y ~ x + I(x**2)", pd.DataFrame({"x": x, "y": x}))
    for _ in range(reps):
        res.refit(2 * x - 0.5 * x**2 + rng.normal(0, 0.5, 200))  # slope 0 at x = 2
        rejections += bool(effects.u_test(res, "x", bounds=(0, 2))["reject"].iloc[0])
    assert 0.01 <= rejections / reps <= 0.10


# ---------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------
def test_plot_effects_figure(ols):
    from matplotlib.figure import Figure

    fig = effects_plot.plot_effects(ols, "x", by="serial", n_points=30)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["non-serial", "serial"]
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    vlines = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    # the non-serial turning point (inside the range) is marked, the serial one is not
    tp = effects.turning_point(ols, "x", by="serial").set_index("group")
    assert len(vlines) == 1 and vlines[0].get_color() == INNOVATOR_COLORS["non-serial"]
    assert vlines[0].get_xdata()[0] == pytest.approx(tp.loc[0, "turning_point"])
    assert [line.get_color() for line in lines] == [
        INNOVATOR_COLORS["non-serial"],
        INNOVATOR_COLORS["serial"],
    ]
    assert ax.get_xlabel() == "x" and "predicted y" in ax.get_ylabel()
    assert "Predicted y" in ax.get_title()
    # the curve is the prediction at group means, over the group's observed range
    pred = effects_plot.predicted(ols, "x", by="serial", n_points=30)
    non = pred[pred["group"] == 0]
    assert np.allclose(lines[0].get_ydata(), non["predicted"])
    assert lines[0].get_xdata()[0] == pytest.approx(ols.data.loc[ols.data.serial == 0, "x"].min())
    assert (non["ci_low"] < non["predicted"]).all() and (non["predicted"] < non["ci_high"]).all()
    assert len(ax.collections) == 2  # two confidence bands


def test_plot_effects_three_innovator_types_and_existing_axes():
    from geocluster._base.plotting import new_figure

    data = simulate(600, np.random.default_rng(9))
    data["innovator_type"] = np.where(
        data["employees"] > 60, "large", np.where(data["serial"] == 1, "serial", "non-serial")
    )
    res = OLSStandIn("y ~ C(innovator_type) * (x + I(x**2)) + age", data)
    fig0, ax = new_figure()
    fig = effects_plot.plot_effects(res, "x", by="innovator_type", ax=ax)
    assert fig is fig0
    colors = {
        line.get_label(): line.get_color()
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }
    assert colors == {k: INNOVATOR_COLORS[k] for k in ("large", "non-serial", "serial")}
    me = effects.marginal_effects(res, "x", by="innovator_type", at=[0.0], effects="total")
    assert set(me["group"]) == {"large", "non-serial", "serial"}


def test_lag_prediction_includes_total_multiplier(lag_setup):
    data, W, params, cov = lag_setup
    res = SpatialStandIn("lag", "y ~ serial * (x + I(x**2)) + age", data, params, cov, W)
    with_m = effects_plot.predicted(res, "x", by="serial", n_points=5)
    without = effects_plot.predicted(res, "x", by="serial", n_points=5, multiplier="none")
    assert np.allclose(with_m["predicted"], without["predicted"] / (1 - params["rho"]))
    fig = effects_plot.plot_effects(res, "x", by="serial")
    assert "spatial multiplier" in fig.axes[0].get_ylabel()


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def test_errors(ols):
    with pytest.raises(ModelError, match="variable 'cluster' is not a column used by the formula"):
        effects.marginal_effects(ols, "cluster")
    with pytest.raises(InputError, match="by='innovator' is not a column"):
        effects.marginal_effects(ols, "x", by="innovator")
    with pytest.raises(InputError, match="by='age' has \\d+ distinct values; effects by group"):
        effects.marginal_effects(ols, "x", by="age")
    with pytest.raises(InputError, match="covariates must be 'mean' or 'observed'"):
        effects.marginal_effects(ols, "x", covariates="median")
    with pytest.raises(InputError, match="effects must be 'direct' and/or 'total'"):
        effects.marginal_effects(ols, "x", effects=["indirect"])
    with pytest.raises(InputError, match="at must be one or more finite numbers"):
        effects.marginal_effects(ols, "x", at=[np.nan])
    with pytest.raises(InputError, match="alpha=5 must be a number between 0 and 1"):
        effects.turning_point(ols, "x", alpha=5)
    with pytest.raises(InputError, match="shape must be 'inverse_u', 'u' or"):
        effects.u_test(ols, "x", shape="n")
    with pytest.raises(InputError, match="bounds must be finite with x_low < x_high"):
        effects.u_test(ols, "x", bounds=(2, 1))
    with pytest.raises(ModelError,
                       match=r"the object given \(Series\) does not provide effects_inputs\(\)"):
        effects.marginal_effects(ols.params, "x")
    linear = OLSStandIn("y ~ x + age", ols.data)
    with pytest.raises(ModelError, match="does not change with 'x'.*add a quadratic term"):
        effects.turning_point(linear, "x")
    cubic = OLSStandIn("y ~ x + I(x**2) + I(x**3)", ols.data)
    with pytest.raises(ModelError, match="is not linear in 'x'"):
        effects.turning_point(cubic, "x")
    # the U-test still works for the cubic (it only needs the slopes at the ends)
    assert np.isnan(effects.u_test(cubic, "x")["turning_point"].iloc[0])


# ---------------------------------------------------------------------------
# with the real gc.regress and make_firms
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def firms():
    return gc.datasets.make_firms(1500, seed=12)


@pytest.mark.slow
def test_real_lag_regression_shows_planted_pattern(firms):
    truth = firms.attrs["truth"]
    res = gc.regress(truth["formula"], firms, model="lag", weights="knn:8")
    tp = res.turning_point("cluster", by="serial").set_index("group")
    # non-serial firms: inverted U with its top inside the range, near the planted 1.0
    assert tp.loc[0, "inside"] and tp.loc[0, "shape"] == "inverse-U"
    assert tp.loc[0, "ci_low"] < truth["turning_point_nonserial"] < tp.loc[0, "ci_high"]
    # serial innovators: top beyond the observed range
    assert not tp.loc[1, "inside"]
    me = res.marginal_effects("cluster", by="serial", at=[0.0, 1.0])
    direct = me[me["effect"] == "direct"].set_index(["group", "at"])["estimate"]
    assert direct[(1, 1.0)] > direct[(0, 1.0)]  # serial innovators gain more
    # total effect = slope / (1 - rho), from the params
    p = res.params
    total = me[me["effect"] == "total"].set_index(["group", "at"])["estimate"]
    assert total[(0, 1.0)] == pytest.approx(
        (p["cluster"] + 2 * p["I(cluster ** 2)"]) / (1 - p["rho"]), rel=1e-7
    )
    assert me.attrs["multiplier_derivative"] == "numerical"
    ut = res.u_test("cluster", by="serial").set_index("group")
    assert ut.loc[0, "t_low"] > 0 and ut.loc[0, "t_high"] < 0
    assert not ut.loc[1, "reject"]
    fig = res.plot_effects("cluster", by="serial")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "non-serial",
        "serial",
    ]


@pytest.mark.slow
def test_real_durbin_total_effect(firms):
    res = gc.regress("intl ~ cluster + I(cluster**2) + age", firms, model="durbin", weights="knn:8")
    me = res.marginal_effects("cluster", at=[0.5]).set_index("effect")
    p = res.params
    theta = [p.get(f"W_{c}", 0.0) for c in ("cluster", "I(cluster ** 2)")]
    expected = (p["cluster"] + 2 * 0.5 * p["I(cluster ** 2)"] + theta[0] + 2 * 0.5 * theta[1]) / (
        1 - p["rho"]
    )
    assert me.loc["total", "estimate"] == pytest.approx(expected, rel=1e-7)
    assert np.isfinite(me.loc["direct", "std_error"])


def test_undefined_design_levels_raise():
    data = simulate(300, np.random.default_rng(4))
    data["size"] = data["employees"]
    res = OLSStandIn("y ~ np.log(size) + I(np.log(size)**2)", data)
    with pytest.raises(ModelError, match="design is undefined .* at size = \\[-1.0\\]"):
        effects.marginal_effects(res, "size", at=[-1.0])
    me = effects.marginal_effects(res, "size", at=[20.0], effects="direct")
    p = res.params
    expected = (p["np.log(size)"] + 2 * np.log(20.0) * p["I(np.log(size) ** 2)"]) / 20.0
    assert me["estimate"].iloc[0] == pytest.approx(expected, rel=1e-6)


def test_error_model_has_no_multiplier(lag_setup):
    data, W, params, cov = lag_setup
    params = {k if k != "rho" else "lambda": v for k, v in params.items()}
    res = SpatialStandIn("error", "y ~ serial * (x + I(x**2)) + age", data, params, cov, W)
    me = effects.marginal_effects(res, "x", by="serial", at=[0.5]).set_index(["group", "effect"])
    p = res.params
    slope0 = p["x"] + 2 * 0.5 * p["I(x ** 2)"]
    assert me.loc[(0, "direct"), "estimate"] == pytest.approx(slope0, rel=1e-9)
    assert me.loc[(0, "total"), "estimate"] == pytest.approx(slope0, rel=1e-9)
    z = me.loc[(0, "total"), "statistic"]
    assert me.loc[(0, "total"), "p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert me.attrs["multiplier_derivative"] == "none"


def test_columbus_lag_effects_match_r_spdep_impacts(columbus, columbus_reference):
    """A linear term's direct and total effects are spdep/spatialreg's impacts()."""
    ref = columbus_reference["lag_ml"]
    res = gc.regress(columbus_reference["formula"], columbus, model="lag", weights="queen")
    me = effects.marginal_effects(res, "INC", at=[10.0]).set_index("effect")
    assert me.loc["direct", "estimate"] == pytest.approx(ref["impacts"]["direct"]["INC"], rel=1e-5)
    assert me.loc["total", "estimate"] == pytest.approx(ref["impacts"]["total"]["INC"], rel=1e-5)
    me_h = effects.marginal_effects(res, "HOVAL", at=[30.0]).set_index("effect")
    assert me_h.loc["direct", "estimate"] == pytest.approx(
        ref["impacts"]["direct"]["HOVAL"], rel=1e-5
    )
    # a linear term has the same slope at every level
    me2 = effects.marginal_effects(res, "INC", at=[5.0, 25.0])
    assert np.allclose(me2.groupby("effect")["estimate"].agg(np.ptp), 0, atol=1e-9)


def test_grouping_on_a_text_column_not_in_the_formula():
    """by= a text column (innovator_type) while the formula uses serial: the reference
    firm of each type takes that type's serial value, not a mean of text."""
    firms = gc.datasets.make_firms(600, seed=5)
    res = gc.regress(firms.attrs["truth"]["formula"], firms, model="ols", weights=None)
    by_type = res.marginal_effects("cluster", by="innovator_type", at=[0.0], effects=("direct",))
    by_serial = res.marginal_effects("cluster", by="serial", at=[0.0], effects=("direct",))
    est = by_type.set_index("group")["estimate"]
    ser = by_serial.set_index("group")["estimate"]
    assert est["serial"] == pytest.approx(ser[1])
    assert est["non-serial"] == pytest.approx(ser[0])
    assert est["large"] == pytest.approx(ser[0])  # large firms have serial = 0


def test_absent_by_column_is_named_with_the_available_columns(ols):
    with pytest.raises(InputError, match=r"by='seriall' is not a column.*did you mean \['serial'\]"
                       r".*columns available: \[.*'serial'.*\].*by=None"):
        effects.marginal_effects(ols, "x", by="seriall")
    with pytest.raises(InputError, match=r"by='seriall' is not a column.*columns available"):
        effects_plot.plot_effects(ols, "x", by="seriall")
    with pytest.raises(InputError, match=r"by=3 is not a column"):
        effects.turning_point(ols, "x", by=3)


def test_too_many_curve_points_are_refused(ols):
    with pytest.raises(InputError, match=r"n_points=1,000,000,000 is more points.*GiB.*"
                       r"use n_points=50"):
        effects_plot.predicted(ols, "x", by="serial", n_points=10**9)
    with pytest.raises(InputError, match="predicted: n_points=True must be an integer >= 2"):
        effects_plot.predicted(ols, "x", n_points=True)
    with pytest.raises(InputError, match="predicted: n_points=1 must be an integer >= 2"):
        effects_plot.predicted(ols, "x", n_points=1)
