"""Tests of the large-n ML engine for spatial lag and error models.

References: R spatialreg (Columbus, tests/data/columbus_r_spdep.json), spreg's dense
ML_Lag / ML_Error (method="full"), dense exact traces, and simulated data with known
truth.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import geocluster as gc
from geocluster.errors import InputError, ModelError, WeightsError
from geocluster.models import _ml_traces as mlt
from geocluster.models._logdet import (
    ChebyshevLogDet,
    LULogDet,
    PowerTraces,
    SeriesLogDet,
    exact_information_traces,
    resolve_logdet_method,
)
from geocluster.models._sparse_ml import (
    SparseMLFit,
    fit_error,
    fit_lag,
    mean_direct_multiplier,
    trace_powers,
)

DATA = Path(__file__).parent / "data"


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def reference():
    return json.loads((DATA / "columbus_r_spdep.json").read_text())


@pytest.fixture(scope="module")
def columbus():
    df = gc.datasets.load_columbus()
    W = gc.weights(df, "queen").sparse
    y = df["CRIME"].to_numpy(float)
    X = np.column_stack([np.ones(len(df)), df["INC"].to_numpy(float), df["HOVAL"].to_numpy(float)])
    return y, X, sp.csr_matrix(W)


def _knn_weights(n: int, seed: int, k: int = 8) -> sp.csr_matrix:
    """Row-standardised knn:k weights of uniform random points, built by gc.weights."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100_000, size=(n, 2))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:3857")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sp.csr_matrix(gc.weights(pts, f"knn:{k}").sparse)


def _simulate(W, rho, seed, *, model="lag", beta=(1.0, 2.0, -1.0)):
    n = W.shape[0]
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(size=n)])
    A = (sp.identity(n, format="csc") - rho * W).tocsc()
    lu = sla.splu(A)
    if model == "lag":
        y = lu.solve(X @ np.asarray(beta) + rng.normal(size=n))
    else:
        y = X @ np.asarray(beta) + lu.solve(rng.normal(size=n))
    return y, X


@pytest.fixture(scope="module")
def knn600():
    W = _knn_weights(600, seed=3)
    y, X = _simulate(W, 0.4, seed=1)
    ye, _ = _simulate(W, 0.5, seed=1, model="error")
    return y, ye, X, W


# ------------------------------------------------------------------ R reference


