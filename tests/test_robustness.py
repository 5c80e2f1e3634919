import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.figure import Figure

import geocluster as gc
from geocluster._base.summary import Summary
from geocluster.clusters.hdbscan import hdbscan_clusters
from geocluster.errors import InputError
from geocluster.robustness import sweep as sweep_module
from geocluster.robustness.fit import sample_key
from geocluster.robustness.measures import Alternative
from geocluster.robustness.sensitivity import jaccard_area, jaccard_sets
from geocluster.robustness.sweep import check_dimensions, reference_spec

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
                   "std_error", "ci_low", "ci_high", "p_value", "spatial_param", "loglik", "aic",
                   "nobs", "resid_moran_I", "resid_moran_p_value", "residual_autocorrelation",
                   "error"]:
        assert column in table.columns
    assert table["error"].isna().all()
    lag = table[table["model"] == "lag"]
    assert lag["spatial_param"].between(0.2, 0.7).all()  # truth: rho = 0.4
    assert (table.loc[table["model"] == "ols", "spatial_param"].isna()).all()
    np.testing.assert_allclose(table["ci_high"] - table["estimate"],
                               table["estimate"] - table["ci_low"])


def test_reference_values_equal_a_direct_fit(sweep, firms):
    direct = gc.regress(FORMULA, firms, model="ols", weights="knn:4")
    ref = sweep.table[sweep.table["reference"]].set_index("term")
    assert ref.loc["cluster", "estimate"] == pytest.approx(direct.params["cluster"], rel=1e-10)
    assert ref.loc["serial:cluster", "std_error"] == pytest.approx(direct.bse["serial:cluster"], rel=1e-10)
    assert sweep.reference == {"weights": "knn:4", "model": "ols", "exposure": "cluster",
                               "method": "ols", "inference": "classical"}


def test_effect_focus_equals_marginal_effect(sweep, firms):
    direct = gc.regress(FORMULA, firms, model="ols", weights="knn:4")
    at = float(np.median(firms["cluster"]))
    me = direct.marginal_effects("cluster", by="serial", at=[at], effects=("direct",))
    expected = me[me["group"].astype(str) == "1"]["estimate"].iloc[0]
    ref = sweep.table[sweep.table["reference"]].set_index("term")
    assert ref.loc["slope:cluster|serial=1", "estimate"] == pytest.approx(expected, rel=1e-10)


def test_planted_effect_is_robust(sweep):
    summary = sweep.shares()
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
    assert sweep.shares().loc["cluster", "share_significant_same_sign"] <= 0.3


def test_failed_specification_is_recorded(firms):
    data = firms.assign(constant=1.0)
    sweep = gc.robustness(FORMULA, data, focus="cluster", weights=["knn:8"], models=["ols"],
                          exposure=["cluster", "constant"], progress=False)
    table = sweep.table.set_index("exposure")
    assert pd.isna(table.loc["cluster", "error"])
    assert isinstance(table.loc["constant", "error"], str) and table.loc["constant", "error"]
    assert np.isnan(table.loc["constant", "estimate"])
    assert sweep.shares().loc["cluster", "failed"] == 1


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
    assert sweep.table["std_error"].iloc[0] == pytest.approx(np.sqrt(ols.vm[1, 1]), rel=1e-8)


def test_weights_built_once_per_spec(firms, monkeypatch):
    calls = []
    real = gc.weights

    def counting(gdf, spec, **kwargs):
        if isinstance(spec, str):
            calls.append(spec)
        return real(gdf, spec, **kwargs)

    monkeypatch.setattr(sweep_module, "build_weights", counting)
    gc.robustness(FORMULA, firms, focus="cluster", weights=["knn:4", "knn:6"],
                  models=["ols", "lag"], progress=False)
    assert sorted(calls) == ["knn:4", "knn:6"]


def test_deterministic_for_a_seed(firms):
    kwargs = dict(focus="cluster", weights=["knn:8"], models=["ols"],
                  exposure=["kde:20km", "count:20km"], progress=False, seed=9)
    a = gc.robustness(FORMULA, firms, **kwargs).table
    b = gc.robustness(FORMULA, firms, **kwargs).table
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
                                  alphas=[0.1], simulations=19, seed=4,
                                  subset=("industry", "software"), cell_size="10km")
    a, b = sens.maps.values()
    if len(a) and len(b):
        ua, ub = a.geometry.union_all(), b.to_crs(a.crs).geometry.union_all()
        expected = shapely.area(ua.intersection(ub)) / shapely.area(ua.union(ub))
        assert sens.overlap.iloc[0, 1] == pytest.approx(expected)
    if len(a) == 0 and len(b) == 0:
        assert np.isnan(sens.overlap.iloc[0, 1])  # two empty maps: undefined, not 1
    else:
        assert 0.0 <= sens.overlap.iloc[0, 1] <= 1.0
    assert set(sens.table.columns) >= {"bandwidth", "alpha", "clusters", "area_km2"}
    assert sens.table["label"].tolist() == ["bandwidth 30km, alpha 0.1", "bandwidth 50km, alpha 0.1"]
    with pytest.raises(InputError, match="method='kde' must be 'lisa' or 'density'"):
        gc.cluster_sensitivity(firms, method="kde")


