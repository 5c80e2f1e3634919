"""Tests of the synthetic firm generator ``geocluster.datasets.make_firms``.

Every property is checked against an independent recomputation: the serial-innovator
rule row by row, the cluster counts by brute force over all firm pairs, the weights
against ``gc.weights``, the lag DGP identity with the stored errors, and recovery of
the true parameters by OLS / GLM on the generated data.
"""

from __future__ import annotations

import json
import warnings

import formulaic
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from geopandas.testing import assert_geodataframe_equal
from scipy import sparse

import geocluster as gc
from geocluster.datasets import CONUS_EXCLUDED_STATES
from geocluster.datasets import geography as _geography
from geocluster.datasets import synthetic as _synthetic
from geocluster.datasets.synthetic import INDUSTRIES, _simulate, make_firms
from geocluster.errors import GeoclusterWarning, InputError

N = 3000
SEED = 7
COLUMNS = [
    "firm_id",
    "industry",
    "naics",
    "zcta",
    "fips",
    "lon",
    "lat",
    "employees",
    "age",
    "patents_5y",
    "serial",
    "innovator_type",
    "cluster_count",
    "cluster",
    "intl",
    "foreign_markets",
    "export_share",
    "planted_hub",
    "geometry",
]


@pytest.fixture(scope="module")
def sim():
    return _simulate(N, seed=SEED)


@pytest.fixture(scope="module")
def firms(sim):
    return sim[0]


@pytest.fixture(scope="module")
def truth(firms):
    return firms.attrs["truth"]


@pytest.fixture(scope="module")
def design(firms, truth):
    """Model matrix built by formulaic from the stored formula (not by the generator)."""
    return formulaic.model_matrix(truth["formula"], pd.DataFrame(firms.drop(columns="geometry")))


def _haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_same_frame_and_truth():
    a = make_firms(400, seed=3)
    b = make_firms(400, seed=3)
    assert_geodataframe_equal(a, b, check_less_precise=False)
    assert a.attrs["truth"] == b.attrs["truth"]
    assert a.attrs["truth"]["seed"] == 3


def test_different_seeds_differ():
    a = make_firms(400, seed=3)
    b = make_firms(400, seed=4)
    assert not np.allclose(a["lon"], b["lon"])
    assert not np.allclose(a["intl"], b["intl"])
    assert (a["zcta"] != b["zcta"]).mean() > 0.5


def test_generator_seed_and_recorded_fresh_seed():
    a = make_firms(200, seed=np.random.default_rng(11))
    b = make_firms(200, seed=np.random.default_rng(11))
    assert_geodataframe_equal(a, b)
    assert a.attrs["truth"]["seed"] == "Generator"  # recorded as geocluster records seeds
    fresh = make_firms(200)
    used = fresh.attrs["truth"]["seed"]
    assert isinstance(used, int)
    assert_geodataframe_equal(fresh, make_firms(200, seed=used))


def test_datasets_reexport_is_the_generator():
    assert gc.datasets.make_firms is make_firms
    assert_geodataframe_equal(gc.datasets.make_firms(150, seed=2), make_firms(150, seed=2))


# ----------------------------------------------------------------------------- structure


def test_columns_dtypes_crs_and_index(firms):
    assert list(firms.columns) == COLUMNS
    assert isinstance(firms, gpd.GeoDataFrame)
    assert firms.crs.to_epsg() == 4326
    assert len(firms) == N
    assert firms.index.is_unique
    assert firms.index.tolist() == firms["firm_id"].tolist()
    assert firms.index[0] == "F000001" and firms.index[-1] == f"F{N:06d}"
    for col in ("employees", "age", "patents_5y", "serial", "cluster_count", "foreign_markets"):
        assert pd.api.types.is_integer_dtype(firms[col]), col
    for col in ("lon", "lat", "cluster", "intl", "export_share"):
        assert pd.api.types.is_float_dtype(firms[col]), col
    for col in ("firm_id", "industry", "naics", "zcta", "fips", "innovator_type"):
        assert pd.api.types.is_string_dtype(firms[col]), col
        assert firms[col].notna().all(), col
    assert (firms.geom_type == "Point").all()
    np.testing.assert_array_equal(firms.geometry.x.to_numpy(), firms["lon"].to_numpy())
    np.testing.assert_array_equal(firms.geometry.y.to_numpy(), firms["lat"].to_numpy())
    naics = {name: spec["naics"] for name, spec in INDUSTRIES.items()}
    assert (firms["naics"] == firms["industry"].map(naics)).all()


