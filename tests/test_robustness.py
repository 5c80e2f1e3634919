import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.figure import Figure

import geocluster as gc
from geocluster.errors import InputError

FORMULA = "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"


@pytest.fixture(scope="module")
def firms():
    return gc.datasets.make_firms(600, seed=21)


@pytest.fixture(scope="module")
def sweep(firms):
    return gc.robustness(
        FORMULA, firms, focus=["serial:cluster", "cluster", "slope:cluster|serial=1"],
        weights=["knn:4", "knn:8"], models=["ols", "lag", "error"],
        exposure=["cluster", "count:15km"], inference=["classical", "white"],
        progress=False, seed=5,
    )


def test_table_is_tidy(sweep):
    table = sweep.table
    # OLS: 2 weights x 2 exposures x 2 inference; lag/error: 2 x 2 each (no OLS SE options).
    assert table["spec"].nunique() == 8 + 4 + 4
    assert len(table) == 16 * 3
    for column in ["weights", "model", "exposure", "method", "inference", "term", "estimate",
                   "se", "ci_low", "ci_high", "p_value", "spatial_param", "loglik", "aic",
                   "nobs", "resid_moran_I", "resid_moran_p", "residual_autocorrelation", "error"]:
        assert column in table.columns
    assert table["error"].isna().all()
    lag = table[table["model"] == "lag"]
    assert lag["spatial_param"].between(0.2, 0.7).all()  # truth: rho = 0.4
    assert (table.loc[table["model"] == "ols", "spatial_param"].isna()).all()
    np.testing.assert_allclose(table["ci_high"] - table["estimate"],
                               table["estimate"] - table["ci_low"])


def test_reference_values_equal_a_direct_fit(sweep, firms):
    direct = gc.regress(FORMULA, firms, model="ols", weights="knn:4")
    ref = sweep.table[sweep.table["is_reference"]].set_index("term")
    assert ref.loc["cluster", "estimate"] == pytest.approx(direct.params["cluster"], rel=1e-10)
    assert ref.loc["serial:cluster", "se"] == pytest.approx(direct.bse["serial:cluster"], rel=1e-10)
    assert sweep.reference == {"weights": "knn:4", "model": "ols", "exposure": "cluster",
                               "method": "ols", "inference": "classical"}


def test_effect_focus_equals_marginal_effect(sweep, firms):
    direct = gc.regress(FORMULA, firms, model="ols", weights="knn:4")
    at = float(np.median(firms["cluster"]))
    me = direct.marginal_effects("cluster", by="serial", at=[at], effects=("direct",))
    expected = me[me["group"].astype(str) == "1"]["estimate"].iloc[0]
    ref = sweep.table[sweep.table["is_reference"]].set_index("term")
    assert ref.loc["slope:cluster|serial=1", "estimate"] == pytest.approx(expected, rel=1e-10)


def test_planted_effect_is_robust(sweep):
    summary = sweep.summary()
    # make_firms plants serial:cluster = 0.4 > 0 and cluster = 0.5 > 0.
    assert summary.loc["serial:cluster", "share_significant_same_sign"] >= 0.8
    assert summary.loc["cluster", "share_significant_same_sign"] == 1.0
    assert summary.loc["cluster", "reference_estimate"] > 0


def test_no_effect_is_not_robust(firms):
    rng = np.random.default_rng(3)
    null = firms.assign(intl=rng.normal(size=len(firms)))
    sweep = gc.robustness("intl ~ cluster + np.log(employees)", null, focus="cluster",
                          weights=["knn:4", "knn:8"], models=["ols", "lag", "error"],
                          exposure=["cluster", "count:15km", "count:40km"], progress=False,
                          seed=5)
    assert sweep.summary().loc["cluster", "share_significant_same_sign"] <= 0.3


def test_failed_specification_is_recorded(firms):
    data = firms.assign(constant=1.0)
    sweep = gc.robustness(FORMULA, data, focus="cluster", weights=["knn:8"], models=["ols"],
                          exposure=["cluster", "constant"], progress=False)
    table = sweep.table.set_index("exposure")
    assert pd.isna(table.loc["cluster", "error"])
    assert isinstance(table.loc["constant", "error"], str) and table.loc["constant", "error"]
    assert np.isnan(table.loc["constant", "estimate"])
    assert sweep.summary().loc["cluster", "failed"] == 1


def test_hac_standard_errors_come_from_spreg(firms):
    import spreg
    from libpysal.weights import Kernel

    sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster", weights=["knn:8"],
                          models=["ols"], inference=["hac"], progress=False)
    metric = gc.to_metric(firms)
    xy = np.column_stack([metric.geometry.x, metric.geometry.y])
    kernel = Kernel(xy, k=8, function="triangular", fixed=False, diagonal=True)
    X = firms[["cluster", "age"]].to_numpy(float)
    ols = spreg.OLS(firms[["intl"]].to_numpy(float), X, robust="hac", gwk=kernel, sig2n_k=True)
    assert sweep.table["se"].iloc[0] == pytest.approx(np.sqrt(ols.vm[1, 1]), rel=1e-8)


