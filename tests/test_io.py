import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon

import geocluster as gc
from geocluster.errors import CRSError, GeoclusterError, GeoclusterWarning, InputError


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "firm_id": ["a", "b", "c", "d"],
            "name": ["Alpha", "Beta", "Gamma", "Delta"],
            "longitude": [-122.41, -71.06, -97.74, -122.33],
            "latitude": [37.77, 42.36, 30.27, 47.61],
            "employees": [10, 250, 40, 900],
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "geoparquet", "gpkg", "geojson"])
def test_reads_every_format(tmp_path, table, fmt):
    path = tmp_path / f"firms.{fmt}"
    gdf = gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table.longitude, table.latitude), crs=4326
    )
    if fmt == "csv":
        table.to_csv(path, index=False)
    elif fmt == "tsv":
        table.to_csv(path, index=False, sep="\t")
    elif fmt == "parquet":
        table.to_parquet(path)
    elif fmt == "geoparquet":
        gdf.to_parquet(path)
    else:
        gdf.to_file(path)
    firms = gc.read_firms(path, id="firm_id")
    assert isinstance(firms, gpd.GeoDataFrame)
    assert firms.index.tolist() == ["a", "b", "c", "d"]
    assert firms.crs.to_epsg() == 4326
    assert (firms.geom_type == "Point").all()
    np.testing.assert_allclose(firms.geometry.y.to_numpy(), table.latitude.to_numpy())
    assert firms.attrs["geocluster"]["n"] == 4


def test_coordinate_names_detected_and_reported(table, caplog):
    with caplog.at_level("INFO", logger="geocluster"):
        firms = gc.read_firms(table)
    assert firms.attrs["geocluster"]["coordinates"] == ("longitude", "latitude")
    assert "'longitude' as longitude" in caplog.text
    renamed = table.rename(columns={"longitude": "LNG", "latitude": "Lat"})
    assert gc.read_firms(renamed).attrs["geocluster"]["coordinates"] == ("LNG", "Lat")


def test_input_is_not_modified(table):
    before = table.copy()
    gc.read_firms(table, id="firm_id", on_invalid="drop")
    pd.testing.assert_frame_equal(table, before)


def test_dataframe_index_kept_when_no_id(table):
    indexed = table.set_index("firm_id")
    firms = gc.read_firms(indexed)
    assert firms.index.tolist() == ["a", "b", "c", "d"]


def test_geodataframe_input(table):
    gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table.longitude, table.latitude),
                           crs=4326)
    firms = gc.read_firms(gdf, id="firm_id")
    assert firms.geometry.equals(gpd.GeoSeries(gdf.geometry.to_numpy(), index=firms.index, crs=4326))
    projected = gdf.to_crs(5070)
    assert gc.read_firms(projected).crs.to_epsg() == 5070  # kept, not reprojected


def test_projected_coordinate_columns():
    table = pd.DataFrame({"x": [-2.2e6, 2.0e6], "y": [1.9e6, 2.4e6]})
    firms = gc.read_firms(table, crs="EPSG:5070")  # no lat/lon range check in metres
    assert firms.crs.to_epsg() == 5070


# --- bad input: every case names the problem ------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"firm file '.*nope.csv' does not exist"):
        gc.read_firms(tmp_path / "nope.csv")


def test_unsupported_and_unreadable(tmp_path):
    path = tmp_path / "firms.xlsx"
    path.write_text("x")
    with pytest.raises(InputError, match=r"unsupported file type '.xlsx'.*reads .csv"):
        gc.read_firms(path)
    broken = tmp_path / "firms.gpkg"
    broken.write_text("this is not a geopackage")
    with pytest.raises(InputError, match=r"could not read '.*firms.gpkg' as GPKG"):
        gc.read_firms(broken)
    bad_parquet = tmp_path / "firms.parquet"
    bad_parquet.write_bytes(b"PAR1 garbage")
    with pytest.raises(InputError, match="could not read"):
        gc.read_firms(bad_parquet)