@pytest.mark.slow
def test_parallel_sweep_equals_serial(firms):
    kwargs = dict(focus="serial:cluster", weights=["knn:4", "knn:8"], models=["ols", "lag"],
                  progress=False, seed=2)
    serial = gc.robustness(FORMULA, firms, n_jobs=1, **kwargs).table
    parallel = gc.robustness(FORMULA, firms, n_jobs=2, **kwargs).table
    pd.testing.assert_frame_equal(serial, parallel)


# --- reference specification, focus terms, samples, timings (issues 11 and 12) -----------------


def test_reference_is_the_studys_model_and_is_added_to_the_lists(firms):
    sweep = gc.robustness(FORMULA, firms, focus="cluster", weights=["knn:4"], models=["ols"],
                          reference={"weights": "knn:8", "model": "lag"}, progress=False)
    assert sweep.dimensions["weights"] == ["knn:8", "knn:4"]
    assert sweep.dimensions["model"] == ["lag", "ols"]
    assert sweep.reference == {"weights": "knn:8", "model": "lag", "exposure": "cluster",
                               "method": "ml", "inference": "model"}
    table = sweep.table
    assert table["spec"].nunique() == 4  # 2 weights x 2 models
    ref = table[table["reference"]]
    assert ref["spec"].tolist() == [0]
    assert (ref["weights"].iloc[0], ref["model"].iloc[0]) == ("knn:8", "lag")
    direct = gc.regress(FORMULA, firms, model="lag", weights="knn:8")
    assert ref["estimate"].iloc[0] == pytest.approx(direct.params["cluster"], rel=1e-10)
    summary = sweep.shares()
    assert summary.loc["cluster", "reference_spec"] == 0
    assert summary.loc["cluster", "reference"] == ("weights knn:8, model lag, exposure cluster, "
                                                   "method ml, inference model")
    assert summary.loc["cluster", "reference_estimate"] == pytest.approx(direct.params["cluster"],
                                                                         rel=1e-10)


def test_reference_exposure_spec_is_added(firms):
    sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster", weights=["knn:8"],
                          models=["ols"], exposure=["cluster"],
                          reference={"exposure": "count:15km"}, progress=False)
    assert sweep.dimensions["exposure"] == ["count:15km", "cluster"]
    assert sweep.table.loc[sweep.table["reference"], "exposure"].tolist() == ["count:15km"]
    measure = gc.exposure(firms, method="count", radius="15km", by="industry",
                          log="log1p", standardize=True, name="c15")
    direct = gc.regress("intl ~ c15 + age", measure, model="ols", weights="knn:8")
    est = sweep.table.set_index("exposure").loc["count:15km", "estimate"]
    assert est == pytest.approx(direct.params["c15"], rel=1e-10)


def test_bad_reference_is_refused(firms):
    with pytest.raises(InputError, match=r"reference has unknown key\(s\) \['weight'\] \(did you "
                       r"mean 'weights'\?\); use the keys"):
        gc.robustness(FORMULA, firms, focus="cluster", reference={"weight": "knn:8"})
    with pytest.raises(InputError, match=r"unknown key\(s\) \['units'\].*the exposure 'lq@<units>'"):
        gc.robustness(FORMULA, firms, focus="cluster", reference={"units": "counties"})
    with pytest.raises(InputError, match=r"reference\['model'\]='sar' is not allowed; choose"):
        gc.robustness(FORMULA, firms, focus="cluster", reference={"model": "sar"})
    with pytest.raises(InputError, match="reference='knn:8' must be a mapping"):
        gc.robustness(FORMULA, firms, focus="cluster", reference="knn:8")


def test_default_focus_is_every_term_involving_the_exposure(firms):
    sweep = gc.robustness(FORMULA, firms, weights=["knn:8"], models=["ols"], progress=False)
    # FORMULA = intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age
    assert sweep.focus == ["cluster", "I(cluster ** 2)", "serial:cluster",
                           "serial:I(cluster ** 2)"]
    assert sorted(sweep.table["term"].unique()) == sorted(sweep.focus)
    logged = gc.robustness("intl ~ np.log1p(cluster_count) + C(industry):cluster_count + age",
                           firms, weights=["knn:8"], models=["ols"], variable="cluster_count",
                           progress=False)
    levels = sorted(firms["industry"].unique())
    assert logged.focus == ["np.log1p(cluster_count)"] + [
        f"C(industry)[{level}]:cluster_count" for level in levels]
    with pytest.raises(InputError, match="has none. Name the clustering column with variable="):
        gc.robustness("intl ~ age", firms, weights=["knn:8"], models=["ols"], progress=False)


