"""read_firms(engine="dask"): a column selection reaches the reader and gives the in-memory answer.

Run on dask's synchronous scheduler (no cluster: these are fast); ``tests/dask/test_read_dask.py``
repeats the main case on a ``LocalCluster`` with worker processes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask_geopandas", reason="the dask read needs the `dask` extra")

import dask  # noqa: E402
import dask_geopandas  # noqa: E402
import geopandas as gpd  # noqa: E402
from frame_helpers import assert_same_frame, pandas_values  # noqa: E402

import geocluster as gc  # noqa: E402
from geocluster.errors import InputError  # noqa: E402

N = 60
SELECTIONS = (["geometry", "industry"], ["geometry"], ["industry", "employees"], ["lat"])


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def same(left, right):
    assert_same_frame(left, right)
    if isinstance(right, gpd.GeoDataFrame) and "geometry" in right.columns:
        assert left.crs == right.crs


def table(seed=1):
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(-124, -67, N), rng.uniform(25, 49, N)
    return pd.DataFrame({
        "firm_id": [f"F{i:04d}" for i in range(N)],
        "industry": rng.choice(["software", "pharma"], N),
        "naics": rng.choice(["0511", "3254"], N),
        "lon": lon, "lat": lat,
        "employees": rng.integers(1, 900, N),
    })


def geoparquet(folder, frame, bounds=(0, 20, 40, 60)):
    folder.mkdir()
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat,
                                                                 crs="EPSG:4326"))
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        points.iloc[a:b].to_parquet(folder / f"part.{i}.parquet", index=False)
    return sorted(folder.glob("*.parquet"))


def in_memory(files, **options):
    """The in-memory reader per file, numbered over the register as engine='dask' numbers it."""
    parts, before = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            part = gc.read_firms(path, **options)
            if options.get("id") is None:
                part.index = part.index + before
            before += len(pd.read_parquet(path))
            parts.append(part)
    return pd.concat(parts)


@pytest.mark.parametrize("id_column", [None, "firm_id"])
def test_a_selection_equals_the_in_memory_columns_with_dropped_rows(tmp_path, id_column):
    frame = table()
    frame.loc[[3, 25], "lat"] = 95.0  # out of range: dropped in part.0 and part.1
    frame.loc[[44], ["lon", "lat"]] = 0.0  # null island: dropped in part.2
    files = geoparquet(tmp_path / "r", frame)
    with pytest.warns(gc.GeoclusterWarning, match="dropped 3 of 60 rows"):
        firms = gc.read_firms(tmp_path / "r", engine="dask", id=id_column, on_invalid="drop")
    expected = in_memory(files, id=id_column, on_invalid="drop")
    assert len(expected) == 57 and len(firms) == 57
    same(firms.compute(), expected)
    for columns in SELECTIONS:
        same(firms[columns].compute(), expected[columns])
    series = firms["industry"].compute()
    pd.testing.assert_series_equal(pandas_values(series.to_frame())["industry"],
                                   pandas_values(expected[["industry"]])["industry"])


def test_the_selection_reaches_the_reader(tmp_path):
    """A column the step does not select is never read: removing it from a file after the
    check leaves the selection readable, while the whole frame can no longer be read."""
    files = geoparquet(tmp_path / "r", table())
    firms = gc.read_firms(tmp_path / "r", engine="dask", id="firm_id")
    expected = in_memory(files, id="firm_id")
    gpd.read_parquet(files[1]).drop(columns="naics").to_parquet(files[1], index=False)
    same(firms[["geometry", "industry"]].compute(), expected[["geometry", "industry"]])
    parts = [part.compute() for part in firms[["geometry", "employees"]].to_delayed()]
    same(pd.concat(parts), expected[["geometry", "employees"]])
    with pytest.raises(InputError, match=r"part\.1\.parquet' cannot be read again .*changed"):
        firms.compute()


def test_a_file_with_other_rows_is_named(tmp_path):
    files = geoparquet(tmp_path / "r", table())
    firms = gc.read_firms(tmp_path / "r", engine="dask")
    gpd.read_parquet(files[2]).iloc[:5].to_parquet(files[2], index=False)
    # the lengths are the validation pass's counts: len() reads no file
    assert len(firms) == N and len(firms[["industry"]]) == N
    assert len(firms.partitions[1:]) == 40
    with pytest.raises(InputError, match=r"part\.2\.parquet' changed since read_firms\(engine="
                                         r"'dask'\) checked it \(20 rows then, 5 now\)"):
        firms[["industry"]].compute()


def test_selections_work_through_dask_and_dask_geopandas(tmp_path):
    files = geoparquet(tmp_path / "r", table())
    firms = gc.read_firms(tmp_path / "r", engine="dask")
    expected = in_memory(files)
    selected = firms[["geometry", "industry"]]
    assert isinstance(selected, dask_geopandas.GeoDataFrame) and selected.crs == firms.crs
    assert len(firms) == N and len(selected) == N
    same(selected.to_crs("EPSG:5070").compute(),
         expected[["geometry", "industry"]].to_crs("EPSG:5070"))
    counts = selected.map_partitions(lambda part: part.groupby("industry").size(),
                                     meta=pd.Series(dtype="int64")).compute()
    assert counts.groupby(level=0).sum().to_dict() == (
        expected.groupby("industry").size().to_dict())
    xs = dask.compute(*[dask.delayed(lambda p: p.geometry.x.to_numpy())(part)
                        for part in selected.to_delayed()])
    np.testing.assert_array_equal(np.concatenate(xs), expected.geometry.x.to_numpy())
    wrapped = dask_geopandas.from_dask_dataframe(firms)
    same(wrapped[["geometry", "employees"]].compute(), expected[["geometry", "employees"]])


def test_points_from_coordinate_columns_and_csv_blocks(tmp_path):
    frame = table(2)
    frame.loc[7, "lon"] = np.nan  # missing: dropped
    frame.loc[30, "employees"] = -1  # a register code for missing
    plain = tmp_path / "plain"
    plain.mkdir()
    for i, (a, b) in enumerate([(0, 30), (30, 60)]):
        frame.iloc[a:b].to_parquet(plain / f"p{i}.parquet", index=False)
    options = {"id": "firm_id", "on_invalid": "drop", "na_values": [-1]}
    with pytest.warns(gc.GeoclusterWarning):
        firms = gc.read_firms(plain, engine="dask", **options)
    expected = in_memory(sorted(plain.glob("*.parquet")), **options)
    for columns in ([*SELECTIONS, ["firm_id"]]):
        same(firms[columns].compute(), expected[columns])
    path = tmp_path / "big.csv"
    text = frame.to_csv(index=False).splitlines()
    path.write_text("\n".join(text[:12] + [""] + text[12:]) + "\n")  # a blank line: line 13
    with pytest.warns(gc.GeoclusterWarning):
        blocks = gc.read_firms(path, engine="dask", blocksize=400, **options)
        whole = gc.read_firms(path, **options)
        one = gc.read_firms(path, engine="dask", **options)  # one piece: read and checked again
    assert blocks.npartitions > 3 and one.npartitions == 1
    for columns in SELECTIONS:
        same(blocks[columns].compute(), whole[columns])
        same(one[columns].compute(), whole[columns])


def test_a_category_column_keeps_its_categories(tmp_path):
    frame = table(3)
    frame["sector"] = pd.Categorical(np.where(frame.employees > 450, "big", "small"),
                                     categories=["big", "small"])
    files = geoparquet(tmp_path / "r", frame)
    firms = gc.read_firms(tmp_path / "r", engine="dask", id="firm_id")
    expected = in_memory(files, id="firm_id")
    assert isinstance(firms.dtypes["sector"], pd.CategoricalDtype)
    same(firms[["sector", "geometry"]].compute(), expected[["sector", "geometry"]])
