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
    table = pd.DataFrame({"x": [-2.2e6, 2.0e6, 1.0e6], "y": [1.9e6, 2.4e6, 2.0e6]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # metres in a metre CRS: nothing to say
        firms = gc.read_firms(table, crs="EPSG:5070")  # no lat/lon range check in metres
    assert firms.crs.to_epsg() == 5070
    degrees = gpd.GeoDataFrame(geometry=gpd.points_from_xy([-71.0, -72.0, -73.0], [42.0, 43.0, 44.0]),
                               crs=5070)  # a frame whose CRS was set wrongly
    with pytest.warns(GeoclusterWarning, match=r"look like degrees.*gdf\.set_crs\('EPSG:4326', allow_override=True\)"):
        gc.read_firms(degrees)


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


# --- text tables: ids, codes, separators, encodings, compression -----------------------------

CSV = (
    "id,name,lon,lat,zip,employees\n"
    "007,Café Alpha,-71.06,42.36,02139,12\n"
    "7,Beta,-71.10,42.40,02140,3\n"
    "010,Gamma,-71.20,42.30,10001,40\n"
)


def test_csv_keeps_leading_zeros_in_ids_and_codes(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text(CSV, encoding="utf-8")
    firms = gc.read_firms(path, id="id")
    assert firms.index.tolist() == ["007", "7", "010"]  # '007' and '7' are two firms
    assert firms["zip"].tolist() == ["02139", "02140", "10001"]
    assert firms["zip"].iloc[2] == "10001"  # a code column is text even without leading zeros
    assert firms["employees"].tolist() == [12, 3, 40]  # safely numeric columns are numbers
    assert firms["name"].iloc[0] == "Café Alpha"
    # Without id=, the id column is still text (and the index is 0..n-1).
    plain = gc.read_firms(path)
    assert plain["id"].tolist() == ["007", "7", "010"]
    assert plain.index.tolist() == [0, 1, 2]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_csv_separator_is_detected(tmp_path, sep):
    path = tmp_path / "firms.csv"
    path.write_text(CSV.replace(",", sep), encoding="utf-8")
    firms = gc.read_firms(path, id="id")
    assert firms.index.tolist() == ["007", "7", "010"]
    np.testing.assert_allclose(firms.geometry.x, [-71.06, -71.10, -71.20])


def test_semicolon_file_with_decimal_commas(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text("id;lon;lat\na;-71,06;42,36\nb;-71,1;42,4\n", encoding="utf-8")
    with pytest.warns(GeoclusterWarning) as record:
        firms = gc.read_firms(path, id="id")
    messages = [str(w.message) for w in record]
    assert any("column 'lon' uses decimal commas in 2 values (lines 2, 3" in m for m in messages)
    assert any("column 'lat' uses decimal commas in 2 values (lines 2, 3" in m for m in messages)
    np.testing.assert_allclose(firms.geometry.y, [42.36, 42.4])


def test_gzip_named_csv_is_read_with_a_warning(tmp_path):
    import gzip

    path = tmp_path / "firms.csv"
    path.write_bytes(gzip.compress(CSV.encode("utf-8")))
    with pytest.warns(GeoclusterWarning, match=r"gzip-compressed although its name ends in \.csv"):
        firms = gc.read_firms(path, id="id")
    assert firms.index.tolist() == ["007", "7", "010"]
    named = tmp_path / "firms.csv.gz"
    named.write_bytes(gzip.compress(CSV.encode("utf-8")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # correctly named: no warning
        assert gc.read_firms(named, id="id").index.tolist() == ["007", "7", "010"]


def test_latin1_fallback_and_encoding_option(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_bytes(CSV.encode("latin-1"))
    with pytest.warns(GeoclusterWarning, match=r"not UTF-8 \(first non-UTF-8 byte on line 2\); read it as cp1252"):
        firms = gc.read_firms(path)
    assert firms["name"].iloc[0] == "Café Alpha"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gc.read_firms(path, encoding="latin-1")["name"].iloc[0] == "Café Alpha"


def test_blank_lines_keep_file_line_numbers(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text("id,lon,lat\na,-71,42\n\nb,,42\nc,-72,43\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"1 rows have missing coordinates \(line 4\)"):
        gc.read_firms(path)
    with pytest.warns(GeoclusterWarning, match=r"dropped 1 of 3 rows .*missing coordinates \(line 4\)"):
        firms = gc.read_firms(path, id="id", on_invalid="drop")
    assert firms.index.tolist() == ["a", "c"]


# --- other formats --------------------------------------------------------------------------


def test_json_records(tmp_path):
    import json

    path = tmp_path / "firms.json"
    path.write_text(json.dumps([{"id": "007", "lon": -71.06, "lat": 42.36},
                                {"id": "7", "lon": -71.1, "lat": 42.4}]))
    firms = gc.read_firms(path, id="id")
    assert firms.index.tolist() == ["007", "7"]
    np.testing.assert_allclose(firms.geometry.x, [-71.06, -71.1])


def test_wkb_parquet_without_geo_metadata(tmp_path):
    pts = gpd.GeoSeries([Point(-71.0, 42.0), Point(-72.0, 43.0)], crs=4326)
    path = tmp_path / "firms.parquet"
    pd.DataFrame({"id": ["a", "b"], "geometry": pts.to_wkb()}).to_parquet(path)
    with pytest.warns(GeoclusterWarning, match=r"no GeoParquet metadata\); decoded its WKB column 'geometry'"):
        firms = gc.read_firms(path, id="id")
    assert firms.crs.to_epsg() == 4326
    np.testing.assert_allclose(firms.geometry.x, [-71.0, -72.0])
    with pytest.warns(GeoclusterWarning, match="decoded its WKB"):
        metric = gc.read_firms(path, id="id", crs="EPSG:5070")
    assert metric.crs.to_epsg() == 5070  # the decoded points are in the crs= given


def test_shapefile_without_prj_uses_crs(tmp_path):
    gdf = gpd.GeoDataFrame({"fid_": ["a", "b"]}, geometry=[Point(-2.0e6, 1.9e6), Point(2.0e6, 2.4e6)],
                           crs=5070)
    path = tmp_path / "firms.shp"
    gdf.to_file(path)
    (tmp_path / "firms.prj").unlink()
    with pytest.warns(GeoclusterWarning, match=r"shapefile without its \.prj file; read its coordinates in crs='EPSG:5070'"):
        firms = gc.read_firms(path, crs="EPSG:5070")
    assert firms.crs.to_epsg() == 5070
    np.testing.assert_allclose(firms.geometry.x, [-2.0e6, 2.0e6])


def test_geopackage_layer(tmp_path):
    path = tmp_path / "firms.gpkg"
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(-71, 42)], crs=4326).to_file(path, layer="firms")
    gpd.GeoDataFrame({"id": ["z", "y"]}, geometry=[Point(-72, 43)] * 2, crs=4326).to_file(
        path, layer="offices")
    assert gc.read_firms(path, layer="offices", id="id").index.tolist() == ["z", "y"]
    with pytest.raises(InputError, match=r"has 2 layers: 'firms' \(Point\), 'offices' \(Point\).*layer="):
        gc.read_firms(path)


# --- coordinates that are valid but suspicious ----------------------------------------------


def _us(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"lon": rng.uniform(-120, -75, n), "lat": rng.uniform(30, 45, n)})


def test_null_island_warns_or_is_dropped(tmp_path):
    table = pd.concat([_us(), pd.DataFrame({"lon": [0.0], "lat": [0.0]})], ignore_index=True)
    path = tmp_path / "firms.csv"
    table.to_csv(path, index=False)
    with pytest.warns(GeoclusterWarning, match=r"1 of 401 firms are at exactly \(0, 0\).*line 402.*on_invalid='drop'"):
        firms = gc.read_firms(path)
    assert len(firms) == 401
    assert gc.to_metric(firms).crs.to_epsg() == 5070  # the automatic CRS ignores null island
    with pytest.warns(GeoclusterWarning, match=r"dropped 1 of 401 rows.*at \(0, 0\).*line 402"):
        dropped = gc.read_firms(path, on_invalid="drop")
    assert len(dropped) == 400 and 400 not in dropped.index


def test_far_point_warns():
    table = pd.concat([_us(), pd.DataFrame({"lon": [2.35], "lat": [48.86]})], ignore_index=True)
    with pytest.warns(GeoclusterWarning, match=r"1 of 401 firms lie far from all the others \(index 400; e\.g\. 2\.35, 48\.86\)"):
        firms = gc.read_firms(table)
    assert len(firms) == 401  # kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.read_firms(_us())  # no false alarm for 400 firms spread over the US


def test_mixed_type_ids_become_text_and_write_to_parquet(tmp_path):
    table = pd.DataFrame({"firm_id": [1, "b", 3], "lon": [-71.0, -71.1, -71.2], "lat": [42.0, 42.1, 42.2]})
    with pytest.warns(GeoclusterWarning, match=r"id column 'firm_id' mixes numbers and text \(2 of 3"):
        firms = gc.read_firms(table, id="firm_id")
    assert firms.index.tolist() == ["1", "b", "3"]
    assert table["firm_id"].tolist() == [1, "b", 3]  # the input is not changed
    firms.to_parquet(tmp_path / "out.parquet")  # used to fail: mixed int/str column
    assert gpd.read_parquet(tmp_path / "out.parquet")["firm_id"].tolist() == ["1", "b", "3"]


def test_obvious_id_column_duplicates_warn(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text("Firm_ID,lon,lat\n007,-71,42\n7,-71.1,42.1\n007,-71.2,42.2\n", encoding="utf-8")
    with pytest.warns(GeoclusterWarning, match=r"column 'Firm_ID' looks like a firm id but has 1 duplicate values \(e\.g\. \['007'\] at lines 2, 4\).*id='Firm_ID'"):
        firms = gc.read_firms(path)
    assert firms.index.tolist() == [0, 1, 2]


def test_code_columns_stay_text(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text("fips,NAICS_code,tractor_hp,lon,lat\n36061,541511,120,-74.0,40.7\n"
                    "06037,334413,95,-118.2,34.1\n", encoding="utf-8")
    firms = gc.read_firms(path)
    assert firms["fips"].tolist() == ["36061", "06037"]
    assert firms["NAICS_code"].tolist() == ["541511", "334413"]
    assert firms["tractor_hp"].tolist() == [120, 95]  # not a code: a number


def test_line_numbers_count_quoted_line_breaks(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_text('id,name,lon,lat\na,"Smith, Jones & Co",-71,42\nb,"two\nlines",-72,43\n'
                    'c,x,-73,300\n', encoding="utf-8")
    # Firm c starts on line 5: the header, a, and b's two physical lines come first.
    with pytest.raises(InputError, match=r"outside latitude .*\(line 5\)"):
        gc.read_firms(path, id="id")
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("id,lon,lat\na,-71,42\nb,,42\n\n\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"1 rows have missing coordinates \(line 3\)"):
        gc.read_firms(trailing, id="id")


def test_utf16_with_bom(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_bytes(CSV.encode("utf-16"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        firms = gc.read_firms(path, id="id")
    assert firms.index.tolist() == ["007", "7", "010"] and firms["name"].iloc[0] == "Café Alpha"


def test_na_values_blank_register_codes_in_every_column(tmp_path):
    path = tmp_path / "register.csv"
    path.write_text("NAME,ZIP,EMPLOYEES,LON,LAT\n"
                    "a,02139,5,-71.1,42.4\n"
                    "b,N/A,NOT AVAILABLE,-122.4,37.8\n"
                    "c,10001,-99999,-74.0,40.7\n"
                    "d,94105,12,-99999,40.0\n")
    before = path.read_bytes()
    firms = gc.read_firms(path, na_values=[-99999, "not available", "n/a"], on_invalid="drop")
    assert path.read_bytes() == before
    # d's longitude is a missing code: a missing coordinate, dropped under on_invalid="drop"
    assert firms["NAME"].tolist() == ["a", "b", "c"]
    assert firms["EMPLOYEES"].dtype.kind == "f"  # numbers once the text code is gone
    assert firms["EMPLOYEES"].tolist()[0] == 5 and firms["EMPLOYEES"].isna().tolist() == [
        False, True, True]
    assert firms["ZIP"].tolist()[0] == "02139" and firms["ZIP"].isna().tolist() == [
        False, True, False]  # a code column keeps its leading zeros


def test_na_values_must_be_a_list_of_codes():
    table = pd.DataFrame({"lon": [-100.0], "lat": [40.0]})
    with pytest.raises(InputError, match=r"na_values=-1 must be a list of codes.*na_values"):
        gc.read_firms(table, na_values=-1)
    with pytest.raises(InputError, match=r"na_values: True is not a code"):
        gc.read_firms(table, na_values=[True])


def test_warnings_point_at_the_callers_line_from_every_io_module(tmp_path):
    """Each reader module warns through one helper that skips every geocluster.io frame."""
    latin = tmp_path / "latin.csv"  # text.py: the cp1252 fallback
    latin.write_bytes("id,name,lon,lat\na,Caf\xe9,-71.06,42.36\nb,B,-71.1,42.4\n".encode("cp1252"))
    null = pd.DataFrame({"lon": [0.0, -71.1, -71.2], "lat": [0.0, 42.4, 42.3]})  # coordinates.py
    dup = pd.DataFrame({"firm_id": ["a", "a", "b"], "lon": [-71.0, -71.1, -71.2],
                        "lat": [42.3, 42.4, 42.3]})  # ids.py: duplicates in an obvious id column
    plain = tmp_path / "plain.parquet"  # spatial.py: WKB without GeoParquet metadata
    wkb = gpd.GeoSeries(gpd.points_from_xy([-71.0, -71.1], [42.3, 42.4])).to_wkb()
    pd.DataFrame({"id": ["a", "b"], "geometry": wkb}).to_parquet(plain)
    for source in (latin, null, dup, plain):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.read_firms(source)
        ours = [w for w in caught if issubclass(w.category, GeoclusterWarning)]
        assert ours, source
        assert {w.filename for w in ours} == {__file__}, [(w.filename, str(w.message)) for w in ours]
