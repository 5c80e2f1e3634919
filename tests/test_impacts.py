"""Tests of impacts (LeSage & Pace): R's Columbus impacts, dense formulas, traces, simulation."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import geocluster as gc
from geocluster.models.impacts import multipliers, trace_powers

REF = json.loads((Path(__file__).parent / "data" / "columbus_r_spdep.json").read_text())


@pytest.fixture(scope="module")
def columbus():
    return gc.datasets.load_columbus()


@pytest.fixture(scope="module")
def lag(columbus):
    return gc.regress("CRIME ~ INC + HOVAL", columbus, model="lag", weights="queen")


@pytest.fixture(scope="module")
def knn_W():
    rng = np.random.default_rng(42)
    xy = rng.uniform(size=(500, 2))
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]))
    return gc.weights(gdf, "knn:6").sparse.tocsr()


def _point(table: pd.DataFrame, variable: str, effect: str) -> float:
    row = table[(table["variable"] == variable) & (table["effect"] == effect)]
    return float(row["estimate"].iloc[0])


def test_columbus_point_impacts_match_r(lag):
    table = lag.impacts(simulations=0)
    ref = REF["lag_ml"]["impacts"]
    for effect in ("direct", "indirect", "total"):
        for variable in ("INC", "HOVAL"):
            assert _point(table, variable, effect) == pytest.approx(ref[effect][variable], rel=1e-6)
    assert table.attrs["multipliers"] == "exact"
    assert table["std_error"].isna().all()


def test_durbin_impacts_equal_dense_formula(columbus):
    res = gc.regress("CRIME ~ INC + HOVAL", columbus, model="durbin", weights="queen")
    W = res.W.toarray()
    S = np.linalg.inv(np.eye(49) - res.rho * W)
    table = res.impacts(simulations=0)
    for v in ("INC", "HOVAL"):
        b, t = res.params[v], res.params[f"W_{v}"]
        Sk = S @ (b * np.eye(49) + t * W)
        assert _point(table, v, "direct") == pytest.approx(np.trace(Sk) / 49, rel=1e-10)
        assert _point(table, v, "total") == pytest.approx(Sk.sum() / 49, rel=1e-10)
        assert _point(table, v, "indirect") == pytest.approx(
            (Sk.sum() - np.trace(Sk)) / 49, rel=1e-9
        )


def test_simulated_se_close_to_delta_method(lag):
    """SEs by simulation agree with a delta-method SE computed from the dense inverse."""
    table = lag.impacts(simulations=4000, seed=7)
    names = list(lag.params.index)
    V = lag.cov_params().to_numpy()
    W = lag.W.toarray()

    def direct(p):
        S = np.linalg.inv(np.eye(49) - p[names.index("rho")] * W)
        return p[names.index("INC")] * np.trace(S) / 49

    p0 = lag.params.to_numpy()
    grad = np.zeros(len(p0))
    for i in range(len(p0)):
        h = np.zeros(len(p0))
        h[i] = 1e-6
        grad[i] = (direct(p0 + h) - direct(p0 - h)) / 2e-6
    delta_se = float(np.sqrt(grad @ V @ grad))
    row = table[(table["variable"] == "INC") & (table["effect"] == "direct")].iloc[0]
    assert row["std_error"] == pytest.approx(delta_se, rel=0.1)
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    assert row["statistic"] == pytest.approx(row["estimate"] / row["std_error"])


def test_simulation_reproducible_with_seed(lag):
    a = lag.impacts(simulations=200, seed=3)
    b = lag.impacts(simulations=200, seed=3)
    c = lag.impacts(simulations=200, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["std_error"], c["std_error"])
    assert a.attrs["seed"] == 3 and a.attrs["simulations"] == 200


def test_ols_and_error_impacts_are_the_coefficients(columbus):
    for model in ("ols", "error"):
        res = gc.regress("CRIME ~ INC + HOVAL", columbus, model=model, weights="queen")
        table = res.impacts()
        for v in ("INC", "HOVAL"):
            assert _point(table, v, "direct") == res.params[v]
            assert _point(table, v, "total") == res.params[v]
            assert _point(table, v, "indirect") == 0.0


def test_trace_powers_against_dense(knn_W):
    n = knn_W.shape[0]
    dense = knn_W.toarray()
    exact, P = [], np.eye(n)
    for _ in range(7):
        exact.append(np.trace(P) / n)
        P = P @ dense
    est = trace_powers(knn_W, 6, probes=200, seed=1)
    assert est[:5] == pytest.approx(exact[:5], abs=1e-12)  # exact low powers
    assert est[5:] == pytest.approx(exact[5:], abs=0.01)  # Hutchinson
    assert np.array_equal(est, trace_powers(knn_W, 6, probes=200, seed=1))


@pytest.fixture(scope="module")
def knn_multipliers(knn_W):
    return multipliers(knn_W, method="exact"), multipliers(knn_W, method="traces", seed=0)


@pytest.mark.parametrize("rho", [-0.3, 0.4, 0.8])
def test_trace_multipliers_close_to_exact(knn_W, knn_multipliers, rho):
    exact, approx = knn_multipliers
    n = knn_W.shape[0]
    dense = knn_W.toarray()
    S = np.linalg.inv(np.eye(n) - rho * dense)
    assert float(exact.direct(rho)) == pytest.approx(np.trace(S) / n, rel=1e-10)
    assert float(exact.direct_wx(rho)) == pytest.approx(np.trace(S @ dense) / n, rel=1e-8)
    assert float(approx.direct(rho)) == pytest.approx(np.trace(S) / n, rel=2e-3)
    assert float(approx.direct_wx(rho)) == pytest.approx(np.trace(S @ dense) / n, rel=1e-2)


def test_large_n_uses_traces():
    rng = np.random.default_rng(5)
    n = 2500
    xy = rng.uniform(size=(n, 2))
    gdf = gpd.GeoDataFrame(
        {"x": rng.normal(size=n)}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1])
    )
    W = gc.weights(gdf, "knn:6").sparse
    from scipy.sparse import eye
    from scipy.sparse.linalg import spsolve

    gdf["y"] = spsolve((eye(n) - 0.5 * W).tocsc(), 1 + gdf["x"].to_numpy() + rng.normal(size=n))
    res = gc.regress("y ~ x", gdf, model="lag", method="gmm", weights="knn:6")
    table = res.impacts(simulations=100, seed=1)
    assert table.attrs["multipliers"].startswith("traces")
    total = _point(table, "x", "total")
    assert total == pytest.approx(res.params["x"] / (1 - res.rho), rel=1e-12)
    direct = _point(table, "x", "direct")
    exact = np.trace(np.linalg.inv(np.eye(n) - res.rho * W.toarray())) / n
    assert direct == pytest.approx(res.params["x"] * exact, rel=1e-3)
    assert res.mean_multipliers()["direct"] == pytest.approx(exact, rel=1e-3)


def test_total_multiplier_with_kept_isolates():
    rng = np.random.default_rng(8)
    n = 150
    xy = rng.uniform(0, 10_000, size=(n, 2))
    xy[:3] = [[1e6, 1e6], [2e6, 2e6], [3e6, 3e6]]  # three remote firms
    gdf = gpd.GeoDataFrame(
        {"x": rng.normal(size=n), "y": rng.normal(size=n)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:5070",
    )
    with pytest.warns(gc.GeoclusterWarning, match="3 of 150"):
        W = gc.weights(gdf, "distance:3km", isolates="keep").sparse
    from scipy.sparse import eye
    from scipy.sparse.linalg import spsolve

    gdf["y"] = spsolve((eye(n) - 0.6 * W).tocsc(), 1 + gdf["x"].to_numpy() + gdf["y"].to_numpy())
    res = gc.regress("y ~ x", gdf, weights="distance:3km", isolates="keep")
    S = np.linalg.inv(np.eye(n) - res.rho * res.W.toarray())
    m = res.mean_multipliers()
    assert m["total"] == pytest.approx(S.sum() / n, rel=1e-10)
    assert m["direct"] == pytest.approx(np.trace(S) / n, rel=1e-10)
    table = res.impacts(simulations=0)
    assert _point(table, "x", "total") == pytest.approx(res.params["x"] * S.sum() / n)


def test_bad_impacts_arguments(lag):
    with pytest.raises(gc.InputError, match="impacts: seed='x' must be None, a non-negative int"):
        lag.impacts(seed="x")
    with pytest.raises(gc.InputError, match="simulations=-1 must be an integer >= 0"):
        lag.impacts(simulations=-1)
    with pytest.raises(gc.InputError, match="alpha=1.5"):
        lag.impacts(alpha=1.5)
    # a Generator is accepted and gives the same draws as its integer seed
    a = lag.impacts(simulations=50, seed=np.random.default_rng(5))
    b = lag.impacts(simulations=50, seed=5)
    assert np.allclose(a["std_error"], b["std_error"])


def test_simulations_beyond_memory_are_refused_before_drawing(lag):
    # 10**9 draws of 4 estimates: at least 10**9 x 4 x 8 bytes = 29.8 GiB for the draws alone
    with pytest.raises(gc.InputError, match=r"impacts\(simulations=\): 1,000,000,000 draws of "
                       r"the 4 estimates would need about \d+\.\d GiB.*use simulations=1000"):
        lag.impacts(simulations=10**9)
    # the refusal names the largest size that fits, and that size runs (here: a small one)
    from geocluster.models._limits import MAX_BYTES

    assert MAX_BYTES == 2 * 1024**3
    table = lag.impacts(simulations=50, seed=1)
    assert table["std_error"].notna().all()