def test_weights_built_once_per_spec(firms, monkeypatch):
    calls = []
    real = gc.weights

    def counting(gdf, spec, **kwargs):
        if isinstance(spec, str):
            calls.append(spec)
        return real(gdf, spec, **kwargs)

    monkeypatch.setattr(gc, "weights", counting)
    gc.robustness(FORMULA, firms, focus="cluster", weights=["knn:4", "knn:6"],
                  models=["ols", "lag"], progress=False)
    assert sorted(calls) == ["knn:4", "knn:6"]


def test_deterministic_for_a_seed(firms):
    kwargs = dict(focus="cluster", weights=["knn:8"], models=["ols"],
                  exposure=["kde:20km", "count:20km"], progress=False, seed=9)
    a = gc.robustness(FORMULA, firms, **kwargs).table.drop(columns="seconds")
    b = gc.robustness(FORMULA, firms, **kwargs).table.drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)


def test_bad_input(firms):
    with pytest.raises(InputError, match="focus= is empty"):
        gc.robustness(FORMULA, firms, focus=[])
    with pytest.raises(InputError, match=r"weights= is empty"):
        gc.robustness(FORMULA, firms, focus="cluster", weights=[])
    with pytest.raises(InputError, match=r"models=\['probit'\] not allowed"):
        gc.robustness(FORMULA, firms, focus="cluster", models=["probit"])
    with pytest.raises(InputError, match="unknown focus term 'clustr'.*model's terms are"):
        gc.robustness(FORMULA, firms, focus="clustr", models=["ols"], progress=False)
    with pytest.raises(InputError, match="exposure item 'kde25' is neither"):
        gc.robustness(FORMULA, firms, focus="cluster", exposure=["kde25"])


def test_outputs(sweep, tmp_path):
    fig = sweep.plot("serial:cluster")
    assert isinstance(fig, Figure)
    top = fig.axes[0]
    assert "serial:cluster" in top.get_title() and top.get_ylabel()
    assert fig.axes[1].get_xlabel() == "specifications, sorted by estimate"
    path = tmp_path / "sweep.csv"
    sweep.to_csv(path)
    assert len(pd.read_csv(path)) == len(sweep.table)
    assert "16 specifications" in repr(sweep)
    with pytest.raises(InputError, match="not a focus term"):
        sweep.plot("age")


def test_lisa_sensitivity_matches_hand_computed_jaccard(columbus):
    sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen", "knn:4"],
                                  permutations=99, correction=None, seed=2)
    sets = {}
    for spec in ["queen", "knn:4"]:
        lisa = gc.local_moran(columbus, "CRIME", weights=spec, permutations=99,
                              correction=None, seed=int(np.random.default_rng(2).integers(0, 2**31 - 1)))
        sets[spec] = set(lisa.index[lisa["lisa_cluster"] == "HH"])
    expected = len(sets["queen"] & sets["knn:4"]) / len(sets["queen"] | sets["knn:4"])
    assert sens.overlap.loc["queen", "knn:4"] == pytest.approx(expected)
    assert sens.overlap.loc["knn:4", "queen"] == pytest.approx(expected)
    assert np.allclose(np.diag(sens.overlap), 1.0)
    assert sens.table["hh_units"].tolist() == [len(sets["queen"]), len(sets["knn:4"])]
    assert isinstance(sens.plot(), Figure)


def test_density_sensitivity_area_overlap(firms):
    sens = gc.cluster_sensitivity(firms, method="density", bandwidths=["30km", "50km"],
                                  levels=[0.9], simulations=19, seed=4,
                                  subset=("industry", "software"), cell_size="10km")
    a, b = sens.maps.values()
    if len(a) and len(b):
        ua, ub = a.geometry.union_all(), b.to_crs(a.crs).geometry.union_all()
        expected = shapely.area(ua.intersection(ub)) / shapely.area(ua.union(ub))
        assert sens.overlap.iloc[0, 1] == pytest.approx(expected)
    assert 0.0 <= sens.overlap.iloc[0, 1] <= 1.0
    assert set(sens.table.columns) >= {"bandwidth", "level", "clusters", "area_km2"}
    with pytest.raises(InputError, match="method='kde' must be 'lisa' or 'density'"):
        gc.cluster_sensitivity(firms, method="kde")


@pytest.mark.slow
def test_parallel_sweep_equals_serial(firms):
    kwargs = dict(focus="serial:cluster", weights=["knn:4", "knn:8"], models=["ols", "lag"],
                  progress=False, seed=2)
    serial = gc.robustness(FORMULA, firms, n_jobs=1, **kwargs).table.drop(columns="seconds")
    parallel = gc.robustness(FORMULA, firms, n_jobs=2, **kwargs).table.drop(columns="seconds")
    pd.testing.assert_frame_equal(serial, parallel)
