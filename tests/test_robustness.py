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
    ref = sweep.table[sweep.table["reference"]].set_index("term")
    assert ref.loc["cluster", "estimate"] == pytest.approx(direct.params["cluster"], rel=1e-10)
    assert ref.loc["serial:cluster", "se"] == pytest.approx(direct.bse["serial:cluster"], rel=1e-10)
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
                                  levels=[0.9], simulations=19, seed=4,
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
    assert set(sens.table.columns) >= {"bandwidth", "level", "clusters", "area_km2"}
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
    summary = sweep.summary()
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
    measure = gc.exposure(firms, method="count", radius="15km", industry="industry",
                          log="log1p", standardize=True, column="c15")
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
                              progress=False)
    table = sweep.table.set_index("exposure")
    assert table["nobs"].to_dict() == {"head_cut": 570, "tail_cut": 570, "sparse": 60}
    assert table["same_sample"].tolist() == [True, False, False]
    summary = sweep.summary()
    assert summary.loc["cluster", "specifications"] == 1
    assert summary.loc["cluster", "other_samples"] == 2
    assert summary.loc["cluster", "left_out_other_samples"] == 2
    assert "2 specification(s) fitted on another sample" in summary.attrs["note"]
    assert summary.loc["cluster", "median_estimate"] == table.loc["head_cut", "estimate"]
    both = sweep.summary(include_other_samples=True)
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
    assert sweep.summary().loc["cluster", "failed"] == 1


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
    from geocluster.robustness.sweep import _jaccard_sets

    assert np.isnan(_jaccard_sets(set(), set()))
    assert _jaccard_sets(set(), {1, 2}) == 0.0
    assert _jaccard_sets({1, 2, 3}, {2, 3, 4}) == 0.5
    import geopandas as gpd

    from geocluster.robustness.sweep import _jaccard_area

    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:5070")
    square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2)], crs="EPSG:5070")
    shifted = gpd.GeoDataFrame(geometry=[shapely.box(1, 0, 3, 2)], crs="EPSG:5070")
    assert np.isnan(_jaccard_area(empty, empty, "EPSG:5070"))
    assert _jaccard_area(empty, square, "EPSG:5070") == 0.0
    assert _jaccard_area(square, shifted, "EPSG:5070") == pytest.approx(2 / 6)
    # alpha below the smallest pseudo p-value of 99 permutations (0.01): no HH unit anywhere
    sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen", "knn:4"], permutations=99,
                                  alpha=0.001, correction=None, seed=2)
    assert sens.table["hh_units"].tolist() == [0, 0]
    assert sens.table["jaccard_vs_reference"].isna().all()
    assert sens.overlap.isna().all().all()
    summary = sens.summary()
    assert summary["overlap_with_reference"].tolist() == ["n/a (no HH units in either map)"] * 2
    assert summary.attrs["undefined"] == 2
    assert "lowest pairwise Jaccard n/a, 1 pairs undefined" in repr(sens)
    titles = [ax.get_title() for ax in sens.plot().axes if ax.get_visible()]
    assert titles == ["queen (reference)\nHH units 0, Jaccard n/a", "knn:4\nHH units 0, Jaccard n/a"]
    heat = sens.plot_overlap()
    assert [t.get_text() for t in heat.axes[0].texts] == ["n/a"] * 4
    assert heat.axes[0].images[0].get_array().mask.all()  # no colour drawn for undefined cells


def test_density_reference_is_checked(firms):
    with pytest.raises(InputError, match="needs exactly the keys 'bandwidth' and 'level'"):
        gc.cluster_sensitivity(firms, method="density", reference={"bandwidth": "30km"})


def test_reference_normalised_like_the_grid(firms):
    from geocluster.robustness.sweep import _dimensions, _reference

    alternatives = {"cluster": ("column", "cluster")}
    grid = _dimensions(["knn:8"], ["lag"], ["gmm"], ["classical"])
    grid["exposure"] = ["cluster"]
    spec = _reference({"model": "durbin", "method": "gmm"}, grid, alternatives, firms,
                      "cluster", None)
    # spreg has no GMM Durbin: the grid fits Durbin by ML, so does the reference
    assert spec == {"weights": "knn:8", "model": "durbin", "exposure": "cluster", "method": "ml",
                    "inference": "model"}
    assert grid["model"] == ["durbin", "lag"] and grid["method"] == ["ml", "gmm"]
    grid = _dimensions(["knn:8"], ["lag"], ["ml"], ["classical"])
    grid["exposure"] = ["cluster"]
    spec = _reference({"model": "ols", "method": "gmm", "inference": "white"}, grid,
                      alternatives, firms, "cluster", None)
    assert spec == {"weights": "knn:8", "model": "ols", "exposure": "cluster", "method": "ols",
                    "inference": "white"}
    assert grid["inference"] == ["white", "classical"] and grid["method"] == ["ml"]


