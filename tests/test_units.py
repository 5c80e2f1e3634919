import geopandas as gpd
import numpy as np
import pyproj
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

import geocluster as gc
from geocluster.errors import CRSError, InputError
from geocluster.units import (
    auto_metric_crs,
    far_from_bulk,
    is_metric,
    metric_crs_for,
    parse_distance,
    target_metric_crs,
    to_metric,
)


@pytest.mark.parametrize(
    "text, metres",
    [("25km", 25_000.0), ("500m", 500.0), ("0.5 km", 500.0), ("1e3m", 1000.0), (750, 750.0),
     ("2.5KM", 2500.0)],
)
def test_parse_distance(text, metres):
    assert parse_distance(text) == metres


@pytest.mark.parametrize("bad", ["25", "25 miles", "km", "-5km", "0m", 0, -3.0, None, True])
def test_parse_distance_rejects(bad):
    with pytest.raises(InputError, match="distance"):
        parse_distance(bad, name="radius")


def test_metric_crs_choices():
    assert metric_crs_for((-71.2, 42.2, -70.9, 42.5)).to_epsg() == 32619  # Boston, UTM 19N
    assert metric_crs_for((150.9, -34.1, 151.3, -33.7)).to_epsg() == 32756  # Sydney, 56S
    assert metric_crs_for((-124.0, 25.0, -67.0, 49.0)).to_epsg() == 5070
    europe = metric_crs_for((-10.0, 35.0, 30.0, 60.0))
    assert is_metric(europe) and europe.to_epsg() is None
    assert "Albers" in europe.name


def test_to_metric_projects_and_keeps_input(counties_conus):
    before = counties_conus.copy()
    metric = gc.to_metric(counties_conus)
    assert metric.crs.to_epsg() == 5070
    assert metric.index.equals(counties_conus.index)
    assert_geodataframe_equal(counties_conus, before)
    # Areas in square metres: Los Angeles County has 10,510 km^2 of land (Census), and
    # the cartographic boundary file is clipped to the shoreline and generalised.
    assert metric.loc["06037"].geometry.area / 1e6 == pytest.approx(10_510, rel=0.05)


def test_to_metric_distance_is_metres():
    pts = gpd.GeoDataFrame(geometry=[Point(-71.06, 42.36), Point(-71.06, 42.46)], crs=4326)
    metric = gc.to_metric(pts)
    d = metric.geometry.iloc[0].distance(metric.geometry.iloc[1])
    assert d == pytest.approx(11_120, rel=0.01)  # 0.1 degree of latitude


def test_to_metric_named_crs_and_errors():
    pts = gpd.GeoDataFrame(geometry=[Point(-71.06, 42.36)], crs=4326)
    assert gc.to_metric(pts, crs="EPSG:32619").crs.to_epsg() == 32619
    with pytest.raises(CRSError, match="not a projected CRS in metres"):
        gc.to_metric(pts, crs="EPSG:4326")
    with pytest.raises(CRSError, match="no CRS"):
        gc.to_metric(gpd.GeoDataFrame(geometry=[Point(0, 0)]))
    with pytest.raises(InputError, match="expected a GeoDataFrame"):
        gc.to_metric([Point(0, 0)])


def test_to_metric_antimeridian():
    pts = gpd.GeoDataFrame(geometry=[Point(179.5, 52.0), Point(-179.5, 52.5)], crs=4326)
    metric = gc.to_metric(pts)
    d = metric.geometry.iloc[0].distance(metric.geometry.iloc[1])
    assert d < 150_000  # neighbours across the antimeridian, not 27,000 km apart


# --- the automatic metric CRS from the bulk of the data ---------------------------------


def _us_firms(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-120.0, -75.0, n), rng.uniform(30.0, 45.0, n)


def test_auto_metric_crs_ignores_null_island():
    lon, lat = _us_firms()
    assert auto_metric_crs(lon, lat).to_epsg() == 5070
    # One failed geocode at (0, 0) used to give an Atlantic-centred Albers.
    assert auto_metric_crs(np.r_[lon, 0.0], np.r_[lat, 0.0]).to_epsg() == 5070
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.r_[lon, 0.0], np.r_[lat, 0.0]), crs=4326)
    assert gc.to_metric(pts).crs.to_epsg() == 5070


def test_auto_metric_crs_ignores_a_far_outlier():
    lon, lat = _us_firms()
    # A Boston-only table with one firm mis-geocoded to Europe stays in UTM zone 19N.
    rng = np.random.default_rng(1)
    blon = np.r_[rng.uniform(-71.2, -70.9, 200), 2.35]
    blat = np.r_[rng.uniform(42.2, 42.5, 200), 48.86]
    assert auto_metric_crs(blon, blat).to_epsg() == 32619
    assert np.flatnonzero(far_from_bulk(blon, blat)).tolist() == [200]
    assert not far_from_bulk(lon, lat).any()


