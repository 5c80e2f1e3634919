"""gc.datasets.write_firms_dataset: partitions are make_firms draws from spawned seeds."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
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


def test_same_seed_same_bytes_and_own_folder_rewritten(register, tmp_path):
    other = gc.datasets.write_firms_dataset(tmp_path / "again", N, partitions=PARTS, seed=SEED)
    for a, b in zip(sorted(register.glob("part.*")), sorted(other.glob("part.*")), strict=True):
        assert a.read_bytes() == b.read_bytes()
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