def test_formula_errors_stop_the_sweep_before_fitting(firms):
    with pytest.raises(gc.ModelError, match=r"robustness: formula .* uses 'agee', not a column.*"
                       r"did you mean 'age'"):
        gc.robustness("intl ~ cluster + agee", firms, focus="cluster", models=["ols"])
    with pytest.raises(gc.ModelError, match=r"cannot parse formula.*at character 18"):
        gc.robustness("intl ~ cluster + (age", firms, focus="cluster", models=["ols"])


def test_other_samples_are_flagged_and_left_out_of_the_shares(firms):
    values = firms["cluster"].to_numpy().copy()
    sparse = values.copy()
    sparse[60:] = np.nan  # like an LQ measure defined for 60 of the 600 firms
    head_cut = values.copy()
    head_cut[:30] = np.nan  # 570 rows ...
    tail_cut = values.copy()
    tail_cut[-30:] = np.nan  # ... also 570 rows, but other firms
    data = firms.assign(sparse=sparse, head_cut=head_cut, tail_cut=tail_cut)
    with pytest.warns(gc.GeoclusterWarning, match=r"2 of 3 specifications were fitted on another "
                      r"sample than the reference \(570 rows\).*sparse, knn:8, ols\): 60 rows.*"
                      r"left out of the summary's shares"):
        sweep = gc.robustness("intl ~ cluster + age", data, focus="cluster", weights=["knn:8"],
                              models=["ols"], exposure=["head_cut", "tail_cut", "sparse"],
                              missing="drop", isolates="keep", progress=False)
    table = sweep.table.set_index("exposure")
    assert table["nobs"].to_dict() == {"head_cut": 570, "tail_cut": 570, "sparse": 60}
    assert table["same_sample"].tolist() == [True, False, False]
    summary = sweep.shares()
    assert summary.loc["cluster", "specifications"] == 1
    assert summary.loc["cluster", "other_samples"] == 2
    assert summary.loc["cluster", "left_out_other_samples"] == 2
    assert "2 specification(s) fitted on another sample" in sweep.sample_note()
    assert sweep.sample_note() in sweep.summary().notes
    assert summary.loc["cluster", "median_estimate"] == table.loc["head_cut", "estimate"]
    both = sweep.shares(include_other_samples=True)
    assert both.loc["cluster", "specifications"] == 3
    assert both.loc["cluster", "left_out_other_samples"] == 0
    assert both.loc["cluster", "median_estimate"] == pytest.approx(table["estimate"].median())
    with pytest.raises(InputError, match="include_other_samples='yes' must be True or False"):
        sweep.summary(include_other_samples="yes")


def test_no_wall_clock_column_and_csv_bytes_repeat(firms, tmp_path):
    kwargs = dict(focus=["cluster", "age"], weights=["knn:8"], models=["ols", "lag"],
                  exposure=["cluster", "kde:20km"], progress=False, seed=9)
    first = gc.robustness("intl ~ cluster + age", firms, **kwargs)
    second = gc.robustness("intl ~ cluster + age", firms, **kwargs)
    assert "seconds" not in first.table.columns
    assert first.timings.index.equals(first.table.index)
    assert (first.timings > 0).all() and first.timings.name == "seconds"
    # both focus rows of a specification carry its one time
    assert first.timings.groupby(first.table["spec"]).nunique().eq(1).all()
    first.to_csv(tmp_path / "a.csv")
    second.to_csv(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_near_constant_exposure_fails_its_specifications_by_name(firms):
    almost = np.zeros(len(firms))
    almost[5] = 1.0
    sweep = gc.robustness("intl ~ cluster + age", firms.assign(almost=almost), focus="cluster",
                          weights=["knn:8"], models=["ols"], exposure=["cluster", "almost"],
                          progress=False)
    error = sweep.table.set_index("exposure").loc["almost", "error"]
    assert error.startswith("exposure 'almost' (in column 'cluster'): regressor 'cluster' has no "
                            "usable variation")
    assert sweep.shares().loc["cluster", "failed"] == 1


def test_lisa_sensitivity_reference_comes_first(columbus):
    sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["knn:4", "rook"], reference="queen",
                                  permutations=99, correction=None, seed=2)
    assert sens.table["label"].tolist() == ["queen", "knn:4", "rook"]
    assert sens.table["reference"].tolist() == [True, False, False]
    assert sens.reference == "queen"
    seed = int(np.random.default_rng(2).integers(0, 2**31 - 1))
    sets = {}
    for spec in ["queen", "knn:4"]:
        lisa = gc.local_moran(columbus, "CRIME", weights=spec, permutations=99, correction=None,
                              seed=seed)
        sets[spec] = set(lisa.index[lisa["lisa_cluster"] == "HH"])
    expected = len(sets["queen"] & sets["knn:4"]) / len(sets["queen"] | sets["knn:4"])
    assert sens.table["jaccard_vs_reference"].iloc[1] == pytest.approx(expected)
    # the reference already in the list is not repeated
    again = gc.cluster_sensitivity(columbus, "CRIME", weights=["knn:4", "queen"],
                                   reference="queen", permutations=99, correction=None, seed=2)
    assert again.table["label"].tolist() == ["queen", "knn:4"]
    with pytest.raises(InputError, match="reference=.* must be a weights spec string"):
        gc.cluster_sensitivity(columbus, "CRIME", reference={"weights": "queen"})


