"""``geocluster validate FILE --write-config study.toml``: the profile on stderr and a config that runs.

The registers are generated here, real-like: coordinates plus NAME, CITY, STATE and
EMPLOYEES with sentinel codes, shared addresses, and no industry, patent or
internationalisation columns. Counts asserted below are known from the construction.
"""

import json
import os
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geocluster.pipeline.cli import main
from geocluster.pipeline.config import load_config

# Inland cities: points within ~2 km of them lie in a contiguous-US county.
CITIES = [("Denver", "CO", -104.99, 39.74), ("Austin", "TX", -97.74, 30.27),
          ("Kansas City", "MO", -94.58, 39.10), ("Atlanta", "GA", -84.39, 33.75),
          ("Columbus", "OH", -82.99, 39.96)]


def register(n: int = 300, *, seed: int = 0, shared_pairs: int = 15, sentinels: int = 20,
             ocean: int = 0, bad_coords: int = 0, text_sentinel: str | None = None,
             id_duplicates: int = 0) -> pd.DataFrame:
    """A firm register: ``shared_pairs`` pairs of firms at one address, ``sentinels`` rows with
    EMPLOYEES = -99999, ``ocean`` firms in the Atlantic, ``bad_coords`` rows with latitude
    -99999 (out of range), optionally a text sentinel in EMPLOYEES and duplicated firm ids."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(CITIES), n)
    lon = np.array([CITIES[i][2] for i in pick]) + rng.uniform(-0.02, 0.02, n)
    lat = np.array([CITIES[i][3] for i in pick]) + rng.uniform(-0.02, 0.02, n)
    order = rng.permutation(n)
    first, second = order[:shared_pairs], order[shared_pairs:2 * shared_pairs]
    lon[second], lat[second] = lon[first], lat[first]
    rest = order[2 * shared_pairs:]
    ocean_rows = rest[:ocean]
    lon[ocean_rows] = -65.0 - 0.01 * np.arange(ocean)
    lat[ocean_rows] = 35.0
    bad_rows = rest[ocean:ocean + bad_coords]
    lat[bad_rows] = -99999
    employees = rng.integers(1, 900, n).astype(object)
    employees[rest[ocean + bad_coords:ocean + bad_coords + sentinels]] = -99999
    if text_sentinel is not None:
        employees[rest[-5:]] = text_sentinel
    ids = [f"F{i:05d}" for i in range(n)]
    for k in range(id_duplicates):
        ids[n - 1 - k] = ids[k]
    return pd.DataFrame({
        "firm_id": ids, "NAME": [f"Firm {i} \"&\" Sons" for i in range(n)],
        "CITY": [CITIES[i][0] for i in pick], "STATE": [CITIES[i][1] for i in pick],
        "EMPLOYEES": employees, "LONGITUDE": lon.round(6), "LATITUDE": lat.round(6),
    })


def _validate(capsys, *args) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the profile -------------------------------------------------------------------------


def test_profile_reports_columns_ids_shared_locations_sentinels_and_area(tmp_path, capsys):
    path = tmp_path / "register.csv"
    register(ocean=4, bad_coords=3, id_duplicates=2, text_sentinel="NOT AVAILABLE").to_csv(
        path, index=False)
    code, out, err = _validate(capsys, path)
    assert code == 0
    assert "297 firms accepted, 3 of 300 rows dropped" in err
    assert "3 rows have coordinates outside latitude [-90, 90]" in err
    lines = {line.split()[0]: line for line in err.splitlines()
             if line.startswith("    ") and line.split()}
    assert "text " in lines["NAME"] and "297 distinct, 0% missing" in lines["NAME"]
    assert "5 distinct" in lines["CITY"] and "5 distinct" in lines["STATE"]
    assert "text*" in lines["EMPLOYEES"] and "are numbers (-99999 to " in lines["EMPLOYEES"]
    assert "candidate id columns (every value unique): NAME" in err
    assert "id column 'firm_id': 4 firms share an id with another firm" in err
    assert "30 firms share a location with another firm (at 15 locations)" in err
    assert "sentinel values in 'EMPLOYEES': '-99999' x20, 'NOT AVAILABLE' x5" in err
    assert "4 of 297 firms lie outside every contiguous-US county" in err
    assert "the areal step does not count them" in err
    assert "name column: 'NAME'" in err
    # without --write-config the config goes to stdout, as valid TOML
    config = tomllib.loads(out)
    assert config["firms"]["on_invalid"] == "drop" and config["weights"]["coincident"] == "jitter"
    assert "id" not in config["firms"]  # firm_id has duplicates
    # the sentinel codes are read as missing, so the column can be the firm size
    assert config["firms"]["na_values"] == [-99999, "NOT AVAILABLE"]
    assert config["firms"]["employees"] == "EMPLOYEES"


def test_numeric_sentinels_and_unique_obvious_id(tmp_path, capsys):
    path = tmp_path / "register.csv"
    register(shared_pairs=0, sentinels=7).to_csv(path, index=False)
    code, out, err = _validate(capsys, path)
    assert code == 0 and "(all 300 rows)" in err
    assert "sentinel values in 'EMPLOYEES': '-99999' x7" in err
    assert "shared locations: none" in err and "every firm lies in a contiguous-US county" in err
    assert "candidate id columns (every value unique): firm_id, NAME" in err
    config = tomllib.loads(out)
    assert config["firms"]["id"] == "firm_id"
    assert "on_invalid" not in config["firms"] and "weights" not in config
    assert "EMPLOYEES" in err and "integer  -99999 to " in err


def test_clean_employees_column_is_mapped(tmp_path, capsys):
    path = tmp_path / "register.csv"
    register(sentinels=0).to_csv(path, index=False)
    code, out, _ = _validate(capsys, path)
    assert code == 0 and tomllib.loads(out)["firms"]["employees"] == "EMPLOYEES"


# --- the written config ------------------------------------------------------------------


def test_write_config_keeps_crs_and_states_its_choices(tmp_path, capsys):
    table = register(bad_coords=2)
    metric = gpd.GeoSeries(gpd.points_from_xy(table["LONGITUDE"], table["LATITUDE"]),
                           crs=4326)
    valid = table["LATITUDE"] > -90
    xy = metric[valid].to_crs(5070)
    table = table.assign(x=np.nan, y=np.nan).drop(columns=["LONGITUDE", "LATITUDE"])
    table.loc[valid, "x"], table.loc[valid, "y"] = xy.x.to_numpy(), xy.y.to_numpy()
    path = tmp_path / "metres.csv"
    table.to_csv(path, index=False)
    target = tmp_path / "study.toml"
    code, out, err = _validate(capsys, path, "--crs", "EPSG:5070", "--write-config", target)
    assert code == 0 and f"Wrote {target}" in out
    text = target.read_text()
    assert text.startswith("# Study config written by 'geocluster validate ")
    header = text.split("\n\n")[0]
    assert 'on_invalid = "drop": 2 of 300 rows have no usable location' in header
    assert 'coincident = "jitter": 30 firms share 15 locations' in header
    assert "crs = 'EPSG:5070': as given to validate with --crs" in header
    config = load_config(target)
    assert config.firms.crs == "EPSG:5070" and config.firms.path == str(path)
    assert (config.firms.lon, config.firms.lat) == ("x", "y")
    import geocluster as gc

    with pytest.warns(gc.GeoclusterWarning, match="dropped 2 of 300 rows"):
        firms = gc.read_firms(config.firms.path, lon="x", lat="y",
                              crs=config.firms.crs, on_invalid=config.firms.on_invalid)
    assert len(firms) == 298 and firms.crs.to_epsg() == 5070  # metres stay metres


def test_quotes_and_backslashes_give_valid_toml(tmp_path, capsys):
    folder = tmp_path / 'odd "name" \\ dir'
    folder.mkdir()
    table = register(n=60, shared_pairs=0, sentinels=0).rename(columns={
        "LONGITUDE": 'lon "deg"', "LATITUDE": "lat\\deg", "NAME": 'na"me'})
    path = folder / 'firms "2024" \\ v1.csv'
    table.to_csv(path, index=False)
    target = folder / "study.toml"
    code, _, _ = _validate(capsys, path, "--lon", 'lon "deg"', "--lat", "lat\\deg",
                           "--write-config", target)
    assert code == 0
    config = load_config(target)
    assert config.firms.path == str(path.resolve())
    assert (config.firms.lon, config.firms.lat) == ('lon "deg"', "lat\\deg")
    assert tomllib.loads(target.read_text())["firms"]["path"] == path.name  # relative


def test_write_config_never_overwrites_without_force(tmp_path, capsys):
    path = tmp_path / "register.csv"
    register(n=50).to_csv(path, index=False)
    target = tmp_path / "study.toml"
    target.write_text("# my own config\n")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    code, _, err = _validate(capsys, path, "--write-config", target)
    assert code == 3
    assert "already exists; pass --force to overwrite it" in err
    assert target.read_text() == "# my own config\n"
    assert target.stat().st_mtime_ns == 1_000_000_000
    code, _, _ = _validate(capsys, path, "--write-config", target, "--force")
    assert code == 0 and "[firms]" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["register.csv", "study.toml"]


def test_non_us_register_uses_a_grid(tmp_path, capsys):
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"lon": 13.4 + rng.uniform(-0.3, 0.3, 80),
                          "lat": 52.5 + rng.uniform(-0.2, 0.2, 80),
                          "name": [f"GmbH {i}" for i in range(80)]})
    path = tmp_path / "berlin.csv"
    table.to_csv(path, index=False)
    code, out, err = _validate(capsys, path)
    assert code == 0 and "the firms are not in the US" in err
    assert tomllib.loads(out)["areal"] == {"units": "grid"}


# --- validate, then run exactly the written config -----------------------------------------


def _csv(folder: Path) -> Path:
    path = folder / "register.csv"
    register(ocean=3, bad_coords=4).to_csv(path, index=False)
    return path


def _tsv_text_sentinels(folder: Path) -> Path:
    path = folder / "register.tsv"
    table = register(seed=1, text_sentinel="N/A").rename(
        columns={"LONGITUDE": "lng", "LATITUDE": "lat"})
    table.to_csv(path, sep="\t", index=False)
    return path


def _geopackage(folder: Path) -> Path:
    table = register(seed=2, shared_pairs=40)
    frame = gpd.GeoDataFrame(table.drop(columns=["LONGITUDE", "LATITUDE"]),
                             geometry=gpd.points_from_xy(table["LONGITUDE"], table["LATITUDE"]),
                             crs=4326)
    path = folder / "register.gpkg"
    frame.to_file(path, layer="establishments", driver="GPKG")
    return path


def _odd_parquet(folder: Path, n: int = 40) -> Path:
    """Parquet with column types a CSV never has: categories, dates, lists, nullable ints."""
    rng = np.random.default_rng(5)
    table = pd.DataFrame({
        "lon": -97.74 + rng.uniform(-0.05, 0.05, n), "lat": 30.27 + rng.uniform(-0.05, 0.05, n),
        "sector": pd.Categorical(["a", "b"] * (n // 2)),
        "founded": pd.date_range("2001-01-01", periods=n, freq="D"),
        "empty": np.nan, "listed": [True, False] * (n // 2),
        "staff": pd.array([3, None] * (n // 2), dtype="Int64"),
        "tags": [[1, 2]] * n, "code": pd.array(["-99999", "N/A"] * (n // 2), dtype="string"),
    })
    path = folder / "odd.parquet"
    table.to_parquet(path)
    return path


def test_odd_column_types_are_profiled(tmp_path, capsys):
    code, out, err = _validate(capsys, _odd_parquet(tmp_path))
    assert code == 0, err
    lines = {line.split()[0]: line for line in err.splitlines()
             if line.startswith("    ") and line.split()}
    assert lines["founded"].split()[1] == "date" and lines["listed"].split()[1] == "boolean"
    assert "0 distinct, 100% missing" in lines["empty"]
    assert "integer  3 to 3, 1 distinct, 50% missing" in lines["staff"]
    assert "1 distinct" in lines["tags"] and "2 distinct" in lines["sector"]
    assert "sentinel values in 'code': '-99999' x20, 'N/A' x20" in err
    assert tomllib.loads(out)["firms"]["lon"] == "lon"


@pytest.mark.slow
@pytest.mark.parametrize("make", [_csv, _tsv_text_sentinels, _geopackage, _odd_parquet],
                         ids=["csv", "tsv-text-sentinels", "geopackage", "odd-parquet"])
def test_validate_then_run_the_written_config(tmp_path, capsys, make):
    path = make(tmp_path)
    before = path.read_bytes()
    target = tmp_path / "s.toml"
    code, _, err = _validate(capsys, path, "--write-config", target)
    assert code == 0, err
    code = main(["run", str(target), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = tmp_path / "results"
    for name in ("report.html", "firms.parquet", "run.json"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["firms"]["path"] == str(path)
    assert path.read_bytes() == before


def test_encoding_is_passed_and_written(tmp_path, capsys):
    table = register(n=40, shared_pairs=0).assign(CITY="Zürich-Straße")
    path = tmp_path / "latin.csv"
    table.to_csv(path, index=False, encoding="latin-1")
    target = tmp_path / "study.toml"
    code, _, err = _validate(capsys, path, "--encoding", "latin-1", "--write-config", target)
    assert code == 0, err
    config = load_config(target)
    assert config.firms.encoding == "latin-1"
    import geocluster as gc

    firms = gc.read_firms(config.firms.path, encoding=config.firms.encoding)
    assert set(firms["CITY"]) == {"Zürich-Straße"}


def test_layer_of_a_multi_layer_file(tmp_path, capsys):
    path = _geopackage(tmp_path)
    frame = gpd.read_file(path, layer="establishments")
    frame.iloc[:10].to_file(path, layer="branches")
    code, _, err = _validate(capsys, path, "--write-config", tmp_path / "s.toml")
    assert code == 4 and "has 2 layers" in err and "[firms] layer" in err
    assert not (tmp_path / "s.toml").exists()
    code, _, err = _validate(capsys, path, "--layer", "branches", "--write-config",
                             tmp_path / "s.toml")
    assert code == 0 and "10 firms accepted" in err
    assert load_config(tmp_path / "s.toml").firms.layer == "branches"