def test_auto_metric_crs_equator_symmetric_extent_does_not_crash():
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(-30.0, 30.0, 300), rng.uniform(-45.0, 45.0, 300)
    lon[:2], lat[:2] = [0.0, 0.0], [-45.0, 45.0]  # exact symmetry: Albers lat_1 = -lat_2
    crs = auto_metric_crs(lon, lat)
    assert is_metric(crs) and "Lambert azimuthal equal-area" in crs.name
    pts = gpd.GeoDataFrame(geometry=[Point(10.0, 0.0), Point(10.0, 1.0)], crs=4326)
    metric = pts.to_crs(crs)
    # One degree of latitude at the equator is 110.574 km on WGS84.
    d = metric.geometry.iloc[0].distance(metric.geometry.iloc[1])
    assert d == pytest.approx(110_574, rel=0.01)
    # The bounds rule itself no longer raises a PROJ error either.
    assert is_metric(metric_crs_for((-30.0, -45.0, 30.0, 45.0)))


@pytest.mark.parametrize(
    "bounds",
    [(-30, -45, 30, 45), (-180, -90, 180, 90), (-10, -60, 170, 60), (0, -1, 0, 1),
     (100, -40, 179, 40.1), (-170, 10, -10, 80), (5, -0.5, 5.0001, 0.5)],
)
def test_metric_crs_for_never_fails(bounds):
    crs = metric_crs_for(bounds)
    assert is_metric(crs)
    lon = np.linspace(bounds[0], bounds[2], 5)
    lat = np.linspace(bounds[1], bounds[3], 5)
    x, y = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    assert np.isfinite(x).all() and np.isfinite(y).all()


def test_auto_metric_crs_world_and_antimeridian():
    rng = np.random.default_rng(3)
    world = auto_metric_crs(rng.uniform(-180, 180, 500), rng.uniform(-60, 70, 500))
    assert world.to_epsg() == 8857  # Equal Earth
    # Across the antimeridian: centre 180 degrees -> UTM zone 1 north, with or without (0, 0).
    assert auto_metric_crs([179.5, -179.5], [52.0, 52.5]).to_epsg() == 32601
    assert auto_metric_crs([179.5, -179.5, 0.0], [52.0, 52.5, 0.0]).to_epsg() == 32601


def test_auto_metric_crs_bad_input():
    with pytest.raises(CRSError, match=r"no point has finite longitude/latitude.*crs="):
        auto_metric_crs([np.nan, 200.0], [np.nan, 95.0])
    with pytest.raises(InputError, match="same length"):
        auto_metric_crs([1.0, 2.0], [1.0])
    # Missing values are ignored, not fatal.
    assert auto_metric_crs([-71.06, np.nan, -71.1], [42.36, 10.0, 42.4]).to_epsg() == 32619


def test_far_from_bulk_edge_cases():
    # Missing and out-of-range values are never "far"; they are read_firms' business.
    lon = np.r_[np.linspace(-122, -71, 50), np.nan, 500.0]
    lat = np.r_[np.linspace(30, 45, 50), 40.0, 40.0]
    assert not far_from_bulk(lon, lat).any()
    # Firms on both sides of the antimeridian (Fiji, Samoa, Aleutians) are one bulk...
    pac_lon = np.r_[np.linspace(175.0, 180.0, 30), np.linspace(-180.0, -172.0, 30)]
    pac_lat = np.linspace(-20.0, -10.0, 60)
    assert not far_from_bulk(pac_lon, pac_lat).any()
    # ...and a firm in Europe is far from them.
    assert np.flatnonzero(far_from_bulk(np.r_[pac_lon, 2.35], np.r_[pac_lat, -15.0])).tolist() == [60]


def test_target_metric_crs_is_the_automatic_choice_of_to_metric():
    """Points read in any source CRS get the CRS to_metric picks (Aleutians included)."""
    lon = np.r_[np.linspace(172.5, 179.9, 20), np.linspace(-179.9, -165.0, 20)]
    lat = np.linspace(51.2, 54.0, 40)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    expected = to_metric(pts).crs
    wgs84 = pyproj.CRS(4326)
    assert target_metric_crs(wgs84, lon, lat).equals(expected)
    assert target_metric_crs(wgs84, lon, lat).equals(auto_metric_crs(lon, lat))
    # the same points given in another geographic CRS (NAD83) choose the same CRS
    nad83 = pyproj.CRS(4269)
    x, y = pyproj.Transformer.from_crs(wgs84, nad83, always_xy=True).transform(lon, lat)
    assert target_metric_crs(nad83, x, y).equals(expected)


def test_target_metric_crs_keeps_metric_sources_and_named_crs():
    utm = pyproj.CRS(32610)
    assert target_metric_crs(utm, [500_000.0], [4_000_000.0]) is utm
    assert target_metric_crs(pyproj.CRS(4326), [0.0], [0.0], "EPSG:5070").to_epsg() == 5070
    with pytest.raises(CRSError, match=r"crs='EPSG:4326' is not a projected CRS in metres"):
        target_metric_crs(utm, [0.0], [0.0], "EPSG:4326")
    with pytest.raises(CRSError, match=r"cannot choose a metric CRS for empty input; name crs="):
        target_metric_crs(pyproj.CRS(4326), [], [])