def test_jaccard_of_two_empty_maps_is_undefined_not_one(columbus):
    assert np.isnan(jaccard_sets(set(), set()))
    assert jaccard_sets(set(), {1, 2}) == 0.0
    assert jaccard_sets({1, 2, 3}, {2, 3, 4}) == 0.5

    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:5070")
    square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2)], crs="EPSG:5070")
    shifted = gpd.GeoDataFrame(geometry=[shapely.box(1, 0, 3, 2)], crs="EPSG:5070")
    assert np.isnan(jaccard_area(empty, empty, "EPSG:5070"))
    assert jaccard_area(empty, square, "EPSG:5070") == 0.0
    assert jaccard_area(square, shifted, "EPSG:5070") == pytest.approx(2 / 6)
    # alpha below the smallest pseudo p-value of 99 permutations (0.01): no HH unit anywhere
    sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen", "knn:4"], permutations=99,
                                  alpha=0.001, correction=None, seed=2)
    assert sens.table["hh_units"].tolist() == [0, 0]
    assert sens.table["jaccard_vs_reference"].isna().all()
    assert sens.overlap.isna().all().all()
    summary = sens.definitions()
    assert summary["overlap_with_reference"].tolist() == ["n/a (no HH units in either map)"] * 2
    assert sens.n_undefined == 2
    assert ("undefined overlaps", "2") in sens.summary().top
    assert "lowest pairwise Jaccard n/a, 1 pairs undefined" in repr(sens)
    titles = [ax.get_title() for ax in sens.plot().axes if ax.get_visible()]
    assert titles == ["queen (reference)\nHH units 0, Jaccard n/a", "knn:4\nHH units 0, Jaccard n/a"]
    heat = sens.plot_overlap()
    assert [t.get_text() for t in heat.axes[0].texts] == ["n/a"] * 4
    assert heat.axes[0].images[0].get_array().mask.all()  # no colour drawn for undefined cells


def test_density_reference_is_checked(firms):
    with pytest.raises(InputError, match="needs exactly the keys 'bandwidth' and 'alpha'"):
        gc.cluster_sensitivity(firms, method="density", reference={"bandwidth": "30km"})
    with pytest.raises(InputError, match=r"reference=\{'bandwidth': '30km', 'level': 0.95\} for "
                       r"method='density' needs exactly the keys 'bandwidth' and 'alpha'"):
        gc.cluster_sensitivity(firms, method="density",
                               reference={"bandwidth": "30km", "level": 0.95})
    with pytest.raises(InputError, match=r"cluster_sensitivity: reference alpha=1.95 must be a "
                       r"number between 0 and 1"):
        gc.cluster_sensitivity(firms, method="density", reference=("30km", 1.95))


def test_reference_normalised_like_the_grid(firms):
    alternatives = {"cluster": Alternative("cluster", "column", column="cluster")}
    grid = check_dimensions(["knn:8"], ["lag"], ["gmm"], ["classical"])
    grid["exposure"] = ["cluster"]
    spec = reference_spec({"model": "durbin", "method": "gmm"}, grid, alternatives, firms,
                          "cluster", None)
    # spreg has no GMM Durbin: the grid fits Durbin by ML, so does the reference
    assert spec == {"weights": "knn:8", "model": "durbin", "exposure": "cluster", "method": "ml",
                    "inference": "model"}
    assert grid["model"] == ["durbin", "lag"] and grid["method"] == ["ml", "gmm"]
    grid = check_dimensions(["knn:8"], ["lag"], ["ml"], ["classical"])
    grid["exposure"] = ["cluster"]
    spec = reference_spec({"model": "ols", "method": "gmm", "inference": "white"}, grid,
                          alternatives, firms, "cluster", None)
    assert spec == {"weights": "knn:8", "model": "ols", "exposure": "cluster", "method": "ols",
                    "inference": "white"}
    assert grid["inference"] == ["white", "classical"] and grid["method"] == ["ml"]