def test_sample_fingerprint_ignores_row_order():
    from geocluster.robustness.sweep import _sample_key

    rows = pd.Index(["a", "b", "c", "d"])
    assert _sample_key(rows, rows) == _sample_key(rows, pd.Index(["d", "c", "b", "a"]))
    assert _sample_key(rows, pd.Index(["a", "b", "c"])) == _sample_key(rows, pd.Index(["c", "a", "b"]))
    assert _sample_key(rows, pd.Index(["a", "b", "c"])) != _sample_key(rows, pd.Index(["b", "c", "d"]))
    assert _sample_key(rows, pd.Index(["a", "b", "c"])) != _sample_key(rows, rows)


def test_reference_equals_the_study_model_when_the_measure_is_missing_for_some(firms, monkeypatch):
    values = firms["cluster"].to_numpy().copy()
    values[:30] = np.nan  # the study's measure is missing for 30 firms
    data = firms.assign(measure=values)
    calls = []
    real = gc.weights

    def counting(gdf, spec, **kwargs):
        calls.append((spec, len(gdf)))
        return real(gdf, spec, **kwargs)

    monkeypatch.setattr(gc, "weights", counting)
    with pytest.warns(gc.GeoclusterWarning, match="30 of 600 rows dropped"):
        sweep = gc.robustness("intl ~ cluster + age", data, focus="cluster", weights=["knn:8"],
                              models=["lag", "ols"], exposure=["measure", "cluster"],
                              reference={"model": "lag", "exposure": "measure"}, progress=False)
    assert calls == [("knn:8", 600)]  # once, on every firm (as the study builds its model's)
    monkeypatch.undo()
    graph = gc.weights(data, "knn:8")
    with pytest.warns(gc.GeoclusterWarning, match="restricted to the 570 rows used"):
        direct = gc.regress("intl ~ measure + age", data, model="lag", weights=graph)
    ref = sweep.table[sweep.table["reference"]].iloc[0]
    assert ref["nobs"] == 570
    assert ref["estimate"] == pytest.approx(direct.params["measure"], rel=1e-9)
    assert ref["spatial_param"] == pytest.approx(direct.params["rho"], rel=1e-9)


def test_lq_reference_keeps_fewer_firms_and_flags_the_full_sample(firms):
    with pytest.warns(gc.GeoclusterWarning, match=r"1 of 2 specifications were fitted on another"):
        sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster", weights=["knn:8"],
                              models=["ols"], reference={"exposure": "lq@grid:500km"},
                              progress=False)
    units = gc.grid(firms, "500km", shape="square", clip=True)
    with pytest.warns(gc.GeoclusterWarning):
        lq = gc.exposure(firms, method="lq", units=units, industry="industry", log=False,
                         standardize=True, column="lq")
    table = sweep.table.set_index("exposure")
    kept = int(lq["lq"].notna().sum())
    assert 0 < kept < len(firms)
    assert table.loc["lq@grid:500km", "nobs"] == kept
    assert table.loc["cluster", "nobs"] == len(firms)
    assert table["same_sample"].tolist() == [True, False]
    assert sweep.summary().loc["cluster", "left_out_other_samples"] == 1


def test_missing_and_isolates_policies_reach_every_fit(firms):
    gappy = firms.copy()
    gappy.loc[gappy.index[:3], "age"] = np.nan
    kept = gc.robustness("intl ~ cluster + age", gappy, focus="cluster", weights=["knn:4"],
                         models=["ols", "lag"], progress=False)
    assert set(kept.table["nobs"]) == {len(firms) - 3}  # missing="drop": the 3 rows dropped
    with pytest.raises(InputError, match=r"(?i)missing"):
        gc.robustness("intl ~ cluster + age", gappy, focus="cluster", weights=["knn:4"],
                      models=["lag"], missing="raise", progress=False)
    for option, value in (("missing", "ignore"), ("isolates", "warn")):
        with pytest.raises(InputError, match=rf"{option}='{value}' is not a policy"):
            gc.robustness("intl ~ cluster", firms, focus="cluster", progress=False,
                          **{option: value})