@pytest.mark.parametrize("method", ["lu", "eigen", "exact"])
def test_lag_matches_r_on_columbus(columbus, reference, method):
    y, X, W = columbus
    ref = reference["lag_ml"]
    fit = fit_lag(y, X, W, logdet=method)
    assert fit.param_name == "rho" and fit.model == "lag"
    assert fit.logdet_method.startswith("exact")
    np.testing.assert_allclose(fit.rho, ref["rho"], rtol=1e-4)
    np.testing.assert_allclose(fit.beta, list(ref["coef"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.se[:-1], list(ref["se"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.se[-1], ref["rho_se"], rtol=1e-4)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-6)
    np.testing.assert_allclose(fit.sigma2, ref["sigma2"], rtol=1e-4)
    assert fit.vcov.shape == (4, 4) and fit.vcov_full.shape == (5, 5)
    assert fit.spatial == fit.rho
    assert fit.converged


@pytest.mark.parametrize("method", ["lu", "eigen"])
def test_error_matches_r_on_columbus(columbus, reference, method):
    y, X, W = columbus
    ref = reference["error_ml"]
    fit = fit_error(y, X, W, logdet=method)
    assert fit.param_name == "lambda" and fit.model == "error"
    np.testing.assert_allclose(fit.rho, ref["lambda"], rtol=1e-4)
    np.testing.assert_allclose(fit.beta, list(ref["coef"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.se[:-1], list(ref["se"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.se[-1], ref["lambda_se"], rtol=1e-4)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-6)
    np.testing.assert_allclose(fit.sigma2, ref["sigma2"], rtol=1e-4)


@pytest.mark.parametrize("method", ["mc", "chebyshev"])
def test_approximate_logdets_close_to_r_on_columbus(columbus, reference, method):
    # n = 49 is the hardest case for Monte Carlo (variance ~ 1/(n p)): errors ~1e-3 here,
    # against ~1e-5 at n = 12,000 (see test_known_truth_at_12k_with_monte_carlo).
    y, X, W = columbus
    lag = fit_lag(y, X, W, logdet=method)
    err = fit_error(y, X, W, logdet=method)
    assert lag.logdet_method == method
    assert abs(lag.rho - reference["lag_ml"]["rho"]) < 5e-3
    assert abs(err.rho - reference["error_ml"]["lambda"]) < 5e-3
    np.testing.assert_allclose(lag.beta, list(reference["lag_ml"]["coef"].values()), rtol=5e-3)
    np.testing.assert_allclose(err.beta, list(reference["error_ml"]["coef"].values()), rtol=5e-3)


# ------------------------------------------------------------------ spreg reference


def _libpysal_w(W):
    import libpysal

    return libpysal.weights.WSP(sp.csr_matrix(W)).to_W(silence_warnings=True)


@pytest.mark.slow
def test_lag_and_error_match_spreg_full(knn600):
    import spreg

    y, ye, X, W = knn600
    w = _libpysal_w(W)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_lag = spreg.ML_Lag(y[:, None], X[:, 1:], w=w, method="full")
        ref_err = spreg.ML_Error(ye[:, None], X[:, 1:], w=w, method="full")
    lag = fit_lag(y, X, W)
    err = fit_error(ye, X, W)
    np.testing.assert_allclose(lag.rho, ref_lag.rho, atol=1e-5)
    np.testing.assert_allclose(lag.beta, ref_lag.betas.ravel()[:-1], rtol=1e-5)
    np.testing.assert_allclose(lag.se, np.sqrt(np.diag(ref_lag.vm)), rtol=1e-4)
    np.testing.assert_allclose(lag.loglik, ref_lag.logll, rtol=1e-7)
    np.testing.assert_allclose(lag.sigma2, ref_lag.sig2, rtol=1e-5)
    np.testing.assert_allclose(err.rho, ref_err.lam, atol=1e-5)
    np.testing.assert_allclose(err.beta, ref_err.betas.ravel()[:-1], rtol=1e-5)
    np.testing.assert_allclose(err.se, np.sqrt(np.diag(ref_err.vm)), rtol=1e-4)
    np.testing.assert_allclose(err.loglik, ref_err.logll, rtol=1e-7)


@pytest.mark.parametrize("method", ["mc", "chebyshev"])
def test_approximate_methods_match_exact_on_knn(knn600, method):
    y, ye, X, W = knn600
    for fn, yy in ((fit_lag, y), (fit_error, ye)):
        exact = fn(yy, X, W, logdet="lu")
        approx = fn(yy, X, W, logdet=method, seed=11)
        assert abs(approx.rho - exact.rho) < 1e-3
        np.testing.assert_allclose(approx.beta, exact.beta, rtol=1e-3)
        np.testing.assert_allclose(approx.se, exact.se, rtol=1e-2)


# ------------------------------------------------------------------ traces and logdets


def _dense_traces(W, rho):
    D = W.toarray()
    WA = D @ np.linalg.inv(np.eye(D.shape[0]) - rho * D)
    return np.array([np.trace(WA), np.sum(WA * WA.T), np.sum(WA * WA)])


@pytest.mark.parametrize(("k", "rho"), [(8, 0.6), (8, -0.4), (4, 0.9), (6, 0.0)])
def test_exact_information_traces_match_dense(k, rho):
    # asymmetric knn weights (complex eigenvalues), negative, strong and zero rho
    W = _knn_weights(1_200, seed=5, k=k)
    tr1, tr2, tr3, lu = exact_information_traces(W, rho)
    np.testing.assert_allclose([tr1, tr2, tr3], _dense_traces(W, rho), rtol=1e-8, atol=1e-9)
    b = np.random.default_rng(0).normal(size=W.shape[0])
    A = np.eye(W.shape[0]) - rho * W.toarray()
    np.testing.assert_allclose(lu.solve(b), np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)


def test_exact_information_traces_of_unstandardised_weights():
    # binary weights: the stencil steps scale with the spectral radius
    W = _knn_weights(900, seed=2)
    B = sp.csr_matrix((W > 0).astype(float))
    radius = float(np.max(np.abs(np.linalg.eigvals(B.toarray()))))
    rho = 0.5 / radius
    got = exact_information_traces(B, rho, scale=radius)[:3]
    np.testing.assert_allclose(got, _dense_traces(B, rho), rtol=1e-8)


def test_exact_trace_route_equals_dense_route(knn600, monkeypatch):
    # above the dense threshold the sparse-LU stencils give the dense answer to 1e-9
    y, ye, X, W = knn600
    monkeypatch.setattr(mlt, "DENSE_TRACES_MAX_N", 100)
    lag, err = fit_lag(y, X, W), fit_error(ye, X, W)
    monkeypatch.setattr(mlt, "DENSE_TRACES_MAX_N", 10**6)
    lag_d, err_d = fit_lag(y, X, W), fit_error(ye, X, W)
    for a, b in ((lag, lag_d), (err, err_d)):
        assert a.trace_method == b.trace_method == "exact"
        np.testing.assert_allclose(a.se, b.se, rtol=1e-9)
        np.testing.assert_allclose(a.information_traces, b.information_traces, rtol=1e-9)
        assert np.array_equal(a.se_rel_error, np.zeros(4)) and a.se_probes == 0


@pytest.mark.slow
def test_monte_carlo_traces_are_within_their_reported_error():
    # the Monte Carlo standard errors against the exact ones at the same estimate: each
    # error within 4 of its own estimated standard errors, over several seeds
    n = 2_500
    W = _knn_weights(n, seed=7)
    y, X = _simulate(W, 0.5, seed=3)
    exact = fit_lag(y, X, W, traces="exact")
    assert exact.trace_method == "exact"
    zs = []
    for seed in range(4):
        mc = fit_lag(y, X, W, traces="mc", se_probes=64, seed=seed)
        assert mc.trace_method == "hutchinson" and mc.se_probes == 64
        assert mc.rho == exact.rho  # same (exact) log-determinant
        assert np.all(mc.se_rel_error > 0) and np.all(mc.se_rel_error < 1e-2)
        zs.append((mc.se / exact.se - 1) / mc.se_rel_error)
    zs = np.array(zs)
    assert np.all(np.abs(zs) < 4), zs
    assert np.mean(zs**2) < 4  # the reported error is not far too small on average
    # adaptive probes: stop once every relative error is below se_tol
    adaptive = fit_lag(y, X, W, traces="mc", se_tol=2e-3, seed=1)
    assert np.max(adaptive.se_rel_error) <= 2e-3
    assert adaptive.se_probes % 32 == 0 and adaptive.se_probes < 4096
    np.testing.assert_allclose(adaptive.se, exact.se, rtol=8e-3)


def test_trace_options_are_checked(knn600):
    y, _, X, W = knn600
    with pytest.raises(ModelError, match="traces='dense' must be 'auto'.*'exact' or 'mc'"):
        fit_lag(y, X, W, traces="dense")
    with pytest.raises(ModelError, match="se_tol=0 must be a positive number"):
        fit_lag(y, X, W, se_tol=0)
    with pytest.raises(ModelError, match="se_probes=1 must be an integer of at least 2"):
        fit_lag(y, X, W, traces="mc", se_probes=1)


def test_logdet_engines_agree_with_dense_slogdet():
    n = 800
    W = _knn_weights(n, seed=7)
    D = W.toarray()
    rng = np.random.default_rng(0)
    lu = LULogDet(W)
    series = SeriesLogDet(PowerTraces(W, rng=rng, n_vectors=100), 1.0)
    series.use_powers(400)
    cheb = ChebyshevLogDet(W, 1.0, rng=rng, n_vectors=100, degree=60)
    for rho in (-0.7, -0.2, 0.3, 0.8):
        exact = np.linalg.slogdet(np.eye(n) - rho * D)[1]
        assert lu(rho) == pytest.approx(exact, rel=1e-10, abs=1e-8)
        # per-observation error of the approximations
        assert abs(series(rho) - exact) / n < 2e-3
        assert abs(cheb(rho) - exact) / n < 2e-3


def test_trace_powers_exact_and_mc():
    n = 300
    W = _knn_weights(n, seed=9)
    D = W.toarray()
    expected = [np.trace(np.linalg.matrix_power(D, j)) / n for j in range(9)]
    exact = trace_powers(W, 8)
    np.testing.assert_allclose(exact, expected, rtol=1e-10, atol=1e-12)
    mc = trace_powers(W, 8, method="mc", seed=1, n_vectors=200)
    np.testing.assert_allclose(mc[:5], expected[:5], rtol=1e-10, atol=1e-12)  # exact low orders
    np.testing.assert_allclose(mc[5:], expected[5:], atol=0.01)
    np.testing.assert_array_equal(mc, trace_powers(W, 8, method="mc", seed=1, n_vectors=200))


def test_mean_direct_multiplier_series_equals_exact():
    n = 500
    W = _knn_weights(n, seed=4)
    rho = 0.55
    exact = np.trace(np.linalg.inv(np.eye(n) - rho * W.toarray())) / n
    assert mean_direct_multiplier(W, rho) == pytest.approx(exact, rel=1e-10)
    assert mean_direct_multiplier(W, rho, method="mc", seed=3) == pytest.approx(exact, rel=1e-3)


def test_fit_traces_feed_mean_direct_multiplier():
    n = 2_200
    W = _knn_weights(n, seed=8)
    y, X = _simulate(W, 0.5, seed=3)
    fit = fit_lag(y, X, W, logdet="mc")
    assert fit.traces is not None and fit.traces[0] == 1.0
    D = W.toarray()
    exact = np.trace(np.linalg.inv(np.eye(n) - fit.rho * D)) / n
    assert mean_direct_multiplier(W, fit.rho, traces=fit.traces) == pytest.approx(exact, rel=1e-3)


def test_binary_weights_are_scaled_by_spectral_radius(knn600):
    y, _, X, W = knn600
    B = W.copy()
    B.data[:] = 1.0  # binary knn: spectral radius 8
    lu = fit_lag(y, X, B, logdet="lu")
    mc = fit_lag(y, X, B, logdet="mc")
    assert lu.bounds[1] == pytest.approx(1 / 8, rel=1e-3)
    assert abs(lu.rho - mc.rho) < 1e-3 / 8
    np.testing.assert_allclose(lu.beta, mc.beta, rtol=1e-3)


# ------------------------------------------------------------------ known truth at larger n


@pytest.mark.slow
def test_known_truth_at_12k_with_monte_carlo():
    n = 12_000
    W = _knn_weights(n, seed=12)
    y, X = _simulate(W, 0.6, seed=4)
    ye, Xe = _simulate(W, 0.4, seed=5, model="error")
    lag = fit_lag(y, X, W, logdet="mc", traces="mc", se_tol=2e-4)
    err = fit_error(ye, Xe, W, logdet="mc", traces="mc", se_tol=2e-4)
    assert lag.se_rel_error.max() <= 2e-4 and err.se_rel_error.max() <= 2e-4
    assert lag.logdet_method == "mc" and lag.trace_method == "hutchinson"
    assert fit_lag(y, X, W, se=False).logdet_method == "exact-lu"  # auto at 12,000
    for fit, truth in ((lag, 0.6), (err, 0.4)):
        z = (np.r_[fit.beta, fit.rho] - np.r_[1.0, 2.0, -1.0, truth]) / fit.se
        assert np.all(np.abs(z) < 4), z
    # the exact LU fit on the same data agrees to the stated tolerances
    exact = fit_lag(y, X, W, logdet="lu", se=False)
    assert abs(lag.rho - exact.rho) < 1e-3
    np.testing.assert_allclose(lag.beta, exact.beta, rtol=1e-3)
    # rows are reordered internally; residuals come back in input order
    np.testing.assert_allclose(lag.resid, (y - lag.rho * (W @ y)) - X @ lag.beta, atol=1e-8)


# ------------------------------------------------------------------ behaviour


def test_auto_rule_by_n():
    assert resolve_logdet_method("auto", 20_000) == "lu"
    assert resolve_logdet_method("auto", 20_001) == "mc"
    assert mlt.resolve_traces("auto", 20_000) == "exact"
    assert mlt.resolve_traces("auto", 20_001) == "mc"
    assert resolve_logdet_method("exact", 50) == "lu"
    with pytest.raises(ModelError, match="logdet='cholesky' is not one of"):
        resolve_logdet_method("cholesky", 50)
    with pytest.raises(ModelError, match="dense 20,000 x 20,000 eigenproblem"):
        resolve_logdet_method("eigen", 20_000)


def test_same_seed_same_output_and_inputs_untouched(knn600):
    y, _, X, W = knn600
    y0, X0, W0 = y.copy(), X.copy(), W.copy()
    a = fit_lag(y, X, W, logdet="mc", seed=5)
    b = fit_lag(y, X, W, logdet="mc", seed=5)
    c = fit_lag(y, X, W, logdet="mc", seed=6)
    assert a.rho == b.rho and np.array_equal(a.vcov, b.vcov)
    assert a.rho != c.rho
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(X, X0)
    assert (W != W0).nnz == 0
    gen = fit_lag(y, X, W, logdet="mc", seed=np.random.default_rng(5))
    assert gen.rho == a.rho


def test_graph_input_and_repr(columbus):
    y, X, _ = columbus
    g = gc.weights(gc.datasets.load_columbus(), "queen")
    fit = fit_lag(y, X, g)
    assert isinstance(fit, SparseMLFit)
    text = repr(fit)
    assert text.startswith("<SparseMLFit spatial lag: n=49, k=3, rho=0.4233")
    assert "logdet=exact-lu" in text


def test_bad_inputs(columbus):
    y, X, W = columbus
    bad = y.copy()
    bad[[3, 7]] = np.nan
    with pytest.raises(
        ModelError, match=r"y has 2 rows with NaN or infinite values \(e.g. rows \[3, 7\]\)"
    ):
        fit_lag(bad, X, W)
    Xbad = X.copy()
    Xbad[5, 1] = np.inf
    with pytest.raises(ModelError, match="X has 1 rows with NaN"):
        fit_error(y, Xbad, W)
    with pytest.raises(WeightsError, match="W is 48 x 48 but the data have 49 rows"):
        fit_lag(y, X, W[:48, :48])
    with pytest.raises(WeightsError, match=r"W must be square; its shape is \(49, 48\)"):
        fit_lag(y, X, W[:, :48])
    with pytest.raises(WeightsError, match="W must be a scipy sparse matrix"):
        fit_lag(y, X, [[0, 1], [1, 0]])
    with pytest.raises(ModelError, match="X must be n x k with n = len"):
        fit_lag(y, X[:40], W)
    with pytest.raises(ModelError, match="columns of X are linearly dependent"):
        fit_lag(y, np.column_stack([X, X[:, 1] * 2]), W)
    with pytest.raises(ModelError, match="logdet='fast' is not one of"):
        fit_lag(y, X, W, logdet="fast")


def test_boundary_estimate_raises():
    # 20 separate triangles: eigenvalues 1 and -1/2, so log det stays finite at rho = -1,
    # and y with W y = -y / 2 pushes the estimate to the lower bound.
    n = 60
    block = np.ones((3, 3)) - np.eye(3)
    W = sp.block_diag([sp.csr_matrix(block / 2)] * 20, format="csr")
    rng = np.random.default_rng(0)
    y = np.tile([1.0, -1.0, 0.0], 20) + 0.01 * rng.normal(size=n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    with pytest.raises(ModelError, match="ML estimate of rho is at the lower bound"):
        fit_lag(y, X, W)
    with pytest.raises(ModelError, match="ML estimate of lambda is at the lower bound"):
        fit_error(y, X, W)


def test_islands_are_allowed(knn600):
    # an island (a zero row and column) keeps the row-stochastic bound and all methods run
    y, ye, X, W = knn600
    W = sp.lil_matrix(W)
    W[0, :] = 0
    W[:, 0] = 0
    W = sp.csr_matrix(W)
    rows = np.asarray(W.sum(axis=1)).ravel()
    rows[rows == 0] = 1
    W = sp.csr_matrix(sp.diags(1 / rows) @ W)
    exact = fit_lag(y, X, W, logdet="lu")
    approx = fit_lag(y, X, W, logdet="mc")
    assert exact.bounds[1] == pytest.approx(1.0, abs=1e-5)
    assert abs(exact.rho - approx.rho) < 1e-3
    err = fit_error(ye, X, W)
    assert np.all(np.isfinite(err.se))


# ------------------------------------------------------------------ regress(seed=)


def _firm_frame(n: int, seed: int, rho: float = 0.5) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100_000, size=(n, 2))
    W = _knn_weights(n, seed=seed)  # the same points (same generator draws first)
    y, X = _simulate(W, rho, seed=seed + 1)
    return gpd.GeoDataFrame(
        {"y": y, "x1": X[:, 1], "x2": X[:, 2]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:3857",
    )


def _same(a, b) -> bool:
    return a.params.equals(b.params) and a.bse.equals(b.bse) and a.loglik == b.loglik


def test_regress_seed_reaches_the_monte_carlo_log_determinant():
    frame = _firm_frame(1_500, seed=11)
    before = frame.copy()
    fits = {s: gc.regress("y ~ x1 + x2", frame, logdet="mc", seed=s) for s in (3, 4)}
    again = gc.regress("y ~ x1 + x2", frame, logdet="mc", seed=3)
    assert _same(fits[3], again)
    assert fits[3].params["rho"] != fits[4].params["rho"]
    assert not fits[3].bse.equals(fits[4].bse)
    assert fits[3].extra["seed"] == 3
    gen = gc.regress("y ~ x1 + x2", frame, logdet="mc", seed=np.random.default_rng(3))
    assert gen.extra["seed"] == "Generator" and gen.params.equals(again.params)
    # exact routes draw nothing: every seed gives the same fit
    assert _same(
        gc.regress("y ~ x1 + x2", frame, seed=3), gc.regress("y ~ x1 + x2", frame, seed=4)
    )
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_regress_rejects_a_bad_seed(seed):
    frame = _firm_frame(60, seed=1)
    with pytest.raises(
        InputError,
        match=r"regress: seed=.* must be None, a non-negative int or a numpy Generator",
    ):
        gc.regress("y ~ x1 + x2", frame, seed=seed)


@pytest.mark.slow
def test_regress_seed_at_monte_carlo_size():
    # above 20,000 rows both the log-determinant and the traces are Monte Carlo
    frame = _firm_frame(20_500, seed=21)
    a = gc.regress("y ~ x1 + x2", frame, seed=1)
    b = gc.regress("y ~ x1 + x2", frame, seed=1)
    c = gc.regress("y ~ x1 + x2", frame, seed=2)
    assert _same(a, b)
    assert a.params["rho"] != c.params["rho"] and not a.bse.equals(c.bse)
    assert "log-determinant mc" in a.estimator and "Monte Carlo with" in a.estimator
    rel = a.extra["se_rel_error"]
    assert list(rel.index) == list(a.params.index)
    assert 0 < rel.max() <= mlt.DEFAULT_SE_TOL
    assert abs(a.params["rho"] - 0.5) < 4 * a.bse["rho"]


def test_exact_control_variate_terms_equal_dense_powers():
    # tr(W^j), j <= 6, and tr((W^i)' W^j), i + j <= 6, from sparse products only
    rng = np.random.default_rng(1)
    n = 60
    D = (rng.random((n, n)) < 0.1) * rng.random((n, n))
    np.fill_diagonal(D, 0)
    D = D / np.maximum(D.sum(axis=1, keepdims=True), 1e-9)
    T, gram = mlt.exact_series_terms(sp.csr_matrix(D))
    P = {j: np.linalg.matrix_power(D, j) for j in range(1, 7)}
    np.testing.assert_allclose(T[1:], [np.trace(P[j]) for j in range(1, 7)], atol=1e-13)
    assert sorted(gram) == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 2), (2, 3), (2, 4),
                            (3, 3)]
    for (i, j), value in gram.items():
        assert value == pytest.approx(np.sum(P[i] * P[j]), abs=1e-13)


def test_monte_carlo_traces_short_of_se_tol_warn(knn600):
    y, _, X, W = knn600
    with pytest.warns(
        gc.GeoclusterWarning,
        match=r"stopped at max_se_probes=64 probe vectors with an estimated relative error "
        r"of up to .* in the 4 standard errors \(se_tol=1e-09\).*raise max_se_probes or use "
        r"traces='exact'",
    ):
        fit = fit_lag(y, X, W, traces="mc", se_tol=1e-9, max_se_probes=64)
    assert fit.se_probes == 64 and fit.se_rel_error.max() > 1e-9


def test_robustness_passes_each_specification_a_seed_for_regress(monkeypatch):
    # gc.robustness spawns one seed per specification; each must reach regress(seed=)
    from geocluster.robustness import fit as robustness_fit

    firms = gc.datasets.make_firms(300, seed=1)
    real = robustness_fit.regress
    seen: list = []

    def spy(*args, **kwargs):
        seed = kwargs["seed"]
        assert isinstance(seed, np.random.Generator)
        seen.append(int(np.random.default_rng(seed).integers(0, 2**62)))
        return real(*args, **kwargs)

    monkeypatch.setattr(robustness_fit, "regress", spy)
    options = {"weights": ["knn:4"], "models": ["ols", "lag"], "progress": False, "n_jobs": 1}
    gc.robustness("intl ~ cluster + age", firms, focus="cluster", seed=5, **options)
    first = list(seen)
    seen.clear()
    gc.robustness("intl ~ cluster + age", firms, focus="cluster", seed=5, **options)
    assert len(first) >= 2 and seen == first  # the same seed, the same per-fit seeds
    assert len(set(first)) == len(first)  # a different seed for each specification
    seen.clear()
    gc.robustness("intl ~ cluster + age", firms, focus="cluster", seed=6, **options)
    assert seen != first