def test_sample_fingerprint_ignores_row_order():
    rows = pd.Index(["a", "b", "c", "d"])
    assert sample_key(rows, rows) == sample_key(rows, pd.Index(["d", "c", "b", "a"]))
    assert sample_key(rows, pd.Index(["a", "b", "c"])) == sample_key(rows, pd.Index(["c", "a", "b"]))
    assert sample_key(rows, pd.Index(["a", "b", "c"])) != sample_key(rows, pd.Index(["b", "c", "d"]))
    assert sample_key(rows, pd.Index(["a", "b", "c"])) != sample_key(rows, rows)


def test_reference_equals_the_study_model_when_the_measure_is_missing_for_some(firms, monkeypatch):
    values = firms["cluster"].to_numpy().copy()
    values[:30] = np.nan  # the study's measure is missing for 30 firms
    data = firms.assign(measure=values)
    calls = []
    real = gc.weights

    def counting(gdf, spec, **kwargs):
        calls.append((spec, len(gdf)))
        return real(gdf, spec, **kwargs)

    monkeypatch.setattr(sweep_module, "build_weights", counting)
    with pytest.warns(gc.GeoclusterWarning, match="30 of 600 rows dropped"):
        sweep = gc.robustness("intl ~ cluster + age", data, focus="cluster", weights=["knn:8"],
                              models=["lag", "ols"], exposure=["measure", "cluster"],
                              reference={"model": "lag", "exposure": "measure"},
                              missing="drop", progress=False)
    assert calls == [("knn:8", 600)]  # once, on every firm (as the study builds its model's)
    monkeypatch.undo()
    graph = gc.weights(data, "knn:8")
    with pytest.warns(gc.GeoclusterWarning, match="restricted to the 570 rows used"):
        direct = gc.regress("intl ~ measure + age", data, model="lag", weights=graph,
                            missing="drop")
    ref = sweep.table[sweep.table["reference"]].iloc[0]
    assert ref["nobs"] == 570
    assert ref["estimate"] == pytest.approx(direct.params["measure"], rel=1e-9)
    assert ref["spatial_param"] == pytest.approx(direct.params["rho"], rel=1e-9)


def test_lq_reference_keeps_fewer_firms_and_flags_the_full_sample(firms):
    with pytest.warns(gc.GeoclusterWarning, match=r"1 of 2 specifications were fitted on another"):
        sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster", weights=["knn:8"],
                              models=["ols"], reference={"exposure": "lq@grid:500km"},
                              missing="drop", progress=False)
    units = gc.grid(firms, "500km", shape="square", clip=True)
    with pytest.warns(gc.GeoclusterWarning):
        lq = gc.exposure(firms, method="lq", units=units, by="industry", log=False,
                         standardize=True, name="lq")
    table = sweep.table.set_index("exposure")
    kept = int(lq["lq"].notna().sum())
    assert 0 < kept < len(firms)
    assert table.loc["lq@grid:500km", "nobs"] == kept
    assert table.loc["cluster", "nobs"] == len(firms)
    assert table["same_sample"].tolist() == [True, False]
    assert sweep.shares().loc["cluster", "left_out_other_samples"] == 1


def test_missing_and_isolates_policies_reach_every_fit(firms):
    gappy = firms.copy()
    gappy.loc[gappy.index[:3], "age"] = np.nan
    kept = gc.robustness("intl ~ cluster + age", gappy, focus="cluster", weights=["knn:4"],
                         models=["ols", "lag"], missing="drop", progress=False)
    assert set(kept.table["nobs"]) == {len(firms) - 3}  # missing="drop": the 3 rows dropped
    for explicit in ({}, {"missing": "raise"}):  # "raise" is the default
        with pytest.raises(InputError, match=r"(?i)missing"):
            gc.robustness("intl ~ cluster + age", gappy, focus="cluster", weights=["knn:4"],
                          models=["lag"], progress=False, **explicit)
    for option, value in (("missing", "ignore"), ("isolates", "warn")):
        with pytest.raises(InputError, match=rf"{option}='{value}' is not a policy"):
            gc.robustness("intl ~ cluster", firms, focus="cluster", progress=False,
                          **{option: value})


# --- seeds, the results protocol, the spec parsers (issue 13) ----------------------------------


def test_each_specification_gets_its_own_seed_for_regress(firms, monkeypatch):
    from geocluster.robustness import fit as fit_module

    real = fit_module.regress
    seen: list = []

    def spy(*args, **kwargs):
        seen.append(int(np.random.default_rng(kwargs["seed"]).integers(0, 2**62)))
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "regress", spy)
    options = dict(focus="cluster", weights=["knn:4"], models=["ols", "lag", "error"],
                   progress=False)
    gc.robustness("intl ~ cluster + age", firms, seed=5, **options)
    first = list(seen)
    seen.clear()
    gc.robustness("intl ~ cluster + age", firms, seed=5, **options)
    assert len(first) == 3 and seen == first  # the same seed, the same per-fit seeds
    assert len(set(first)) == 3  # a different seed for each specification
    seen.clear()
    gc.robustness("intl ~ cluster + age", firms, seed=6, **options)
    assert seen != first