def test_large_n_uses_wider_ids():
    assert _synthetic._id_width(999_999) == 6
    assert _synthetic._id_width(1_234_567) == 7
    assert _synthetic._firm_ids(12).tolist()[-2:] == ["F000011", "F000012"]


def test_no_duplicate_coordinates(firms):
    assert not firms[["lon", "lat"]].duplicated().any()


def test_locations_are_jittered_conus_zcta_points(firms):
    zcta = gc.datasets.load_zcta().loc[firms["zcta"]]
    # contiguous US only
    assert not firms["fips"].str[:2].isin(CONUS_EXCLUDED_STATES).any()
    assert firms["lon"].between(-125, -66.5).all() and firms["lat"].between(24.3, 49.5).all()
    # displacement from the ZCTA point: Gaussian, sd 500 m per axis
    dx = (
        (firms["lon"].to_numpy() - zcta["lon"].to_numpy())
        * 111_320
        * np.cos(np.radians(zcta["lat"].to_numpy()))
    )
    dy = (firms["lat"].to_numpy() - zcta["lat"].to_numpy()) * 111_320
    for d in (dx, dy):
        assert abs(d.mean()) < 4 * 500 / np.sqrt(N)
        assert d.std() == pytest.approx(500, rel=0.06)
    assert np.hypot(dx, dy).max() < 4000


@pytest.fixture(scope="module")
def zcta_county():
    """County FIPS of every contiguous-US ZCTA point that lies inside a county polygon."""
    counties = gc.datasets.load_counties("conus")
    points = gc.datasets.load_zcta()
    inside = gpd.sjoin(points, counties[["fips", "geometry"]], predicate="within")
    return inside.loc[~inside.index.duplicated(), "fips"]


def test_fips_is_the_county_of_the_zcta_point(firms, zcta_county):
    expected = firms["zcta"].map(zcta_county)
    known = expected.notna()
    assert known.mean() > 0.99  # the rest are ZCTA points just off the quantised outlines
    assert (firms.loc[known, "fips"] == expected[known]).all()


def test_unplanted_firms_follow_patents_plus_background(firms, zcta_county, truth):
    # expected county share: 0.75 * county patents 2011-15 / total + 0.25 * county ZCTAs / all
    patents = gc.datasets.load_patents(years=(2011, 2015)).groupby("fips")["patents"].sum()
    zctas = zcta_county.value_counts()
    pat = patents.reindex(zctas.index).fillna(0)
    b = truth["background_share"]
    expected = (1 - b) * pat / pat.sum() + b * zctas / zctas.sum()
    free = firms[firms["planted_hub"].isna()]
    m = len(free)
    for fips in ("06085", "53033", "48453", "17031"):  # Santa Clara, King, Travis, Cook
        p = expected[fips]
        observed = (free["fips"] == fips).sum()
        assert abs(observed - m * p) < 4 * np.sqrt(m * p * (1 - p)) + 2, fips
    # rural places get firms too: counties without any patent hold some firms
    no_patents = pat.index[pat == 0]
    assert free["fips"].isin(no_patents).sum() > 0


# ----------------------------------------------------------------------------- attributes


def test_serial_definition_row_by_row(firms, truth):
    serial = (firms["patents_5y"] >= 15) & (firms["employees"] <= 500)
    np.testing.assert_array_equal(firms["serial"].to_numpy(), serial.astype(int).to_numpy())
    expected = np.where(serial, "serial", np.where(firms["employees"] > 500, "large", "non-serial"))
    np.testing.assert_array_equal(firms["innovator_type"].to_numpy(dtype=object), expected)
    assert truth["serial_definition"]["min_patents_5y"] == 15
    assert truth["serial_definition"]["max_employees"] == 500


def test_attribute_distributions(firms):
    assert (firms["employees"] >= 1).all() and (firms["age"] >= 1).all()
    assert (firms["patents_5y"] >= 0).all()
    small = firms["employees"] <= 500
    assert 0.15 <= firms.loc[small, "serial"].mean() <= 0.30
    assert 20 <= (~small).sum() <= 0.06 * N  # some large firms, not many
    # overdispersed patent counts that rise with size and technology intensity
    assert firms["patents_5y"].var() > 3 * firms["patents_5y"].mean()
    size_bin = pd.qcut(np.log(firms["employees"]), 4, labels=False)
    means = firms.groupby(size_bin)["patents_5y"].mean().to_numpy()
    assert np.all(np.diff(means) > 0)
    by_industry = firms.groupby("industry")["patents_5y"].mean()
    assert by_industry["semiconductors"] > 1.3 * by_industry["software"]
    assert set(firms["industry"]) == set(INDUSTRIES)


