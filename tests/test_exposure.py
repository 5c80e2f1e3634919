"""Tests for gc.exposure: each method against a hand-computed case."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geocluster as gc
from geocluster.clusters import _kde
from geocluster.errors import CRSError, InputError

UTM = 32633


@pytest.fixture
def small():
    # a at (0,0), (3km,0), (50km,0); b at (4km,0) and (0,4km)
    xy = np.array([[0, 0], [3000, 0], [4000, 0], [50_000, 0], [0, 4000]], dtype=float)
    return gpd.GeoDataFrame(
        {"ind": ["a", "a", "b", "a", "b"], "emp": [10.0, 20.0, 5.0, 1.0, 2.0],
         "fips": ["X", "X", "X", "Y", "Y"]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        index=pd.Index([11, 12, 13, 14, 15], name="firm_id"),
        crs=UTM,
    )


def test_count_by_hand(small):
    # within 5 km: 11 <-> 12 (3 km), 11 <-> 13 (4 km), 11 <-> 15 (4 km), 12 <-> 13 (1 km),
    # 12 <-> 15 (5 km: included, distance <=), 13 <-> 15 (5.66 km: no)
    out = gc.exposure(small, method="count", radius="5km")
    assert out["exposure"].tolist() == [3, 3, 2, 0, 2]
    same = gc.exposure(small, method="count", radius="5km", by="ind")
    assert same["exposure"].tolist() == [1, 1, 0, 0, 0]
    weighted = gc.exposure(small, method="count", radius="5km", weight="emp")
    assert weighted["exposure"].tolist() == [20 + 5 + 2, 10 + 5 + 2, 10 + 20, 0, 10 + 20]
    assert list(out.index) == [11, 12, 13, 14, 15] and out.index.name == "firm_id"


def test_kde_leave_one_out_by_hand(small):
    h = 2000.0
    xy = shapely.get_coordinates(small.geometry.values)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * h * h)) / (2 * np.pi * (h / 1000) ** 2)  # per km^2
    np.fill_diagonal(k, 0.0)
    out = gc.exposure(small, method="kde", bandwidth="2km", name="density")
    # the kernel is truncated at 5 bandwidths (firm 14 is 23 bandwidths from the rest)
    np.testing.assert_allclose(out["density"], k.sum(axis=1), rtol=1e-12, atol=1e-15)
    w = small["emp"].to_numpy()
    out = gc.exposure(small, method="kde", bandwidth="2km", weight="emp")
    np.testing.assert_allclose(out["exposure"], k @ w, rtol=1e-12, atol=1e-15)
    same = np.equal.outer(small["ind"].to_numpy(), small["ind"].to_numpy())
    out = gc.exposure(small, method="kde", bandwidth="2km", by="ind")
    np.testing.assert_allclose(out["exposure"], (k * same).sum(axis=1), rtol=1e-12,
                               atol=1e-15)
    assert out.attrs["exposure"]["computation"] == ["exact"]


def test_kde_binned_path_agrees_with_exact():
    rng = np.random.default_rng(4)
    xy = np.vstack([rng.normal(0, 20_000, (1500, 2)), rng.normal(30_000, 2_000, (500, 2))])
    w = rng.uniform(1, 3, len(xy))
    exact, how = _kde.leave_one_out_density(xy[:, 0], xy[:, 1], w, 3000.0, "gaussian")
    assert how == "exact"
    binned, how = _kde.leave_one_out_density(xy[:, 0], xy[:, 1], w, 3000.0, "gaussian",
                                             max_pairs=0)
    assert how == "binned"
    assert np.abs(binned - exact).max() <= 2e-3 * exact.max()


def test_lq_from_unit_column_by_hand(small):
    # unit X: a, a, b; unit Y: a, b. National: a 3/5, b 2/5.
    # LQ(X, a) = (2/3)/(3/5) = 10/9; LQ(X, b) = (1/3)/(2/5) = 5/6;
    # LQ(Y, a) = (1/2)/(3/5) = 5/6;  LQ(Y, b) = (1/2)/(2/5) = 5/4
    out = gc.exposure(small, method="lq", units="fips", by="ind", min_total=0)
    np.testing.assert_allclose(out["exposure"], [10 / 9, 10 / 9, 5 / 6, 5 / 6, 5 / 4])
    # employment-weighted: X: a 30, b 5 (35); Y: a 1, b 2 (3); national a 31, b 7 of 38
    out = gc.exposure(small, method="lq", units="fips", by="ind", weight="emp",
                      min_total=0)
    expected_xa = (30 / 35) / (31 / 38)
    expected_yb = (2 / 3) / (7 / 38)
    assert out["exposure"].iloc[0] == pytest.approx(expected_xa)
    assert out["exposure"].iloc[4] == pytest.approx(expected_yb)
    # the minimum-size rule blanks small units
    assert out["exposure"].isna().sum() == 0
    blank = gc.exposure(small, method="lq", units="fips", by="ind", min_total=3)
    assert blank["exposure"].isna().tolist() == [False, False, False, True, True]


def test_lq_from_unit_polygons(small):
    units = gpd.GeoDataFrame(
        {"lq_soft": [1.5, 0.7]},
        geometry=[shapely.box(-1000, -1000, 4500, 1000), shapely.box(-1000, 1000, 60_000, 6000)],
        index=pd.Index(["X", "Z"]),
        crs=UTM,
    ).to_crs(4326)  # a different CRS: firms are matched after reprojection
    with pytest.warns(gc.GeoclusterWarning, match="1 firms lie in none of the units"):
        out = gc.exposure(small, method="lq", units=units, lq="lq_soft")
    np.testing.assert_allclose(out["exposure"], [1.5, 1.5, 1.5, np.nan, 0.7])
    with pytest.warns(gc.GeoclusterWarning):
        computed = gc.exposure(small, method="lq", units=units, by="ind", min_total=0)
    # X holds a, a, b; Z holds b: national (of located firms) a 2/4, b 2/4
    np.testing.assert_allclose(computed["exposure"],
                               [(2 / 3) / 0.5, (2 / 3) / 0.5, (1 / 3) / 0.5, np.nan, 1 / 0.5])


def test_region_membership_and_ids(small):
    regions = gpd.GeoDataFrame(
        {"cluster_id": [1, 2]},
        geometry=[shapely.box(-500, -500, 3500, 500), shapely.box(49_000, -100, 51_000, 100)],
        crs=UTM,
    )
    out = gc.exposure(small, method="region", regions=regions, name="cluster")
    assert out["cluster"].tolist() == [1, 1, 0, 1, 0]
    assert out["cluster_id"].tolist() == [1, 1, pd.NA, 2, pd.NA]
    # LISA regions: only the HH rows count, ids from the index
    lisa = gpd.GeoDataFrame(
        {"cluster": ["HH", "LL"]},
        geometry=[shapely.box(-500, -500, 3500, 500), shapely.box(-500, 3500, 500, 4500)],
        index=pd.Index(["HH-1", "LL-1"]),
        crs=UTM,
    )
    out = gc.exposure(small, method="region", regions=lisa)
    assert out["exposure"].tolist() == [1, 1, 0, 0, 0]
    assert out["exposure_id"].isna().tolist() == [False, False, True, True, True]
    assert out.loc[11, "exposure_id"] == "HH-1"


def test_existing_columns_are_replaced_with_a_warning_naming_them(small):
    with pytest.warns(gc.GeoclusterWarning, match=r"already has a column 'ind'; .* replaces it"):
        out = gc.exposure(small, method="count", radius="5km", name="ind")
    assert out["ind"].tolist() == [3, 3, 2, 0, 2]
    assert small["ind"].tolist() == ["a", "a", "b", "a", "b"]  # the input keeps its column
    regions = gpd.GeoDataFrame(geometry=[shapely.box(-500, -500, 3500, 500)], crs=UTM)
    with pytest.warns(gc.GeoclusterWarning,
                      match=r"already has columns 'ind' and 'ind_id'; .* replaces them"):
        gc.exposure(small.assign(ind_id=0), method="region", regions=regions, name="ind")


def test_log_and_standardize_by_hand(small):
    raw = np.array([3.0, 3.0, 2.0, 0.0, 2.0])
    out = gc.exposure(small, method="count", radius="5km", log="log1p", standardize=True)
    v = np.log1p(raw)
    np.testing.assert_allclose(out["exposure"], (v - v.mean()) / v.std())
    with pytest.raises(InputError, match="1 firms have count exposure 0; use log='log1p'"):
        gc.exposure(small, method="count", radius="5km", log=True)
    pos = gc.exposure(small.iloc[:3], method="count", radius="5km", log=True)
    np.testing.assert_allclose(pos["exposure"], np.log([2.0, 2.0, 2.0]))
    with pytest.raises(InputError, match="constant"):
        gc.exposure(small.iloc[:3], method="count", radius="5km", standardize=True)


def test_geographic_input_is_projected():
    lon = np.array([13.40, 13.41, 13.60])
    lat = np.array([52.50, 52.50, 52.50])
    firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    # 0.01 degree of longitude at 52.5N is about 677 m
    out = gc.exposure(firms, method="count", radius="1km")
    assert out["exposure"].tolist() == [1, 1, 0]
    assert out.crs.to_epsg() == 4326  # the returned frame keeps the input's CRS


def test_input_not_mutated_and_errors(small):
    before = small.copy()
    gc.exposure(small, method="kde", bandwidth="2km")
    gc.exposure(small, method="count", radius="5km", by="ind")
    pd.testing.assert_frame_equal(small, before)
    with pytest.raises(InputError, match="firms must be a GeoDataFrame of points, got list"):
        gc.exposure([1], method="count", radius="5km")
    with pytest.raises(InputError, match="firms must be a GeoDataFrame of points, got DataFrame"):
        gc.exposure(pd.DataFrame(small.drop(columns="geometry")), method="count", radius="5km")
    with pytest.raises(InputError, match="method='gravity' is not supported"):
        gc.exposure(small, method="gravity")
    with pytest.raises(InputError, match="needs bandwidth="):
        gc.exposure(small, method="kde")
    with pytest.raises(InputError, match="needs radius="):
        gc.exposure(small, method="count")
    with pytest.raises(InputError, match="needs units="):
        gc.exposure(small, method="lq", by="ind")
    with pytest.raises(InputError, match="needs by="):
        gc.exposure(small, method="lq", units="fips")
    with pytest.raises(InputError, match="needs regions="):
        gc.exposure(small, method="region")
    with pytest.raises(InputError, match="log and standardize do not apply"):
        gc.exposure(small, method="region", regions=small, standardize=True)
    with pytest.raises(InputError, match="by='naics' is not a column"):
        gc.exposure(small, method="count", radius="5km", by="naics")
    with pytest.raises(InputError, match="must be a positive, finite distance"):
        gc.exposure(small, method="count", radius=0)
    with pytest.raises(CRSError, match="crs='bogus' is not a CRS pyproj knows"):
        gc.exposure(small, method="count", radius="5km", crs="bogus")
    with pytest.raises(InputError, match="weight column 'emp' has 1 negative"):
        gc.exposure(small.assign(emp=[1.0, -1, 1, 1, 1]), method="kde", bandwidth="2km",
                    weight="emp")


@pytest.mark.parametrize("method, given, option", [
    ("count", {"radius": "5km", "bandwidth": "2km"}, "bandwidth"),
    ("count", {"radius": "5km", "kernel": "gaussian"}, "kernel"),
    ("count", {"radius": "5km", "min_total": 0}, "min_total"),
    ("kde", {"bandwidth": "2km", "radius": "5km"}, "radius"),
    ("kde", {"bandwidth": "2km", "units": "fips"}, "units"),
    ("lq", {"units": "fips", "by": "ind", "crs": UTM}, "crs"),
    ("lq", {"units": "fips", "by": "ind", "kernel": "quartic"}, "kernel"),
    ("region", {"regions": None, "by": "ind"}, "by"),
    ("region", {"weight": "emp"}, "weight"),
])
def test_an_option_of_another_method_is_an_error_naming_it(small, method, given, option):
    with pytest.raises(InputError, match=rf"exposure: {option}= does not apply to "
                       rf"method='{method}', which takes"):
        gc.exposure(small, method=method, **given)


def test_several_foreign_options_are_all_named(small):
    with pytest.raises(InputError, match=r"bandwidth=, kernel= do not apply to method='count'"):
        gc.exposure(small, method="count", radius="5km", bandwidth="2km", kernel="quartic")


@pytest.mark.slow
def test_count_agrees_with_make_firms_cluster_count():
    # make_firms counts same-industry firms within 25 km on the ZCTA points before its
    # 500 m jitter; on the jittered points only pairs near the 25 km edge can differ
    firms = gc.datasets.make_firms(3000, seed=5)
    with pytest.warns(gc.GeoclusterWarning, match="already has a column 'cluster'"):
        out = gc.exposure(firms, method="count", radius="25km", by="industry",
                          name="cluster", log="log1p", standardize=True)
    raw = gc.exposure(firms, method="count", radius="25km", by="industry")
    assert np.corrcoef(raw["exposure"], firms["cluster_count"])[0, 1] > 0.99
    assert (raw["exposure"] == firms["cluster_count"]).mean() > 0.5
    # log(1 + count) standardised with ddof=0 is make_firms' "cluster" definition
    assert np.corrcoef(out["cluster"], firms["cluster"])[0, 1] > 0.99
    assert out["cluster"].mean() == pytest.approx(0, abs=1e-12)
    assert out["cluster"].std(ddof=0) == pytest.approx(1)


def test_absurd_radius_is_refused(small):
    with pytest.raises(InputError, match=r"radius='1e9km' is 1e\+09 km.*diagonal.*Check the unit"):
        gc.exposure(small, method="count", radius="1e9km")


def test_exposure_without_usable_variation_is_not_standardised():
    # 40 firms on a line 1 km apart; within 500 m nobody has a neighbour: constant 0
    xy = np.column_stack([np.arange(40) * 1000.0, np.zeros(40)])
    firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)
    with pytest.raises(InputError, match=r"count exposure 'exposure' is constant \(0\) for all "
                       r"40 firms.*sd is 0.*standardize=False"):
        gc.exposure(firms, method="count", radius="500m", standardize=True)
    # move one firm next to another: two firms have 1 neighbour, 38 have 0 -> two values
    xy[1, 0] = 100.0
    firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)
    with pytest.raises(InputError, match=r"takes only 2 distinct values among 40 firms "
                       r"\(0 for 38, 1 for 2\).*no usable variation"):
        gc.exposure(firms, method="count", radius="500m", standardize=True, name="near")
    # unstandardised it is returned as counted
    assert gc.exposure(firms, method="count", radius="500m")["exposure"].sum() == 2


def test_a_two_valued_exposure_with_a_real_split_is_standardised():
    # 30 firms: 8 in pairs 100 m apart (1 neighbour each within 500 m), 22 alone: an 8/22
    # split is usable variation (z = (x - 8/30) / sd), unlike 2 of 40
    xy = np.column_stack([np.arange(30) * 1000.0, np.zeros(30)])
    for first in range(0, 8, 2):
        xy[first + 1, 0] = xy[first, 0] + 100.0
    firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)
    z = gc.exposure(firms, method="count", radius="500m", standardize=True)["exposure"]
    raw = np.r_[np.ones(8), np.zeros(22)]
    np.testing.assert_allclose(z.to_numpy(), (raw - raw.mean()) / raw.std(), atol=1e-12)