def test_seed_reaches_the_monte_carlo_multipliers_of_direct_effects():
    # n = 1,200 > 1,000: a lag model's direct multiplier tr((I - rho W)^-1) / n of an
    # asymmetric KNN graph is a Monte Carlo trace series (models.impacts.EXACT_MAX_N)
    firms = gc.datasets.make_firms(1200, seed=4)
    options = dict(focus=["cluster", "slope:cluster|serial=1"], weights=["knn:6"],
                   models=["lag"], progress=False)
    a = gc.robustness("intl ~ serial * cluster + age", firms, seed=1, **options)
    b = gc.robustness("intl ~ serial * cluster + age", firms, seed=1, **options)
    c = gc.robustness("intl ~ serial * cluster + age", firms, seed=2, **options)
    pd.testing.assert_frame_equal(a.table, b.table)
    slope = a.table["term"] == "slope:cluster|serial=1"
    assert a.table.loc[slope, "estimate"].iloc[0] != c.table.loc[slope, "estimate"].iloc[0]
    assert a.table.loc[slope, "estimate"].iloc[0] == pytest.approx(
        c.table.loc[slope, "estimate"].iloc[0], rel=1e-4)  # Monte Carlo noise, not another fit
    # the coefficient itself is exact at this size: every seed gives the same
    assert a.table.loc[~slope, "estimate"].iloc[0] == c.table.loc[~slope, "estimate"].iloc[0]
    assert (a.seed, c.seed) == (1, 2)


@pytest.mark.slow
def test_seed_reaches_the_monte_carlo_log_determinant():
    from geocluster.models._logdet import LU_MAX_N

    # above LU_MAX_N the ML fit's log-determinant is a Monte Carlo series: rho and the
    # coefficients are stochastic, reproducible with the seed
    firms = gc.datasets.make_firms(LU_MAX_N + 500, seed=4)
    options = dict(focus=["cluster", "rho"], weights=["knn:4"], models=["lag"], progress=False)
    a = gc.robustness("intl ~ cluster + age", firms, seed=1, **options).table
    b = gc.robustness("intl ~ cluster + age", firms, seed=1, **options).table
    c = gc.robustness("intl ~ cluster + age", firms, seed=2, **options).table
    pd.testing.assert_frame_equal(a, b)
    assert (a["estimate"] != c["estimate"]).all()
    np.testing.assert_allclose(a["estimate"], c["estimate"], rtol=1e-3)


def test_seed_is_recorded_one_way(firms):
    options = dict(focus="cluster", weights=["knn:8"], models=["ols"], progress=False)
    assert gc.robustness("intl ~ cluster + age", firms, seed=np.int64(3), **options).seed == 3
    assert gc.robustness("intl ~ cluster + age", firms, **options).seed is None
    generator = gc.robustness("intl ~ cluster + age", firms, seed=np.random.default_rng(1),
                              **options)
    assert generator.seed == "Generator" and "seed Generator" in repr(generator)
    sequence = gc.robustness("intl ~ cluster + age", firms, seed=np.random.SeedSequence(1),
                             **options)
    assert sequence.seed == "SeedSequence"
    with pytest.raises(InputError, match=r"robustness: seed=-1 must be None"):
        gc.robustness("intl ~ cluster + age", firms, seed=-1, **options)


def test_summary_is_the_shared_summary_type(sweep):
    summary = sweep.summary()
    assert isinstance(summary, Summary)
    pd.testing.assert_frame_equal(summary.to_frame(), sweep.shares())
    assert summary.title == "Robustness: 16 specifications"
    assert dict(summary.top)["reference"] == sweep.reference_label()
    assert dict(summary.top)["seed"] == "5"
    text = str(summary)
    assert "share_significant_same_sign" in text and "serial:cluster" in text
    assert "<h4>Robustness: 16 specifications</h4>" in summary._repr_html_()
    pd.testing.assert_frame_equal(sweep.to_frame(), sweep.table)
    assert sweep.to_frame() is not sweep.table
    assert repr(sweep).startswith("<RobustnessResult: 16 specifications (weights: 2, model: 3, "
                                  "exposure: 2, inference: 2), 3 focus terms, 0 failed, 0 on "
                                  "another sample, seed 5>")