def test_planted_hubs_concentrate_industries(firms, truth):
    lon, lat = firms["lon"].to_numpy(), firms["lat"].to_numpy()
    for industry, hubs in truth["hubs"].items():
        near = np.zeros(len(firms), dtype=bool)
        for hub in hubs:
            near |= _haversine_km(lon, lat, hub["lon"], hub["lat"]) <= hub["radius_km"]
        mine = (firms["industry"] == industry).to_numpy()
        share_own = near[mine].mean()
        share_others = near[~mine].mean()
        assert share_own > truth["hub_share"], industry
        assert share_own > 2 * share_others, (industry, share_own, share_others)
    planted = firms["planted_hub"].notna()
    assert planted.mean() == pytest.approx(truth["hub_share"], abs=0.03)
    # every planted firm sits within its hub's radius (plus the jitter)
    for industry, hubs in truth["hubs"].items():
        for hub in hubs:
            rows = firms[(firms["industry"] == industry) & (firms["planted_hub"] == hub["name"])]
            d = _haversine_km(rows["lon"], rows["lat"], hub["lon"], hub["lat"])
            assert (d <= hub["radius_km"] * 1.02 + 3).all()


def test_no_hubs_when_hub_share_is_zero():
    firms = make_firms(300, seed=5, hub_share=0)
    assert firms["planted_hub"].isna().all()


def test_industry_subset_and_shares():
    firms = make_firms(300, seed=1, industries=["pharma", "software"])
    assert set(firms["industry"]) == {"pharma", "software"}
    assert set(firms.attrs["truth"]["hubs"]) == {"pharma", "software"}
    only = make_firms(200, seed=1, industries={"semiconductors": 2.0})
    assert set(only["industry"]) == {"semiconductors"}
    assert only.attrs["truth"]["industries"]["semiconductors"]["share"] == 1.0


# ----------------------------------------------------------------------------- clustering


def test_cluster_count_matches_brute_force(firms, truth):
    radius = truth["cluster"]["radius_m"]
    assert radius == 25_000
    points = gc.datasets.load_zcta().loc[firms["zcta"]].to_crs(5070)
    x, y = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    industry = firms["industry"].to_numpy(dtype=object)
    count = np.empty(len(firms), dtype=int)
    for i in range(len(firms)):
        same = industry == industry[i]
        d = np.hypot(x[same] - x[i], y[same] - y[i])
        count[i] = int((d <= radius).sum()) - 1
    np.testing.assert_array_equal(firms["cluster_count"].to_numpy(), count)
    log_count = np.log1p(count)
    z = (log_count - log_count.mean()) / log_count.std()
    np.testing.assert_allclose(firms["cluster"].to_numpy(), z, rtol=0, atol=1e-12)
    assert truth["cluster"]["log_count_sd"] == pytest.approx(log_count.std())


def test_cluster_radius_option():
    near = make_firms(500, seed=9, cluster_radius="5km")
    far = make_firms(500, seed=9, cluster_radius=60_000)
    assert (near["cluster_count"] <= far["cluster_count"]).all()
    assert near["cluster_count"].sum() < far["cluster_count"].sum()
    assert far.attrs["truth"]["cluster"]["radius_m"] == 60_000


# ----------------------------------------------------------------------------- the lag DGP


def test_weights_equal_gc_weights(sim):
    firms, parts = sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        graph = gc.weights(firms, "knn:8")
    assert list(graph.unique_ids) == firms.index.tolist()
    diff = abs(sparse.csr_array(graph.sparse) - parts["W"])
    assert diff.max() == 0
    assert parts["W"].nnz == 8 * len(firms)


def test_beta_keys_are_formulaic_terms(design, truth):
    assert set(design.rhs.columns) == set(truth["beta"])
    for outcome in ("foreign_markets", "export_share"):
        assert set(truth[outcome]["params"]) == set(truth["beta"])


def test_dgp_identity_with_stored_errors(sim, design, truth):
    firms, parts = sim
    X = design.rhs
    beta = np.array([truth["beta"][c] for c in X.columns])
    y = firms["intl"].to_numpy()
    residual = y - truth["rho"] * (parts["W"] @ y) - X.to_numpy() @ beta - parts["eps"]
    assert np.abs(residual).max() < 1e-10
    assert parts["eps"].std() == pytest.approx(truth["sigma"], rel=0.05)


