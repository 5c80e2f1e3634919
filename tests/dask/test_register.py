"""gc.datasets.write_firms_dataset: partitions are make_firms draws from spawned seeds."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyproj
import pytest

import geocluster as gc
from geocluster.datasets.register import MARKER, partition_sizes
from geocluster.errors import InputError

N, PARTS, SEED = 95, 3, 7


@pytest.fixture(scope="module")
def register(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reg") / "firms"
    gc.datasets.write_firms_dataset(folder, N, partitions=PARTS, seed=SEED)
    return folder


def read_parts(folder):
    return [gpd.read_parquet(p) for p in sorted(folder.glob("part.*.parquet"))]


def test_each_partition_is_make_firms_from_its_spawned_seed(register):
    parts = read_parts(register)
    assert [len(p) for p in parts] == [32, 32, 31] == partition_sizes(N, PARTS).tolist()
    children = np.random.SeedSequence(SEED).spawn(PARTS)
    for part, child in zip(parts, children, strict=True):
        expected = gc.datasets.make_firms(len(part), seed=np.random.default_rng(child))
        columns = [c for c in expected.columns if c != "firm_id"]
        pd.testing.assert_frame_equal(
            pd.DataFrame(part[columns]).reset_index(drop=True),
            pd.DataFrame(expected[columns]).reset_index(drop=True),
        )
        assert part.crs == expected.crs


def test_ids_are_numbered_over_the_register(register):
    ids = pd.concat([p["firm_id"] for p in read_parts(register)]).tolist()
    assert ids == [f"F{i:06d}" for i in range(1, N + 1)]


def test_marker_records_the_call(register):
    marker = json.loads((register / MARKER).read_text())
    assert marker["complete"] is True
    assert (marker["n"], marker["partitions"], marker["seed"]) == (N, PARTS, SEED)
    assert marker["sizes"] == [32, 32, 31]
    assert marker["bytes"] == [p.stat().st_size for p in sorted(register.glob("part.*"))]


def _geo_without_crs(schema) -> dict:
    geo = json.loads(schema.metadata[b"geo"])
    crs = geo["columns"]["geometry"].pop("crs")
    return geo, pyproj.CRS.from_json_dict(crs)


def test_same_seed_same_data_and_own_folder_rewritten(register, tmp_path):
    # The same data, schema and GeoParquet metadata. Not always the same bytes: on the dask
    # workers of this suite the CRS's PROJJSON was once written with the WGS 84 datum and
    # once with the WGS 84 datum ensemble (the same CRS, as pyproj compares them), which
    # depends on the process's PROJ state, not on the seed.
    other = gc.datasets.write_firms_dataset(tmp_path / "again", N, partitions=PARTS, seed=SEED)
    for a, b in zip(sorted(register.glob("part.*")), sorted(other.glob("part.*")), strict=True):
        ta, tb = pq.read_table(a), pq.read_table(b)
        assert ta.equals(tb)  # values and types of every column, in order
        (geo_a, crs_a), (geo_b, crs_b) = _geo_without_crs(ta.schema), _geo_without_crs(tb.schema)
        assert geo_a == geo_b and crs_a == crs_b and crs_a.to_epsg() == 4326
    gc.datasets.write_firms_dataset(other, 20, partitions=2, seed=1)  # its own folder: replaced
    assert [len(p) for p in read_parts(other)] == [10, 10]


def test_refuses_foreign_folders_and_bad_arguments(tmp_path):
    (tmp_path / "mine.csv").write_text("x\n1\n")
    with pytest.raises(InputError, match=r"not empty \(1 entries: mine.csv\).*not overwritten"):
        gc.datasets.write_firms_dataset(tmp_path, 30, partitions=1, seed=0)
    assert (tmp_path / "mine.csv").read_text() == "x\n1\n"
    with pytest.raises(InputError, match="is a file, not a folder"):
        gc.datasets.write_firms_dataset(tmp_path / "mine.csv", 30, partitions=1, seed=0)
    with pytest.raises(InputError, match=r"fewer than 9 firms per partition.*at most 3"):
        gc.datasets.write_firms_dataset(tmp_path / "new", 30, partitions=4, seed=0)
    with pytest.raises(InputError, match="partitions=0 must be an integer"):
        gc.datasets.write_firms_dataset(tmp_path / "new", 30, partitions=0, seed=0)
    with pytest.raises(InputError, match=r"seed=-1 must be a non-negative integer"):
        gc.datasets.write_firms_dataset(tmp_path / "new", 30, partitions=1, seed=-1)
    assert not (tmp_path / "new").exists()


@pytest.mark.slow  # the workers import geocluster and load the ZCTA table: about 15 s
def test_on_a_client_the_workers_write_the_same_files(dask_client, register, tmp_path):
    folder = gc.datasets.write_firms_dataset(tmp_path / "d", N, partitions=PARTS, seed=SEED)
    for a, b in zip(sorted(register.glob("part.*")), sorted(folder.glob("part.*")), strict=True):
        assert a.read_bytes() == b.read_bytes()
