"""read_firms(engine="dask"): the in-memory answer on data that fit, and bad input with counts."""

from __future__ import annotations

import warnings

import dask
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from frame_helpers import assert_same_frame

import geocluster as gc
from geocluster.errors import GeoclusterWarning, InputError

N, PARTS = 90, 3


def same(left, right):
    """Frames equal, reading dask's pyarrow strings (missing = NA) as pandas' (missing = nan)."""
    assert_same_frame(left, right)


@pytest.fixture(scope="module")
def register(tmp_path_factory):
    """Three GeoParquet files as write_firms_dataset writes them (cheap columns, no DGP)."""
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-124, -67, N), rng.uniform(25, 49, N)
    frame = gpd.GeoDataFrame(
        {
            "firm_id": pd.array([f"F{i:06d}" for i in range(1, N + 1)], dtype="str"),
            "industry": pd.array(rng.choice(["software", "pharma"], N), dtype="str"),
            "naics": pd.array(rng.choice(["0511", "3254"], N), dtype="str"),
            "lon": lon,
            "lat": lat,
            "employees": rng.integers(1, 900, N),
            "planted_hub": pd.array(np.where(rng.random(N) < 0.5, "Austin", None), dtype="str"),
        },
        geometry=gpd.points_from_xy(lon, lat, crs="EPSG:4326"),
    )
    folder = tmp_path_factory.mktemp("read") / "register"
    folder.mkdir()
    for i in range(PARTS):
        frame.iloc[30 * i:30 * (i + 1)].to_parquet(folder / f"part.{i:05d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def in_memory(register):
    return pd.concat([gc.read_firms(p, id="firm_id") for p in sorted(register.glob("*.parquet"))])


@pytest.fixture(scope="module")
def table(in_memory):
    return pd.DataFrame(in_memory.drop(columns="geometry")).reset_index(drop=True)


def write_parts(folder, table, bounds, suffix=".parquet"):
    folder.mkdir()
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        part = table.iloc[a:b]
        if suffix == ".parquet":
            part.to_parquet(folder / f"p{i}.parquet", index=False)
        else:
            part.to_csv(folder / f"p{i}.csv", index=False)
    return folder


def test_parquet_register_equals_the_in_memory_reader(dask_client, register, in_memory):
    firms = gc.read_firms(register, engine="dask", id="firm_id")
    assert isinstance(firms, dask_geopandas.GeoDataFrame)
    assert firms.npartitions == PARTS and firms.crs == in_memory.crs
    same(firms.compute(), in_memory)


def test_without_id_the_index_numbers_rows_over_the_register(dask_client, register, in_memory):
    firms = gc.read_firms(register, engine="dask")
    assert firms.divisions == (0, 30, 60, 89)
    same(firms.compute(), in_memory.reset_index(drop=True))


def test_a_column_selection_on_the_workers_equals_the_in_memory_columns(dask_client, register,
                                                                       in_memory):
    firms = gc.read_firms(register, engine="dask", id="firm_id")
    selected = firms[["geometry", "industry"]]
    assert isinstance(selected, dask_geopandas.GeoDataFrame)
    same(selected.compute(), in_memory[["geometry", "industry"]])
    parts = dask_client.compute([dask.delayed(len)(p) for p in selected.to_delayed()], sync=True)
    assert parts == [30, 30, 30] and len(firms) == N
    ys = selected.map_partitions(lambda part: part.geometry.y, meta=pd.Series(dtype=float))
    np.testing.assert_array_equal(ys.compute().to_numpy(), in_memory.geometry.y.to_numpy())
    same(firms[["employees"]].compute(), in_memory[["employees"]])


def test_a_glob_selects_files(dask_client, register, in_memory):
    firms = gc.read_firms(str(register / "part.0000[12].parquet"), engine="dask", id="firm_id")
    same(firms.compute(), in_memory.iloc[30:])


@pytest.mark.slow  # a spatial shuffle on the cluster: about 10 s on a quiet machine
def test_hilbert_partitions_keep_the_firms_and_their_index(dask_client, register, in_memory):
    firms = gc.read_firms(register, engine="dask", id="firm_id", partition="hilbert").persist()
    assert isinstance(firms.spatial_partitions, gpd.GeoSeries)
    assert len(firms.spatial_partitions) == firms.npartitions
    result = firms.compute()
    same(result.sort_index(), in_memory.sort_index())
    # each partition holds a run of the Hilbert order: its hull contains its own points only
    parts = [firms.get_partition(i).compute() for i in range(firms.npartitions)]
    for part, hull in zip(parts, firms.spatial_partitions, strict=True):
        assert part.geometry.within(hull.buffer(1e-9)).all()


def test_a_large_csv_is_split_at_line_breaks_with_the_same_answer(dask_client, tmp_path, table):
    path = tmp_path / "firms.csv"
    table.to_csv(path, index=False)
    firms = gc.read_firms(path, engine="dask", id="firm_id", blocksize=600)
    assert firms.npartitions > 3
    same(firms.compute(), gc.read_firms(path, id="firm_id"))
    by_row = gc.read_firms(path, engine="dask", blocksize=600).compute()
    same(by_row, gc.read_firms(path))


def test_an_empty_file_is_an_empty_partition(dask_client, tmp_path, table):
    folder = write_parts(tmp_path / "f", table, [0, 40, 40, 90])
    firms = gc.read_firms(folder, engine="dask", id="firm_id")
    assert firms.npartitions == 3 and firms.divisions[0] is None
    assert [len(firms.get_partition(i)) for i in range(3)] == [40, 0, 50]
    same(firms.compute(), gc.read_firms(folder / "p0.parquet", id="firm_id").pipe(
        lambda a: pd.concat([a, gc.read_firms(folder / "p2.parquet", id="firm_id")])))


def test_missing_coordinates_are_counted_over_partitions_with_file_rows(dask_client, tmp_path,
                                                                        table):
    bad = table.copy()
    bad.loc[[4, 7], "lat"] = np.nan  # file p0.parquet rows 5 and 8
    bad.loc[[75], "lon"] = np.nan  # file p2.parquet row 16
    folder = write_parts(tmp_path / "m", bad, [0, 30, 60, 90])
    with pytest.raises(InputError, match=r"2 of 3 partitions have invalid rows") as info:
        gc.read_firms(folder, engine="dask", id="firm_id")
    message = str(info.value)
    assert "p0.parquet': 2 rows have missing coordinates (rows 5, 8)" in message
    assert "p2.parquet': 1 rows have missing coordinates (row 16)" in message
    with pytest.warns(GeoclusterWarning, match=r"dropped 3 of 90 rows; 2 warnings in 2 of 3"):
        firms = gc.read_firms(folder, engine="dask", id="firm_id", on_invalid="drop")
    kept = firms.compute()
    assert len(kept) == 87 and set(table["firm_id"][[4, 7, 75]]).isdisjoint(kept.index)


def test_csv_block_errors_name_the_file_line(dask_client, tmp_path, table):
    bad = table.copy()
    bad["lat"] = bad["lat"].astype(object)
    bad.loc[70, "lat"] = 123.0  # beyond +-90: file line 72
    path = tmp_path / "big.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"(?s)1 of \d+ partitions.*outside latitude.*\(line 72\)"):
        gc.read_firms(path, engine="dask", id="firm_id", blocksize=600)


def test_swapped_coordinates_are_named(dask_client, tmp_path, table):
    folder = write_parts(tmp_path / "s", table, [0, 30, 90])
    with pytest.raises(InputError, match=r"1 of 2|2 of 2") as info:
        gc.read_firms(folder, engine="dask", lon="lat", lat="lon", id="firm_id")
    assert "look swapped. Pass lon='lon', lat='lat'." in str(info.value)


def test_duplicate_ids_across_partitions(dask_client, tmp_path, table):
    bad = table.copy()
    bad.loc[[50, 80], "firm_id"] = bad.loc[3, "firm_id"]  # in p1 and p2, equal to one in p0
    folder = write_parts(tmp_path / "d", bad, [0, 30, 60, 90])
    with pytest.raises(InputError, match=r"'firm_id' has 2 duplicate ids across the partitions "
                                         r"\(e\.g\. \['F000004'\]\)"):
        gc.read_firms(folder, engine="dask", id="firm_id")
    with pytest.warns(GeoclusterWarning, match=r"'firm_id' looks like a firm id but has 2 "
                                               r"duplicate values across the partitions"):
        firms = gc.read_firms(folder, engine="dask")
    assert firms.compute().index.is_unique


def test_a_missing_coordinate_column_is_named(dask_client, tmp_path, table):
    folder = write_parts(tmp_path / "c", table.drop(columns="lat").rename(columns={"lon": "x"}),
                         [0, 45, 90])
    with pytest.raises(InputError, match=r"no latitude column found.*Name it with lat="):
        gc.read_firms(folder, engine="dask")


def test_sources_and_options_that_do_not_fit(tmp_path, register, table):
    with pytest.raises(InputError, match="matches no file"):
        gc.read_firms(str(tmp_path / "*.parquet"), engine="dask")
    with pytest.raises(InputError, match="does not exist"):
        gc.read_firms(tmp_path / "nothing", engine="dask")
    mixed = write_parts(tmp_path / "mix", table, [0, 45, 90])
    table.to_csv(mixed / "extra.csv", index=False)
    with pytest.raises(InputError, match="mixes Parquet and CSV files"):
        gc.read_firms(mixed, engine="dask")
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.gpkg").write_text("x")
    with pytest.raises(InputError, match="holds no Parquet or CSV file"):
        gc.read_firms(tmp_path / "txt", engine="dask")
    with pytest.raises(InputError, match="engine='spark' is not an option"):
        gc.read_firms(register, engine="spark")
    with pytest.raises(InputError, match="spatial_partitions=True applies to engine='dask' only"):
        gc.read_firms(register / "part.00000.parquet", spatial_partitions=True)
    with pytest.raises(InputError, match="partition='morton' is not an option"):
        gc.read_firms(register, engine="dask", partition="morton")
    with pytest.raises(InputError, match="layer='a' does not apply to engine='dask'"):
        gc.read_firms(register, engine="dask", layer="a")
    with pytest.raises(InputError, match="blocksize=0 must be a positive number of bytes"):
        gc.read_firms(register, engine="dask", blocksize=0)
    with pytest.raises(InputError, match="got a DataFrame. For a frame in memory"):
        gc.read_firms(table, engine="dask")


def test_the_files_are_not_modified(dask_client, register):
    before = {p.name: p.read_bytes() for p in register.iterdir()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.read_firms(register, engine="dask", id="firm_id").compute()
    assert {p.name: p.read_bytes() for p in register.iterdir()} == before
