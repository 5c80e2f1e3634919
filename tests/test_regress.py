"""Tests of gc.regress: agreement with R spatialreg on Columbus, formulas, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from libpysal.graph import Graph

import geocluster as gc
from geocluster._base.summary import COEF_COLUMNS, Summary
from geocluster.errors import GeoclusterWarning, InputError, ModelError, WeightsError

REF = json.loads((Path(__file__).parent / "data" / "columbus_r_spdep.json").read_text())
RTOL = 1e-5  # the issue asks for 1e-4; spreg's ML matches R to about 1e-7


def _r_name(name: str) -> str:
    name = name.replace("I(x - lambda * WX)", "")
    return name.replace("(Intercept)", "Intercept").replace("lag.", "W_")


@pytest.fixture(scope="module")
def columbus():
    return gc.datasets.load_columbus()


@pytest.fixture(scope="module")
def fits(columbus):
    return {
        m: gc.regress("CRIME ~ INC + HOVAL", columbus, model=m, weights="queen")
        for m in ("ols", "lag", "error", "durbin")
    }


def _lag_data(n=400, rho=0.5, beta=(1.0, 2.0, -1.0), seed=0, k=6):
    """Points with a lag-model outcome generated with known parameters."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2))
    gdf = gpd.GeoDataFrame(
        {"x1": rng.normal(size=n), "x2": rng.normal(size=n)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        index=pd.Index([f"f{i}" for i in range(n)], name="firm"),
    )
    W = gc.weights(gdf, f"knn:{k}").sparse.tocsr()
    X = np.column_stack([np.ones(n), gdf["x1"], gdf["x2"]])
    eps = rng.normal(size=n)
    gdf["y"] = sp.linalg.spsolve((sp.eye(n) - rho * W).tocsc(), X @ np.array(beta) + eps)
    return gdf, W


# --------------------------------------------------------------------------- R agreement
@pytest.mark.parametrize(
    "model,key", [("ols", "ols"), ("lag", "lag_ml"), ("error", "error_ml"), ("durbin", "durbin_ml")]
)
def test_columbus_coefficients_and_se_match_r(fits, model, key):
    res, ref = fits[model], REF[key]
    for name, value in ref["coef"].items():
        assert res.params[_r_name(name)] == pytest.approx(value, rel=RTOL)
    for name, value in ref["se"].items():
        assert res.bse[_r_name(name)] == pytest.approx(value, rel=RTOL)
    assert res.loglik == pytest.approx(ref["loglik"], rel=RTOL)
    if "sigma2" in ref:
        assert res.sigma2 == pytest.approx(ref["sigma2"], rel=RTOL)
    if "rho" in ref:
        assert res.rho == pytest.approx(ref["rho"], rel=RTOL)
        assert res.bse["rho"] == pytest.approx(ref["rho_se"], rel=RTOL)
        assert res.params.index[-1] == "rho"
    if "lambda" in ref:
        assert res.lam == pytest.approx(ref["lambda"], rel=RTOL)
        assert res.bse["lambda"] == pytest.approx(ref["lambda_se"], rel=RTOL)
        assert res.params.index[-1] == "lambda"


def test_columbus_lm_tests_match_r(fits):
    diag = fits["ols"].diagnostics
    for ours, theirs in [
        ("lm_lag", "LMlag"),
        ("lm_error", "LMerr"),
        ("rlm_lag", "RLMlag"),
        ("rlm_error", "RLMerr"),
        ("sarma", "SARMA"),
    ]:
        ref = REF["lm_tests"][theirs]
        assert diag.loc[ours, "statistic"] == pytest.approx(ref["statistic"], rel=1e-6)
        assert diag.loc[ours, "p_value"] == pytest.approx(ref["p_value"], rel=1e-6)
    # the lag model reports the same OLS diagnostics
    pd.testing.assert_frame_equal(fits["lag"].diagnostics.iloc[:6], diag)


def test_moran_of_residuals_matches_spreg(columbus, fits):
    import spreg

    w = gc.weights(columbus, "queen").to_W()
    ols = spreg.OLS(
        columbus[["CRIME"]].to_numpy(),
        columbus[["INC", "HOVAL"]].to_numpy(),
        w=w,
        moran=True,
        spat_diag=True,
    )
    I_val, z, p = ols.moran_res
    diag = fits["ols"].diagnostics
    assert diag.loc["moran_i", "statistic"] == pytest.approx(I_val, rel=1e-10)
    assert diag.loc["moran_i", "z"] == pytest.approx(z, rel=1e-8)
    assert diag.loc["moran_i", "p_value"] == pytest.approx(p, rel=1e-6)


def test_lr_test_of_rho(fits):
    lr = fits["lag"].diagnostics.loc["lr_rho", "statistic"]
    assert lr == pytest.approx(2 * (REF["lag_ml"]["loglik"] - REF["ols"]["loglik"]), rel=1e-6)


def test_aic_counts_sigma2_as_r(fits):
    # R: AIC(lagsarlm) = -2 LL + 2 (k + 2); AIC(lm) = -2 LL + 2 (k + 1)
    assert fits["lag"].aic == pytest.approx(-2 * REF["lag_ml"]["loglik"] + 2 * 5, rel=1e-9)
    assert fits["ols"].aic == pytest.approx(-2 * REF["ols"]["loglik"] + 2 * 4, rel=1e-9)


# ------------------------------------------------------------------------- results object
def test_results_api(fits, columbus):
    res = fits["lag"]
    assert list(res.params.index) == ["Intercept", "INC", "HOVAL", "rho"]
    cov = res.cov_params()
    assert list(cov.index) == list(res.params.index) == list(cov.columns)
    assert np.allclose(np.sqrt(np.diag(cov)), res.bse)
    assert res.model == "lag" and res.method == "ml" and res.nobs == 49
    assert res.formula == "CRIME ~ INC + HOVAL"
    assert res.data.index.equals(columbus.index)
    assert sp.issparse(res.W) and np.allclose(np.asarray(res.W.sum(axis=1)).ravel(), 1.0)
    assert isinstance(res.graph, Graph) and res.graph.n == 49
    X = res.model_spec.get_model_matrix(columbus)
    assert list(X.columns) == ["Intercept", "INC", "HOVAL"]
    ci = res.conf_int()
    assert (ci["ci_low"] < res.params).all() and (res.params < ci["ci_high"]).all()
    assert (res.pvalues > 0).all() and (res.pvalues < 1).all()
    assert fits["ols"].rho is None and fits["error"].rho is None
    frame = res.to_frame()
    assert list(frame.columns) == list(COEF_COLUMNS) and frame.index.name == "term"
    assert list(frame.index) == list(res.params.index)
    np.testing.assert_array_equal(frame["std_error"], res.bse)
    np.testing.assert_array_equal(frame["p_value"], res.pvalues)
    assert (res.params.name, res.bse.name, res.pvalues.name) == ("estimate", "std_error",
                                                                  "p_value")
    assert res.tvalues.name == "z" and fits["ols"].tvalues.name == "t"
    summary = res.summary()
    assert isinstance(summary, Summary) and summary.statistic == "z"
    pd.testing.assert_frame_equal(summary.to_frame(), frame)
    text = str(summary)
    for piece in ("Spatial lag model", "'queen'", "49", "rho", "INC", "Log-likelihood", "LM lag"):
        assert piece in text
    assert "<table" in res.summary()._repr_html_()
    assert "rho=0.4233" in repr(res) and "n=49" in repr(res) and "queen" in repr(res)
    assert repr(res).startswith("<RegressionResult")


@pytest.mark.parametrize("alpha", [5, 0, 1, -0.1, "x", True, np.nan])
@pytest.mark.parametrize("method", ["conf_int", "to_frame", "summary", "impacts"])
def test_alpha_outside_zero_one_raises(fits, method, alpha):
    with pytest.raises(InputError, match=r"alpha=.* must be a number between 0 and 1"):
        getattr(fits["lag"], method)(alpha=alpha)


def test_conf_int_alpha_sets_the_level(fits, columbus):
    import statsmodels.formula.api as smf

    ref = smf.ols("CRIME ~ INC + HOVAL", pd.DataFrame(columbus)).fit().conf_int(alpha=0.1)
    ci = fits["ols"].conf_int(alpha=0.1)
    np.testing.assert_allclose(ci.to_numpy(), ref.to_numpy(), rtol=1e-8)


def test_mean_multipliers_exact(fits):
    res = fits["lag"]
    W = res.W.toarray()
    S = np.linalg.inv(np.eye(49) - res.rho * W)
    m = res.mean_multipliers()
    assert m["direct"] == pytest.approx(np.trace(S) / 49, rel=1e-10)
    assert m["total"] == pytest.approx(1 / (1 - res.rho), rel=1e-12)
    assert m["direct_wx"] == pytest.approx(np.trace(S @ W) / 49, rel=1e-10)
    m2 = res.mean_multipliers(rho=0.2)
    assert m2["direct"] == pytest.approx(np.trace(np.linalg.inv(np.eye(49) - 0.2 * W)) / 49)
    assert fits["error"].mean_multipliers() == {"direct": 1.0, "total": 1.0, "direct_wx": 0.0}


def test_durbin_names(fits):
    res = fits["durbin"]
    assert res.slx_columns == ["W_INC", "W_HOVAL"]
    assert res.slx_sources == ["INC", "HOVAL"]
    assert list(res.params.index) == ["Intercept", "INC", "HOVAL", "W_INC", "W_HOVAL", "rho"]


def test_predict(fits, columbus):
    res = fits["lag"]
    W = res.W.toarray()
    X = np.column_stack([np.ones(49), columbus["INC"], columbus["HOVAL"]])
    b = res.params[["Intercept", "INC", "HOVAL"]].to_numpy()
    reduced = np.linalg.solve(np.eye(49) - res.rho * W, X @ b)
    assert np.allclose(res.predict(), reduced, rtol=1e-10)
    assert np.allclose(res.predict(kind="trend"), X @ b)
    assert np.allclose(res.predict(kind="signal"), res.fittedvalues)
    # new data: same rows -> same reduced form (weights rebuilt from the spec)
    assert np.allclose(res.predict(columbus), reduced, rtol=1e-10)
    err = fits["error"]
    assert np.allclose(err.predict(columbus), err.predict())


def test_input_not_mutated_and_index_kept(columbus):
    before = columbus.copy()
    data = columbus.copy()
    data.index = pd.Index([f"t{i}" for i in range(49)])
    res = gc.regress("CRIME ~ INC", data, model="error", weights="queen")
    pd.testing.assert_frame_equal(pd.DataFrame(columbus), pd.DataFrame(before))
    assert res.resid.index.equals(data.index)
    assert list(res.graph.unique_ids) == list(data.index)


# ------------------------------------------------------------------------------ formulas
def test_formula_like_statsmodels():
    gdf, _ = _lag_data(n=300, seed=3)
    rng = np.random.default_rng(3)
    gdf["serial"] = rng.integers(0, 2, len(gdf))
    gdf["cluster"] = rng.uniform(0, 3, len(gdf))
    gdf["employees"] = rng.integers(1, 500, len(gdf))
    gdf["industry"] = rng.choice(["bio", "ict", "med"], len(gdf))
    res = gc.regress(
        "y ~ serial * (cluster + I(cluster**2)) + x1 + np.log(employees) + C(industry)",
        gdf,
        model="lag",
        weights="knn:6",
    )
    assert list(res.params.index) == [
        "Intercept",
        "serial",
        "cluster",
        "I(cluster ** 2)",
        "x1",
        "np.log(employees)",
        "C(industry)[T.ict]",
        "C(industry)[T.med]",
        "serial:cluster",
        "serial:I(cluster ** 2)",
        "rho",
    ]
    # same OLS coefficients as statsmodels on the same formula
    import statsmodels.formula.api as smf

    ols = gc.regress(
        "y ~ serial * (cluster + I(cluster**2)) + x1 + np.log(employees) + C(industry)",
        gdf,
        model="ols",
        weights="knn:6",
    )
    sm = smf.ols(
        "y ~ serial * (cluster + I(cluster**2)) + x1 + np.log(employees) + C(industry)",
        pd.DataFrame(gdf.drop(columns="geometry")),
    ).fit()
    assert set(ols.params.index) == set(sm.params.index)
    assert np.allclose(ols.params[sm.params.index], sm.params, rtol=1e-8)
    assert np.allclose(ols.bse[sm.params.index], sm.bse, rtol=1e-8)
    assert ols.loglik == pytest.approx(sm.llf, rel=1e-10)


def test_missing_rows_dropped_and_weights_built_on_the_rest():
    gdf, _ = _lag_data(n=200, seed=1)
    gdf.loc[gdf.index[[3, 10, 50]], "x1"] = np.nan
    gdf.loc[gdf.index[7], "y"] = np.nan
    with pytest.warns(GeoclusterWarning, match=r"4 of 200 rows dropped.*x1: 3.*y: 1"):
        res = gc.regress("y ~ x1 + x2", gdf, model="lag", weights="knn:6", missing="drop")
    assert res.nobs == 196 and res.n_dropped == 4
    kept = gdf.index.delete([3, 7, 10, 50])
    assert res.data.index.equals(kept)
    assert list(res.graph.unique_ids) == list(kept)
    # the weights are the knn graph of the remaining points, not a cut-down graph
    assert (res.graph.cardinalities == 6).all()
    with pytest.raises(InputError, match="4 rows have missing values"):
        gc.regress("y ~ x1 + x2", gdf, model="lag", weights="knn:6", missing="raise")
    with pytest.raises(InputError, match=r"4 rows have missing values.*missing='drop'"):
        gc.regress("y ~ x1 + x2", gdf, model="lag", weights="knn:6")  # the default raises


def test_dataframe_with_graph_and_subgraph():
    gdf, _ = _lag_data(n=150, seed=2)
    graph = gc.weights(gdf, "knn:5")
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    a = gc.regress("y ~ x1 + x2", frame, model="lag", weights=graph)
    b = gc.regress("y ~ x1 + x2", gdf, model="lag", weights="knn:5")
    assert np.allclose(a.params, b.params)
    frame.loc[frame.index[0], "x1"] = np.nan
    with (
        pytest.warns(GeoclusterWarning, match="restricted to the 149 rows"),
        pytest.warns(GeoclusterWarning, match="1 of 150 rows dropped"),
    ):
        c = gc.regress("y ~ x1 + x2", frame, model="lag", weights=graph, missing="drop")
    assert list(c.graph.unique_ids) == list(frame.index[1:])
    assert np.allclose(np.asarray(c.W.sum(axis=1)).ravel(), 1.0)


def test_gmm_lag_equals_s2sls_by_hand():
    gdf, W = _lag_data(n=500, rho=0.4, seed=5)
    res = gc.regress("y ~ x1 + x2", gdf, model="lag", method="gmm", weights="knn:6")
    X = np.column_stack([np.ones(500), gdf["x1"], gdf["x2"]])
    y = gdf["y"].to_numpy()
    Z = np.column_stack([X, W @ y])
    H = np.column_stack([X, W @ X[:, 1:]])
    P = H @ np.linalg.solve(H.T @ H, H.T)
    Zh = P @ Z
    delta = np.linalg.solve(Zh.T @ Z, Zh.T @ y)
    e = y - Z @ delta
    vcov = (e @ e / 500) * np.linalg.inv(Zh.T @ Zh)
    assert np.allclose(res.params.to_numpy(), delta, rtol=1e-8)
    assert np.allclose(res.bse.to_numpy(), np.sqrt(np.diag(vcov)), rtol=1e-6)
    assert np.isnan(res.loglik) and np.isnan(res.aic)


@pytest.mark.parametrize("method", ["ml", "gmm"])
@pytest.mark.parametrize("model", ["lag", "error", "durbin"])
def test_known_truth_recovered(model, method):
    rng = np.random.default_rng(11)
    n = 600
    gdf, W = _lag_data(n=n, seed=11)
    X = np.column_stack([np.ones(n), gdf["x1"], gdf["x2"]])
    beta = np.array([1.0, 2.0, -1.0])
    eps = rng.normal(size=n)
    A = (sp.eye(n) - 0.5 * W).tocsc()
    if model == "lag":
        y = sp.linalg.spsolve(A, X @ beta + eps)
    elif model == "error":
        y = X @ beta + sp.linalg.spsolve(A, eps)
    else:
        theta = np.array([0.5, -0.5])
        y = sp.linalg.spsolve(A, X @ beta + W @ X[:, 1:] @ theta + eps)
    gdf["y"] = y
    res = gc.regress("y ~ x1 + x2", gdf, model=model, method=method, weights="knn:6")
    truth = {"Intercept": 1.0, "x1": 2.0, "x2": -1.0, "rho": 0.5, "lambda": 0.5}
    truth.update({"W_x1": 0.5, "W_x2": -0.5})
    for name in res.params.index:
        assert abs(res.params[name] - truth[name]) < 3.5 * res.bse[name], name


def test_robust_white_gmm_and_ols():
    gdf, _ = _lag_data(n=300, seed=4)
    r1 = gc.regress("y ~ x1 + x2", gdf, model="lag", method="gmm", weights="knn:6")
    r2 = gc.regress("y ~ x1 + x2", gdf, model="lag", method="gmm", weights="knn:6", robust="white")
    assert np.allclose(r1.params, r2.params) and not np.allclose(r1.bse, r2.bse)
    r3 = gc.regress(
        "y ~ x1 + x2", gdf, model="error", method="gmm", robust="white", weights="knn:6"
    )
    assert "heteroskedasticity" in r3.estimator


# ------------------------------------------------------------------------------ bad input
def test_unknown_column_is_named(columbus):
    with pytest.raises(ModelError, match=r"'INCOME', not a column.*did you mean 'INC'.*Correct the"):
        gc.regress("CRIME ~ INCOME + HOVAL", columbus, weights="queen")


def test_constant_regressor_is_named(columbus):
    data = columbus.assign(ONE=1.0)
    with pytest.raises(ModelError, match="regressor 'ONE' is constant"):
        gc.regress("CRIME ~ INC + ONE", data, weights="queen")


def test_collinear_regressor_is_named(columbus):
    data = columbus.assign(INC2=2 * columbus["INC"] - columbus["HOVAL"])
    with pytest.raises(ModelError, match="'INC2' is perfectly collinear with 'INC', 'HOVAL'"):
        gc.regress("CRIME ~ INC + HOVAL + INC2", data, weights="queen")


def test_too_few_rows(columbus):
    small = columbus.iloc[:5]
    with pytest.raises(ModelError, match="5 rows are too few for the 5 parameters"):
        gc.regress("CRIME ~ INC + HOVAL", small, model="lag", weights="knn:2")


def test_infinite_outcome(columbus):
    data = columbus.copy()
    data.loc[3, "CRIME"] = np.inf
    with pytest.raises(InputError, match=r"outcome 'CRIME' has 1 infinite.*rows \[3\]"):
        gc.regress("CRIME ~ INC", data, weights="queen")
    with pytest.raises(InputError, match=r"outcome 'np.log\(OPEN\)' has .* infinite"):
        gc.regress("np.log(OPEN) ~ INC", columbus, weights="queen")


def test_all_missing_outcome(columbus):
    data = columbus.assign(CRIME=np.nan)
    with pytest.raises(InputError, match="'CRIME'.*missing \\(NaN\\) in every one of the 49 rows"
                       ".*Check that column"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.regress("CRIME ~ INC", data, weights="queen")


def test_no_complete_rows_names_the_columns(columbus):
    data = columbus.copy()
    data.loc[data.index[:25], "INC"] = np.nan
    data.loc[data.index[25:], "HOVAL"] = np.nan
    with pytest.raises(InputError, match="every row of the 49 has a missing value in one of "
                       "'HOVAL', 'INC'.*Fill the missing values"):
        gc.regress("CRIME ~ INC + HOVAL", data, weights="queen")


def test_formula_syntax_error_names_the_position_without_escape_codes(columbus):
    with pytest.raises(ModelError, match=r"cannot parse formula 'CRIME ~ INC \+\* HOVAL'.*"
                       r"at character 13 \('\+\*'\).*Fix the formula") as info:
        gc.regress("CRIME ~ INC +* HOVAL", columbus, weights="queen")
    assert "\x1b" not in str(info.value) and "\u29db" not in str(info.value)
    with pytest.raises(ModelError, match=r"at character 9 \('\('\)"):
        gc.regress("CRIME ~ (INC + HOVAL", columbus, weights="queen")


def test_near_constant_regressor_is_named(columbus):
    one = np.zeros(len(columbus))
    one[7] = 1.0
    data = columbus.assign(ALMOST=one)
    for model in ("ols", "lag"):
        with pytest.raises(ModelError, match=r"regressor 'ALMOST' has no usable variation.*"
                           r"all of its 49 used rows but one \(index label 7\) equal 0"):
            gc.regress("CRIME ~ INC + ALMOST", data, model=model, weights="queen")
    # a category with a single unit: the dummy is named, with the remedy
    district = np.where(columbus.index < 25, "a", "b").astype(object)
    district[3] = "c"
    with pytest.raises(ModelError, match=r"'C\(district\)\[T.c\]' has no usable.*merge rare"):
        gc.regress("CRIME ~ INC + C(district)", columbus.assign(district=district),
                   weights="queen")
    # two odd values are variation enough
    one[8] = 1.0
    gc.regress("CRIME ~ INC + ALMOST", columbus.assign(ALMOST=one), model="ols", weights="queen")


def test_knn_with_too_few_rows(columbus):
    with pytest.raises(WeightsError, match="'knn:8' gives every firm its 8 nearest.*only 6 rows"
                       ".*K at most 5"):
        gc.regress("CRIME ~ INC", columbus.head(6), model="lag", weights="knn:8")


def test_isolates_raise_drop_keep():
    rng = np.random.default_rng(8)
    n = 120
    xy = rng.uniform(0, 10_000, size=(n, 2))
    xy[:3] = [[1e6, 1e6], [2e6, 2e6], [3e6, 3e6]]  # three remote firms
    gdf = gpd.GeoDataFrame(
        {"x": rng.normal(size=n), "y": rng.normal(size=n)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:5070",
    )
    with pytest.raises(WeightsError, match="leave 3 of 120 firms without neighbours"):
        gc.regress("y ~ x", gdf, weights="distance:3km")
    with pytest.warns(GeoclusterWarning, match="3 units without neighbours"):
        res = gc.regress("y ~ x", gdf, weights="distance:3km", isolates="drop")
    assert res.nobs == 117 and 0 not in res.data.index
    assert res.n_dropped == 0 and "Dropped (isolates)" in str(res.summary())
    kept = gc.regress("y ~ x", gdf, weights="distance:3km", isolates="keep", model="error")
    assert kept.nobs == 120


@pytest.mark.slow
def test_rho_at_boundary_is_reported():
    rng = np.random.default_rng(0)
    side = 14
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    gdf = gpd.GeoDataFrame(
        {"x": rng.normal(size=side * side)},
        geometry=gpd.points_from_xy(gx.ravel(), gy.ravel()),
    )
    # a pure spatial trend with almost no noise: the likelihood runs to rho -> 1
    gdf["y"] = gx.ravel() * 10.0 + gy.ravel() * 10.0 + rng.normal(scale=1e-3, size=side * side)
    with pytest.raises(ModelError, match="at the boundary of its search.*another weights spec"):
        gc.regress("y ~ x", gdf, model="lag", weights="knn:4")


def test_option_errors(columbus):
    with pytest.raises(ModelError, match="model='sar' is not a model.*choose one of"):
        gc.regress("CRIME ~ INC", columbus, model="sar", weights="queen")
    with pytest.raises(ModelError, match="method='ols' is not an estimation method.*choose one"):
        gc.regress("CRIME ~ INC", columbus, method="ols", weights="queen")
    with pytest.raises(ModelError, match="robust standard errors are not available"):
        gc.regress("CRIME ~ INC", columbus, robust="white", weights="queen")
    with pytest.raises(WeightsError, match="needs geometries"):
        gc.regress("CRIME ~ INC", pd.DataFrame(columbus.drop(columns="geometry")))
    with pytest.raises(ModelError, match="needs the form 'outcome ~ regressors'"):
        gc.regress("CRIME INC", columbus, weights="queen")


# ------------------------------------------------------------------- known truth: make_firms
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_make_firms_lag_recovers_truth_and_planted_pattern(seed):
    firms = gc.datasets.make_firms(1500, seed=seed)  # n > 1000: the sparse ML route
    truth = firms.attrs["truth"]
    res = gc.regress(truth["formula"], firms, model="lag", weights=truth["weights"])
    assert res.estimator.startswith("geocluster sparse ML")
    assert abs(res.rho - truth["rho"]) < 3 * res.bse["rho"]
    for name, value in truth["beta"].items():
        assert abs(res.params[name] - value) < 3 * res.bse[name], name
    # planted pattern: inverted U for non-serial firms (top at cluster = 1 in the DGP),
    # a steeper gain from clustering for serial innovators
    b, V = res.params, res.cov_params()
    a, c = b["cluster"], b["I(cluster ** 2)"]
    assert c + 2 * np.sqrt(V.loc["I(cluster ** 2)", "I(cluster ** 2)"]) < 0
    top = -a / (2 * c)
    grad = np.array([-1 / (2 * c), a / (2 * c**2)])
    sub = V.loc[["cluster", "I(cluster ** 2)"], ["cluster", "I(cluster ** 2)"]].to_numpy()
    true_top = -truth["beta"]["cluster"] / (2 * truth["beta"]["I(cluster ** 2)"])
    assert abs(top - true_top) < 3 * np.sqrt(grad @ sub @ grad)
    assert b["serial:cluster"] - 2 * res.bse["serial:cluster"] > 0
    # the same through the effects methods (geocluster.models.effects)
    tp = res.turning_point("cluster", by="serial").set_index("group")
    assert tp.loc[0, "shape"] == "inverse-U" and bool(tp.loc[0, "inside"])
    assert abs(tp.loc[0, "turning_point"] - true_top) < 3 * tp.loc[0, "std_error"]
    me = res.marginal_effects("cluster", by="serial", at=[0.0])
    direct = me[me["effect"] == "direct"].set_index("group")
    gap = direct.loc[1, "estimate"] - direct.loc[0, "estimate"]
    assert gap > 2 * np.hypot(direct.loc[1, "std_error"], direct.loc[0, "std_error"])


def test_effect_methods_delegate(fits, monkeypatch):
    effects = pytest.importorskip("geocluster.models.effects")
    calls = []

    def fake(name):
        def inner(results, *args, **kwargs):
            calls.append((name, results, args, kwargs))
            return name

        return inner

    effects_plot = pytest.importorskip("geocluster.models.effects_plot")
    for name in ("marginal_effects", "turning_point", "u_test"):
        monkeypatch.setattr(effects, name, fake(name))
    for name in ("predicted", "plot_effects"):
        monkeypatch.setattr(effects_plot, name, fake(name))
    res = fits["lag"]
    assert res.marginal_effects("INC", by="g", at=[1, 2], covariates="mean") == "marginal_effects"
    assert calls[-1] == (
        "marginal_effects",
        res,
        ("INC",),
        {"by": "g", "at": [1, 2], "covariates": "mean"},
    )
    assert res.turning_point("INC", by="g") == "turning_point"
    assert calls[-1][3] == {"by": "g"}
    assert res.u_test("INC", by=None) == "u_test"
    assert res.plot_effects("INC") == "plot_effects"
    assert res.predicted("INC", n_points=5) == "predicted"
    assert calls[-1][3] == {"by": None, "n_points": 5}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lag", "error"])
def test_sparse_ml_route_equals_spreg(model):
    """Above ML_EXACT_MAX_N the sparse estimator is used; it equals spreg's exact ML."""
    gdf, _ = _lag_data(n=1010, seed=9)
    sparse = gc.regress("y ~ x1 + x2", gdf, model=model, weights="knn:6")
    exact = gc.regress("y ~ x1 + x2", gdf, model=model, weights="knn:6", logdet="spreg")
    assert sparse.estimator.startswith("geocluster sparse ML (log-determinant exact-lu")
    assert exact.estimator.startswith("spreg")
    assert np.allclose(sparse.params, exact.params, rtol=1e-6, atol=1e-9)
    assert np.allclose(sparse.bse, exact.bse, rtol=1e-6)
    assert sparse.loglik == pytest.approx(exact.loglik, rel=1e-10)
    assert sparse.sigma2 == pytest.approx(exact.sigma2, rel=1e-6)
    assert np.allclose(sparse.resid, exact.resid, atol=1e-6)


def test_logdet_forced_and_checked(columbus):
    mc = gc.regress("CRIME ~ INC + HOVAL", columbus, model="lag", weights="queen", logdet="mc")
    assert "mc" in mc.estimator
    assert mc.rho == pytest.approx(REF["lag_ml"]["rho"], abs=0.02)
    lu = gc.regress("CRIME ~ INC + HOVAL", columbus, model="lag", weights="queen", logdet="lu")
    assert lu.rho == pytest.approx(REF["lag_ml"]["rho"], rel=1e-5)
    with pytest.raises(ModelError, match="logdet='magic' is not one of"):
        gc.regress("CRIME ~ INC", columbus, weights="queen", logdet="magic")


def test_gmm_outside_stationary_range_is_reported(columbus):
    # 49 units, spatial instruments W^2 X: too weak, 2SLS puts rho far outside (-1, 1)
    with pytest.raises(ModelError, match=r"rho = \d+\.\d+ is outside the stationary.*method='ml'"):
        gc.regress("CRIME ~ INC + HOVAL", columbus, model="durbin", method="gmm", weights="knn:4")


def test_non_convergence_is_reported(columbus, monkeypatch):
    import dataclasses

    from geocluster.models import _sparse_ml

    real = _sparse_ml.fit_lag

    def stuck(*args, **kwargs):
        fit = real(*args, **kwargs)
        return dataclasses.replace(fit, converged=False, message="maximum iterations reached")

    monkeypatch.setattr(_sparse_ml, "fit_lag", stuck)
    with pytest.raises(ModelError, match="did not converge.*maximum iterations.*logdet='lu'"):
        gc.regress("CRIME ~ INC + HOVAL", columbus, model="lag", weights="queen", logdet="mc")


def test_empty_category_level_is_named(columbus):
    data = columbus.copy()
    data["district"] = pd.Categorical(
        np.where(data.index < 25, "a", np.where(data.index < 40, "b", "c"))
    )
    data.loc[40:, "INC"] = np.nan
    with (
        pytest.raises(ModelError, match=r"dummy 'C\(district\)\[T.c\]' is 0 in every used row"),
        pytest.warns(GeoclusterWarning, match="9 of 49 rows dropped"),
    ):
        gc.regress("CRIME ~ INC + C(district)", data, weights="queen", isolates="keep",
                   missing="drop")


def test_ols_white_equals_statsmodels_hc1(columbus):
    import statsmodels.api as sm

    res = gc.regress("CRIME ~ INC + HOVAL", columbus, model="ols", robust="white", weights="queen")
    X = sm.add_constant(columbus[["INC", "HOVAL"]].to_numpy())
    ref = sm.OLS(columbus["CRIME"].to_numpy(), X).fit(cov_type="HC1")
    assert np.allclose(res.bse.to_numpy(), ref.bse, rtol=1e-8)


def test_graph_for_other_rows_is_refused(columbus):
    other = gc.weights(columbus.iloc[:30], "queen")
    with pytest.raises(WeightsError, match="does not match the frame"):
        gc.regress("CRIME ~ INC", columbus, weights=other)


def test_durbin_predict_on_new_rows_rebuilds_the_lags(fits, columbus):
    res = fits["durbin"]
    assert np.allclose(res.predict(columbus), res.predict(), rtol=1e-10)
    assert np.allclose(res.predict(columbus, kind="trend"), res.predict(kind="trend"))
    with pytest.raises(InputError, match="needs weights for them"):
        gc.regress(
            "CRIME ~ INC", columbus, model="lag", weights=gc.weights(columbus, "queen")
        ).predict(columbus)


@pytest.mark.parametrize("model", ["lag", "error"])
def test_row_order_does_not_matter(columbus, model):
    """Shuffled rows (same index labels) and missing values give the same fit."""
    data = columbus.copy()
    data.loc[[4, 17], "HOVAL"] = np.nan
    shuffled = data.sample(frac=1.0, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        a = gc.regress("CRIME ~ INC + HOVAL", data, model=model, weights="queen",
                       missing="drop")
        b = gc.regress("CRIME ~ INC + HOVAL", shuffled, model=model, weights="queen",
                       missing="drop")
    assert a.nobs == b.nobs == 47
    assert np.allclose(a.params, b.params, rtol=1e-7)
    assert np.allclose(a.bse, b.bse, rtol=1e-6)
    pd.testing.assert_series_equal(a.resid.sort_index(), b.resid.sort_index(), rtol=1e-6)


def test_ols_without_weights(columbus):
    frame = pd.DataFrame(columbus.drop(columns="geometry"))
    res = gc.regress("CRIME ~ INC + HOVAL", frame, model="ols", weights=None)
    assert res.params["INC"] == pytest.approx(REF["ols"]["coef"]["INC"], rel=1e-8)
    assert res.graph is None and res.W is None
    assert "Weights:" in str(res.summary()) and "none" in str(res.summary())
    with pytest.raises(ModelError, match="diagnostics need spatial weights"):
        _ = res.diagnostics
    with pytest.raises(WeightsError, match="the lag model needs spatial weights"):
        gc.regress("CRIME ~ INC", frame, model="lag", weights=None)


def test_empty_data(columbus):
    with pytest.raises(InputError, match=r"data is empty \(0 rows\)"):
        gc.regress("CRIME ~ INC", columbus.iloc[:0], weights="queen")


def test_formula_values_come_from_the_data_functions_from_the_session(columbus):
    HOUSE = columbus["HOVAL"].to_numpy()  # noqa: F841 - a session variable, not a column

    def half(x):
        return x / 2

    with pytest.raises(ModelError, match="'HOUSE', not a column"):
        gc.regress("CRIME ~ INC + HOUSE", columbus, weights="queen")
    res = gc.regress("CRIME ~ half(INC) + HOVAL", columbus, model="ols", weights="queen")
    assert res.params["half(INC)"] == pytest.approx(2 * REF["ols"]["coef"]["INC"], rel=1e-8)


def test_predict_on_data_without_a_formula_column(columbus):
    res = gc.regress("CRIME ~ INC + HOVAL", columbus, model="ols", weights="queen")
    with pytest.raises(InputError, match=r"cannot evaluate the formula on the new data: .*`HOVAL` "
                       r"is not present.*The new data need every column the formula uses") as info:
        res.predict(columbus.drop(columns="HOVAL"))
    assert "\x1b" not in str(info.value)


def test_options_that_do_not_apply_are_errors_naming_them(columbus):
    with pytest.raises(ModelError, match=r"logdet='mc' applies to maximum likelihood spatial "
                       r"models only; model='ols'.*drop logdet="):
        gc.regress("CRIME ~ INC", columbus, model="ols", weights="queen", logdet="mc")
    with pytest.raises(ModelError, match=r"logdet='lu' applies.*method='gmm'"):
        gc.regress("CRIME ~ INC", columbus, model="lag", method="gmm", weights="queen",
                   logdet="lu")
    graph = gc.weights(columbus, "queen")
    with pytest.raises(InputError, match=r"crs=3857 applies only to weights built from a spec "
                       r"string.*a ready Graph.*drop crs="):
        gc.regress("CRIME ~ INC", columbus, weights=graph, crs=3857)
    with pytest.raises(InputError, match=r"crs=3857 applies only.*weights=None"):
        gc.regress("CRIME ~ INC", columbus, model="ols", weights=None, crs=3857)