def test_confidence_intervals_follow_the_fit_and_alpha(firms):
    sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster", weights=["knn:8"],
                          models=["ols", "lag"], alpha=0.1, progress=False)
    table = sweep.table.set_index("model")
    for model in ("ols", "lag"):
        direct = gc.regress("intl ~ cluster + age", firms, model=model, weights="knn:8")
        ci = direct.conf_int(0.1).loc["cluster"]
        assert table.loc[model, "ci_low"] == pytest.approx(ci["ci_low"], rel=1e-10)
        assert table.loc[model, "ci_high"] == pytest.approx(ci["ci_high"], rel=1e-10)
        assert table.loc[model, "p_value"] == pytest.approx(direct.pvalues["cluster"], rel=1e-10)


def test_sensitivity_summary_and_frame(columbus):
    sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen", "rook"], permutations=99,
                                  correction=None, seed=2)
    summary = sens.summary()
    assert isinstance(summary, Summary)
    assert summary.title == "Cluster-map sensitivity (lisa): 2 definitions"
    assert dict(summary.top)["reference"] == "queen" and dict(summary.top)["seed"] == "2"
    pd.testing.assert_frame_equal(summary.to_frame(), sens.definitions())
    pd.testing.assert_frame_equal(sens.to_frame(), sens.table)
    assert repr(sens).startswith("<SensitivityResult (lisa): 2 definitions, reference queen, "
                                 "lowest pairwise Jaccard ")
    generator = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen"], permutations=99,
                                       seed=np.random.default_rng(2))
    assert generator.seed == "Generator"
    assert len([ax for ax in sens.plot(columns=1).axes if ax.get_visible()]) == 2
    with pytest.raises(InputError, match=r"SensitivityResult.plot: columns=0 must be an integer"):
        sens.plot(columns=0)


def test_sensitivity_refuses_options_of_the_other_method(columbus, firms):
    with pytest.raises(InputError, match=r"cluster_sensitivity\(method='lisa'\): option\(s\) "
                       r"\['bandwidths', 'alphas'\] do not apply to this method; LISA maps take "
                       r"weights=, permutations=, alpha= and correction="):
        gc.cluster_sensitivity(columbus, "CRIME", bandwidths=["10km"], alphas=[0.1])
    with pytest.raises(InputError, match=r"cluster_sensitivity\(method='density'\): option\(s\) "
                       r"\['weights', 'permutations', 'correction'\] do not apply to this "
                       r"method; density clusters take bandwidths=, alphas= and simulations="):
        gc.cluster_sensitivity(firms, method="density", weights=["queen"], permutations=99,
                               correction=None)
    with pytest.raises(InputError, match=r"cluster_sensitivity\(method='lisa'\): unknown "
                       r"option\(s\) \['levels'\]; local_moran options passed on are"):
        gc.cluster_sensitivity(columbus, "CRIME", levels=[0.95])
    with pytest.raises(InputError, match=r"cluster_sensitivity: alphas item=1.95 must be a number "
                       r"between 0 and 1"):
        gc.cluster_sensitivity(firms, method="density", alphas=[1.95])


def test_exposure_and_units_specs_go_through_the_shared_parsers(firms):
    options = dict(focus="cluster", weights=["knn:8"], models=["ols"], progress=False)
    with pytest.raises(InputError, match=r"robustness: exposure spec 'kde:abc': the bandwidth "
                       r"'abc' is not a distance"):
        gc.robustness("intl ~ cluster + age", firms, exposure=["kde:abc"], **options)
    with pytest.raises(InputError, match=r"robustness: units spec 'countries' is not one of "
                       r"'counties', 'grid:SIZE'"):
        gc.robustness("intl ~ cluster + age", firms, units=["countries"], **options)
    with pytest.raises(InputError, match=r"exposure item 'kde25' is neither a column of the data "
                       r"nor a spec; give a column name or a spec: 'kde:BANDWIDTH'"):
        gc.robustness("intl ~ cluster + age", firms, exposure=["kde25"], **options)
    with pytest.raises(InputError, match=r"robustness: focus term 'slope:cluster' is not an "
                       r"effect 'slope:VAR\|BY=GROUP'"):
        gc.robustness("intl ~ cluster + age", firms, focus="slope:cluster", weights=["knn:8"],
                      models=["ols"], progress=False)
    with pytest.warns(gc.GeoclusterWarning):
        sweep = gc.robustness("intl ~ cluster + age", firms, units=["hex:400km"],
                              exposure=["cluster", "lq@grid:500km"], missing="drop", **options)
    assert sweep.dimensions["exposure"] == ["cluster", "lq@grid:500km", "lq@hex:400km"]
    assert sweep.table["error"].isna().all()


