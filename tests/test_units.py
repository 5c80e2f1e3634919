import geopandas as gpd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

import geocluster as gc
from geocluster.errors import CRSError, InputError
from geocluster.units import is_metric, metric_crs_for, parse_distance


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