def test_ols_on_filtered_outcome_recovers_beta(sim, design, truth):
    firms, parts = sim
    y = firms["intl"].to_numpy()
    filtered = y - truth["rho"] * (parts["W"] @ y)
    fit = sm.OLS(filtered, design.rhs).fit()
    beta = pd.Series(truth["beta"])[fit.params.index]
    z = (fit.params - beta) / fit.bse
    assert (z.abs() < 4).all(), z.to_dict()
    assert np.sqrt(fit.scale) == pytest.approx(truth["sigma"], rel=0.05)


def test_outcome_has_the_spatial_dependence(sim, truth):
    firms, parts = sim
    y = firms["intl"].to_numpy()
    # the lag coefficient recovered by 2SLS with W X, W^2 X as instruments
    X = _synthetic._design(
        firms["cluster"].to_numpy(),
        firms["serial"].to_numpy(),
        firms["employees"].to_numpy(),
        firms["age"].to_numpy(),
    )
    W = parts["W"]
    Z = np.column_stack([X, (W @ X)[:, 1:], (W @ (W @ X))[:, 1:]])
    H = np.column_stack([W @ y, X])
    H_hat = Z @ np.linalg.lstsq(Z, H, rcond=None)[0]
    coef = np.linalg.lstsq(H_hat, y, rcond=None)[0]
    assert coef[0] == pytest.approx(truth["rho"], abs=0.1)


def test_rho_zero_and_negative():
    plain, parts = _simulate(300, seed=4, rho=0.0)
    beta = np.array([plain.attrs["truth"]["beta"][t] for t in parts["terms"]])
    np.testing.assert_allclose(plain["intl"], parts["X"] @ beta + parts["eps"], atol=1e-12)
    neg, parts = _simulate(300, seed=4, rho=-0.6)
    y = neg["intl"].to_numpy()
    lhs = y + 0.6 * (parts["W"] @ y)
    np.testing.assert_allclose(lhs, parts["X"] @ beta + parts["eps"], atol=1e-10)


def test_other_weights_specs_match_gc_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        firms, parts = _simulate(200, seed=8, weights="knn:4")
        expected = gc.weights(firms, "knn:4").sparse
        assert abs(sparse.csr_array(expected) - parts["W"]).max() == 0
        firms, parts = _simulate(200, seed=8, weights="distance:400km")
        expected = gc.weights(firms, "distance:400km").sparse
    assert abs(sparse.csr_array(expected) - parts["W"]).max() < 1e-15
    assert firms.attrs["truth"]["weights"] == "distance:400km"
    y = firms["intl"].to_numpy()
    beta = np.array([firms.attrs["truth"]["beta"][t] for t in parts["terms"]])
    lhs = y - 0.4 * (parts["W"] @ y)
    np.testing.assert_allclose(lhs, parts["X"] @ beta + parts["eps"], atol=1e-10)


def test_beta_and_sigma_overrides():
    null = {"cluster": 0.0, "I(cluster ** 2)": 0.0, "serial:I(cluster ** 2)": 0.0}
    firms, parts = _simulate(400, seed=6, beta=null, sigma=2.0)
    truth = firms.attrs["truth"]
    assert truth["beta"]["cluster"] == 0.0 and truth["beta"]["serial"] == 0.6
    assert truth["sigma"] == 2.0
    assert truth["turning_point_nonserial"] is None and truth["turning_point_serial"] is None
    beta = np.array([truth["beta"][t] for t in parts["terms"]])
    y = firms["intl"].to_numpy()
    lhs = y - 0.4 * (parts["W"] @ y)
    np.testing.assert_allclose(lhs, parts["X"] @ beta + parts["eps"], atol=1e-10)
    assert parts["eps"].std() == pytest.approx(2.0, rel=0.15)
    json.dumps(truth)