def test_empty_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("lon,lat\n")
    with pytest.raises(InputError, match="has no rows"):
        gc.read_firms(path)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(InputError, match="is empty"):
        gc.read_firms(blank)


def test_missing_coordinate_columns(table, tmp_path):
    path = tmp_path / "firms.csv"
    table.drop(columns="latitude").to_csv(path, index=False)
    with pytest.raises(InputError, match=r"firms.csv'?: no latitude column found.*columns are"):
        gc.read_firms(path)
    with pytest.raises(InputError, match="the longitude column 'lonx' does not exist"):
        gc.read_firms(table, lon="lonx")


def test_non_numeric_coordinates(table):
    bad = table.astype({"latitude": object})
    bad.loc[2, "latitude"] = "thirty"
    with pytest.raises(InputError, match=r"column 'latitude' has 1 non-numeric values \(index 2: \['thirty'\]"):
        gc.read_firms(bad)


def test_missing_coordinates_raise_or_drop(table):
    bad = table.copy()
    bad.loc[[1, 3], "longitude"] = np.nan
    with pytest.raises(InputError, match=r"2 rows have missing coordinates \(index 1, 3\).*on_invalid='drop'"):
        gc.read_firms(bad)
    with pytest.warns(GeoclusterWarning, match="dropped 2 of 4 rows"):
        firms = gc.read_firms(bad, on_invalid="drop", id="firm_id")
    assert firms.index.tolist() == ["a", "c"]


def test_out_of_range(table):
    bad = table.copy()
    bad.loc[0, "longitude"] = -222.0
    with pytest.raises(InputError, match=r"1 rows have coordinates outside latitude \[-90, 90\]"):
        gc.read_firms(bad)


def test_swapped_coordinates_are_named(table):
    swapped = table.rename(columns={"longitude": "latitude", "latitude": "longitude"})
    with pytest.raises(InputError, match="look swapped. Pass lon='latitude', lat='longitude'"):
        gc.read_firms(swapped)


def test_duplicate_and_missing_ids(table):
    dup = table.copy()
    dup.loc[2, "firm_id"] = "a"
    with pytest.raises(InputError, match=r"'firm_id' has 1 duplicate ids \(e.g. \['a'\] at index 0, 2\)"):
        gc.read_firms(dup, id="firm_id")
    missing = table.copy()
    missing.loc[1, "firm_id"] = None
    with pytest.raises(InputError, match="missing for 1 rows"):
        gc.read_firms(missing, id="firm_id")
    with pytest.raises(InputError, match="id column 'code' does not exist"):
        gc.read_firms(table, id="code")
    dup_index = table.set_index(pd.Index([0, 0, 1, 2]))
    with pytest.raises(InputError, match="index has duplicate labels"):
        gc.read_firms(dup_index)


def test_geodataframe_without_crs(table):
    gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table.longitude, table.latitude))
    with pytest.raises(CRSError, match="has no CRS.*set_crs"):
        gc.read_firms(gdf)
    assert issubclass(CRSError, InputError)


def test_non_point_geometries():
    gdf = gpd.GeoDataFrame(
        {"id": [1, 2, 3]},
        geometry=[Point(0, 0), LineString([(0, 0), (1, 1)]),
                  Polygon([(0, 0), (1, 0), (1, 1)])],
        crs=4326,
    )
    with pytest.raises(InputError, match=r"2 geometries are not points \(LineString, Polygon; index 1, 2\)"):
        gc.read_firms(gdf)


def test_bad_options(table):
    with pytest.raises(InputError, match="on_invalid='skip' is not an option; pass 'raise' or 'drop'"):
        gc.read_firms(table, on_invalid="skip")
    with pytest.raises(CRSError, match="not a CRS pyproj knows"):
        gc.read_firms(table, crs="EPSG:99999999")
    with pytest.raises(InputError, match="cannot read firms from a list"):
        gc.read_firms([1, 2])


def test_errors_are_value_errors_not_tracebacks(table):
    """Every bad input is a GeoclusterError (a ValueError), nothing deeper."""
    bad = table.copy()
    bad["latitude"] = ["x"] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(GeoclusterError):
            gc.read_firms(bad)