def test_exposure_mapping_passes_its_arguments_to_exposure(firms):
    options = dict(focus="cluster", weights=["knn:8"], models=["ols"], progress=False)
    sweep = gc.robustness("intl ~ cluster + age", firms, **options,
                          exposure={"kde 20km": {"method": "kde", "bandwidth": "20km",
                                                 "by": "industry", "standardize": True}})
    measure = gc.exposure(firms, method="kde", bandwidth="20km", by="industry",
                          standardize=True, name="k20")
    direct = gc.regress("intl ~ k20 + age", measure, model="ols", weights="knn:8")
    assert sweep.table["exposure"].tolist() == ["kde 20km"]
    assert sweep.table["estimate"].iloc[0] == pytest.approx(direct.params["k20"], rel=1e-10)
    with pytest.raises(InputError, match=r"robustness: exposure\['k'\] sets name=; leave it out"):
        gc.robustness("intl ~ cluster + age", firms, **options,
                      exposure={"k": {"method": "kde", "bandwidth": "20km", "name": "x"}})


# --------------------------------------------------------------------- HDBSCAN definition


@pytest.fixture(scope="module")
def blobs():
    """Three planted blobs of 60 firms (sd 700 m) in 250 uniform firms, in metres."""
    rng = np.random.default_rng(12)
    xy = np.vstack([rng.uniform(0, 80_000, (250, 2))]
                   + [rng.normal(c, 700.0, (60, 2)) for c in [(15e3, 15e3), (60e3, 20e3),
                                                              (40e3, 65e3)]])
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0] + 4e5, xy[:, 1] + 5e6),
                            crs="EPSG:32632")


def test_hdbscan_sensitivity_matches_hand_computed_overlaps(blobs):
    sens = gc.cluster_sensitivity(blobs, method="hdbscan", min_firms=[10, 40], reference=25,
                                  hull="convex")
    assert sens.method == "hdbscan"
    assert sens.table["label"].tolist() == ["min_firms 25", "min_firms 10", "min_firms 40"]
    assert sens.table["reference"].tolist() == [True, False, False]
    direct = {m: hdbscan_clusters(blobs, min_firms=m, hull="convex") for m in (25, 10, 40)}
    ref_union = shapely.union_all(direct[25].clusters.geometry.values)
    ref_firms = set(direct[25].membership.index[direct[25].membership["hdbscan_cluster"] >= 0])
    for (_, row), m in zip(sens.table.iterrows(), (25, 10, 40), strict=True):
        union = shapely.union_all(direct[m].clusters.geometry.values)
        expected = ref_union.intersection(union).area / ref_union.union(union).area
        assert row["jaccard_vs_reference"] == pytest.approx(expected, rel=1e-12)
        assert row["clusters"] == direct[m].n_clusters
        firms = set(direct[m].membership.index[direct[m].membership["hdbscan_cluster"] >= 0])
        assert row["clustered_firms"] == len(firms)
        assert row["firm_jaccard_vs_reference"] == pytest.approx(
            len(ref_firms & firms) / len(ref_firms | firms))
        assert row["area_km2"] == pytest.approx(direct[m].clusters.area.sum() / 1e6)
    assert sens.overlap.iloc[0, 0] == 1.0
    assert (sens.table["clusters"] >= 3).all()  # the planted blobs at every size
    assert sens.summary().title == "Cluster-map sensitivity (hdbscan): 3 definitions"
    assert isinstance(sens.plot(), Figure) and isinstance(sens.plot_overlap(), Figure)
    assert repr(sens).startswith("<SensitivityResult (hdbscan): 3 definitions, reference "
                                 "min_firms 25")


def test_hdbscan_sensitivity_refuses_other_options(blobs, columbus):
    with pytest.raises(InputError, match=r"cluster_sensitivity\(method='hdbscan'\): option\(s\) "
                       r"\['bandwidths', 'correction'\] do not apply to this method; HDBSCAN "
                       r"clusters take min_firms="):
        gc.cluster_sensitivity(blobs, method="hdbscan", bandwidths=["5km"], correction=None)
    with pytest.raises(InputError, match=r"cluster_sensitivity\(method='lisa'\): option\(s\) "
                       r"\['min_firms'\] do not apply"):
        gc.cluster_sensitivity(columbus, "CRIME", min_firms=[10])
    with pytest.raises(InputError, match=r"method='hdbscan'\) clusters firm points and takes "
                       r"no column"):
        gc.cluster_sensitivity(blobs, "CRIME", method="hdbscan")
    with pytest.raises(InputError, match=r"cluster_sensitivity: min_firms item=1 must be an "
                       r"integer"):
        gc.cluster_sensitivity(blobs, method="hdbscan", min_firms=[1, 10])
    with pytest.raises(InputError, match=r"unknown option\(s\) \['bandwidth'\]; "
                       r"hdbscan_clusters options passed on are"):
        gc.cluster_sensitivity(blobs, method="hdbscan", bandwidth="5km")


def test_density_sensitivity_still_passes_min_firms_on(blobs):
    with pytest.raises(InputError, match=r"density_clusters: min_firms=0 must be"):
        gc.cluster_sensitivity(blobs, method="density", bandwidths=["2km"], simulations=19,
                               min_firms=0)