@pytest.mark.parametrize("outcome", ["intl", "foreign_markets", "export_share"])
def test_turning_points(firms, truth, outcome):
    spec = truth if outcome == "intl" else truth[outcome]
    b = spec["beta"] if outcome == "intl" else spec["params"]
    tp_non = -b["cluster"] / (2 * b["I(cluster ** 2)"])
    tp_ser = -(b["cluster"] + b["serial:cluster"]) / (
        2 * (b["I(cluster ** 2)"] + b["serial:I(cluster ** 2)"])
    )
    assert spec["turning_point_nonserial"] == pytest.approx(tp_non)
    assert spec["turning_point_serial"] == pytest.approx(tp_ser)
    lo, hi = firms["cluster"].min(), firms["cluster"].max()
    assert lo < tp_non < hi  # decreasing returns inside the data for non-serial firms
    assert tp_ser > hi  # no turning point in range for serial innovators
    grid = np.linspace(lo, hi, 50)
    slope_non = b["cluster"] + 2 * b["I(cluster ** 2)"] * grid
    slope_ser = slope_non + b["serial:cluster"] + 2 * b["serial:I(cluster ** 2)"] * grid
    assert slope_non[0] > 0 > slope_non[-1]
    assert (slope_ser > slope_non).all() and (slope_ser > 0).all()


@pytest.mark.parametrize("n", [100, 20_000])
def test_planted_pattern_holds_across_sample_sizes(n):
    firms = make_firms(n, seed=21)
    truth = firms.attrs["truth"]
    b = truth["beta"]
    lo, hi = firms["cluster"].min(), firms["cluster"].max()
    assert lo < truth["turning_point_nonserial"] < hi
    assert truth["turning_point_serial"] > hi
    assert b["serial:cluster"] + 2 * b["serial:I(cluster ** 2)"] * lo > 0  # serial gains more
    assert 0.1 < (firms["cluster"] > truth["turning_point_nonserial"]).mean() < 0.35


# ----------------------------------------------------------------------------- secondary outcomes


def test_foreign_markets_recovers_gamma(firms, design, truth):
    spec = truth["foreign_markets"]
    assert spec["family"] == "negative_binomial" and spec["link"] == "log"
    y = firms["foreign_markets"].to_numpy()
    fit = sm.GLM(y, design.rhs, family=sm.families.Poisson()).fit(cov_type="HC0")
    gamma = pd.Series(spec["params"])[fit.params.index]
    z = (fit.params - gamma) / fit.bse
    assert (z.abs() < 4).all(), z.to_dict()
    mu = np.exp(design.rhs.to_numpy() @ gamma.to_numpy())
    alpha_hat = (((y - mu) ** 2 - mu) / mu**2).mean()  # NB2: var = mu + alpha mu^2
    assert alpha_hat == pytest.approx(spec["alpha"], rel=0.35)


def test_export_share_recovers_delta(firms, design, truth):
    spec = truth["export_share"]
    assert spec["family"] == "beta" and spec["link"] == "logit"
    y = firms["export_share"].to_numpy()
    assert ((y >= 0) & (y <= 1)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about a non-binary Binomial y
        fit = sm.GLM(y, design.rhs, family=sm.families.Binomial()).fit(cov_type="HC0")
    delta = pd.Series(spec["params"])[fit.params.index]
    z = (fit.params - delta) / fit.bse
    assert (z.abs() < 4).all(), z.to_dict()


# ----------------------------------------------------------------------------- truth


def test_truth_is_json_and_complete(truth):
    restored = json.loads(json.dumps(truth))
    assert restored == truth
    for key in (
        "formula",
        "model",
        "weights",
        "rho",
        "beta",
        "sigma",
        "turning_point_nonserial",
        "hubs",
        "seed",
        "foreign_markets",
        "export_share",
        "cluster",
        "serial_definition",
    ):
        assert key in truth, key
    assert truth["model"] == "lag" and truth["weights"] == "knn:8" and truth["rho"] == 0.4
    assert truth["formula"] == "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"
    hub = truth["hubs"]["software"][0]
    assert set(hub) == {"name", "lon", "lat", "radius_km", "share"}
    assert sum(h["share"] for h in truth["hubs"]["pharma"]) == pytest.approx(truth["hub_share"])


def test_truth_is_a_fresh_copy_each_time():
    first = make_firms(60, seed=1)
    first.attrs["truth"]["beta"]["cluster"] = 99.0
    first.attrs["truth"]["hubs"]["pharma"][0]["radius_km"] = -1
    second = make_firms(60, seed=1)
    assert second.attrs["truth"]["beta"]["cluster"] == 0.5
    assert second.attrs["truth"]["hubs"]["pharma"][0]["radius_km"] == 40.0
    assert _synthetic.DEFAULT_BETA["cluster"] == 0.5


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, r"n=0 must be at least 1"),
        ({"n": -5}, r"n=-5 must be at least 1"),
        ({"n": 2.5}, r"n=2.5 must be a whole number"),
        ({"n": "100"}, r"n='100' must be a whole number"),
        ({"n": True}, r"n=True must be a whole number"),
        ({"n": 5}, r"n=5 is too small .* at least 9 firms"),
        ({"n": 100, "rho": 1.0}, r"rho=1.0 must lie strictly between -1 and 1"),
        ({"n": 100, "rho": -1.2}, r"rho=-1.2 must lie strictly between -1 and 1"),
        ({"n": 100, "rho": float("nan")}, r"rho=nan must be a number"),
        ({"n": 100, "rho": "0.4"}, r"rho='0.4' must be a number"),
        ({"n": 100, "industries": ["software", "biotech"]}, r"unknown industry 'biotech'"),
        ({"n": 100, "industries": {"aerospace": 1.0}}, r"unknown industry 'aerospace'"),
        ({"n": 100, "industries": "software"}, r"must be a list of names"),
        ({"n": 100, "industries": []}, r"industries is empty"),
        ({"n": 100, "industries": {"pharma": -1.0}}, r"must be non-negative"),
        ({"n": 100, "industries": {"pharma": "a lot"}}, r"must be non-negative numbers"),
        ({"n": 100, "industries": 3}, r"industries=3 must be a list of industry names"),
        ({"n": 100, "industries": ["pharma", "pharma"]}, r"names an industry twice"),
        ({"n": 100, "weights": "knn:0"}, r"K must be at least 1"),
        ({"n": 100, "hub_share": 1.5}, r"hub_share=1.5 must be a number between 0 and 1"),
        ({"n": 100, "cluster_radius": "25 miles"}, r"cluster_radius='25 miles'"),
        ({"n": 100, "weights": 8}, r"weights=8 must be a specification string"),
        ({"n": 100, "weights": "queen"}, r"weights='queen' cannot be built .* needs polygons"),
        ({"n": 100, "seed": -1}, r"^make_firms: seed=-1 must be None, a non-negative int or a numpy Generator"),
        ({"n": 100, "beta": {"clustering": 1.0}}, r"beta has unknown term 'clustering'"),
        ({"n": 100, "beta": [0.5]}, r"beta=\[0.5\] must be a mapping"),
        ({"n": 100, "beta": {"age": float("inf")}}, r"beta\['age'\]=inf must be a finite"),
        ({"n": 100, "sigma": 0}, r"sigma=0 must be a positive, finite number"),
    ],
)
def test_bad_input(kwargs, match):
    kwargs = dict(kwargs)
    n = kwargs.pop("n")
    with pytest.raises(InputError, match=match):
        make_firms(n, **kwargs)


def test_float_n_that_is_whole_is_accepted():
    assert len(make_firms(50.0, seed=1)) == 50


def test_duplicate_detection_matches_pandas():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 400).astype(float)
    y = rng.integers(0, 5, 400).astype(float)
    expected = pd.DataFrame({"x": x, "y": y}).duplicated().to_numpy()
    np.testing.assert_array_equal(_geography.duplicated_points(x, y), expected)
    assert not _geography.duplicated_points(rng.random(50), rng.random(50)).any()


def test_simulate_firms_returns_the_truth_as_an_attribute():
    sim = gc.datasets.simulate_firms(250, seed=7)
    assert isinstance(sim, gc.datasets.SyntheticFirms)
    plain = make_firms(250, seed=7)
    assert_geodataframe_equal(sim.firms, plain)
    assert sim.truth == plain.attrs["truth"]
    assert sim.truth is not sim.firms.attrs["truth"]  # the typed truth survives frame edits
    sim.firms.attrs.clear()
    assert sim.truth["seed"] == 7 and sim.truth["rho"] == 0.4
    assert repr(sim) == "<SyntheticFirms of 250 firms: rho=0.4, weights='knn:8', seed=7>"
    with pytest.raises(AttributeError):
        sim.truth = {}  # frozen


def test_check_options_collects_the_checked_values():
    from geocluster.datasets.options import DGPOptions, check_options

    options, rng = check_options(120, seed=2, weights="distance:50km", rho=-0.3,
                                 beta={"cluster": 0.0}, cluster_radius="10 km")
    assert isinstance(options, DGPOptions) and isinstance(rng, np.random.Generator)
    assert (options.n, options.k, options.weights, options.rho) == (120, None, "distance:50km",
                                                                    -0.3)
    assert options.beta["cluster"] == 0.0 and options.beta["serial"] == 0.6
    assert options.radius_m == 10_000.0 and options.seed == 2
    assert check_options(120, seed=2)[1].random() == np.random.default_rng(2).random()
